#include "delivery.h"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <new>
#include <system_error>

#include "drop_ledger.h"
#include "resend_store.h"
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

// ---- StopSignal ----

namespace {

int64_t to_ns(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// Milliseconds from now until `until`, rounded up so that a poll() does not
// wake a hair early and spin; -1 once it has passed.
int ms_until(Clock::time_point until) {
  auto now = Clock::now();
  if (now >= until) return -1;
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(until - now).count();
  return static_cast<int>(std::min<long long>((us + 999) / 1000, INT_MAX));
}

int make_eventfd() {
  int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  return fd;
}

void poke(int fd) {
  uint64_t one = 1;
  // EAGAIN (counter full) still leaves it readable.
  ssize_t rc = ::write(fd, &one, sizeof one);
  (void)rc;
}

}  // namespace

StopSignal::StopSignal() {
  int fds[3] = {-1, -1, -1};
  try {
    for (int& fd : fds) fd = make_eventfd();
  } catch (...) {
    for (int fd : fds)
      if (fd >= 0) ::close(fd);
    throw;
  }
  deadline_fd_ = fds[0];
  stop_fd_ = fds[1];
  finished_fd_ = fds[2];
}

StopSignal::~StopSignal() {
  ::close(deadline_fd_);
  ::close(stop_fd_);
  ::close(finished_fd_);
}

void StopSignal::set_deadline(Clock::time_point deadline) {
  int64_t expected = kNever;
  deadline_ns_.compare_exchange_strong(expected, to_ns(deadline), std::memory_order_acq_rel);
  poke(deadline_fd_);
}

void StopSignal::request(Clock::time_point deadline) {
  int64_t expected = kNever;
  requested_ns_.compare_exchange_strong(expected, to_ns(Clock::now()), std::memory_order_acq_rel);
  set_deadline(deadline);
  stop_.store(true, std::memory_order_release);
  poke(stop_fd_);
}

Clock::time_point StopSignal::requested_at() const {
  int64_t ns = requested_ns_.load(std::memory_order_acquire);
  if (ns == kNever) return Clock::time_point::max();
  return Clock::time_point(std::chrono::nanoseconds(ns));
}

Clock::time_point StopSignal::deadline() const {
  int64_t ns = deadline_ns_.load(std::memory_order_acquire);
  if (ns == kNever) return Clock::time_point::max();
  return Clock::time_point(std::chrono::nanoseconds(ns));
}

short StopSignal::wait(int fd, short events, Clock::time_point until) const {
  for (;;) {
    const bool capped = deadline_ns_.load(std::memory_order_acquire) != kNever;
    int ms = ms_until(cap(until));
    if (ms < 0) return 0;
    // Once a deadline is set, deadline_fd_ stays readable: only the time
    // counts.
    pollfd p[2] = {{fd, events, 0}, {deadline_fd_, POLLIN, 0}};
    int n = ::poll(p, capped ? 1 : 2, ms);
    if (n < 0 && errno != EINTR) return POLLERR;
    if (n > 0 && p[0].revents) return p[0].revents;
    // Timed out, interrupted or asked to stop: the loop recomputes the cap.
  }
}

short StopSignal::wait_unless_stopped(int fd, short events, Clock::time_point until) const {
  for (;;) {
    if (requested()) return 0;
    int ms = ms_until(until);
    if (ms < 0) return 0;
    pollfd p[2] = {{fd, events, 0}, {stop_fd_, POLLIN, 0}};
    int n = ::poll(p, 2, ms);
    if (n < 0 && errno != EINTR) return POLLERR;
    if (n > 0) return p[0].revents;
  }
}

void StopSignal::mark_finished() { poke(finished_fd_); }

bool StopSignal::wait_finished(Clock::time_point until) const {
  for (;;) {
    pollfd p{finished_fd_, POLLIN, 0};
    int ms = ms_until(until);
    int n = ::poll(&p, 1, ms < 0 ? 0 : ms);
    if (n > 0) return true;
    if (n == 0 || errno != EINTR) return false;
  }
}

// ---- RecordQueue ----

// A chunk as mapped: this header, then records back to back, each a
// RecordHeader, the tag and the body, padded to kAlign. `committed` is how
// many bytes of records the producers have published; `next` is set (after
// the last write to this chunk) when they moved on to another chunk.
struct RecordQueue::Chunk {
  std::atomic<Chunk*> next{nullptr};
  std::atomic<size_t> committed{0};
  size_t capacity = 0;  // bytes for records
  size_t mapped = 0;    // bytes mapped, header included
  char* data() { return reinterpret_cast<char*>(this + 1); }
  const char* data() const { return reinterpret_cast<const char*>(this + 1); }
};

namespace {

constexpr size_t kChunkBytes = 64 << 10;
constexpr size_t kAlign = alignof(int64_t);

struct RecordHeader {
  uint32_t tag_len;
  uint32_t body_len;
  int64_t arrival_ns;
};

size_t aligned(size_t n) { return (n + kAlign - 1) & ~(kAlign - 1); }

// Copies `n` bytes. Most parts of a line are a few bytes (a space, a
// quote, a status code): fixed-size copies, which the compiler makes moves,
// overlapping for the sizes between, cost a third of a call to memcpy.
inline void copy_part(char* to, const char* from, size_t n) {
  if (n >= 8) {
    if (n > 16) {
      std::memcpy(to, from, n);
      return;
    }
    std::memcpy(to, from, 8);
    std::memcpy(to + n - 8, from + n - 8, 8);
  } else if (n >= 4) {
    std::memcpy(to, from, 4);
    std::memcpy(to + n - 4, from + n - 4, 4);
  } else if (n > 0) {
    to[0] = from[0];
    to[n / 2] = from[n / 2];
    to[n - 1] = from[n - 1];
  }
}

}  // namespace

size_t RecordQueue::cost(std::string_view tag, std::string_view body) {
  return cost(tag.size(), body.size());
}

size_t RecordQueue::cost(size_t tag_bytes, size_t body_bytes) {
  return aligned(sizeof(RecordHeader) + tag_bytes + body_bytes);
}

RecordQueue::RecordQueue(size_t max_bytes) : max_bytes_(max_bytes) {
  wake_fd_ = make_eventfd();
  write_chunk_ = read_chunk_ = peek_chunk_ = map_chunk(kChunkBytes);
  if (!write_chunk_) {
    ::close(wake_fd_);
    throw std::bad_alloc();
  }
}

RecordQueue::~RecordQueue() {
  for (Chunk* c = read_chunk_; c;) {
    Chunk* next = c->next.load(std::memory_order_acquire);
    ::munmap(c, c->mapped);
    c = next;
  }
  if (Chunk* s = spare_.load()) ::munmap(s, s->mapped);
  ::close(wake_fd_);
}

RecordQueue::Chunk* RecordQueue::map_chunk(size_t need) {
  if (need <= kChunkBytes) {
    if (Chunk* c = spare_.exchange(nullptr, std::memory_order_acq_rel)) {
      c->next.store(nullptr, std::memory_order_relaxed);
      c->committed.store(0, std::memory_order_relaxed);
      return c;
    }
    need = kChunkBytes;
  }
  size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  size_t bytes = (sizeof(Chunk) + need + page - 1) / page * page;
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return nullptr;
  Chunk* c = new (mem) Chunk();
  c->mapped = bytes;
  mapped_.fetch_add(bytes, std::memory_order_relaxed);
  c->capacity = bytes - sizeof(Chunk);
  return c;
}

void RecordQueue::recycle(Chunk* c) {
  // Standard chunks (and slightly larger ones) are worth keeping: every spare
  // holds at least kChunkBytes, which is all map_chunk() asks of one.
  if (c->capacity < 2 * kChunkBytes) c = spare_.exchange(c, std::memory_order_acq_rel);
  if (c) {
    mapped_.fetch_sub(c->mapped, std::memory_order_relaxed);
    ::munmap(c, c->mapped);
  }
}

BodyParts BodyParts::line(const char* const* strs, const int* lens, size_t n, size_t total,
                          LineEnd end) {
  BodyParts b;
  b.strs = strs;
  b.lens = lens;
  b.portions = n;
  b.portion_bytes = b.bytes = total;
  if (end == LineEnd::Keep) return b;
  // Characters from the end, across portions, skipping empty ones.
  size_t i = n, left = 0;
  auto previous = [&]() -> int {
    while (left == 0) {
      if (i == 0) return -1;
      --i;
      left = lens[i] > 0 ? static_cast<size_t>(lens[i]) : 0;
    }
    return static_cast<unsigned char>(strs[i][--left]);
  };
  if (previous() != '\n') return b;
  const size_t cut = previous() == '\r' ? 2 : 1;
  b.portion_bytes -= std::min(cut, total);
  b.bytes = b.portion_bytes;
  return b;
}

char* BodyParts::copy_to(char* to) const {
  for (size_t i = 0; i < count; ++i) {
    copy_part(to, parts[i].data(), parts[i].size());
    to += parts[i].size();
  }
  size_t left = portion_bytes;
  for (size_t i = 0; left > 0 && i < portions; ++i) {
    const size_t n = std::min(lens[i] > 0 ? static_cast<size_t>(lens[i]) : 0, left);
    copy_part(to, strs[i], n);
    to += n;
    left -= n;
  }
  return to;
}

bool RecordQueue::push(std::string_view tag, std::string_view body, Clock::time_point now) {
  return push(tag, BodyParts(&body, 1), now);
}

bool RecordQueue::push(std::string_view tag, const BodyParts& body, Clock::time_point now) {
  const size_t need = cost(tag.size(), body.bytes);
  const RecordHeader hdr{static_cast<uint32_t>(tag.size()), static_cast<uint32_t>(body.bytes),
                         to_ns(now)};
  size_t waiting;
  {
    std::lock_guard<std::mutex> lock(producer_mu_);
    if (bytes_.load(std::memory_order_acquire) + need > max_bytes_ || tag.size() > UINT32_MAX ||
        body.bytes > UINT32_MAX) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (write_chunk_->capacity - write_offset_ < need) {
      Chunk* c = map_chunk(need);
      if (!c) {
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
      // Published after the last write to the old chunk: a consumer that
      // sees `next` sees all of the old chunk's records.
      write_chunk_->next.store(c, std::memory_order_release);
      write_chunk_ = c;
      write_offset_ = 0;
    }
    char* at = write_chunk_->data() + write_offset_;
    std::memcpy(at, &hdr, sizeof hdr);
    if (!tag.empty()) std::memcpy(at + sizeof hdr, tag.data(), tag.size());
    body.copy_to(at + sizeof hdr + tag.size());
    write_offset_ += need;
    bytes_.fetch_add(need, std::memory_order_acq_rel);
    // Counted before it is published: the consumer's decrement must never
    // come first (size() would wrap).
    waiting = count_.fetch_add(1, std::memory_order_acq_rel) + 1;
    write_chunk_->committed.store(write_offset_, std::memory_order_release);
  }
  if (waiting == wake_threshold_) poke(wake_fd_);
  return true;
}

Batch views_of(const std::vector<Record>& records) { return Batch(records.begin(), records.end()); }

size_t RecordQueue::peek(Batch& out, size_t max) {
  // Room first: nothing below throws, so a view is never taken from the
  // queue without being handed out (and released later).
  max = std::min(max, size());
  out.reserve(out.size() + max);
  size_t n = 0;
  while (n < max) {
    size_t committed = peek_chunk_->committed.load(std::memory_order_acquire);
    if (peek_offset_ >= committed) {
      Chunk* next = peek_chunk_->next.load(std::memory_order_acquire);
      if (!next) break;
      // The producer wrote its last record here before it set `next`.
      if (peek_offset_ < peek_chunk_->committed.load(std::memory_order_acquire)) continue;
      peek_chunk_ = next;  // recycled by release(), once its records are
      peek_offset_ = 0;
      continue;
    }
    const char* at = peek_chunk_->data() + peek_offset_;
    RecordHeader hdr;
    std::memcpy(&hdr, at, sizeof hdr);
    out.emplace_back(std::string_view(at + sizeof hdr, hdr.tag_len),
                     std::string_view(at + sizeof hdr + hdr.tag_len, hdr.body_len));
    peek_offset_ += aligned(sizeof hdr + hdr.tag_len + hdr.body_len);
    count_.fetch_sub(1, std::memory_order_acq_rel);
    ++n;
  }
  peeked_ += n;
  return n;
}

void RecordQueue::release(size_t n) {
  n = std::min(n, peeked_);
  peeked_ -= n;
  for (;;) {
    // A chunk the peeking has left is final: its records all lie before
    // `committed`, and `next` is set.
    if (read_chunk_ != peek_chunk_ &&
        read_offset_ >= read_chunk_->committed.load(std::memory_order_acquire)) {
      Chunk* next = read_chunk_->next.load(std::memory_order_acquire);
      recycle(read_chunk_);
      read_chunk_ = next;
      read_offset_ = 0;
      continue;
    }
    if (n == 0) break;
    RecordHeader hdr;
    std::memcpy(&hdr, read_chunk_->data() + read_offset_, sizeof hdr);
    size_t used = aligned(sizeof hdr + hdr.tag_len + hdr.body_len);
    read_offset_ += used;
    bytes_.fetch_sub(used, std::memory_order_acq_rel);
    --n;
  }
}

size_t RecordQueue::pop(std::vector<Record>& out, size_t max, std::vector<Record>* spare) {
  if (peeked_ > 0) return 0;  // release() would give back the wrong records
  Batch views;
  size_t n = peek(views, max);
  for (const RecordView& v : views) {
    if (spare && !spare->empty()) {
      out.push_back(std::move(spare->back()));
      spare->pop_back();
    } else {
      out.emplace_back();
    }
    Record& r = out.back();
    r.tag.assign(v.tag);
    r.body.assign(v.body);
  }
  release(n);
  return n;
}

Clock::time_point RecordQueue::oldest() const {
  const Chunk* c = peek_chunk_;
  size_t offset = peek_offset_;
  while (offset >= c->committed.load(std::memory_order_acquire)) {
    const Chunk* next = c->next.load(std::memory_order_acquire);
    if (!next) return Clock::time_point{};
    if (offset < c->committed.load(std::memory_order_acquire)) break;
    c = next;
    offset = 0;
  }
  RecordHeader hdr;
  std::memcpy(&hdr, c->data() + offset, sizeof hdr);
  return Clock::time_point(std::chrono::nanoseconds(hdr.arrival_ns));
}

void RecordQueue::clear_wake() {
  uint64_t v;
  ssize_t rc = ::read(wake_fd_, &v, sizeof v);
  (void)rc;
}

// ---- Shipper ----

namespace {
// How long past the exit deadline spooling the queue may go on.
constexpr Millis kSpillGrace{200};
}  // namespace

Shipper::Shipper(std::unique_ptr<Sink> sink, ShipperOptions opts, Reporter report)
    : sink_(std::move(sink)),
      opts_(std::move(opts)),
      report_(std::move(report)),
      queue_(opts_.queue_bytes),
      policy_(std::max<size_t>(opts_.batch_lines, 1), opts_.flush_interval),
      backoff_(opts_.retry_min, opts_.retry_max),
      recent_(std::make_unique<ResendStore>()) {
  // Room for the spares now: keeping one never allocates (nor throws) later.
  spare_.reserve(std::min<size_t>(policy_.max_lines(), 1024));
  queue_.set_wake_threshold(policy_.max_lines());
  sink_->attach(&stop_);
  if (!opts_.spool_dir.empty())
    spool_ = std::make_unique<SpoolDir>(opts_.spool_dir, opts_.spool_name, opts_.spool_max_bytes,
                                        report_, opts_.spool_family);
}

Shipper::~Shipper() { stop(); }

void Shipper::start() {
  if (started_) return;
  // The thread inherits the mask: with every signal blocked here, httpd's
  // own threads keep receiving the MPM's signals.
  // Before the thread exists: it reads it.
  status_pid_ = getpid();
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  try {
    thread_ = std::thread([this] { run_guarded(); });
    if (!opts_.thread_name.empty())
      pthread_setname_np(thread_.native_handle(), opts_.thread_name.substr(0, 15).c_str());
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    throw;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  started_ = true;
}

// No exception may end the thread (std::terminate would take the child with
// it); a sender that fails stops taking lines, and says what it held.
void Shipper::run_guarded() {
  std::string failure;
  try {
    run();
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown exception";
  }
  if (!failure.empty()) {
    failed_ = true;  // from now on the glue counts what it would push
    stop_.request(Clock::now());
    try {
      report_(Level::Error, "DE0009: " + sink_->describe() + ": the sender failed (" + failure +
                                "); lines it held are counted lost");
      rebuild_pending();  // whatever step failed, its views are whole again
      if (pending_from_spool_) {
        spool_->rollback();  // still in its file
        let_pending_go();
      }
      finish_without_spool();  // the deadline has passed: counts all
      report_drops(true);
    } catch (...) {
    }
  }
  // The final figures (the gauges no longer matter: the slot is given up).
  publish_status(SenderState::Up, SlotUse::Release);
  stop_.mark_finished();
}

// Never throws: the figures must not cost a line.
void Shipper::publish_status(SenderState state, SlotUse use) noexcept {
  SenderSlot* slot = opts_.status;
  if (!slot) return;
  const ShipperStats s = stats();
  uint64_t now_values[kCounterCount] = {};
  auto set = [&now_values](Counter c, uint64_t v) { now_values[static_cast<unsigned>(c)] = v; };
  set(Counter::Queued, s.queued);
  set(Counter::Sent, s.sent);
  set(Counter::DroppedQueueFull, s.dropped_queue);
  set(Counter::DroppedSpoolFull, s.dropped_spool);
  set(Counter::DroppedUnsent, s.lost);
  set(Counter::Spooled, s.spooled);
  set(Counter::Replayed, s.replayed);
  set(Counter::Resent, s.resent);
  uint64_t connections = sink_->connections();
  set(Counter::Reconnects, connections > 1 ? connections - 1 : 0);
  bool spool_moved = false;
  for (unsigned c = 0; c < kCounterCount; ++c) {
    if (now_values[c] <= published_[c]) continue;
    slot->add(static_cast<Counter>(c), now_values[c] - published_[c]);
    spool_moved |= c == static_cast<unsigned>(Counter::Spooled) ||
                   c == static_cast<unsigned>(Counter::Replayed) ||
                   c == static_cast<unsigned>(Counter::DroppedSpoolFull);
    published_[c] = now_values[c];
  }
  if (!StatusBoard::owns(slot, status_pid_)) return;
  if (use == SlotUse::Release) {
    StatusBoard::release(slot, status_pid_);
    return;
  }
  auto now = Clock::now();
  // A directory scan: only when the spool changed, or now and then for
  // what other children did to the same files.
  if (spool_ && (spool_moved || now - spool_bytes_at_ >= Millis(10000))) {
    try {
      spool_bytes_ = spool_->bytes_on_disk();
    } catch (...) {  // out of memory: the last figure stays
    }
    spool_bytes_at_ = now;
  }
  slot->queue_bytes.store(queue_.bytes(), std::memory_order_relaxed);
  slot->spool_bytes.store(spool_bytes_, std::memory_order_relaxed);
  slot->set_state(state, static_cast<int64_t>(time(nullptr)));
}

bool Shipper::push(std::string_view tag, std::string_view body) {
  return push(tag, BodyParts(&body, 1));
}

bool Shipper::push(std::string_view tag, const BodyParts& body) {
  if (!started_ || stop_.requested()) {
    // Nobody would ever send it: count it where the reports see it.
    lost_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  // No signal masking needed, even under prefork: nothing on the stop path
  // takes the queue's producer lock (see StopSignal).
  if (!queue_.push(tag, body, Clock::now())) return false;
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
    report_(Level::Error, "DE0004: " + sink_->describe() + ": dropped " +
                              std::to_string(q - reported_queue_drops_) +
                              " lines because the queue (" + std::to_string(opts_.queue_bytes) +
                              " bytes) was full; " + std::to_string(q) +
                              " dropped by this child in all");
    reported_queue_drops_ = q;
  }
  if (s > reported_spool_drops_) {
    report_(Level::Error, "DE0005: " + sink_->describe() + ": dropped " +
                              std::to_string(s - reported_spool_drops_) +
                              " spooled lines because the spool was over its limit; " +
                              std::to_string(s) + " dropped by this child in all");
    reported_spool_drops_ = s;
  }
  uint64_t l = lost_.load(std::memory_order_relaxed);
  if (l > reported_lost_) {
    // Three messages, one ID each.
    const char* id = !started_ ? "DE0008: " : spool_ ? "DE0007: " : "DE0006: ";
    const char* why = !started_ ? " lines were refused because this child has no sender; "
                      : spool_  ? " lines could be neither delivered nor spooled; "
                                : " lines could not be delivered before the child exited; ";
    report_(Level::Error, id + sink_->describe() + ": " + std::to_string(l - reported_lost_) + why +
                              std::to_string(l) + " lost by this child in all");
    reported_lost_ = l;
  }
  // On this Shipper's schedule, not the ledger's own.
  if (opts_.ledger)
    for (const auto& [level, text] : opts_.ledger->take(now, true)) report_(level, text);
}

void Shipper::spool_or_count(const Batch& batch) {
  if (batch.empty()) return;
  if (spool_ && spool_->append(batch)) {
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.spooled += batch.size();
  } else {
    lost_.fetch_add(batch.size(), std::memory_order_relaxed);
  }
}

void Shipper::spill_pending() {
  spool_or_count(pending_);
  let_pending_go();
}

void Shipper::spill_queue(Clock::time_point until) {
  // The batch in flight is older, and the queue gives room back oldest
  // first: it goes first.
  if (pending_queued_ > 0) spill_pending();
  Batch chunk;
  size_t n;
  while ((n = queue_.peek(chunk, 4096)) > 0) {
    try {
      if (Clock::now() >= until)
        lost_.fetch_add(n, std::memory_order_relaxed);
      else
        spool_or_count(chunk);
    } catch (...) {
      // Counted, and their room given back, before the failure goes on up
      // (to run_guarded, which counts the rest).
      lost_.fetch_add(n, std::memory_order_relaxed);
      queue_.release(n);
      throw;
    }
    queue_.release(n);
    chunk.clear();
  }
}

void Shipper::idle_wait(Clock::time_point until) {
  if (stop_.wait_unless_stopped(queue_.wake_fd(), POLLIN, until) & POLLIN) queue_.clear_wake();
}

void Shipper::remember_sent(const Batch& batch, Clock::time_point now) {
  try {
    for (const RecordView& r : batch) recent_->add(r, now);
  } catch (const std::bad_alloc&) {
    // The lines went (and are counted so); only the copies for resending
    // could not be made. Forgetting them all keeps the store consistent.
    recent_->clear();
    return;
  }
  // Which of these are resent is decided when the connection is found dead
  // (take_back_recent), by age and by what the peer's kernel had not
  // acknowledged then; none older than a live connection can hold.
  const Millis max_age = std::max(opts_.resend_window, opts_.resend_unacked_max_age);
  recent_->forget(opts_.resend_window_bytes, now - max_age);
}

// Lines of a few hundred bytes are the rule; a rare long one is not kept.
constexpr size_t kSpareRecordBytes = 2048;

void Shipper::keep_spare(Record&& r) {
  if (spare_.size() < spare_.capacity() && r.body.capacity() <= kSpareRecordBytes &&
      r.tag.capacity() <= kSpareRecordBytes)
    spare_.push_back(std::move(r));
}

void Shipper::recycle(std::vector<Record>& records) {
  for (Record& r : records) keep_spare(std::move(r));
  records.clear();
}

void Shipper::let_pending_go() {
  queue_.release(pending_queued_);
  pending_queued_ = 0;
  pending_.clear();
  recycle(held_);
}

void Shipper::rebuild_pending() {
  Batch views(held_.begin(), held_.end());
  const size_t queued = std::min(pending_queued_, pending_.size());
  views.insert(views.end(), pending_.end() - static_cast<std::ptrdiff_t>(queued), pending_.end());
  pending_.swap(views);
}

void Shipper::hold_in_front(std::vector<Record>&& front) {
  // Moved records keep their bytes, not always their addresses (short
  // strings live inside the record): every view of them is made again.
  // Room first, so that no record is left half moved.
  front.reserve(front.size() + held_.size());
  for (Record& r : held_) front.push_back(std::move(r));
  held_.swap(front);
  rebuild_pending();
}

// Puts what was recently sent on a connection that turned out dead in front
// of the batch in flight: at-least-once, since the peer may have read some of it.
// What is resent: every line sent within the resend window, and older ones
// whose bytes the peer's kernel had not acknowledged (a slow peer can sit on
// minutes of low-rate traffic). An older line the kernel acknowledged is
// not sent again: after an idle hour the last burst is not resent.
void Shipper::take_back_recent(Clock::time_point now) {
  if (recent_->empty()) return;
  // Walking back from the newest line, until the unacknowledged bytes are
  // covered; body sizes leave the framing out, so this errs towards more.
  size_t unacked = sink_->unacknowledged_at_loss();
  const Millis max_age = std::max(opts_.resend_window, opts_.resend_unacked_max_age);
  size_t keep_from = recent_->size();
  size_t covered = 0;
  while (keep_from > 0) {
    const Clock::time_point t = recent_->sent_at(keep_from - 1);
    if (now - t > max_age) break;
    if (covered >= unacked && now - t > opts_.resend_window) break;
    covered += recent_->body_size(keep_from - 1);
    --keep_from;
  }
  const size_t resent = recent_->size() - keep_from;
  std::vector<Record> again;
  again.reserve(resent + held_.size());
  recent_->take_from(keep_from, again, spare_);
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.resent += resent;
  }
  hold_in_front(std::move(again));
}

size_t Shipper::delivered_of(const Batch& batch) const {
  return batch.size() - std::min(batch.size(), sink_->given_up_in_last_send());
}

SendResult Shipper::send_guarded(const Batch& batch) {
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
  // Members, so that a sender that fails still accounts for them.
  bool& from_spool = pending_from_spool_;
  bool down = false;
  Clock::time_point retry_at{};
  // Files left by earlier children are looked for at start and now and then,
  // so that a crashed child's lines do not wait for the next outage.
  bool spool_work = spool_ != nullptr;
  Clock::time_point next_scan = Clock::now() + Millis(10000);
  if (spool_) spool_->report_unadopted();

  while (!stop_.requested()) {
    auto now = Clock::now();
    // Read each time: a sink may change kind (a unix path that became a
    // stream socket and back). What went on the stream it left may not have
    // been read: it goes again, the new way.
    bool acks = sink_->acknowledges();
    if (acks && !recent_->empty()) take_back_recent(now);
    report_drops(false);
    publish_status(down                       ? SenderState::Failing
                   : from_spool || spool_work ? SenderState::SendingSpool
                                              : SenderState::Up);
    if (down && now < retry_at) {
      // Spill early enough that request threads keep finding room.
      if (spool_ && queue_.bytes() > queue_.capacity() / 2) {
        if (!from_spool) spill_pending();  // older than anything queued
        spill_queue();
        spool_work = true;
      }
      idle_wait(std::min(retry_at, now + opts_.flush_interval));
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
    if (pending_.empty()) {
      from_spool = false;
      if (spool_work) {
        from_spool = spool_->next_batch(held_, policy_.max_lines());
        if (from_spool) rebuild_pending();
        spool_work = from_spool;
      }
      if (pending_.empty()) {
        if (!acks && !recent_->empty() && sink_->connection_lost()) {
          sink_->close();
          take_back_recent(now);
        } else if (policy_.due(queue_.size(), queue_.oldest(), now)) {
          // Counted but not yet published by its producer: look again soon.
          pending_queued_ = queue_.peek(pending_, policy_.max_lines());
          if (pending_queued_ == 0) {
            idle_wait(now + Millis(1));
            continue;
          }
        } else {
          if (spool_ && now >= next_scan) {
            spool_work = true;
            next_scan = now + Millis(10000);
            continue;
          }
          idle_wait(now + policy_.wait_for(queue_.size(), queue_.oldest(), now));
          continue;
        }
      }
    }

    SendResult res = send_guarded(pending_);
    now = Clock::now();
    acks = sink_->acknowledges();
    if (res == SendResult::Ok) {
      {
        std::lock_guard<std::mutex> lock(stats_mu_);
        stats_.sent += delivered_of(pending_);
        if (from_spool) stats_.replayed += pending_.size();
      }
      if (from_spool) spool_->commit();
      if (!acks) remember_sent(pending_, now);  // copied into the resend store
      let_pending_go();
      from_spool = false;  // what goes next (resent lines, say) is not the spool's
      if (down) {
        report_(Level::Notice, "DE0003: " + sink_->describe() + ": delivering again after " +
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
              (res == SendResult::TryLater
                   ? "DE0002: " + sink_->describe() + ": peer answered TRY_LATER"
                   : "DE0001: " + sink_->describe() + ": delivery failed: " + last_error_) +
                  "; retrying in up to " + std::to_string(backoff_.current_ceiling().count()) +
                  " ms, " + std::to_string(queue_.size()) + " lines queued");
    }
    down = true;
    if (from_spool) {
      spool_->rollback();
      let_pending_go();
      from_spool = false;
    }
    if (res == SendResult::Failed && !acks) take_back_recent(now);
  }
  finish(from_spool, down);
}

void Shipper::finish(bool from_spool, bool down) {
  if (from_spool) {
    spool_->rollback();
    let_pending_go();
  }
  const Peer peer = down ? Peer::Failing : Peer::Answering;
  if (spool_)
    finish_to_spool(peer);
  else
    finish_without_spool();
  try {
    sink_->close();
  } catch (...) {
  }
  report_drops(true);
}

// Everything goes to local disk first, then the spool is delivered from
// until the deadline: what is not delivered by then stays spooled for the
// next child, so a hung peer costs no line.
void Shipper::finish_to_spool(Peer peer) {
  spill_pending();
  // Spooling comes first even with no time left to deliver (an exit
  // deadline of 0); a spool on a slow disk still gets only a little more
  // (within ChildSenders::kGrace), and what does not fit is counted lost.
  // When the deadline started long before the stop (child_stopping, then a
  // threaded child's slow last requests), the spill still gets its grace.
  spill_queue(std::max(stop_.deadline(), Clock::now()) + kSpillGrace);
  spool_->seal();
  // While the peer is failing, another attempt would only wait out the
  // deadline: the next child replays.
  while (peer == Peer::Answering && Clock::now() < stop_.deadline()) {
    std::vector<Record> batch;
    if (!spool_->next_batch(batch, policy_.max_lines())) break;
    const Batch views = views_of(batch);
    if (send_guarded(views) != SendResult::Ok) {
      spool_->rollback();
      break;
    }
    spool_->commit();
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.sent += delivered_of(views);
    stats_.replayed += batch.size();
  }
  spool_->release();
}

// Delivers until the deadline, even to a peer that was failing (it may just
// have come back, and there is no spool to fall back on); every line still
// held then is counted lost.
void Shipper::finish_without_spool() {
  while (Clock::now() < stop_.deadline()) {
    if (pending_.empty()) {
      pending_queued_ = queue_.peek(pending_, policy_.max_lines());
      if (pending_queued_ == 0) break;
    }
    if (send_guarded(pending_) != SendResult::Ok) break;
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      stats_.sent += delivered_of(pending_);
    }
    let_pending_go();
  }
  // A datagram sink may have sent the front of the batch it failed on.
  size_t went = std::min(sink_->sent_of_failed(pending_), pending_.size());
  if (went > 0) {
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      stats_.sent += went;
    }
    // The queue's room for them goes back with the rest, below.
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(went));
  }
  spill_pending();
  spill_queue();
}

void Shipper::set_exit_deadline() {
  if (started_) stop_.set_deadline(Clock::now() + opts_.exit_deadline);
}

void Shipper::begin_stop() {
  if (started_) stop_.request(Clock::now() + opts_.exit_deadline);
}

bool Shipper::wait_stopped(Millis grace) {
  if (!started_) return true;
  // A deadline that passed before the stop was asked for (see
  // set_exit_deadline) still leaves the sender `grace` to spool and report.
  return stop_.wait_finished(std::max(stop_.deadline(), stop_.requested_at()) + grace);
}

void Shipper::join() {
  if (!started_) return;
  if (thread_.joinable()) thread_.join();
  started_ = false;
}

void Shipper::stop() {
  if (!started_) return;
  begin_stop();
  // The sender bounds itself by the deadline; it is joined in any case, since
  // its object is about to go.
  wait_stopped(Millis(1000));
  join();
}

}  // namespace delivery
