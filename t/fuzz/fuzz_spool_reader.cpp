// libFuzzer target for include/spool.cpp's reader: a spool file is input
// too (left by a crashed child, an earlier build, or anyone who could write
// the directory). The fuzzed bytes are written to a file and read back with
// SpoolReader, as a replaying child does.
//
// Beyond "no crash, no sanitizer report" it checks: every record read
// re-encodes to exactly the bytes it was read from, offsets only grow, the
// reader stops (End or Torn) within the file, and count_spool_records()
// never counts fewer records than the reader returned.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "spool.h"

namespace {

void fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "property violated: %s: %s\n", what, detail.c_str());
  std::abort();
}

// One scratch file for the whole run, rewritten for every input.
const std::string& scratch_path() {
  static const std::string path = [] {
    char tmpl[] = "/tmp/fuzz-spool-XXXXXX";
    int fd = ::mkstemp(tmpl);
    if (fd < 0) std::abort();
    ::close(fd);
    return std::string(tmpl);
  }();
  return path;
}

void write_all(const std::string& path, const uint8_t* data, size_t size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) std::abort();
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) std::abort();
    done += size_t(n);
  }
  ::close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 65536) return 0;
  const std::string& path = scratch_path();
  write_all(path, data, size);
  std::string_view bytes(reinterpret_cast<const char*>(data), size);

  delivery::SpoolReader reader;
  std::string error;
  if (!reader.open(path, error)) fail("cannot open the scratch file", error);
  uint64_t records = 0;
  for (;;) {
    uint64_t at = reader.offset();
    delivery::Record rec;
    delivery::SpoolReader::Status st = reader.next(rec);
    if (st != delivery::SpoolReader::Status::Ok) {
      if (reader.offset() != at) fail("offset moved on a stop", std::to_string(at));
      break;
    }
    ++records;
    std::string encoded;
    delivery::encode_spool_record(rec, encoded);
    if (reader.offset() != at + encoded.size()) fail("offset", std::to_string(at));
    if (reader.offset() > size) fail("read past the end", std::to_string(at));
    if (bytes.substr(size_t(at), encoded.size()) != encoded)
      fail("re-encoding", std::to_string(at));
  }
  reader.close();
  if (delivery::count_spool_records(path) < records) fail("count", std::to_string(records));
  return 0;
}
