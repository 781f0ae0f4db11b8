// A fast 64-bit hash of byte streams, for two jobs: the identity of a set of
// list files (their kinds, names and bytes), which names the image built
// from them, and the checksum that tells a damaged image from a good one.
// It is xxHash's XXH3 (libxxhash), streamed.
//
// Not cryptographic. It tells changed or damaged bytes from the ones
// expected; it does not keep out someone who chooses the bytes on purpose
// (whoever can write the lists chooses the table anyway, and images are
// trusted by who owns them, see image_store.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

// libxxhash's streaming state (XXH3_state_t); its layout stays in
// content_hash.cpp.
struct XXH3_state_s;

namespace cidr {

class ContentHash {
 public:
  explicit ContentHash(uint64_t seed = 0);
  ~ContentHash();
  // A moved-from hash has no state: only assign to it or destroy it.
  ContentHash(ContentHash&&) noexcept;
  ContentHash& operator=(ContentHash&&) noexcept;

  // Streaming: the digest depends on the bytes only, not on how they were
  // split into calls.
  void update(const void* data, size_t size);
  // A length-prefixed string, so that ("ab", "c") and ("a", "bc") differ.
  void update_text(std::string_view text);
  void update_u64(uint64_t value);

  uint64_t digest() const;

 private:
  std::unique_ptr<XXH3_state_s, void (*)(XXH3_state_s*)> state_;
};

// The digest of one buffer.
uint64_t hash_bytes(const void* data, size_t size, uint64_t seed = 0);

}  // namespace cidr
