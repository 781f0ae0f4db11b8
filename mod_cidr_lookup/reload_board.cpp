#include "reload_board.h"

#include <signal.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <new>

namespace cidr {

ReloadBoard::ReloadBoard(size_t sources) : count_(sources) {
  bytes_ = (sources == 0 ? 1 : sources) * sizeof(ReloadSlot);
  void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  slots_ = static_cast<ReloadSlot*>(p);
}

ReloadBoard::~ReloadBoard() { ::munmap(slots_, bytes_); }

void publish(ReloadSlot& slot, uint64_t identity, const unsigned char (&digest)[32]) {
  for (int i = 0; i < 4; ++i) {
    uint64_t word;
    std::memcpy(&word, digest + 8 * i, 8);
    slot.published_digest[i].store(word, std::memory_order_relaxed);
  }
  slot.published.store(identity, std::memory_order_release);
}

void published_digest(const ReloadSlot& slot, unsigned char (&digest)[32]) {
  for (int i = 0; i < 4; ++i) {
    const uint64_t word = slot.published_digest[i].load(std::memory_order_acquire);
    std::memcpy(digest + 8 * i, &word, 8);
  }
}

Liveness process_liveness(pid_t pid) {
  return ::kill(pid, 0) == 0 || errno == EPERM ? Liveness::Alive : Liveness::Gone;
}

namespace {
uint64_t claim_word(pid_t pid, int64_t since) {
  return uint64_t(uint32_t(pid)) << 32 | uint32_t(since);
}
pid_t claim_pid(uint64_t word) { return pid_t(uint32_t(word >> 32)); }
int64_t claim_since(uint64_t word) { return int64_t(uint32_t(word)); }
}  // namespace

bool claim_build(ReloadSlot& slot, pid_t self, int64_t now, int64_t stale_seconds,
                 LivenessProbe probe) {
  uint64_t current = slot.builder.load();
  if (current != 0) {
    const pid_t pid = claim_pid(current);
    const bool stale = uint32_t(now) - uint32_t(claim_since(current)) >= uint64_t(stale_seconds);
    if (pid != self && probe(pid) == Liveness::Alive && !stale) return false;
  }
  // The word read is the one replaced: a claim made meanwhile, with its
  // own time, makes this one fail.
  return slot.builder.compare_exchange_strong(current, claim_word(self, now));
}

void release_build(ReloadSlot& slot, pid_t self) {
  uint64_t current = slot.builder.load();
  while (current != 0 && claim_pid(current) == self &&
         !slot.builder.compare_exchange_weak(current, 0)) {
  }
}

}  // namespace cidr
