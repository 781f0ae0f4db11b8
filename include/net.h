// Sockets for the senders: addresses, name resolution and connecting, each
// bounded by a deadline and by the Shipper's StopSignal, so that no DNS
// server, SYN that nobody answers or wedged peer can hold a stopping child.
// Shared by mod_syslog's stream and datagram targets and mod_scribe.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "delivery.h"

namespace delivery {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  std::string text;  // for messages: "/dev/log", "127.0.0.1:514", "[::1]:514"

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  int family() const { return storage.ss_family; }
};

// The text of an errno value.
std::string errno_string(int err);

bool unix_address(const std::string& path, SocketAddress& out, std::string& error);

// The addresses of host:port for `socktype` (SOCK_DGRAM or SOCK_STREAM), in
// getaddrinfo()'s order. A numeric host is converted at once. A name is looked
// up with getaddrinfo_a(), waited for in short slices until `until` or the
// stop deadline: a lookup still running then is abandoned (its request is
// left to the resolver, never freed under it) and reported as timed out.
// Without `stop` and `until` (the parent, at startup) it waits as long as
// getaddrinfo() takes.
bool resolve(const std::string& host, uint16_t port, int socktype, std::vector<SocketAddress>& out,
             std::string& error, const StopSignal* stop = nullptr,
             Clock::time_point until = Clock::time_point::max());

// Waits for `events` on `fd` until `until`, through `stop` when given.
// Returns the revents, 0 when the time ran out.
short wait_for(int fd, short events, const StopSignal* stop, Clock::time_point until);

// A non-blocking, close-on-exec stream socket connected to `addr` by
// `until` (TCP_NODELAY and SO_KEEPALIVE on inet sockets), or -1 and `error`.
int connect_stream(const SocketAddress& addr, const StopSignal* stop, Clock::time_point until,
                   std::string& error);

// Sets FD_CLOEXEC on this process's sockets connected to `peer` that lack
// it: for a library that makes its sockets without it (librelp), right after
// the call that made them. Returns the (last) one it found, or -1.
int close_on_exec_sockets_to(const SocketAddress& peer);

}  // namespace delivery
