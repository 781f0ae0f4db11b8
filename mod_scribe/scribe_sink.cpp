// Thrift side of mod_scribe. No httpd header may be included here (see
// scribe_sink.h).
#include "scribe_sink.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <thrift/TOutput.h>
#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TSocket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "scribe/scribe.h"

namespace scribe {

namespace at = apache::thrift;
using delivery::Clock;
using delivery::Level;
using delivery::Millis;
using delivery::SendResult;

struct ScribeSink::Connection {
  size_t index = 0;
  std::shared_ptr<at::transport::TSocket> socket;
  std::shared_ptr<at::transport::TFramedTransport> transport;
  std::unique_ptr<gen::scribeClient> client;

  ~Connection() {
    try {
      if (transport) transport->close();
    } catch (...) {
    }
  }

  // A collector never speaks first, so anything readable on an idle
  // connection means it was closed (or is out of step): reconnect before
  // sending rather than fail a batch on it.
  bool looks_closed() {
    pollfd p{};
    p.fd = socket->getSocketFD();
    p.events = POLLIN | POLLRDHUP;
    return ::poll(&p, 1, 0) != 0;
  }
};

namespace {

std::string errno_text(int err) { return std::strerror(err); }

// Connects within `timeout`, trying each address of `host`. The socket is
// close-on-exec from its creation, so no CGI or piped logger inherits it.
int connect_with_timeout(const Endpoint& ep, Millis timeout, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(ep.port);
  int rc = getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    error = "cannot resolve " + ep.host + ": " + gai_strerror(rc);
    return -1;
  }
  const auto deadline = Clock::now() + timeout;
  int fd = -1;
  for (addrinfo* ai = res; ai && fd < 0; ai = ai->ai_next) {
    int s =
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (s < 0) {
      error = "socket: " + errno_text(errno);
      continue;
    }
    int err = 0;
    if (::connect(s, ai->ai_addr, ai->ai_addrlen) != 0) {
      err = errno;
      if (err == EINPROGRESS) {
        pollfd p{};
        p.fd = s;
        p.events = POLLOUT;
        int left =
            static_cast<int>(std::chrono::duration_cast<Millis>(deadline - Clock::now()).count());
        int n;
        do {
          n = ::poll(&p, 1, left > 0 ? left : 0);
        } while (n < 0 && errno == EINTR);
        if (n == 0) {
          err = ETIMEDOUT;
        } else if (n < 0) {
          err = errno;
        } else {
          socklen_t len = sizeof err;
          if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        }
      }
    }
    if (err != 0) {
      error = "cannot connect: " + errno_text(err);
      ::close(s);
      continue;
    }
    // Blocking from here on: TSocket bounds each call with SO_RCVTIMEO and
    // SO_SNDTIMEO.
    int flags = fcntl(s, F_GETFL);
    if (flags < 0 || fcntl(s, F_SETFL, flags & ~O_NONBLOCK) != 0) {
      error = "fcntl: " + errno_text(errno);
      ::close(s);
      continue;
    }
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fd = s;
  }
  freeaddrinfo(res);
  return fd;
}

}  // namespace

ScribeSink::ScribeSink(SinkOptions opts, delivery::Reporter report)
    : opts_(std::move(opts)),
      report_(std::move(report)),
      rotation_(opts_.servers.size(), opts_.retry_min, opts_.retry_max) {}

ScribeSink::~ScribeSink() = default;

std::string ScribeSink::describe() const {
  return "scribe collector" + std::string(opts_.servers.size() > 1 ? "s " : " ") +
         servers_key(opts_.servers);
}

void ScribeSink::close() { conn_.reset(); }

bool ScribeSink::connect_to(size_t index, std::string& error) {
  const Endpoint& ep = opts_.servers.at(index);
  std::string why;
  int fd = connect_with_timeout(ep, opts_.timeout, why);
  if (fd < 0) {
    error += (error.empty() ? "" : "; ") + ep.to_string() + ": " + why;
    return false;
  }
  auto c = std::make_unique<Connection>();
  c->index = index;
  c->socket = std::make_shared<at::transport::TSocket>(fd);  // owns fd from here
  const int ms = static_cast<int>(opts_.timeout.count());
  c->socket->setRecvTimeout(ms);
  c->socket->setSendTimeout(ms);
  c->socket->setLinger(false, 0);
  c->transport = std::make_shared<at::transport::TFramedTransport>(c->socket);
  auto protocol = std::make_shared<at::protocol::TBinaryProtocol>(c->transport);
  c->client = std::make_unique<gen::scribeClient>(protocol);
  conn_ = std::move(c);
  if (ever_connected_ && index != last_index_) {
    report_(index == 0 ? Level::Notice : Level::Warning,
            describe() + ": now sending to " + ep.to_string() +
                (index == 0 ? " (the preferred collector answers again)"
                            : " (failover from " + opts_.servers[last_index_].to_string() + ")"));
  }
  ever_connected_ = true;
  last_index_ = index;
  return true;
}

bool ScribeSink::ensure_connected(std::string& error) {
  auto now = Clock::now();
  if (conn_ && conn_->looks_closed()) conn_.reset();
  if (conn_) {
    // Go back to a more preferred collector once its backoff has passed.
    if (auto better = rotation_.preferred_over(conn_->index, now)) {
      std::unique_ptr<Connection> current = std::move(conn_);
      std::string why;
      if (connect_to(*better, why)) return true;
      rotation_.failed(*better, Clock::now());
      conn_ = std::move(current);
    }
    return true;
  }
  for (size_t index : rotation_.connect_order(now)) {
    if (connect_to(index, error)) return true;
    rotation_.failed(index, Clock::now());
  }
  return false;
}

SendResult ScribeSink::send(const std::vector<delivery::Record>& batch, std::string& error) {
  try {
    if (!ensure_connected(error)) {
      if (error.empty()) error = "no collector configured";
      return SendResult::Failed;
    }
    std::vector<gen::LogEntry> entries(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      entries[i].category = batch[i].tag;
      entries[i].message = batch[i].body;
    }
    gen::ResultCode::type rc = conn_->client->Log(entries);
    rotation_.succeeded(conn_->index);
    if (rc == gen::ResultCode::OK) return SendResult::Ok;
    if (rc == gen::ResultCode::TRY_LATER) {
      error = opts_.servers[conn_->index].to_string() + " answered TRY_LATER";
      return SendResult::TryLater;
    }
    error = opts_.servers[conn_->index].to_string() + " answered the unknown result code " +
            std::to_string(static_cast<int>(rc));
  } catch (const std::exception& e) {
    // TTransportException, TProtocolException, TApplicationException or
    // bad_alloc: whatever the cause, the connection's state is unknown (a late
    // reply would be read as the next call's answer), so it goes.
    error = (conn_ ? opts_.servers[conn_->index].to_string() + ": " : std::string()) + e.what();
  } catch (...) {
    error = "unknown exception";
  }
  if (conn_) rotation_.failed(conn_->index, Clock::now());
  conn_.reset();
  return SendResult::Failed;
}

void route_thrift_output(void (*fn)(const char* message)) {
  at::GlobalOutput.setOutputFunction(fn);
}

void restore_thrift_output() { at::GlobalOutput.setOutputFunction(&at::TOutput::errorTimeWrapper); }

}  // namespace scribe
