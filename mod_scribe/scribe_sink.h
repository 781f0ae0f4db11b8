// A delivery::Sink that hands batches to one Scribe collector: Log() over
// TSocket + TFramedTransport + TBinaryProtocol. A ScribeServer list is one
// ScribeSink per collector; the Shipper chooses among them (failover,
// backoff: include/peer_rotation.h).
//
// This header names no Thrift type, and scribe_sink.cpp includes no httpd
// header: the generated code defines ResultCode::OK, which httpd.h's `OK`
// macro would mangle.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "delivery.h"
#include "scribe_target.h"

namespace scribe {

struct SinkOptions {
  Endpoint server;
  // Name lookup (all addresses together), then each address's connect,
  // then each send and each receive: every one of them gets this long.
  delivery::Millis timeout{2000};
};

class ScribeSink : public delivery::Sink {
 public:
  explicit ScribeSink(SinkOptions opts);
  ~ScribeSink() override;

  delivery::SendResult send(const delivery::Batch& batch, std::string& error) override;
  // Scribe answers each Log(): OK means the collector has the lines.
  bool acknowledges() const override { return true; }
  // Log() of no message, on a connection of its own: scribed answers it OK
  // (or TRY_LATER) whenever it takes calls at all.
  delivery::Probe probe(std::string& error) override;
  // The collector closed the connection on the call, or answered it with
  // an exception (a frame over its limit, bytes it cannot decode): not a
  // timeout. The Shipper counts it against the batch only on a connection
  // that had just answered a probe.
  bool last_failure_was_refusal() const override { return refused_; }
  void close() override;
  // "HOST:PORT"
  std::string describe() const override;

 private:
  struct Connection;
  // Connects unless connected; false (with `error`) when no address of the
  // collector could be reached.
  bool ensure_connected(std::string& error);
  // One Log() call on the connection; throws whatever Thrift throws.
  delivery::SendResult call(const delivery::Batch& batch, std::string& error);

  SinkOptions opts_;
  std::unique_ptr<Connection> conn_;
  bool refused_ = false;  // of the last failed send()
};

// The peers of a collector list: a sink per collector, in the list's order.
delivery::Peers collector_sinks(const std::vector<Endpoint>& servers, delivery::Millis timeout);

// libthrift prints its own diagnostics through a global function pointer
// (apache::thrift::GlobalOutput), by default to stderr. These point it at
// `fn` and back at libthrift's default; call the latter before the module
// that holds `fn` is unloaded.
void route_thrift_output(void (*fn)(const char* message));
void restore_thrift_output();

}  // namespace scribe
