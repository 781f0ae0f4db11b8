// Getting syslog messages to the receiver, without httpd.
//
// Both kinds of target are driven by the shared delivery::Shipper: a request
// thread only copies its line into the handle's bounded queue, and the
// Shipper's sender thread (one per target per child) does all the network
// work, with bounded waits, reconnects and backoff. No request waits on the
// receiver.
//
// Datagrams (unix:/path, udp://): a DatagramSink sends one datagram per line.
// Lines leave in bursts (sendmmsg), as the sender finds them queued, which
// costs the receiver far fewer wakeups than one send per request would. A
// unix socket that a restarting rsyslogd recreated is reconnected on the
// next send; a udp host is resolved again whenever its socket fails.
//
// Streams (tcp://, tls://, and unix sockets that are stream sockets, as
// syslog(3) falls back; UnixSink follows a path that changes kind): a
// StreamSink. TCP frames messages by RFC 6587 octet counting, TLS by RFC 5425
// (the same, inside TLS: tls_channel.h); a unix stream socket gets them
// NUL-terminated, as syslog(3) sends them. Only the kernel takes the bytes
// (no acknowledgement), so the Shipper keeps what it sent recently and
// resends it when connection_lost() sees the peer gone (at-least-once).
//
// relp:// is a RelpSink (relp_sink.h): the receiver acknowledges each line.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "delivery.h"
#include "net.h"
#include "syslog_target.h"
#include "target_definition.h"
#include "tls_channel.h"

namespace syslogmod {

using Millis = std::chrono::milliseconds;

using delivery::errno_string;
using delivery::resolve;
using delivery::SocketAddress;
using delivery::unix_address;

// One connected datagram socket (FD_CLOEXEC). Used by one thread at a time.
class DatagramSender {
 public:
  enum class Result {
    Sent,
    NotNow,        // not sent, may go later (receiver full or away); `err` says why
    Failed,        // cannot be sent at all (e.g. EMSGSIZE); `err` says why
    StreamSocket,  // the unix path is a stream socket: use a StreamSink
  };

  explicit DatagramSender(SocketAddress address);
  ~DatagramSender();
  DatagramSender(const DatagramSender&) = delete;
  DatagramSender& operator=(const DatagramSender&) = delete;

  // Creates the socket and connects it. Returns 0 or the errno of the
  // connect; the socket stays usable (send() reconnects) unless it could not
  // be created at all.
  int open();
  // One datagram. Waits for room at the receiver until `wait_until` at most,
  // through `stop` (which may be null). A receiver that went away (rsyslogd
  // restarted and recreated its socket) is reconnected once per call.
  Result send(std::string_view msg, int& err, std::chrono::steady_clock::time_point wait_until,
              const delivery::StopSignal* stop = nullptr);
  // As many of batch[from..] as the socket takes now, one datagram each, in
  // one sendmmsg(2) per kBurst lines; never waits. Returns how many went: 0
  // when the first could not, which send() then handles (and says why).
  size_t send_burst(const delivery::Batch& batch, size_t from);
  const SocketAddress& address() const { return address_; }

  static constexpr size_t kBurst = 64;

 private:
  static bool receiver_gone(int err);

  SocketAddress address_;
  int fd_ = -1;
  std::vector<struct mmsghdr> msgs_;
  std::vector<struct iovec> iov_;
};

// Where a batch that failed after some of its lines went stopped: the
// Shipper offers the same batch again, unchanged, and the sink goes on from
// there, so that no line is sent twice.
class ResumePoint {
 public:
  // How many lines at the front of `batch` went already (0 for another batch).
  size_t skip(const delivery::Batch& batch) const {
    return at_ > 0 && batch.size() == size_ && at_ < batch.size() && batch[at_].body == line_ ? at_
                                                                                              : 0;
  }
  // `went` lines of `batch` went; 0 forgets.
  void set(const delivery::Batch& batch, size_t went) {
    at_ = went < batch.size() ? went : 0;
    if (at_ == 0) return;
    size_ = batch.size();
    line_.assign(batch[at_].body);
  }

 private:
  size_t at_ = 0;
  size_t size_ = 0;
  std::string line_;
};

// Where a datagram sink sends, looked up again each time it has to
// (re)connect: the address of a unix path, or every address of a udp host,
// resolved anew (the parent's answer serves the first connection).
class DatagramAddresses {
 public:
  static DatagramAddresses unix_path(SocketAddress address);
  static DatagramAddresses udp(std::string host, uint16_t port, std::vector<SocketAddress> known);

  // The candidates, in order; the address that failed last comes last. A
  // lookup that fails falls back on the last answer (DNS down, relay up).
  // False, with `error`, when there are none at all.
  bool lookup(std::vector<SocketAddress>& out, std::string& error, const delivery::StopSignal* stop,
              std::chrono::steady_clock::time_point until);
  // The address a socket was connected to and failed: tried last next time.
  void failed(const SocketAddress& address) { failed_ = address.text; }

 private:
  DatagramAddresses() = default;
  bool is_unix_ = false;
  SocketAddress unix_;
  std::string host_;
  uint16_t port_ = 0;
  std::vector<SocketAddress> known_;  // the last good answer
  bool resolved_once_ = false;        // known_ came from the parent until then
  std::string failed_;
};

// Sends a datagram target's lines, one datagram each, in sendmmsg bursts.
// When the receiver cannot take a line now (or after `stall_timeout`),
// send() answers Failed and the Shipper backs off and offers the same batch
// again; the lines of it that did go are remembered and skipped then, so
// that no line is sent twice. A socket that fails (network unreachable,
// receiver gone for good) is dropped and the next attempt looks the
// addresses up again and tries each in turn.
class DatagramSink : public delivery::Sink {
 public:
  // `on_drop` counts a line that can never be sent, or (UDP) an earlier one
  // the receiver refused; `stall_timeout` bounds each wait for room.
  DatagramSink(DatagramAddresses where, std::string who, Millis stall_timeout,
               std::function<void(int)> on_drop);

  delivery::SendResult send(const delivery::Batch& batch, std::string& error) override;
  bool acknowledges() const override { return true; }
  // The Shipper calls this after every failed send: the socket stays unless
  // send() found it stale (reconnecting is send()'s business).
  void close() override {}
  std::string describe() const override { return who_; }
  size_t sent_of_failed(const delivery::Batch& batch) const override;
  size_t given_up_in_last_send() const override { return given_up_; }

  // The last failure found a stream socket at the unix path.
  bool found_stream_socket() const { return found_stream_; }
  bool connected() const { return sender_ != nullptr; }

 private:
  bool connect(std::string& error);

  DatagramAddresses where_;
  std::unique_ptr<DatagramSender> sender_;
  bool found_stream_ = false;
  size_t given_up_ = 0;  // on_drop calls during the last send()
  std::string who_;
  Millis stall_timeout_;
  std::function<void(int)> on_drop_;
  ResumePoint resume_;
};

class StreamSink : public delivery::Sink {
 public:
  struct Options {
    Millis connect_timeout{2000};
    // A send that makes no progress for this long fails (the connection is
    // then dropped and the batch resent on a new one).
    Millis stall_timeout{10000};
    // tcp: a peer that vanished (host down, cable, a firewall that forgot
    // the connection) is found while the sender is idle too. Keepalive
    // probes after this much silence, every interval, this many times;
    // and data the peer leaves unacknowledged this long ends the
    // connection (TCP_USER_TIMEOUT). Either way the next idle check sees
    // it and the unacknowledged lines are resent.
    Millis keepalive_idle{30000};
    Millis keepalive_interval{10000};
    int keepalive_count = 3;
    Millis user_timeout{30000};
  };

  // tcp://host:port, resolved again at every connection, framed as asked.
  static std::unique_ptr<StreamSink> tcp(std::string host, uint16_t port, Framing framing,
                                         std::string who, Options opts);
  // tls://host:port: octet-counted inside TLS, with `tls` verifying the
  // relay (nothing is sent before it did).
  static std::unique_ptr<StreamSink> tls(std::string host, uint16_t port,
                                         std::shared_ptr<TlsContext> tls, std::string who,
                                         Options opts);
  // A unix stream socket.
  static std::unique_ptr<StreamSink> unix_stream(SocketAddress address, std::string who,
                                                 Options opts);
  ~StreamSink() override;

  delivery::SendResult send(const delivery::Batch& batch, std::string& error) override;
  bool acknowledges() const override { return false; }
  bool connection_lost() override;
  void close() override;
  std::string describe() const override { return who_; }
  size_t unacknowledged_at_loss() const override { return unacked_at_loss_; }

  bool connected() const { return fd_ >= 0; }
  // The connected socket, or -1: for tests that look at its options.
  int socket_fd() const { return fd_; }

 private:
  // How each message is delimited: tcp's framings, and syslog(3)'s NUL on
  // a unix stream socket.
  enum class Delimiter { OctetCount, Lf, Nul };

  StreamSink(Delimiter delimiter, std::string who, Options opts);
  bool connect(std::string& error);
  bool connect_to(const SocketAddress& addr, std::string& error);
  bool write_all(std::string_view data, std::string& error, size_t& written);
  // The connection is dead: what its peer had not acknowledged, less the
  // `just_written` bytes of the batch being sent (resent whole anyway), is
  // noted for unacknowledged_at_loss; then the socket is closed.
  void close_lost(size_t just_written);

  Delimiter delimiter_;
  std::string who_;
  Options opts_;
  std::string host_;
  uint16_t port_ = 0;
  SocketAddress unix_address_;
  bool is_unix_ = false;
  std::shared_ptr<TlsContext> tls_;        // tls:// only
  std::unique_ptr<TlsStream> tls_stream_;  // while connected over TLS
  int fd_ = -1;
  size_t unacked_at_loss_ = 0;
  std::unique_ptr<char[]> frames_;  // the batch being sent, framed
  size_t frames_size_ = 0;
};

// A unix socket path, which a restarted daemon may bring back as the other
// kind (syslog-ng switched between unix-dgram and unix-stream): datagrams
// while it is a datagram socket, a stream (NUL-terminated, resent like tcp)
// while it is a stream socket, switching at the next send.
class UnixSink : public delivery::Sink {
 public:
  enum class Mode { Datagram, Stream };
  UnixSink(SocketAddress address, Mode start, std::string who, Millis stall_timeout,
           std::function<void(int)> on_drop);

  delivery::SendResult send(const delivery::Batch& batch, std::string& error) override;
  bool acknowledges() const override { return mode_ == Mode::Datagram; }
  bool connection_lost() override;
  void close() override;
  std::string describe() const override { return who_; }
  size_t sent_of_failed(const delivery::Batch& batch) const override;
  size_t given_up_in_last_send() const override { return given_up_; }
  size_t unacknowledged_at_loss() const override { return stream_->unacknowledged_at_loss(); }

  Mode mode() const { return mode_; }

 private:
  SocketAddress address_;
  Mode mode_;
  std::string who_;
  std::unique_ptr<DatagramSink> datagram_;
  std::unique_ptr<StreamSink>
      stream_;  // Of the last send: lines given up (as datagrams), and where it stopped,
  // to resume there whichever way the batch goes next.
  size_t given_up_ = 0;
  ResumePoint resume_;
};

// Why nothing would take lines at `target` now, or "" when something
// listens: for the startup warning, never for delivery. Probe sockets are
// closed at once. A udp target passes what resolving it gave (`addresses`,
// or `resolve_error`); nothing is sent to it.
std::string unreachable_reason(const SyslogTarget& target,
                               const std::vector<SocketAddress>& addresses,
                               const std::string& resolve_error);

// What a sender of one target needs in a child: its sink, the Shipper
// settings that suit it, and a line for the error log (at info) about how
// it connects, when there is something to say.
struct OpenedSink {
  std::unique_ptr<delivery::Sink> sink;  // null: no address, or `error`
  delivery::ShipperOptions options;
  std::string note;
  std::string error;  // why there is no sink, when there is a reason to say
};

// The Shipper settings of each kind of sink, with its queue and exit
// deadline. Datagrams go in smaller batches and retry sooner: a batch is
// one burst of sends, and a datagram receiver is local or stateless.
// Acknowledged: RELP, whose relay confirms each line (nothing to resend
// from the Shipper's side).
enum class SinkKind { Stream, Datagram, Acknowledged };

// What tls:// and relp:// targets need beyond their URL.
struct TransportSettings {
  // tls://, as the parent read them; null: the system's trust store and
  // the URL's host as the name to verify.
  const TlsCredentials* tls = nullptr;
  int relp_window = kDefaultRelpWindow;
};
delivery::ShipperOptions shipper_preset(SinkKind kind, size_t queue_bytes, Millis exit_deadline);

// Opens the sink of `target` in a child, as syslog(3) would: a unix path is
// tried as a datagram socket first and used as a stream socket when it is
// one (EPROTOTYPE), switching when it changes kind later. A tcp target
// frames as `tcp_framing` says. A udp target uses `udp_addresses` (resolved
// in the parent) for its first connection and resolves again at every
// reconnection. No sink only for an unusable unix path. `on_drop` counts a
// datagram that can never be sent. Throws std::bad_alloc only.
OpenedSink open_sink(const SyslogTarget& target, Framing tcp_framing,
                     std::vector<SocketAddress>& udp_addresses, const std::string& who,
                     size_t queue_bytes, Millis exit_deadline, std::function<void(int)> on_drop,
                     const TransportSettings& extra = {});

}  // namespace syslogmod
