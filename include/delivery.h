// Per-child asynchronous delivery: the one mechanism behind mod_syslog's
// stream targets and mod_scribe.
//
// Request threads call Shipper::push(), which copies the record into a bounded
// in-memory queue and returns; it never touches the network or the disk. One
// sender thread per Shipper batches records, hands them to a Sink, retries
// with exponential backoff and jitter, and (when a spool directory is set)
// spills records to SpoolFiles while the peer cannot take them. Nothing here
// includes httpd headers, so it is unit-tested on its own.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace delivery {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

// One log line on its way. `tag` routes it at the peer (the Scribe category);
// sinks that do not route leave it empty.
struct Record {
  std::string tag;
  std::string body;
  size_t cost() const { return tag.size() + body.size() + sizeof(Record); }
};

enum class SendResult {
  Ok,        // every record of the batch was taken
  TryLater,  // none was taken, the connection is healthy: back off, resend
  Failed,    // connection dropped; unknown how much arrived: reconnect, resend
};

// A destination. Used only by the sender thread, so it needs no locking.
class Sink {
 public:
  virtual ~Sink() = default;
  // Connects when needed and delivers the whole batch. On Failed the sink has
  // already dropped its connection and `error` says why.
  virtual SendResult send(const std::vector<Record>& batch, std::string& error) = 0;
  // True when Ok means the peer application has the records (Scribe's
  // reply). False when it only means the kernel took the bytes (syslog over
  // TCP): the shipper then keeps recently sent records and resends them if the
  // connection turns out to have died under them.
  virtual bool acknowledges() const = 0;
  // Called when the sender is idle: a cheap check (no blocking) that lets a
  // non-acknowledging sink notice a peer that closed the connection.
  virtual bool connection_lost() { return false; }
  virtual void close() = 0;
  virtual std::string describe() const = 0;
};

// Exponential backoff with full jitter, on an explicit clock so that tests can
// drive it. The delay doubles from min to max after each failure; success
// resets it.
class Backoff {
 public:
  Backoff(Millis min, Millis max, uint64_t seed = 0);
  // Records a failure at `now`; returns the time before which no retry happens.
  Clock::time_point failed(Clock::time_point now);
  void succeeded() { attempt_ = 0; }
  unsigned attempts() const { return attempt_; }
  Millis current_ceiling() const;

 private:
  Millis min_, max_;
  unsigned attempt_ = 0;
  std::mt19937_64 rng_;
};

// Collects what should go into the next batch: up to `max_lines` records, or
// fewer once the oldest has waited `interval`. Pure logic on an explicit clock.
class BatchPolicy {
 public:
  BatchPolicy(size_t max_lines, Millis interval) : max_lines_(max_lines), interval_(interval) {}
  // Whether a batch should go now, given how many records wait and when the
  // oldest arrived.
  bool due(size_t waiting, Clock::time_point oldest, Clock::time_point now) const {
    return waiting > 0 && (waiting >= max_lines_ || now - oldest >= interval_);
  }
  // How long the sender may sleep before the batch becomes due.
  Clock::duration wait_for(size_t waiting, Clock::time_point oldest, Clock::time_point now) const;
  size_t max_lines() const { return max_lines_; }

 private:
  size_t max_lines_;
  Millis interval_;
};

// Bounded multi-producer queue measured in bytes. push() never blocks on
// anything but the short critical section.
class RecordQueue {
 public:
  explicit RecordQueue(size_t max_bytes) : max_bytes_(max_bytes) {}
  // False when the record does not fit: the caller counts it as dropped.
  bool push(Record&& rec, Clock::time_point now);
  // Moves up to `max` records into `out` (appending). Returns how many.
  size_t pop(std::vector<Record>& out, size_t max);
  // Waits until there are records, `deadline` passes or notify() is called.
  void wait(Clock::time_point deadline);
  void notify();
  // push() wakes a waiting consumer once this many records wait (a full
  // batch), so a flood is sent at once instead of at the next interval.
  void set_wake_threshold(size_t n) { wake_threshold_ = n ? n : 1; }
  size_t size() const;
  size_t bytes() const;
  size_t capacity() const { return max_bytes_; }
  Clock::time_point oldest() const;  // arrival of the front record
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<Record, Clock::time_point>> q_;
  size_t bytes_ = 0;
  size_t max_bytes_;
  bool poked_ = false;
  size_t wake_threshold_ = 1;
  std::atomic<uint64_t> dropped_{0};
};

struct ShipperOptions {
  size_t queue_bytes = 8u << 20;
  size_t batch_lines = 1000;
  Millis flush_interval{200};
  Millis retry_min{500};
  Millis retry_max{30000};
  // Spool: empty dir means no spooling (records that do not fit are dropped
  // and counted).
  std::string spool_dir;
  std::string spool_name;  // identifies this shipper's files within the dir
  uint64_t spool_max_bytes = 1ull << 30;
  // How long stop() may spend delivering before it spools what is left.
  Millis exit_deadline{2000};
  // For non-acknowledging sinks: how long a sent record stays eligible for
  // resending if the connection is found dead.
  Millis resend_window{2000};
  size_t resend_window_bytes = 1u << 20;
  // Prefork runs the child's pool cleanups (and so stop()) from its SIGTERM
  // handler on the only thread. Were that thread inside push(), holding the
  // queue's lock, stop() would wait for it forever: with this set, push()
  // keeps the MPM's stop signals out for its few instructions (two syscalls
  // a line, so only where the MPM is not threaded).
  bool block_signals_in_push = false;
  // How often drop counts are reported.
  Millis report_interval{10000};
};

struct ShipperStats {
  uint64_t queued = 0;         // accepted by push()
  uint64_t sent = 0;           // records in batches the sink answered Ok
  uint64_t dropped_queue = 0;  // push() found the queue full
  uint64_t dropped_spool = 0;  // removed from a full spool
  uint64_t spooled = 0;        // written to spool files
  uint64_t replayed = 0;       // read back from spool files and sent
  uint64_t resent = 0;         // resent after a connection died under them
  uint64_t failures = 0;       // Failed or TryLater answers
  uint64_t lost = 0;           // neither delivered nor spooled (no spool, or it failed)
};

// Severity of a message from the sender thread; the glue maps it to APLOG_*.
enum class Level { Error, Warning, Notice, Info, Debug };
using Reporter = std::function<void(Level, const std::string&)>;

class SpoolDir;

class Shipper {
 public:
  Shipper(std::unique_ptr<Sink> sink, ShipperOptions opts, Reporter report);
  ~Shipper();
  Shipper(const Shipper&) = delete;
  Shipper& operator=(const Shipper&) = delete;

  // Starts the sender thread. Call in the child, never before fork.
  void start();
  // Request-thread side. False: the queue is full and the record was dropped
  // (counted, reported by the sender thread).
  bool push(std::string_view tag, std::string_view body);
  // Delivers what it can within exit_deadline, spools the rest, joins.
  void stop();
  ShipperStats stats() const;

 private:
  void run();
  void finish(std::vector<Record>& pending, bool from_spool, bool down);
  void report_drops(bool force);
  SendResult send_guarded(const std::vector<Record>& batch);
  // Spool (or, without a spool, count as lost) and clear.
  void spill(std::vector<Record>& batch);
  void spill_queue();
  void remember_sent(std::vector<Record>& batch, Clock::time_point now);
  void take_back_recent(std::vector<Record>& pending);

  std::unique_ptr<Sink> sink_;
  ShipperOptions opts_;
  Reporter report_;
  RecordQueue queue_;
  BatchPolicy policy_;
  Backoff backoff_;
  std::unique_ptr<SpoolDir> spool_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;

  // Sent-but-unconfirmed records for non-acknowledging sinks.
  std::deque<std::pair<Record, Clock::time_point>> recent_;
  size_t recent_bytes_ = 0;

  std::atomic<uint64_t> queued_{0};
  mutable std::mutex stats_mu_;  // sender-side counters, read by stats()
  ShipperStats stats_;
  uint64_t reported_queue_drops_ = 0;
  uint64_t reported_spool_drops_ = 0;
  uint64_t reported_lost_ = 0;
  std::atomic<uint64_t> lost_{0};
  std::string last_error_;
  Clock::time_point last_report_{};
};

}  // namespace delivery
