// Randomized differential tests of mod_cidr_lookup's tables: every shape of
// list the table lays out differently (routing-table-like lists, scattered
// hosts, dense /24s, host clusters, nested chains, IPv6 host pairs, /48s,
// prefixes shorter than the IPv6 lead, mixed families) is built from random
// prefixes and compared, address by address, with the obvious matcher. The
// same table written as an image and mapped back must answer alike.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "cidr_parse.h"
#include "prefix_table.h"
#include "table_builder.h"
#include "table_image.h"
#include "test_cidr_fixture.h"

namespace {

using cidr::Family;
using cidr::Match;
using cidr::Prefix;
using cidr::U128;

// The obvious matcher: one hash map per prefix length, longest first.
class Reference {
 public:
  // First one added wins, as in the table.
  void add(const Prefix& p, uint16_t type) {
    auto& by_len = p.family == Family::V4 ? v4_ : v6_;
    if (by_len[p.len].emplace(p.value, type).second) ++count_;
  }
  // -1: no match; else type * 256 + len. IPv4-mapped IPv6 addresses are
  // looked up as IPv4, as the table does.
  long find(Family f, U128 addr) const {
    if (f == Family::V6 && (addr >> 32) == 0xffff) return find(Family::V4, addr & 0xffffffffu);
    const auto& by_len = f == Family::V4 ? v4_ : v6_;
    for (auto it = by_len.rbegin(); it != by_len.rend(); ++it) {
      auto hit = it->second.find(addr & cidr::prefix_mask(f, it->first));
      if (hit != it->second.end()) return long(hit->second) * 256 + it->first;
    }
    return -1;
  }
  size_t size() const { return count_; }

 private:
  struct Hash {
    size_t operator()(U128 v) const {
      return size_t(uint64_t(v) * 0x9E3779B97F4A7C15ull ^
                    uint64_t(v >> 64) * 0xC2B2AE3D27D4EB4Full);
    }
  };
  using ByLen = std::map<unsigned, std::unordered_map<U128, uint16_t, Hash>>;
  ByLen v4_, v6_;
  size_t count_ = 0;
};

using Rng = std::mt19937_64;
using Shape = std::function<void(Rng&, std::vector<Prefix>&)>;

U128 random_bits(Rng& rng, Family f) {
  U128 v = (U128(rng()) << 64) | rng();
  return f == Family::V4 ? (v & 0xffffffffu) : v;
}

Prefix make_prefix(Family f, unsigned len, U128 addr) {
  return Prefix{f, uint8_t(len), addr & cidr::prefix_mask(f, len)};
}

// IPv6 addresses inside 2000::/3, as real clients and lists are.
U128 global_unicast(Rng& rng) {
  U128 v = random_bits(rng, Family::V6);
  return (v & (~U128(0) >> 3)) | (U128(0x2000) << 112);
}

// Lengths drawn like a routing table's (mostly /24, then /22 and /23, ...),
// half of the prefixes inside an earlier one.
void v4_routing_like(Rng& rng, std::vector<Prefix>& out, size_t n) {
  static const unsigned kLens[] = {8,  12, 14, 16, 16, 18, 19, 20, 20, 21, 22, 22, 22,
                                   23, 23, 24, 24, 24, 24, 24, 24, 24, 24, 25, 28, 32};
  for (size_t i = 0; i < n; ++i) {
    unsigned len = kLens[rng() % (sizeof(kLens) / sizeof(kLens[0]))];
    U128 addr = random_bits(rng, Family::V4);
    if (!out.empty() && rng() % 2 == 0) {
      const Prefix& outer = out[rng() % out.size()];
      if (outer.family == Family::V4 && outer.len < len) {
        addr = outer.value | (addr & ~cidr::prefix_mask(Family::V4, outer.len));
      }
    }
    out.push_back(make_prefix(Family::V4, len, addr));
  }
}

void v4_hosts(Rng& rng, std::vector<Prefix>& out, size_t n) {
  for (size_t i = 0; i < n; ++i)
    out.push_back(make_prefix(Family::V4, 32, random_bits(rng, Family::V4)));
}

// A routing table as the direct index takes it (fewer than 1 in 16
// prefixes longer than /24), with every length from /0 up, nested half of
// the time.
void v4_mostly_short(Rng& rng, std::vector<Prefix>& out, size_t n) {
  out.push_back(make_prefix(Family::V4, 0, 0));
  for (size_t i = 0; i < n; ++i) {
    // Short lengths have few networks (and repeat): most are /16 to /24.
    const unsigned pick = unsigned(rng() % 30);
    unsigned len = pick == 0  ? 25 + unsigned(rng() % 8)
                   : pick < 4 ? 1 + unsigned(rng() % 24)
                              : 16 + unsigned(rng() % 9);
    U128 addr = random_bits(rng, Family::V4);
    if (rng() % 2 == 0) {
      const Prefix& outer = out[rng() % out.size()];
      if (outer.len < len) addr = outer.value | (addr & ~cidr::prefix_mask(Family::V4, outer.len));
    }
    out.push_back(make_prefix(Family::V4, len, addr));
  }
}

void v4_slash24s(Rng& rng, std::vector<Prefix>& out, size_t n) {
  for (size_t i = 0; i < n; ++i)
    out.push_back(make_prefix(Family::V4, 24, random_bits(rng, Family::V4)));
}

// Groups of 2 to 20 hosts, and sometimes their network, in a small block:
// lines, nodes and skips below one top slot.
void v4_host_clusters(Rng& rng, std::vector<Prefix>& out, size_t groups) {
  for (size_t g = 0; g < groups; ++g) {
    unsigned block = 24 + unsigned(rng() % 5);
    U128 base = random_bits(rng, Family::V4) & cidr::prefix_mask(Family::V4, block);
    if (rng() % 3 == 0) out.push_back(make_prefix(Family::V4, block, base));
    size_t hosts = 2 + rng() % 19;
    for (size_t h = 0; h < hosts; ++h) {
      out.push_back(make_prefix(
          Family::V4, 32,
          base | (random_bits(rng, Family::V4) & ~cidr::prefix_mask(Family::V4, block))));
    }
  }
}

// Prefixes each nested in the next, along one address: more of them than a
// bucket holds, with nothing parting ways.
void nested_chains(Family f, Rng& rng, std::vector<Prefix>& out, size_t chains) {
  const unsigned width = cidr::family_bits(f);
  for (size_t c = 0; c < chains; ++c) {
    U128 addr = f == Family::V6 ? global_unicast(rng) : random_bits(rng, f);
    unsigned step = 1 + unsigned(rng() % 4);
    for (unsigned len = unsigned(rng() % 8); len <= width; len += step)
      out.push_back(make_prefix(f, len, addr));
  }
}

void v6_host_pairs(Rng& rng, std::vector<Prefix>& out, size_t pairs) {
  for (size_t i = 0; i < pairs; ++i) {
    U128 net = global_unicast(rng) & cidr::prefix_mask(Family::V6, 64);
    out.push_back(make_prefix(Family::V6, 128, net | 1));
    out.push_back(make_prefix(Family::V6, 128, net | 2));
  }
}

void v6_slash48s(Rng& rng, std::vector<Prefix>& out, size_t n) {
  for (size_t i = 0; i < n; ++i) out.push_back(make_prefix(Family::V6, 48, global_unicast(rng)));
}

// 3 to 30 hosts (and sometimes their /64 and /56) in one /64: long shared
// paths, so skips, and nodes at the very end of the key.
void v6_host_clusters(Rng& rng, std::vector<Prefix>& out, size_t groups) {
  for (size_t g = 0; g < groups; ++g) {
    U128 net = global_unicast(rng) & cidr::prefix_mask(Family::V6, 64);
    if (rng() % 2) out.push_back(make_prefix(Family::V6, 64, net));
    if (rng() % 3 == 0) out.push_back(make_prefix(Family::V6, 56, net));
    size_t hosts = 3 + rng() % 28;
    unsigned spread = 4 + unsigned(rng() % 60);  // hosts differ in their last `spread` bits
    for (size_t h = 0; h < hosts; ++h) {
      U128 host = random_bits(rng, Family::V6) & ((U128(1) << spread) - 1);
      out.push_back(make_prefix(Family::V6, 128, net | host));
    }
  }
}

// Routing-table-like IPv6 inside allocations of a few /16s, plus prefixes
// shorter than the lead they share (::/0, 2000::/3) and a few elsewhere.
void v6_with_short_prefixes(Rng& rng, std::vector<Prefix>& out, size_t n) {
  static const unsigned kLens[] = {29, 32, 32, 36, 40, 44, 46, 48, 48, 48, 48, 56, 64};
  out.push_back(make_prefix(Family::V6, 0, 0));
  out.push_back(make_prefix(Family::V6, 3, U128(0x2000) << 112));
  out.push_back(make_prefix(Family::V6, 16, U128(0x2001) << 112));
  for (size_t i = 0; i < n; ++i) {
    unsigned len = kLens[rng() % (sizeof(kLens) / sizeof(kLens[0]))];
    U128 top = U128(0x2001 + rng() % 3) << 112;
    U128 addr = top | (random_bits(rng, Family::V6) & (~U128(0) >> 16));
    if (out.size() > 3 && rng() % 2 == 0) {
      const Prefix& outer = out[3 + rng() % (out.size() - 3)];
      if (outer.family == Family::V6 && outer.len < len) {
        addr = outer.value | (addr & ~cidr::prefix_mask(Family::V6, outer.len));
      }
    }
    out.push_back(make_prefix(Family::V6, len, addr));
  }
}

std::vector<Prefix> generate(const Shape& shape, uint64_t seed) {
  Rng rng(seed);
  std::vector<Prefix> prefixes;
  shape(rng, prefixes);
  return prefixes;
}

// The table written as an image and mapped back (the memfd lives as long
// as the mapping needs: the mapping keeps the file).
std::unique_ptr<cidr::PrefixTable> through_image(const cidr::PrefixTable& table) {
  int fd = memfd_create("cidr-image", MFD_CLOEXEC);
  ck_assert_int_ge(fd, 0);
  std::string error;
  ck_assert_msg(cidr::write_image(fd, table, error), "write: %s", error.c_str());
  cidr::ImageExpectation expect;
  expect.check_identity = true;
  expect.identity = table.info().identity;
  auto mapped = cidr::map_image(fd, expect, error);
  close(fd);
  ck_assert_msg(mapped != nullptr, "map: %s", error.c_str());
  return mapped;
}

std::string describe(Family f, U128 a) { return cidr::format_address(cidr::Address{f, a}); }

void expect_same(const cidr::PrefixTable& table, const char* which, const Reference& ref, Family f,
                 U128 a) {
  Match m;
  bool hit = table.lookup(cidr::Address{f, a}, m);
  long want = ref.find(f, a);
  long got = hit ? long(m.type) * 256 + m.network.len : -1;
  if (got != want) {
    ck_abort_msg("%s: %s: got %ld, want %ld", which, describe(f, a).c_str(), got, want);
  }
  if (hit) {
    Family nf = m.network.family;
    U128 addr = (f == Family::V6 && nf == Family::V4) ? (a & 0xffffffffu) : a;
    // Not ck_assert: it marks a point on every call, and this runs millions of times.
    if (m.network.value != (addr & cidr::prefix_mask(nf, m.network.len))) {
      ck_abort_msg("%s: %s: network %s/%u does not hold it", which, describe(f, a).c_str(),
                   describe(nf, m.network.value).c_str(), unsigned(m.network.len));
    }
  }
}

// Builds the table (types at random, some networks listed twice with
// another type) and compares it, and its image, with the reference on
// random addresses, on addresses inside each prefix and just outside it.
// Whether the IPv4 side is to have a direct index (prefix_table.h): by
// default only tables of the size it is for have one.
enum class DirectIndex { AsBuilt, Required, Refused };

void compare(const Shape& shape, uint64_t seed, size_t probes,
             DirectIndex direct = DirectIndex::AsBuilt) {
  std::vector<Prefix> prefixes = generate(shape, seed);
  Rng rng(seed * 7 + 1);
  cidr::TableBuilder builder;
  if (direct != DirectIndex::AsBuilt) builder.set_direct_index_min_prefixes(1);
  Reference ref;
  uint16_t types[6];
  for (int i = 0; i < 6; ++i) types[i] = builder.intern_type("t" + std::to_string(i));
  uint32_t src = builder.add_source("random");
  for (size_t i = 0; i < prefixes.size(); ++i) {
    uint16_t type = types[rng() % 6];
    builder.add(prefixes[i], type, src, uint32_t(i + 1));
    ref.add(prefixes[i], type);
    if (i % 97 == 0) {  // the same network again, under another type: the first one stays
      builder.add(prefixes[i], types[(type + 1) % 6], src, uint32_t(i + 1));
    }
  }
  cidr::Diagnostics diag(0);
  auto table = builder.build(diag);
  ck_assert_uint_eq(table->size(), ref.size());
  auto image = through_image(*table);
  ck_assert_uint_eq(image->size(), ref.size());
  // As httpd keeps a table it built itself: moved onto huge pages.
  table->settle();
  if (direct != DirectIndex::AsBuilt) {
    const bool want = direct == DirectIndex::Required;
    ck_assert_int_eq(table->parts().v4_direct.slots != nullptr, want);
    ck_assert_int_eq(image->parts().v4_direct.slots != nullptr, want);
  }

  for (size_t i = 0; i < probes; ++i) {
    const Prefix& p = prefixes[rng() % prefixes.size()];
    const Family f = p.family;
    U128 outside_mask = ~cidr::prefix_mask(f, p.len);
    U128 a;
    switch (i % 6) {
      case 0:
        a = random_bits(rng, f);
        break;
      case 1:
        a = f == Family::V6 ? global_unicast(rng) : random_bits(rng, f);
        break;
      case 2:
        a = p.value;  // its first address
        break;
      case 3:
        a = p.value | outside_mask;  // its last address
        break;
      case 4:  // just below and just above it
        a = (i % 12 == 4 ? p.value - 1 : (p.value | outside_mask) + 1);
        if (f == Family::V4) a &= 0xffffffffu;
        break;
      default:
        a = p.value | (random_bits(rng, f) & outside_mask);
    }
    expect_same(*table, "table", ref, f, a);
    expect_same(*image, "image", ref, f, a);
  }
}

constexpr size_t kProbes = 300000;

}  // namespace

START_TEST(v4_routing_table) {
  compare([](Rng& r, std::vector<Prefix>& o) { v4_routing_like(r, o, 150000); }, 1, kProbes);
}
END_TEST

START_TEST(v4_scattered_hosts) {
  compare([](Rng& r, std::vector<Prefix>& o) { v4_hosts(r, o, 150000); }, 2, kProbes);
}
END_TEST

START_TEST(v4_dense_slash24s) {
  compare([](Rng& r, std::vector<Prefix>& o) { v4_slash24s(r, o, 150000); }, 3, kProbes);
}
END_TEST

START_TEST(v4_clustered_hosts) {
  compare([](Rng& r, std::vector<Prefix>& o) { v4_host_clusters(r, o, 15000); }, 4, kProbes);
}
END_TEST

START_TEST(v4_nested_chains) {
  compare([](Rng& r, std::vector<Prefix>& o) { nested_chains(Family::V4, r, o, 3000); }, 5,
          kProbes);
}
END_TEST

START_TEST(v6_host_pairs_in_slash64s) {
  compare([](Rng& r, std::vector<Prefix>& o) { v6_host_pairs(r, o, 60000); }, 6, kProbes);
}
END_TEST

START_TEST(v6_random_slash48s) {
  compare([](Rng& r, std::vector<Prefix>& o) { v6_slash48s(r, o, 120000); }, 7, kProbes);
}
END_TEST

START_TEST(v6_clustered_hosts) {
  compare([](Rng& r, std::vector<Prefix>& o) { v6_host_clusters(r, o, 8000); }, 8, kProbes);
}
END_TEST

START_TEST(v6_nested_chains) {
  compare([](Rng& r, std::vector<Prefix>& o) { nested_chains(Family::V6, r, o, 1500); }, 9,
          kProbes);
}
END_TEST

START_TEST(v6_prefixes_shorter_than_the_lead) {
  compare([](Rng& r, std::vector<Prefix>& o) { v6_with_short_prefixes(r, o, 100000); }, 10,
          kProbes);
}
END_TEST

START_TEST(both_families_and_any_lengths) {
  compare(
      [](Rng& r, std::vector<Prefix>& o) {
        for (size_t i = 0; i < 60000; ++i) {
          Family f = r() % 2 ? Family::V4 : Family::V6;
          unsigned len = unsigned(r() % (cidr::family_bits(f) + 1));
          o.push_back(make_prefix(f, len, random_bits(r, f)));
        }
        v4_host_clusters(r, o, 2000);
        v6_host_clusters(r, o, 1000);
      },
      11, kProbes);
}
END_TEST

// The direct index in front of the trie: lists it takes, and lists it
// leaves to the trie alone (too many prefixes longer than /24).
START_TEST(v4_direct_index_over_every_length) {
  compare([](Rng& r, std::vector<Prefix>& o) { v4_mostly_short(r, o, 150000); }, 12, kProbes,
          DirectIndex::Required);
}
END_TEST

START_TEST(v4_direct_index_over_slash24s_and_hosts) {
  compare(
      [](Rng& r, std::vector<Prefix>& o) {
        v4_slash24s(r, o, 100000);
        v4_host_clusters(r, o, 400);
      },
      13, kProbes, DirectIndex::Required);
}
END_TEST

START_TEST(v4_direct_index_refused_for_host_lists) {
  compare([](Rng& r, std::vector<Prefix>& o) { v4_routing_like(r, o, 20000); }, 14, 50000,
          DirectIndex::Refused);
  compare([](Rng& r, std::vector<Prefix>& o) { v4_hosts(r, o, 20000); }, 15, 50000,
          DirectIndex::Refused);
}
END_TEST

// By default, only from 2^24 / 20 prefixes on: the index then costs at most
// 20 bytes a prefix.
START_TEST(v4_direct_index_from_its_size_on) {
  for (size_t n : {cidr::TableBuilder::kDirectIndexMinPrefixes - 1,
                   cidr::TableBuilder::kDirectIndexMinPrefixes}) {
    cidr::TableBuilder builder;
    const uint16_t type = builder.intern_type("routes");
    const uint32_t src = builder.add_source("routes");
    for (size_t i = 0; i < n; ++i) {
      builder.add(make_prefix(Family::V4, 24, U128(uint32_t(0x01000000u + (i << 8)))), type, src,
                  uint32_t(i + 1));
    }
    cidr::Diagnostics diag(0);
    auto table = builder.build(diag);
    ck_assert_uint_eq(table->size(), n);
    ck_assert_int_eq(table->parts().v4_direct.slots != nullptr,
                     n >= cidr::TableBuilder::kDirectIndexMinPrefixes);
    Match m;
    ck_assert(table->lookup_v4(0x01000000u + uint32_t((n - 1) << 8) + 7, m));
    ck_assert_uint_eq(m.network.len, 24);
    ck_assert(!table->lookup_v4(0x01000000u + uint32_t(n << 8), m));
  }
  ck_assert_uint_eq(cidr::TableBuilder::kDirectIndexMinPrefixes, 838861);
}
END_TEST

// An index byte names one of 254 answers (type and length) besides "no
// match": with one more distinct answer there is no index, and every /24
// still gets its own type either way.
START_TEST(v4_direct_index_up_to_254_answers) {
  for (uint32_t types : {254u, 255u, 300u}) {
    cidr::TableBuilder builder;
    builder.set_direct_index_min_prefixes(1);
    uint32_t src = builder.add_source("types");
    for (uint32_t i = 0; i < types; ++i) {
      uint16_t type = builder.intern_type("t" + std::to_string(i));
      builder.add(make_prefix(Family::V4, 24, U128(0x0a000000u + (i << 8))), type, src, i + 1);
    }
    cidr::Diagnostics diag(0);
    auto table = builder.build(diag);
    ck_assert_int_eq(table->parts().v4_direct.slots != nullptr, types <= 254);
    for (uint32_t i = 0; i < types; ++i) {
      Match m;
      ck_assert(table->lookup_v4(0x0a000000u + (i << 8) + 9, m));
      const std::string want = "t" + std::to_string(i);
      ck_assert_str_eq(table->type_name(m.type), want.c_str());
    }
    Match m;
    ck_assert(!table->lookup_v4(0x0a000000u + (types << 8), m));
  }
}
END_TEST

// A handful of prefixes, every length of both families: the smallest
// tables, a bucket at the top array, a lead of every size.
START_TEST(small_tables) {
  for (uint64_t seed = 0; seed < 200; ++seed) {
    compare(
        [seed](Rng& r, std::vector<Prefix>& o) {
          size_t n = 1 + seed % 12;
          for (size_t i = 0; i < n; ++i) {
            Family f = (seed + i) % 3 == 0 ? Family::V4 : Family::V6;
            unsigned len = unsigned(r() % (cidr::family_bits(f) + 1));
            U128 base = f == Family::V6 && seed % 2 ? global_unicast(r) : random_bits(r, f);
            o.push_back(make_prefix(f, len, base));
          }
        },
        100 + seed, 2000);
  }
}
END_TEST

int main() {
  Suite* s = suite_create("cidr_shapes");
  TCase* tc = tcase_create("differential");
  // Sanitizer builds run these several times slower than Check's 4 s default.
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, v4_routing_table);
  tcase_add_test(tc, v4_scattered_hosts);
  tcase_add_test(tc, v4_dense_slash24s);
  tcase_add_test(tc, v4_clustered_hosts);
  tcase_add_test(tc, v4_nested_chains);
  tcase_add_test(tc, v6_host_pairs_in_slash64s);
  tcase_add_test(tc, v6_random_slash48s);
  tcase_add_test(tc, v6_clustered_hosts);
  tcase_add_test(tc, v6_nested_chains);
  tcase_add_test(tc, v6_prefixes_shorter_than_the_lead);
  tcase_add_test(tc, both_families_and_any_lengths);
  tcase_add_test(tc, small_tables);
  tcase_add_test(tc, v4_direct_index_over_every_length);
  tcase_add_test(tc, v4_direct_index_over_slash24s_and_hosts);
  tcase_add_test(tc, v4_direct_index_refused_for_host_lists);
  tcase_add_test(tc, v4_direct_index_up_to_254_answers);
  tcase_add_test(tc, v4_direct_index_from_its_size_on);
  suite_add_tcase(s, tc);
  return cidr_test::run_suite(s);
}
