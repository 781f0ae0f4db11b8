#include "syslog_transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <thread>

#include "syslog_format.h"

namespace syslogmod {
namespace {

using SteadyClock = std::chrono::steady_clock;

int64_t to_ns(SteadyClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// Milliseconds from now until `until`, rounded up so that a poll() does not
// wake a hair early and spin; -1 once it has passed.
int ms_until(SteadyClock::time_point until) {
  auto now = SteadyClock::now();
  if (now >= until) return -1;
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(until - now).count();
  long long ms = (us + 999) / 1000;
  return static_cast<int>(std::min<long long>(ms, INT_MAX));
}

std::string address_text(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "?";
}

}  // namespace

std::string errno_string(int err) {
  char buf[128];
  const char* s = strerror_r(err, buf, sizeof buf);  // GNU: may not use buf
  return s ? s : "unknown error";
}

bool unix_address(const std::string& path, SocketAddress& out, std::string& error) {
  sockaddr_un sun{};
  if (path.empty() || path.size() >= sizeof sun.sun_path) {
    error = "socket path '" + path + "' is empty or too long";
    return false;
  }
  sun.sun_family = AF_UNIX;
  std::memcpy(sun.sun_path, path.data(), path.size());
  out = SocketAddress{};
  std::memcpy(&out.storage, &sun, sizeof sun);
  out.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  out.text = path;
  return true;
}

bool resolve(const std::string& host, uint16_t port, int socktype, std::vector<SocketAddress>& out,
             std::string& error) {
  out.clear();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) {
    error = "cannot resolve '" + host + "': " + gai_strerror(rc);
    return false;
  }
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    SocketAddress a;
    std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
    a.length = ai->ai_addrlen;
    a.text = address_text(ai->ai_addr);
    out.push_back(std::move(a));
  }
  freeaddrinfo(res);
  if (out.empty()) {
    error = "no usable address for '" + host + "'";
    return false;
  }
  return true;
}

// ---- ExitDeadline ----

void ExitDeadline::set(SteadyClock::time_point t) {
  ns_.store(to_ns(t), std::memory_order_relaxed);
}

SteadyClock::time_point ExitDeadline::cap(SteadyClock::time_point until) const {
  int64_t ns = ns_.load(std::memory_order_relaxed);
  if (ns == INT64_MAX) return until;
  return std::min(until, SteadyClock::time_point(std::chrono::nanoseconds(ns)));
}

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
                                            SteadyClock::time_point wait_until) {
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
      int ms = ms_until(wait_until);
      if (ms < 0) return Result::NotNow;
      if (err == ENOBUFS) {
        // No wakeup to wait for: nap briefly.
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      } else {
        pollfd p{fd_, POLLOUT, 0};
        ::poll(&p, 1, ms);
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

// ---- DatagramSink ----

DatagramSink::DatagramSink(std::unique_ptr<DatagramSender> sender, std::string who,
                           Millis stall_timeout, std::function<void(int)> on_drop)
    : sender_(std::move(sender)),
      who_(std::move(who)),
      stall_timeout_(stall_timeout),
      on_drop_(std::move(on_drop)) {}

delivery::SendResult DatagramSink::send(const std::vector<delivery::Record>& batch,
                                        std::string& error) {
  size_t i = 0;
  // The Shipper offers a batch again, unchanged, after a Failed: skip what
  // already went.
  if (resume_at_ > 0 && batch.size() == resume_size_ && resume_at_ < batch.size() &&
      batch[resume_at_].body == resume_line_)
    i = resume_at_;
  resume_at_ = 0;
  for (; i < batch.size(); ++i) {
    int err = 0;
    auto until = exit_.cap(SteadyClock::now() + stall_timeout_);
    switch (sender_->send(batch[i].body, err, until)) {
      case DatagramSender::Result::Sent:
        if (err && on_drop_) on_drop_(err);  // an earlier datagram was refused
        break;
      case DatagramSender::Result::Failed:
        if (on_drop_) on_drop_(err);  // given up: it can never go
        break;
      case DatagramSender::Result::StreamSocket:
      case DatagramSender::Result::NotNow:
        if (i > 0) {
          resume_at_ = i;
          resume_size_ = batch.size();
          resume_line_ = batch[i].body;
        }
        // Failed (not TryLater) so that the Shipper says what went wrong
        // and backs off; close() does nothing here.
        error =
            err == EAGAIN || err == EWOULDBLOCK
                ? "the receiver took nothing for " + std::to_string(stall_timeout_.count()) + " ms"
                : "send to " + sender_->address().text + ": " + errno_string(err);
        return delivery::SendResult::Failed;
    }
  }
  return delivery::SendResult::Ok;
}

// ---- StreamSink ----

StreamSink::StreamSink(Framing framing, std::string who, Options opts)
    : framing_(framing), who_(std::move(who)), opts_(opts) {}

std::unique_ptr<StreamSink> StreamSink::tcp(std::string host, uint16_t port, std::string who,
                                            Options opts) {
  std::unique_ptr<StreamSink> s(new StreamSink(Framing::OctetCounted, std::move(who), opts));
  s->host_ = std::move(host);
  s->port_ = port;
  return s;
}

std::unique_ptr<StreamSink> StreamSink::unix_stream(SocketAddress address, std::string who,
                                                    Options opts) {
  std::unique_ptr<StreamSink> s(new StreamSink(Framing::NulTerminated, std::move(who), opts));
  s->unix_address_ = std::move(address);
  s->is_unix_ = true;
  return s;
}

StreamSink::~StreamSink() { close(); }

void StreamSink::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

int StreamSink::wait_budget(SteadyClock::time_point until) const {
  return ms_until(exit_.cap(until));
}

bool StreamSink::connect_to(const SocketAddress& addr, std::string& error) {
  int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    error = "socket: " + errno_string(errno);
    return false;
  }
  if (::connect(fd, addr.get(), addr.length) != 0) {
    int err = errno;
    if (err != EINPROGRESS) {
      error = "connect to " + addr.text + ": " + errno_string(err);
      ::close(fd);
      return false;
    }
    pollfd p{fd, POLLOUT, 0};
    auto until = SteadyClock::now() + opts_.connect_timeout;
    int rc = 0;
    for (;;) {
      int ms = wait_budget(until);
      if (ms < 0) break;
      rc = ::poll(&p, 1, ms);
      if (rc >= 0 || errno != EINTR) break;
    }
    if (rc <= 0) {
      error = "connect to " + addr.text + ": timed out";
      ::close(fd);
      return false;
    }
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
      error = "connect to " + addr.text + ": " + errno_string(err);
      ::close(fd);
      return false;
    }
  }
  if (addr.family() != AF_UNIX) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  }
  fd_ = fd;
  return true;
}

bool StreamSink::connect(std::string& error) {
  if (is_unix_) return connect_to(unix_address_, error);
  std::vector<SocketAddress> addrs;
  if (!resolve(host_, port_, SOCK_STREAM, addrs, error)) return false;
  for (const SocketAddress& a : addrs)
    if (connect_to(a, error)) return true;
  return false;
}

bool StreamSink::write_all(std::string_view data, std::string& error) {
  size_t off = 0;
  auto stall_until = SteadyClock::now() + opts_.stall_timeout;
  while (off < data.size()) {
    ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<size_t>(n);
      stall_until = SteadyClock::now() + opts_.stall_timeout;
      continue;
    }
    int err = n < 0 ? errno : EIO;
    if (err == EINTR) continue;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      int ms = wait_budget(stall_until);
      if (ms < 0) {
        error = "send made no progress for " + std::to_string(opts_.stall_timeout.count()) +
                " ms (or the child is exiting)";
        return false;
      }
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, ms);
      continue;
    }
    error = "send: " + errno_string(err);
    return false;
  }
  return true;
}

delivery::SendResult StreamSink::send(const std::vector<delivery::Record>& batch,
                                      std::string& error) {
  if (fd_ < 0 && !connect(error)) return delivery::SendResult::Failed;
  buf_.clear();
  for (const delivery::Record& r : batch) {
    if (framing_ == Framing::OctetCounted)
      frame_octet_counted(r.body, buf_);
    else
      frame_nul_terminated(r.body, buf_);
  }
  if (!write_all(buf_, error)) {
    close();
    return delivery::SendResult::Failed;
  }
  // A large batch leaves a large buffer behind; do not keep it forever.
  if (buf_.capacity() > (4u << 20)) std::string().swap(buf_);
  return delivery::SendResult::Ok;
}

bool StreamSink::connection_lost() {
  if (fd_ < 0) return false;
  char scratch[4096];
  for (;;) {
    ssize_t n = ::recv(fd_, scratch, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return true;  // orderly shutdown by the peer
    if (n < 0) {
      if (errno == EINTR) continue;
      return !(errno == EAGAIN || errno == EWOULDBLOCK);
    }
    // Syslog receivers do not talk back; whatever this is, read it away so
    // that an end of stream behind it is seen.
    if (::recv(fd_, scratch, sizeof scratch, MSG_DONTWAIT) <= 0) return false;
  }
}

}  // namespace syslogmod
