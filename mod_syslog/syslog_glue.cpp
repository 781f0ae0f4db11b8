// mod_syslog's httpd glue: what include/log_target_kit.h asks of a log
// writer. How a target string is checked, how a CustomLog becomes a handle,
// which Sender it feeds, and how a child opens that Sender's sink. The
// directives are in syslog_directives.cpp; the logic lives in the
// httpd-free core (syslog_target, target_definition, syslog_format,
// syslog_transport) and include/.
//
// A Sender is one distinct target: a SyslogTarget, or an inline URL with
// the settings of its server. Every CustomLog and vhost that sends to it
// shares it, so a child runs one Shipper (queue, thread, socket) per
// target, however many logs name it. A handle keeps what is per log:
// facility, level and tag. The writer encodes the line on the request
// thread and offers it to the Shipper's bounded queue, never touching the
// network.
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

#include "delivery.h"
#include "drop_ledger.h"
#include "log_dir_exemption.h"
#include "log_target_kit.h"
#include "mod_syslog.h"
#include "module_kit.h"
#include "spool.h"
#include "spool_dir_glue.h"
#include "syslog_config.h"
#include "syslog_format.h"
#include "syslog_target.h"
#include "syslog_transport.h"
#include "target_definition.h"

APLOG_USE_MODULE(syslog);

namespace {

using syslogmod::Format;
using syslogmod::Framing;
using syslogmod::server_config;
using syslogmod::ServerConfig;
using syslogmod::SyslogTarget;
using syslogmod::TargetSettings;
using syslogmod::Transport;
using Millis = std::chrono::milliseconds;

constexpr Millis kReportInterval{10000};
constexpr Millis kDefaultExitTimeout{2000};  // httpd escalates a stop after 3 s

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

  // One distinct target: where its Sender sends, and how its lines are
  // encoded and framed.
  struct Destination {
    SyslogTarget endpoint;  // its transport fields
    Format format = Format::Bsd;
    Framing framing = Framing::OctetCounted;
    size_t max_length = syslogmod::kDefaultMaxLength;
    size_t queue_bytes = syslogmod::kDefaultQueueSize;
    std::string hostname;  // empty for the bsd local form
    // What two logs must agree on to share the Sender.
    std::string key;
    // udp: resolved in the parent (getaddrinfo may block; requests must not).
    std::vector<syslogmod::SocketAddress> addresses;
    std::string resolve_error;
    // tls:// and relp://: a SyslogTarget's keys (tls.peer_name empty: an
    // inline URL, checked against the system's trust store).
    syslogmod::TlsCredentials tls;
    int relp_window = syslogmod::kDefaultRelpWindow;
    std::string spool_dir;  // relp:// with spool=
    uint64_t spool_bytes = syslogmod::kDefaultRelpSpoolSize;
    std::string spool_name;  // its files' prefix in spool_dir
  };
  using SenderT = logchain::Sender<Destination>;

  // One CustomLog: what is its own, and the Sender its lines go to.
  struct Handle {
    int priority = 0;
    std::string tag;
    SenderT* sender = nullptr;
    // All of the header but its time stamp, made at child_init for this
    // child's pid (header_pid).
    syslogmod::HeaderTemplate header;
    long header_pid = 0;
  };

  struct Settings {
    Millis exit_timeout{kDefaultExitTimeout};
    // This child's pid, for the header: getpid() is a syscall per line.
    long pid = 0;
  };
  using Gen = logchain::Generation<SyslogLogs>;

  // `main` is the main server, whose SyslogTargets a name must be one of.
  static bool parse_target(server_rec* main, const char* name, std::string& error) {
    SyslogTarget t;
    if (!syslogmod::parse_target(name, t, error)) return false;
    if (!t.target_name.empty() && !syslogmod::find_target(main, t.target_name)) {
      error = "no SyslogTarget is named '" + t.target_name + "'";
      return false;
    }
    return true;
  }

  static int check_config(apr_pool_t*, server_rec* s, const logchain::TargetDirectives& ours) {
    logchain::TargetDirectives inline_urls;
    for (const logchain::TargetDirective& t : ours)
      if (syslogmod::needs_log_dir_exemption(t.target)) inline_urls.push_back(t);
    logchain::TargetDirectives refused =
        syslogmod::exempt_from_log_dir_check(s, inline_urls, kPrefix);
    for (const logchain::TargetDirective& t : refused)
      ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_ERR, 0, s,
                   "SY0005: %s \"%s\" (line %d of %s): this httpd's mod_log_config would take "
                   "the URL for a file; declare it with SyslogTarget NAME URL and write "
                   "\"syslog:...@NAME\" instead",
                   t.directive->directive, t.target, t.directive->line_num, t.directive->filename);
    if (!refused.empty() || !spool_dirs_ready(s)) return HTTP_INTERNAL_SERVER_ERROR;
    return OK;
  }

  // The spool= directories of relp:// targets, made ready for the children
  // by the root parent (never by following a name User could plant).
  static bool spool_dirs_ready(server_rec* main) {
    const ServerConfig* cfg = server_config(main);
    if (!cfg->targets || !logchain::spool_check_due()) return true;
    bool ok = true;
    for (const syslogmod::TargetDefinition& t : *cfg->targets) {
      if (t.settings.spool_dir.empty()) continue;
      std::string error;
      if (logchain::prepare_child_spool_dir(t.settings.spool_dir, error)) continue;
      ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_ERR, 0, main, "SY0008: SyslogTarget %s: %s",
                   t.name.c_str(), error.c_str());
      ok = false;
    }
    return ok;
  }

  static void open_logs(Gen& gen, apr_pool_t*, server_rec* s) {
    const ServerConfig* cfg = server_config(s);
    if (cfg->exit_timeout_ms >= 0) gen.settings.exit_timeout = Millis(cfg->exit_timeout_ms);
  }

  // A target's settings: its own keys, then the Syslog* directives of
  // `cfg`, then the defaults.
  static void settle(Destination& d, const TargetSettings& keys, const ServerConfig* cfg) {
    bool network = d.endpoint.is_network();
    d.format = keys.format        ? *keys.format
               : cfg->format >= 0 ? static_cast<Format>(cfg->format)
               : network          ? Format::Rfc5424
                                  : Format::Bsd;
    d.framing = keys.framing ? *keys.framing : Framing::OctetCounted;
    d.max_length = keys.max_length   ? keys.max_length
                   : cfg->max_length ? static_cast<size_t>(cfg->max_length)
                                     : syslogmod::kDefaultMaxLength;
    d.queue_bytes = keys.queue_bytes  ? keys.queue_bytes
                    : cfg->queue_size ? static_cast<size_t>(cfg->queue_size)
                                      : syslogmod::kDefaultQueueSize;
    // syslog(3) leaves the host name out of what it writes to /dev/log; on
    // the network both formats carry it.
    if (network || d.format == Format::Rfc5424) d.hostname = machine_hostname();
  }

  // A target's spool files' prefix: no '.' (it separates the name's
  // fields), and distinct for names that differ only there.
  static std::string spool_name_for(const std::string& name) {
    std::string safe = "syslog-" + name;
    for (char& c : safe)
      if (c == '.') c = '_';
    char crc[16];
    snprintf(crc, sizeof crc, "-%08x", delivery::crc32(name.data(), name.size()));
    return safe + crc;
  }

  static std::string describe_settings(const Destination& d) {
    return std::string("format=") + syslogmod::format_name(d.format) +
           " framing=" + syslogmod::framing_name(d.framing) +
           " maxlength=" + std::to_string(d.max_length) +
           " queuesize=" + std::to_string(d.queue_bytes);
  }

  // The Sender of a log's target, made when no log named it before.
  // nullptr: refused (logged). Throws.
  static SenderT* sender_for(Gen& gen, server_rec* s, const char* log, const SyslogTarget& spec) {
    Destination d;
    std::string name;         // in messages
    std::string status_name;  // on the status page
    if (!spec.target_name.empty()) {
      const syslogmod::TargetDefinition* def =
          syslogmod::find_target(gen.main_server, spec.target_name);
      if (!def) {  // check_config refused it already
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_ERR, 0, s,
                     "SY0006: CustomLog \"%s\": no SyslogTarget is named '%s'", log,
                     spec.target_name.c_str());
        return nullptr;
      }
      d.endpoint = def->endpoint;
      // A named target is shared by every vhost: the main server's
      // directives fill what its keys leave out.
      settle(d, def->settings, server_config(gen.main_server));
      d.key = "@" + def->name;
      name = def->name + " (" + def->endpoint.endpoint() + ")";
      status_name = def->name;
      d.tls = def->settings.tls;
      d.relp_window = def->settings.relp_window;
      d.spool_dir = def->settings.spool_dir;
      d.spool_bytes = def->settings.spool_bytes;
      d.spool_name = spool_name_for(def->name);
    } else {
      d.endpoint = spec;
      d.endpoint.facility = syslogmod::kDefaultFacility;
      d.endpoint.severity = syslogmod::kDefaultSeverity;
      d.endpoint.tag.clear();
      settle(d, TargetSettings{}, server_config(s));
      d.key = d.endpoint.endpoint() + " " + describe_settings(d);
      name = d.endpoint.endpoint();
    }
    if (SenderT* shared =
            gen.find_sender_if([&](const SenderT& x) { return x.destination.key == d.key; })) {
      // Shared by several servers: its reports go to the main error log.
      if (shared->report_to != s) shared->report_to = gen.main_server;
      return shared;
    }
    std::string small = syslogmod::queue_too_small(d.queue_bytes, d.max_length);
    if (!small.empty()) {
      ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_ERR, 0, s,
                   "SY0002: CustomLog \"%s\": %s (SyslogQueueSize, SyslogMaxLength, or the "
                   "target's queuesize= and maxlength=)",
                   log, small.c_str());
      return nullptr;
    }
    // The same URL with other settings (from another vhost's directives)
    // is another target: its name says how it differs.
    if (gen.find_sender(name)) name += " (" + describe_settings(d) + ")";
    if (status_name.empty()) status_name = name;
    // A SyslogTarget belongs to no vhost: its reports go to the main error log.
    server_rec* report_to = spec.target_name.empty() ? s : gen.main_server;
    SenderT* sender =
        gen.add_sender(name, status_name, report_to,
                       std::make_unique<delivery::DropLedger>(name, d.max_length, kReportInterval));
    if (d.endpoint.transport == Transport::Udp)
      syslogmod::resolve(d.endpoint.host, d.endpoint.port, SOCK_DGRAM, d.addresses,
                         d.resolve_error);
    sender->destination = std::move(d);
    return sender;
  }

  // Throws.
  static std::unique_ptr<Handle> new_handle(Gen& gen, server_rec* s, const char* name) {
    SyslogTarget spec;
    std::string error;
    if (!syslogmod::parse_target(name, spec, error)) {
      ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_ERR, 0, s, "SY0001: CustomLog \"%s\": %s",
                   name, error.c_str());
      return nullptr;
    }
    auto h = std::make_unique<Handle>();
    h->sender = sender_for(gen, s, name, spec);
    if (!h->sender) return nullptr;
    const ServerConfig* cfg = server_config(s);
    h->priority = spec.priority();
    h->tag = !spec.tag.empty() ? spec.tag : cfg->ident ? cfg->ident : default_ident();
    return h;
  }

  // Warns about targets nobody listens at now. Not an error: the receiver
  // may well come up after httpd. The children open their own sockets.
  static int post_config(Gen& gen, server_rec*) {
    for (auto& sender : gen.senders) {
      const Destination& d = sender->destination;
      logchain::guard_continue(
          APLOG_MODULE_INDEX, APLOG_WARNING, sender->report_to, sender->name.c_str(), [&] {
            std::string why =
                syslogmod::unreachable_reason(d.endpoint, d.addresses, d.resolve_error);
            if (!why.empty())
              ap_log_error(APLOG_MARK, APLOG_WARNING, 0, sender->report_to,
                           "SY0003: %s is not reachable now (%s); lines will be sent once it is",
                           sender->name.c_str(), why.c_str());
          });
    }
    return OK;
  }

  // Before any request thread runs: handles are read-only afterwards.
  static void child_init(Gen& gen, apr_pool_t*) {
    // The client keys of the targets' definitions: each sender holds its own
    // copy, until its context has the key (open_sink).
    if (ServerConfig* cfg = server_config(gen.main_server); cfg->targets) {
      for (syslogmod::TargetDefinition& t : *cfg->targets)
        syslogmod::forget_private_key(t.settings.tls);
    }
    const long pid = static_cast<long>(getpid());
    gen.settings.pid = pid;
    for (const auto& h : gen.handles.all()) {
      const Destination& d = h->sender->destination;
      h->header = syslogmod::header_template(d.format, h->priority, d.hostname, h->tag, pid);
      h->header_pid = pid;
    }
  }

  static delivery::Peers open_sink(Gen& gen, SenderT& sender, delivery::ShipperOptions& options,
                                   const delivery::Reporter&) {
    delivery::DropLedger* ledger = sender.ledger.get();
    Destination& d = sender.destination;
    syslogmod::TransportSettings extra;
    extra.tls = d.tls.peer_name.empty() ? nullptr : &d.tls;
    extra.relp_window = d.relp_window;
    syslogmod::OpenedSink opened = syslogmod::open_sink(
        d.endpoint, d.framing, d.addresses, sender.name, d.queue_bytes, gen.settings.exit_timeout,
        [ledger](int err) { ledger->count_dropped(err); }, extra);
    syslogmod::forget_private_key(d.tls);  // this child's copy: the context has it now
    if (!opened.note.empty())
      ap_log_error(APLOG_MARK, APLOG_INFO, 0, sender.report_to, "SY0004: %s: %s",
                   sender.name.c_str(), opened.note.c_str());
    if (!opened.error.empty())
      ap_log_error(APLOG_MARK, APLOG_ERR, 0, sender.report_to,
                   "SY0007: %s: %s; its lines are counted as lost", sender.name.c_str(),
                   opened.error.c_str());
    options = opened.options;
    if (!d.spool_dir.empty()) {
      options.spool_dir = d.spool_dir;
      options.spool_name = d.spool_name;
      options.spool_max_bytes = d.spool_bytes;
    }
    delivery::Peers peers;
    if (opened.sink) peers.push_back(std::move(opened.sink));
    return peers;
  }

  static logchain::LineEnd line_end(const Handle&) { return logchain::LineEnd::Strip; }

  // Request thread: the header made of the handle's template and a time
  // stamp, queued together with the line's parts. Throws.
  static void write(Handle& h, const delivery::BodyParts& line, apr_pool_t* pool) {
    SenderT& sender = *h.sender;
    if (!sender.running()) {
      sender.offer(std::string_view(), line);  // counted as dropped, not encoded
      return;
    }
    const Destination& d = sender.destination;
    const Gen* gen = Kit::generation();
    const long pid = gen && gen->settings.pid ? gen->settings.pid : static_cast<long>(getpid());
    syslogmod::LocalTime now;
    char stamp[syslogmod::kMaxStamp];
    const size_t stamp_len = syslogmod::write_stamp_now(d.format, stamp, now);
    const syslogmod::HeaderTemplate& t = h.header;
    const std::string_view before_msg = line.bytes ? std::string_view(t.before_msg) : "";
    const size_t head_bytes =
        t.before_stamp.size() + stamp_len + t.after_stamp.size() + before_msg.size();
    if (h.header_pid != pid || head_bytes + line.bytes > d.max_length) {
      // A line that is cut (at a character boundary, so in one piece), or
      // a handle child_init did not reach.
      syslogmod::Header hdr;
      hdr.priority = h.priority;
      hdr.time = now;
      hdr.hostname = d.hostname;
      hdr.tag = h.tag;
      hdr.pid = pid;
      std::string msg;
      if (syslogmod::encode(d.format, hdr, logchain::joined(line, pool), d.max_length, msg))
        sender.ledger->count_truncated();
      const std::string_view encoded(msg);
      sender.offer(std::string_view(), delivery::BodyParts(&encoded, 1));
      return;
    }
    const std::string_view head[] = {t.before_stamp, std::string_view(stamp, stamp_len),
                                     t.after_stamp, before_msg};
    sender.offer(std::string_view(), line.with_head(head, 4, head_bytes));
  }
};

}  // namespace

extern "C" void syslog_register_hooks(apr_pool_t*) { Kit::register_hooks(); }
