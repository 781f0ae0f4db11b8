#include "net.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace delivery {
namespace {

// How often a pending name lookup is checked against the deadline.
constexpr Millis kResolveSlice{20};

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

void collect(const addrinfo* res, std::vector<SocketAddress>& out) {
  for (const addrinfo* ai = res; ai; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    SocketAddress a;
    std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
    a.length = ai->ai_addrlen;
    a.text = address_text(ai->ai_addr);
    out.push_back(std::move(a));
  }
}

// One asynchronous lookup. When it is abandoned, the resolver's thread may
// still write into it: it is then leaked on purpose (a few hundred bytes,
// once per abandoned lookup in a child that is exiting anyway).
struct PendingLookup {
  std::string host, service;
  addrinfo hints{};
  gaicb request{};
};

int lookup_bounded(const std::string& host, const std::string& service, const addrinfo& hints,
                   const StopSignal* stop, Clock::time_point until, addrinfo** res) {
  auto pending = std::make_unique<PendingLookup>();
  pending->host = host;
  pending->service = service;
  pending->hints = hints;
  pending->request.ar_name = pending->host.c_str();
  pending->request.ar_service = pending->service.c_str();
  pending->request.ar_request = &pending->hints;
  gaicb* list[1] = {&pending->request};
  int rc = getaddrinfo_a(GAI_NOWAIT, list, 1, nullptr);
  if (rc != 0) return rc;
  for (;;) {
    rc = gai_error(&pending->request);
    if (rc != EAI_INPROGRESS) break;
    Clock::time_point end = stop ? stop->cap(until) : until;
    auto now = Clock::now();
    if (now >= end) {
      if (gai_cancel(&pending->request) != EAI_CANCELED) pending.release();  // still in use
      return EAI_AGAIN;
    }
    auto slice = std::min<Clock::duration>(kResolveSlice, end - now);
    timespec ts{
        0, static_cast<long>(std::chrono::duration_cast<std::chrono::nanoseconds>(slice).count())};
    const gaicb* wait_list[1] = {&pending->request};
    gai_suspend(wait_list, 1, &ts);
  }
  if (rc == 0) *res = pending->request.ar_result;
  return rc;
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
             std::string& error, const StopSignal* stop, Clock::time_point until) {
  out.clear();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  hints.ai_flags = AI_NUMERICSERV | AI_NUMERICHOST;
  const std::string service = std::to_string(port);
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
  if (rc == EAI_NONAME) {
    hints.ai_flags = AI_NUMERICSERV;
    if (!stop && until == Clock::time_point::max())
      rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res);
    else
      rc = lookup_bounded(host, service, hints, stop, until, &res);
  }
  if (rc != 0) {
    error = "cannot resolve '" + host +
            "': " + (rc == EAI_AGAIN ? std::string("no answer in time") : gai_strerror(rc));
    return false;
  }
  collect(res, out);
  freeaddrinfo(res);
  if (out.empty()) {
    error = "no usable address for '" + host + "'";
    return false;
  }
  return true;
}

short wait_for(int fd, short events, const StopSignal* stop, Clock::time_point until) {
  if (stop) return stop->wait(fd, events, until);
  for (;;) {
    auto now = Clock::now();
    if (now >= until) return 0;
    auto ms = std::chrono::duration_cast<Millis>(until - now).count() + 1;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(ms, INT_MAX)));
    if (n > 0) return p.revents;
    if (n < 0 && errno != EINTR) return POLLERR;
  }
}

int connect_stream(const SocketAddress& addr, const StopSignal* stop, Clock::time_point until,
                   std::string& error) {
  int fd = ::socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    error = "socket: " + errno_string(errno);
    return -1;
  }
  if (::connect(fd, addr.get(), addr.length) != 0) {
    int err = errno;
    if (err != EINPROGRESS) {
      error = "connect to " + addr.text + ": " + errno_string(err);
      ::close(fd);
      return -1;
    }
    if (wait_for(fd, POLLOUT, stop, until) == 0) {
      error = "connect to " + addr.text + ": timed out";
      ::close(fd);
      return -1;
    }
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
      error = "connect to " + addr.text + ": " + errno_string(err);
      ::close(fd);
      return -1;
    }
  }
  if (addr.family() != AF_UNIX) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  }
  return fd;
}

namespace {
bool same_endpoint(const sockaddr_storage& a, const sockaddr_storage& b) {
  if (a.ss_family != b.ss_family) return false;
  if (a.ss_family == AF_INET) {
    auto& x = reinterpret_cast<const sockaddr_in&>(a);
    auto& y = reinterpret_cast<const sockaddr_in&>(b);
    return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
  }
  if (a.ss_family == AF_INET6) {
    auto& x = reinterpret_cast<const sockaddr_in6&>(a);
    auto& y = reinterpret_cast<const sockaddr_in6&>(b);
    return x.sin6_port == y.sin6_port &&
           std::memcmp(&x.sin6_addr, &y.sin6_addr, sizeof x.sin6_addr) == 0;
  }
  return false;
}
}  // namespace

int close_on_exec_sockets_to(const SocketAddress& peer) {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  int found = -1;
  const int own = dirfd(d);
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    const long fd = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end || fd == own) continue;
    const int flags = fcntl(static_cast<int>(fd), F_GETFD);
    if (flags < 0 || (flags & FD_CLOEXEC)) continue;
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&ss), &len) != 0) continue;
    if (!same_endpoint(ss, peer.storage)) continue;
    fcntl(static_cast<int>(fd), F_SETFD, flags | FD_CLOEXEC);
    found = static_cast<int>(fd);
  }
  closedir(d);
  return found;
}

}  // namespace delivery
