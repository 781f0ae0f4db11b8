#include "syslog_transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <thread>

#include "relp_sink.h"
#include "syslog_format.h"

namespace syslogmod {
namespace {

using SteadyClock = std::chrono::steady_clock;

}  // namespace

// ---- DatagramSender ----

DatagramSender::DatagramSender(SocketAddress address) : address_(std::move(address)) {}

DatagramSender::~DatagramSender() {
  if (fd_ >= 0) ::close(fd_);
}

int DatagramSender::open() {
  if (fd_ < 0) {
    fd_ = ::socket(address_.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return errno;
  }
  if (::connect(fd_, address_.get(), address_.length) == 0) return 0;
  return errno;
}

bool DatagramSender::receiver_gone(int err) {
  // What a connected unix datagram socket says once the receiving socket was
  // closed (ECONNREFUSED on the first send, ENOTCONN after) or before it was
  // ever connected.
  return err == ECONNREFUSED || err == ENOTCONN || err == ECONNRESET || err == EPIPE ||
         err == EDESTADDRREQ || err == ENOENT;
}

DatagramSender::Result DatagramSender::send(std::string_view msg, int& err,
                                            SteadyClock::time_point wait_until,
                                            const delivery::StopSignal* stop) {
  err = 0;
  if (fd_ < 0) {
    err = EBADF;
    return Result::Failed;
  }
  bool reconnected = false;
  bool refused = false;
  for (;;) {
    ssize_t n = ::send(fd_, msg.data(), msg.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) {
      // err stays ECONNREFUSED when an earlier datagram was refused.
      err = refused ? ECONNREFUSED : 0;
      return Result::Sent;
    }
    err = errno;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
      auto until = stop ? stop->cap(wait_until) : wait_until;
      if (SteadyClock::now() >= until) return Result::NotNow;
      if (err == ENOBUFS) {
        // No wakeup to wait for: nap briefly.
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      } else {
        delivery::wait_for(fd_, POLLOUT, stop, until);
      }
      continue;
    }
    if (err == ECONNREFUSED && address_.family() != AF_UNIX && !refused) {
      // A UDP receiver refused an earlier datagram (ICMP port unreachable):
      // the error is the earlier one's, this one was not sent yet.
      refused = true;
      continue;
    }
    if (address_.family() == AF_UNIX && receiver_gone(err)) {
      if (reconnected) return Result::NotNow;
      reconnected = true;
      // A datagram socket may connect again, to the new receiving socket.
      if (::connect(fd_, address_.get(), address_.length) == 0) continue;
      err = errno;
      return err == EPROTOTYPE ? Result::StreamSocket : Result::NotNow;
    }
    // EMSGSIZE and the like: this line will never go.
    if (err == EMSGSIZE || err == EINVAL || err == ENOTSOCK) return Result::Failed;
    return Result::NotNow;
  }
}

size_t DatagramSender::send_burst(const delivery::Batch& batch, size_t from) {
  if (fd_ < 0 || from >= batch.size()) return 0;
  size_t n = std::min(batch.size() - from, kBurst);
  if (n < 2) return 0;  // one line: send() is as cheap, and says why it failed
  if (msgs_.empty()) {
    // Once: every header points at its own iovec; only the kernel writes
    // to them after this (msg_len), and only the iovecs change per burst.
    msgs_.assign(kBurst, mmsghdr{});
    iov_.resize(kBurst);
    for (size_t k = 0; k < kBurst; ++k) {
      msgs_[k].msg_hdr.msg_iov = &iov_[k];
      msgs_[k].msg_hdr.msg_iovlen = 1;
    }
  }
  for (size_t k = 0; k < n; ++k) {
    const std::string_view body = batch[from + k].body;
    iov_[k].iov_base = const_cast<char*>(body.data());
    iov_[k].iov_len = body.size();
  }
  int sent;
  do {
    sent = ::sendmmsg(fd_, msgs_.data(), static_cast<unsigned>(n), MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  return sent > 0 ? static_cast<size_t>(sent) : 0;
}

// ---- DatagramAddresses ----

DatagramAddresses DatagramAddresses::unix_path(SocketAddress address) {
  DatagramAddresses a;
  a.is_unix_ = true;
  a.unix_ = std::move(address);
  return a;
}

DatagramAddresses DatagramAddresses::udp(std::string host, uint16_t port,
                                         std::vector<SocketAddress> known) {
  DatagramAddresses a;
  a.host_ = std::move(host);
  a.port_ = port;
  a.known_ = std::move(known);
  return a;
}

bool DatagramAddresses::lookup(std::vector<SocketAddress>& out, std::string& error,
                               const delivery::StopSignal* stop, SteadyClock::time_point until) {
  out.clear();
  if (is_unix_) {
    out.push_back(unix_);
    return true;
  }
  if (resolved_once_ || known_.empty()) {
    std::vector<SocketAddress> fresh;
    if (resolve(host_, port_, SOCK_DGRAM, fresh, error, stop, until)) known_.swap(fresh);
    if (known_.empty()) return false;
  }
  resolved_once_ = true;
  out = known_;
  std::stable_partition(out.begin(), out.end(),
                        [&](const SocketAddress& a) { return a.text != failed_; });
  return true;
}

// ---- DatagramSink ----

namespace {

// Errors after which the socket is dropped, so that the next attempt looks
// the addresses up again: the route, the address or the receiver is gone,
// not merely busy.
bool socket_is_stale(int err) {
  return err == ENETUNREACH || err == EHOSTUNREACH || err == EADDRNOTAVAIL || err == EDESTADDRREQ ||
         err == ENOTCONN || err == ECONNREFUSED || err == ENOENT || err == EPROTOTYPE ||
         err == EBADF;
}

}  // namespace

DatagramSink::DatagramSink(DatagramAddresses where, std::string who, Millis stall_timeout,
                           std::function<void(int)> on_drop)
    : where_(std::move(where)),
      who_(std::move(who)),
      stall_timeout_(stall_timeout),
      on_drop_(std::move(on_drop)) {}

bool DatagramSink::connect(std::string& error) {
  std::vector<SocketAddress> addrs;
  if (!where_.lookup(addrs, error, stop_, SteadyClock::now() + stall_timeout_)) return false;
  found_stream_ = false;
  for (const SocketAddress& a : addrs) {
    auto sender = std::make_unique<DatagramSender>(a);
    int err = sender->open();
    if (err == 0) {
      sender_ = std::move(sender);
      return true;
    }
    if (err == EPROTOTYPE) found_stream_ = true;
    error = "connect to " + a.text + ": " + errno_string(err);
  }
  return false;
}

delivery::SendResult DatagramSink::send(const delivery::Batch& batch, std::string& error) {
  size_t i = resume_.skip(batch);
  given_up_ = 0;
  if (!sender_ && !connect(error)) return delivery::SendResult::Failed;  // resume_ stays
  while (i < batch.size()) {
    size_t went = sender_->send_burst(batch, i);
    if (went > 0) {
      i += went;
      continue;
    }
    int err = 0;
    auto until = SteadyClock::now() + stall_timeout_;
    switch (sender_->send(batch[i].body, err, until, stop_)) {
      case DatagramSender::Result::Sent:
        // An earlier datagram was refused: counted as dropped, so one line
        // fewer is counted as sent.
        if (err && on_drop_) {
          on_drop_(err);
          ++given_up_;
        }
        ++i;
        break;
      case DatagramSender::Result::Failed:
        if (on_drop_) on_drop_(err);  // given up: it can never go
        ++given_up_;
        ++i;
        break;
      case DatagramSender::Result::StreamSocket:
      case DatagramSender::Result::NotNow:
        resume_.set(batch, i);
        // Failed (not TryLater) so that the Shipper says what went wrong
        // and backs off.
        error =
            err == EAGAIN || err == EWOULDBLOCK
                ? "the receiver took nothing for " + std::to_string(stall_timeout_.count()) + " ms"
                : "send to " + sender_->address().text + ": " + errno_string(err);
        if (socket_is_stale(err)) {
          found_stream_ = err == EPROTOTYPE;
          where_.failed(sender_->address());
          sender_.reset();
        }
        return delivery::SendResult::Failed;
    }
  }
  resume_.set(batch, 0);  // all went: a later batch just like it starts afresh
  return delivery::SendResult::Ok;
}

size_t DatagramSink::sent_of_failed(const delivery::Batch& batch) const {
  return resume_.skip(batch);
}

// ---- StreamSink ----

StreamSink::StreamSink(Delimiter delimiter, std::string who, Options opts)
    : delimiter_(delimiter), who_(std::move(who)), opts_(opts) {}

std::unique_ptr<StreamSink> StreamSink::tcp(std::string host, uint16_t port, Framing framing,
                                            std::string who, Options opts) {
  Delimiter d = framing == Framing::Lf ? Delimiter::Lf : Delimiter::OctetCount;
  std::unique_ptr<StreamSink> s(new StreamSink(d, std::move(who), opts));
  s->host_ = std::move(host);
  s->port_ = port;
  return s;
}

std::unique_ptr<StreamSink> StreamSink::tls(std::string host, uint16_t port,
                                            std::shared_ptr<TlsContext> tls, std::string who,
                                            Options opts) {
  std::unique_ptr<StreamSink> s =
      StreamSink::tcp(std::move(host), port, Framing::OctetCounted, std::move(who), opts);
  s->tls_ = std::move(tls);
  return s;
}

std::unique_ptr<StreamSink> StreamSink::unix_stream(SocketAddress address, std::string who,
                                                    Options opts) {
  std::unique_ptr<StreamSink> s(new StreamSink(Delimiter::Nul, std::move(who), opts));
  s->unix_address_ = std::move(address);
  s->is_unix_ = true;
  return s;
}

StreamSink::~StreamSink() { close(); }

void StreamSink::close() {
  if (tls_stream_) tls_stream_->shutdown();
  tls_stream_.reset();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void StreamSink::close_lost(size_t just_written) {
  int queued = 0;
  // Bytes the peer has not acknowledged (TCP: written and not acknowledged,
  // which survives a reset) or read (unix).
  unacked_at_loss_ = 0;
  if (fd_ >= 0 && ::ioctl(fd_, SIOCOUTQ, &queued) == 0 && queued > 0 &&
      static_cast<size_t>(queued) > just_written)
    unacked_at_loss_ = static_cast<size_t>(queued) - just_written;
  close();
}

bool StreamSink::connect_to(const SocketAddress& addr, std::string& error) {
  int fd = delivery::connect_stream(addr, stop_, SteadyClock::now() + opts_.connect_timeout, error);
  if (fd < 0) return false;
  if (!is_unix_) {
    // Best effort: a kernel without one of these still delivers.
    int on = 1;
    int idle = static_cast<int>(opts_.keepalive_idle.count() / 1000);
    int interval = static_cast<int>(opts_.keepalive_interval.count() / 1000);
    int count = opts_.keepalive_count;
    unsigned user_timeout = static_cast<unsigned>(opts_.user_timeout.count());
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof user_timeout);
  }
  if (tls_) {
    // Nothing goes on this connection before the relay is verified.
    auto stream = std::make_unique<TlsStream>(tls_, fd);
    std::string why;
    if (!stream->handshake(stop_, SteadyClock::now() + opts_.connect_timeout, why)) {
      ::close(fd);
      error = addr.text + ": " + why;
      return false;
    }
    tls_stream_ = std::move(stream);
  }
  fd_ = fd;
  unacked_at_loss_ = 0;
  count_connection();
  return true;
}

bool StreamSink::connect(std::string& error) {
  if (is_unix_) return connect_to(unix_address_, error);
  std::vector<SocketAddress> addrs;
  if (!resolve(host_, port_, SOCK_STREAM, addrs, error, stop_,
               SteadyClock::now() + opts_.connect_timeout))
    return false;
  for (const SocketAddress& a : addrs)
    if (connect_to(a, error)) return true;
  return false;
}

bool StreamSink::write_all(std::string_view data, std::string& error, size_t& off) {
  off = 0;
  auto stall_until = SteadyClock::now() + opts_.stall_timeout;
  while (off < data.size()) {
    short wait = POLLOUT;
    ssize_t n;
    if (tls_stream_) {
      n = tls_stream_->write(data.data() + off, data.size() - off, wait, error);
      if (n < 0) return false;
      if (n == 0) errno = EAGAIN;
    } else {
      n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    if (n > 0) {
      off += static_cast<size_t>(n);
      stall_until = SteadyClock::now() + opts_.stall_timeout;
      continue;
    }
    int err = n < 0 ? errno : tls_stream_ ? EAGAIN : EIO;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      auto until = stop_ ? stop_->cap(stall_until) : stall_until;
      if (SteadyClock::now() >= until) {
        error = "send made no progress for " + std::to_string(opts_.stall_timeout.count()) +
                " ms (or the child is exiting)";
        return false;
      }
      delivery::wait_for(fd_, wait, stop_, until);
      continue;
    }
    error = "send: " + errno_string(err);
    return false;
  }
  return true;
}

delivery::SendResult StreamSink::send(const delivery::Batch& batch, std::string& error) {
  if (fd_ < 0 && !connect(error)) return delivery::SendResult::Unreachable;
  // The batch framed in one buffer, one write.
  size_t need = 0;
  for (const delivery::RecordView& r : batch) need += framed_size(r.body);
  if (need > frames_size_) {
    frames_.reset(new char[need]);  // not zeroed: only what is written is sent
    frames_size_ = need;
  }
  char* at = frames_.get();
  switch (delimiter_) {
    case Delimiter::OctetCount:
      for (const delivery::RecordView& r : batch) at = frame_octet_counted(r.body, at);
      break;
    case Delimiter::Lf:
      for (const delivery::RecordView& r : batch) at = frame_lf_terminated(r.body, at);
      break;
    case Delimiter::Nul:
      for (const delivery::RecordView& r : batch) at = frame_nul_terminated(r.body, at);
      break;
  }
  size_t written = 0;
  if (!write_all(std::string_view(frames_.get(), static_cast<size_t>(at - frames_.get())), error,
                 written)) {
    close_lost(written);
    return delivery::SendResult::Failed;
  }
  // A large batch leaves a large buffer behind; do not keep it forever.
  if (frames_size_ > (4u << 20)) {
    frames_.reset();
    frames_size_ = 0;
  }
  return delivery::SendResult::Ok;
}

bool StreamSink::connection_lost() {
  if (fd_ < 0) return false;
  if (tls_stream_) {
    if (tls_stream_->alive()) return false;
    close_lost(0);
    return true;
  }
  char scratch[4096];
  for (;;) {
    ssize_t n = ::recv(fd_, scratch, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) {  // orderly shutdown by the peer
      close_lost(0);
      return true;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
      close_lost(0);  // reset, timed out (keepalive, TCP_USER_TIMEOUT)
      return true;
    }
    // Syslog receivers do not talk back; whatever this is, read it away so
    // that an end of stream behind it is seen.
    if (::recv(fd_, scratch, sizeof scratch, MSG_DONTWAIT) <= 0) return false;
  }
}

// ---- UnixSink ----

UnixSink::UnixSink(SocketAddress address, Mode start, std::string who, Millis stall_timeout,
                   std::function<void(int)> on_drop)
    : address_(address), mode_(start), who_(who) {
  datagram_ = std::make_unique<DatagramSink>(DatagramAddresses::unix_path(address), who,
                                             stall_timeout, std::move(on_drop));
  StreamSink::Options opts;
  opts.stall_timeout = stall_timeout;
  stream_ = StreamSink::unix_stream(std::move(address), std::move(who), opts);
}

delivery::SendResult UnixSink::send(const delivery::Batch& batch, std::string& error) {
  // The Shipper offers a batch again, unchanged, after a Failed: resume
  // where it stopped, whichever way it goes now.
  size_t from = resume_.skip(batch);
  given_up_ = 0;
  delivery::Batch rest;
  auto part = [&]() -> const delivery::Batch& {
    if (from == 0) return batch;
    rest.assign(batch.begin() + static_cast<std::ptrdiff_t>(from), batch.end());
    return rest;
  };
  // At most one change of kind per send: the path is one or the other.
  for (int turn = 0; turn < 2; ++turn) {
    if (mode_ == Mode::Datagram) {
      const delivery::Batch& lines = part();
      datagram_->attach(stop_);
      delivery::SendResult r = datagram_->send(lines, error);
      given_up_ += datagram_->given_up_in_last_send();
      if (r == delivery::SendResult::Ok) {
        resume_.set(batch, 0);  // as in DatagramSink
        return r;
      }
      from += datagram_->sent_of_failed(lines);
      if (!datagram_->found_stream_socket()) break;
      mode_ = Mode::Stream;  // a stream socket now: the rest goes that way
    } else {
      const delivery::Batch& lines = part();
      stream_->attach(stop_);
      delivery::SendResult r = stream_->send(lines, error);
      if (r == delivery::SendResult::Ok) {
        resume_.set(batch, 0);  // as in DatagramSink
        return r;
      }
      if (stream_->connected()) break;
      // Not a stream socket (any more)? A datagram socket connects to it.
      if (DatagramSender(address_).open() != 0) break;
      mode_ = Mode::Datagram;
    }
  }
  resume_.set(batch, from);
  return delivery::SendResult::Failed;
}

bool UnixSink::connection_lost() { return mode_ == Mode::Stream && stream_->connection_lost(); }

void UnixSink::close() {
  datagram_->close();
  stream_->close();
}

size_t UnixSink::sent_of_failed(const delivery::Batch& batch) const { return resume_.skip(batch); }

namespace {

// The errno of a connect to `addr` (0: accepted), waiting at most `wait`.
int probe(const SocketAddress& addr, int type, Millis wait) {
  int fd = ::socket(addr.family(), type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return errno;
  int err = 0;
  if (::connect(fd, addr.get(), addr.length) != 0) {
    err = errno;
    if (err == EINPROGRESS) {
      pollfd pfd{fd, POLLOUT, 0};
      if (::poll(&pfd, 1, static_cast<int>(wait.count())) == 1) {
        socklen_t len = sizeof err;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      } else {
        err = ETIMEDOUT;
      }
    }
  }
  ::close(fd);
  return err;
}

}  // namespace

std::string unreachable_reason(const SyslogTarget& t, const std::vector<SocketAddress>& addresses,
                               const std::string& resolve_error) {
  switch (t.transport) {
    case Transport::Unix: {
      SocketAddress addr;
      std::string error;
      if (!unix_address(t.path, addr, error)) return "";  // the child reports it
      int err = probe(addr, SOCK_DGRAM, Millis(0));
      if (err == EPROTOTYPE) err = probe(addr, SOCK_STREAM, Millis(0));
      return err != 0 && err != EAGAIN ? errno_string(err) : "";
    }
    case Transport::Udp:
      return addresses.empty() ? resolve_error : "";
    case Transport::Tcp:
    case Transport::Tls:
    case Transport::Relp: {
      std::vector<SocketAddress> addrs;
      std::string error;
      if (!resolve(t.host, t.port, SOCK_STREAM, addrs, error)) return error;
      int err = probe(addrs.front(), SOCK_STREAM, Millis(500));
      return err != 0 ? errno_string(err) : "";
    }
  }
  return "";
}

namespace {
// How long a datagram sink waits for room (receiver full) before a line is
// given up: rsyslogd's imuxsock stalls that long only when it is wedged.
constexpr Millis kDatagramStallTimeout{10000};
// How often drop counts reach the error log.
constexpr Millis kReportInterval{10000};
// A batch: up to this many lines, or what came within the flush interval.
constexpr size_t kStreamBatchLines = 1000;
constexpr size_t kDatagramBatchLines = 256;  // one wakeup of the receiver per burst
constexpr Millis kFlushInterval{50};
constexpr Millis kStreamRetryMin{250}, kStreamRetryMax{5000};
constexpr Millis kDatagramRetryMin{100}, kDatagramRetryMax{2000};
// What the kernel took but the receiver may not have read when a stream
// dies is resent on the next connection (at-least-once). Five seconds
// covers a receiver that hangs for a few seconds before it is restarted.
constexpr Millis kStreamResendWindow{5000};
// Older lines are resent only while the peer's kernel had not acknowledged
// them; a connection holds none older than its TCP_USER_TIMEOUT (30 s)
// plus a stalled send (10 s).
constexpr Millis kStreamUnackedMaxAge{45000};
}  // namespace

delivery::ShipperOptions shipper_preset(SinkKind kind, size_t queue_bytes, Millis exit_deadline) {
  delivery::ShipperOptions o;
  o.queue_bytes = queue_bytes;
  o.flush_interval = kFlushInterval;
  o.exit_deadline = exit_deadline;
  o.report_interval = kReportInterval;
  if (kind == SinkKind::Acknowledged) {
    o.batch_lines = kStreamBatchLines;
    o.retry_min = kStreamRetryMin;
    o.retry_max = kStreamRetryMax;
  } else if (kind == SinkKind::Stream) {
    o.batch_lines = kStreamBatchLines;
    o.retry_min = kStreamRetryMin;
    o.retry_max = kStreamRetryMax;
    o.resend_window = kStreamResendWindow;
    o.resend_window_bytes = queue_bytes;
    o.resend_unacked_max_age = kStreamUnackedMaxAge;
  } else {
    o.batch_lines = kDatagramBatchLines;
    o.retry_min = kDatagramRetryMin;
    o.retry_max = kDatagramRetryMax;
  }
  return o;
}

OpenedSink open_sink(const SyslogTarget& target, Framing tcp_framing,
                     std::vector<SocketAddress>& udp_addresses, const std::string& who,
                     size_t queue_bytes, Millis exit_deadline, std::function<void(int)> on_drop,
                     const TransportSettings& extra) {
  OpenedSink out;
  switch (target.transport) {
    case Transport::Tls: {
      TlsCredentials system_store;
      system_store.peer_name = target.host;
      std::shared_ptr<TlsContext> context =
          TlsContext::make(extra.tls ? *extra.tls : system_store, out.error);
      if (!context) break;
      out.sink =
          StreamSink::tls(target.host, target.port, std::move(context), who, StreamSink::Options());
      out.options = shipper_preset(SinkKind::Stream, queue_bytes, exit_deadline);
      break;
    }
    case Transport::Relp: {
      RelpSink::Options relp;
      relp.window = extra.relp_window;
      out.sink = std::make_unique<RelpSink>(target.host, target.port, who, relp);
      out.options = shipper_preset(SinkKind::Acknowledged, queue_bytes, exit_deadline);
      break;
    }
    case Transport::Tcp:
      out.sink = StreamSink::tcp(target.host, target.port, tcp_framing, who, StreamSink::Options());
      out.options = shipper_preset(SinkKind::Stream, queue_bytes, exit_deadline);
      break;
    case Transport::Unix: {
      SocketAddress addr;
      std::string error;
      if (!unix_address(target.path, addr, error)) break;
      // The kind the path is now; the sink follows it if it changes.
      bool is_stream = DatagramSender(addr).open() == EPROTOTYPE;
      out.sink = std::make_unique<UnixSink>(
          addr, is_stream ? UnixSink::Mode::Stream : UnixSink::Mode::Datagram, who,
          kDatagramStallTimeout, std::move(on_drop));
      out.options = shipper_preset(is_stream ? SinkKind::Stream : SinkKind::Datagram, queue_bytes,
                                   exit_deadline);
      // Whichever kind it starts as, it may become a stream: keep what a
      // stream resends.
      delivery::ShipperOptions as_stream =
          shipper_preset(SinkKind::Stream, queue_bytes, exit_deadline);
      out.options.resend_window = as_stream.resend_window;
      out.options.resend_window_bytes = as_stream.resend_window_bytes;
      out.options.resend_unacked_max_age = as_stream.resend_unacked_max_age;
      if (is_stream) out.note = target.path + " is a stream socket; sending through it";
      break;
    }
    case Transport::Udp:
      out.sink = std::make_unique<DatagramSink>(
          DatagramAddresses::udp(target.host, target.port, udp_addresses), who,
          kDatagramStallTimeout, std::move(on_drop));
      out.options = shipper_preset(SinkKind::Datagram, queue_bytes, exit_deadline);
      break;
  }
  return out;
}

}  // namespace syslogmod
