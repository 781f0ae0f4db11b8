// Longest-prefix-match tables for IPv4 and IPv6.
//
// A table is built once from a complete set of prefixes (sort, drop
// duplicates, then lay out a multibit trie in flat arrays) and is read-only
// afterwards, so lookups need no locking and a table built in the httpd parent
// is shared copy-on-write by every child.
//
// Trie layout (the Poptrie idea: bitmaps plus popcount instead of pointer
// arrays). The first bits of the key index a flat array whose entries are a
// result, a node or a check. A node covers the next 6 bits with two 64-bit
// maps: `children` marks slots that continue into a child node, `leaf_starts`
// marks slots where a run of equal leaves begins. A node's children are
// contiguous, and so are its leaves, so a slot's child or leaf is a base plus
// a popcount. A check stands for a whole subtree holding one prefix.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cidr_parse.h"

namespace cidr {

// The result of a lookup: 0 for no match, else (type + 1) << 8 | length of
// the matched prefix. The matched network is the address masked to that
// length, so the tables never need to store networks.
using Result = uint32_t;
inline Result make_result(uint16_t type, unsigned len) { return ((uint32_t(type) + 1) << 8) | len; }
inline uint16_t result_type(Result r) { return uint16_t((r >> 8) - 1); }
inline unsigned result_len(Result r) { return r & 0xff; }

// Big tables are probed at random: on 4 KiB pages almost every probe of a
// million-prefix table would also miss the TLB. Arrays of 2 MiB and more are
// therefore 2 MiB aligned and offered to the kernel for transparent huge pages.
void* alloc_table_memory(size_t bytes);
void free_table_memory(void* p, size_t bytes);
size_t table_allocation_size(size_t bytes);

template <typename T>
struct TableAllocator {
  using value_type = T;
  TableAllocator() = default;
  template <typename U>
  TableAllocator(const TableAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(alloc_table_memory(n * sizeof(T))); }
  void deallocate(T* p, size_t n) { free_table_memory(p, n * sizeof(T)); }
  template <typename U>
  bool operator==(const TableAllocator<U>&) const {
    return true;
  }
  template <typename U>
  bool operator!=(const TableAllocator<U>&) const {
    return false;
  }
};

template <typename T>
using TableVector = std::vector<T, TableAllocator<T>>;

template <typename T>
size_t table_vector_bytes(const TableVector<T>& v) {
  return v.capacity() == 0 ? 0 : table_allocation_size(v.capacity() * sizeof(T));
}

// Without -mpopcnt, __builtin_popcountll is a libgcc call, and a function
// compiled for POPCNT cannot be inlined into one that is not. So lookups come
// in two variants, POPCNT through inline assembly and a portable bit trick,
// and the table picks one by asking the CPU once.
bool cpu_has_popcount();

template <typename Key>
class MultibitTrie {
 public:
  static constexpr unsigned kKeyBits = sizeof(Key) * 8;
  static constexpr unsigned kStride = 6;

  // keys: sorted ascending by (key, len), unique, left-aligned in Key and
  // masked to their length.
  void build(const Key* keys, const uint8_t* lens, const Result* results, size_t n);

  // The longest match for key: a Result, 0 if none. Always inlined: both
  // variants sit behind one well-predicted branch in PrefixTable, and an
  // out-of-line call per lookup costs more than the lookup itself.
  template <bool kHwPopcount>
  __attribute__((always_inline)) Result find(Key key) const;

  size_t memory_bytes() const {
    return table_vector_bytes(direct_) + table_vector_bytes(wide_) +
           table_vector_bytes(wide_entries_) + table_vector_bytes(nodes_) +
           table_vector_bytes(leaves_) + table_vector_bytes(checks_);
  }
  bool wide() const { return !wide_.empty(); }
  size_t node_count() const { return nodes_.size(); }
  size_t check_count() const { return checks_.size(); }

 private:
  // An entry of direct_ or leaves_: a Result, or one of these tagged indexes.
  static constexpr uint32_t kNodeFlag = 0x80000000u;   // into nodes_
  static constexpr uint32_t kCheckFlag = 0x40000000u;  // into checks_
  static constexpr uint32_t kIndexMask = 0x3fffffffu;

  // One cache line: most nodes have few leaf runs, and keeping the first
  // ones next to the bitmaps saves a dependent memory access per lookup.
  static constexpr unsigned kInlineLeaves = 10;
  struct alignas(64) Node {
    uint64_t children;     // slots continuing into a child node
    uint64_t leaf_starts;  // slots starting a new run of equal leaves
    uint32_t child_base;   // index in nodes_ of the first child
    uint32_t leaf_base;    // index in leaves_ of leaf run kInlineLeaves, if any
    uint32_t inline_leaves[kInlineLeaves];
  };
  static_assert(sizeof(Node) == 64, "a node is one cache line");

  // A subtree holding a single prefix, however deep: one comparison instead
  // of a chain of one-child nodes (IPv6 /48s below a /16 would otherwise
  // cost a node every 6 bits).
  struct Check {
    uint64_t key[sizeof(Key) / 8];
    Result result;     // when the key matches the prefix
    Result inherited;  // otherwise
  };

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

  static Key check_key(const Check& c) {
    Key k = 0;
    for (size_t i = 0; i < sizeof(Key) / 8; ++i) k = Key(k << 32 << 32) | c.key[i];
    return k;
  }

  static unsigned chunk(Key key, unsigned offset, unsigned width) {
    return unsigned((key << offset) >> (kKeyBits - width));
  }
  uint32_t add_check(Key key, Result result, Result inherited);
  uint32_t subtree_entry(unsigned depth, const Key* keys, const uint8_t* lens,
                         const Result* results, size_t lo, size_t hi, Result inherited);
  void build_node(uint32_t index, unsigned depth, const Key* keys, const uint8_t* lens,
                  const Result* results, size_t lo, size_t hi, Result inherited);
  bool build_wide(const Key* keys, const uint8_t* lens, const Result* results, size_t n);
  void clear();

  // Either direct_ (entries for the first direct_bits_ bits) or, for the
  // largest IPv4 tables, wide_: 2^24 16-bit ids into wide_entries_. A
  // million-prefix table does not fit in cache, so each trie level would be
  // a memory access; indexing by 24 bits resolves nearly every IPv4 lookup
  // with one random access, in half the memory 32-bit entries would take.
  unsigned direct_bits_ = 1;
  TableVector<uint32_t> direct_ = TableVector<uint32_t>(2, 0);
  TableVector<uint16_t> wide_;
  TableVector<uint32_t> wide_entries_;
  TableVector<Node> nodes_;
  TableVector<uint32_t> leaves_;
  TableVector<Check> checks_;
};

template <typename Key>
template <bool kHw>
inline __attribute__((always_inline)) Result MultibitTrie<Key>::find(Key key) const {
  size_t top = size_t(key >> (kKeyBits - direct_bits_));
  uint32_t e = wide_.empty() ? direct_[top] : wide_entries_[wide_[top]];
  // The bits not consumed yet, at the top: shifting a 128-bit key by a
  // constant per level is far cheaper than by a variable offset.
  Key rest = key << direct_bits_;
  while (e & kNodeFlag) {
    const Node& node = nodes_[e & kIndexMask];
    unsigned slot = unsigned(rest >> (kKeyBits - kStride));
    uint64_t bit = uint64_t(1) << slot;
    if (node.children & bit) {
      e = kNodeFlag | (node.child_base + popcount<kHw>(node.children & (bit - 1)));
      rest <<= kStride;
      continue;
    }
    // (bit << 1) - 1 wraps to all ones for slot 63, which is the mask wanted.
    unsigned rank = popcount<kHw>(node.leaf_starts & ((bit << 1) - 1)) - 1;
    e = rank < kInlineLeaves ? node.inline_leaves[rank]
                             : leaves_[node.leaf_base + rank - kInlineLeaves];
    break;
  }
  if (e & kCheckFlag) {
    const Check& c = checks_[e & kIndexMask];
    unsigned len = result_len(c.result);  // >= 1: checks sit below the direct array
    return ((key ^ check_key(c)) >> (kKeyBits - len)) == 0 ? c.result : c.inherited;
  }
  return e;
}

struct Match {
  uint16_t type = 0;
  Prefix network;
};

class PrefixTable {
 public:
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
    uint64_t key = uint64_t(addr) << 32;
    Result r = hw_popcount_ ? v4_.find<true>(key) : v4_.find<false>(key);
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

  const std::string& type_name(uint16_t id) const { return types_[id]; }
  size_t type_count() const { return types_.size(); }
  size_t size_v4() const { return size_v4_; }
  size_t size_v6() const { return size_v6_; }
  size_t size() const { return size_v4_ + size_v6_; }
  // Everything the table holds, counted by what was allocated.
  size_t memory_bytes() const;
  // Whether the IPv4 side uses the 24-bit top array (for tests and figures).
  bool v4_wide() const { return v4_.wide(); }

 private:
  friend class TableBuilder;

  bool hw_popcount_ = cpu_has_popcount();
  size_t size_v4_ = 0;
  size_t size_v6_ = 0;
  std::vector<std::string> types_;
  MultibitTrie<uint64_t> v4_;
  MultibitTrie<U128> v6_;
};

// Collects prefixes in load order, then builds a PrefixTable. Where the
// same network is added twice, the first one added wins; if the two name
// different types, build() warns with both locations.
class TableBuilder {
 public:
  static constexpr size_t kMaxTypes = 65535;

  // Returns the id of a type name, adding it if new; throws std::length_error
  // past kMaxTypes distinct types.
  uint16_t intern_type(std::string_view name);
  // Registers a file (or other origin) name for diagnostics.
  uint32_t add_source(std::string name);
  void add(const Prefix& p, uint16_t type, uint32_t source, uint32_t line);

  size_t entry_count() const { return v4_.size() + v6_.size(); }
  const std::string& source_name(uint32_t id) const { return sources_[id]; }

  // Leaves the builder empty (its type names move into the table).
  std::unique_ptr<PrefixTable> build(Diagnostics& diag);

 private:
  struct Entry4 {
    uint32_t net;
    uint32_t seq;
    uint16_t type;
    uint8_t len;
  };
  struct Entry6 {
    U128 net;
    uint32_t seq;
    uint16_t type;
    uint8_t len;
  };
  struct Location {
    uint32_t source;
    uint32_t line;
  };

  void duplicate_warning(Diagnostics& diag, const Prefix& p, uint32_t kept_seq, uint16_t kept_type,
                         uint32_t dropped_seq, uint16_t dropped_type) const;

  std::vector<std::string> types_;
  std::unordered_map<std::string, uint16_t> type_ids_;
  std::vector<std::string> sources_;
  std::vector<Location> locations_;  // indexed by seq, the load order
  std::vector<Entry4> v4_;
  std::vector<Entry6> v6_;
};

}  // namespace cidr
