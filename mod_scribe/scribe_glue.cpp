// httpd side of mod_scribe: directives, config checks, mod_log_config's
// writer pair, and one Shipper per collector set in each child.
//
// The logic worth testing lives elsewhere: parsing in scribe_target.cpp, the
// Thrift client in scribe_sink.cpp (which must not see httpd.h's OK macro),
// queueing, batching, retrying and spooling in include/delivery.cpp.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "child_senders.h"
#include "config_values.h"
#include "delivery.h"
#include "delivery_aplog.h"
#include "drop_ledger.h"
#include "scribe_sink.h"
#include "scribe_target.h"
#include "spool_setup.h"
#include "status_board.h"

// httpd.h must come before the other httpd headers (the markers below keep
// include sorting from moving it).
// clang-format off
#include "httpd.h"
#include "ap_mpm.h"
#include "apr_strings.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_main.h"
#include "log_writer_chain.h"
#include "mod_scribe.h"
#include "module_kit.h"
#include "status_page.h"
#include "unixd.h"
#include "util_cfgtree.h"
// clang-format on

APLOG_USE_MODULE(scribe);

namespace {

using scribe::Endpoint;

using logchain::pool_new;

// How often lines refused for want of a sender are reported.
constexpr delivery::Millis kReportInterval{10000};

// What the per-child settings may be.
constexpr uint64_t kMinSpoolBytes = 4096;
constexpr uint64_t kMaxSpoolBytes = 1ull << 50;
constexpr uint64_t kMinQueueBytes = 4096;
constexpr uint64_t kMaxQueueBytes = 1ull << 40;
constexpr uint64_t kMaxBatchLines = 1000000;
constexpr uint64_t kMaxFlushMs = 3600000;
constexpr uint64_t kMinTimeoutMs = 10;
constexpr uint64_t kMaxTimeoutMs = 3600000;
constexpr uint64_t kMaxRetryMs = 86400000;
// httpd sends SIGTERM to children still there 3 s into a stop (AH00045).
constexpr uint64_t kMaxExitTimeoutMs = 2500;

// ---- small helpers ----

const char* directive_error(cmd_parms* cmd, const std::string& what) {
  return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", what.c_str(), nullptr);
}

// ---- configuration ----

// Per-child settings: only the main server's values count.
struct Settings {
  std::string spool_dir;                   // empty until resolved: DefaultRuntimeDir/scribe-spool
  const char* spool_dir_origin = nullptr;  // "file:line" of ScribeSpoolDir
  uint64_t spool_max = 1ull << 30;
  uint64_t queue_bytes = 8ull << 20;
  uint64_t batch_lines = 1000;
  uint64_t flush_ms = 200;
  uint64_t timeout_ms = 2000;
  uint64_t retry_min_ms = 500;
  uint64_t retry_max_ms = 30000;
  // What an exiting child may spend delivering from its spool; httpd sends
  // SIGTERM to children still there 3 s into a stop (AH00045).
  uint64_t exit_timeout_ms = 2000;
};

struct ServerConfig {
  // Per server: a virtual host without them inherits the main server's.
  std::optional<std::vector<Endpoint>> servers;
  std::optional<bool> strip_newline;
  Settings settings;

  std::vector<Endpoint> effective_servers() const {
    if (servers) return *servers;
    return {Endpoint{"127.0.0.1", scribe::kDefaultPort}};
  }
};

ServerConfig* config_of(server_rec* s) {
  return static_cast<ServerConfig*>(ap_get_module_config(s->module_config, &scribe_module));
}

// ---- the current configuration generation ----

// One collector set: one connection (one Shipper) per child, shared by all
// categories sent there; the category travels as the record's tag.
struct Destination {
  std::vector<Endpoint> servers;
  std::string key;
  // In a child, after child_init. A Shipper whose thread could not start
  // counts (and its ledger reports) every line offered to it.
  std::unique_ptr<delivery::Shipper> shipper;
  // Lines offered while there is no running Shipper. Made in the parent, so
  // that each child has one even when it could set up nothing else.
  std::unique_ptr<delivery::DropLedger> refused;
};

// What a CustomLog "scribe:..." resolves to. It carries everything the
// writer needs, because vhosts inheriting the main server's CustomLog reuse
// this handle.
struct Handle {
  std::string category;
  Destination* destination;
  bool strip_newline;
};

struct Generation {
  explicit Generation(apr_pool_t* p) : pconf(p) {}
  apr_pool_t* pconf;
  server_rec* main_server = nullptr;
  Settings settings;
  std::vector<std::unique_ptr<Destination>> destinations;
  logchain::HandleTable<Handle> handles;
  // Every child's figures for mod_status, one target per destination (in
  // the order of `destinations`); made at post_config.
  std::unique_ptr<delivery::StatusBoard> board;
  delivery::ChildSenders* senders = nullptr;  // in a child, after child_init

  Destination* destination_for(const std::vector<Endpoint>& servers) {
    const std::string key = scribe::servers_key(servers);
    for (auto& d : destinations)
      if (d->key == key) return d.get();
    auto d = std::make_unique<Destination>();
    d->servers = servers;
    d->key = key;
    d->refused = std::make_unique<delivery::DropLedger>("scribe collectors " + key, 0,
                                                        kReportInterval, "ScribeQueueSize");
    destinations.push_back(std::move(d));
    return destinations.back().get();
  }
};

// Set in the parent at open_logs, before the children are forked; read-only
// in request threads. Plain pointers: nothing heavy is static, since the DSO
// is unloaded and reloaded on every restart.
Generation* g_gen = nullptr;
logchain::WriterChain g_chain;
server_rec* g_log_server = nullptr;

// ---- directives ----
// The table is in mod_scribe.c; the handlers (mod_scribe.h) are at the end
// of this file, built from these helpers.

// The per-child settings: main server only.
Settings* global_settings(cmd_parms* cmd, const char** error) {
  *error = ap_check_cmd_context(cmd, GLOBAL_ONLY);
  return *error ? nullptr : &config_of(cmd->server)->settings;
}

using ValueParser = bool (*)(std::string_view, uint64_t, uint64_t, uint64_t&, std::string&);

// A numeric per-child setting; `note` follows any error.
const char* set_setting(cmd_parms* cmd, const char* arg, uint64_t Settings::*field,
                        ValueParser parse, uint64_t min, uint64_t max, const char* note = "") {
  const char* err;
  Settings* st = global_settings(cmd, &err);
  if (!st) return err;
  return logchain::guard_directive(cmd, [&]() -> const char* {
    std::string e;
    return parse(arg, min, max, st->*field, e) ? nullptr : directive_error(cmd, e + note);
  });
}

// ---- spool directory ----

// The checks and the creation run in the root parent: they are done through
// directory fds in spool_setup.cpp, never by following a name in a
// directory that User can write.
bool prepare_spool_dir(const std::string& dir, std::string& error) {
  scribe::SpoolOwner owner;
  if (geteuid() == 0) {
    owner = scribe::spool_owner_for(ap_unixd_config.user_id, ap_unixd_config.group_id,
                                    ap_unixd_config.user_name ? ap_unixd_config.user_name : "");
  } else {
    owner = scribe::spool_owner_for(geteuid(), getegid(), "");
  }
  return scribe::prepare_spool_dir(dir, owner, error);
}

Settings resolved_settings(apr_pool_t* p, server_rec* main) {
  Settings st = config_of(main)->settings;
  if (st.spool_dir.empty()) st.spool_dir = ap_runtime_dir_relative(p, "scribe-spool");
  return st;
}

// `apachectl stop` and `-k graceful` read the config too (one pass, then
// they signal the running parent): a spool problem must not keep an operator
// from stopping httpd. So the check runs for `apachectl -t` and in a
// starting or restarting server's second pass, which fails on it.
bool spool_check_due() {
  return ap_state_query(AP_SQ_RUN_MODE) == AP_SQ_RM_CONFIG_TEST ||
         ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG;
}

bool spool_dir_ready(const Settings& st) {
  if (!spool_check_due()) return true;
  std::string error;
  if (prepare_spool_dir(st.spool_dir, error)) return true;
  ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_ERR, 0, nullptr, "ScribeSpoolDir %s%s%s: %s",
               st.spool_dir.c_str(), st.spool_dir_origin ? " at " : " (default)",
               st.spool_dir_origin ? st.spool_dir_origin : "", error.c_str());
  return false;
}

// ---- log writer ----

// The handle for a scribe: target, or nullptr when it is refused (logged).
// Throws.
void* new_handle(server_rec* s, const char* name) {
  if (!g_gen) return nullptr;
  scribe::Target t;
  std::string err;
  if (!scribe::parse_target(name, t, err)) {
    ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_ERR, 0, s, "CustomLog %s", err.c_str());
    return nullptr;
  }
  const ServerConfig* sc = config_of(s);
  auto h = std::make_unique<Handle>();
  h->category = t.category;
  h->destination = g_gen->destination_for(t.servers.empty() ? sc->effective_servers() : t.servers);
  h->strip_newline = sc->strip_newline.value_or(false);
  return g_gen->handles.add(g_gen->pconf, std::move(h));
}

// `p` is plog: nothing of ours may live there (see log_writer_chain.h); a
// message's text, with no cleanup, may.
void* writer_init(apr_pool_t* p, server_rec* s, const char* name) {
  if (!logchain::has_prefix(name, scribe::kTargetPrefix)) return g_chain.next_init(p, s, name);
  const char* who = apr_pstrcat(p, "CustomLog ", name, nullptr);
  return logchain::guard_parent(APLOG_MODULE_INDEX, s, who, static_cast<void*>(nullptr),
                                [&] { return new_handle(s, name); });
}

// Request thread: copy the line into the child's queue and return. Never
// touches the network or the disk. Throws.
void queue_line(request_rec* r, Handle* h, const char** strs, int* lens, int n) {
  Destination* d = h->destination;
  delivery::Shipper* shipper = d->shipper.get();
  if (!shipper || !shipper->running()) {
    // No sender in this child (it could not be set up): counted, reported.
    d->refused->count_dropped(EAGAIN);  // as pthread_create says
    auto now = delivery::Clock::now();
    if (d->refused->due(now))
      for (const auto& [level, text] : d->refused->take(now, false))
        ap_log_rerror(APLOG_MARK, delivery::aplog_level(level), 0, r, "%s", text.c_str());
    return;
  }
  size_t total = 0;
  for (int i = 0; i < n; ++i) total += static_cast<size_t>(lens[i]);
  char* buf = static_cast<char*>(apr_palloc(r->pool, total + 1));
  size_t used = 0;
  for (int i = 0; i < n; ++i) {
    memcpy(buf + used, strs[i], static_cast<size_t>(lens[i]));
    used += static_cast<size_t>(lens[i]);
  }
  if (h->strip_newline && used > 0 && buf[used - 1] == '\n') {
    --used;
    if (used > 0 && buf[used - 1] == '\r') --used;
  }
  // A full queue is counted and reported by the sender thread, once per
  // interval; a per-request warning from mod_log_config would flood.
  shipper->push(h->category, std::string_view(buf, used));
}

// A line that could not be queued is logged; an error returned would make
// mod_log_config warn once per request as well.
apr_status_t writer(request_rec* r, void* handle, const char** strs, int* lens, int n,
                    apr_size_t len) {
  Generation* gen = g_gen;
  Handle* h = gen ? gen->handles.find(handle) : nullptr;
  if (!h) return g_chain.next_write(r, handle, strs, lens, n, len);
  return logchain::guard_request(APLOG_MODULE_INDEX, r, "scribe: cannot queue a line",
                                 apr_status_t{APR_SUCCESS}, [&]() -> apr_status_t {
                                   queue_line(r, h, strs, lens, n);
                                   return APR_SUCCESS;
                                 });
}

// ---- hooks ----

apr_status_t forget_generation(void*) {
  g_gen = nullptr;
  return APR_SUCCESS;
}

int open_logs(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* s) {
  return logchain::guard_hook(APLOG_MODULE_INDEX, s, "mod_scribe", [&] {
    g_gen = pool_new<Generation>(pconf, pconf);
    apr_pool_cleanup_register(pconf, nullptr, forget_generation, apr_pool_cleanup_null);
    g_gen->main_server = s;
    g_gen->settings = resolved_settings(pconf, s);
    g_chain.install(writer_init, writer);
    return OK;
  });
}

// Runs for `apachectl -t` too, before the logs are opened: every scribe:
// target is parsed here so that a bad one fails the check with its file and
// line, and the spool directory is made ready.
int check_config(apr_pool_t*, apr_pool_t*, apr_pool_t* ptemp, server_rec* s) {
  return logchain::guard_hook(APLOG_MODULE_INDEX, s, "mod_scribe", [&] {
    bool bad = false, any = false;
    logchain::for_each_log_target(ap_conftree, scribe::kTargetPrefix, ptemp,
                                  [&](const ap_directive_t* d, const char* target) {
                                    any = true;
                                    scribe::Target t;
                                    std::string err;
                                    if (!scribe::parse_target(target, t, err)) {
                                      ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_ERR, 0,
                                                   nullptr, "%s line %d: %s: %s", d->filename,
                                                   d->line_num, d->directive, err.c_str());
                                      bad = true;
                                    }
                                  });
    if (bad) return HTTP_INTERNAL_SERVER_ERROR;
    if (any && !spool_dir_ready(resolved_settings(ptemp, s))) return HTTP_INTERNAL_SERVER_ERROR;
    return OK;
  });
}

// After open_logs: the handles exist, so we know whether a spool is needed.
int post_config(apr_pool_t*, apr_pool_t*, apr_pool_t*, server_rec* s) {
  return logchain::guard_hook(APLOG_MODULE_INDEX, s, "mod_scribe", [&] {
    if (!g_gen || g_gen->destinations.empty()) return OK;
    if (!spool_dir_ready(g_gen->settings)) return HTTP_INTERNAL_SERVER_ERROR;
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG) {
      logchain::guard_continue(APLOG_MODULE_INDEX, APLOG_WARNING, s,
                               "mod_scribe: no delivery figures for mod_status", [&] {
                                 g_gen->board = std::make_unique<delivery::StatusBoard>(
                                     g_gen->destinations.size(),
                                     logchain::children_per_generation());
                               });
    }
    return OK;
  });
}

void thrift_output(const char* message) {
  Generation* gen = g_gen;
  if (gen &&
      logchain::report_lock_free(gen->senders, APLOG_NOTICE, std::string("libthrift: ") + message))
    return;
  // Notice: shown at the default LogLevel without counting as a warning; the
  // sender reports the failure that matters (with the retry) itself.
  if (g_log_server)
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, g_log_server, "libthrift: %s", message);
}

apr_status_t restore_thrift(void*) {
  scribe::restore_thrift_output();
  g_log_server = nullptr;
  return APR_SUCCESS;
}

// What a child reports at its exit, after its senders finished. Throws.
void report_at_exit(Generation* gen, size_t late) {
  if (late)
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, gen->main_server,
                 "scribe: %zu senders had not finished by the exit deadline; what they held "
                 "is not counted",
                 late);
  for (auto& d : gen->destinations)
    if (!d->shipper || !d->shipper->running())
      for (const auto& [level, text] : d->refused->take(delivery::Clock::now(), true))
        ap_log_error(APLOG_MARK, delivery::aplog_level(level), 0, gen->main_server, "%s",
                     text.c_str());
}

// Runs after every sender of this child was told to stop (a pre-cleanup):
// each spooled what it held and delivers from the spool until the exit
// deadline. Maybe inside prefork's signal handler: nothing here allocates,
// locks or frees unless the policy says this is an ordinary thread. The
// Destinations stay: the child exits next.
apr_status_t stop_shippers(void* data) {
  auto* gen = static_cast<Generation*>(data);
  size_t late = gen->senders->finish_all();
  if (gen->senders->join_policy() != delivery::ChildSenders::Join::AfterStop) return APR_SUCCESS;
  logchain::guard_continue(APLOG_MODULE_INDEX, APLOG_ERR, gen->main_server,
                           "mod_scribe: child exit", [&] { report_at_exit(gen, late); });
  return APR_SUCCESS;
}

int status_hook(request_rec* r, int flags) {
  Generation* gen = g_gen;
  if (!gen) return OK;
  return logchain::print_board(APLOG_MODULE_INDEX, r, flags, "Scribe", gen->board.get(),
                               [gen](size_t i) { return gen->destinations[i]->key; });
}

void child_stopping(apr_pool_t*, int graceful) {
  if (Generation* gen = g_gen) logchain::start_exit_deadline(gen->senders, graceful);
}

void child_init(apr_pool_t* pchild, server_rec* s) {
  Generation* gen = g_gen;
  if (!gen || gen->destinations.empty()) return;
  if (!logchain::guard_continue(APLOG_MODULE_INDEX, APLOG_ERR, s, "mod_scribe: child_init",
                                [&] { gen->senders = logchain::new_child_senders("scribe"); }))
    return;
  // Cleanups run last-registered first: the shippers stop before libthrift's
  // output goes back to stderr.
  g_log_server = gen->main_server;
  scribe::route_thrift_output(thrift_output);
  apr_pool_cleanup_register(pchild, nullptr, restore_thrift, apr_pool_cleanup_null);
  logchain::stop_with_child(pchild, gen->senders, stop_shippers, gen);

  const Settings& st = gen->settings;
  server_rec* log_to = gen->main_server;
  // Runs on the sender threads; while a prefork child stops, through the
  // ExitLog (see child_senders.h).
  const delivery::ChildSenders* senders = gen->senders;
  auto report = [log_to, senders](delivery::Level level, const std::string& msg) {
    if (logchain::report_lock_free(senders, delivery::aplog_level(level), msg)) return;
    ap_log_error(APLOG_MARK, delivery::aplog_level(level), 0, log_to, "%s", msg.c_str());
  };
  for (auto& d : gen->destinations) {
    const char* who =
        apr_pstrcat(pchild, "scribe: ", d->key.c_str(),
                    ": cannot start the sender (its lines are counted as lost)", nullptr);
    logchain::guard_continue(APLOG_MODULE_INDEX, APLOG_ERR, s, who, [&] {
      scribe::SinkOptions so;
      so.servers = d->servers;
      so.timeout = delivery::Millis(st.timeout_ms);
      so.retry_min = delivery::Millis(st.retry_min_ms);
      so.retry_max = delivery::Millis(st.retry_max_ms);
      delivery::ShipperOptions opts;
      opts.exit_deadline = delivery::Millis(st.exit_timeout_ms);
      opts.queue_bytes = st.queue_bytes;
      opts.batch_lines = st.batch_lines;
      opts.flush_interval = delivery::Millis(st.flush_ms);
      opts.retry_min = delivery::Millis(st.retry_min_ms);
      opts.retry_max = delivery::Millis(st.retry_max_ms);
      opts.spool_dir = st.spool_dir;
      opts.spool_name = scribe::spool_name_for(d->servers);
      opts.spool_max_bytes = st.spool_max;
      if (gen->board) {
        opts.status =
            gen->board->claim(static_cast<size_t>(&d - gen->destinations.data()), getpid());
        d->refused->mirror_to(opts.status);
      }
      auto sink = std::make_unique<scribe::ScribeSink>(std::move(so), report);
      d->shipper = std::make_unique<delivery::Shipper>(std::move(sink), opts, report);
      gen->senders->add(d->shipper.get());
      // A failed start leaves a Shipper that counts and reports every line.
      d->shipper->start();
    });
  }
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
  Settings* st = global_settings(cmd, &err);
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
  return set_setting(cmd, arg, &Settings::spool_max, config_values::parse_size, kMinSpoolBytes,
                     kMaxSpoolBytes);
}

const char* scribe_cmd_queue_size(cmd_parms* cmd, void*, const char* arg) {
  return set_setting(cmd, arg, &Settings::queue_bytes, config_values::parse_size, kMinQueueBytes,
                     kMaxQueueBytes);
}

const char* scribe_cmd_batch_size(cmd_parms* cmd, void*, const char* arg) {
  return set_setting(cmd, arg, &Settings::batch_lines, config_values::parse_number, 1,
                     kMaxBatchLines);
}

const char* scribe_cmd_flush_interval(cmd_parms* cmd, void*, const char* arg) {
  return set_setting(cmd, arg, &Settings::flush_ms, config_values::parse_number, 1, kMaxFlushMs);
}

const char* scribe_cmd_timeout(cmd_parms* cmd, void*, const char* arg) {
  return set_setting(cmd, arg, &Settings::timeout_ms, config_values::parse_number, kMinTimeoutMs,
                     kMaxTimeoutMs);
}

const char* scribe_cmd_exit_timeout(cmd_parms* cmd, void*, const char* arg) {
  return set_setting(cmd, arg, &Settings::exit_timeout_ms, config_values::parse_number, 0,
                     kMaxExitTimeoutMs, " (httpd escalates a stop after 3 s)");
}

const char* scribe_cmd_retry_interval(cmd_parms* cmd, void*, const char* min_arg,
                                      const char* max_arg) {
  const char* err;
  Settings* st = global_settings(cmd, &err);
  if (!st) return err;
  return logchain::guard_directive(cmd, [&]() -> const char* {
    std::string e;
    uint64_t lo = 0, hi = 0;
    if (!config_values::parse_number(min_arg, 1, kMaxRetryMs, lo, e) ||
        !config_values::parse_number(max_arg, 1, kMaxRetryMs, hi, e))
      return directive_error(cmd, e);
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

void scribe_register_hooks(apr_pool_t*) {
  static const char* const before_log_config[] = {"mod_log_config.c", nullptr};
  ap_hook_open_logs(open_logs, nullptr, before_log_config, APR_HOOK_MIDDLE);
  ap_hook_check_config(check_config, nullptr, nullptr, APR_HOOK_MIDDLE);
  ap_hook_post_config(post_config, nullptr, nullptr, APR_HOOK_MIDDLE);
  ap_hook_child_init(child_init, nullptr, nullptr, APR_HOOK_MIDDLE);
  ap_hook_child_stopping(child_stopping, nullptr, nullptr, APR_HOOK_MIDDLE);
  APR_OPTIONAL_HOOK(ap, status_hook, status_hook, nullptr, nullptr, APR_HOOK_MIDDLE);
}

}  // extern "C"
