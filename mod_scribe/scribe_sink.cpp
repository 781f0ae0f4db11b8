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

// Connects to one of the collector's addresses. The name lookup gets
// `timeout`, and so does each address's connect: a host name whose first
// address is unreachable still gets a fair try at the next. Every wait is
// cut short by a stop.
int connect_within(const Endpoint& ep, Millis timeout, const delivery::StopSignal* stop,
                   std::string& error) {
  std::vector<delivery::SocketAddress> addrs;
  if (!delivery::resolve(ep.host, ep.port, SOCK_STREAM, addrs, error, stop, Clock::now() + timeout))
    return -1;
  for (const auto& a : addrs) {
    int fd = delivery::connect_stream(a, stop, Clock::now() + timeout, error);
    if (fd >= 0) return fd;
  }
  return -1;
}

}  // namespace

ScribeSink::ScribeSink(SinkOptions opts) : opts_(std::move(opts)) {}

ScribeSink::~ScribeSink() = default;

std::string ScribeSink::describe() const { return opts_.server.to_string(); }

void ScribeSink::close() { conn_.reset(); }

bool ScribeSink::ensure_connected(std::string& error) {
  // An idle connection the collector closed is replaced before a batch
  // is sent on it, rather than failing the batch.
  if (conn_ && conn_->looks_closed()) conn_.reset();
  if (conn_) return true;
  std::string why;
  int fd = connect_within(opts_.server, opts_.timeout, stop_, why);
  if (fd < 0) {
    error = opts_.server.to_string() + ": " + why;
    return false;
  }
  auto c = std::make_unique<Connection>();
  c->socket = std::make_shared<StopAwareSocket>(fd, opts_.timeout, stop_);  // owns fd from here
  c->transport = std::make_shared<at::transport::TFramedTransport>(c->socket);
  c->protocol = std::make_shared<FramedBinary>(c->transport);
  c->client = std::make_unique<gen::scribeClient>(c->protocol);
  conn_ = std::move(c);
  count_connection();
  return true;
}

SendResult ScribeSink::call(const delivery::Batch& batch, std::string& error) {
  send_log_call(*conn_->protocol, batch);
  gen::ResultCode::type rc = conn_->client->recv_Log();
  if (rc == gen::ResultCode::OK) return SendResult::Ok;
  if (rc == gen::ResultCode::TRY_LATER) {
    error = opts_.server.to_string() + " answered TRY_LATER";
    return SendResult::TryLater;
  }
  error = opts_.server.to_string() + " answered the unknown result code " +
          std::to_string(static_cast<int>(rc));
  conn_.reset();
  return SendResult::Failed;
}

SendResult ScribeSink::send(const delivery::Batch& batch, std::string& error) {
  refused_ = false;
  try {
    if (!ensure_connected(error)) return SendResult::Unreachable;
    return call(batch, error);
  } catch (const at::transport::TTransportException& e) {
    // Closed by the collector while it read the call or after it (a frame
    // over its limit is cut off before it is whole): perhaps its answer to
    // the call. A timeout says nothing of the batch.
    refused_ = e.getType() != at::transport::TTransportException::TIMED_OUT;
    error = opts_.server.to_string() + ": " + e.what();
  } catch (const at::TApplicationException& e) {
    refused_ = true;  // it answered the call with an error
    error = opts_.server.to_string() + ": " + e.what();
  } catch (const std::exception& e) {
    // TProtocolException or bad_alloc: whatever the cause, the connection's
    // state is unknown (a late reply would be read as the next call's
    // answer), so it goes.
    error = opts_.server.to_string() + ": " + e.what();
  } catch (...) {
    error = opts_.server.to_string() + ": unknown exception";
  }
  conn_.reset();
  return SendResult::Failed;
}

delivery::Probe ScribeSink::probe(std::string& error) {
  conn_.reset();  // the call that broke left nothing worth keeping
  try {
    if (!ensure_connected(error)) return delivery::Probe::Silent;
    const SendResult r = call(delivery::Batch(), error);
    if (r == SendResult::Ok || r == SendResult::TryLater) return delivery::Probe::Answers;
  } catch (const std::exception& e) {
    error = opts_.server.to_string() + ": " + e.what();
  } catch (...) {
    error = opts_.server.to_string() + ": unknown exception";
  }
  conn_.reset();
  return delivery::Probe::Silent;
}

delivery::Peers collector_sinks(const std::vector<Endpoint>& servers, delivery::Millis timeout) {
  delivery::Peers peers;
  for (const Endpoint& ep : servers)
    peers.push_back(std::make_unique<ScribeSink>(SinkOptions{ep, timeout}));
  return peers;
}

void route_thrift_output(void (*fn)(const char* message)) {
  at::GlobalOutput.setOutputFunction(fn);
}

void restore_thrift_output() { at::GlobalOutput.setOutputFunction(&at::TOutput::errorTimeWrapper); }

}  // namespace scribe
