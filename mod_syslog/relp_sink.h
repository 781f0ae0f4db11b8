// relp:// targets: RELP, the Reliable Event Logging Protocol of rsyslog,
// spoken by Debian's librelp, without httpd.
//
// A RELP relay acknowledges every message, in order, and the client keeps
// at most a window of messages unacknowledged (librelp waits for room
// before it sends more). So the lines the relay may not have are always
// among the last `window` lines sent: the sink keeps a copy of those. When
// the session breaks, the client is made anew and those lines go first on
// the new one (at-least-once: at most a window of duplicates per break);
// when the child exits, a session that cannot be closed in order (the
// relay confirms everything before it answers the close) hands them to the
// Shipper, which spools them (a target with spool=) or counts them.
//
// librelp waits in whole seconds and cannot be told to stop, so every call
// into it is bounded by `timeout` (1 s by default) and none is started when
// it could outlast the exit deadline. The host is resolved here, bounded,
// and librelp is given an address; its socket is made close-on-exec as soon
// as librelp returns it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "delivery.h"
#include "net.h"
#include "syslog_transport.h"

typedef struct relpEngine_s relpEngine_t;
typedef struct relpClt_s relpClt_t;

namespace syslogmod {

class RelpSink : public delivery::Sink {
 public:
  struct Options {
    // Each wait inside librelp (connect, room in the window, the close's
    // answer); whole seconds, at least one.
    std::chrono::seconds timeout{1};
    // Messages sent before the relay acknowledged them (librelp's default
    // is 128).
    int window = 128;
    std::chrono::milliseconds connect_timeout{2000};  // name lookup included
  };

  RelpSink(std::string host, uint16_t port, std::string who, Options opts);
  ~RelpSink() override;

  delivery::SendResult send(const delivery::Batch& batch, std::string& error) override;
  // OK: librelp has each line and resends it until the relay acknowledged
  // it (see settle).
  bool acknowledges() const override { return true; }
  void close() override;
  std::string describe() const override { return who_; }
  size_t sent_of_failed(const delivery::Batch& batch) const override { return resume_.skip(batch); }
  void settle(std::vector<delivery::Record>& unconfirmed) override;
  // Shuts librelp's socket down: its waits end at once.
  void interrupt() override;

  // Called by librelp (with the sink as its user pointer) on an error.
  void note_error(const char* what);

 private:
  bool connect(std::string& error);
  // Ends the session without waiting for the relay.
  void drop_session();
  // A librelp call may wait `timeout`: none is started that could end past
  // the exit deadline.
  bool time_left() const;
  void remember(std::string_view line);

  std::string host_;
  uint16_t port_;
  std::string who_;
  Options opts_;
  relpEngine_t* engine_ = nullptr;
  relpClt_t* client_ = nullptr;
  int give_up_now_ = 0;  // librelp's "shut down immediately" flag
  // librelp's socket while a session is open, -1 otherwise. It is shut down
  // (never closed) from outside the sender (interrupt), so it is cleared
  // before librelp closes it.
  std::atomic<int> socket_{-1};
  // The last `window` lines handed to librelp in this session or before
  // it broke (a new session sends them again first).
  std::deque<std::string> window_;
  bool resend_window_ = false;
  ResumePoint resume_;
  std::string last_error_;  // librelp's own words, for messages
};

}  // namespace syslogmod
