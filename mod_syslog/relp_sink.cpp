#include "relp_sink.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

// librelp.h declares C functions without saying so.
extern "C" {
#include <librelp.h>
}

#include <algorithm>
#include <utility>

namespace syslogmod {
namespace {

using SteadyClock = std::chrono::steady_clock;

// librelp calls its debug printer unconditionally, and has none of its own.
extern "C" void relp_debug_quiet(char*, ...) {}

extern "C" void on_relp_error(void* user, char* /*objinfo*/, char* message, relpRetVal /*code*/) {
  if (user && message) static_cast<RelpSink*>(user)->note_error(message);
}

// The numeric host of an address, as librelp's getaddrinfo() takes it
// without a lookup.
std::string numeric_host(const delivery::SocketAddress& a) {
  char host[INET6_ADDRSTRLEN] = "";
  if (a.family() == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a.get())->sin_addr, host, sizeof host);
  else if (a.family() == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(a.get())->sin6_addr, host,
              sizeof host);
  return host;
}

}  // namespace

RelpSink::RelpSink(std::string host, uint16_t port, std::string who, Options opts)
    : host_(std::move(host)), port_(port), who_(std::move(who)), opts_(opts) {
  opts_.timeout = std::max(opts_.timeout, std::chrono::seconds(1));
  // librelp ignores a window below 2 and keeps its own 128: the copy kept
  // here must never be smaller than its window.
  opts_.window = std::max(opts_.window, kMinRelpWindow);
}

RelpSink::~RelpSink() {
  drop_session();
  if (engine_) relpEngineDestruct(&engine_);
}

void RelpSink::note_error(const char* what) { last_error_ = what; }

bool RelpSink::time_left() const {
  return !stop_ || SteadyClock::now() + opts_.timeout < stop_->deadline();
}

void RelpSink::interrupt() {
  const int fd = socket_.load(std::memory_order_acquire);
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
}

void RelpSink::drop_session() {
  if (!client_) return;
  // librelp skips its waits for the close while this is set, and its last
  // write (the close command) cannot block on a socket that is shut down.
  const int fd = socket_.exchange(-1);
  if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  give_up_now_ = 1;
  relpEngineCltDestruct(engine_, &client_);
  give_up_now_ = 0;
  client_ = nullptr;
  // What the relay had not acknowledged is among the window's lines.
  resend_window_ = !window_.empty();
}

void RelpSink::close() { drop_session(); }

bool RelpSink::connect(std::string& error) {
  if (!time_left()) {
    error = "not connecting: the child is exiting";
    return false;
  }
  std::vector<delivery::SocketAddress> addrs;
  if (!delivery::resolve(host_, port_, SOCK_STREAM, addrs, error, stop_,
                         SteadyClock::now() + opts_.connect_timeout))
    return false;
  if (!engine_) {
    if (relpEngineConstruct(&engine_) != RELP_RET_OK) {
      engine_ = nullptr;
      error = "cannot start librelp (out of memory)";
      return false;
    }
    relpEngineSetDbgprint(engine_, relp_debug_quiet);
    relpEngineSetOnErr(engine_, on_relp_error);
    relpEngineSetEnableCmd(engine_, reinterpret_cast<unsigned char*>(const_cast<char*>("syslog")),
                           eRelpCmdState_Required);
    relpEngineSetDnsLookupMode(engine_, 0);  // no reverse lookups
    relpEngineSetShutdownImmdtPtr(engine_, &give_up_now_);
  }
  const std::string port = std::to_string(port_);
  for (const delivery::SocketAddress& a : addrs) {
    if (!time_left()) {
      error = "not connecting: the child is exiting";
      return false;
    }
    if (relpEngineCltConstruct(engine_, &client_) != RELP_RET_OK) {
      client_ = nullptr;
      error = "cannot start a RELP client (out of memory)";
      return false;
    }
    relpCltSetUsrPtr(client_, this);
    relpCltSetTimeout(client_, static_cast<unsigned>(opts_.timeout.count()));
    relpCltSetConnTimeout(client_, static_cast<int>(opts_.timeout.count()));
    relpCltSetWindowSize(client_, opts_.window);
    std::string host = numeric_host(a);
    last_error_.clear();
    const relpRetVal rc = relpCltConnect(
        client_, a.family(), reinterpret_cast<unsigned char*>(const_cast<char*>(port.c_str())),
        reinterpret_cast<unsigned char*>(host.data()));
    // librelp's socket is not close-on-exec: it is made so before any CGI
    // or piped logger this child forks can inherit it.
    const int fd = delivery::close_on_exec_sockets_to(a);
    if (rc == RELP_RET_OK) {
      socket_.store(fd, std::memory_order_release);
      count_connection();
      return true;
    }
    error =
        a.text + ": " +
        (last_error_.empty() ? "RELP session not opened (librelp error " + std::to_string(rc) + ")"
                             : last_error_);
    give_up_now_ = 1;
    relpEngineCltDestruct(engine_, &client_);
    give_up_now_ = 0;
    client_ = nullptr;
  }
  return false;
}

void RelpSink::remember(std::string_view line) {
  if (window_.size() >= static_cast<size_t>(opts_.window)) {
    // The oldest one was acknowledged: librelp waited for room before it
    // took a line past the window. Its memory serves the new one.
    std::string reuse = std::move(window_.front());
    window_.pop_front();
    reuse.assign(line);
    window_.push_back(std::move(reuse));
    return;
  }
  window_.emplace_back(line);
}

delivery::SendResult RelpSink::send(const delivery::Batch& batch, std::string& error) {
  if (!client_ && !connect(error)) return delivery::SendResult::Unreachable;
  auto fail = [&](const std::string& why) {
    error = why;
    drop_session();
    return delivery::SendResult::Failed;
  };
  auto send_line = [&](std::string_view line) {
    last_error_.clear();
    return relpCltSendSyslog(
        client_, reinterpret_cast<unsigned char*>(const_cast<char*>(line.data())), line.size());
  };
  if (resend_window_) {
    // The last session may have left these unacknowledged: they go first.
    for (const std::string& line : std::deque<std::string>(window_)) {
      if (!time_left()) return fail("not sending: the child is exiting");
      const relpRetVal rc = send_line(line);
      if (rc != RELP_RET_OK)
        return fail("RELP: " +
                    (last_error_.empty() ? "librelp error " + std::to_string(rc) : last_error_));
    }
    resend_window_ = false;
  }
  for (size_t i = resume_.skip(batch); i < batch.size(); ++i) {
    const std::string_view line = batch[i].body;
    relpRetVal rc = RELP_RET_OK;
    if (!time_left() || (rc = send_line(line)) != RELP_RET_OK) {
      resume_.set(batch, i);
      return fail(rc == RELP_RET_OK
                      ? "not sending: the child is exiting"
                      : "RELP: " + (last_error_.empty() ? "librelp error " + std::to_string(rc)
                                                        : last_error_));
    }
    remember(line);
  }
  resume_.set(batch, batch.size());
  return delivery::SendResult::Ok;
}

void RelpSink::settle(std::vector<delivery::Record>& unconfirmed) {
  if (client_ && time_left()) {
    // The relay answers "close" after every message before it: an answer
    // without an error confirms the whole window. A relay that answers
    // takes milliseconds; one that hangs holds this call for up to a second
    // more than `timeout` (DE0018 then says so, if that outlasts the exit
    // deadline's grace).
    last_error_.clear();
    // The socket stays reachable by interrupt() during the close: a relay
    // that hangs now is cut off at the exit deadline. (Should the number
    // be reused between librelp's close and the store below, an exiting
    // child shuts down a socket of its own a moment early.)
    relpEngineCltDestruct(engine_, &client_);
    socket_.store(-1, std::memory_order_release);
    client_ = nullptr;
    if (last_error_.empty()) window_.clear();
  } else {
    drop_session();
  }
  for (std::string& line : window_) unconfirmed.push_back(delivery::Record{"", std::move(line)});
  window_.clear();
  resend_window_ = false;
}

}  // namespace syslogmod
