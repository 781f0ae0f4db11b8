// httpd side of mod_scribe: its directives, the spool directory's checks,
// and what include/log_target_kit.h asks of a log writer: how a target is
// checked, how a CustomLog becomes a handle, and how a child opens the
// Thrift sink of a collector set.
//
// The logic worth testing lives elsewhere: parsing in scribe_target.cpp, the
// settings in scribe_settings.cpp, the Thrift client in scribe_sink.cpp
// (which must not see httpd.h's OK macro), queueing, batching, retrying and
// spooling in include/delivery.cpp. One Sender per collector set: one
// connection per child, shared by all categories sent there (the category
// travels as the record's tag).
#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config_values.h"
#include "delivery.h"
#include "drop_ledger.h"
#include "scribe_settings.h"
#include "scribe_sink.h"
#include "scribe_target.h"

// httpd.h must come before the other httpd headers (the markers below keep
// include sorting from moving it).
// clang-format off
#include "httpd.h"
#include "apr_strings.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_main.h"
#include "log_target_kit.h"
#include "mod_scribe.h"
#include "module_kit.h"
#include "spool_dir_glue.h"
// clang-format on

APLOG_USE_MODULE(scribe);

namespace {

using scribe::Endpoint;
using scribe::Settings;
using Limits = scribe::SettingLimits;

using logchain::pool_new;

// How often lines refused for want of a sender are reported.
constexpr delivery::Millis kReportInterval{10000};

// ---- configuration ----

struct ServerConfig {
  // Per server: a virtual host without them inherits the main server's.
  std::optional<std::vector<Endpoint>> servers;
  std::optional<bool> strip_newline;
  Settings settings;  // per child: only the main server's values count

  std::vector<Endpoint> effective_servers() const {
    if (servers) return *servers;
    return {Endpoint{"127.0.0.1", scribe::kDefaultPort}};
  }
};

ServerConfig* config_of(server_rec* s) {
  return static_cast<ServerConfig*>(ap_get_module_config(s->module_config, &scribe_module));
}

// ---- spool directory ----

Settings resolved_settings(apr_pool_t* p, server_rec* main) {
  Settings st = config_of(main)->settings;
  if (st.spool_dir.empty()) st.spool_dir = ap_runtime_dir_relative(p, "scribe-spool");
  return st;
}

bool spool_dir_ready(const Settings& st) {
  if (!logchain::spool_check_due()) return true;
  std::string error;
  if (logchain::prepare_child_spool_dir(st.spool_dir, error)) return true;
  ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_ERR, 0, nullptr,
               "SC0004: ScribeSpoolDir %s%s%s: %s", st.spool_dir.c_str(),
               st.spool_dir_origin ? " at " : " (default)",
               st.spool_dir_origin ? st.spool_dir_origin : "", error.c_str());
  return false;
}

// ---- libthrift's messages ----

// Where they go, in a child. Atomic: a sender thread that outlived the exit
// deadline may still print while pchild's cleanups run.
std::atomic<server_rec*> g_log_server{nullptr};
std::atomic<const delivery::ChildSenders*> g_child_senders{nullptr};

void thrift_output(const char* message) {
  std::string text = std::string("SC0005: libthrift: ") + message;
  if (logchain::report_lock_free(g_child_senders.load(), APLOG_NOTICE, text)) return;
  // Notice: shown at the default LogLevel without counting as a warning; the
  // sender reports the failure that matters (with the retry) itself.
  if (server_rec* s = g_log_server.load())
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "%s", text.c_str());
}

apr_status_t restore_thrift(void*) {
  scribe::restore_thrift_output();
  g_log_server = nullptr;
  g_child_senders = nullptr;
  return APR_SUCCESS;
}

// ---- what the kit asks of a log writer ----

struct ScribeLogs;
using Kit = logchain::LogTargetKit<ScribeLogs>;

struct ScribeLogs {
  static constexpr const char* kPrefix = scribe::kTargetPrefix;
  static constexpr const char* kModule = "mod_scribe";
  static constexpr const char* kExitTag = "scribe";
  static constexpr const char* kStatusKind = "Scribe";
  static int log_index() { return APLOG_MODULE_INDEX; }

  struct Destination {
    std::vector<Endpoint> servers;        // in order of preference
    std::vector<std::string> categories;  // of the logs that use it
  };
  using SenderT = logchain::Sender<Destination>;
  using Settings = scribe::Settings;

  // What a CustomLog "scribe:..." resolves to. It carries everything the
  // writer needs, because vhosts inheriting the main server's CustomLog
  // reuse this handle.
  struct Handle {
    std::string category;
    bool strip_newline = false;
    SenderT* sender = nullptr;
  };
  using Gen = logchain::Generation<ScribeLogs>;

  static bool parse_target(server_rec*, const char* name, std::string& error) {
    scribe::Target t;
    return scribe::parse_target(name, t, error);
  }

  // The spool directory is made ready when any log needs it.
  static int check_config(apr_pool_t* ptemp, server_rec* s,
                          const logchain::TargetDirectives& ours) {
    if (!ours.empty() && !spool_dir_ready(resolved_settings(ptemp, s)))
      return HTTP_INTERNAL_SERVER_ERROR;
    return OK;
  }

  static void open_logs(Gen& gen, apr_pool_t* pconf, server_rec* s) {
    gen.settings = resolved_settings(pconf, s);
  }

  // Throws.
  static std::unique_ptr<Handle> new_handle(Gen& gen, server_rec* s, const char* name) {
    scribe::Target t;
    std::string err;
    if (!scribe::parse_target(name, t, err)) {
      ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_ERR, 0, s, "SC0003: CustomLog \"%s\": %s",
                   name, err.c_str());
      return nullptr;
    }
    const ServerConfig* sc = config_of(s);
    auto h = std::make_unique<Handle>();
    h->category = t.category;
    h->strip_newline = sc->strip_newline.value_or(false);
    std::vector<Endpoint> servers = t.servers.empty() ? sc->effective_servers() : t.servers;
    std::string key = scribe::servers_key(servers);
    std::string name_of_sender = "scribe collectors " + key;
    h->sender = gen.find_sender(name_of_sender);
    if (!h->sender) {
      h->sender = gen.add_sender(name_of_sender, key, gen.main_server,
                                 std::make_unique<delivery::DropLedger>(
                                     name_of_sender, 0, kReportInterval, "ScribeQueueSize"));
      h->sender->destination.servers = std::move(servers);
    }
    auto& categories = h->sender->destination.categories;
    if (std::find(categories.begin(), categories.end(), t.category) == categories.end())
      categories.push_back(t.category);
    return h;
  }

  // After open_logs: the handles exist, so a spool is needed.
  static int post_config(Gen& gen, server_rec*) {
    return spool_dir_ready(gen.settings) ? OK : HTTP_INTERNAL_SERVER_ERROR;
  }

  static void child_init(Gen& gen, apr_pool_t* pchild) {
    g_log_server = gen.main_server;
    g_child_senders = gen.child;
    scribe::route_thrift_output(thrift_output);
    apr_pool_cleanup_register(pchild, nullptr, restore_thrift, apr_pool_cleanup_null);
  }

  static delivery::Peers open_sink(Gen& gen, SenderT& sender, delivery::ShipperOptions& options,
                                   const delivery::Reporter&) {
    const Settings& st = gen.settings;
    const std::vector<Endpoint>& servers = sender.destination.servers;
    options = scribe::shipper_options(st, servers);
    options.spool_family = spool_family(gen, sender);
    return scribe::collector_sinks(servers, delivery::Millis(st.timeout_ms));
  }

  // Every sender shares the one ScribeSpoolDir. The first reports what no
  // sender adopts, in one child of the generation.
  static delivery::SpoolFamily spool_family(const Gen& gen, const SenderT& sender) {
    delivery::SpoolFamily family;
    for (const auto& s : gen.senders) {
      family.names.push_back(scribe::spool_name_for(s->destination.servers));
      for (const auto& c : s->destination.categories)
        if (std::find(family.tags.begin(), family.tags.end(), c) == family.tags.end())
          family.tags.push_back(c);
    }
    family.own_tags = sender.destination.categories;
    if (gen.board && &sender == gen.senders.front().get())
      family.report_once = gen.board->once_flag(sender.status_index);
    return family;
  }

  static logchain::LineEnd line_end(const Handle& h) {
    return h.strip_newline ? logchain::LineEnd::Strip : logchain::LineEnd::Keep;
  }

  // Request thread: never touches the network or the disk.
  static void write(Handle& h, const delivery::BodyParts& line, apr_pool_t*) {
    h.sender->offer(h.category, line);
  }
};

// ---- directive helpers ----
// The table is in mod_scribe.c; the handlers (mod_scribe.h) follow.

const char* directive_error(cmd_parms* cmd, const std::string& what) {
  return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", what.c_str(), nullptr);
}

// The per-child settings: main server only.
Settings* global_settings(cmd_parms* cmd, const char*& error) {
  error = ap_check_cmd_context(cmd, GLOBAL_ONLY);
  return error ? nullptr : &config_of(cmd->server)->settings;
}

using ValueParser = bool (*)(std::string_view, uint64_t, uint64_t, uint64_t&, std::string&);

// A numeric per-child setting; `note` follows any error.
const char* set_setting(cmd_parms* cmd, const char* arg, uint64_t Settings::*field,
                        ValueParser parse, uint64_t min, uint64_t max, const char* note = "") {
  const char* err;
  Settings* st = global_settings(cmd, err);
  if (!st) return err;
  return logchain::guard_directive(cmd, [&]() -> const char* {
    std::string e;
    return parse(arg, min, max, st->*field, e) ? nullptr : directive_error(cmd, e + note);
  });
}

}  // namespace

// ---- entry points named by mod_scribe.c, declared in mod_scribe.h ----

extern "C" {

// The two config constructors keep their own catch: there is nothing to log
// to yet (no error log, often no server) and NULL is their failure value.
void* scribe_create_server_config(apr_pool_t* p, server_rec*) {
  try {
    return pool_new<ServerConfig>(p);
  } catch (...) {
    return nullptr;
  }
}

void* scribe_merge_server_config(apr_pool_t* p, void* base_v, void* add_v) {
  try {
    auto* base = static_cast<ServerConfig*>(base_v);
    auto* add = static_cast<ServerConfig*>(add_v);
    auto* merged = pool_new<ServerConfig>(p);
    merged->servers = add->servers ? add->servers : base->servers;
    merged->strip_newline = add->strip_newline ? add->strip_newline : base->strip_newline;
    merged->settings = base->settings;  // main server only
    return merged;
  } catch (...) {
    return nullptr;
  }
}

const char* scribe_cmd_server(cmd_parms* cmd, void*, int argc, char* const argv[]) {
  return logchain::guard_directive(cmd, [&]() -> const char* {
    if (argc < 1) return directive_error(cmd, "expects at least one host:port");
    std::vector<Endpoint> list;
    for (int i = 0; i < argc; ++i) {
      Endpoint ep;
      std::string err;
      if (!scribe::parse_endpoint(argv[i], ep, err)) return directive_error(cmd, err);
      list.push_back(std::move(ep));
    }
    config_of(cmd->server)->servers = std::move(list);
    return nullptr;
  });
}

const char* scribe_cmd_spool_dir(cmd_parms* cmd, void*, const char* arg) {
  const char* err;
  Settings* st = global_settings(cmd, err);
  if (!st) return err;
  return logchain::guard_directive(cmd, [&]() -> const char* {
    if (!*arg) return directive_error(cmd, "empty directory name");
    const char* path = ap_server_root_relative(cmd->pool, arg);
    if (!path) return directive_error(cmd, std::string("invalid path '") + arg + "'");
    st->spool_dir = path;
    while (st->spool_dir.size() > 1 && st->spool_dir.back() == '/') st->spool_dir.pop_back();
    st->spool_dir_origin =
        apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename, cmd->directive->line_num);
    return nullptr;
  });
}

const char* scribe_cmd_spool_max_size(cmd_parms* cmd, void*, const char* arg) {
  return set_setting(cmd, arg, &Settings::spool_max, config_values::parse_size,
                     Limits::kMinSpoolBytes, Limits::kMaxSpoolBytes);
}

const char* scribe_cmd_queue_size(cmd_parms* cmd, void*, const char* arg) {
  return set_setting(cmd, arg, &Settings::queue_bytes, config_values::parse_size,
                     Limits::kMinQueueBytes, Limits::kMaxQueueBytes);
}

const char* scribe_cmd_batch_size(cmd_parms* cmd, void*, const char* arg) {
  return set_setting(cmd, arg, &Settings::batch_lines, config_values::parse_number, 1,
                     Limits::kMaxBatchLines);
}

const char* scribe_cmd_batch_bytes(cmd_parms* cmd, void*, const char* arg) {
  return set_setting(cmd, arg, &Settings::batch_bytes, config_values::parse_size,
                     Limits::kMinBatchBytes, Limits::kMaxBatchBytes);
}

const char* scribe_cmd_replay_rate(cmd_parms* cmd, void*, const char* arg) {
  const char* err;
  Settings* st = global_settings(cmd, err);
  if (!st) return err;
  if (!strcasecmp(arg, "off")) {
    st->replay_rate = 0;
    return nullptr;
  }
  return set_setting(cmd, arg, &Settings::replay_rate, config_values::parse_number, 1,
                     Limits::kMaxReplayRate, " (lines a second, or off)");
}

const char* scribe_cmd_try_later_failover(cmd_parms* cmd, void*, const char* answers_arg,
                                          const char* ms_arg) {
  const char* err;
  Settings* st = global_settings(cmd, err);
  if (!st) return err;
  return logchain::guard_directive(cmd, [&]() -> const char* {
    std::string e;
    uint64_t answers = 0, ms = st->try_later_ms;
    if (!config_values::parse_number(answers_arg, 1, Limits::kMaxTryLaterAnswers, answers, e) ||
        (ms_arg && !config_values::parse_number(ms_arg, 1, Limits::kMaxTryLaterMs, ms, e)))
      return directive_error(cmd, e);
    st->try_later_answers = answers;
    st->try_later_ms = ms;
    return nullptr;
  });
}

const char* scribe_cmd_flush_interval(cmd_parms* cmd, void*, const char* arg) {
  return set_setting(cmd, arg, &Settings::flush_ms, config_values::parse_number, 1,
                     Limits::kMaxFlushMs);
}

const char* scribe_cmd_timeout(cmd_parms* cmd, void*, const char* arg) {
  return set_setting(cmd, arg, &Settings::timeout_ms, config_values::parse_number,
                     Limits::kMinTimeoutMs, Limits::kMaxTimeoutMs);
}

const char* scribe_cmd_exit_timeout(cmd_parms* cmd, void*, const char* arg) {
  return set_setting(cmd, arg, &Settings::exit_timeout_ms, config_values::parse_number, 0,
                     Limits::kMaxExitTimeoutMs, " (httpd escalates a stop after 3 s)");
}

const char* scribe_cmd_retry_interval(cmd_parms* cmd, void*, const char* min_arg,
                                      const char* max_arg) {
  const char* err;
  Settings* st = global_settings(cmd, err);
  if (!st) return err;
  return logchain::guard_directive(cmd, [&]() -> const char* {
    std::string e;
    uint64_t lo = 0, hi = 0;
    if (!config_values::parse_number(min_arg, 1, Limits::kMaxRetryMs, lo, e) ||
        (max_arg && !config_values::parse_number(max_arg, 1, Limits::kMaxRetryMs, hi, e)))
      return directive_error(cmd, e);
    // The minimum alone (as mod_log_scribe took it): the default maximum, or
    // the minimum when that is larger.
    if (!max_arg) hi = std::max<uint64_t>(lo, Settings().retry_max_ms);
    if (hi < lo)
      return directive_error(
          cmd, std::string("the maximum '") + max_arg + "' is below the minimum '" + min_arg + "'");
    st->retry_min_ms = lo;
    st->retry_max_ms = hi;
    return nullptr;
  });
}

const char* scribe_cmd_strip_newline(cmd_parms* cmd, void*, int on) {
  config_of(cmd->server)->strip_newline = on != 0;
  return nullptr;
}

void scribe_register_hooks(apr_pool_t*) { Kit::register_hooks(); }

}  // extern "C"
