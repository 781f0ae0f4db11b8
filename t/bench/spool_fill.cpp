// Writes a spool of N lines for one collector, as a child of mod_scribe
// would have left it during an outage: bench_scribe.py's replay figures
// start from it instead of from an hour of requests.
//
//   spool_fill DIR HOST:PORT CATEGORY LINES LINE_BYTES
//
// Prints the files' total size. Files rotate as the module's do (4 MiB).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "delivery.h"
#include "scribe_target.h"
#include "spool.h"

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s DIR HOST:PORT CATEGORY LINES LINE_BYTES\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  scribe::Endpoint ep;
  std::string error;
  if (!scribe::parse_endpoint(argv[2], ep, error)) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 2;
  }
  const std::string category = argv[3];
  const size_t lines = std::strtoull(argv[4], nullptr, 10);
  const size_t line_bytes = std::strtoull(argv[5], nullptr, 10);
  bool failed = false;
  delivery::SpoolDir spool(dir, scribe::spool_name_for({ep}), UINT64_MAX,
                           [&failed](delivery::Level, const std::string& text) {
                             std::fprintf(stderr, "%s\n", text.c_str());
                             failed = true;
                           });
  constexpr size_t kBatch = 1000;
  std::vector<delivery::Record> records(kBatch);
  for (size_t done = 0; done < lines && !failed;) {
    const size_t n = std::min(kBatch, lines - done);
    for (size_t i = 0; i < n; ++i) {
      std::string& body = records[i].body;
      body = "GET /small.txt?id=fill-" + std::to_string(done + i) + " HTTP/1.1 ";
      if (body.size() + 1 < line_bytes) body.append(line_bytes - body.size() - 1, 'x');
      body += '\n';
      records[i].tag = category;
    }
    delivery::Batch batch(records.begin(), records.begin() + static_cast<std::ptrdiff_t>(n));
    if (!spool.append(batch)) return 1;
    done += n;
  }
  spool.seal();
  std::printf("%llu\n", static_cast<unsigned long long>(spool.bytes_on_disk()));
  return failed ? 1 : 0;
}
