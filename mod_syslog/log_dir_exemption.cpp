// See log_dir_exemption.h. The layouts below mirror mod_log_config.c's
// private multi_log_state and config_log_state (httpd 2.4). mod_log_config
// skips an entry whose `directive` is NULL, and that field is what we clear.
// An entry is touched only when the array's element size matches and its
// `directive` is exactly one of the nodes the caller found in the config
// tree for one of our targets, so a different layout is never written to:
// the caller is told, and refuses the targets itself.
#include "log_dir_exemption.h"

#include <algorithm>
#include <cstring>
#include <vector>

// clang-format off
#include "httpd.h"
#include "ap_expr.h"
#include "http_config.h"
// clang-format on

#include "log_writer_chain.h"

namespace syslogmod {
namespace {

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

}  // namespace

bool needs_log_dir_exemption(const char* target) { return std::strchr(target, '/') != nullptr; }

logchain::TargetDirectives exempt_from_log_dir_check(server_rec* s,
                                                     const logchain::TargetDirectives& ours,
                                                     const char* prefix) {
  module* log_config = ap_find_linked_module("mod_log_config.c");
  if (!log_config || ours.empty()) return {};
  std::vector<bool> exempted(ours.size(), false);
  auto index_of = [&](const ap_directive_t* d) -> size_t {
    for (size_t k = 0; k < ours.size(); ++k)
      if (ours[k].directive == d) return k;
    return ours.size();
  };
  for (server_rec* v = s; v; v = v->next) {
    auto* mls = static_cast<LogConfigServer*>(ap_get_module_config(v->module_config, log_config));
    if (!mls || !mls->config_logs) continue;
    const apr_array_header_t* logs = mls->config_logs;
    if (logs->elt_size != static_cast<int>(sizeof(LogConfigEntry))) return ours;
    auto* entries = reinterpret_cast<LogConfigEntry*>(logs->elts);
    for (int i = 0; i < logs->nelts; ++i) {
      LogConfigEntry& e = entries[i];
      if (!e.directive) continue;
      const size_t k = index_of(e.directive);
      if (k == ours.size() || !e.fname || !logchain::has_prefix(e.fname, prefix)) continue;
      exempted[k] = true;
      e.directive = nullptr;
    }
  }
  // Each directive not found where this looks (all of them, when the fields
  // are not where this expects them) would meet mod_log_config's check.
  logchain::TargetDirectives missed;
  for (size_t k = 0; k < ours.size(); ++k)
    if (!exempted[k]) missed.push_back(ours[k]);
  return missed;
}

}  // namespace syslogmod
