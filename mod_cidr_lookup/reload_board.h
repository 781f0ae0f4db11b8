// What the children of one generation tell each other about reloads: per
// source of lists, the newest image built for it, the one whose lists
// failed to load (reported once), and who is building now.
//
// The parent maps the board (shared, anonymous memory) at post_config,
// before any child is forked, so every child of the generation sees the
// same slots and nothing else does (a CGI's exec drops the mapping). Slots
// are zero-filled and never constructed: an all-zero lock-free atomic is a
// zero value. No httpd headers.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace cidr {

static_assert(std::atomic<uint64_t>::is_always_lock_free &&
                  std::atomic<int64_t>::is_always_lock_free,
              "board slots are shared between processes");

struct alignas(64) ReloadSlot {
  // The SHA-256 of the newest image built, stored before `published` names
  // it: a sibling reads `published`, then this, and uses the image only if
  // its bytes have it (a later build may change it meanwhile: the image is
  // then refused and looked at again next round).
  std::atomic<uint64_t> published_digest[4];
  std::atomic<uint64_t> published;  // identity of the newest image built (0: none yet)
  std::atomic<uint64_t> failed;     // identity whose lists failed to load, reported
  // Who builds now and since when, one word (pid << 32 | Unix seconds) so
  // that a claim and its time change together: 0 when nobody builds.
  std::atomic<uint64_t> builder;
  std::atomic<uint64_t> reloads;     // builds published
  std::atomic<int64_t> reloaded_at;  // Unix seconds of the last
};

// The digest published with `published` (see ReloadSlot).
void publish(ReloadSlot& slot, uint64_t identity, const unsigned char (&digest)[32]);
void published_digest(const ReloadSlot& slot, unsigned char (&digest)[32]);

class ReloadBoard {
 public:
  // Maps `sources` zeroed slots (throws std::bad_alloc).
  explicit ReloadBoard(size_t sources);
  ~ReloadBoard();
  ReloadBoard(const ReloadBoard&) = delete;
  ReloadBoard& operator=(const ReloadBoard&) = delete;

  ReloadSlot& slot(size_t i) { return slots_[i]; }
  size_t size() const { return count_; }

 private:
  ReloadSlot* slots_;
  size_t count_;
  size_t bytes_;
};

// Whether a process may still be building.
enum class Liveness { Alive, Gone };
using LivenessProbe = Liveness (*)(pid_t);
Liveness process_liveness(pid_t pid);  // kill(pid, 0)

// Claims the right to build for a slot: when nobody builds, or the builder
// is gone, or has built for longer than stale_seconds (its pid may have
// been given to another process). Exactly one claimant wins.
bool claim_build(ReloadSlot& slot, pid_t self, int64_t now, int64_t stale_seconds,
                 LivenessProbe probe = process_liveness);
void release_build(ReloadSlot& slot, pid_t self);

}  // namespace cidr
