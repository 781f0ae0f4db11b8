#include "content_hash.h"

#include <xxhash.h>

#include <new>

namespace cidr {

namespace {

void free_state(XXH3_state_t* state) { XXH3_freeState(state); }

}  // namespace

ContentHash::ContentHash(uint64_t seed) : state_(XXH3_createState(), free_state) {
  if (!state_) throw std::bad_alloc();
  XXH3_64bits_reset_withSeed(state_.get(), seed);
}

ContentHash::~ContentHash() = default;
ContentHash::ContentHash(ContentHash&&) noexcept = default;
ContentHash& ContentHash::operator=(ContentHash&&) noexcept = default;

void ContentHash::update(const void* data, size_t size) {
  if (size > 0) XXH3_64bits_update(state_.get(), data, size);
}

void ContentHash::update_u64(uint64_t value) { update(&value, sizeof(value)); }

void ContentHash::update_text(std::string_view text) {
  update_u64(text.size());
  update(text.data(), text.size());
}

uint64_t ContentHash::digest() const { return XXH3_64bits_digest(state_.get()); }

uint64_t hash_bytes(const void* data, size_t size, uint64_t seed) {
  return XXH3_64bits_withSeed(data, size, seed);
}

}  // namespace cidr
