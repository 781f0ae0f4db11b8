// Counting lines a log did not deliver whole: dropped before they reached a
// sender (no running sender, a datagram a sink gave up), or truncated.
//
// Request threads and sinks count with relaxed atomics, no clock read and no
// syscall. While a log's Shipper runs, its sender thread reports these
// counts together with its own (ShipperOptions::ledger), on its schedule and
// at its exit; a log without a running sender has its request threads
// report instead: whichever first finds a report due claims it
// (compare-and-swap on the next report time), at most one report per
// interval, plus a final one at child exit. Pure: the caller passes the
// clock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "delivery.h"
#include "status_board.h"

namespace delivery {

class DropLedger {
 public:
  using Clock = std::chrono::steady_clock;

  // `who` names the log in messages; `max_length` is the longest line it
  // sends, named `limit_name` (the directive that sets it) in messages.
  DropLedger(std::string who, size_t max_length, std::chrono::milliseconds interval,
             std::string limit_name = "SyslogMaxLength");

  void count_truncated() {
    truncated_.fetch_add(1, std::memory_order_relaxed);
    if (SenderSlot* m = mirror_) m->add(Counter::Truncated, 1);
  }
  // A line that was not sent; `err` is the errno that decided it.
  void count_dropped(int err) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    last_errno_.store(err, std::memory_order_relaxed);
    if (SenderSlot* m = mirror_) m->add(Counter::DroppedUnsendable, 1);
  }
  // Counts go to this mod_status slot as well, as they happen (a relaxed
  // add, no syscall): a log whose sender never started or has failed has
  // nobody else to publish them. Set in child_init, before any request.
  void mirror_to(SenderSlot* slot) { mirror_ = slot; }

  // Cheap enough for every request: two relaxed loads and a compare.
  bool due(Clock::time_point now) const;
  // The messages for what changed since the last report, and claims the
  // report: a concurrent caller gets nothing. `force` ignores the interval
  // (child exit).
  std::vector<std::pair<Level, std::string>> take(Clock::time_point now, bool force);

  uint64_t truncated() const { return truncated_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  std::string who_;
  SenderSlot* mirror_ = nullptr;
  size_t max_length_;
  std::string limit_name_;
  std::chrono::milliseconds interval_;
  std::atomic<uint64_t> truncated_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<int> last_errno_{0};
  std::atomic<int64_t> next_report_ns_{0};
  std::mutex mu_;  // serialises take(); reported_* are written only under it
  std::atomic<uint64_t> reported_truncated_{0};
  std::atomic<uint64_t> reported_dropped_{0};
};

}  // namespace delivery
