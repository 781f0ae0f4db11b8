// A delivery::Sink that hands batches to Scribe collectors: Log() over
// TSocket + TFramedTransport + TBinaryProtocol, with failover across an
// ordered list of collectors.
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
  std::vector<Endpoint> servers;    // in order of preference; at least one
  delivery::Millis timeout{2000};   // connect, send and receive, each
  delivery::Millis retry_min{500};  // per-collector backoff before going back
  delivery::Millis retry_max{30000};
};

class ScribeSink : public delivery::Sink {
 public:
  // `report` receives connection events (failover, reconnects); it runs on
  // the sender thread.
  ScribeSink(SinkOptions opts, delivery::Reporter report);
  ~ScribeSink() override;

  delivery::SendResult send(const delivery::Batch& batch, std::string& error) override;
  // Scribe answers each Log(): OK means the collector has the lines.
  bool acknowledges() const override { return true; }
  void close() override;
  std::string describe() const override;

 private:
  struct Connection;
  bool connect_to(size_t index, std::string& error);
  bool ensure_connected(std::string& error);

  SinkOptions opts_;
  delivery::Reporter report_;
  CollectorRotation rotation_;
  std::unique_ptr<Connection> conn_;
  size_t last_index_ = 0;  // collector of the previous connection, for reports
  bool ever_connected_ = false;
};

// libthrift prints its own diagnostics through a global function pointer
// (apache::thrift::GlobalOutput), by default to stderr. These point it at
// `fn` and back at libthrift's default; call the latter before the module
// that holds `fn` is unloaded.
void route_thrift_output(void (*fn)(const char* message));
void restore_thrift_output();

}  // namespace scribe
