// Table images: a PrefixTable as one position-independent file, so that it
// is built once and mapped read-only (MAP_SHARED) by every child and later
// generation: the machine holds one copy whatever the number of processes.
//
// Layout: a fixed header (format version, byte order, sizes, where each
// section is, the checksum, and the TableInfo), then the sections, each on a
// 64-byte boundary: per family top, nodes, leaves and pool; the type names
// and their offsets; per-type prefix counts; the warnings the lists gave.
//
// An image is never trusted as it is. Opening one checks the header, the
// checksum over the whole file, and then every index, offset and length a
// lookup could follow (and that following them always ends), so that a
// damaged or hostile image is refused, never read out of bounds. Who may
// have written an image is the caller's question (image_store.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "prefix_table.h"

namespace cidr {

// Bumped whenever the layout or its checksum changes (2: XXH3 checksums):
// an image of another version is refused and rebuilt.
constexpr uint32_t kImageFormatVersion = 2;

// A SHA-256 of an image's bytes, as written. A child that built an image
// publishes it on the generation's board (which only that generation's
// children can write), and its siblings use the image only when the bytes
// they read have it: a file User owns may have been changed since by any
// code running as User.
struct ImageDigest {
  unsigned char bytes[32] = {};
  bool operator==(const ImageDigest& o) const;
  bool operator!=(const ImageDigest& o) const { return !(*this == o); }
};

// Writes `table` as an image into fd, a new empty file (from offset 0);
// `digest`, when given, receives the digest of what was written.
bool write_image(int fd, const PrefixTable& table, std::string& error,
                 ImageDigest* digest = nullptr);

// What an image must be to be used.
struct ImageExpectation {
  bool check_identity = false;
  uint64_t identity = 0;  // built from these lists
  // When set, the bytes must have this digest (see ImageDigest).
  const ImageDigest* digest = nullptr;
};

// How a file's image is held. Shared: mapped MAP_SHARED, for a file only
// root can change (every process shares its pages). Copy: read into this
// process's own memory and checked there, for a file that someone else may
// change or truncate later (a shared mapping of it could be altered under
// the check, or raise SIGBUS on a truncation).
enum class ImageAccess { Shared, Copy };

// Bytes holding an image, freed with the table that uses them.
class ImageBytes : public TableStorage {
 public:
  virtual const unsigned char* data() const = 0;
  virtual size_t size() const = 0;
};

// Maps the regular file fd read-only and opens it; the table keeps the
// mapping (fd may be closed afterwards). Null, with the reason in `error`,
// when the file is not a good image.
std::unique_ptr<PrefixTable> map_image(int fd, const ImageExpectation& expect, std::string& error,
                                       ImageAccess access = ImageAccess::Shared);

// Opens an image held in memory the caller owns (tests, the fuzzer); the
// table refers to it.
std::unique_ptr<PrefixTable> open_image_bytes(const void* data, size_t size,
                                              const ImageExpectation& expect, std::string& error);

// Recomputes the checksum of an image in memory after its bytes were
// changed on purpose (tests and the fuzzer reach the structure checks so).
// False when the bytes are too short to hold a header.
bool reseal_image(void* data, size_t size);

// The TableInfo in an image's header, after checking only the header
// (finding an image to keep does not need the rest until it is opened).
bool read_image_info(int fd, TableInfo& info, std::string& error);

}  // namespace cidr
