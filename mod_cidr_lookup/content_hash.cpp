#include "content_hash.h"

#include <cstring>

namespace cidr {
namespace {

// Odd 64-bit constants with well-spread bits (the golden ratio and the
// fractional parts of square roots of small primes).
constexpr uint64_t kMulA = 0x9E3779B97F4A7C15ull;
constexpr uint64_t kMulB = 0xBF58476D1CE4E5B9ull;
constexpr uint64_t kMulC = 0x94D049BB133111EBull;
constexpr uint64_t kLaneSeeds[4] = {0x6A09E667F3BCC909ull, 0xBB67AE8584CAA73Bull,
                                    0x3C6EF372FE94F82Bull, 0xA54FF53A5F1D36F1ull};

uint64_t rotate_left(uint64_t v, unsigned bits) { return (v << bits) | (v >> (64 - bits)); }

uint64_t load_word(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// One word into a lane: multiply, rotate, multiply, so that every input bit
// reaches every lane bit within two rounds.
uint64_t absorb(uint64_t lane, uint64_t word) {
  lane += word * kMulB;
  lane = rotate_left(lane, 31);
  return lane * kMulA;
}

// The final avalanche: every output bit depends on every state bit.
uint64_t avalanche(uint64_t v) {
  v ^= v >> 30;
  v *= kMulB;
  v ^= v >> 27;
  v *= kMulC;
  v ^= v >> 31;
  return v;
}

}  // namespace

ContentHash::ContentHash(uint64_t seed) {
  for (size_t i = 0; i < kLanes; ++i) lanes_[i] = kLaneSeeds[i] ^ (seed * kMulA);
}

void ContentHash::consume_block(const unsigned char* block) {
  for (size_t i = 0; i < kLanes; ++i) lanes_[i] = absorb(lanes_[i], load_word(block + 8 * i));
}

void ContentHash::update(const void* data, size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  total_ += size;
  if (pending_size_ > 0) {
    size_t take = kBlock - pending_size_ < size ? kBlock - pending_size_ : size;
    std::memcpy(pending_ + pending_size_, p, take);
    pending_size_ += take;
    p += take;
    size -= take;
    if (pending_size_ < kBlock) return;
    consume_block(pending_);
    pending_size_ = 0;
  }
  while (size >= kBlock) {
    consume_block(p);
    p += kBlock;
    size -= kBlock;
  }
  std::memcpy(pending_, p, size);
  pending_size_ = size;
}

void ContentHash::update_u64(uint64_t value) { update(&value, sizeof(value)); }

void ContentHash::update_text(std::string_view text) {
  update_u64(text.size());
  update(text.data(), text.size());
}

uint64_t ContentHash::digest() const {
  uint64_t h = rotate_left(lanes_[0], 1) + rotate_left(lanes_[1], 7) + rotate_left(lanes_[2], 12) +
               rotate_left(lanes_[3], 18);
  for (size_t i = 0; i < kLanes; ++i) h = (h ^ absorb(0, lanes_[i])) * kMulA + kMulC;
  h += total_;
  size_t i = 0;
  for (; i + 8 <= pending_size_; i += 8)
    h = rotate_left(h ^ absorb(0, load_word(pending_ + i)), 27) * kMulA;
  for (; i < pending_size_; ++i) h = rotate_left(h ^ (uint64_t(pending_[i]) * kMulC), 11) * kMulB;
  return avalanche(h);
}

uint64_t hash_bytes(const void* data, size_t size, uint64_t seed) {
  ContentHash h(seed);
  h.update(data, size);
  return h.digest();
}

}  // namespace cidr
