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
#include <stdexcept>
#include <system_error>

#include "drop_ledger.h"
#include "peer_rotation.h"
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

size_t RecordQueue::peek(Batch& out, size_t max, size_t max_bytes) {
  // Room first: nothing below throws, so a view is never taken from the
  // queue without being handed out (and released later).
  max = std::min(max, size());
  out.reserve(out.size() + max);
  size_t n = 0;
  size_t bytes = 0;
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
    const size_t record_bytes = size_t{hdr.tag_len} + hdr.body_len;
    if (n > 0 && bytes + record_bytes > max_bytes) break;
    bytes += record_bytes;
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
// How often spool files left by other children are looked for when nothing
// says there are any: a crashed child's lines do not wait for an outage.
constexpr Millis kSpoolScanInterval{10000};
// Isolating a batch a working peer refuses: calls that broke on the same
// records (while the peer answered a probe after each) before they are
// split in two, and before a lone line is dropped.
constexpr unsigned kRefusalsBeforeSplit = 2;
constexpr unsigned kRefusalsBeforeDrop = 3;
// Failures are reported when they start and every this many after.
constexpr unsigned kFailuresBetweenReports = 10;
// A record the queue counted but its producer has not published yet is
// looked for again this soon.
constexpr Millis kUnpublishedRecheck{1};

std::string name_of(const Peers& peers, const ShipperOptions& o) {
  if (!o.name.empty()) return o.name;
  return peers.empty() ? std::string("(no peer)") : peers.front()->describe();
}

Peers one_peer(std::unique_ptr<Sink> sink) {
  Peers peers;
  peers.push_back(std::move(sink));
  return peers;
}

bool due_report(unsigned failures_in_a_row) {
  return failures_in_a_row == 1 || failures_in_a_row % kFailuresBetweenReports == 0;
}

}  // namespace

Shipper::Shipper(std::unique_ptr<Sink> sink, ShipperOptions opts, Reporter report)
    : Shipper(one_peer(std::move(sink)), std::move(opts), std::move(report)) {}

Shipper::Shipper(Peers peers, ShipperOptions opts, Reporter report)
    : peers_(std::move(peers)),
      opts_(std::move(opts)),
      name_(name_of(peers_, opts_)),
      report_(std::move(report)),
      queue_(opts_.queue_bytes),
      policy_(std::max<size_t>(opts_.batch_lines, 1), opts_.flush_interval,
              std::max<size_t>(opts_.batch_bytes, 1)),
      rotation_(std::make_unique<PeerRotation>(peers_.size(), opts_.retry_min, opts_.retry_max,
                                               opts_.failover)),
      pacer_(std::make_unique<ReplayPacer>(opts_.replay_lines_per_second)),
      recent_(std::make_unique<ResendStore>()) {
  if (peers_.empty() || !peers_.front())
    throw std::invalid_argument(name_ + ": no peer to send to");
  // Room for the spares now: keeping one never allocates (nor throws) later.
  spare_.reserve(std::min<size_t>(policy_.max_lines(), 1024));
  queue_.set_wake_threshold(policy_.max_lines());
  for (auto& peer : peers_) peer->attach(&stop_);
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
      report_(Level::Error, "DE0009: " + name_ + ": the sender failed (" + failure +
                                "); lines it held are counted lost");
      rebuild_pending();        // whatever step failed, its views are whole again
      give_back_spool_batch();  // still in its file
      finish_without_spool();   // the deadline has passed: counts all
      report_drops(true);
    } catch (...) {
    }
  }
  // The final figures (the gauges no longer matter: the slot is given up).
  publish_status(SenderState::Up, SlotUse::Release);
  stop_.mark_finished();
}

SenderState Shipper::state_now() const {
  if (down_) return SenderState::Failing;
  if (pending_from_spool_ || spool_work_) return SenderState::SendingSpool;
  return SenderState::Up;
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
  set(Counter::DroppedRejected, s.rejected);
  set(Counter::Spooled, s.spooled);
  set(Counter::Replayed, s.replayed);
  set(Counter::Resent, s.resent);
  set(Counter::Unconfirmed, s.unconfirmed);
  uint64_t connections = 0;
  for (const auto& peer : peers_) connections += peer->connections();
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
  if (spool_ && (spool_moved || now - spool_bytes_at_ >= kSpoolScanInterval)) {
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
    report_(Level::Error,
            "DE0004: " + name_ + ": dropped " + std::to_string(q - reported_queue_drops_) +
                " lines because the queue (" + std::to_string(opts_.queue_bytes) +
                " bytes) was full; " + std::to_string(q) + " dropped by this child in all");
    reported_queue_drops_ = q;
  }
  if (s > reported_spool_drops_) {
    report_(Level::Error, "DE0005: " + name_ + ": dropped " +
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
    report_(Level::Error, id + name_ + ": " + std::to_string(l - reported_lost_) + why +
                              std::to_string(l) + " lost by this child in all");
    reported_lost_ = l;
  }
  uint64_t r, u;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    r = stats_.rejected;
    u = stats_.unconfirmed;
  }
  if (r > reported_rejected_) {
    report_(Level::Error,
            "DE0025: " + name_ + ": dropped " + std::to_string(r - reported_rejected_) +
                " lines that the peer refused on " + std::to_string(kRefusalsBeforeDrop) +
                " calls each while it answered others (the last one " +
                std::to_string(last_rejected_bytes_) +
                " bytes long: over the peer's frame limit, or bytes it cannot take); " +
                std::to_string(r) + " dropped by this child in all");
    reported_rejected_ = r;
  }
  if (u > reported_unconfirmed_) {
    const auto seconds = [](Millis m) { return std::to_string(m.count() / 1000); };
    report_(Level::Warning,
            "DE0028: " + name_ + ": " + std::to_string(u - reported_unconfirmed_) + " lines sent " +
                seconds(opts_.resend_window) + " to " +
                seconds(std::max(opts_.resend_window, opts_.resend_unacked_max_age)) +
                " s before a connection died were acknowledged by the peer's kernel and are not "
                "sent again: delivered unless the receiver had stopped reading them (an "
                "acknowledging transport, relp://, confirms each line); " +
                std::to_string(u) + " by this child in all");
    reported_unconfirmed_ = u;
  }
  // On this Shipper's schedule, not the ledger's own.
  if (opts_.ledger)
    for (const auto& [level, text] : opts_.ledger->take(now, true)) report_(level, text);
}

bool Shipper::spool(const Batch& batch, SpoolAttempt when) {
  if (batch.empty()) return true;
  if (!spool_ || (when == SpoolAttempt::WhenWritable && !spool_->writable(Clock::now())))
    return false;
  if (!spool_->append(batch)) return false;
  std::lock_guard<std::mutex> lock(stats_mu_);
  stats_.spooled += batch.size();
  return true;
}

bool Shipper::spill_pending(SpoolAttempt when) {
  if (pending_.empty()) return true;
  if (!spool(pending_, when)) {
    if (when == SpoolAttempt::WhenWritable) return false;
    lost_.fetch_add(pending_.size(), std::memory_order_relaxed);
  }
  let_pending_go();
  return true;
}

void Shipper::spill_queue(Clock::time_point until, SpoolAttempt when) {
  // A spool batch in flight is in its file already; the queue's lines must
  // never join it (they would go back with it, uncounted).
  give_back_spool_batch();
  // The batch in flight is older, and the queue gives room back oldest
  // first: it goes first.
  if (pending_queued_ > 0 && !spill_pending(when)) return;
  Batch chunk;
  size_t n;
  // In batches as the peer takes them: a chunk the spool refuses stays in
  // flight as one.
  while ((n = queue_.peek(chunk, policy_.max_lines(), policy_.max_bytes())) > 0) {
    bool keep = false;
    try {
      if (Clock::now() >= until) {
        lost_.fetch_add(n, std::memory_order_relaxed);
      } else if (!spool(chunk, when)) {
        if (when == SpoolAttempt::Regardless)
          lost_.fetch_add(n, std::memory_order_relaxed);
        else
          keep = true;
      }
    } catch (...) {
      // Counted, and their room given back, before the failure goes on up
      // (to run_guarded, which counts the rest).
      lost_.fetch_add(n, std::memory_order_relaxed);
      queue_.release(n);
      throw;
    }
    if (keep) {
      // The spool fails (a full disk): these lines, and the queue behind
      // them, wait in memory; only what the queue cannot hold is dropped.
      pending_.insert(pending_.end(), chunk.begin(), chunk.end());
      pending_queued_ += n;
      return;
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
  send_limit_ = 0;
  refused_calls_ = 0;
}

void Shipper::let_prefix_go(size_t n) {
  if (n >= pending_.size()) {
    let_pending_go();
    return;
  }
  // pending_ is held_'s views, then the queue's: the front may take some
  // of each.
  const size_t from_held = std::min(n, held_.size());
  const size_t from_queue = n - from_held;
  const auto queued_front = pending_.begin() + static_cast<std::ptrdiff_t>(held_.size());
  pending_.erase(queued_front, queued_front + static_cast<std::ptrdiff_t>(from_queue));
  queue_.release(from_queue);
  pending_queued_ -= from_queue;
  for (size_t i = 0; i < from_held; ++i) keep_spare(std::move(held_[i]));
  held_.erase(held_.begin(), held_.begin() + static_cast<std::ptrdiff_t>(from_held));
  rebuild_pending();
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
  // A different batch now: its isolation starts over.
  send_limit_ = 0;
  refused_calls_ = 0;
}

void Shipper::give_back_spool_batch() {
  if (!pending_from_spool_) return;
  spool_->rollback();
  spool_->release();
  let_pending_go();
  pending_from_spool_ = false;
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
  size_t unacked = current().unacknowledged_at_loss();
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
  // The lines before those, still kept: the peer's kernel took them, and
  // whether the peer read them no one can tell from here.
  size_t unconfirmed = 0;
  while (unconfirmed < keep_from && now - recent_->sent_at(keep_from - 1 - unconfirmed) <= max_age)
    ++unconfirmed;
  std::vector<Record> again;
  again.reserve(resent + held_.size());
  recent_->take_from(keep_from, again, spare_);
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.resent += resent;
    stats_.unconfirmed += unconfirmed;
  }
  // Lines taken back are not the spool's: a spool batch in flight goes back
  // to its file rather than be committed with them.
  give_back_spool_batch();
  hold_in_front(std::move(again));
}

size_t Shipper::delivered_of(const Sink& sink, const Batch& batch) const {
  return batch.size() - std::min(batch.size(), sink.given_up_in_last_send());
}

SendResult Shipper::send_guarded(Sink& sink, const Batch& batch) {
  std::string error;
  SendResult res;
  try {
    res = sink.send(batch, error);
  } catch (const std::exception& e) {
    error = e.what();
    res = SendResult::Failed;
  } catch (...) {
    error = "unknown exception";
    res = SendResult::Failed;
  }
  if (res == SendResult::Failed || res == SendResult::Unreachable) {
    try {
      sink.close();
    } catch (...) {
    }
  }
  last_error_ = error;
  return res;
}

void Shipper::run() {
  spool_work_ = spool_ != nullptr;
  next_scan_ = Clock::now() + kSpoolScanInterval;
  if (spool_) spool_->report_unadopted();
  while (!stop_.requested()) step();
  finish();
}

void Shipper::step() {
  const auto now = Clock::now();
  // Read each time: a sink may change kind (a unix path that became a
  // stream socket and back). What went on the stream it left may not have
  // been read: it goes again, the new way.
  if (current().acknowledges() && !recent_->empty()) take_back_recent(now);
  report_drops(false);
  publish_status(state_now());
  const std::optional<size_t> peer = rotation_->pick(now);
  if (!peer) {
    wait_for_a_peer(now);
    return;
  }
  keep_room(now);
  if (pending_.empty() && !take_next_batch(now)) return;
  attempt(*peer);
}

void Shipper::wait_for_a_peer(Clock::time_point now) {
  // Spill early enough that request threads keep finding room. A spool
  // that just failed a write is left alone for its backoff: lines wait in
  // the queue meanwhile, and what does not fit there is counted.
  if (spool_ && queue_.bytes() > queue_.capacity() / 2 && spool_->writable(now)) {
    if (spill_pending()) spill_queue();  // the batch in flight is older than the queue
    spool_work_ = true;
  }
  idle_wait(std::min(rotation_->next_retry(), now + opts_.flush_interval));
}

void Shipper::keep_room(Clock::time_point now) {
  if (!spool_) return;
  if (down_ && spool_->writing()) {
    // What was spilled during the outage is older than anything queued:
    // make it replayable so that it goes first.
    spool_->seal();
    spool_work_ = true;
  } else if (!down_ && queue_.bytes() > queue_.capacity() / 4 * 3 && spool_->writable(now)) {
    // Up but slower than the traffic (or busy replaying): spill before
    // request threads find the queue full; the spool replays in order.
    spill_queue();
    spool_->seal();
    spool_work_ = true;
  }
}

bool Shipper::take_next_batch(Clock::time_point now) {
  pending_from_spool_ = false;
  // Replay, paced: batches of a full batch's lines or a second's worth,
  // whichever is fewer, so that pacing does not make them small.
  const size_t replay_lines =
      pacer_->limited() ? std::min<size_t>(policy_.max_lines(),
                                           std::max<uint64_t>(opts_.replay_lines_per_second, 1))
                        : policy_.max_lines();
  if (spool_work_ && pacer_->allowance(replay_lines, now) >= replay_lines) {
    pending_from_spool_ = spool_->next_batch(held_, replay_lines, policy_.max_bytes());
    if (pending_from_spool_) {
      pacer_->spend(held_.size());
      rebuild_pending();
      return true;
    }
    spool_work_ = false;
  }
  if (!current().acknowledges() && !recent_->empty() && current().connection_lost()) {
    current().close();
    take_back_recent(now);
    if (!pending_.empty()) return true;
  }
  if (policy_.due(queue_.size(), queue_.oldest(), now)) {
    pending_queued_ = queue_.peek(pending_, policy_.max_lines(), policy_.max_bytes());
    if (pending_queued_ > 0) return true;
    // Counted but not yet published by its producer: look again soon.
    idle_wait(now + kUnpublishedRecheck);
    return false;
  }
  if (spool_ && now >= next_scan_) {
    spool_work_ = true;
    next_scan_ = now + kSpoolScanInterval;
    return false;
  }
  Clock::time_point wake = now + policy_.wait_for(queue_.size(), queue_.oldest(), now);
  if (spool_work_) wake = std::min(wake, pacer_->when(replay_lines));
  idle_wait(wake);
  return false;
}

void Shipper::attempt(size_t peer) {
  Sink& sink = *peers_[peer];
  Batch part;
  const bool whole = send_limit_ == 0 || send_limit_ >= pending_.size();
  if (!whole)
    part.assign(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(send_limit_));
  const Batch& batch = whole ? pending_ : part;
  const SendResult res = send_guarded(sink, batch);
  const auto now = Clock::now();
  if (res == SendResult::Ok)
    delivered(peer, batch, now);
  else if (res == SendResult::TryLater)
    refused(peer, now);
  else
    broke(peer, res, batch, now);
}

void Shipper::delivered(size_t peer, const Batch& part, Clock::time_point now) {
  Sink& sink = *peers_[peer];
  const size_t n = part.size();
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.sent += delivered_of(sink, part);
    if (pending_from_spool_) stats_.replayed += n;
  }
  if (pending_from_spool_) spool_->commit(n);
  if (!sink.acknowledges()) remember_sent(part, now);
  let_prefix_go(n);
  send_limit_ = 0;  // the rest goes whole, and is isolated afresh if need be
  refused_calls_ = 0;
  probed_ = false;
  if (pending_.empty()) pending_from_spool_ = false;
  rotation_->succeeded(peer);
  if (peer != current_ || !ever_delivered_) {
    // current_ is the peer that took lines last; before any did, the first.
    const size_t from = ever_delivered_ ? current_ : 0;
    if (peer < from)
      report_(Level::Notice, "DE0027: " + name_ + ": now sending to " + sink.describe() +
                                 " again (the preferred peer answers)");
    else if (peer > from)
      report_(Level::Warning, "DE0026: " + name_ + ": now sending to " + sink.describe() +
                                  " (failover from " + peers_[from]->describe() + ")");
    // The connection to the peer left behind is not kept idle.
    if (peer != current_) {
      try {
        peers_[current_]->close();
      } catch (...) {
      }
    }
    current_ = peer;
    ever_delivered_ = true;
  }
  if (down_) {
    report_(Level::Notice, "DE0003: " + name_ + ": delivering again after " +
                               std::to_string(failures_in_a_row_) + " failed attempts");
    down_ = false;
    if (spool_) {
      spool_->seal();
      spool_work_ = true;
    }
  }
  failures_in_a_row_ = 0;
}

void Shipper::report_failure(size_t peer, SendResult res, const std::string& next_step,
                             Reporting when) {
  if (when == Reporting::WhenDue && !due_report(failures_in_a_row_)) return;
  const std::string what =
      res == SendResult::TryLater
          ? "DE0002: " + name_ + ": " + peers_[peer]->describe() + " answered TRY_LATER"
          : "DE0001: " + name_ + ": delivery failed: " + last_error_;
  report_(Level::Warning,
          what + "; " + next_step + ", " + std::to_string(queue_.size()) + " lines queued");
}

void Shipper::refused(size_t peer, Clock::time_point now) {
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_.failures;
  }
  ++failures_in_a_row_;
  const PeerRotation::Verdict verdict = rotation_->try_later(peer, now);
  std::optional<size_t> next = rotation_->pick(now);
  const std::string why = verdict == PeerRotation::Verdict::FailOver
                              ? "it has answered so for too long"
                              : "it still answers so";
  std::string step =
      verdict == PeerRotation::Verdict::Wait
          ? "asking it again in up to " + std::to_string(rotation_->ceiling(peer).count()) + " ms"
      : next ? why + ": sending to " + peers_[*next]->describe() + " now"
             : why + ", and every peer backs off: retrying in up to " +
                   std::to_string(rotation_->ceiling(peer).count()) + " ms";
  // Giving up on a peer is always said; a run of answers now and then.
  report_failure(
      peer, SendResult::TryLater, step,
      verdict == PeerRotation::Verdict::FailOver ? Reporting::Always : Reporting::WhenDue);
  down_ = true;
  give_back_spool_batch();
}

void Shipper::broke(size_t peer, SendResult res, const Batch& part, Clock::time_point now) {
  Sink& sink = *peers_[peer];
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_.failures;
  }
  if (res == SendResult::Failed && isolate_refused(peer, part.size())) return;
  probed_ = false;
  ++failures_in_a_row_;
  rotation_->failed(peer, now);
  std::optional<size_t> next = rotation_->pick(now);
  report_failure(
      peer, res,
      next && *next != peer
          ? "sending to " + peers_[*next]->describe() + " now"
          : "retrying in up to " + std::to_string(rotation_->ceiling(peer).count()) + " ms");
  down_ = true;
  give_back_spool_batch();
  if (!sink.acknowledges()) take_back_recent(now);
}

bool Shipper::isolate_refused(size_t peer, size_t sent) {
  Sink& sink = *peers_[peer];
  // Only a call the peer broke off (closed the connection on it, answered
  // it with an error) may be the batch's fault; a timeout is the peer's.
  if (!sink.last_failure_was_refusal()) return false;
  // It counts against the batch only on a connection that had just answered
  // an empty call: behind a load balancer a broken call and an answered
  // probe may reach different collectors, but one connection reaches one.
  if (probed_) ++refused_calls_;
  std::string why;
  Probe probe;
  try {
    probe = sink.probe(why);  // leaves its connection for the next call
  } catch (...) {
    probe = Probe::Silent;
  }
  probed_ = probe == Probe::Answers;
  if (!probed_) return false;  // the peer is in trouble, not the batch
  // The peer works: no backoff; the batch is split until the line at fault
  // is alone, and that line goes after a few more refusals.
  rotation_->succeeded(peer);
  if (sent > 1) {
    if (refused_calls_ >= kRefusalsBeforeSplit) {
      send_limit_ = (sent + 1) / 2;
      refused_calls_ = 0;
    }
    return true;
  }
  if (refused_calls_ < kRefusalsBeforeDrop) return true;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_.rejected;
  }
  last_rejected_bytes_ = pending_.front().body.size();
  if (pending_from_spool_) spool_->commit(1);
  let_prefix_go(1);
  send_limit_ = 0;
  refused_calls_ = 0;
  if (pending_.empty()) pending_from_spool_ = false;
  return true;
}

void Shipper::finish() {
  give_back_spool_batch();
  const Peer peer = down_ ? Peer::Failing : Peer::Answering;
  if (spool_)
    finish_to_spool(peer);
  else
    finish_without_spool();
  settle_peers();
  for (auto& p : peers_) try {
      p->close();
    } catch (...) {
    }
  report_drops(true);
}

void Shipper::settle_peers() {
  std::vector<Record> unconfirmed;
  for (auto& p : peers_) {
    try {
      p->settle(unconfirmed);
    } catch (...) {  // whatever it could not say is not counted: it said nothing
    }
  }
  if (unconfirmed.empty()) return;
  // Counted as sent already, they are counted again: spooled for the next
  // child to send again, or lost.
  if (spool(views_of(unconfirmed), SpoolAttempt::Regardless))
    spool_->seal();
  else
    lost_.fetch_add(unconfirmed.size(), std::memory_order_relaxed);
}

// Everything goes to local disk first, then the spool is delivered from
// until the deadline: what is not delivered by then stays spooled for the
// next child, so a hung peer costs no line.
void Shipper::finish_to_spool(Peer peer) {
  // A spool that failed a write a moment ago is tried once more all the
  // same: this is the last chance for what the child holds.
  spill_pending(SpoolAttempt::Regardless);
  // Spooling comes first even with no time left to deliver (an exit
  // deadline of 0); a spool on a slow disk still gets only a little more
  // (within ChildSenders::kGrace), and what does not fit is counted lost.
  // When the deadline started long before the stop (child_stopping, then a
  // threaded child's slow last requests), the spill still gets its grace.
  spill_queue(std::max(stop_.deadline(), Clock::now()) + kSpillGrace, SpoolAttempt::Regardless);
  spool_->seal();
  // While every peer is failing, another attempt would only wait out the
  // deadline: the next child replays.
  while (peer == Peer::Answering && Clock::now() < stop_.deadline()) {
    const std::optional<size_t> to = rotation_->pick(Clock::now());
    if (!to) break;
    std::vector<Record> batch;
    if (!spool_->next_batch(batch, policy_.max_lines(), policy_.max_bytes())) break;
    const Batch views = views_of(batch);
    Sink& sink = *peers_[*to];
    if (send_guarded(sink, views) != SendResult::Ok) {
      spool_->rollback();
      break;
    }
    spool_->commit_all();
    std::lock_guard<std::mutex> lock(stats_mu_);
    stats_.sent += delivered_of(sink, views);
    stats_.replayed += batch.size();
  }
  spool_->release();
}

// Delivers until the deadline, even to a peer that was failing (it may just
// have come back, and there is no spool to fall back on); every line still
// held then is counted lost.
void Shipper::finish_without_spool() {
  Sink& sink = current();
  while (Clock::now() < stop_.deadline()) {
    if (pending_.empty()) {
      pending_queued_ = queue_.peek(pending_, policy_.max_lines(), policy_.max_bytes());
      if (pending_queued_ == 0) break;
    }
    if (send_guarded(sink, pending_) != SendResult::Ok) break;
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      stats_.sent += delivered_of(sink, pending_);
    }
    let_pending_go();
  }
  // A datagram sink may have sent the front of the batch it failed on.
  size_t went = std::min(sink.sent_of_failed(pending_), pending_.size());
  if (went > 0) {
    {
      std::lock_guard<std::mutex> lock(stats_mu_);
      stats_.sent += went;
    }
    // The queue's room for them goes back with the rest, below.
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(went));
  }
  // No spool (or a sender that failed): what is left is counted lost.
  spill_pending(SpoolAttempt::Regardless);
  spill_queue(Clock::time_point::max(), SpoolAttempt::Regardless);
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

void Shipper::interrupt_sinks() {
  if (!started_) return;
  for (auto& peer : peers_) peer->interrupt();
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
