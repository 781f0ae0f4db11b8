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
#include <thrift/transport/TTransportException.h>
#include <thrift/transport/TVirtualTransport.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "net.h"
#include "scribe/scribe.h"

namespace scribe {

namespace at = apache::thrift;
using delivery::Clock;
using delivery::Level;
using delivery::Millis;
using delivery::SendResult;

namespace {

// The socket under TFramedTransport. TSocket would bound each call with
// SO_RCVTIMEO/SO_SNDTIMEO only, and a stopping child would wait a whole
// ScribeTimeout for a collector that never answers; here every wait polls
// the Shipper's StopSignal too, and ends at the exit deadline.
class StopAwareSocket : public at::transport::TVirtualTransport<StopAwareSocket> {
 public:
  StopAwareSocket(int fd, Millis timeout, const delivery::StopSignal* stop)
      : fd_(fd), timeout_(timeout), stop_(stop) {}
  ~StopAwareSocket() override { close(); }

  bool isOpen() const override { return fd_ >= 0; }
  void open() override {}
  void close() override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd() const { return fd_; }

  // Whatever is there (at least one byte), 0 at end of stream.
  uint32_t read(uint8_t* buf, uint32_t len) {
    for (;;) {
      ssize_t n = ::recv(fd_, buf, len, MSG_DONTWAIT);
      if (n >= 0) return static_cast<uint32_t>(n);
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) fail("recv", errno);
      await(POLLIN, "no answer");
    }
  }

  void write(const uint8_t* buf, uint32_t len) {
    uint32_t done = 0;
    while (done < len) {
      ssize_t n = ::send(fd_, buf + done, len - done, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<uint32_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) fail("send", errno);
      await(POLLOUT, "the collector takes nothing");
    }
  }

 private:
  void await(short events, const char* what) {
    const auto until = Clock::now() + timeout_;
    if (delivery::wait_for(fd_, events, stop_, until) != 0) return;
    const bool cut = stop_ && stop_->requested() && Clock::now() < until;
    throw at::transport::TTransportException(
        at::transport::TTransportException::TIMED_OUT,
        std::string(what) + (cut ? ": cut short, the child is exiting"
                                 : " for " + std::to_string(timeout_.count()) + " ms"));
  }
  [[noreturn]] void fail(const char* call, int err) {
    throw at::transport::TTransportException(
        at::transport::TTransportException::NOT_OPEN,
        std::string(call) + ": " + delivery::errno_string(err));
  }

  int fd_;
  Millis timeout_;
  const delivery::StopSignal* stop_;
};

using FramedBinary = at::protocol::TBinaryProtocolT<at::transport::TFramedTransport>;

// Scribe's Log(messages) call, written from the batch itself: the bytes
// scribeClient::send_Log() writes (seqid 0), without copying every line
// into a gen::LogEntry first. The protocol is the concrete type, so each
// field goes into the frame buffer without a virtual call.
void send_log_call(FramedBinary& out, const delivery::Batch& batch) {
  namespace tp = at::protocol;
  out.writeMessageBegin("Log", tp::T_CALL, 0);
  out.writeStructBegin("scribe_Log_args");
  out.writeFieldBegin("messages", tp::T_LIST, 1);
  out.writeListBegin(tp::T_STRUCT, static_cast<uint32_t>(batch.size()));
  for (const delivery::RecordView& r : batch) {
    out.writeStructBegin("LogEntry");
    out.writeFieldBegin("category", tp::T_STRING, 1);
    out.writeString(r.tag);
    out.writeFieldEnd();
    out.writeFieldBegin("message", tp::T_STRING, 2);
    out.writeString(r.body);
    out.writeFieldEnd();
    out.writeFieldStop();
    out.writeStructEnd();
  }
  out.writeListEnd();
  out.writeFieldEnd();
  out.writeFieldStop();
  out.writeStructEnd();
  out.writeMessageEnd();
  out.getTransport()->writeEnd();
  out.getTransport()->flush();
}

}  // namespace

struct ScribeSink::Connection {
  size_t index = 0;
  std::shared_ptr<StopAwareSocket> socket;
  std::shared_ptr<at::transport::TFramedTransport> transport;
  std::shared_ptr<FramedBinary> protocol;
  // Reads the answers (recv_Log); calls are written by send_log_call().
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
    p.fd = socket->fd();
    p.events = POLLIN | POLLRDHUP;
    return ::poll(&p, 1, 0) != 0;
  }
};

namespace {

// Connects within `timeout` (name lookup included), trying each address of
// the collector's host; every wait is cut short by a stop.
int connect_within(const Endpoint& ep, Millis timeout, const delivery::StopSignal* stop,
                   std::string& error) {
  const auto until = Clock::now() + timeout;
  std::vector<delivery::SocketAddress> addrs;
  if (!delivery::resolve(ep.host, ep.port, SOCK_STREAM, addrs, error, stop, until)) return -1;
  for (const auto& a : addrs) {
    int fd = delivery::connect_stream(a, stop, until, error);
    if (fd >= 0) return fd;
  }
  return -1;
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
  int fd = connect_within(ep, opts_.timeout, stop_, why);
  if (fd < 0) {
    error += (error.empty() ? "" : "; ") + ep.to_string() + ": " + why;
    return false;
  }
  auto c = std::make_unique<Connection>();
  c->index = index;
  c->socket = std::make_shared<StopAwareSocket>(fd, opts_.timeout, stop_);  // owns fd from here
  c->transport = std::make_shared<at::transport::TFramedTransport>(c->socket);
  c->protocol = std::make_shared<FramedBinary>(c->transport);
  c->client = std::make_unique<gen::scribeClient>(c->protocol);
  conn_ = std::move(c);
  if (ever_connected_ && index != last_index_) {
    if (index == 0)
      report_(Level::Notice, "SC0002: " + describe() + ": now sending to " + ep.to_string() +
                                 " (the preferred collector answers again)");
    else
      report_(Level::Warning, "SC0001: " + describe() + ": now sending to " + ep.to_string() +
                                  " (failover from " + opts_.servers[last_index_].to_string() +
                                  ")");
  }
  ever_connected_ = true;
  last_index_ = index;
  count_connection();
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

SendResult ScribeSink::send(const delivery::Batch& batch, std::string& error) {
  try {
    if (!ensure_connected(error)) {
      if (error.empty()) error = "no collector configured";
      return SendResult::Failed;
    }
    send_log_call(*conn_->protocol, batch);
    gen::ResultCode::type rc = conn_->client->recv_Log();
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
