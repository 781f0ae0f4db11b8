// Micro-benchmark of mod_cidr_lookup's core: build time, memory per prefix and
// lookup cost on synthetic BGP-like tables, plus a linear scan for scale.
// Prints markdown tables; asserts nothing (see bench_cidr.md for reading them).
//
//   build/t/bench/bench_cidr [--quick]
//   build/t/bench/bench_cidr --write-list PATH COUNT [v6]   (the synthetic IPv4
//                                       (or IPv6) table as a CIDRFile list)
//   build/t/bench/bench_cidr --list PATH  (one list file: load, size and lookups,
//                                       as key=value pairs for bench_cidr_shapes.py)
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "cidr_loader.h"
#include "cidr_parse.h"
#include "prefix_table.h"
#include "table_builder.h"
#include "table_image.h"

namespace {

using cidr::Family;
using cidr::Prefix;
using cidr::U128;
// CPU time of this thread: on a shared machine, wall time also counts the
// time other processes had the core, which says nothing about the code.
struct Clock {
  using time_point = double;
  static time_point now() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
  }
};

double seconds_since(Clock::time_point t0) { return Clock::now() - t0; }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Share of each prefix length in a full IPv4 routing table (rounded from
// public DFZ statistics), plus some host routes and small blocks, which
// client lists contain and routing tables do not.
const std::vector<std::pair<int, double>> kV4Lengths = {
    {8, 0.002}, {9, 0.002}, {10, 0.005}, {11, 0.01}, {12, 0.03}, {13, 0.06}, {14, 0.11}, {15, 0.2},
    {16, 1.35}, {17, 0.8},  {18, 1.4},   {19, 2.6},  {20, 4.2},  {21, 4.8},  {22, 12.5}, {23, 10.0},
    {24, 59.0}, {25, 0.08}, {26, 0.09},  {27, 0.06}, {28, 0.05}, {29, 0.06}, {30, 0.08}, {32, 0.2}};

// IPv6: /48 dominates, then /32, /44, /40, /36 and the rest.
const std::vector<std::pair<int, double>> kV6Lengths = {
    {19, 0.05}, {20, 0.1}, {24, 0.3},  {28, 0.6}, {29, 3.0}, {30, 0.3}, {31, 0.2},
    {32, 12.0}, {33, 1.0}, {34, 1.0},  {35, 0.5}, {36, 4.0}, {37, 0.5}, {38, 0.8},
    {39, 0.4},  {40, 6.0}, {41, 0.4},  {42, 1.2}, {43, 0.4}, {44, 8.0}, {45, 0.8},
    {46, 1.5},  {47, 1.6}, {48, 52.0}, {56, 0.5}, {64, 0.3}};

struct Hash128 {
  size_t operator()(const std::pair<U128, int>& k) const {
    uint64_t h =
        uint64_t(k.first) * 0x9E3779B97F4A7C15ull ^ uint64_t(k.first >> 64) * 0xC2B2AE3D27D4EB4Full;
    return size_t(h ^ uint64_t(k.second));
  }
};

// About half of a routing table is more-specifics of other announced
// prefixes; the rest falls in allocated regions. Both shapes matter to a
// trie, so new prefixes nest inside earlier ones half of the time. IPv6
// prefixes longer than /32 come out of RIR and LIR allocations (/29 to /32,
// one per ~32 such prefixes): site /48s share their first 29-32 bits with
// their neighbours rather than being spread over a whole /16.
std::vector<Prefix> synth_table(Family family, size_t n, uint64_t seed) {
  const auto& dist = family == Family::V4 ? kV4Lengths : kV6Lengths;
  std::vector<double> weights;
  for (const auto& d : dist) weights.push_back(d.second);
  std::discrete_distribution<size_t> pick_len(weights.begin(), weights.end());
  std::mt19937_64 rng(seed);

  // IPv6 space in use sits below a few hundred /16s (2001::, 2400:: to 2c0f::).
  std::vector<uint16_t> v6_tops;
  for (unsigned t = 0x2001; t <= 0x2003; ++t) v6_tops.push_back(uint16_t(t));
  for (unsigned base : {0x2400u, 0x2600u, 0x2800u, 0x2a00u, 0x2c00u}) {
    for (unsigned t = 0; t < 0x20; ++t) v6_tops.push_back(uint16_t(base + t));
  }

  auto random_address = [&]() -> U128 {
    if (family == Family::V4) {
      // 1.0.0.0 to 223.255.255.255: unicast space.
      return U128(0x01000000u + uint32_t(rng() % (0xE0000000u - 0x01000000u)));
    }
    U128 v = (U128(rng()) << 64) | rng();
    v &= ~(U128(0xffff) << 112);
    return v | (U128(v6_tops[rng() % v6_tops.size()]) << 112);
  };

  std::vector<Prefix> allocations;
  auto allocation = [&]() -> const Prefix& {
    if (allocations.empty() || (allocations.size() < n / 32 && rng() % 4 == 0)) {
      unsigned len = 29 + unsigned(rng() % 4);
      allocations.push_back(
          Prefix{family, uint8_t(len), random_address() & cidr::prefix_mask(family, len)});
    }
    return allocations[rng() % allocations.size()];
  };

  std::vector<Prefix> out;
  out.reserve(n);
  std::unordered_set<std::pair<U128, int>, Hash128> seen;
  seen.reserve(n * 2);
  while (out.size() < n) {
    int len = dist[pick_len(rng)].first;
    U128 addr = random_address();
    if (family == Family::V6 && len > 32) {
      const Prefix& block = allocation();
      addr = block.value | (addr & ~cidr::prefix_mask(family, block.len));
    }
    if (!out.empty() && rng() % 2 == 0) {
      for (int tries = 0; tries < 4; ++tries) {
        const Prefix& outer = out[rng() % out.size()];
        if (outer.len < len) {
          addr = outer.value | (addr & ~cidr::prefix_mask(family, outer.len));
          break;
        }
      }
    }
    if (family == Family::V4) addr &= 0xffffffffu;
    U128 net = addr & cidr::prefix_mask(family, unsigned(len));
    if (seen.insert({net, len}).second) out.push_back(Prefix{family, uint8_t(len), net});
  }
  return out;
}

std::unique_ptr<cidr::PrefixTable> build_table(const std::vector<Prefix>& prefixes) {
  cidr::TableBuilder builder;
  uint16_t types[4] = {builder.intern_type("mobile"), builder.intern_type("crawler"),
                       builder.intern_type("office"), builder.intern_type("partner")};
  uint32_t source = builder.add_source("bench");
  for (size_t i = 0; i < prefixes.size(); ++i) {
    builder.add(prefixes[i], types[i % 4], source, uint32_t(i + 1));
  }
  cidr::Diagnostics diag;
  auto table = builder.build(diag);
  table->settle();
  return table;
}

// Random addresses (most miss or hit short prefixes) and addresses inside
// listed prefixes (every one hits, often deep in the trie).
std::vector<U128> random_addresses(Family family, size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<U128> out(n);
  for (auto& a : out) {
    a = family == Family::V4 ? U128(uint32_t(rng())) : ((U128(rng()) << 64) | rng());
    // Uniform IPv6 addresses would all miss at the first step; keep them
    // in global unicast space like real clients.
    if (family == Family::V6) a = (a & ~(U128(0xe000) << 112)) | (U128(0x2000) << 112);
  }
  return out;
}

std::vector<U128> inside_addresses(const std::vector<Prefix>& prefixes, size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<U128> out(n);
  for (auto& a : out) {
    const Prefix& p = prefixes[rng() % prefixes.size()];
    U128 host = (U128(rng()) << 64) | rng();
    a = p.value | (host & ~cidr::prefix_mask(p.family, p.len));
    if (p.family == Family::V4) a &= 0xffffffffu;
  }
  return out;
}

volatile uint64_t g_sink;

// Nanoseconds per lookup, median over `runs` passes over the address set.
double time_lookups(const cidr::PrefixTable& table, Family family, const std::vector<U128>& addrs,
                    int runs) {
  std::vector<double> per;
  for (int r = 0; r < runs; ++r) {
    uint64_t sum = 0;
    cidr::Match m;
    auto t0 = Clock::now();
    if (family == Family::V4) {
      for (U128 a : addrs) {
        bool hit = table.lookup_v4(uint32_t(a), m);
        sum += uint64_t(hit) * (m.type + 1u + m.network.len);
      }
    } else {
      for (U128 a : addrs) {
        bool hit = table.lookup_v6(a, m);
        sum += uint64_t(hit) * (m.type + 1u + m.network.len);
      }
    }
    per.push_back(seconds_since(t0) * 1e9 / double(addrs.size()));
    g_sink = g_sink + sum;
  }
  return median(per);
}

struct LinearEntry {
  uint32_t net, mask;
  uint8_t len;
  uint16_t type;
};

double time_linear(const std::vector<Prefix>& prefixes, const std::vector<U128>& addrs, int runs) {
  std::vector<LinearEntry> list;
  for (size_t i = 0; i < prefixes.size(); ++i) {
    const Prefix& p = prefixes[i];
    list.push_back(LinearEntry{uint32_t(p.value), uint32_t(cidr::prefix_mask(Family::V4, p.len)),
                               p.len, uint16_t(i % 4)});
  }
  std::vector<double> per;
  for (int r = 0; r < runs; ++r) {
    uint64_t sum = 0;
    auto t0 = Clock::now();
    for (U128 a128 : addrs) {
      uint32_t a = uint32_t(a128);
      int best = -1;
      uint16_t type = 0;
      for (const LinearEntry& e : list) {
        if ((a & e.mask) == e.net && e.len > best) {
          best = e.len;
          type = e.type;
        }
      }
      sum += uint64_t(best + type);
    }
    per.push_back(seconds_since(t0) * 1e9 / double(addrs.size()));
    g_sink = g_sink + sum;
  }
  return median(per);
}

double time_build(const std::vector<Prefix>& prefixes, int runs, size_t* bytes) {
  std::vector<double> t;
  for (int r = 0; r < runs; ++r) {
    auto t0 = Clock::now();
    auto table = build_table(prefixes);
    t.push_back(seconds_since(t0));
    *bytes = table->memory_bytes();
  }
  return median(t);
}

// Addresses inside the prefixes of a list file, read the way the module
// reads it (CIDRFile lines).
std::vector<Prefix> read_prefixes(const char* path) {
  std::vector<Prefix> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    cidr::ParsedLine parsed = cidr::parse_line(line, cidr::FileKind::List);
    if (parsed.status == cidr::ParsedLine::Status::Entry) out.push_back(parsed.prefix);
  }
  return out;
}

// A value the compiler cannot see: 0 at run time, so `x & g_zero` keeps a
// data dependency without changing x.
volatile uint32_t g_zero_source = 0;

// Nanoseconds per lookup when each address depends on the previous answer:
// the latency of one lookup, not the throughput of many in flight.
double time_dependent(const cidr::PrefixTable& table, Family family, const std::vector<U128>& addrs,
                      int runs) {
  const uint32_t zero = g_zero_source;
  std::vector<double> per;
  for (int r = 0; r < runs; ++r) {
    uint32_t carry = 0;
    cidr::Match m;
    auto t0 = Clock::now();
    if (family == Family::V4) {
      for (U128 a : addrs) {
        bool hit = table.lookup_v4(uint32_t(a) ^ carry, m);
        carry = (m.network.len + uint32_t(hit) + m.type) & zero;
      }
    } else {
      for (U128 a : addrs) {
        bool hit = table.lookup_v6(a ^ carry, m);
        carry = (m.network.len + uint32_t(hit) + m.type) & zero;
      }
    }
    per.push_back(seconds_since(t0) * 1e9 / double(addrs.size()));
    g_sink = g_sink + carry;
  }
  return median(per);
}

int list_mode(const char* path) {
  auto prefixes = read_prefixes(path);
  if (prefixes.empty()) {
    std::fprintf(stderr, "%s: no prefixes\n", path);
    return 1;
  }
  std::vector<double> loads;
  std::unique_ptr<cidr::PrefixTable> table;
  for (int r = 0; r < 3; ++r) {
    table.reset();
    auto t0 = Clock::now();
    cidr::Loader loader;
    cidr::Diagnostics diag;
    loader.load_file(path, cidr::FileKind::List, diag);
    table = loader.build(diag);
    loads.push_back(seconds_since(t0));
    table->settle();
    if (diag.has_errors()) {
      std::fprintf(stderr, "%s\n", diag.error_text().c_str());
      return 1;
    }
  }
  Family family = prefixes[0].family;
  const size_t naddr = 2000000;
  auto inside = inside_addresses(prefixes, naddr, 9);
  auto random = random_addresses(family, naddr, 7);
  std::printf("prefixes=%zu bytes=%zu load_ms=%.1f inside_ns=%.2f dependent_ns=%.2f random_ns=%.2f",
              table->size(), table->memory_bytes(), median(loads) * 1e3,
              time_lookups(*table, family, inside, 7), time_dependent(*table, family, inside, 5),
              time_lookups(*table, family, random, 7));
  // The same table as httpd's children use it: an image in shared memory
  // (tmpfs, like the runtime directory), mapped.
  int fd = memfd_create("bench-image", MFD_CLOEXEC);
  std::string error;
  std::unique_ptr<cidr::PrefixTable> mapped;
  if (fd >= 0 && cidr::write_image(fd, *table, error)) {
    mapped = cidr::map_image(fd, cidr::ImageExpectation{}, error);
  }
  off_t image_bytes = fd >= 0 ? lseek(fd, 0, SEEK_END) : 0;
  if (fd >= 0) close(fd);
  table.reset();
  if (mapped) {
    std::printf(" image_bytes=%lld mapped_inside_ns=%.2f mapped_dependent_ns=%.2f",
                static_cast<long long>(image_bytes), time_lookups(*mapped, family, inside, 7),
                time_dependent(*mapped, family, inside, 5));
  } else {
    std::fprintf(stderr, "image: %s\n", error.c_str());
  }
  std::printf("\n");
  return 0;
}

const char* mark(bool ok) { return ok ? "ok" : "**over**"; }

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--list") == 0) return list_mode(argv[2]);
  if ((argc == 4 || argc == 5) && std::strcmp(argv[1], "--write-list") == 0) {
    std::ofstream f(argv[2]);
    Family family = argc == 5 && std::strcmp(argv[4], "v6") == 0 ? Family::V6 : Family::V4;
    for (const Prefix& p : synth_table(family, std::strtoul(argv[3], nullptr, 10), 44)) {
      f << cidr::format_prefix(p) << '\n';
    }
    return f.good() ? 0 : 1;
  }
  bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int lookup_runs = quick ? 3 : 7;
  const size_t naddr = quick ? 1000000 : 4000000;

  std::printf("### mod_cidr_lookup core: build, memory, lookup\n\n");
  std::printf(
      "| table | prefixes | build (ms) | bytes/prefix | ns/lookup random | "
      "ns/lookup inside | floors |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---|\n");
  std::vector<size_t> sizes = {10000, 100000, 1000000};
  for (Family family : {Family::V4, Family::V6}) {
    for (size_t n : sizes) {
      auto prefixes = synth_table(family, n, 42 + n);
      size_t bytes = 0;
      double build = time_build(prefixes, n >= 1000000 ? 3 : 5, &bytes);
      auto table = build_table(prefixes);
      double random_ns =
          time_lookups(*table, family, random_addresses(family, naddr, 7), lookup_runs);
      double inside_ns =
          time_lookups(*table, family, inside_addresses(prefixes, naddr, 9), lookup_runs);
      double per_prefix = double(bytes) / double(n);
      std::string floors = "-";
      if (family == Family::V4 && n == 1000000) {
        floors = std::string("lookup<=10ns ") + mark(std::max(random_ns, inside_ns) <= 10) +
                 ", <=32B " + mark(per_prefix <= 32) + ", build<=0.5s " + mark(build <= 0.5);
      } else if (family == Family::V6 && n == 1000000) {
        floors =
            std::string("<=32B ") + mark(per_prefix <= 32) + ", build<=0.5s " + mark(build <= 0.5);
      }
      std::printf("| %s | %zu | %.1f | %.1f | %.1f | %.1f | %s |\n",
                  family == Family::V4 ? "IPv4" : "IPv6", n, build * 1e3, per_prefix, random_ns,
                  inside_ns, floors.c_str());
      std::fflush(stdout);
    }
  }

  std::printf("\n### Build time by insertion order (IPv4, 1M prefixes)\n\n");
  std::printf("| order | build (ms) |\n|---|---:|\n");
  {
    auto prefixes = synth_table(Family::V4, 1000000, 42 + 1000000);
    std::vector<std::pair<const char*, std::vector<Prefix>>> orders;
    auto sorted = prefixes;
    std::sort(sorted.begin(), sorted.end(), [](const Prefix& a, const Prefix& b) {
      return a.value != b.value ? a.value < b.value : a.len < b.len;
    });
    auto reversed = sorted;
    std::reverse(reversed.begin(), reversed.end());
    auto by_len = prefixes;
    std::stable_sort(by_len.begin(), by_len.end(),
                     [](const Prefix& a, const Prefix& b) { return a.len > b.len; });
    auto shuffled = prefixes;
    std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937_64(5));
    orders.emplace_back("sorted by address", sorted);
    orders.emplace_back("reverse sorted", reversed);
    orders.emplace_back("longest first", by_len);
    orders.emplace_back("shuffled", shuffled);
    for (auto& o : orders) {
      size_t bytes;
      std::printf("| %s | %.1f |\n", o.first, time_build(o.second, 3, &bytes) * 1e3);
      std::fflush(stdout);
    }
  }

  std::printf("\n### Loading a 1M-line list file (parse + build, as at httpd startup)\n\n");
  {
    auto prefixes = synth_table(Family::V4, 1000000, 43);
    char path[] = "/tmp/bench_cidr_XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
      close(fd);
      {
        std::ofstream f(path);
        for (const Prefix& p : prefixes) f << cidr::format_prefix(p) << '\n';
      }
      std::vector<double> t;
      size_t entries = 0;
      for (int r = 0; r < 3; ++r) {
        auto t0 = Clock::now();
        cidr::Loader loader;
        cidr::Diagnostics diag;
        loader.load_file(path, cidr::FileKind::List, diag);
        auto table = loader.build(diag);
        t.push_back(seconds_since(t0));
        entries = table->size();
      }
      unlink(path);
      std::printf("| lines | load + build (ms) |\n|---:|---:|\n| %zu | %.1f |\n", entries,
                  median(t) * 1e3);
    }
  }

  std::printf("\n### Trie vs linear scan (IPv4, 1k prefixes, same addresses)\n\n");
  {
    auto prefixes = synth_table(Family::V4, 1000, 11);
    auto table = build_table(prefixes);
    auto addrs = inside_addresses(prefixes, 200000, 3);
    auto rnd = random_addresses(Family::V4, 200000, 4);
    addrs.insert(addrs.end(), rnd.begin(), rnd.end());
    double trie = time_lookups(*table, Family::V4, addrs, lookup_runs);
    double linear = time_linear(prefixes, addrs, 3);
    std::printf("| matcher | ns/lookup |\n|---|---:|\n");
    std::printf("| trie | %.1f |\n| linear scan | %.1f |\n| ratio | %.0fx |\n", trie, linear,
                linear / trie);
  }
  return 0;
}
