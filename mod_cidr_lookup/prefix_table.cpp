#include "prefix_table.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <unordered_map>

namespace cidr {

namespace {

constexpr size_t kHugePage = size_t(2) << 20;
constexpr size_t kCacheLine = 64;

// Wide mode spends 32 MiB on its top array; use it once that is at most
// 56 bytes per prefix, which keeps the whole table within 64.
constexpr size_t kWideMinPrefixes = (size_t(2) << 24) / 56;
constexpr unsigned kWideBits = 24;

}  // namespace

size_t table_allocation_size(size_t bytes) {
  size_t align = bytes >= kHugePage ? kHugePage : kCacheLine;
  return (bytes + align - 1) & ~(align - 1);
}

void* alloc_table_memory(size_t bytes) {
  size_t size = table_allocation_size(bytes == 0 ? 1 : bytes);
  void* p = std::aligned_alloc(size >= kHugePage ? kHugePage : kCacheLine, size);
  if (p == nullptr) throw std::bad_alloc();
  if (size >= kHugePage) ::madvise(p, size, MADV_HUGEPAGE);  // advice only: failure is fine
  return p;
}

void free_table_memory(void* p, size_t /*bytes*/) { std::free(p); }

bool cpu_has_popcount() {
#if defined(__x86_64__) || defined(__i386__)
  return __builtin_cpu_supports("popcnt");
#else
  return true;
#endif
}

template <typename Key>
void MultibitTrie<Key>::clear() {
  direct_ = TableVector<uint32_t>(2, 0);
  direct_bits_ = 1;
  TableVector<uint16_t>().swap(wide_);
  TableVector<uint32_t>().swap(wide_entries_);
  TableVector<Node>().swap(nodes_);
  TableVector<uint32_t>().swap(leaves_);
  TableVector<Check>().swap(checks_);
}

template <typename Key>
uint32_t MultibitTrie<Key>::add_check(Key key, Result result, Result inherited) {
  if (checks_.size() >= kIndexMask) throw std::length_error("too many prefixes");
  Check c;
  for (size_t i = 0; i < sizeof(Key) / 8; ++i) {
    c.key[i] = uint64_t(key >> (64 * (sizeof(Key) / 8 - 1 - i)));
  }
  c.result = result;
  c.inherited = inherited;
  checks_.push_back(c);
  return kCheckFlag | uint32_t(checks_.size() - 1);
}

// The entry for a region `depth` bits deep holding prefixes [lo, hi) (some
// may be no longer than depth: those are in `inherited` already).
template <typename Key>
uint32_t MultibitTrie<Key>::subtree_entry(unsigned depth, const Key* keys, const uint8_t* lens,
                                          const Result* results, size_t lo, size_t hi,
                                          Result inherited) {
  size_t deep = 0, first = 0;
  for (size_t i = lo; i < hi && deep < 2; ++i) {
    if (lens[i] > depth && deep++ == 0) first = i;
  }
  if (deep == 0) return inherited;
  if (deep == 1) return add_check(keys[first], results[first], inherited);
  if (nodes_.size() >= kIndexMask) throw std::length_error("too many prefixes");
  uint32_t index = uint32_t(nodes_.size());
  nodes_.emplace_back();
  build_node(index, depth, keys, lens, results, lo, hi, inherited);
  return kNodeFlag | index;
}

template <typename Key>
void MultibitTrie<Key>::build(const Key* keys, const uint8_t* lens, const Result* results,
                              size_t n) {
  clear();
  if (sizeof(Key) == 8 && n >= kWideMinPrefixes && build_wide(keys, lens, results, n)) return;
  clear();

  // About four direct entries per prefix, up to 4 MiB: small tables stay
  // small (every context with its own lists has its own table), big ones
  // save node levels.
  direct_bits_ = 8;
  while (direct_bits_ < 20 && (size_t(1) << direct_bits_) < 4 * n) ++direct_bits_;
  direct_.assign(size_t(1) << direct_bits_, 0);

  // Paint the short prefixes shortest first, so each slot ends up with its
  // longest covering prefix. Going length by length bounds the work by
  // (direct_bits + 1) * 2^direct_bits whatever the input.
  std::vector<std::vector<uint32_t>> by_len(direct_bits_ + 1);
  for (size_t i = 0; i < n; ++i) {
    if (lens[i] <= direct_bits_) by_len[lens[i]].push_back(uint32_t(i));
  }
  for (unsigned len = 0; len <= direct_bits_; ++len) {
    for (uint32_t i : by_len[len]) {
      size_t start = chunk(keys[i], 0, direct_bits_);
      size_t count = size_t(1) << (direct_bits_ - len);
      std::fill_n(direct_.begin() + long(start), count, results[i]);
    }
  }

  // Longer prefixes hang below the slot of their first bits; sorted keys make
  // each slot's prefixes one contiguous run.
  for (size_t i = 0; i < n;) {
    size_t slot = chunk(keys[i], 0, direct_bits_);
    size_t end = i + 1;
    while (end < n && chunk(keys[end], 0, direct_bits_) == slot) ++end;
    direct_[slot] = subtree_entry(direct_bits_, keys, lens, results, i, end, direct_[slot]);
    i = end;
  }
  nodes_.shrink_to_fit();
  leaves_.shrink_to_fit();
  checks_.shrink_to_fit();
}

// Same as the direct array, with entries interned as 16-bit ids. Returns
// false (the caller falls back) when more than 65536 distinct entries would
// be needed, e.g. for a list of hundreds of thousands of scattered /32s.
template <typename Key>
bool MultibitTrie<Key>::build_wide(const Key* keys, const uint8_t* lens, const Result* results,
                                   size_t n) {
  direct_ = TableVector<uint32_t>();
  direct_bits_ = kWideBits;
  wide_.assign(size_t(1) << kWideBits, 0);
  wide_entries_.assign(1, 0);
  std::unordered_map<uint32_t, uint16_t> ids;
  ids.emplace(0, 0);
  auto intern = [&](uint32_t entry, bool unique) -> int {
    if (!unique) {
      auto it = ids.find(entry);
      if (it != ids.end()) return it->second;
    }
    if (wide_entries_.size() > 0xffff) return -1;
    uint16_t id = uint16_t(wide_entries_.size());
    wide_entries_.push_back(entry);
    if (!unique) ids.emplace(entry, id);
    return id;
  };

  std::vector<std::vector<uint32_t>> by_len(kWideBits + 1);
  for (size_t i = 0; i < n; ++i) {
    if (lens[i] <= kWideBits) by_len[lens[i]].push_back(uint32_t(i));
  }
  for (unsigned len = 0; len <= kWideBits; ++len) {
    for (uint32_t i : by_len[len]) {
      int id = intern(results[i], false);
      if (id < 0) return false;
      size_t start = chunk(keys[i], 0, kWideBits);
      std::fill_n(wide_.begin() + long(start), size_t(1) << (kWideBits - len), uint16_t(id));
    }
  }
  for (size_t i = 0; i < n;) {
    size_t slot = chunk(keys[i], 0, kWideBits);
    size_t end = i + 1;
    while (end < n && chunk(keys[end], 0, kWideBits) == slot) ++end;
    uint32_t inherited = wide_entries_[wide_[slot]];
    uint32_t entry = subtree_entry(kWideBits, keys, lens, results, i, end, inherited);
    if (entry != inherited) {
      // Node and check entries are never shared between slots.
      int id = intern(entry, true);
      if (id < 0) return false;
      wide_[slot] = uint16_t(id);
    }
    i = end;
  }
  wide_entries_.shrink_to_fit();
  nodes_.shrink_to_fit();
  leaves_.shrink_to_fit();
  checks_.shrink_to_fit();
  return true;
}

template <typename Key>
void MultibitTrie<Key>::build_node(uint32_t index, unsigned depth, const Key* keys,
                                   const uint8_t* lens, const Result* results, size_t lo, size_t hi,
                                   Result inherited) {
  uint32_t slot_value[64];
  std::fill_n(slot_value, 64, inherited);
  uint8_t deep_count[64] = {};  // prefixes continuing below each slot, capped at 2
  size_t first_deep[64];

  // At most 2 + 4 + ... + 64 distinct prefixes end inside one node.
  uint32_t paint[126];
  size_t npaint = 0;
  for (size_t i = lo; i < hi; ++i) {
    unsigned len = lens[i];
    if (len <= depth) continue;  // in `inherited` already
    if (len <= depth + kStride) {
      paint[npaint++] = uint32_t(i);
    } else {
      unsigned slot = chunk(keys[i], depth, kStride);
      if (deep_count[slot] == 0) first_deep[slot] = i;
      if (deep_count[slot] < 2) ++deep_count[slot];
    }
  }
  std::stable_sort(paint, paint + npaint,
                   [&](uint32_t a, uint32_t b) { return lens[a] < lens[b]; });
  for (size_t k = 0; k < npaint; ++k) {
    uint32_t i = paint[k];
    unsigned start = chunk(keys[i], depth, kStride);
    std::fill_n(slot_value + start, 1u << (depth + kStride - lens[i]), results[i]);
  }

  uint64_t children = 0;
  uint64_t leaf_starts = 0;
  uint32_t runs[64];
  unsigned nruns = 0;
  for (unsigned s = 0; s < 64; ++s) {
    uint32_t entry = slot_value[s];
    if (deep_count[s] >= 2) {
      children |= uint64_t(1) << s;
      continue;
    }
    if (deep_count[s] == 1) {
      size_t d = first_deep[s];
      entry = add_check(keys[d], results[d], slot_value[s]);
    }
    if (nruns == 0 || entry != runs[nruns - 1]) {
      leaf_starts |= uint64_t(1) << s;
      runs[nruns++] = entry;
    }
  }

  uint32_t child_base = uint32_t(nodes_.size());
  size_t nchildren = size_t(__builtin_popcountll(children));
  if (nodes_.size() + nchildren >= kIndexMask) throw std::length_error("too many prefixes");
  nodes_.resize(nodes_.size() + nchildren);
  Node& node = nodes_[index];  // only now: the resize may move nodes_
  node.children = children;
  node.leaf_starts = leaf_starts;
  node.child_base = child_base;
  node.leaf_base = uint32_t(leaves_.size());
  for (unsigned k = 0; k < kInlineLeaves; ++k) node.inline_leaves[k] = k < nruns ? runs[k] : 0;
  for (unsigned k = kInlineLeaves; k < nruns; ++k) leaves_.push_back(runs[k]);
  if (children == 0) return;

  const unsigned next = depth + kStride;
  uint32_t child = child_base;
  for (size_t i = lo; i < hi;) {
    unsigned slot = chunk(keys[i], depth, kStride);
    size_t end = i + 1;
    while (end < hi && chunk(keys[end], depth, kStride) == slot) ++end;
    if (children & (uint64_t(1) << slot)) {
      build_node(child++, next, keys, lens, results, i, end, slot_value[slot]);
    }
    i = end;
  }
}

template class MultibitTrie<uint64_t>;
template class MultibitTrie<U128>;

bool PrefixTable::lookup_bytes(const unsigned char* bytes, size_t size, Match& m) const {
  if (size == 4) {
    uint32_t v = (uint32_t(bytes[0]) << 24) | (uint32_t(bytes[1]) << 16) |
                 (uint32_t(bytes[2]) << 8) | uint32_t(bytes[3]);
    return lookup_v4(v, m);
  }
  if (size == 16) {
    U128 v = 0;
    for (size_t i = 0; i < 16; ++i) v = (v << 8) | bytes[i];
    return lookup_v6(v, m);
  }
  return false;
}

size_t PrefixTable::memory_bytes() const {
  size_t bytes = sizeof(*this) + v4_.memory_bytes() + v6_.memory_bytes();
  for (const std::string& t : types_) bytes += sizeof(t) + t.capacity();
  return bytes;
}

uint16_t TableBuilder::intern_type(std::string_view name) {
  std::string key(name);
  auto it = type_ids_.find(key);
  if (it != type_ids_.end()) return it->second;
  if (types_.size() >= kMaxTypes) {
    throw std::length_error("more than " + std::to_string(kMaxTypes) + " client types");
  }
  uint16_t id = uint16_t(types_.size());
  types_.push_back(key);
  type_ids_.emplace(std::move(key), id);
  return id;
}

uint32_t TableBuilder::add_source(std::string name) {
  sources_.push_back(std::move(name));
  return uint32_t(sources_.size() - 1);
}

void TableBuilder::add(const Prefix& p, uint16_t type, uint32_t source, uint32_t line) {
  if (locations_.size() >= 0xffffffffu) throw std::length_error("too many prefixes");
  uint32_t seq = uint32_t(locations_.size());
  locations_.push_back(Location{source, line});
  if (p.family == Family::V4) {
    v4_.push_back(Entry4{uint32_t(p.value), seq, type, p.len});
  } else {
    v6_.push_back(Entry6{p.value, seq, type, p.len});
  }
}

void TableBuilder::duplicate_warning(Diagnostics& diag, const Prefix& p, uint32_t kept_seq,
                                     uint16_t kept_type, uint32_t dropped_seq,
                                     uint16_t dropped_type) const {
  const Location& kept = locations_[kept_seq];
  const Location& dropped = locations_[dropped_seq];
  diag.warning(WarningKind::DuplicateNetwork,
               sources_[dropped.source] + ":" + std::to_string(dropped.line) + ": " +
                   format_prefix(p) + " is listed as '" + types_[dropped_type] + "' here and as '" +
                   types_[kept_type] + "' at " + sources_[kept.source] + ":" +
                   std::to_string(kept.line) + "; the first one, '" + types_[kept_type] +
                   "', is used");
}

namespace {

// Sort by (network, length, load order): equal networks become neighbours
// with the first-loaded one in front, and the trie builder gets its input in
// key order. Sorting is what makes the build cost independent of the order
// the lists were written in.
template <typename E>
void sort_entries(std::vector<E>& entries) {
  std::sort(entries.begin(), entries.end(), [](const E& a, const E& b) {
    if (a.net != b.net) return a.net < b.net;
    if (a.len != b.len) return a.len < b.len;
    return a.seq < b.seq;
  });
}

}  // namespace

std::unique_ptr<PrefixTable> TableBuilder::build(Diagnostics& diag) {
  auto table = std::make_unique<PrefixTable>();

  sort_entries(v4_);
  {
    std::vector<uint64_t> keys;
    std::vector<uint8_t> lens;
    std::vector<Result> results;
    keys.reserve(v4_.size());
    lens.reserve(v4_.size());
    results.reserve(v4_.size());
    size_t run_start = 0;
    for (size_t i = 0; i < v4_.size(); ++i) {
      const Entry4& e = v4_[i];
      if (i > 0 && v4_[run_start].net == e.net && v4_[run_start].len == e.len) {
        const Entry4& kept = v4_[run_start];
        if (kept.type != e.type) {
          duplicate_warning(diag, Prefix{Family::V4, e.len, e.net}, kept.seq, kept.type, e.seq,
                            e.type);
        }
        continue;
      }
      run_start = i;
      keys.push_back(uint64_t(e.net) << 32);
      lens.push_back(e.len);
      results.push_back(make_result(e.type, e.len));
    }
    std::vector<Entry4>().swap(v4_);
    table->size_v4_ = keys.size();
    table->v4_.build(keys.data(), lens.data(), results.data(), keys.size());
  }

  sort_entries(v6_);
  {
    std::vector<U128> keys;
    std::vector<uint8_t> lens;
    std::vector<Result> results;
    keys.reserve(v6_.size());
    lens.reserve(v6_.size());
    results.reserve(v6_.size());
    size_t run_start = 0;
    for (size_t i = 0; i < v6_.size(); ++i) {
      const Entry6& e = v6_[i];
      if (i > 0 && v6_[run_start].net == e.net && v6_[run_start].len == e.len) {
        const Entry6& kept = v6_[run_start];
        if (kept.type != e.type) {
          duplicate_warning(diag, Prefix{Family::V6, e.len, e.net}, kept.seq, kept.type, e.seq,
                            e.type);
        }
        continue;
      }
      run_start = i;
      keys.push_back(e.net);
      lens.push_back(e.len);
      results.push_back(make_result(e.type, e.len));
    }
    std::vector<Entry6>().swap(v6_);
    table->size_v6_ = keys.size();
    table->v6_.build(keys.data(), lens.data(), results.data(), keys.size());
  }

  table->types_ = std::move(types_);
  types_.clear();
  type_ids_.clear();
  sources_.clear();
  locations_.clear();
  locations_.shrink_to_fit();
  return table;
}

}  // namespace cidr
