// Building a PrefixTable from prefixes in load order: collect them, sort,
// drop duplicates (the first one loaded wins, and two types for one network
// are warned about), then lay out each family's arrays (prefix_table.h).
//
// Memory: entries are 12 bytes (IPv4) or 24 bytes (IPv6) plus 4 for the
// line each came from, in arrays that grow without copying (page_array.h);
// sorting is in place, and the layout is written from the sorted entries
// themselves. So loading a list peaks at about the entries plus the table.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "cidr_parse.h"
#include "page_array.h"
#include "prefix_table.h"

namespace cidr {

// Thrown by a build or a load told to stop (a reload thread whose child is
// exiting).
class LoadStopped : public std::runtime_error {
 public:
  LoadStopped() : std::runtime_error("stopped: the child is exiting") {}
};

// Null: never stop.
using StopFlag = const std::atomic<bool>*;
inline void check_stop(StopFlag stop) {
  if (stop != nullptr && stop->load(std::memory_order_relaxed)) throw LoadStopped();
}

// One prefix as loaded, before sorting (`seq` is its load order).
struct BuildEntry4 {
  uint32_t net;
  uint32_t seq;
  uint16_t type;
  uint8_t len;
};
struct BuildEntry6 {
  uint64_t hi, lo;
  uint32_t seq;
  uint16_t type;
  uint8_t len;
};
static_assert(sizeof(BuildEntry4) == 12 && sizeof(BuildEntry6) == 24, "entries stay compact");

class TableBuilder {
 public:
  static constexpr size_t kMaxTypes = cidr::kMaxTypes;

  // Returns the id of a type name, adding it if new; throws std::length_error
  // past kMaxTypes distinct types.
  uint16_t intern_type(std::string_view name);
  // Registers a file (or other origin) name for diagnostics. Sources are
  // added in load order, and each one's prefixes right after it.
  uint32_t add_source(std::string name);
  void add(const Prefix& p, uint16_t type, uint32_t source, uint32_t line);

  size_t entry_count() const { return v4_.size() + v6_.size(); }
  const std::string& source_name(uint32_t id) const { return sources_[id]; }

  // Duplicate-network warnings go to diag. The builder is empty afterwards.
  // The table's info() is left for the caller (identity, build time).
  std::unique_ptr<PrefixTable> build(Diagnostics& diag, StopFlag stop = nullptr);

  // IPv4 tables of at least this many prefixes get a direct index
  // (prefix_table.h) when few of their prefixes are longer than /24. Its
  // 16 MiB then cost at most 20 bytes a prefix. Tests lower it.
  static constexpr size_t kDirectIndexMinPrefixes = (DirectIndex::kSlots + 19) / 20;
  void set_direct_index_min_prefixes(size_t n) { direct_index_min_ = n; }

 private:
  struct Location {
    uint32_t source;
    uint32_t line;
  };
  Location location(uint32_t seq) const;
  void duplicate_warning(Diagnostics& diag, const Prefix& p, uint32_t kept_seq, uint16_t kept_type,
                         uint32_t dropped_seq, uint16_t dropped_type) const;
  template <typename Entry>
  size_t sort_and_dedupe(PageArray<Entry>& entries, Family family, std::vector<uint32_t>& counts,
                         Diagnostics& diag) const;
  template <typename Key, typename Entry, typename Arrays>
  size_t build_family(PageArray<Entry>& entries, Family family, size_t bucket_max, Arrays& out,
                      std::vector<uint32_t>& counts, Diagnostics& diag, StopFlag stop) const;

  size_t direct_index_min_ = kDirectIndexMinPrefixes;
  std::vector<std::string> types_;
  std::unordered_map<std::string, uint16_t> type_ids_;
  std::vector<std::string> sources_;
  std::vector<uint32_t> source_starts_;  // first seq of each source
  PageArray<uint32_t> lines_;            // by seq
  PageArray<BuildEntry4> v4_;
  PageArray<BuildEntry6> v6_;
};

}  // namespace cidr
