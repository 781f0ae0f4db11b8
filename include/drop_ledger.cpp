#include "drop_ledger.h"

#include <cstring>

namespace delivery {
namespace {

int64_t ledger_ns(DropLedger::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

std::string errno_text(int err) {
  char buf[128];
  // GNU strerror_r returns the message, which may not be in buf.
  const char* s = strerror_r(err, buf, sizeof buf);
  return s ? s : "unknown error";
}

}  // namespace

DropLedger::DropLedger(std::string who, size_t max_length, std::chrono::milliseconds interval,
                       std::string limit_name)
    : who_(std::move(who)),
      max_length_(max_length),
      limit_name_(std::move(limit_name)),
      interval_(interval) {}

bool DropLedger::due(Clock::time_point now) const {
  if (ledger_ns(now) < next_report_ns_.load(std::memory_order_relaxed)) return false;
  // Loads of counters that only grow: a stale read delays a report, never
  // loses one (take() reads them again).
  return truncated_.load(std::memory_order_relaxed) !=
             reported_truncated_.load(std::memory_order_relaxed) ||
         dropped_.load(std::memory_order_relaxed) !=
             reported_dropped_.load(std::memory_order_relaxed);
}

std::vector<std::pair<Level, std::string>> DropLedger::take(Clock::time_point now, bool force) {
  std::vector<std::pair<Level, std::string>> out;
  std::unique_lock<std::mutex> lock(mu_, std::defer_lock);
  // Never waits: the final report (force) may come from a sender thread
  // while a prefork child stops, and the request thread that holds the lock
  // may never run again. Without the lock the counters (atomics) are read
  // all the same; at worst a count is reported twice.
  if (force) {
    (void)lock.try_lock();
  } else {
    if (!lock.try_lock()) return out;
    int64_t next = next_report_ns_.load(std::memory_order_relaxed);
    if (ledger_ns(now) < next) return out;
  }
  next_report_ns_.store(ledger_ns(now + interval_), std::memory_order_relaxed);

  uint64_t dropped = dropped_.load(std::memory_order_relaxed);
  uint64_t reported_dropped = reported_dropped_.load(std::memory_order_relaxed);
  if (dropped > reported_dropped) {
    int err = last_errno_.load(std::memory_order_relaxed);
    out.emplace_back(Level::Error, "DE0014: " + who_ + ": " +
                                       std::to_string(dropped - reported_dropped) +
                                       " lines dropped (last error: " + errno_text(err) + "); " +
                                       std::to_string(dropped) + " dropped by this child in all");
    reported_dropped_.store(dropped, std::memory_order_relaxed);
  }
  uint64_t truncated = truncated_.load(std::memory_order_relaxed);
  uint64_t reported_truncated = reported_truncated_.load(std::memory_order_relaxed);
  if (truncated > reported_truncated) {
    out.emplace_back(Level::Warning,
                     "DE0015: " + who_ + ": " + std::to_string(truncated - reported_truncated) +
                         " lines truncated to " + limit_name_ + " (" + std::to_string(max_length_) +
                         " bytes); " + std::to_string(truncated) +
                         " truncated by this child in all");
    reported_truncated_.store(truncated, std::memory_order_relaxed);
  }
  return out;
}

}  // namespace delivery
