// Per-child asynchronous delivery: the one mechanism behind mod_syslog's
// stream targets and mod_scribe.
//
// Request threads call Shipper::push(), which copies the record into a bounded
// in-memory queue and returns; it never touches the network or the disk. One
// sender thread per Shipper batches records, hands them to a Sink, retries
// with exponential backoff and jitter, and (when a spool directory is set)
// spills records to SpoolFiles while the peer cannot take them. Nothing here
// includes httpd headers, so it is unit-tested on its own.
//
// Stopping has a hard deadline. begin_stop() (async-signal-safe, so prefork
// may call it from its SIGTERM handler) sets it; every wait of the sender and
// of its Sink polls the StopSignal as well, so none outlasts it, whatever the
// peer does. With a spool, the sender first spools everything it holds (local
// disk: milliseconds) and then delivers from the spool until the deadline: a
// hung peer loses nothing. Without one, it delivers until the deadline and
// counts the rest as lost.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "status_board.h"

namespace delivery {

using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

// Tells a sender thread to wind up, from any thread or from a signal
// handler, and bounds every wait the sender makes from then on.
//
// Prefork runs the child's pool cleanups inside its SIGTERM handler, on the
// thread the signal interrupted, which may hold any lock of its own (malloc's,
// glibc's time-zone lock, our queue's producer lock). So request() and
// wait_finished() only store an atomic, write an eventfd and poll one: all
// async-signal-safe. Everything else the stop needs is done by the sender
// thread, which takes no lock that a request thread can hold.
class StopSignal {
 public:
  StopSignal();  // throws std::system_error when no eventfd can be made
  ~StopSignal();
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  // Async-signal-safe. The sender stops by `deadline`; a second call keeps
  // the first deadline.
  void request(Clock::time_point deadline);
  // Async-signal-safe: caps every wait from now on at `deadline` (the first
  // one set wins) without asking the sender to stop yet: a threaded child
  // that is told to stop may still log the requests it finishes.
  void set_deadline(Clock::time_point deadline);
  bool requested() const { return stop_.load(std::memory_order_acquire); }
  // When request() was first called; Clock::time_point::max() before.
  Clock::time_point requested_at() const;
  // Clock::time_point::max() until requested.
  Clock::time_point deadline() const;
  Clock::time_point cap(Clock::time_point until) const { return std::min(until, deadline()); }
  // Waits for `events` on `fd` until `until`, or the deadline if that comes
  // first; a request() made meanwhile shortens the wait at once. Returns
  // poll()'s revents for fd, 0 when the time ran out.
  short wait(int fd, short events, Clock::time_point until) const;
  // Like wait(), but a stop ends it at once (the sender's idle sleep).
  short wait_unless_stopped(int fd, short events, Clock::time_point until) const;

  // The sender's last act. Async-signal-safe.
  void mark_finished();
  // Async-signal-safe: waits (poll) until mark_finished() or `until`.
  bool wait_finished(Clock::time_point until) const;

 private:
  static constexpr int64_t kNever = INT64_MAX;
  std::atomic<int64_t> deadline_ns_{kNever};
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> requested_ns_{kNever};
  int deadline_fd_ = -1;  // eventfd: readable once a deadline is set
  int stop_fd_ = -1;      // eventfd: readable once requested
  int finished_fd_ = -1;  // eventfd: readable once the sender is done
};

// One log line on its way. `tag` routes it at the peer (the Scribe category);
// sinks that do not route leave it empty.
struct Record {
  std::string tag;
  std::string body;
  size_t cost() const { return tag.size() + body.size() + sizeof(Record); }
};

// Whether a line's end ("\n" or "\r\n") goes into the record with it.
enum class LineEnd { Strip, Keep };

// A record as the sender hands it to a sink: views of bytes that stay put
// until the sink's send() returns (in the queue, or in records the sender
// holds).
struct RecordView {
  std::string_view tag;
  std::string_view body;
  RecordView() = default;
  RecordView(std::string_view t, std::string_view b) : tag(t), body(b) {}
  RecordView(const Record& r) : tag(r.tag), body(r.body) {}  // NOLINT: a view of it
};
using Batch = std::vector<RecordView>;
// Views of `records`, which must outlive them.
Batch views_of(const std::vector<Record>& records);

// A record's body as consecutive parts, copied into the queue back to back:
// a line is copied once on the request thread, into the queue, never joined
// first. The parts are views (a header of the module's own), then
// mod_log_config's portions of the line exactly as it passes them to a log
// writer, of which the first `portion_bytes` bytes are taken (the line end
// may be left out).
struct BodyParts {
  const std::string_view* parts = nullptr;
  size_t count = 0;
  const char* const* strs = nullptr;
  const int* lens = nullptr;
  size_t portions = 0;
  size_t portion_bytes = 0;
  size_t bytes = 0;  // all that is copied: the views and the portions' bytes taken

  BodyParts() = default;
  BodyParts(const std::string_view* p, size_t n) : parts(p), count(n) {
    for (size_t i = 0; i < n; ++i) bytes += p[i].size();
  }
  BodyParts(const std::string_view* p, size_t n, size_t sum) : parts(p), count(n), bytes(sum) {}

  // A line as mod_log_config's `n` portions, `total` bytes in all (as it
  // says), less its end when `end` is Strip. The end may be a portion of its
  // own or end a longer one; "\r" and "\n" may even be portions apart.
  static BodyParts line(const char* const* strs, const int* lens, size_t n, size_t total,
                        LineEnd end);
  // These portions after `head` (n views, `head_bytes` in all).
  BodyParts with_head(const std::string_view* head, size_t n, size_t head_bytes) const {
    BodyParts b = *this;
    b.parts = head;
    b.count = n;
    b.bytes = head_bytes + portion_bytes;
    return b;
  }
  // Copies all of it to `to` (room for `bytes`); returns the end.
  char* copy_to(char* to) const;
};

enum class SendResult {
  Ok,           // every record of the batch was taken
  TryLater,     // none was taken, the connection is healthy: back off, resend
  Failed,       // the connection broke; unknown how much arrived: reconnect, resend
  Unreachable,  // no connection could be made: nothing was sent
};

// What a peer made of an empty call (see Sink::probe).
enum class Probe {
  Unsupported,  // the sink cannot tell
  Answers,      // it took the call (or answered TRY_LATER): the peer works
  Silent,       // no connection, or no answer
};

// A destination. Used only by the sender thread, so it needs no locking.
class Sink {
 public:
  virtual ~Sink() = default;
  // Connects when needed and delivers the whole batch. On Failed the sink has
  // already dropped its connection and `error` says why.
  virtual SendResult send(const Batch& batch, std::string& error) = 0;
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
  // How many records at the front of `batch`, which send() last answered
  // Failed for, did go (a datagram sink sends line by line). The Shipper
  // counts them as sent, not lost, when it gives the batch up.
  virtual size_t sent_of_failed(const Batch& /*batch*/) const { return 0; }
  // How many lines the last send() answered Ok for were given up instead
  // (and counted as dropped by the sink): the Shipper does not count them
  // as sent.
  virtual size_t given_up_in_last_send() const { return 0; }
  // A non-acknowledging stream: how many bytes the peer's kernel had not
  // acknowledged when the sink last found its connection dead (TCP's
  // SIOCOUTQ, read before the socket was closed). The Shipper resends at
  // least the lines those bytes hold, however old.
  virtual size_t unacknowledged_at_loss() const { return 0; }
  // At the sender's exit, after its last send and within the exit
  // deadline: lets the peer confirm what it was sent, and appends to
  // `unconfirmed` the records it may not have (RELP's window of lines the
  // relay has not acknowledged yet), for the Shipper to spool or count.
  virtual void settle(std::vector<Record>& /*unconfirmed*/) {}
  // Async-signal-safe: the exit deadline has passed and the sender is still
  // in a wait the StopSignal cannot cut (a library's own poll, librelp's):
  // end it, by shutting the connection down.
  virtual void interrupt() {}
  // An acknowledging sink: a call that carries no record, on a connection
  // of its own, to tell a peer that is down from a batch the peer refuses
  // (a line too long for its frame limit, bytes it cannot decode): the
  // Shipper probes after a call broke, and isolates and drops a line the
  // peer keeps refusing while it answers probes.
  virtual Probe probe(std::string& /*error*/) { return Probe::Unsupported; }
  // After send() answered Failed: whether the peer broke the call off (it
  // closed the connection on it, or answered it with an error) rather than
  // let it time out. Only such a failure, on a connection that had just
  // answered a probe, counts against the batch.
  virtual bool last_failure_was_refusal() const { return false; }
  // The Shipper's stop signal: every wait in send() goes through it, so that
  // a stop cuts the wait short at the exit deadline. Set before start().
  void attach(const StopSignal* stop) { stop_ = stop; }
  // Connections this sink made so far (for the Reconnects figure).
  uint64_t connections() const { return connections_; }

 protected:
  // Sinks call it on each connection they establish.
  void count_connection() { ++connections_; }
  const StopSignal* stop_ = nullptr;

 private:
  uint64_t connections_ = 0;
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
  Millis min() const { return min_; }
  unsigned attempts() const { return attempt_; }
  Millis current_ceiling() const;

 private:
  Millis min_, max_;
  unsigned attempt_ = 0;
  std::mt19937_64 rng_;
};

// Collects what should go into the next batch: up to `max_lines` records
// and `max_bytes` bytes of them (a single longer record goes alone), or fewer
// once the oldest has waited `interval`. Pure logic on an explicit clock.
class BatchPolicy {
 public:
  BatchPolicy(size_t max_lines, Millis interval, size_t max_bytes = SIZE_MAX)
      : max_lines_(max_lines), max_bytes_(max_bytes), interval_(interval) {}
  // Whether a batch should go now, given how many records wait and when the
  // oldest arrived.
  bool due(size_t waiting, Clock::time_point oldest, Clock::time_point now) const {
    return waiting > 0 && (waiting >= max_lines_ || now - oldest >= interval_);
  }
  // How long the sender may sleep before the batch becomes due.
  Clock::duration wait_for(size_t waiting, Clock::time_point oldest, Clock::time_point now) const;
  size_t max_lines() const { return max_lines_; }
  size_t max_bytes() const { return max_bytes_; }

 private:
  size_t max_lines_;
  size_t max_bytes_;
  Millis interval_;
};

// Bounded multi-producer, single-consumer queue of records, measured in
// bytes. Producers (request threads) copy a record into a chunk under a short
// producer lock; the one consumer (the sender thread) reads published records
// without any lock, so it never waits for a request thread, whatever that
// thread was doing when it was interrupted. Chunks are mapped with mmap() and
// recycled, never taken from malloc(): the consumer never frees memory that a
// request thread allocated. Memory in use follows what is queued (64 KiB
// chunks), not the configured capacity.
class RecordQueue {
 public:
  explicit RecordQueue(size_t max_bytes);  // throws std::bad_alloc
  ~RecordQueue();
  RecordQueue(const RecordQueue&) = delete;
  RecordQueue& operator=(const RecordQueue&) = delete;

  // Producer side. False when the record does not fit (or no chunk could be
  // mapped): the caller's record is dropped, and counted here.
  bool push(std::string_view tag, std::string_view body, Clock::time_point now);
  bool push(std::string_view tag, const BodyParts& body, Clock::time_point now);
  // Consumer side. Views of up to `max` records after those peeked before,
  // appended to `out`, and no more than `max_bytes` bytes of tags and bodies
  // (the first record is taken whatever its size): they stay valid, and
  // their room taken, until release() gives it back. The sender sends from
  // them, so a line is not copied again on its way out.
  size_t peek(Batch& out, size_t max, size_t max_bytes = SIZE_MAX);
  // Gives back the room of the `n` oldest peeked records.
  void release(size_t n);
  size_t peeked() const { return peeked_; }
  // Copies up to `max` records into `out` (appending) and releases them;
  // only with nothing peeked. Records are taken from the back of `spare`
  // when it has any, so that their strings' memory is reused.
  size_t pop(std::vector<Record>& out, size_t max, std::vector<Record>* spare = nullptr);
  // Arrival of the oldest record not peeked yet; epoch when none.
  Clock::time_point oldest() const;

  // Readable once `wake_threshold` records wait (a full batch), so that the
  // sender sends a flood at once rather than at its next interval. The
  // consumer drains it with clear_wake().
  int wake_fd() const { return wake_fd_; }
  void clear_wake();
  void set_wake_threshold(size_t n) { wake_threshold_ = n ? n : 1; }

  // Records waiting (not peeked yet).
  size_t size() const { return count_.load(std::memory_order_acquire); }
  size_t bytes() const { return bytes_.load(std::memory_order_acquire); }
  size_t capacity() const { return max_bytes_; }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  // Memory mapped for chunks now (spare included).
  size_t mapped_bytes() const { return mapped_.load(std::memory_order_relaxed); }

  // What a record costs against the capacity.
  static size_t cost(std::string_view tag, std::string_view body);
  static size_t cost(size_t tag_bytes, size_t body_bytes);

 private:
  struct Chunk;
  Chunk* map_chunk(size_t need);
  void recycle(Chunk* c);

  const size_t max_bytes_;
  size_t wake_threshold_ = 1;
  int wake_fd_ = -1;
  std::atomic<size_t> bytes_{0};
  std::atomic<size_t> count_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<size_t> mapped_{0};
  std::atomic<Chunk*> spare_{nullptr};  // one emptied chunk kept for reuse

  std::mutex producer_mu_;
  Chunk* write_chunk_;  // producers only, under producer_mu_
  size_t write_offset_ = 0;

  // Consumer only: where released room ends, and where peeking goes on.
  Chunk* read_chunk_;
  size_t read_offset_ = 0;
  Chunk* peek_chunk_;
  size_t peek_offset_ = 0;
  size_t peeked_ = 0;
};

class DropLedger;

// When TRY_LATER from a peer stops being a hiccup and counts as the peer
// failing (see peer_rotation.h): after this many answers in a row, or once
// the answers have lasted this long, whichever comes first.
struct FailoverPolicy {
  unsigned try_later_answers = 5;
  Millis try_later_for{10000};
};

// Every shipper configured with one spool directory. A file whose name is
// none of theirs was left by a configuration no longer in force (the
// collector list changed, say): the shipper that delivers the tag of its
// first record adopts and replays it; a file whose tag none of them
// delivers stays, counts against the size limit and is reported (by one
// shipper of the directory, once per `report_once` flag).
struct SpoolFamily {
  std::vector<std::string> names;     // spool names of every shipper of the directory
  std::vector<std::string> tags;      // every tag any of them delivers
  std::vector<std::string> own_tags;  // the tags this shipper delivers
  // Claimed (0 -> 1) by the shipper that reports the files nobody adopts;
  // null: this shipper does not report them.
  std::atomic<uint32_t>* report_once = nullptr;
};

struct ShipperOptions {
  // Names the sender in messages (the CustomLog target, the collector
  // set); empty: the first peer's describe().
  std::string name;
  size_t queue_bytes = 8u << 20;
  size_t batch_lines = 1000;
  // At most this many bytes of tags and bodies in one batch, from the queue
  // or the spool: Thrift >= 0.14 servers refuse frames over 16,384,000
  // bytes. A single longer line goes alone.
  size_t batch_bytes = 4u << 20;
  Millis flush_interval{200};
  // Each peer's backoff after a failure or TRY_LATER.
  Millis retry_min{500};
  Millis retry_max{30000};
  // When TRY_LATER counts as a peer failing (see peer_rotation.h).
  FailoverPolicy failover;
  // Spooled lines replayed per second at most; 0: as fast as the peer takes
  // them. New lines from the queue are sent meanwhile.
  uint64_t replay_lines_per_second = 0;
  // Spool: empty dir means no spooling (records that do not fit are dropped
  // and counted).
  std::string spool_dir;
  std::string spool_name;  // identifies this shipper's files within the dir
  uint64_t spool_max_bytes = 1ull << 30;
  SpoolFamily spool_family;
  // How long a stopping sender may spend delivering (with a spool: after
  // it spooled everything) before what is left is spooled or counted lost.
  // Every wait is cut at this deadline, whatever the sink's own timeouts.
  Millis exit_deadline{2000};
  // For non-acknowledging sinks: how long a sent record stays eligible for
  // resending if the connection is found dead.
  Millis resend_window{2000};
  size_t resend_window_bytes = 1u << 20;
  // Sent lines older than this are forgotten even when the peer's kernel
  // might not have acknowledged them yet (a sink that ends connections
  // whose data stays unacknowledged this long, TCP_USER_TIMEOUT, never
  // needs more). At least resend_window.
  Millis resend_unacked_max_age{45000};
  // How often drop counts are reported.
  Millis report_interval{10000};
  // Counts of lines that never reached the queue (cut to a maximum length,
  // refused) or that a sink gave up, kept where request threads and the
  // sink count them: the sender reports them with its own, at the same
  // times, so that every reason is reported one way. Not owned; may be null.
  DropLedger* ledger = nullptr;
  // The sender thread's name, as top -H and ps -L show it (at most 15
  // bytes; longer is cut). Empty: the name the child runs under.
  std::string thread_name;
  // Where the sender publishes its figures for mod_status: a StatusBoard
  // slot this child claimed, or null.
  SenderSlot* status = nullptr;
};

struct ShipperStats {
  uint64_t queued = 0;         // accepted by push()
  uint64_t sent = 0;           // records in batches the sink answered Ok
  uint64_t dropped_queue = 0;  // push() found the queue full
  uint64_t dropped_spool = 0;  // removed from a full spool
  uint64_t spooled = 0;        // written to spool files
  uint64_t replayed = 0;       // read back from spool files and sent
  uint64_t resent = 0;         // resent after a connection died under them
  // Sent on a connection that died, not resent: older than the resend
  // window, and acknowledged by the peer's kernel. Delivered unless the
  // peer had stopped reading them; nothing in TCP tells.
  uint64_t unconfirmed = 0;
  uint64_t failures = 0;  // Failed, Unreachable or TryLater answers
  uint64_t lost = 0;      // neither delivered nor spooled (no spool, or it failed)
  uint64_t rejected = 0;  // lines a working peer kept refusing: dropped
};

// Severity of a message from the sender thread; the glue maps it to APLOG_*.
enum class Level { Error, Warning, Notice, Info, Debug };
using Reporter = std::function<void(Level, const std::string&)>;

class SpoolDir;
class ResendStore;
class PeerRotation;
class ReplayPacer;

// The peers of a sender, in order of preference: each its own connection.
using Peers = std::vector<std::unique_ptr<Sink>>;

// The sender of one destination in one child: a queue that request threads
// push to, and a thread that delivers it. The thread is a state machine of
// three states, each with one timer:
//
//   streaming       batches from the queue go to the first peer that is
//                   not backing off (PeerRotation); the timer is the
//                   batch's flush interval.
//   failing         every peer backs off: the queue spills to the spool;
//                   the timer is the earliest peer's retry.
//   sending spool   a peer answers and spool files wait: they go, oldest
//                   first, paced by replay_lines_per_second, with new
//                   lines from the queue between; the timer is the pacer's.
//
// A batch a working peer keeps refusing (its connection breaks on it while
// the peer answers probes) is split until the line at fault is alone, and
// that line is dropped and counted after a few more tries.
class Shipper {
 public:
  Shipper(Peers peers, ShipperOptions opts, Reporter report);
  Shipper(std::unique_ptr<Sink> sink, ShipperOptions opts, Reporter report);
  ~Shipper();
  Shipper(const Shipper&) = delete;
  Shipper& operator=(const Shipper&) = delete;

  // Starts the sender thread. Call in the child, never before fork. Throws
  // when the thread cannot be made: push() then counts every line as lost.
  void start();
  // Request-thread side. False: the record was dropped and counted (queue
  // full, sender not running or stopping); the sender reports it.
  bool push(std::string_view tag, std::string_view body);
  bool push(std::string_view tag, const BodyParts& body);

  // Stopping, in three steps so that every Shipper of a child can be told
  // first and waited for after, within one deadline:
  // Async-signal-safe: from now on no wait lasts past now + exit_deadline
  // (an ungraceful stop of a threaded child, before its workers are joined).
  void set_exit_deadline();
  // Async-signal-safe: tells the sender to deliver (or spool) what it holds
  // by the exit deadline (now + exit_deadline unless set before) and to stop.
  void begin_stop();
  // Async-signal-safe: waits until the sender is done, or `grace` past the
  // later of the exit deadline and begin_stop() (a deadline started early by
  // set_exit_deadline() still leaves the sender that long). True when done.
  bool wait_stopped(Millis grace);
  // Async-signal-safe: past the exit deadline, ends the waits of the sinks
  // that the StopSignal cannot reach (Sink::interrupt).
  void interrupt_sinks();
  // Joins a sender that wait_stopped() found done. Not from a signal handler
  // (it may free memory).
  void join();
  // All three; what the destructor does.
  void stop();
  // False before start(), after join(), and once the sender failed: the
  // caller then counts the lines it would have pushed.
  bool running() const { return started_ && !failed_; }
  // When the sender must be done; Clock::time_point::max() until stopping.
  Clock::time_point exit_deadline() const { return stop_.deadline(); }
  ShipperStats stats() const;
  // The name messages give the sender.
  const std::string& name() const { return name_; }

 private:
  void run_guarded();
  void run();
  // The state machine's turn: one batch attempted, or one wait.
  void step();
  // Failing: every peer backs off.
  void wait_for_a_peer(Clock::time_point now);
  // Spills and seals as the state asks, so that request threads keep
  // finding room and spilled lines become replayable.
  void keep_room(Clock::time_point now);
  // Fills pending_ from the spool (when due and paced) or the queue (when
  // a batch is due); false when it waited instead.
  bool take_next_batch(Clock::time_point now);
  void attempt(size_t peer);
  void delivered(size_t peer, const Batch& part, Clock::time_point now);
  void refused(size_t peer, Clock::time_point now);
  void broke(size_t peer, SendResult res, const Batch& part, Clock::time_point now);
  // After a call broke on a peer that answers probes: splits the batch, or
  // drops the lone line at fault. True when it did either (no backoff).
  bool isolate_refused(size_t peer, size_t sent);
  // The spool batch in flight goes back to its file, and the file's claim
  // with it (a full spool may then shed it).
  void give_back_spool_batch();
  void finish();
  // Whether the peer answered the last attempt: a failing one is not tried
  // again on the way out.
  enum class Peer { Answering, Failing };
  void finish_to_spool(Peer peer);
  void finish_without_spool();
  // What the peers had not confirmed at the end (Sink::settle): spooled or
  // counted lost.
  void settle_peers();
  // Sleeps until records are due, the sender is woken, `until`, or a stop.
  void idle_wait(Clock::time_point until);
  void report_drops(bool force);
  enum class Reporting { WhenDue, Always };
  void report_failure(size_t peer, SendResult res, const std::string& next_step,
                      Reporting when = Reporting::WhenDue);
  SendResult send_guarded(Sink& sink, const Batch& batch);
  Sink& current() { return *peers_[current_]; }
  // Whether a spool write is tried while the spool backs off after a
  // failed one (SpoolDir::writable): only at the child's exit, its last
  // chance.
  enum class SpoolAttempt { WhenWritable, Regardless };
  // Writes `batch` to the spool; false when there is none, it backs off,
  // or the write failed.
  bool spool(const Batch& batch, SpoolAttempt when);
  // Spools the batch in flight, which then goes. When the spool cannot take
  // it, it stays in memory (false), or at exit is counted lost.
  bool spill_pending(SpoolAttempt when = SpoolAttempt::WhenWritable);
  // Spools the queue, after the batch in flight; past `until`, counts the
  // rest lost. When the spool cannot take a batch of it, that batch becomes
  // the batch in flight and the rest stays queued (at exit: counted lost).
  void spill_queue(Clock::time_point until = Clock::time_point::max(),
                   SpoolAttempt when = SpoolAttempt::WhenWritable);
  void remember_sent(const Batch& batch, Clock::time_point now);
  // Adds what changed since the last call to the status slot and sets its
  // gauges; SlotUse::Release also gives the slot up (the sender's last act).
  enum class SlotUse { Keep, Release };
  void publish_status(SenderState state, SlotUse use = SlotUse::Keep) noexcept;
  SenderState state_now() const;
  // Records of `batch`, which `sink` answered Ok for, that it did send.
  size_t delivered_of(const Sink& sink, const Batch& batch) const;
  void take_back_recent(Clock::time_point now);
  // The batch in flight is done with (sent, spooled or counted): its room in
  // the queue goes back, the records it held become spares.
  void let_pending_go();
  // The first `n` records of it are done with.
  void let_prefix_go(size_t n);
  // `front` goes before the lines of the batch in flight.
  void hold_in_front(std::vector<Record>&& front);
  // pending_ made again: views of held_, then its views of the queue.
  void rebuild_pending();
  // Empties `records`, keeping their memory for later use.
  void recycle(std::vector<Record>& records);
  void keep_spare(Record&& r);

  Peers peers_;
  ShipperOptions opts_;
  std::string name_;
  Reporter report_;
  StopSignal stop_;
  RecordQueue queue_;
  BatchPolicy policy_;
  std::unique_ptr<PeerRotation> rotation_;
  std::unique_ptr<ReplayPacer> pacer_;
  std::unique_ptr<SpoolDir> spool_;
  std::thread thread_;
  std::atomic<bool> started_{false};
  std::atomic<bool> failed_{false};
  // The batch in flight, kept across failures: views of held_ (lines read
  // from the spool, or taken back to be resent), then `pending_queued_`
  // views of records still in the queue.
  Batch pending_;
  std::vector<Record> held_;
  size_t pending_queued_ = 0;
  std::vector<Record> spare_;        // emptied records, their strings' memory kept
  bool pending_from_spool_ = false;  // pending_ came from the spool (not counted twice)

  // The state machine's memory, sender thread only.
  size_t current_ = 0;           // the peer that took the last batch
  bool ever_delivered_ = false;  // current_ means something
  bool down_ = false;            // the last attempt failed
  bool spool_work_ = false;      // spool files may wait to be replayed
  Clock::time_point next_scan_{};
  unsigned failures_in_a_row_ = 0;
  // Isolating a batch a working peer refuses: how many records of pending_
  // the next call carries (0: all), and how many calls broke on that part.
  size_t send_limit_ = 0;
  unsigned refused_calls_ = 0;
  bool probed_ = false;  // the peer's connection just answered a probe

  // Sent-but-unconfirmed lines for non-acknowledging sinks.
  std::unique_ptr<ResendStore> recent_;

  std::atomic<uint64_t> queued_{0};
  mutable std::mutex stats_mu_;  // sender-side counters, read by stats()
  ShipperStats stats_;
  uint64_t reported_queue_drops_ = 0;
  uint64_t reported_spool_drops_ = 0;
  uint64_t reported_lost_ = 0;
  uint64_t reported_rejected_ = 0;
  uint64_t reported_unconfirmed_ = 0;
  size_t last_rejected_bytes_ = 0;
  std::atomic<uint64_t> lost_{0};
  std::string last_error_;
  Clock::time_point last_report_{};

  // What publish_status() last added to the slot, per counter.
  uint64_t published_[kCounterCount] = {};
  pid_t status_pid_ = 0;  // set at start(): the child that claimed the slot
  uint64_t spool_bytes_ = 0;
  Clock::time_point spool_bytes_at_{};
};

}  // namespace delivery
