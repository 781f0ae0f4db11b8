// A fast 64-bit hash of byte streams, for two jobs: the identity of a set of
// list files (their kinds, names and bytes), which names the image built
// from them, and the checksum that tells a damaged image from a good one.
//
// Not cryptographic. It tells changed or damaged bytes from the ones
// expected; it does not keep out someone who chooses the bytes on purpose
// (whoever can write the lists chooses the table anyway, and images are
// trusted by who owns them, see image_store.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace cidr {

class ContentHash {
 public:
  explicit ContentHash(uint64_t seed = 0);

  // Streaming: the digest depends on the bytes only, not on how they were
  // split into calls.
  void update(const void* data, size_t size);
  // A length-prefixed string, so that ("ab", "c") and ("a", "bc") differ.
  void update_text(std::string_view text);
  void update_u64(uint64_t value);

  uint64_t digest() const;

 private:
  static constexpr size_t kLanes = 4;
  static constexpr size_t kBlock = kLanes * sizeof(uint64_t);

  void consume_block(const unsigned char* block);

  uint64_t lanes_[kLanes];
  unsigned char pending_[kBlock];
  size_t pending_size_ = 0;
  uint64_t total_ = 0;
};

// The digest of one buffer.
uint64_t hash_bytes(const void* data, size_t size, uint64_t seed = 0);

}  // namespace cidr
