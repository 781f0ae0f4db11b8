// The table a source of lists answers with in one child, switched by a
// reload while requests use it.
//
// A request leases the current table for its whole life (its answer, the
// type name in its environment and header, point into the table): acquire()
// at its first lookup, release() when its pool goes. A reload installs a
// new table in a free slot and makes it current; the old one is freed once
// its last lease ends. So a request never sees half of a table, and no
// request waits: acquire() and release() are a few atomic operations, and
// release() is safe in a signal handler (prefork runs pool cleanups from
// its SIGTERM handler).
//
// Without reloads the holder keeps one table and leases cost nothing.
// No httpd headers.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>

#include "prefix_table.h"

namespace cidr {

class TableHolder {
 public:
  static constexpr unsigned kSlots = 4;
  static constexpr unsigned kFixedSlot = kSlots;  // the lease of a holder without reloads

  enum class Switching { Never, OnReload };

  TableHolder(std::shared_ptr<const PrefixTable> table, Switching switching);
  TableHolder(const TableHolder&) = delete;
  TableHolder& operator=(const TableHolder&) = delete;

  struct Lease {
    const PrefixTable* table;
    unsigned slot;
  };
  Lease acquire() const noexcept;
  void release(unsigned slot) const noexcept;

  // For the reload thread only (one caller at a time):
  // Makes `table` current. False when every other slot still holds a table
  // that leases use: try again later.
  bool install(std::shared_ptr<const PrefixTable> table);
  // Frees the tables no longer current whose leases have all ended.
  void retire();
  // The current table (the thread's own view; requests use acquire()).
  const PrefixTable& current() const;

 private:
  struct alignas(64) Slot {
    mutable std::atomic<uint64_t> leases{0};
    std::atomic<const PrefixTable*> table{nullptr};
    std::shared_ptr<const PrefixTable> owner;
  };

  Switching switching_;
  std::atomic<unsigned> current_{0};
  Slot slots_[kSlots];
};

}  // namespace cidr
