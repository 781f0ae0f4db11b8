#include "reload_board.h"

#include <signal.h>
#include <sys/mman.h>

#include <cerrno>
#include <new>

namespace cidr {

ReloadBoard::ReloadBoard(size_t sources) : count_(sources) {
  bytes_ = (sources == 0 ? 1 : sources) * sizeof(ReloadSlot);
  void* p = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  slots_ = static_cast<ReloadSlot*>(p);
}

ReloadBoard::~ReloadBoard() { ::munmap(slots_, bytes_); }

Liveness process_liveness(pid_t pid) {
  return ::kill(pid, 0) == 0 || errno == EPERM ? Liveness::Alive : Liveness::Gone;
}

bool claim_build(ReloadSlot& slot, pid_t self, int64_t now, int64_t stale_seconds,
                 LivenessProbe probe) {
  int32_t current = slot.builder.load();
  if (current != 0) {
    bool stale = now - slot.builder_since.load() >= stale_seconds;
    if (current != self && probe(current) == Liveness::Alive && !stale) return false;
  }
  if (!slot.builder.compare_exchange_strong(current, int32_t(self))) return false;
  slot.builder_since.store(now);
  return true;
}

void release_build(ReloadSlot& slot, pid_t self) {
  int32_t expected = int32_t(self);
  slot.builder.compare_exchange_strong(expected, 0);
}

}  // namespace cidr
