#include "status_board.h"

#include <errno.h>
#include <signal.h>
#include <sys/mman.h>

#include <algorithm>
#include <system_error>

namespace delivery {

namespace {

// Every child runs as the same user: EPERM means the pid is someone else's.
bool exists(pid_t pid) { return pid > 0 && kill(pid, 0) == 0; }

constexpr const char* kCounterNames[kCounterCount] = {
    "Queued",           "Sent",          "DroppedQueueFull",
    "DroppedSpoolFull", "DroppedUnsent", "DroppedUnsendable",
    "DroppedRejected",  "Truncated",     "Spooled",
    "Replayed",         "Resent",        "Unconfirmed",
    "Reconnects",
};

}  // namespace

const char* state_name(SenderState s) {
  switch (s) {
    case SenderState::Up:
      return "up";
    case SenderState::SendingSpool:
      return "sending spool";
    case SenderState::Failing:
      return "failing";
    case SenderState::Unused:
      break;
  }
  return "no sender";
}

const char* counter_name(Counter c) { return kCounterNames[static_cast<unsigned>(c)]; }

std::string status_key_word(std::string_view text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c == ':' || c == '%' || c <= ' ' || c == 0x7f) {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

void SenderSlot::set_state(SenderState s, int64_t now_unix) {
  if (state.load(std::memory_order_relaxed) == static_cast<uint32_t>(s)) return;
  state_since.store(now_unix, std::memory_order_relaxed);
  state.store(static_cast<uint32_t>(s), std::memory_order_release);
}

uint64_t SenderTotals::dropped() const {
  return (*this)[Counter::DroppedQueueFull] + (*this)[Counter::DroppedSpoolFull] +
         (*this)[Counter::DroppedUnsent] + (*this)[Counter::DroppedUnsendable] +
         (*this)[Counter::DroppedRejected];
}

StatusBoard::StatusBoard(size_t targets, size_t slots_per_target, ChildCheck is_child)
    : targets_(targets), slots_(slots_per_target ? slots_per_target : 1), is_child_(is_child) {
  bytes_ = sizeof(SenderSlot) * (targets_ ? targets_ : 1) * slots_;
  // Anonymous and shared: children forked after this see the same pages,
  // and nothing on disk can be opened or replaced by anyone else.
  map_ = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw std::system_error(errno, std::generic_category(), "mmap of the status board");
  }
  // Zero-filled by the kernel: every slot free, every counter 0. Nothing
  // is written here, so only the pages children use are ever touched.
  slots_base_ = static_cast<SenderSlot*>(map_);
}

bool StatusBoard::live(pid_t pid) const { return exists(pid) && (!is_child_ || is_child_(pid)); }

StatusBoard::~StatusBoard() {
  if (map_) munmap(map_, bytes_);
}

SenderSlot* StatusBoard::claim(size_t target, pid_t pid) {
  if (target >= targets_) return nullptr;
  for (int pass = 0; pass < 3; ++pass) {
    for (size_t i = 0; i < slots_; ++i) {
      SenderSlot* s = slot(target, i);
      int32_t owner = s->owner.load(std::memory_order_acquire);
      if (owner == pid) return s;
      // First pass: free slots; second: those of children that died
      // (SIGKILL, a crash) without releasing them; third: those whose pid
      // now belongs to something that is not a child of this server (a
      // sibling forked a moment ago may not be in the scoreboard yet, so
      // this comes last).
      bool take = pass == 0 ? owner == 0 : pass == 1 ? !exists(owner) : !live(owner);
      if (take && s->owner.compare_exchange_strong(owner, pid, std::memory_order_acq_rel)) {
        // The gauges are the new owner's; its sender sets the state.
        s->queue_bytes.store(0, std::memory_order_relaxed);
        s->spool_bytes.store(0, std::memory_order_relaxed);
        s->state.store(static_cast<uint32_t>(SenderState::Unused), std::memory_order_release);
        return s;
      }
    }
  }
  return slot(target, static_cast<size_t>(pid) % slots_);
}

bool StatusBoard::owns(const SenderSlot* slot, pid_t pid) {
  return slot && slot->owner.load(std::memory_order_relaxed) == pid;
}

void StatusBoard::release(SenderSlot* slot, pid_t pid) {
  if (!owns(slot, pid)) return;
  slot->state.store(static_cast<uint32_t>(SenderState::Unused), std::memory_order_relaxed);
  slot->queue_bytes.store(0, std::memory_order_relaxed);
  int32_t expected = pid;
  slot->owner.compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
}

SenderTotals StatusBoard::totals(size_t target) const {
  SenderTotals t;
  if (target >= targets_) return t;
  for (size_t i = 0; i < slots_; ++i) {
    const SenderSlot* s = slot(target, i);
    for (unsigned c = 0; c < kCounterCount; ++c)
      t.counters[c] += s->counters[c].load(std::memory_order_relaxed);
    int32_t owner = s->owner.load(std::memory_order_acquire);
    if (owner == 0 || !live(owner)) continue;
    auto state = static_cast<SenderState>(s->state.load(std::memory_order_acquire));
    if (state == SenderState::Unused) continue;
    ++t.children;
    t.queue_bytes += s->queue_bytes.load(std::memory_order_relaxed);
    t.spool_bytes = std::max(t.spool_bytes, s->spool_bytes.load(std::memory_order_relaxed));
    if (state > t.state) t.state = state;
    if (state == SenderState::Failing) {
      ++t.failing;
      int64_t since = s->state_since.load(std::memory_order_relaxed);
      if (t.failing_since == 0 || since < t.failing_since) t.failing_since = since;
    }
  }
  return t;
}

}  // namespace delivery
