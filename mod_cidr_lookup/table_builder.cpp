#include "table_builder.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace cidr {
namespace {

// A subtree with at most this many prefixes below an entry is a bucket (a
// scan of its keys) rather than a node: for IPv4 a line (one cache line,
// like a node); IPv6 keys are 8 or 16 bytes, so fewer, in a list.
constexpr size_t kBucketMaxV4 = record::kLineSlots;
constexpr size_t kBucketMaxV6 = 4;

// The top array: about one slot per kPrefixesPerTopSlot prefixes, between
// kMinTopBits and a family's maximum. IPv4 stops at 18 bits (1 MiB): the
// first node level then ends at /24, where most IPv4 prefixes end, so a /24
// is one slot of one node. IPv6 goes to 20 bits (4 MiB).
constexpr unsigned kMinTopBits = 8;
constexpr unsigned kMaxTopBitsV4 = 18;
constexpr unsigned kMaxTopBitsV6 = 20;
constexpr size_t kPrefixesPerTopSlotV4 = 4;
constexpr size_t kPrefixesPerTopSlotV6 = 1;

// How often the layout looks at its stop flag, in top slots.
constexpr size_t kStopCheckSlots = 4096;

constexpr unsigned kNoSplit = ~0u;

unsigned top_bits_for(Family family, size_t n) {
  const unsigned max_bits = family == Family::V4 ? kMaxTopBitsV4 : kMaxTopBitsV6;
  const size_t per_slot = family == Family::V4 ? kPrefixesPerTopSlotV4 : kPrefixesPerTopSlotV6;
  unsigned bits = kMinTopBits;
  while (bits < max_bits && (size_t(1) << bits) < n / per_slot) ++bits;
  return bits;
}

// One family's arrays as they are built.
struct HeapTrie {
  unsigned top_bits = 0;
  unsigned lead_bits = 0;
  uint64_t lead_hi = 0, lead_lo = 0;
  uint32_t outside = 0;
  PageArray<uint32_t> top;
  PageArray<TrieNode> nodes;
  PageArray<uint32_t> leaves;
  PageArray<uint32_t> pool;
  // IPv4's direct index, when it has one.
  PageArray<uint8_t> direct_slots;
  PageArray<uint32_t> direct_results;

  TrieSections sections() const {
    TrieSections s;
    s.top_bits = top_bits;
    s.lead_bits = lead_bits;
    s.lead_hi = lead_hi;
    s.lead_lo = lead_lo;
    s.outside = outside;
    s.top = top.data();
    s.nodes = nodes.data();
    s.node_count = nodes.size();
    s.leaves = leaves.data();
    s.leaf_count = leaves.size();
    s.pool = pool.data();
    s.pool_words = pool.size();
    return s;
  }
  DirectIndex direct() const {
    DirectIndex d;
    if (direct_slots.empty()) return d;
    d.slots = direct_slots.data();
    d.results = direct_results.data();
    d.result_count = direct_results.size();
    return d;
  }

  void shrink() {
    top.shrink_to_fit();
    nodes.shrink_to_fit();
    leaves.shrink_to_fit();
    pool.shrink_to_fit();
  }
  void settle() {
    top.settle();
    nodes.settle();
    leaves.settle();
    pool.settle();
    direct_slots.settle();
  }
};

class HeapStorage : public TableStorage {
 public:
  bool mapped() const override { return false; }
  void settle(TableParts& parts) override {
    v4.settle();
    v6.settle();
    parts.v4 = v4.sections();
    parts.v6 = v6.sections();
    parts.v4_direct = v4.direct();
  }

  HeapTrie v4, v6;
  PageArray<uint32_t> name_offsets;
  PageArray<char> names;
  PageArray<uint32_t> type_counts;
};

unsigned first_difference(uint64_t a, uint64_t b) {
  uint64_t x = a ^ b;
  return x == 0 ? 64 : unsigned(__builtin_clzll(x));
}

unsigned first_difference(U128 a, U128 b) {
  U128 x = a ^ b;
  uint64_t hi = uint64_t(x >> 64), lo = uint64_t(x);
  if (hi != 0) return unsigned(__builtin_clzll(hi));
  return lo == 0 ? 128 : 64 + unsigned(__builtin_clzll(lo));
}

uint64_t entry_key(const BuildEntry4& e) { return uint64_t(e.net) << 32; }
U128 entry_key(const BuildEntry6& e) { return (U128(e.hi) << 64) | e.lo; }

// At most this share of an IPv4 table's prefixes may be longer than /24 for
// it to get a direct index: the trie beside the index holds them (and what
// covers their /24s), and it stays small.
constexpr size_t kDirectMaxDeeperShare = 16;  // 1 in 16

// Builds the direct index (prefix_table.h) of sorted, unique IPv4 entries
// into `out`, and moves to the front of `e` the entries the trie still
// needs: every prefix longer than /24, and for each /24 that holds one, the
// longest prefix of /24 or shorter covering it (the answer for its
// addresses that no longer prefix holds). Returns how many those are, or n,
// with no index, when the table does not qualify.
size_t build_direct_index(BuildEntry4* e, size_t n, size_t min_prefixes, HeapTrie& out,
                          StopFlag stop) {
  if (n < min_prefixes) return n;
  size_t deeper = 0;
  for (size_t i = 0; i < n; ++i) deeper += e[i].len > DirectIndex::kBits ? 1 : 0;
  if (deeper > n / kDirectMaxDeeperShare) return n;

  constexpr unsigned kShift = 32 - DirectIndex::kBits;
  PageArray<uint8_t>& slots = out.direct_slots;
  PageArray<uint32_t>& results = out.direct_results;
  slots.resize(DirectIndex::kSlots);  // zeros: results[0], no match
  results.push_back(0);
  std::unordered_map<Result, uint8_t> ids;
  auto give_up = [&]() {
    slots.release();
    results.release();
    return n;
  };
  // Entries are sorted by network, then length: a prefix comes after every
  // prefix that contains it, so painting each one's /24s in order leaves
  // every /24 with the longest prefix that covers it.
  for (size_t i = 0; i < n; ++i) {
    if (i % 65536 == 0) check_stop(stop);
    if (e[i].len > DirectIndex::kBits) continue;
    const Result r = make_result(e[i].type, e[i].len);
    auto it = ids.find(r);
    if (it == ids.end()) {
      if (results.size() >= DirectIndex::kMaxResults) return give_up();
      it = ids.emplace(r, uint8_t(results.size())).first;
      results.push_back(r);
    }
    // Masked here too, whatever add() was given: the range stays inside.
    const uint32_t net = e[i].net & uint32_t(~uint64_t(0) << (32 - e[i].len));
    std::memset(slots.data() + (net >> kShift), it->second,
                size_t(1) << (DirectIndex::kBits - e[i].len));
  }
  // The /24s holding longer prefixes, and the prefix covering each.
  std::unordered_set<uint64_t> covers;
  auto cover_key = [](uint32_t net, unsigned len) { return uint64_t(net) << 8 | len; };
  for (size_t i = 0; i < n; ++i) {
    if (e[i].len <= DirectIndex::kBits) continue;
    uint8_t& slot = slots[e[i].net >> kShift];
    if (slot == DirectIndex::kDeeper) continue;
    const Result cover = results[slot];
    if (cover != 0) {
      const unsigned len = result_len(cover);
      covers.insert(cover_key(e[i].net & uint32_t(~uint64_t(0) << (32 - len)), len));
    }
    slot = DirectIndex::kDeeper;
  }
  size_t kept = 0;
  for (size_t i = 0; i < n; ++i) {
    if (e[i].len > DirectIndex::kBits || covers.count(cover_key(e[i].net, e[i].len)) != 0) {
      e[kept++] = e[i];
    }
  }
  return kept;
}

// Lays out one family's arrays from its sorted, unique prefixes.
template <typename Key, typename Entry>
class TrieLayout {
 public:
  TrieLayout(const Entry* entries, size_t n, HeapTrie& out, size_t bucket_max, StopFlag stop)
      : e_(entries), n_(n), out_(out), bucket_max_(bucket_max), stop_(stop) {}

  void build(unsigned top_bits);

 private:
  static constexpr unsigned kKeyBits = sizeof(Key) * 8;
  static constexpr bool kV6 = sizeof(Key) == 16;

  Key key(size_t i) const { return entry_key(e_[i]); }
  unsigned len(size_t i) const { return e_[i].len; }
  Result result(size_t i) const { return make_result(e_[i].type, e_[i].len); }
  static unsigned chunk(Key key, unsigned offset, unsigned width) {
    return unsigned((key << offset) >> (kKeyBits - width));
  }

  // What the region below an entry becomes.
  enum class Form {
    Inherited,  // nothing longer than the region's depth: its inherited result
    Node,       // a node (its prefixes part ways within its 6 bits, or all end there)
    Bucket,     // few prefixes: a line (IPv4) or a list
    Skip,       // more prefixes, all below one long path: a skip down to `split`
    Chain,      // more prefixes, each nested in the next: a list of them all
  };
  Form choose(unsigned depth, size_t lo, size_t hi, unsigned& split) const;
  unsigned split_depth(unsigned depth, size_t lo, size_t hi) const;
  uint32_t entry_for(unsigned depth, size_t lo, size_t hi, Result inherited);
  uint32_t leaf_for(Form form, unsigned depth, unsigned split, size_t lo, size_t hi,
                    Result inherited);
  void build_node(uint32_t index, unsigned depth, size_t lo, size_t hi, Result inherited);
  std::vector<uint32_t> longer_than(unsigned depth, unsigned max_len, size_t lo, size_t hi) const;
  uint32_t add_line(const std::vector<uint32_t>& members, Result inherited);
  uint32_t add_list(const std::vector<uint32_t>& members, Result inherited);
  uint32_t add_skip(unsigned depth, unsigned path_len, size_t lo, size_t hi, Result inherited);
  void write_list(const std::vector<uint32_t>& members, Result inherited);
  size_t start_record();
  uint32_t pool_entry(size_t word) const;

  const Entry* e_;
  size_t n_;
  HeapTrie& out_;
  size_t bucket_max_;
  StopFlag stop_;
};

template <typename Key, typename Entry>
void TrieLayout<Key, Entry>::build(unsigned top_bits) {
  // IPv6: the lead, the bits where the longer prefixes have not parted
  // yet; those ending on it are all an address off it can match.
  unsigned lead = 0;
  if constexpr (kV6) {
    unsigned split = n_ > 0 ? split_depth(0, 0, n_) : kNoSplit;
    if (split != kNoSplit) lead = std::min(split, kKeyBits - top_bits);
    if (lead > 0) {
      size_t longer = 0;  // exists: the prefixes longer than `split` part ways there
      while (len(longer) <= lead) ++longer;
      Key path = key(longer) & ~((~Key(0)) >> lead);
      out_.lead_bits = lead;
      out_.lead_hi = uint64_t(path >> 64);
      out_.lead_lo = uint64_t(path);
      // A /0 sorts first (key 0, shortest): it covers what is off the lead too.
      Result root = len(0) == 0 ? result(0) : 0;
      std::vector<uint32_t> on_lead = longer_than(0, lead, 0, n_);
      out_.outside = on_lead.empty() ? root : add_list(on_lead, root);
    }
  }
  const unsigned depth = lead + top_bits;
  out_.top_bits = top_bits;
  out_.top.assign(size_t(1) << top_bits, 0);

  // Paint the short prefixes shortest first, so each slot ends up with its
  // longest covering prefix. Going length by length bounds the work by
  // (depth + 1) * 2^top_bits whatever the input.
  std::vector<std::vector<uint32_t>> by_len(depth + 1);
  for (size_t i = 0; i < n_; ++i) {
    if (len(i) <= depth) by_len[len(i)].push_back(uint32_t(i));
  }
  for (unsigned l = 0; l <= depth; ++l) {
    for (uint32_t i : by_len[l]) {
      if (l <= lead) {
        std::fill_n(out_.top.data(), out_.top.size(), result(i));
      } else {
        size_t start = chunk(key(i), lead, top_bits);
        std::fill_n(out_.top.data() + start, size_t(1) << (depth - l), result(i));
      }
    }
  }
  by_len.clear();

  // Longer prefixes hang below the slot of their first bits; sorted keys
  // make each slot's prefixes one contiguous run.
  size_t slots = 0;
  for (size_t i = 0; i < n_;) {
    if (len(i) <= depth) {
      ++i;
      continue;
    }
    size_t slot = chunk(key(i), lead, top_bits);
    size_t end = i + 1;
    while (end < n_ && chunk(key(end), lead, top_bits) == slot) ++end;
    out_.top[slot] = entry_for(depth, i, end, out_.top[slot]);
    i = end;
    if (++slots % kStopCheckSlots == 0) check_stop(stop_);
  }
  start_record();  // the pool is whole 8-byte units
  out_.shrink();
}

// What the region `depth` bits deep holding [lo, hi) becomes. IPv4 regions
// whose prefixes all end within the next 6 bits (most of a routing table:
// /19 to /24 below the top array) are nodes, so that those lookups take one
// path, top then node, with no scan.
template <typename Key, typename Entry>
typename TrieLayout<Key, Entry>::Form TrieLayout<Key, Entry>::choose(unsigned depth, size_t lo,
                                                                     size_t hi,
                                                                     unsigned& split) const {
  size_t deep = 0;
  unsigned longest = 0;
  for (size_t i = lo; i < hi; ++i) {
    if (len(i) <= depth) continue;
    ++deep;
    longest = std::max(longest, len(i));
  }
  if (deep == 0) return Form::Inherited;
  if (!kV6 && longest <= depth + kStride) return Form::Node;
  if (deep <= bucket_max_) return Form::Bucket;
  split = split_depth(depth, lo, hi);
  if (split == kNoSplit) return Form::Chain;
  if (split >= depth + kStride) return Form::Skip;
  return Form::Node;
}

// Where the prefixes of [lo, hi) longer than `depth` part ways: the
// smallest depth d at which those longer than d disagree on bit d. Those
// ending before it lie on one path. kNoSplit when they never part (every
// prefix is nested in the next).
template <typename Key, typename Entry>
unsigned TrieLayout<Key, Entry>::split_depth(unsigned depth, size_t lo, size_t hi) const {
  unsigned d = depth;
  for (;;) {
    size_t first = lo;
    while (first < hi && len(first) <= d) ++first;
    size_t last = hi;
    while (last > first && len(last - 1) <= d) --last;
    if (last - first < 2) return kNoSplit;
    // Keys are sorted: every key between the first and the last shares
    // their common bits.
    unsigned p = first_difference(key(first), key(last - 1));
    if (p >= kKeyBits) return kNoSplit;
    if (p == d) return d;
    d = p;  // the prefixes ending by p are on the path; look below them
  }
}

// The entry for a region `depth` bits deep holding the prefixes [lo, hi)
// (those no longer than depth are in `inherited` already).
template <typename Key, typename Entry>
uint32_t TrieLayout<Key, Entry>::entry_for(unsigned depth, size_t lo, size_t hi, Result inherited) {
  unsigned split = 0;
  Form form = choose(depth, lo, hi, split);
  if (form != Form::Node) return leaf_for(form, depth, split, lo, hi, inherited);
  if (out_.nodes.size() >= kNodeIndexMask) throw std::length_error("too many prefixes");
  uint32_t index = uint32_t(out_.nodes.size());
  out_.nodes.resize(out_.nodes.size() + 1);
  build_node(index, depth, lo, hi, inherited);
  return kNodeTag | index;
}

// The entry of any form but a node.
template <typename Key, typename Entry>
uint32_t TrieLayout<Key, Entry>::leaf_for(Form form, unsigned depth, unsigned split, size_t lo,
                                          size_t hi, Result inherited) {
  switch (form) {
    case Form::Inherited:
      return inherited;
    case Form::Bucket: {
      std::vector<uint32_t> members = longer_than(depth, kKeyBits, lo, hi);
      return kV6 ? add_list(members, inherited) : add_line(members, inherited);
    }
    case Form::Chain:
      return add_list(longer_than(depth, kKeyBits, lo, hi), inherited);
    case Form::Skip:
      return add_skip(depth, split, lo, hi, inherited);
    case Form::Node:
      break;
  }
  throw std::logic_error("a node where a leaf was wanted");
}

template <typename Key, typename Entry>
void TrieLayout<Key, Entry>::build_node(uint32_t index, unsigned depth, size_t lo, size_t hi,
                                        Result inherited) {
  constexpr unsigned kSlots = 1u << kStride;
  const unsigned next = depth + kStride;
  Result slot_value[kSlots];
  std::fill_n(slot_value, kSlots, inherited);
  size_t slot_lo[kSlots] = {}, slot_hi[kSlots] = {};
  bool deep[kSlots] = {};  // whether the slot holds prefixes longer than `next`

  // At most 2 + 4 + ... + 64 distinct prefixes end inside one node.
  uint32_t paint[2 * kSlots - 2];
  size_t npaint = 0;
  for (size_t i = lo; i < hi; ++i) {
    unsigned s = chunk(key(i), depth, kStride);
    if (slot_hi[s] == 0) slot_lo[s] = i;
    slot_hi[s] = i + 1;
    unsigned l = len(i);
    if (l <= depth) continue;  // in `inherited` already
    if (l <= next) {
      paint[npaint++] = uint32_t(i);
    } else {
      deep[s] = true;
    }
  }
  std::stable_sort(paint, paint + npaint, [&](uint32_t a, uint32_t b) { return len(a) < len(b); });
  for (size_t k = 0; k < npaint; ++k) {
    uint32_t i = paint[k];
    std::fill_n(slot_value + chunk(key(i), depth, kStride), size_t(1) << (next - len(i)),
                result(i));
  }

  // Each slot: a leaf (its painted result, a bucket or a skip) or a child.
  uint64_t children = 0;
  uint64_t leaf_starts = 0;
  uint32_t runs[kSlots];
  unsigned nruns = 0;
  for (unsigned s = 0; s < kSlots; ++s) {
    uint32_t entry = slot_value[s];
    if (deep[s] > 0) {
      unsigned split = 0;
      Form form = choose(next, slot_lo[s], slot_hi[s], split);
      if (form == Form::Node) {
        children |= uint64_t(1) << s;
        continue;
      }
      entry = leaf_for(form, next, split, slot_lo[s], slot_hi[s], slot_value[s]);
    }
    if (nruns == 0 || entry != runs[nruns - 1]) {
      leaf_starts |= uint64_t(1) << s;
      runs[nruns++] = entry;
    }
  }

  // Children are contiguous, after everything made so far: the node, and
  // any skip's continuation made for its leaves, come before them.
  size_t nchildren = size_t(__builtin_popcountll(children));
  if (out_.nodes.size() + nchildren >= kNodeIndexMask) throw std::length_error("too many prefixes");
  uint32_t child_base = uint32_t(out_.nodes.size());
  out_.nodes.resize(out_.nodes.size() + nchildren);
  TrieNode& node = out_.nodes[index];  // only now: resizing may move the array
  node.children = children;
  node.leaf_starts = leaf_starts;
  node.child_base = child_base;
  node.leaf_base = uint32_t(out_.leaves.size());
  for (unsigned k = 0; k < kInlineLeaves; ++k) node.inline_leaves[k] = k < nruns ? runs[k] : 0;
  for (unsigned k = kInlineLeaves; k < nruns; ++k) out_.leaves.push_back(runs[k]);

  uint32_t child = child_base;
  for (unsigned s = 0; s < kSlots; ++s) {
    if (children & (uint64_t(1) << s)) {
      build_node(child++, next, slot_lo[s], slot_hi[s], slot_value[s]);
    }
  }
}

// Records start on 8-byte boundaries.
template <typename Key, typename Entry>
size_t TrieLayout<Key, Entry>::start_record() {
  if (out_.pool.size() % 2 != 0) out_.pool.push_back(0);
  return out_.pool.size();
}

template <typename Key, typename Entry>
uint32_t TrieLayout<Key, Entry>::pool_entry(size_t word) const {
  if (word / 2 > kPoolIndexMask) throw std::length_error("too many prefixes");
  return kPoolTag | uint32_t(word / 2);
}

// The prefixes of [lo, hi) longer than depth and at most max_len long,
// sorted by length.
template <typename Key, typename Entry>
std::vector<uint32_t> TrieLayout<Key, Entry>::longer_than(unsigned depth, unsigned max_len,
                                                          size_t lo, size_t hi) const {
  std::vector<uint32_t> members;
  for (size_t i = lo; i < hi; ++i) {
    if (len(i) > depth && len(i) <= max_len) members.push_back(uint32_t(i));
  }
  std::stable_sort(members.begin(), members.end(),
                   [&](uint32_t a, uint32_t b) { return len(a) < len(b); });
  return members;
}

// An IPv4 line of 1 to kLineSlots entries.
template <typename Key, typename Entry>
uint32_t TrieLayout<Key, Entry>::add_line(const std::vector<uint32_t>& members, Result inherited) {
  if (members.empty() || members.size() > record::kLineSlots) {
    throw std::logic_error("a line holds 1 to 4 prefixes");
  }
  PageArray<uint32_t>& pool = out_.pool;
  size_t start = start_record();
  pool.push_back(record::line_header(uint32_t(members.size())));
  for (uint32_t i : members) pool.push_back(uint32_t(key(i) >> (kKeyBits - 32)));
  for (uint32_t i : members) pool.push_back(uint32_t(~uint64_t(0) << (32 - len(i))));
  pool.push_back(inherited);
  for (uint32_t i : members) pool.push_back(result(i));
  while (pool.size() < start + record::line_words(members.size())) pool.push_back(0);
  return pool_entry(start);
}

// Writes a list record of `members` (sorted by length) at the end of the
// pool.
template <typename Key, typename Entry>
void TrieLayout<Key, Entry>::write_list(const std::vector<uint32_t>& members, Result inherited) {
  if (members.size() > record::kCountMask) throw std::length_error("too many nested prefixes");
  bool wide = false;
  if constexpr (kV6) {
    for (uint32_t i : members) wide = wide || len(i) > 64;
  }
  PageArray<uint32_t>& pool = out_.pool;
  pool.push_back(record::list_header(uint32_t(members.size()), wide));
  pool.push_back(inherited);
  for (uint32_t i : members) {
    if constexpr (kV6) {
      const Entry& e = e_[i];
      pool.push_back(uint32_t(e.hi));
      pool.push_back(uint32_t(e.hi >> 32));
      if (wide) {
        pool.push_back(uint32_t(e.lo));
        pool.push_back(uint32_t(e.lo >> 32));
      }
    } else {
      pool.push_back(e_[i].net);
    }
  }
  for (uint32_t i : members) pool.push_back(result(i));
  // The words of a 64-bit key are stored low half first, which on a
  // little-endian machine is what load_u64() reads back.
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "keys are written for little endian");
}

template <typename Key, typename Entry>
uint32_t TrieLayout<Key, Entry>::add_list(const std::vector<uint32_t>& members, Result inherited) {
  size_t start = start_record();
  write_list(members, inherited);
  return pool_entry(start);
}

// A skip from `depth` down to `path_len`: every prefix of [lo, hi) longer
// than path_len lies below one path; those ending on the path are kept in
// the skip's bucket, for addresses that leave it.
template <typename Key, typename Entry>
uint32_t TrieLayout<Key, Entry>::add_skip(unsigned depth, unsigned path_len, size_t lo, size_t hi,
                                          Result inherited) {
  std::vector<uint32_t> on_path = longer_than(depth, path_len, lo, hi);
  size_t below = lo;  // a prefix longer than path_len: its first bits are the path
  while (below < hi && len(below) <= path_len) ++below;
  // Below the path every prefix on it matches: the longest is inherited.
  Result continuing = on_path.empty() ? inherited : result(on_path.back());

  PageArray<uint32_t>& pool = out_.pool;
  size_t start = start_record();
  pool.push_back(record::skip_header(path_len));
  pool.push_back(0);  // the continuation, once made
  Key path = key(below) & ~((~Key(0)) >> path_len);
  if constexpr (kV6) {
    uint64_t hi_bits = uint64_t(path >> 64), lo_bits = uint64_t(path);
    pool.push_back(uint32_t(hi_bits));
    pool.push_back(uint32_t(hi_bits >> 32));
    pool.push_back(uint32_t(lo_bits));
    pool.push_back(uint32_t(lo_bits >> 32));
  } else {
    pool.push_back(uint32_t(path >> 32));
    pool.push_back(0);
  }
  write_list(on_path, inherited);
  // Never a skip again: path_len is where the longer prefixes part ways.
  uint32_t continuation = entry_for(path_len, lo, hi, continuing);
  pool[start + 1] = continuation;
  return pool_entry(start);
}

template <typename Entry>
bool entry_less(const Entry& a, const Entry& b);

template <>
bool entry_less(const BuildEntry4& a, const BuildEntry4& b) {
  if (a.net != b.net) return a.net < b.net;
  if (a.len != b.len) return a.len < b.len;
  return a.seq < b.seq;
}

template <>
bool entry_less(const BuildEntry6& a, const BuildEntry6& b) {
  if (a.hi != b.hi) return a.hi < b.hi;
  if (a.lo != b.lo) return a.lo < b.lo;
  if (a.len != b.len) return a.len < b.len;
  return a.seq < b.seq;
}

bool same_network(const BuildEntry4& a, const BuildEntry4& b) {
  return a.net == b.net && a.len == b.len;
}
bool same_network(const BuildEntry6& a, const BuildEntry6& b) {
  return a.hi == b.hi && a.lo == b.lo && a.len == b.len;
}

Prefix entry_prefix(const BuildEntry4& e) { return Prefix{Family::V4, e.len, e.net}; }
Prefix entry_prefix(const BuildEntry6& e) {
  return Prefix{Family::V6, e.len, (U128(e.hi) << 64) | e.lo};
}

}  // namespace

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
  source_starts_.push_back(uint32_t(lines_.size()));
  return uint32_t(sources_.size() - 1);
}

void TableBuilder::add(const Prefix& p, uint16_t type, uint32_t /*source*/, uint32_t line) {
  if (lines_.size() >= 0xffffffffu) throw std::length_error("too many prefixes");
  uint32_t seq = uint32_t(lines_.size());
  lines_.push_back(line);
  if (p.family == Family::V4) {
    v4_.push_back(BuildEntry4{uint32_t(p.value), seq, type, p.len});
  } else {
    v6_.push_back(BuildEntry6{uint64_t(p.value >> 64), uint64_t(p.value), seq, type, p.len});
  }
}

TableBuilder::Location TableBuilder::location(uint32_t seq) const {
  auto it = std::upper_bound(source_starts_.begin(), source_starts_.end(), seq);
  uint32_t source = uint32_t(it - source_starts_.begin()) - 1;
  return Location{source, lines_[seq]};
}

void TableBuilder::duplicate_warning(Diagnostics& diag, const Prefix& p, uint32_t kept_seq,
                                     uint16_t kept_type, uint32_t dropped_seq,
                                     uint16_t dropped_type) const {
  Location kept = location(kept_seq);
  Location dropped = location(dropped_seq);
  diag.warning(WarningKind::DuplicateNetwork,
               sources_[dropped.source] + ":" + std::to_string(dropped.line) + ": " +
                   format_prefix(p) + " is listed as '" + types_[dropped_type] + "' here and as '" +
                   types_[kept_type] + "' at " + sources_[kept.source] + ":" +
                   std::to_string(kept.line) + "; the first one, '" + types_[kept_type] +
                   "', is used");
}

// Sorts by (network, length, load order), so that equal networks become
// neighbours with the first-loaded one in front, then keeps the first of
// each. Sorting is what makes the build independent of the order the lists
// were written in. Returns how many are left; counts the kept ones per type.
template <typename Entry>
size_t TableBuilder::sort_and_dedupe(PageArray<Entry>& entries, Family family,
                                     std::vector<uint32_t>& counts, Diagnostics& diag) const {
  // A lambda, not the function itself: a function pointer would be called
  // for every comparison instead of inlined.
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return entry_less(a, b); });
  const size_t family_slot = family == Family::V4 ? 0 : 1;
  size_t kept = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (kept > 0 && same_network(entries[kept - 1], e)) {
      const Entry& first = entries[kept - 1];
      if (first.type != e.type) {
        duplicate_warning(diag, entry_prefix(e), first.seq, first.type, e.seq, e.type);
      }
      continue;
    }
    entries[kept++] = e;
    ++counts[2 * size_t(e.type) + family_slot];
  }
  entries.resize(kept);
  return kept;
}

// One family: its entries sorted and deduplicated, then laid out, then
// released. Returns how many prefixes it holds.
template <typename Key, typename Entry, typename Arrays>
size_t TableBuilder::build_family(PageArray<Entry>& entries, Family family, size_t bucket_max,
                                  Arrays& out, std::vector<uint32_t>& counts, Diagnostics& diag,
                                  StopFlag stop) const {
  check_stop(stop);
  size_t n = sort_and_dedupe(entries, family, counts, diag);
  check_stop(stop);
  size_t in_trie = n;
  if constexpr (std::is_same<Entry, BuildEntry4>::value) {
    in_trie = build_direct_index(entries.data(), n, direct_index_min_, out, stop);
    check_stop(stop);
  }
  TrieLayout<Key, Entry>(entries.data(), in_trie, out, bucket_max, stop)
      .build(top_bits_for(family, in_trie));
  entries.release();
  return n;
}

std::unique_ptr<PrefixTable> TableBuilder::build(Diagnostics& diag, StopFlag stop) {
  auto storage = std::make_unique<HeapStorage>();
  std::vector<uint32_t> counts(2 * types_.size(), 0);

  size_t n4 =
      build_family<uint64_t>(v4_, Family::V4, kBucketMaxV4, storage->v4, counts, diag, stop);
  size_t n6 = build_family<U128>(v6_, Family::V6, kBucketMaxV6, storage->v6, counts, diag, stop);
  lines_.release();

  for (const std::string& t : types_) {
    storage->name_offsets.push_back(uint32_t(storage->names.size()));
    for (char c : t) storage->names.push_back(c);
    storage->names.push_back('\0');
  }
  for (uint32_t c : counts) storage->type_counts.push_back(c);

  TableParts parts;
  parts.v4 = storage->v4.sections();
  parts.v6 = storage->v6.sections();
  parts.v4_direct = storage->v4.direct();
  parts.count_v4 = n4;
  parts.count_v6 = n6;
  parts.name_offsets = storage->name_offsets.data();
  parts.type_count = types_.size();
  parts.names = storage->names.data();
  parts.names_bytes = storage->names.size();
  parts.type_counts = storage->type_counts.data();

  TableInfo info;
  info.warning_total = diag.warning_count();
  auto table = std::make_unique<PrefixTable>(std::move(storage), parts, info, diag.warning_list());

  types_.clear();
  type_ids_.clear();
  sources_.clear();
  source_starts_.clear();
  return table;
}

}  // namespace cidr
