#include "delivery.h"

#include <signal.h>

#include <algorithm>

#include "spool.h"

namespace delivery {

// ---- Backoff ----

Backoff::Backoff(Millis min, Millis max, uint64_t seed)
    : min_(min), max_(std::max(min, max)), rng_(seed ? seed : std::random_device{}()) {}

Millis Backoff::current_ceiling() const {
  if (attempt_ == 0) return Millis(0);
  // Doubling from min, capped at max; shift bounded to avoid overflow.
  unsigned shift = std::min(attempt_ - 1, 30u);
  long long c = min_.count() << shift;
  if (c <= 0 || c > max_.count()) c = max_.count();
  return Millis(c);
}

Clock::time_point Backoff::failed(Clock::time_point now) {
  ++attempt_;
  Millis ceiling = current_ceiling();
  // Jitter within the upper half keeps children of one server from
  // reconnecting in lockstep while still growing the wait.
  std::uniform_int_distribution<long long> dist(ceiling.count() / 2, ceiling.count());
  return now + Millis(dist(rng_));
}

// ---- BatchPolicy ----

Clock::duration BatchPolicy::wait_for(size_t waiting, Clock::time_point oldest,
                                      Clock::time_point now) const {
  if (waiting == 0) return interval_;
  if (due(waiting, oldest, now)) return Clock::duration::zero();
  return oldest + interval_ - now;
}

// ---- RecordQueue ----

bool RecordQueue::push(Record&& rec, Clock::time_point now) {
  size_t cost = rec.cost();
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (bytes_ + cost > max_bytes_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    bytes_ += cost;
    q_.emplace_back(std::move(rec), now);
    if (q_.size() == wake_threshold_) wake = poked_ = true;
  }
  if (wake) cv_.notify_one();
  return true;
}

size_t RecordQueue::pop(std::vector<Record>& out, size_t max) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  while (n < max && !q_.empty()) {
    bytes_ -= q_.front().first.cost();
    out.push_back(std::move(q_.front().first));
    q_.pop_front();
    ++n;
  }
  return n;
}

void RecordQueue::wait(Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_until(lock, deadline, [&] { return poked_; });
  poked_ = false;
}

void RecordQueue::notify() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    poked_ = true;
  }
  cv_.notify_all();
}

size_t RecordQueue::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return q_.size();
}

size_t RecordQueue::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

Clock::time_point RecordQueue::oldest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return q_.empty() ? Clock::time_point{} : q_.front().second;
}

// ---- Shipper ----

Shipper::Shipper(std::unique_ptr<Sink> sink, ShipperOptions opts, Reporter report)
    : sink_(std::move(sink)),
      opts_(std::move(opts)),
      report_(std::move(report)),
      queue_(opts_.queue_bytes),
      policy_(std::max<size_t>(opts_.batch_lines, 1), opts_.flush_interval),
      backoff_(opts_.retry_min, opts_.retry_max) {
  queue_.set_wake_threshold(policy_.max_lines());
  if (!opts_.spool_dir.empty())
    spool_ = std::make_unique<SpoolDir>(opts_.spool_dir, opts_.spool_name, opts_.spool_max_bytes,
                                        report_);
}

Shipper::~Shipper() { stop(); }

void Shipper::start() {
  if (started_) return;
  // The thread inherits the mask: with every signal blocked here, httpd's
  // own threads keep receiving the MPM's signals.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  try {
    thread_ = std::thread([this] { run(); });
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    throw;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  started_ = true;
}

bool Shipper::push(std::string_view tag, std::string_view body) {
  if (stopping_.load(std::memory_order_relaxed)) {
    // Nobody would ever send it: count it where the exit report sees it.
    lost_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  Record r{std::string(tag), std::string(body)};
  sigset_t old_mask;
  if (opts_.block_signals_in_push) {
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGHUP);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, &old_mask);
  }
  bool queued = queue_.push(std::move(r), Clock::now());
  if (opts_.block_signals_in_push) pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  if (!queued) return false;
  queued_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

ShipperStats Shipper::stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  ShipperStats s = stats_;
  s.queued = queued_.load(std::memory_order_relaxed);
  s.dropped_queue = queue_.dropped();
  s.dropped_spool = spool_ ? spool_->dropped() : 0;
  s.lost = lost_.load(std::memory_order_relaxed);
  return s;
}

void Shipper::report_drops(bool force) {
  auto now = Clock::now();
  if (!force && now - last_report_ < opts_.report_interval) return;
  last_report_ = now;
  uint64_t q = queue_.dropped();
  uint64_t s = spool_ ? spool_->dropped() : 0;
  if (q > reported_queue_drops_) {
    report_(Level::Error,
            sink_->describe() + ": dropped " + std::to_string(q - reported_queue_drops_) +
                " lines because the queue (" + std::to_string(opts_.queue_bytes) +
                " bytes) was full; " + std::to_string(q) + " dropped by this child in all");
    reported_queue_drops_ = q;
  }
  if (s > reported_spool_drops_) {
    report_(Level::Error, sink_->describe() + ": dropped " +
                              std::to_string(s - reported_spool_drops_) +
                              " spooled lines because the spool was over its limit; " +
                              std::to_string(s) + " dropped by this child in all");
    reported_spool_drops_ = s;
  }
  uint64_t l = lost_.load(std::memory_order_relaxed);
  if (l > reported_lost_) {
    report_(Level::Error, sink_->describe() + ": " + std::to_string(l - reported_lost_) +
                              (spool_ ? " lines could be neither delivered nor spooled; "
                                      : " lines could not be delivered before the child "
                                        "exited; ") +
                              std::to_string(l) + " lost by this child in all");
    reported_lost_ = l;
  }
}

void Shipper::spill(std::vector<Record>& batch) {
  if (batch.empty()) return;
  if (spool_ && spool_->append(batch)) {
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.spooled += batch.size();
  } else {
    lost_.fetch_add(batch.size(), std::memory_order_relaxed);
  }
  batch.clear();
}

void Shipper::spill_queue() {
  std::vector<Record> chunk;
  while (queue_.pop(chunk, 4096) > 0) spill(chunk);
}

void Shipper::remember_sent(std::vector<Record>& batch, Clock::time_point now) {
  for (auto& r : batch) {
    recent_bytes_ += r.cost();
    recent_.emplace_back(std::move(r), now);
  }
  while (!recent_.empty() && (recent_bytes_ > opts_.resend_window_bytes ||
                              now - recent_.front().second > opts_.resend_window)) {
    recent_bytes_ -= recent_.front().first.cost();
    recent_.pop_front();
  }
}

// Puts what was recently sent on a connection that turned out dead in front
// of `pending`: at-least-once, since the peer may have read some of it.
void Shipper::take_back_recent(std::vector<Record>& pending) {
  if (recent_.empty()) return;
  std::vector<Record> again;
  again.reserve(recent_.size() + pending.size());
  for (auto& [r, t] : recent_) again.push_back(std::move(r));
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.resent += recent_.size();
  }
  recent_.clear();
  recent_bytes_ = 0;
  for (auto& r : pending) again.push_back(std::move(r));
  pending.swap(again);
}

SendResult Shipper::send_guarded(const std::vector<Record>& batch) {
  std::string error;
  SendResult res;
  try {
    res = sink_->send(batch, error);
  } catch (const std::exception& e) {
    error = e.what();
    res = SendResult::Failed;
  } catch (...) {
    error = "unknown exception";
    res = SendResult::Failed;
  }
  if (res == SendResult::Failed) {
    try {
      sink_->close();
    } catch (...) {
    }
  }
  last_error_ = error;
  return res;
}

void Shipper::run() {
  std::vector<Record> pending;  // the batch in flight, kept across failures
  bool from_spool = false;
  bool down = false;
  Clock::time_point retry_at{};
  // Files left by earlier children are looked for at start and now and then,
  // so that a crashed child's lines do not wait for the next outage.
  bool spool_work = spool_ != nullptr;
  Clock::time_point next_scan = Clock::now() + Millis(10000);
  const bool acks = sink_->acknowledges();

  while (!stopping_.load()) {
    auto now = Clock::now();
    report_drops(false);
    if (down && now < retry_at) {
      // Spill early enough that request threads keep finding room.
      if (spool_ && queue_.bytes() > queue_.capacity() / 2) {
        if (!from_spool) spill(pending);  // older than anything queued
        spill_queue();
        spool_work = true;
      }
      queue_.wait(std::min(retry_at, now + opts_.flush_interval));
      continue;
    }
    if (spool_ && down && spool_->writing()) {
      // What was spilled during the outage is older than anything queued:
      // make it replayable so that it goes first.
      spool_->seal();
      spool_work = true;
    } else if (spool_ && !down && queue_.bytes() > queue_.capacity() / 4 * 3) {
      // Up but slower than the traffic (or busy replaying): spill before
      // request threads find the queue full; the spool replays in order.
      spill_queue();
      spool_->seal();
      spool_work = true;
    }
    if (pending.empty()) {
      from_spool = false;
      if (spool_work) {
        from_spool = spool_->next_batch(pending, policy_.max_lines());
        spool_work = from_spool;
      }
      if (pending.empty()) {
        if (!acks && !recent_.empty() && sink_->connection_lost()) {
          sink_->close();
          take_back_recent(pending);
        } else if (policy_.due(queue_.size(), queue_.oldest(), now)) {
          queue_.pop(pending, policy_.max_lines());
        } else {
          if (spool_ && now >= next_scan) {
            spool_work = true;
            next_scan = now + Millis(10000);
            continue;
          }
          queue_.wait(now + policy_.wait_for(queue_.size(), queue_.oldest(), now));
          continue;
        }
      }
    }

    SendResult res = send_guarded(pending);
    now = Clock::now();
    if (res == SendResult::Ok) {
      {
        std::lock_guard<std::mutex> lock(stats_mu_);
        stats_.sent += pending.size();
        if (from_spool) stats_.replayed += pending.size();
      }
      if (from_spool) spool_->commit();
      if (!acks) remember_sent(pending, now);
      pending.clear();
      if (down) {
        report_(Level::Notice, sink_->describe() + ": delivering again after " +
                                   std::to_string(backoff_.attempts()) + " failed attempts");
        down = false;
        if (spool_) {
          spool_->seal();
          spool_work = true;
        }
      }
      backoff_.succeeded();
      continue;
    }

    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      ++stats_.failures;
    }
    retry_at = backoff_.failed(now);
    if (!down || backoff_.attempts() % 10 == 0) {
      report_(Level::Warning,
              sink_->describe() +
                  (res == SendResult::TryLater ? ": peer answered TRY_LATER"
                                               : ": delivery failed: " + last_error_) +
                  "; retrying in up to " + std::to_string(backoff_.current_ceiling().count()) +
                  " ms, " + std::to_string(queue_.size()) + " lines queued");
    }
    down = true;
    if (from_spool) {
      spool_->rollback();
      pending.clear();
      from_spool = false;
    }
    if (res == SendResult::Failed && !acks) take_back_recent(pending);
  }
  finish(pending, from_spool, down);
}

void Shipper::finish(std::vector<Record>& pending, bool from_spool, bool down) {
  if (from_spool) {
    spool_->rollback();
    pending.clear();
  }
  // While the peer is failing, another attempt could block for a whole
  // timeout past the deadline: with a spool to fall back on, spool at once.
  const bool attempt = !down || !spool_;
  auto deadline = Clock::now() + opts_.exit_deadline;
  while (attempt && Clock::now() < deadline) {
    if (pending.empty() && queue_.pop(pending, policy_.max_lines()) == 0) break;
    if (send_guarded(pending) != SendResult::Ok) break;
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.sent += pending.size();
    pending.clear();
  }
  spill(pending);
  spill_queue();
  if (spool_) {
    spool_->seal();
    spool_->release();
  }
  try {
    sink_->close();
  } catch (...) {
  }
  report_drops(true);
}

void Shipper::stop() {
  if (!started_) return;
  started_ = false;
  stopping_.store(true);
  queue_.notify();
  if (thread_.joinable()) thread_.join();
}

}  // namespace delivery
