// See cidr_list_sets.h. The ListSets of a generation hang off pconf (a
// cleanup each, and a registry in pconf's user data, since httpd offers no
// way to enumerate the configs of directory sections): a restart clears
// pconf, and the next generation rebuilds from the files as they are then.
#include "cidr_list_sets.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <string>
#include <vector>

// clang-format off
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "apr_strings.h"
#include "mod_status.h"
// clang-format on

#include "mod_cidr_lookup.h"
#include "module_kit.h"
#include "status_board.h"

APLOG_USE_MODULE(cidr_lookup);

namespace cidrglue {
namespace {

constexpr const char* kRegistryKey = "mod_cidr_lookup:list_sets";

struct Registry {
  std::vector<ListSet*> sets;
};

apr_status_t delete_list_set(void* data) {
  delete static_cast<ListSet*>(data);
  return APR_SUCCESS;
}

apr_status_t delete_registry(void* data) {
  delete static_cast<Registry*>(data);
  return APR_SUCCESS;
}

// ListSets of this config generation, so post_config can reach those of
// directory sections, which httpd offers no way to enumerate.
enum class Lookup { FindOnly, CreateMissing };

Registry* registry(apr_pool_t* pconf, Lookup lookup) {
  void* data = nullptr;
  apr_pool_userdata_get(&data, kRegistryKey, pconf);
  if (data == nullptr && lookup == Lookup::CreateMissing) {
    auto* reg = new Registry;
    apr_pool_userdata_set(reg, kRegistryKey, delete_registry, pconf);
    data = reg;
  }
  return static_cast<Registry*>(data);
}

// A list warning, under the message ID of its kind (MESSAGES.md).
void log_list_warning(server_rec* s, const cidr::Warning& w) {
  const char* text = w.text.c_str();
  switch (w.kind) {
    case cidr::WarningKind::WritableList:
      ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "CL0001: %s", text);
      return;
    case cidr::WarningKind::HostBits:
      ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "CL0002: %s", text);
      return;
    case cidr::WarningKind::DuplicateNetwork:
      ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "CL0003: %s", text);
      return;
    case cidr::WarningKind::More:
      ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "CL0004: %s", text);
      return;
  }
}

// Builds one context's table and logs its warnings. Throws.
void build_table(ListSet* set, server_rec* s) {
  cidr::Diagnostics diag;
  auto started = std::chrono::steady_clock::now();
  set->table = set->loader.build(diag);
  set->load_time += std::chrono::steady_clock::now() - started;
  set->built_at = apr_time_now();
  for (const cidr::Warning& w : diag.warning_list()) log_list_warning(s, w);
  ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
               "CL0006: lists of %s: %" APR_SIZE_T_FMT " IPv4 and %" APR_SIZE_T_FMT
               " IPv6 networks, %" APR_SIZE_T_FMT " client types, %" APR_SIZE_T_FMT " bytes",
               set->origin.c_str(), set->table->size_v4(), set->table->size_v6(),
               set->table->type_count(), set->table->memory_bytes());
}

}  // namespace

ListSet* new_list_set(apr_pool_t* pconf, const ap_directive_t* directive) {
  auto* set = new ListSet;
  apr_pool_cleanup_register(pconf, set, delete_list_set, apr_pool_cleanup_null);
  if (directive != nullptr) {
    set->origin = std::string(directive->filename ? directive->filename : "?") + ":" +
                  std::to_string(directive->line_num);
  }
  registry(pconf, Lookup::CreateMissing)->sets.push_back(set);
  return set;
}

bool build_list_sets(apr_pool_t* pconf, server_rec* s) {
  Registry* reg = registry(pconf, Lookup::FindOnly);
  if (reg == nullptr) return true;
  bool ok = true;
  for (ListSet* set : reg->sets) {
    if (set->table) continue;
    for (const cidr::Warning& w : set->warnings) log_list_warning(s, w);
    set->warnings.clear();
    for (const std::string& n : set->notices) {
      ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "CL0005: %s", n.c_str());
    }
    set->notices.clear();
    const char* who =
        apr_pstrcat(pconf, "cannot build the lists of ", set->origin.c_str(), nullptr);
    if (!logchain::guard_continue(APLOG_MODULE_INDEX, APLOG_CRIT, s, who,
                                  [&] { build_table(set, s); }))
      ok = false;
  }
  return ok;
}

// A context is named by where its first CIDRFile or CIDRMap is
// ("file:line").
void print_list_sets(request_rec* r, int flags) {
  Registry* reg = registry(r->server->process->pconf, Lookup::FindOnly);
  if (reg == nullptr || reg->sets.empty()) return;
  const bool lines = flags & (AP_STATUS_SHORT | AP_STATUS_NOTABLE);
  const bool html = !(flags & AP_STATUS_SHORT);
  if (html) ap_rputs("<hr />\n<h2>CIDR lists</h2>\n", r);
  if (html && lines) ap_rputs("<pre>\n", r);
  if (!lines)
    ap_rputs(
        "<table border=\"1\">\n<tr><th>Context</th><th>IPv4Prefixes</th>"
        "<th>IPv6Prefixes</th><th>Types</th><th>Bytes</th><th>Loaded</th>"
        "<th>LoadSeconds</th></tr>\n",
        r);
  std::vector<std::string> seen;
  for (const ListSet* set : reg->sets) {
    if (!set->table) continue;
    // One file Included in several contexts gives them the same origin.
    std::string name = set->origin;
    size_t same = static_cast<size_t>(std::count(seen.begin(), seen.end(), set->origin));
    seen.push_back(set->origin);
    if (same) name += "#" + std::to_string(same + 1);
    const cidr::PrefixTable& t = *set->table;
    double seconds = std::chrono::duration<double>(set->load_time).count();
    if (lines) {
      std::string key = "CIDR " + delivery::status_key_word(name) + " ";
      if (html) key = ap_escape_html(r->pool, key.c_str());
      ap_rprintf(r, "%sIPv4Prefixes: %" APR_SIZE_T_FMT "\n", key.c_str(), t.size_v4());
      ap_rprintf(r, "%sIPv6Prefixes: %" APR_SIZE_T_FMT "\n", key.c_str(), t.size_v6());
      ap_rprintf(r, "%sTypes: %" APR_SIZE_T_FMT "\n", key.c_str(), t.type_count());
      ap_rprintf(r, "%sBytes: %" APR_SIZE_T_FMT "\n", key.c_str(), t.memory_bytes());
      ap_rprintf(r, "%sLoadedAt: %" APR_INT64_T_FMT "\n", key.c_str(),
                 static_cast<apr_int64_t>(apr_time_sec(set->built_at)));
      ap_rprintf(r, "%sLoadSeconds: %.3f\n", key.c_str(), seconds);
    } else {
      ap_rprintf(r,
                 "<tr><td>%s</td><td>%" APR_SIZE_T_FMT "</td><td>%" APR_SIZE_T_FMT
                 "</td><td>%" APR_SIZE_T_FMT "</td><td>%" APR_SIZE_T_FMT
                 "</td><td>%s</td><td>%.3f</td></tr>\n",
                 ap_escape_html(r->pool, name.c_str()), t.size_v4(), t.size_v6(), t.type_count(),
                 t.memory_bytes(), ap_ht_time(r->pool, set->built_at, "%Y-%m-%d %H:%M:%S %Z", 1),
                 seconds);
    }
  }
  if (html) ap_rputs(lines ? "</pre>\n" : "</table>\n", r);
}

}  // namespace cidrglue
