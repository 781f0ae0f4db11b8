// mod_syslog's per-server configuration, as its directives leave it (see
// syslog_directives.cpp), and the SyslogTarget definitions of the main
// server. Glue only.
#pragma once

#include <string_view>
#include <vector>

// httpd.h must come first.
// clang-format off
#include "httpd.h"
#include "http_config.h"
// clang-format on

#include "mod_syslog.h"
#include "target_definition.h"

namespace syslogmod {

// The SyslogTarget directives of one config cycle, in pconf, in the order
// they were read.
using TargetDefinitions = std::vector<TargetDefinition>;

struct ServerConfig {
  const char* ident;            // nullptr: not set here
  int format;                   // -1: not set here, else a Format
  apr_int64_t max_length;       // 0: not set here
  apr_int64_t queue_size;       // 0: not set here
  apr_int64_t exit_timeout_ms;  // -1: not set (main server only)
  TargetDefinitions* targets;   // main server only; nullptr: none declared
};

inline ServerConfig* server_config(server_rec* s) {
  return static_cast<ServerConfig*>(ap_get_module_config(s->module_config, &syslog_module));
}

// The SyslogTarget called `name`, declared in the main server `main`;
// nullptr when there is none.
inline const TargetDefinition* find_target(server_rec* main, std::string_view name) {
  const ServerConfig* cfg = server_config(main);
  if (!cfg->targets) return nullptr;
  for (const TargetDefinition& t : *cfg->targets)
    if (t.name == name) return &t;
  return nullptr;
}

}  // namespace syslogmod
