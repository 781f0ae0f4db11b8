// Which peer of an ordered list a sender sends to, and when it tries a
// peer again: the failover half of the Shipper's state machine, as pure
// logic on an explicit clock (unit-tested without sockets).
//
// Each peer has its own backoff. The first peer in list order that is not
// backing off is used, so a more preferred peer is taken back as soon as its
// backoff has passed. A peer fails, and the next one is tried at once, when
// no connection can be made to it or a call on its connection breaks. A
// TRY_LATER answer is a peer that works but is full (scribed answers it
// while its own downstream is away, often for minutes): the sender waits
// for that peer's backoff and asks it again, holding on to it, until the
// answers have lasted past the FailoverPolicy; then it counts as failed and
// the next peer takes the lines.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "delivery.h"

namespace delivery {

class PeerRotation {
 public:
  PeerRotation(size_t count, Millis retry_min, Millis retry_max, FailoverPolicy policy = {},
               uint64_t seed = 0);

  // The peer to send to at `now`: the first in list order whose backoff has
  // passed, looking no further than a peer held by TRY_LATER. None while
  // every candidate backs off: wait until next_retry().
  std::optional<size_t> pick(Clock::time_point now) const;
  // When pick() will next find a peer.
  Clock::time_point next_retry() const;

  // No connection, or the call broke: the peer backs off, and pick() goes on
  // to the next one at once.
  void failed(size_t peer, Clock::time_point now);
  // It answered TRY_LATER. Below the policy's limits the peer backs off and
  // stays the one to use (Verdict::Wait); past them it has failed
  // (Verdict::FailOver). A peer failed over for TRY_LATER and tried again
  // after its backoff is still overloaded at its first TRY_LATER: the next
  // peer takes the lines at once (Verdict::StillOverloaded), until the peer
  // takes a call.
  enum class Verdict { Wait, FailOver, StillOverloaded };
  Verdict try_later(size_t peer, Clock::time_point now);
  // It took a call: its backoff and TRY_LATER run end.
  void succeeded(size_t peer);

  bool backing_off(size_t peer, Clock::time_point now) const;
  // Failed or TRY_LATER answers in a row, and the current backoff ceiling.
  unsigned attempts(size_t peer) const { return peers_[peer].backoff.attempts(); }
  Millis ceiling(size_t peer) const { return peers_[peer].backoff.current_ceiling(); }
  size_t size() const { return peers_.size(); }

 private:
  struct Peer {
    Backoff backoff;
    Clock::time_point retry_at{};
    // Held by TRY_LATER: the peers after it are not tried meanwhile.
    bool held = false;
    unsigned try_later_run = 0;
    Clock::time_point try_later_since{};
    bool overloaded = false;  // failed over for TRY_LATER, no call taken since
  };
  std::vector<Peer> peers_;
  FailoverPolicy policy_;
};

// Paces replay from the spool: at most `per_second` lines a second, with a
// burst of one second's worth, so that a collector that comes back is not
// flattened by every child of a fleet replaying at full speed at once.
// Pure logic on an explicit clock; 0 lines a second means no limit.
class ReplayPacer {
 public:
  explicit ReplayPacer(uint64_t per_second) : rate_(per_second) {}
  // How many lines may go now (at most `want`).
  size_t allowance(size_t want, Clock::time_point now);
  // `n` lines went (at most what allowance() said).
  void spend(size_t n);
  // When at least `n` lines (capped at one second's worth) may go.
  Clock::time_point when(size_t n) const;
  bool limited() const { return rate_ != 0; }

 private:
  void refill(Clock::time_point now);
  uint64_t rate_;
  double tokens_ = -1;  // negative until first used: starts with a full burst
  Clock::time_point at_{};
};

}  // namespace delivery
