#include "peer_rotation.h"

#include <algorithm>

namespace delivery {

// ---- PeerRotation ----

PeerRotation::PeerRotation(size_t count, Millis retry_min, Millis retry_max, FailoverPolicy policy,
                           uint64_t seed)
    : policy_(policy) {
  peers_.reserve(count);
  // Seeded apart, so that two peers that fail together are retried apart.
  for (size_t i = 0; i < count; ++i)
    peers_.push_back(
        Peer{Backoff(retry_min, retry_max, seed ? seed + i : 0), {}, false, 0, {}, false});
}

bool PeerRotation::backing_off(size_t peer, Clock::time_point now) const {
  return now < peers_.at(peer).retry_at;
}

std::optional<size_t> PeerRotation::pick(Clock::time_point now) const {
  for (size_t i = 0; i < peers_.size(); ++i) {
    if (!backing_off(i, now)) return i;
    if (peers_[i].held) break;  // wait for it rather than move on
  }
  return std::nullopt;
}

Clock::time_point PeerRotation::next_retry() const {
  Clock::time_point soonest = Clock::time_point::max();
  for (const Peer& p : peers_) {
    soonest = std::min(soonest, p.retry_at);
    if (p.held) break;
  }
  return soonest;
}

void PeerRotation::failed(size_t peer, Clock::time_point now) {
  Peer& p = peers_.at(peer);
  p.retry_at = p.backoff.failed(now);
  p.held = false;
  p.try_later_run = 0;
}

PeerRotation::Verdict PeerRotation::try_later(size_t peer, Clock::time_point now) {
  Peer& p = peers_.at(peer);
  if (p.overloaded) {
    // Still busy since it was given up on: no new run of answers to wait out.
    p.retry_at = p.backoff.failed(now);
    p.held = false;
    return Verdict::StillOverloaded;
  }
  if (p.try_later_run++ == 0) p.try_later_since = now;
  const bool lasting = p.try_later_run >= policy_.try_later_answers ||
                       now - p.try_later_since >= policy_.try_later_for;
  if (lasting) {
    failed(peer, now);
    p.overloaded = true;
    return Verdict::FailOver;
  }
  p.retry_at = p.backoff.failed(now);
  p.held = true;
  return Verdict::Wait;
}

void PeerRotation::succeeded(size_t peer) {
  Peer& p = peers_.at(peer);
  p.backoff.succeeded();
  p.retry_at = {};
  p.held = false;
  p.try_later_run = 0;
  p.overloaded = false;
}

// ---- ReplayPacer ----

void ReplayPacer::refill(Clock::time_point now) {
  const double burst = static_cast<double>(rate_);
  if (tokens_ < 0) {
    tokens_ = burst;
  } else if (now > at_) {
    const double seconds = std::chrono::duration<double>(now - at_).count();
    tokens_ = std::min(burst, tokens_ + seconds * static_cast<double>(rate_));
  }
  at_ = std::max(at_, now);
}

size_t ReplayPacer::allowance(size_t want, Clock::time_point now) {
  if (!limited()) return want;
  refill(now);
  return std::min(want, static_cast<size_t>(tokens_));
}

void ReplayPacer::spend(size_t n) {
  if (limited()) tokens_ = std::max(0.0, tokens_ - static_cast<double>(n));
}

Clock::time_point ReplayPacer::when(size_t n) const {
  if (!limited() || tokens_ < 0) return at_;
  const double need = std::min(static_cast<double>(n), static_cast<double>(rate_)) - tokens_;
  if (need <= 0) return at_;
  const auto wait = std::chrono::duration<double>(need / static_cast<double>(rate_));
  return at_ + std::chrono::duration_cast<Clock::duration>(wait);
}

}  // namespace delivery
