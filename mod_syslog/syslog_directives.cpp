// mod_syslog's directives: the per-server config they fill (syslog_config.h)
// and their handlers, named by the module record in mod_syslog.c. Values are
// checked by the core's parsers; what a directive cannot accept fails the
// start with the directive's name and the word at fault.
#include <string>
#include <string_view>
#include <vector>

// httpd.h must come first.
// clang-format off
#include "httpd.h"
#include "http_config.h"
#include "apr_strings.h"
// clang-format on

#include "config_values.h"
#include "log_writer_chain.h"
#include "mod_syslog.h"
#include "module_kit.h"
#include "syslog_config.h"
#include "syslog_format.h"
#include "target_definition.h"

namespace {

using syslogmod::server_config;
using syslogmod::ServerConfig;

// httpd sends SIGTERM to children still there 3 s into a stop (AH00045):
// the senders must be done before, with room for the rest of the exit.
constexpr uint64_t kMaxExitTimeout = 2500;

// Runs a handler's body on this server's config: no exception reaches httpd.
template <typename Fn>
const char* guarded(cmd_parms* cmd, Fn&& fn) {
  return logchain::guard_directive(cmd, [&] { return fn(server_config(cmd->server)); });
}

}  // namespace

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
  m->targets = nullptr;                        // looked up in the main server
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
    syslogmod::Format f;
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
    if (!config_values::parse_number(arg, syslogmod::kMinMaxLength, syslogmod::kMaxMaxLength, v,
                                     error))
      return apr_psprintf(cmd->pool, "SyslogMaxLength: %s", error.c_str());
    c->max_length = static_cast<apr_int64_t>(v);
    return nullptr;
  });
}

const char* syslog_cmd_queue_size(cmd_parms* cmd, void*, const char* arg) {
  return guarded(cmd, [&](ServerConfig* c) -> const char* {
    uint64_t v;
    std::string error;
    if (!config_values::parse_size(arg, syslogmod::kMinQueueSize, syslogmod::kMaxQueueSize, v,
                                   error))
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

// A file or directory a SyslogTarget names, relative to ServerRoot.
bool server_root_relative(cmd_parms* cmd, std::string& path) {
  if (path.empty()) return true;
  const char* full = ap_server_root_relative(cmd->pool, path.c_str());
  if (!full) return false;
  path = full;
  return true;
}

// SyslogTarget NAME URL [key=value ...]: main server only, since every
// vhost's CustomLog may name it. The parent reads a tls:// target's
// certificates and key here, as root, so that `apachectl -t` names a bad
// file and the children never open them.
const char* syslog_cmd_target(cmd_parms* cmd, void*, int argc, char* const argv[]) {
  if (const char* err = ap_check_cmd_context(cmd, GLOBAL_ONLY)) return err;
  return guarded(cmd, [&](ServerConfig* c) -> const char* {
    std::vector<std::string_view> args(argv, argv + argc);
    syslogmod::TargetDefinition def;
    std::string error;
    if (!syslogmod::parse_target_definition(args, def, error))
      return apr_psprintf(cmd->pool, "SyslogTarget: %s", error.c_str());
    syslogmod::TlsCredentials& tls = def.settings.tls;
    for (std::string* path : {&tls.ca_file, &tls.cert_file, &tls.key_file, &def.settings.spool_dir})
      if (!server_root_relative(cmd, *path))
        return apr_psprintf(cmd->pool, "SyslogTarget %s: invalid path '%s'", def.name.c_str(),
                            path->c_str());
    if (def.endpoint.transport == syslogmod::Transport::Tls &&
        !syslogmod::load_credentials(tls, error))
      return apr_psprintf(cmd->pool, "SyslogTarget %s: %s", def.name.c_str(), error.c_str());
    if (!c->targets) c->targets = logchain::pool_new<syslogmod::TargetDefinitions>(cmd->pool);
    for (const syslogmod::TargetDefinition& t : *c->targets) {
      if (t.name == def.name)
        return apr_psprintf(cmd->pool, "SyslogTarget: '%s' is declared twice", def.name.c_str());
      // Each spool's size limit holds for its whole directory: two targets
      // sharing one would shed each other's lines.
      if (!def.settings.spool_dir.empty() && t.settings.spool_dir == def.settings.spool_dir)
        return apr_psprintf(cmd->pool,
                            "SyslogTarget %s: spool=%s is the spool of SyslogTarget %s already; "
                            "give each target a directory of its own",
                            def.name.c_str(), def.settings.spool_dir.c_str(), t.name.c_str());
    }
    c->targets->push_back(std::move(def));
    return nullptr;
  });
}

}  // extern "C"
