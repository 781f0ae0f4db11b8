// mod_syslog's httpd glue: directives, the log-writer pair, and per-child
// sockets and senders. The logic lives in the httpd-free core
// (syslog_target, syslog_format, syslog_transport) and include/.
//
// Life of a handle: writer_init (parent, every config cycle) parses the
// target, resolves udp hosts and stores everything the writer needs in a
// SyslogHandle owned by this generation's HandleTable in pconf; vhosts that
// inherit the CustomLog share it. child_init opens each handle's socket and
// starts its Shipper (one sender thread per handle per child); the writer
// (request threads) encodes the line and pushes it to the Shipper's bounded
// queue, never touching the network. At child exit every Shipper is told to
// stop at once (a pchild pre-cleanup) and waited for within the exit deadline
// (a pchild cleanup); see include/child_senders.h for why that is safe even
// inside prefork's signal handler.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

// httpd.h must come first (clang-format 14 wants the marker alone).
// clang-format off
#include "httpd.h"
#include "ap_mpm.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_main.h"
#include "apr_strings.h"
#include "util_cfgtree.h"
// clang-format on

#include "child_senders.h"
#include "config_values.h"
#include "delivery.h"
#include "delivery_aplog.h"
#include "drop_ledger.h"
#include "log_writer_chain.h"
#include "mod_syslog.h"
#include "module_kit.h"
#include "status_board.h"
#include "status_page.h"
#include "syslog_format.h"
#include "syslog_target.h"
#include "syslog_transport.h"

APLOG_USE_MODULE(syslog);

namespace {

using delivery::DropLedger;
using syslogmod::DatagramSender;
using syslogmod::Format;
using syslogmod::StreamSink;
using syslogmod::SyslogTarget;
using syslogmod::Transport;
using SteadyClock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

constexpr const char* kPrefix = "syslog:";
constexpr apr_int64_t kDefaultMaxLength = 8192;
constexpr uint64_t kMinMaxLength = 480;  // what RFC 5424 receivers must take
constexpr uint64_t kMaxMaxLength = 1 << 20;
constexpr apr_int64_t kDefaultQueueSize = 4 << 20;
constexpr uint64_t kMinQueueSize = 64 << 10;
constexpr uint64_t kMaxQueueSize = 1ull << 30;
constexpr Millis kReportInterval{10000};
constexpr apr_int64_t kDefaultExitTimeout = 2000;  // ms; httpd escalates a stop after 3 s
// httpd sends SIGTERM to children still there 3 s into a stop (AH00045):
// the senders must be done before, with room for the rest of the exit.
constexpr uint64_t kMaxExitTimeout = 2500;

// ---- configuration ----

struct ServerConfig {
  const char* ident;            // nullptr: not set here
  int format;                   // -1: not set here, else a Format
  apr_int64_t max_length;       // 0: not set here
  apr_int64_t queue_size;       // 0: not set here
  apr_int64_t exit_timeout_ms;  // -1: not set (main server only)
};

ServerConfig* server_config(server_rec* s) {
  return static_cast<ServerConfig*>(ap_get_module_config(s->module_config, &syslog_module));
}

// ---- handles ----

struct ChildState;

struct SyslogHandle {
  std::string spec;  // the target as written, names the handle in messages
  SyslogTarget target;
  Format format = Format::Bsd;
  std::string tag;
  std::string hostname;  // empty for the bsd local form
  size_t max_length = kDefaultMaxLength;
  size_t queue_bytes = kDefaultQueueSize;
  // udp: resolved in the parent (getaddrinfo may block; requests must not).
  std::vector<syslogmod::SocketAddress> addresses;
  std::string resolve_error;
  server_rec* server = nullptr;  // where reports go
  size_t status_index = 0;       // its target on the generation's StatusBoard
  ChildState* child = nullptr;   // this child's sockets, after child_init
  // Drops and truncations counted on request threads. Made in the parent,
  // so that it is there (one per child, copied at fork) even when the
  // child could not set up anything else.
  std::unique_ptr<DropLedger> ledger;
};

// What one handle owns in one child. Never destroyed in the child (see
// child_exit).
struct ChildState {
  std::unique_ptr<delivery::Shipper> shipper;
};

// This config cycle's handles, in pconf: a static would be destroyed at
// exit() while pool cleanups may still read it, and plog outlives the DSO
// (see log_writer_chain.h).
struct Generation {
  explicit Generation(apr_pool_t* p) : pconf(p) {}
  apr_pool_t* pconf;
  logchain::HandleTable<SyslogHandle> handles;
  Millis exit_timeout{kDefaultExitTimeout};
  // Every child's figures for mod_status, one target per distinct name
  // (handles of the same facility, level, tag and endpoint add up); made
  // at post_config.
  std::unique_ptr<delivery::StatusBoard> board;
  std::vector<std::string> status_names;
  delivery::ChildSenders* senders = nullptr;  // in a child, after child_init
};

logchain::WriterChain g_chain;  // two pointers: nothing to destroy
Generation* g_gen = nullptr;

apr_status_t forget_generation(void* data) {
  if (g_gen == data) g_gen = nullptr;
  return APR_SUCCESS;
}

// A copy: callers are hooks, not requests.
std::vector<SyslogHandle*> all_handles() {
  std::vector<SyslogHandle*> out;
  if (g_gen)
    for (const auto& h : g_gen->handles.all()) out.push_back(h.get());
  return out;
}

void report(server_rec* s, const std::vector<std::pair<delivery::Level, std::string>>& msgs) {
  for (const auto& [level, text] : msgs)
    ap_log_error(APLOG_MARK, delivery::aplog_level(level), 0, s, "%s", text.c_str());
}

// The name httpd was started as, as syslog(3) would take it from argv[0].
std::string default_ident() {
  const char* argv0 = ap_server_argv0 ? ap_server_argv0 : "httpd";
  const char* slash = std::strrchr(argv0, '/');
  std::string name = slash ? slash + 1 : argv0;
  std::string error;
  return syslogmod::check_tag(name, error) ? name : "httpd";
}

std::string machine_hostname() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "-";
  return syslogmod::header_hostname(buf);
}

// ---- child side ----

delivery::ShipperOptions shipper_options(const SyslogHandle& h, Millis exit_timeout) {
  delivery::ShipperOptions o;
  o.queue_bytes = h.queue_bytes;
  o.batch_lines = 1000;
  o.flush_interval = Millis(50);
  o.retry_min = Millis(250);
  o.retry_max = Millis(5000);
  o.exit_deadline = exit_timeout;
  // What the kernel took but the receiver may not have read when the
  // connection dies is resent on the next one (at-least-once). Five seconds
  // covers a receiver that hangs for a few seconds before it is restarted.
  o.resend_window = Millis(5000);
  o.resend_window_bytes = h.queue_bytes;
  o.report_interval = kReportInterval;
  return o;
}

// Runs on the sender thread; while a prefork child stops, through the
// ExitLog (see child_senders.h).
delivery::Reporter reporter_for(server_rec* s, const delivery::ChildSenders* senders) {
  return [s, senders](delivery::Level level, const std::string& msg) {
    if (logchain::report_lock_free(senders, delivery::aplog_level(level), msg)) return;
    ap_log_error(APLOG_MARK, delivery::aplog_level(level), 0, s, "%s", msg.c_str());
  };
}

// Opens what one handle needs in this child: its sink and the Shipper that
// drives it. A unix path is tried as a datagram socket first and used as a
// stream socket if it is one (EPROTOTYPE), as syslog(3) does.
void open_child_state(SyslogHandle* h, Generation* gen) {
  auto c = std::make_unique<ChildState>();
  DropLedger* ledger = h->ledger.get();
  delivery::ShipperOptions o = shipper_options(*h, gen->exit_timeout);
  std::unique_ptr<delivery::Sink> sink;
  auto datagram_sink = [&](std::unique_ptr<DatagramSender> sender) {
    auto d = std::make_unique<syslogmod::DatagramSink>(
        std::move(sender), h->spec, Millis(10000),
        [ledger](int err) { ledger->count_dropped(err); });
    // Bursts: one wakeup of the sender (and of the receiver) per batch, not
    // per line.
    o.batch_lines = 256;
    o.retry_min = Millis(100);
    o.retry_max = Millis(2000);
    sink = std::move(d);
  };
  switch (h->target.transport) {
    case Transport::Tcp: {
      sink = StreamSink::tcp(h->target.host, h->target.port, h->spec, StreamSink::Options());
      break;
    }
    case Transport::Unix: {
      syslogmod::SocketAddress addr;
      std::string error;
      if (!syslogmod::unix_address(h->target.path, addr, error)) break;
      auto sender = std::make_unique<DatagramSender>(addr);
      if (sender->open() == EPROTOTYPE) {
        sink = StreamSink::unix_stream(addr, h->spec, StreamSink::Options());
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, h->server,
                     "%s: %s is a stream socket; sending through it", h->spec.c_str(),
                     h->target.path.c_str());
      } else {
        datagram_sink(std::move(sender));
      }
      break;
    }
    case Transport::Udp: {
      if (h->addresses.empty()) {
        std::string error;
        syslogmod::resolve(h->target.host, h->target.port, SOCK_DGRAM, h->addresses, error);
      }
      if (h->addresses.empty()) break;  // every line is counted as dropped
      auto sender = std::make_unique<DatagramSender>(h->addresses.front());
      sender->open();
      datagram_sink(std::move(sender));
      break;
    }
  }
  if (gen->board) {
    o.status = gen->board->claim(h->status_index, getpid());
    ledger->mirror_to(o.status);
  }
  if (sink) {
    server_rec* s = h->server;
    // The sender's last act: the truncations and drops its sink counted.
    delivery::Reporter to_log = reporter_for(s, gen->senders);
    o.on_exit = [ledger, to_log] {
      for (const auto& [level, text] : ledger->take(SteadyClock::now(), true)) to_log(level, text);
    };
    c->shipper = std::make_unique<delivery::Shipper>(std::move(sink), o, to_log);
    h->child = c.release();
    if (gen->senders) gen->senders->add(h->child->shipper.get());
    h->child->shipper->start();
    return;
  }
  h->child = c.release();
}

// What a child reports at its exit, after its senders finished. Throws.
void report_at_exit(size_t late) {
  if (late)
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, ap_server_conf,
                 "mod_syslog: %zu senders had not finished by the exit deadline; what they "
                 "held is not counted",
                 late);
  // Handles without a sender count their drops on request threads.
  for (SyslogHandle* h : all_handles())
    if (!h->child || !h->child->shipper || !h->child->shipper->running())
      report(h->server, h->ledger->take(SteadyClock::now(), true));
}

// Runs after every sender of this child was told to stop (a pre-cleanup),
// maybe inside prefork's signal handler: nothing here allocates, locks or
// frees unless the policy says this is an ordinary thread. The ChildStates
// stay: the child exits next.
apr_status_t child_exit(void* data) {
  auto* senders = static_cast<delivery::ChildSenders*>(data);
  size_t late = senders->finish_all();
  if (senders->join_policy() != delivery::ChildSenders::Join::AfterStop) return APR_SUCCESS;
  logchain::guard_continue(APLOG_MODULE_INDEX, APLOG_ERR, ap_server_conf, "mod_syslog: child exit",
                           [&] { report_at_exit(late); });
  return APR_SUCCESS;
}

// "local6.info:www@tcp://relay:514": what a target is called on the status
// page (with the tag it sends, SyslogIdent's when the target names none).
std::string status_name(const SyslogHandle& h) {
  return std::string(syslogmod::facility_name(h.target.facility)) + "." +
         syslogmod::severity_name(h.target.severity) + ":" + h.tag + "@" + h.target.endpoint();
}

int status_hook(request_rec* r, int flags) {
  Generation* gen = g_gen;
  if (!gen) return OK;
  return logchain::print_board(APLOG_MODULE_INDEX, r, flags, "Syslog", gen->board.get(),
                               [gen](size_t i) { return gen->status_names[i]; });
}

void child_stopping(apr_pool_t*, int graceful) {
  if (Generation* gen = g_gen) logchain::start_exit_deadline(gen->senders, graceful);
}

void child_init(apr_pool_t* pchild, server_rec* s) {
  Generation* gen = g_gen;
  if (!gen || gen->handles.all().empty()) return;
  if (!logchain::guard_continue(APLOG_MODULE_INDEX, APLOG_ERR, s, "mod_syslog: child_init",
                                [&] { gen->senders = logchain::new_child_senders("syslog"); }))
    return;  // no child state: the writer counts nothing it cannot hold
  for (SyslogHandle* h : all_handles()) {
    const char* who =
        apr_pstrcat(pchild, h->spec.c_str(), ": cannot set up in this child", nullptr);
    logchain::guard_continue(APLOG_MODULE_INDEX, APLOG_ERR, s, who,
                             [&] { open_child_state(h, gen); });
  }
  logchain::stop_with_child(pchild, gen->senders, child_exit, gen->senders);
}

// ---- the writer pair ----

// The handle for a syslog: target, or nullptr when it is refused (logged).
// Throws.
void* new_handle(server_rec* s, const char* name) {
  SyslogTarget target;
  std::string error;
  if (!syslogmod::parse_target(name, target, error)) {
    ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_ERR, 0, s, "CustomLog \"%s\": %s", name,
                 error.c_str());
    return nullptr;
  }
  if (!g_gen) return nullptr;  // never: open_logs made it
  const ServerConfig* cfg = server_config(s);
  auto owned = std::make_unique<SyslogHandle>();
  SyslogHandle* h = owned.get();
  h->spec = name;
  h->target = target;
  bool network = target.transport != Transport::Unix;
  h->format = cfg->format >= 0 ? static_cast<Format>(cfg->format)
                               : (network ? Format::Rfc5424 : Format::Bsd);
  h->tag = !target.tag.empty() ? target.tag : cfg->ident ? cfg->ident : default_ident();
  // syslog(3) leaves the host name out of what it writes to /dev/log; on
  // the network both formats carry it.
  if (network || h->format == Format::Rfc5424) h->hostname = machine_hostname();
  h->max_length = static_cast<size_t>(cfg->max_length ? cfg->max_length : kDefaultMaxLength);
  h->queue_bytes = static_cast<size_t>(cfg->queue_size ? cfg->queue_size : kDefaultQueueSize);
  h->server = s;
  h->ledger = std::make_unique<DropLedger>(h->spec, h->max_length, kReportInterval);
  // The queue must hold a whole line.
  if (h->queue_bytes < h->max_length + 4096) {
    ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_ERR, 0, s,
                 "CustomLog \"%s\": SyslogQueueSize (%zu) must be larger than "
                 "SyslogMaxLength (%zu)",
                 name, h->queue_bytes, h->max_length);
    return nullptr;
  }
  if (target.transport == Transport::Udp)
    syslogmod::resolve(target.host, target.port, SOCK_DGRAM, h->addresses, h->resolve_error);
  return g_gen->handles.add(g_gen->pconf, std::move(owned));
}

// `p` is plog: nothing of ours may live there (see log_writer_chain.h); a
// message's text, with no cleanup, may.
void* writer_init(apr_pool_t* p, server_rec* s, const char* name) {
  if (!logchain::has_prefix(name, kPrefix)) return g_chain.next_init(p, s, name);
  const char* who = apr_psprintf(p, "CustomLog \"%s\"", name);
  return logchain::guard_parent(APLOG_MODULE_INDEX, s, who, static_cast<void*>(nullptr),
                                [&] { return new_handle(s, name); });
}

// A request never touches the network: the line goes to the handle's queue.
void deliver(SyslogHandle* h, const std::string& msg) {
  ChildState* c = h->child;
  if (!c->shipper) {
    h->ledger->count_dropped(EDESTADDRREQ);  // the udp host never resolved
    return;
  }
  if (!c->shipper->running()) {
    h->ledger->count_dropped(EAGAIN);  // its sender thread could not start
    return;
  }
  // A full queue, or a sender that could not start, is counted and reported
  // by the Shipper.
  c->shipper->push(std::string_view(), msg);
}

void write_line(request_rec* r, SyslogHandle* h, const char** strs, int* lens, int n,
                apr_size_t len) {
  if (!h->child) {
    // child_init could not set this log up (out of memory): counted.
    h->ledger->count_dropped(ENOMEM);
    auto now = SteadyClock::now();
    if (h->ledger->due(now)) report(h->server, h->ledger->take(now, false));
    return;
  }
  // The line as mod_log_config made it, less its line end (the last portion).
  char* joined = static_cast<char*>(apr_palloc(r->pool, len + 1));
  size_t used = 0;
  for (int i = 0; i < n; ++i) {
    std::memcpy(joined + used, strs[i], static_cast<size_t>(lens[i]));
    used += static_cast<size_t>(lens[i]);
  }
  std::string_view line(joined, used);
  constexpr std::string_view eol = APR_EOL_STR;
  if (n > 0 && static_cast<size_t>(lens[n - 1]) >= eol.size() && line.size() >= eol.size() &&
      line.substr(line.size() - eol.size()) == eol)
    line.remove_suffix(eol.size());

  syslogmod::Header hdr;
  hdr.priority = h->target.priority();
  hdr.time = syslogmod::local_time_now();
  hdr.hostname = h->hostname;
  hdr.tag = h->tag;
  hdr.pid = static_cast<long>(getpid());
  std::string msg;
  if (syslogmod::encode(h->format, hdr, line, h->max_length, msg)) h->ledger->count_truncated();

  deliver(h, msg);
  auto now = SteadyClock::now();
  if (h->ledger->due(now)) report(h->server, h->ledger->take(now, false));
}

apr_status_t writer(request_rec* r, void* handle, const char** strs, int* lens, int n,
                    apr_size_t len) {
  SyslogHandle* h = g_gen ? g_gen->handles.find(handle) : nullptr;
  if (!h) return g_chain.next_write(r, handle, strs, lens, n, len);
  // A line that could not go is counted and reported; an error here would
  // make mod_log_config log a warning for every request as well.
  return logchain::guard_request(APLOG_MODULE_INDEX, r, h->spec.c_str(), apr_status_t{APR_SUCCESS},
                                 [&]() -> apr_status_t {
                                   write_line(r, h, strs, lens, n, len);
                                   return APR_SUCCESS;
                                 });
}

// ---- hooks ----

// mod_log_config's check_config (AH02297) takes every CustomLog target that
// does not start with '|' for a file and fails when its "directory" does not
// exist, which "syslog:...@unix:/dev/log" and "...@udp://host:port" have.
// It skips an entry whose `directive` is NULL, and that field is what we
// clear, in the entries of our own targets only. The layouts below mirror
// mod_log_config.c's private multi_log_state and config_log_state (httpd
// 2.4). An entry is touched only when the array's element size matches and
// its `directive` is exactly one of the CustomLog/TransferLog nodes we found
// in the config tree for a syslog: target, so a different layout is never
// written to: the check then simply stays in force.
struct LogConfigServer {
  const char* default_format_string;
  apr_array_header_t* default_format;
  apr_array_header_t* config_logs;
  apr_array_header_t* server_config_logs;
  apr_table_t* formats;
};

struct LogConfigEntry {
  const char* fname;
  const char* format_string;
  apr_array_header_t* format;
  void* log_writer;
  char* condition_var;
  int inherit;
  ap_expr_info_t* condition_expr;
  const ap_directive_t* directive;
};

void exempt_from_log_dir_check(server_rec* s, const std::vector<const ap_directive_t*>& ours) {
  module* log_config = ap_find_linked_module("mod_log_config.c");
  if (!log_config || ours.empty()) return;
  for (server_rec* v = s; v; v = v->next) {
    auto* mls = static_cast<LogConfigServer*>(ap_get_module_config(v->module_config, log_config));
    if (!mls || !mls->config_logs) continue;
    const apr_array_header_t* logs = mls->config_logs;
    if (logs->elt_size != static_cast<int>(sizeof(LogConfigEntry))) return;
    auto* entries = reinterpret_cast<LogConfigEntry*>(logs->elts);
    for (int i = 0; i < logs->nelts; ++i) {
      LogConfigEntry& e = entries[i];
      if (!e.directive) continue;
      if (std::find(ours.begin(), ours.end(), e.directive) == ours.end()) continue;
      if (!e.fname || !logchain::has_prefix(e.fname, kPrefix)) continue;
      e.directive = nullptr;
    }
  }
}

// `apachectl -t` never opens logs: reject bad targets here, with the line.
int check_config(apr_pool_t*, apr_pool_t*, apr_pool_t* ptemp, server_rec* s) {
  return logchain::guard_hook(APLOG_MODULE_INDEX, s, "mod_syslog", [&] {
    bool ok = true;
    std::vector<const ap_directive_t*> ours;
    logchain::for_each_log_target(ap_conftree, kPrefix, ptemp,
                                  [&](const ap_directive_t* d, const char* target) {
                                    SyslogTarget t;
                                    std::string error;
                                    if (!syslogmod::parse_target(target, t, error)) {
                                      ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_ERR, 0, s,
                                                   "%s \"%s\" (line %d of %s): %s", d->directive,
                                                   target, d->line_num, d->filename, error.c_str());
                                      ok = false;
                                    }
                                    ours.push_back(d);
                                  });
    exempt_from_log_dir_check(s, ours);
    // httpd stops on any return but OK from check_config.
    return ok ? OK : HTTP_INTERNAL_SERVER_ERROR;
  });
}

// Before mod_log_config's open_logs, which calls writer_init for each log.
int open_logs(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* s) {
  return logchain::guard_hook(APLOG_MODULE_INDEX, s, "mod_syslog", [&] {
    g_gen = logchain::pool_new<Generation>(pconf, pconf);
    apr_pool_cleanup_register(pconf, g_gen, forget_generation, apr_pool_cleanup_null);
    const ServerConfig* cfg = server_config(s);
    if (cfg->exit_timeout_ms >= 0) g_gen->exit_timeout = Millis(cfg->exit_timeout_ms);
    if (!g_chain.install(writer_init, writer)) {
      ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_NOTICE, 0, s,
                   "mod_syslog: mod_log_config is not loaded; syslog: targets are unused");
    }
    return OK;
  });
}

// Returns 0 when something listens at `addr` (connect within `wait`).
// Warns, once per config cycle, about targets nobody listens at now. Not an
// error: the receiver may well come up after httpd. The probe sockets are
// closed at once; the children open their own.
void warn_unreachable(SyslogHandle* h) {
  std::string why = syslogmod::unreachable_reason(h->target, h->addresses, h->resolve_error);
  if (!why.empty())
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, h->server,
                 "%s: %s is not reachable now (%s); lines will be sent once it is", h->spec.c_str(),
                 h->target.endpoint().c_str(), why.c_str());
}

// One status target per distinct name, and the board that holds them. Throws.
void make_status_board(Generation* gen) {
  for (SyslogHandle* h : all_handles()) {
    std::string name = status_name(*h);
    auto it = std::find(gen->status_names.begin(), gen->status_names.end(), name);
    h->status_index = static_cast<size_t>(it - gen->status_names.begin());
    if (it == gen->status_names.end()) gen->status_names.push_back(std::move(name));
  }
  gen->board = logchain::new_status_board(gen->status_names.size());
}

int post_config(apr_pool_t*, apr_pool_t*, apr_pool_t*, server_rec* s) {
  // The first of the two startup passes only checks the configuration.
  if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) return OK;
  if (Generation* gen = g_gen; gen && !gen->handles.all().empty()) {
    logchain::guard_continue(APLOG_MODULE_INDEX, APLOG_WARNING, s,
                             "mod_syslog: no delivery figures for mod_status",
                             [&] { make_status_board(gen); });
  }
  // A failed probe only costs the warning about an unreachable receiver.
  for (SyslogHandle* h : all_handles())
    logchain::guard_continue(APLOG_MODULE_INDEX, APLOG_WARNING, h->server, h->spec.c_str(),
                             [&] { warn_unreachable(h); });
  return OK;
}

// ---- directives ----

// Runs a handler's body on this server's config: no exception reaches httpd.
template <typename Fn>
const char* guarded(cmd_parms* cmd, Fn&& fn) {
  return logchain::guard_directive(cmd, [&] { return fn(server_config(cmd->server)); });
}

}  // namespace

// ---- entry points named by mod_syslog.c, declared in mod_syslog.h ----

extern "C" {

void* syslog_create_server_config(apr_pool_t* p, server_rec*) {
  auto* c = static_cast<ServerConfig*>(apr_pcalloc(p, sizeof(ServerConfig)));
  c->format = -1;
  c->exit_timeout_ms = -1;
  return c;
}

void* syslog_merge_server_config(apr_pool_t* p, void* basev, void* addv) {
  auto* base = static_cast<ServerConfig*>(basev);
  auto* add = static_cast<ServerConfig*>(addv);
  auto* m = static_cast<ServerConfig*>(apr_pcalloc(p, sizeof(ServerConfig)));
  m->ident = add->ident ? add->ident : base->ident;
  m->format = add->format >= 0 ? add->format : base->format;
  m->max_length = add->max_length ? add->max_length : base->max_length;
  m->queue_size = add->queue_size ? add->queue_size : base->queue_size;
  m->exit_timeout_ms = base->exit_timeout_ms;  // main server only
  return m;
}

const char* syslog_cmd_ident(cmd_parms* cmd, void*, const char* arg) {
  return guarded(cmd, [&](ServerConfig* c) -> const char* {
    std::string error;
    if (!syslogmod::check_tag(arg, error))
      return apr_psprintf(cmd->pool, "SyslogIdent: %s", error.c_str());
    c->ident = apr_pstrdup(cmd->pool, arg);
    return nullptr;
  });
}

const char* syslog_cmd_format(cmd_parms* cmd, void*, const char* arg) {
  return guarded(cmd, [&](ServerConfig* c) -> const char* {
    Format f;
    if (!syslogmod::parse_format(arg, f))
      return apr_psprintf(cmd->pool, "SyslogFormat: unknown format '%s' (expected bsd or rfc5424)",
                          arg);
    c->format = static_cast<int>(f);
    return nullptr;
  });
}

const char* syslog_cmd_max_length(cmd_parms* cmd, void*, const char* arg) {
  return guarded(cmd, [&](ServerConfig* c) -> const char* {
    uint64_t v;
    std::string error;
    if (!config_values::parse_number(arg, kMinMaxLength, kMaxMaxLength, v, error))
      return apr_psprintf(cmd->pool, "SyslogMaxLength: %s", error.c_str());
    c->max_length = static_cast<apr_int64_t>(v);
    return nullptr;
  });
}

const char* syslog_cmd_queue_size(cmd_parms* cmd, void*, const char* arg) {
  return guarded(cmd, [&](ServerConfig* c) -> const char* {
    uint64_t v;
    std::string error;
    if (!config_values::parse_size(arg, kMinQueueSize, kMaxQueueSize, v, error))
      return apr_psprintf(cmd->pool, "SyslogQueueSize: %s", error.c_str());
    c->queue_size = static_cast<apr_int64_t>(v);
    return nullptr;
  });
}

const char* syslog_cmd_exit_timeout(cmd_parms* cmd, void*, const char* arg) {
  if (const char* err = ap_check_cmd_context(cmd, GLOBAL_ONLY)) return err;
  return guarded(cmd, [&](ServerConfig* c) -> const char* {
    uint64_t v;
    std::string error;
    if (!config_values::parse_number(arg, 0, kMaxExitTimeout, v, error))
      return apr_psprintf(cmd->pool, "SyslogExitTimeout: %s (httpd escalates a stop after 3 s)",
                          error.c_str());
    c->exit_timeout_ms = static_cast<apr_int64_t>(v);
    return nullptr;
  });
}

void syslog_register_hooks(apr_pool_t*) {
  static const char* const before_log_config[] = {"mod_log_config.c", nullptr};
  // Before mod_log_config's own check, which must not see our targets as files.
  ap_hook_check_config(check_config, nullptr, before_log_config, APR_HOOK_MIDDLE);
  ap_hook_open_logs(open_logs, nullptr, before_log_config, APR_HOOK_MIDDLE);
  ap_hook_post_config(post_config, nullptr, nullptr, APR_HOOK_MIDDLE);
  ap_hook_child_init(child_init, nullptr, nullptr, APR_HOOK_MIDDLE);
  ap_hook_child_stopping(child_stopping, nullptr, nullptr, APR_HOOK_MIDDLE);
  APR_OPTIONAL_HOOK(ap, status_hook, status_hook, nullptr, nullptr, APR_HOOK_MIDDLE);
}

}  // extern "C"
