// libFuzzer target for mod_cidr_lookup's table images: whatever the bytes,
// opening an image either refuses it or gives a table whose lookups stay
// within it (the sanitizers watch every read).
//
// Two ways in. The input itself as an image: mostly refused by the header
// and checksum. And, to reach the structure checks behind them: the input's
// first part loaded as a CIDRMap file and built, written as an image, the
// rest of the input written over that image at offsets it names, and the
// checksum made right again.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "cidr_loader.h"
#include "cidr_parse.h"
#include "prefix_table.h"
#include "table_image.h"

namespace {

// Addresses that reach every part of a small table: the edges of both
// families, loopback, documentation networks, a mapped one.
const char* const kProbes[] = {
    "0.0.0.0", "255.255.255.255", "10.1.2.3",     "192.0.2.1", "127.0.0.1",      "::",
    "::1",     "2001:db8::1",     "2001:db8:1::", "ffff::1",   "::ffff:10.1.2.3"};

void exercise(const cidr::PrefixTable& t) {
  for (const char* p : kProbes) {
    cidr::Address a;
    cidr::parse_address(p, a);
    cidr::Match m;
    if (t.lookup(a, m)) {
      const char* name = t.type_name(m.type);
      if (std::strlen(name) == 0) __builtin_trap();
    }
  }
  for (size_t id = 0; id < t.type_count(); ++id) {
    (void)t.type_prefixes(uint16_t(id), cidr::Family::V4);
  }
}

std::vector<unsigned char> image_of(std::string_view list) {
  cidr::Loader loader;
  cidr::Diagnostics diag(0);
  loader.load_text(list, "fuzz.map", cidr::FileKind::Map, "", diag);
  auto table = loader.build(diag);
  int fd = memfd_create("fuzz-image", MFD_CLOEXEC);
  if (fd < 0) return {};
  std::string error;
  std::vector<unsigned char> bytes;
  if (cidr::write_image(fd, *table, error)) {
    off_t size = lseek(fd, 0, SEEK_END);
    bytes.resize(static_cast<size_t>(size));
    if (pread(fd, bytes.data(), bytes.size(), 0) != size) bytes.clear();
  }
  close(fd);
  return bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string error;
  if (auto t = cidr::open_image_bytes(data, size, cidr::ImageExpectation{}, error)) exercise(*t);

  // "LIST\0PATCHES": patches are (offset: 2 bytes, 4 bytes of data).
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t split = input.find('\0');
  if (split == std::string_view::npos) return 0;
  std::vector<unsigned char> image = image_of(input.substr(0, split));
  if (image.empty()) return 0;
  std::string_view patches = input.substr(split + 1);
  for (size_t i = 0; i + 6 <= patches.size(); i += 6) {
    size_t offset = (uint8_t(patches[i]) | size_t(uint8_t(patches[i + 1])) << 8) % image.size();
    for (size_t k = 0; k < 4 && offset + k < image.size(); ++k)
      image[offset + k] = uint8_t(patches[i + 2 + k]);
  }
  cidr::reseal_image(image.data(), image.size());
  if (auto t =
          cidr::open_image_bytes(image.data(), image.size(), cidr::ImageExpectation{}, error)) {
    exercise(*t);
  }
  return 0;
}
