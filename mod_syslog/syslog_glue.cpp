// mod_syslog's httpd glue: its directives, and what include/log_target_kit.h
// asks of a log writer: how a target string is checked, how a CustomLog
// becomes a handle, and how a child opens the sink of a target. The logic
// lives in the httpd-free core (syslog_target, syslog_format,
// syslog_transport) and include/.
//
// Each CustomLog "syslog:..." gets one handle (vhosts that inherit it share
// it) and one Sender: in each child, one Shipper with its sender thread and
// socket. The writer encodes the line on the request thread and offers it to
// the Shipper's bounded queue, never touching the network.
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

// httpd.h must come first (clang-format 14 wants the marker alone).
// clang-format off
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_main.h"
#include "apr_strings.h"
// clang-format on

#include "config_values.h"
#include "delivery.h"
#include "drop_ledger.h"
#include "log_dir_exemption.h"
#include "log_target_kit.h"
#include "mod_syslog.h"
#include "module_kit.h"
#include "syslog_format.h"
#include "syslog_target.h"
#include "syslog_transport.h"

APLOG_USE_MODULE(syslog);

namespace {

using syslogmod::Format;
using syslogmod::SyslogTarget;
using syslogmod::Transport;
using Millis = std::chrono::milliseconds;

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

// ---- what the kit asks of a log writer ----

struct SyslogLogs;
using Kit = logchain::LogTargetKit<SyslogLogs>;

struct SyslogLogs {
  static constexpr const char* kPrefix = "syslog:";
  static constexpr const char* kModule = "mod_syslog";
  static constexpr const char* kExitTag = "syslog";
  static constexpr const char* kStatusKind = "Syslog";
  static int log_index() { return APLOG_MODULE_INDEX; }

  // Where a Sender sends: the transport part of the target.
  struct Destination {
    SyslogTarget target;
    size_t queue_bytes = kDefaultQueueSize;
    // udp: resolved in the parent (getaddrinfo may block; requests must not).
    std::vector<syslogmod::SocketAddress> addresses;
    std::string resolve_error;
  };
  using SenderT = logchain::Sender<Destination>;

  // One CustomLog: how its lines are encoded, and the Sender they go to.
  struct Handle {
    SyslogTarget target;
    Format format = Format::Bsd;
    std::string tag;
    std::string hostname;  // empty for the bsd local form
    size_t max_length = kDefaultMaxLength;
    SenderT* sender = nullptr;
  };

  struct Settings {
    Millis exit_timeout{kDefaultExitTimeout};
    // This child's pid, for the header: getpid() is a syscall per line.
    long pid = 0;
  };
  using Gen = logchain::Generation<SyslogLogs>;

  static bool parse_target(const char* name, std::string& error) {
    SyslogTarget t;
    return syslogmod::parse_target(name, t, error);
  }

  static int check_config(apr_pool_t*, server_rec* s, const logchain::TargetDirectives& ours) {
    syslogmod::exempt_from_log_dir_check(s, ours, kPrefix);
    return OK;
  }

  static void open_logs(Gen& gen, apr_pool_t*, server_rec* s) {
    const ServerConfig* cfg = server_config(s);
    if (cfg->exit_timeout_ms >= 0) gen.settings.exit_timeout = Millis(cfg->exit_timeout_ms);
  }

  // "local6.info:www@tcp://relay:514": what a target is called on the
  // status page (with the tag it sends, SyslogIdent's when it names none).
  static std::string status_name(const Handle& h) {
    return std::string(syslogmod::facility_name(h.target.facility)) + "." +
           syslogmod::severity_name(h.target.severity) + ":" + h.tag + "@" + h.target.endpoint();
  }

  // Throws.
  static std::unique_ptr<Handle> new_handle(Gen& gen, server_rec* s, const char* name) {
    auto h = std::make_unique<Handle>();
    std::string error;
    if (!syslogmod::parse_target(name, h->target, error)) {
      ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_ERR, 0, s, "SY0001: CustomLog \"%s\": %s",
                   name, error.c_str());
      return nullptr;
    }
    const ServerConfig* cfg = server_config(s);
    const SyslogTarget& target = h->target;
    bool network = target.transport != Transport::Unix;
    h->format = cfg->format >= 0 ? static_cast<Format>(cfg->format)
                                 : (network ? Format::Rfc5424 : Format::Bsd);
    h->tag = !target.tag.empty() ? target.tag : cfg->ident ? cfg->ident : default_ident();
    // syslog(3) leaves the host name out of what it writes to /dev/log; on
    // the network both formats carry it.
    if (network || h->format == Format::Rfc5424) h->hostname = machine_hostname();
    h->max_length = static_cast<size_t>(cfg->max_length ? cfg->max_length : kDefaultMaxLength);
    size_t queue_bytes = static_cast<size_t>(cfg->queue_size ? cfg->queue_size : kDefaultQueueSize);
    // The queue must hold a whole line.
    if (queue_bytes < h->max_length + 4096) {
      ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_ERR, 0, s,
                   "SY0002: CustomLog \"%s\": SyslogQueueSize (%zu) must be larger than "
                   "SyslogMaxLength (%zu)",
                   name, queue_bytes, h->max_length);
      return nullptr;
    }
    // One Sender per CustomLog, named as written.
    h->sender = gen.add_sender(
        name, status_name(*h), s,
        std::make_unique<delivery::DropLedger>(name, h->max_length, kReportInterval));
    Destination& d = h->sender->destination;
    d.target = target;
    d.queue_bytes = queue_bytes;
    if (target.transport == Transport::Udp)
      syslogmod::resolve(target.host, target.port, SOCK_DGRAM, d.addresses, d.resolve_error);
    return h;
  }

  // Warns about targets nobody listens at now. Not an error: the receiver
  // may well come up after httpd. The children open their own sockets.
  static int post_config(Gen& gen, server_rec*) {
    for (auto& sender : gen.senders) {
      const Destination& d = sender->destination;
      logchain::guard_continue(
          APLOG_MODULE_INDEX, APLOG_WARNING, sender->report_to, sender->name.c_str(), [&] {
            std::string why = syslogmod::unreachable_reason(d.target, d.addresses, d.resolve_error);
            if (!why.empty())
              ap_log_error(APLOG_MARK, APLOG_WARNING, 0, sender->report_to,
                           "SY0003: %s: %s is not reachable now (%s); lines will be "
                           "sent once it is",
                           sender->name.c_str(), d.target.endpoint().c_str(), why.c_str());
          });
    }
    return OK;
  }

  static void child_init(Gen& gen, apr_pool_t*) { gen.settings.pid = static_cast<long>(getpid()); }

  static std::unique_ptr<delivery::Sink> open_sink(Gen& gen, SenderT& sender,
                                                   delivery::ShipperOptions& options,
                                                   const delivery::Reporter&) {
    delivery::DropLedger* ledger = sender.ledger.get();
    Destination& d = sender.destination;
    syslogmod::OpenedSink opened = syslogmod::open_sink(
        d.target, d.addresses, sender.name, d.queue_bytes, gen.settings.exit_timeout,
        [ledger](int err) { ledger->count_dropped(err); });
    if (!opened.note.empty())
      ap_log_error(APLOG_MARK, APLOG_INFO, 0, sender.report_to, "SY0004: %s: %s",
                   sender.name.c_str(), opened.note.c_str());
    options = opened.options;
    return std::move(opened.sink);
  }

  static logchain::LineEnd line_end(const Handle&) { return logchain::LineEnd::Strip; }

  // Request thread: encode, then queue. Throws.
  static void write(Handle& h, std::string_view line) {
    if (!h.sender->running()) {
      h.sender->offer(std::string_view(), line);  // counted as dropped, not encoded
      return;
    }
    syslogmod::Header hdr;
    hdr.priority = h.target.priority();
    hdr.time = syslogmod::local_time_now();
    hdr.hostname = h.hostname;
    hdr.tag = h.tag;
    const Gen* gen = Kit::generation();
    hdr.pid = gen && gen->settings.pid ? gen->settings.pid : static_cast<long>(getpid());
    std::string msg;
    if (syslogmod::encode(h.format, hdr, line, h.max_length, msg))
      h.sender->ledger->count_truncated();
    h.sender->offer(std::string_view(), msg);
  }
};

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

void syslog_register_hooks(apr_pool_t*) { Kit::register_hooks(); }

}  // extern "C"
