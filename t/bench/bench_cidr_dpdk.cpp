// The anchor of the shape table (bench_cidr_shapes.py): DPDK's rte_lpm on
// the same IPv4 list, measured the way bench_cidr measures ours. Built only
// when pkg-config finds libdpdk (Debian's dpdk-dev; `make bench` installs it).
//
//   build/t/bench/bench_cidr_dpdk --list PATH
//
// Prints key=value pairs: prefixes, bytes (what rte_lpm allocates for the
// configuration: the 2^24-entry tbl24, the tbl8 groups the list needs and
// the rules table), build_s (CPU time of rte_lpm_add over the list, in its
// order), inside_ns, dependent_ns and random_ns as bench_cidr prints them.
// Each rule's next hop is its type and length (len << 16 | type), so that a
// lookup answers what ours answers. EAL runs without huge pages, PCI or
// shared files (--no-huge --no-pci --no-shconf), on one lcore; the thread's
// CPU affinity is put back afterwards so that both benches run alike.
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lpm.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "cidr_parse.h"

namespace {

constexpr size_t kAddresses = 2000000;
constexpr int kLookupRuns = 7;
constexpr int kDependentRuns = 5;
constexpr size_t kTbl24Bytes = size_t(RTE_LPM_TBL24_NUM_ENTRIES) * sizeof(uint32_t);
constexpr size_t kTbl8GroupBytes = size_t(RTE_LPM_TBL8_GROUP_NUM_ENTRIES) * sizeof(uint32_t);
constexpr size_t kRuleBytes = 8;  // struct rte_lpm_rule: ip, next_hop
constexpr size_t kMiB = size_t(1) << 20;
// EAL's own allocations beside the table.
constexpr size_t kEalHeadroomMiB = 128;

struct Rule {
  uint32_t ip;
  uint8_t len;
};

double cpu_now() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

volatile uint32_t g_zero_source = 0;
volatile uint64_t g_sink;

// CPU nanoseconds per address of `runs` passes, median. `step(address,
// carry)` looks one address up and returns what the next one depends on.
template <typename Step>
double per_lookup(const std::vector<uint32_t>& addrs, int runs, Step step) {
  std::vector<double> per;
  for (int r = 0; r < runs; ++r) {
    uint32_t carry = 0;
    double t0 = cpu_now();
    for (uint32_t a : addrs) carry = step(a, carry);
    per.push_back((cpu_now() - t0) * 1e9 / double(addrs.size()));
    g_sink = g_sink + carry;
  }
  return median(per);
}

// Lookups in flight together: nothing depends on an answer.
double time_independent(const rte_lpm* lpm, const std::vector<uint32_t>& addrs) {
  return per_lookup(addrs, kLookupRuns, [lpm](uint32_t a, uint32_t sum) {
    uint32_t hop = 0;
    return sum + (rte_lpm_lookup(lpm, a, &hop) == 0 ? hop + 1 : 0);
  });
}

// Each address changed by the previous answer (by 0, which the compiler
// cannot know): one lookup at a time.
double time_dependent(const rte_lpm* lpm, const std::vector<uint32_t>& addrs) {
  const uint32_t zero = g_zero_source;
  return per_lookup(addrs, kDependentRuns, [lpm, zero](uint32_t a, uint32_t carry) {
    uint32_t hop = 0;
    int rc = rte_lpm_lookup(lpm, a ^ carry, &hop);
    return (hop + uint32_t(rc)) & zero;
  });
}

int run(const char* path) {
  std::vector<Rule> rules;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    cidr::ParsedLine parsed = cidr::parse_line(line, cidr::FileKind::List);
    if (parsed.status != cidr::ParsedLine::Status::Entry) continue;
    if (parsed.prefix.family != cidr::Family::V4) {
      std::fprintf(stderr, "rte_lpm is IPv4 only: %s has IPv6 entries\n", path);
      return 1;
    }
    rules.push_back(Rule{uint32_t(parsed.prefix.value), parsed.prefix.len});
  }
  if (rules.empty()) {
    std::fprintf(stderr, "%s: no prefixes\n", path);
    return 1;
  }
  // A tbl8 group for every /24 holding a prefix longer than /24.
  std::unordered_set<uint32_t> groups;
  for (const Rule& r : rules) {
    if (r.len > 24) groups.insert(r.ip >> 8);
  }
  const size_t tbl8s = std::max<size_t>(groups.size() + 1, 256);
  const size_t table_bytes = kTbl24Bytes + tbl8s * kTbl8GroupBytes + rules.size() * kRuleBytes;

  cpu_set_t affinity;
  sched_getaffinity(0, sizeof(affinity), &affinity);
  std::string memory = std::to_string(table_bytes / kMiB + kEalHeadroomMiB);
  const char* eal_args[] = {
      "bench_cidr_dpdk", "--no-huge",   "--no-pci",      "--no-shconf",   "-l", "0", "-m",
      memory.c_str(),    "--log-level", "lib.eal:error", "--no-telemetry"};
  std::vector<char*> argv;
  for (const char* a : eal_args) argv.push_back(const_cast<char*>(a));
  if (rte_eal_init(int(argv.size()), argv.data()) < 0) {
    std::fprintf(stderr, "EAL did not start (--no-huge, -m %s): %s\n", memory.c_str(),
                 rte_strerror(rte_errno));
    return 1;
  }
  sched_setaffinity(0, sizeof(affinity), &affinity);

  rte_lpm_config config{};
  config.max_rules = uint32_t(rules.size());
  config.number_tbl8s = uint32_t(tbl8s);
  rte_lpm* lpm = rte_lpm_create("bench", SOCKET_ID_ANY, &config);
  if (lpm == nullptr) {
    std::fprintf(stderr, "rte_lpm_create (%zu rules, %zu tbl8 groups): %s\n", rules.size(), tbl8s,
                 rte_strerror(rte_errno));
    rte_eal_cleanup();
    return 1;
  }
  double t0 = cpu_now();
  size_t failed = 0;
  for (size_t i = 0; i < rules.size(); ++i) {
    uint32_t hop = (uint32_t(rules[i].len) << 16) | uint32_t(i % 4);
    if (rte_lpm_add(lpm, rules[i].ip, rules[i].len, hop) != 0) ++failed;
  }
  double build = cpu_now() - t0;

  std::mt19937_64 rng(9);
  std::vector<uint32_t> inside(kAddresses), random(kAddresses);
  for (uint32_t& a : inside) {
    const Rule& r = rules[rng() % rules.size()];
    uint32_t host = r.len == 32 ? 0 : uint32_t(rng()) & (0xffffffffu >> r.len);
    a = r.ip | host;
  }
  std::mt19937_64 rng2(7);
  for (uint32_t& a : random) a = uint32_t(rng2());

  std::printf(
      "prefixes=%zu bytes=%zu build_s=%.3f inside_ns=%.2f dependent_ns=%.2f random_ns=%.2f "
      "note=%s\n",
      rules.size(), table_bytes, build, time_independent(lpm, inside), time_dependent(lpm, inside),
      time_independent(lpm, random),
      failed ? ("rte_lpm_add_refused_" + std::to_string(failed) + "_rules").c_str()
             : "EAL_--no-huge_--no-pci_--no-shconf,_1_lcore");
  rte_lpm_free(lpm);
  rte_eal_cleanup();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || std::strcmp(argv[1], "--list") != 0) {
    std::fprintf(stderr, "usage: bench_cidr_dpdk --list PATH\n");
    return 2;
  }
  return run(argv[2]);
}
