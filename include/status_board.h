// Delivery figures shared by every child of one config generation, for
// mod_status.
//
// The parent maps one anonymous shared region at post_config, before any
// child is forked: one SenderSlot per (target, child). A child claims a slot
// per target at child_init; its sender thread adds what changed since its
// last publication with relaxed atomics and keeps the gauges (state, queue,
// spool) of its own slot. Counters are never reset within a generation: a
// child that exits leaves its counts behind, and the next child that claims
// the slot adds to them, so the sums only grow (until a restart maps a new
// region). Nothing here includes httpd headers.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace delivery {

// What a target's sender is doing, worst last (the summary shows the worst
// state among the live children).
enum class SenderState : uint32_t { Unused = 0, Up = 1, SendingSpool = 2, Failing = 3 };
const char* state_name(SenderState s);

// Every counter a sender publishes, in the order the status page lists them.
enum class Counter : unsigned {
  Queued,             // lines the queue took
  Sent,               // lines the peer took (replayed ones included)
  DroppedQueueFull,   // refused by a full queue
  DroppedSpoolFull,   // spooled, then removed to keep the spool under its limit
  DroppedUnsent,      // neither delivered nor spooled (no spool, or it failed)
  DroppedUnsendable,  // refused before reaching a sender (no socket, no sender)
  DroppedRejected,    // a peer that answered other calls kept refusing them
  Truncated,          // sent cut to the maximum length (not a drop)
  Spooled,            // written to the spool
  Replayed,           // read back from the spool and sent
  Resent,             // sent again after a connection died under them
  Unconfirmed,        // sent before a connection died, not resent (see ShipperStats)
  Reconnects,         // connections made after the first
  Count_
};
constexpr unsigned kCounterCount = static_cast<unsigned>(Counter::Count_);
const char* counter_name(Counter c);

// Lives in zero-filled shared memory and is never constructed: an all-zero
// lock-free atomic is a zero value, and a free, unused slot.
static_assert(std::atomic<uint64_t>::is_always_lock_free &&
                  std::atomic<int64_t>::is_always_lock_free &&
                  std::atomic<int32_t>::is_always_lock_free &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "StatusBoard slots are shared between processes");

struct alignas(64) SenderSlot {
  std::atomic<int32_t> owner;  // pid of the child that holds it; 0: free
  std::atomic<uint32_t> state;
  std::atomic<int64_t> state_since;  // Unix seconds of the last state change
  std::atomic<uint64_t> queue_bytes;
  std::atomic<uint64_t> spool_bytes;  // the spool directory's files of this target
  std::atomic<uint64_t> counters[kCounterCount];
  // In a target's first slot only: for what one child of the generation
  // does for all (see StatusBoard::once_flag).
  std::atomic<uint32_t> once;

  void add(Counter c, uint64_t n) {
    if (n) counters[static_cast<unsigned>(c)].fetch_add(n, std::memory_order_relaxed);
  }
  void set_state(SenderState s, int64_t now_unix);
};

// The sums of one target over the slots of every child of the generation.
struct SenderTotals {
  uint64_t counters[kCounterCount] = {};
  uint64_t dropped() const;  // every Dropped* counter
  uint64_t queue_bytes = 0;  // summed over live children
  uint64_t spool_bytes = 0;  // the largest a live child saw (they share the files)
  unsigned children = 0;     // live children with a slot
  unsigned failing = 0;      // of those, how many are failing
  SenderState state = SenderState::Unused;
  int64_t failing_since = 0;  // earliest, among failing children; 0 when none
  uint64_t operator[](Counter c) const { return counters[static_cast<unsigned>(c)]; }
};

// `text` as one word of a mod_status `?auto` key: ':' ends a key there and
// blanks separate its words, so those (and '%') are percent-encoded.
std::string status_key_word(std::string_view text);

class StatusBoard {
 public:
  // Whether `pid` is a child of this server now. kill(pid, 0) alone cannot
  // tell a reused pid (a CGI of the same user) from the child that died
  // holding a slot; the glue asks httpd's scoreboard.
  using ChildCheck = bool (*)(pid_t pid);

  // Maps the region (the parent, before fork). Throws std::system_error.
  StatusBoard(size_t targets, size_t slots_per_target, ChildCheck is_child = nullptr);
  ~StatusBoard();
  StatusBoard(const StatusBoard&) = delete;
  StatusBoard& operator=(const StatusBoard&) = delete;

  size_t targets() const { return targets_; }
  size_t slots_per_target() const { return slots_; }

  // A slot of `target` for child `pid`: a free one, or one whose owner has
  // died without releasing it. When every slot is held by a live child
  // (more children than the MPM's limit said), a shared one: its counters
  // stay right, and owns() tells the child to leave its gauges alone.
  SenderSlot* claim(size_t target, pid_t pid);
  // Whether the slot was claimed for `pid` alone (it may keep gauges).
  static bool owns(const SenderSlot* slot, pid_t pid);
  // At the sender's end: the gauges go, the counters stay.
  static void release(SenderSlot* slot, pid_t pid);

  SenderTotals totals(size_t target) const;

  // A flag of `target` that starts at 0 in each generation, for what one
  // child should do for all of them (a report at startup): the child that
  // changes it to 1 does it.
  std::atomic<uint32_t>* once_flag(size_t target) const {
    return target < targets_ ? &slot(target, 0)->once : nullptr;
  }

 private:
  SenderSlot* slot(size_t target, size_t i) const { return slots_base_ + target * slots_ + i; }
  bool live(pid_t pid) const;
  size_t targets_, slots_;
  ChildCheck is_child_;
  size_t bytes_ = 0;
  void* map_ = nullptr;
  SenderSlot* slots_base_ = nullptr;
};

}  // namespace delivery
