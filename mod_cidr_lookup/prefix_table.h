// Longest-prefix-match tables for IPv4 and IPv6, and how they are laid out.
//
// A table is read-only once built (table_builder.h), so lookups take no
// lock. Its arrays use indexes and offsets, never pointers, so the same
// bytes work wherever they are: in memory just built, or mapped from an
// image file (table_image.h) that every child and generation shares.
//
// Layout of one family (the Poptrie idea, bitmaps plus popcount instead of
// pointer arrays, with sparse subtrees kept as small sorted arrays):
//
//  - `top`: 2^top_bits entries, indexed by the key's first bits. IPv6
//    lists share their first bits (2000::/3 and the like): those, the lead,
//    are compared at once and the top array indexes the bits after them;
//    an address off the lead gets the `outside` entry.
//  - An entry (32 bits) is a Result (a match, or 0 for none), a node
//    (kNodeTag | index) or a pool record (kPoolTag | offset in 8 bytes).
//  - A node covers the next 6 bits in one cache line: `children` marks slots
//    that continue into a child node (a node's children are contiguous, so
//    a child is child_base plus a popcount), `leaf_starts` marks slots where
//    a run of equal entries begins; the first runs sit in the node itself.
//  - A bucket (pool record: an IPv4 line, or a list) holds a subtree with
//    few prefixes as they are: keys and results sorted by length, scanned
//    for the longest match. This bounds the memory of sparse lists: a host
//    list costs its entries, not a node per 6 bits down to each host.
//  - A skip (pool record) holds a subtree whose prefixes all share a long
//    path: it compares the path at once, keeps the prefixes ending on it (as
//    a bucket, for addresses that leave the path) and continues below it.
//    So no shape of list needs a chain of one-child nodes.
//
// Every record and node reachable from a node has a larger index than the
// node, and a skip never leads to a skip: a lookup always ends. Image
// validation (table_image.cpp) checks exactly that, with every bound.
//
// A big IPv4 table made mostly of /24s and shorter prefixes also has a
// direct index (DirectIndex below) in front of its trie, which then holds
// only the /24s with longer prefixes in them.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "cidr_parse.h"

namespace cidr {

// The result of a lookup: 0 for no match, else (type + 1) << 8 | length of
// the matched prefix. The matched network is the address masked to that
// length, so tables never store networks.
using Result = uint32_t;
inline Result make_result(uint16_t type, unsigned len) { return ((uint32_t(type) + 1) << 8) | len; }
inline uint16_t result_type(Result r) { return uint16_t((r >> 8) - 1); }
inline unsigned result_len(Result r) { return r & 0xff; }
constexpr Result kMaxResult = (uint32_t(0xffff) + 1) << 8 | 0xff;
// Distinct client types a table can hold (ids are 16 bits).
constexpr size_t kMaxTypes = 65535;

// Entries of `top`, of node leaves and of a skip's continuation.
constexpr uint32_t kNodeTag = 0x80000000u;  // low 31 bits: node index
constexpr uint32_t kPoolTag = 0x40000000u;  // low 30 bits: pool offset / 8 bytes
constexpr uint32_t kNodeIndexMask = 0x7fffffffu;
constexpr uint32_t kPoolIndexMask = 0x3fffffffu;
static_assert(kMaxResult < kPoolTag, "results never carry a tag");

constexpr unsigned kStride = 6;  // bits per node: 64 slots, one bitmap word
constexpr unsigned kInlineLeaves = 10;

struct alignas(64) TrieNode {
  uint64_t children;     // slots continuing into a child node
  uint64_t leaf_starts;  // slots starting a new run of equal entries
  uint32_t child_base;   // index of the first child
  uint32_t leaf_base;    // index in `leaves` of run kInlineLeaves, if any
  uint32_t inline_leaves[kInlineLeaves];
};
static_assert(sizeof(TrieNode) == 64, "a node is one cache line");

// Pool records, in 32-bit words from the record's start (records start on
// 8-byte boundaries, so 64-bit keys are aligned):
//   line:   IPv4 only, 1 to 4 entries compared at once (one SSE2 compare,
//           no branch): [header][keys][masks][inherited result][results];
//           masks are the prefix masks of the entries' lengths
//   list:   [header][inherited result][keys][results], any length: IPv4
//           keys 1 word each, IPv6 2 words (the first 64 bits, when no
//           entry is longer than /64) or 4 (wide: all 128 bits)
//   skip:   [header][continuation entry][path key][a list of the prefixes
//           ending on the path]; path key: IPv4 2 words (one used), IPv6 4
// Entries of lines and lists are sorted by length: the last match is the
// longest.
namespace record {
enum class Kind : uint32_t { List = 0, Skip = 1, Line = 2 };
constexpr uint32_t kCountMask = 0xffff;  // entries of a line or list
constexpr unsigned kDepthShift = 16;     // skip: bits the path covers
constexpr uint32_t kDepthMask = 0xff;
constexpr unsigned kKindShift = 24;
constexpr uint32_t kKindMask = 0x3;
constexpr uint32_t kWideKeys = 1u << 26;  // IPv6 list with 128-bit keys
constexpr size_t kHeaderWords = 2;
constexpr size_t kLineSlots = 4;  // one 128-bit vector of keys
constexpr size_t kSkipKeyWordsV4 = 2;
constexpr size_t kSkipKeyWordsV6 = 4;
// Words of a line of n entries; lookups read 4 keys and 4 masks whatever
// n, so a line is at least that long (the extra lanes are ignored).
inline size_t line_words(size_t n) {
  size_t words = 3 * n + 2;
  if (words < n + 1 + kLineSlots) words = n + 1 + kLineSlots;
  return (words + 1) / 2 * 2;
}

inline Kind kind(uint32_t header) { return Kind((header >> kKindShift) & kKindMask); }
inline uint32_t count(uint32_t header) { return header & kCountMask; }
inline unsigned depth(uint32_t header) { return (header >> kDepthShift) & kDepthMask; }
inline uint32_t list_header(uint32_t count, bool wide) {
  return (uint32_t(Kind::List) << kKindShift) | (wide ? kWideKeys : 0) | count;
}
inline uint32_t line_header(uint32_t count) { return (uint32_t(Kind::Line) << kKindShift) | count; }
inline uint32_t skip_header(unsigned depth) {
  return (uint32_t(Kind::Skip) << kKindShift) | (uint32_t(depth) << kDepthShift);
}
// Words of a list's keys per entry.
inline size_t key_words(bool v6, uint32_t header) { return !v6 ? 1 : (header & kWideKeys) ? 4 : 2; }
inline uint64_t load_u64(const uint32_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
}  // namespace record

// Without -mpopcnt, __builtin_popcountll is a libgcc call, and a function
// compiled for POPCNT cannot be inlined into one that is not. So lookups come
// in two variants, POPCNT through inline assembly and a portable bit trick,
// and the table picks one by asking the CPU once.
bool cpu_has_popcount();

// One family's arrays, wherever they live (built in memory or mapped).
struct TrieSections {
  uint32_t top_bits = 0;
  uint32_t lead_bits = 0;  // IPv6: the bits every long prefix shares
  uint64_t lead_hi = 0, lead_lo = 0;
  uint32_t outside = 0;           // the entry of addresses off the lead: a result or a list
  const uint32_t* top = nullptr;  // 2^top_bits entries
  const TrieNode* nodes = nullptr;
  size_t node_count = 0;
  const uint32_t* leaves = nullptr;
  size_t leaf_count = 0;
  const uint32_t* pool = nullptr;
  size_t pool_words = 0;

  size_t bytes() const {
    return (size_t(1) << top_bits) * sizeof(uint32_t) + node_count * sizeof(TrieNode) +
           leaf_count * sizeof(uint32_t) + pool_words * sizeof(uint32_t);
  }
};

// IPv4 only, for big tables made mostly of /24s and shorter prefixes (a
// routing table): one byte per /24, the index of its answer in `results`,
// or kDeeper when longer prefixes lie in that /24 and the trie decides. Most
// lookups then read one byte of a 16 MiB array and one of a few results
// that stay in L1, where the trie alone reads its top array and then a
// node, two reads that wait on each other. The trie then holds only what
// the deeper /24s need (table_builder.cpp).
struct DirectIndex {
  static constexpr unsigned kBits = 24;
  static constexpr size_t kSlots = size_t(1) << kBits;
  static constexpr uint8_t kDeeper = 0xff;
  static constexpr size_t kMaxResults = kDeeper;  // indexes 0 to 254

  const uint8_t* slots = nullptr;  // kSlots bytes; null: the table has no index
  const uint32_t* results = nullptr;
  size_t result_count = 0;

  size_t bytes() const { return slots == nullptr ? 0 : kSlots + result_count * sizeof(uint32_t); }
};

// Lookups over one family's arrays. Key: IPv4 addresses sit in the top 32
// bits of a uint64_t (so that nodes past bit 32 read zeros, as IPv6 keys
// never need), IPv6 addresses fill a U128.
template <typename Key>
struct Trie : TrieSections {
  static constexpr unsigned kKeyBits = sizeof(Key) * 8;
  static constexpr bool kV6 = sizeof(Key) == 16;

  // The longest match for key: a Result, 0 if none. Always inlined: both
  // variants sit behind one well-predicted branch in PrefixTable, and an
  // out-of-line call per lookup costs more than the lookup itself.
  template <bool kHwPopcount>
  __attribute__((always_inline)) Result find(Key key) const;

  template <bool kHw>
  static unsigned popcount(uint64_t v) {
    if (kHw) {
#if defined(__x86_64__)
      uint64_t n;
      __asm__("popcnt %1, %0" : "=r"(n) : "r"(v));
      return unsigned(n);
#else
      return unsigned(__builtin_popcountll(v));
#endif
    }
    v = v - ((v >> 1) & 0x5555555555555555ull);
    v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
    v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return unsigned((v * 0x0101010101010101ull) >> 56);
  }

  // Whether `key` lies on a skip's path (its first `depth` bits).
  static bool on_path(const uint32_t* rec, Key key, unsigned depth) {
    if constexpr (kV6) {
      U128 path = (U128(record::load_u64(rec + 2)) << 64) | record::load_u64(rec + 4);
      return ((key ^ path) >> (kKeyBits - depth)) == 0;
    } else {
      return ((uint32_t(key >> 32) ^ rec[2]) >> (32 - depth)) == 0;
    }
  }

  static const uint32_t* skip_bucket(const uint32_t* rec) {
    return rec + record::kHeaderWords + (kV6 ? record::kSkipKeyWordsV6 : record::kSkipKeyWordsV4);
  }

  // The longest entry of an IPv4 line that holds key, else its inherited
  // result. A lookup of a big table waits on memory, and how many lookups
  // the CPU keeps in flight depends on how few instructions each takes: so
  // all entries are compared at once, and the answer is picked without a
  // branch (lane i's result is results[i + 1], results[0] the inherited).
  static Result scan_line(const uint32_t* rec, uint64_t key) {
    const uint32_t k = uint32_t(key >> 32);
    const uint32_t n = record::count(rec[0]);
    const uint32_t* keys = rec + 1;
    const uint32_t* masks = keys + n;
    const uint32_t* results = masks + n;
#if defined(__SSE2__)
    __m128i x = _mm_set1_epi32(int(k));
    __m128i diff = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(keys)), x);
    __m128i held = _mm_and_si128(diff, _mm_loadu_si128(reinterpret_cast<const __m128i*>(masks)));
    __m128i hit = _mm_cmpeq_epi32(held, _mm_setzero_si128());
    unsigned lanes = unsigned(_mm_movemask_ps(_mm_castsi128_ps(hit))) & ((1u << n) - 1);
#else
    unsigned lanes = 0;
    for (uint32_t i = 0; i < n; ++i) lanes |= unsigned(((k ^ keys[i]) & masks[i]) == 0) << i;
#endif
    // Entries are sorted by length: the highest lane that matches is the
    // longest; with none, bit 0 picks the inherited result.
    unsigned pick = (lanes << 1) | 1;
    return results[31 - unsigned(__builtin_clz(pick))];
  }

  // The longest entry of a list that holds key (entries are sorted by
  // length, so the last match wins), else its inherited result.
  static Result scan(const uint32_t* rec, Key key) {
    const uint32_t n = record::count(rec[0]);
    Result best = rec[1];
    const uint32_t* keys = rec + record::kHeaderWords;
    if constexpr (!kV6) {
      const uint32_t k = uint32_t(key >> 32);
      const uint32_t* results = keys + n;
      for (uint32_t i = 0; i < n; ++i) {
        Result r = results[i];
        best = ((k ^ keys[i]) >> (32 - result_len(r))) == 0 ? r : best;
      }
    } else if (!(rec[0] & record::kWideKeys)) {
      const uint64_t k = uint64_t(key >> 64);
      const uint32_t* results = keys + 2 * size_t(n);
      for (uint32_t i = 0; i < n; ++i) {
        Result r = results[i];
        best = ((k ^ record::load_u64(keys + 2 * i)) >> (64 - result_len(r))) == 0 ? r : best;
      }
    } else {
      const uint32_t* results = keys + 4 * size_t(n);
      for (uint32_t i = 0; i < n; ++i) {
        Result r = results[i];
        U128 e = (U128(record::load_u64(keys + 4 * i)) << 64) | record::load_u64(keys + 4 * i + 2);
        best = ((key ^ e) >> (kKeyBits - result_len(r))) == 0 ? r : best;
      }
    }
    return best;
  }
};

template <typename Key>
template <bool kHw>
inline __attribute__((always_inline)) Result Trie<Key>::find(Key key) const {
  Key rest = key;
  if constexpr (kV6) {
    if (lead_bits != 0) {
      U128 lead = (U128(lead_hi) << 64) | lead_lo;
      if (((key ^ lead) >> (kKeyBits - lead_bits)) != 0) {
        return outside & kPoolTag ? scan(pool + size_t(outside & kPoolIndexMask) * 2, key)
                                  : outside;
      }
      rest = key << lead_bits;
    }
  }
  uint32_t e = top[size_t(rest >> (kKeyBits - top_bits))];
  // The bits not consumed yet, at the top: shifting a 128-bit key by a
  // constant per level is far cheaper than by a variable offset.
  rest <<= top_bits;
  for (;;) {
    if (e & kNodeTag) {
      const TrieNode& node = nodes[e & kNodeIndexMask];
      unsigned slot = unsigned(rest >> (kKeyBits - kStride));
      uint64_t bit = uint64_t(1) << slot;
      if (node.children & bit) {
        e = kNodeTag | (node.child_base + popcount<kHw>(node.children & (bit - 1)));
        rest <<= kStride;
        continue;
      }
      // (bit << 1) - 1 wraps to all ones for slot 63, which is the mask wanted.
      unsigned rank = popcount<kHw>(node.leaf_starts & ((bit << 1) - 1)) - 1;
      e = rank < kInlineLeaves ? node.inline_leaves[rank]
                               : leaves[node.leaf_base + rank - kInlineLeaves];
    }
    if (!(e & kPoolTag)) return e;
    const uint32_t* rec = pool + size_t(e & kPoolIndexMask) * 2;
    const record::Kind kind = record::kind(rec[0]);
    if constexpr (!kV6) {
      if (kind == record::Kind::Line) return scan_line(rec, key);
    }
    if (kind == record::Kind::Skip) {
      const unsigned depth = record::depth(rec[0]);
      if (on_path(rec, key, depth)) {
        e = rec[1];
        rest = key << depth;
        continue;
      }
      rec = skip_bucket(rec);
    }
    return scan(rec, key);
  }
}

struct Match {
  uint16_t type = 0;
  Prefix network;
};

// Where a table came from; stored in its image.
struct TableInfo {
  uint64_t identity = 0;     // of the list files it was built from (cidr_loader.h)
  uint64_t config_key = 0;   // of the directives that named them (0: none)
  int64_t built_at = 0;      // Unix seconds
  uint64_t load_micros = 0;  // reading, parsing and building
  uint64_t warning_total = 0;
};

// Everything a table is made of: the two families' arrays, the type names
// (NUL-terminated, at name_offsets into names), and per type the prefixes of
// each family (type_counts[2 * id] IPv4, [2 * id + 1] IPv6).
struct TableParts {
  TrieSections v4;
  TrieSections v6;
  DirectIndex v4_direct;
  uint64_t count_v4 = 0;
  uint64_t count_v6 = 0;
  const uint32_t* name_offsets = nullptr;
  size_t type_count = 0;
  const char* names = nullptr;
  size_t names_bytes = 0;
  const uint32_t* type_counts = nullptr;
};

// Owns the memory a table's parts point into (arrays just built, or a mapped
// image), and frees it with the table.
class TableStorage {
 public:
  virtual ~TableStorage() = default;
  // Whether the memory is a mapped image file.
  virtual bool mapped() const = 0;
  // See PrefixTable::settle(); points `parts` at where the arrays are now.
  virtual void settle(TableParts& /*parts*/) {}
};

class PrefixTable {
 public:
  PrefixTable(std::unique_ptr<TableStorage> storage, const TableParts& parts, const TableInfo& info,
              std::vector<Warning> warnings);
  PrefixTable(const PrefixTable&) = delete;
  PrefixTable& operator=(const PrefixTable&) = delete;

  // Returns false when nothing matches. An IPv4-mapped IPv6 address is
  // matched against the IPv4 prefixes.
  bool lookup(const Address& addr, Match& m) const {
    if (addr.family == Family::V4) return lookup_v4(uint32_t(addr.value), m);
    return lookup_v6(addr.value, m);
  }
  // The match is filled in even when there is none (the return value says),
  // so that callers looking up many addresses need not branch on each result.
  // Inlined for the same reason as find().
  __attribute__((always_inline)) bool lookup_v4(uint32_t addr, Match& m) const {
    const uint8_t slot =
        direct_.slots != nullptr ? direct_.slots[addr >> 8] : uint8_t(DirectIndex::kDeeper);
    Result r;
    if (slot != DirectIndex::kDeeper) {
      r = direct_.results[slot];
    } else {
      uint64_t key = uint64_t(addr) << 32;
      r = hw_popcount_ ? v4_.find<true>(key) : v4_.find<false>(key);
    }
    unsigned len = result_len(r);
    m.type = result_type(r);
    m.network.family = Family::V4;
    m.network.len = uint8_t(len);
    m.network.value = addr & uint32_t(~uint64_t(0) << (32 - len));
    return r != 0;
  }
  __attribute__((always_inline)) bool lookup_v6(U128 addr, Match& m) const {
    if ((addr >> 32) == 0xffff) return lookup_v4(uint32_t(addr), m);
    Result r = hw_popcount_ ? v6_.find<true>(addr) : v6_.find<false>(addr);
    unsigned len = result_len(r);
    m.type = result_type(r);
    m.network.family = Family::V6;
    m.network.len = uint8_t(len);
    m.network.value = len == 0 ? 0 : addr & (~U128(0) << (128 - len));
    return r != 0;
  }
  // Raw network-order bytes as found in a sockaddr: 4 for IPv4, 16 for IPv6.
  bool lookup_bytes(const unsigned char* bytes, size_t size, Match& m) const;

  // NUL-terminated; lives as long as the table.
  const char* type_name(uint16_t id) const { return names_[id]; }
  size_t type_count() const { return names_.size(); }
  // How many prefixes of `family` have type `id`.
  uint32_t type_prefixes(uint16_t id, Family family) const {
    return parts_.type_counts[2 * size_t(id) + (family == Family::V4 ? 0 : 1)];
  }
  size_t size_v4() const { return size_t(parts_.count_v4); }
  size_t size_v6() const { return size_t(parts_.count_v6); }
  size_t size() const { return size_v4() + size_v6(); }
  // The bytes of its arrays and names (an image adds a header and padding).
  size_t memory_bytes() const;

  const TableInfo& info() const { return info_; }
  void set_info(const TableInfo& info) { info_ = info; }
  // The warnings its lists gave when it was built (the first ones; info()
  // counts them all).
  const std::vector<Warning>& warnings() const { return warnings_; }
  const TableParts& parts() const { return parts_; }
  bool mapped() const { return storage_->mapped(); }
  // For a table just built that lookups will use from memory (not through
  // its image): moves its big arrays onto huge pages where the kernel gives
  // them (a probe of a big table would otherwise miss the TLB too). Not for
  // a table about to be written as an image: that would copy for nothing.
  void settle();

 private:
  std::unique_ptr<TableStorage> storage_;
  TableParts parts_;
  TableInfo info_;
  std::vector<Warning> warnings_;
  std::vector<const char*> names_;
  bool hw_popcount_ = cpu_has_popcount();
  DirectIndex direct_;
  Trie<uint64_t> v4_;
  Trie<U128> v6_;
};

}  // namespace cidr
