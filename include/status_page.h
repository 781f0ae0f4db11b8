// What mod_syslog and mod_scribe print on mod_status's page: one block of
// figures per target, as `Key: value` lines for `?auto` (what Prometheus'
// apache exporter and Munin read) or as an HTML table. Glue only.
#pragma once

// httpd.h must come first.
// clang-format off
#include "httpd.h"
#include "apr_strings.h"
#include "http_log.h"
#include "http_protocol.h"
#include "mod_status.h"
// clang-format on

#include <cinttypes>
#include <string>
#include <vector>

#include "module_kit.h"
#include "status_board.h"

namespace logchain {

struct StatusRow {
  std::string target;  // as configured; encoded for ?auto keys
  delivery::SenderTotals totals;
};

// `kind` starts every ?auto key ("Syslog", "Scribe") and titles the table.
inline void print_sender_status(request_rec* r, int flags, const char* kind,
                                const std::vector<StatusRow>& rows) {
  using delivery::Counter;
  if (rows.empty()) return;
  const bool lines = flags & (AP_STATUS_SHORT | AP_STATUS_NOTABLE);
  if (lines) {
    // ?auto, or the HTML page without tables (?notable): the same lines.
    if (!(flags & AP_STATUS_SHORT)) ap_rprintf(r, "<hr />\n<h2>%s delivery</h2>\n<pre>\n", kind);
    for (const StatusRow& row : rows) {
      std::string key = std::string(kind) + " " + delivery::status_key_word(row.target) + " ";
      if (!(flags & AP_STATUS_SHORT)) key = ap_escape_html(r->pool, key.c_str());
      const delivery::SenderTotals& t = row.totals;
      ap_rprintf(r, "%sState: %s\n", key.c_str(), delivery::state_name(t.state));
      ap_rprintf(r, "%sFailingSince: %" PRId64 "\n", key.c_str(), t.failing_since);
      ap_rprintf(r, "%sChildren: %u\n", key.c_str(), t.children);
      ap_rprintf(r, "%sChildrenFailing: %u\n", key.c_str(), t.failing);
      for (unsigned c = 0; c < delivery::kCounterCount; ++c)
        ap_rprintf(r, "%s%s: %" PRIu64 "\n", key.c_str(),
                   delivery::counter_name(static_cast<Counter>(c)), t.counters[c]);
      ap_rprintf(r, "%sDropped: %" PRIu64 "\n", key.c_str(), t.dropped());
      ap_rprintf(r, "%sQueueBytes: %" PRIu64 "\n", key.c_str(), t.queue_bytes);
      ap_rprintf(r, "%sSpoolBytes: %" PRIu64 "\n", key.c_str(), t.spool_bytes);
    }
    if (!(flags & AP_STATUS_SHORT)) ap_rputs("</pre>\n", r);
    return;
  }
  ap_rprintf(r,
             "<hr />\n<h2>%s delivery</h2>\n<table border=\"1\">\n<tr><th>Target</th>"
             "<th>State</th><th>Children</th>",
             kind);
  for (unsigned c = 0; c < delivery::kCounterCount; ++c)
    ap_rprintf(r, "<th>%s</th>", delivery::counter_name(static_cast<Counter>(c)));
  ap_rputs("<th>Dropped</th><th>QueueBytes</th><th>SpoolBytes</th></tr>\n", r);
  for (const StatusRow& row : rows) {
    const delivery::SenderTotals& t = row.totals;
    ap_rprintf(r, "<tr><td>%s</td><td>%s", ap_escape_html(r->pool, row.target.c_str()),
               delivery::state_name(t.state));
    if (t.failing)
      ap_rprintf(
          r, " (%u failing since %s)", t.failing,
          ap_ht_time(r->pool, apr_time_from_sec(t.failing_since), "%Y-%m-%d %H:%M:%S %Z", 1));
    ap_rprintf(r, "</td><td>%u</td>", t.children);
    for (unsigned c = 0; c < delivery::kCounterCount; ++c)
      ap_rprintf(r, "<td>%" PRIu64 "</td>", t.counters[c]);
    ap_rprintf(r, "<td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td></tr>\n",
               t.dropped(), t.queue_bytes, t.spool_bytes);
  }
  ap_rputs("</table>\n", r);
}

// A module's status hook: one row per target of `board`, named by `name_of(i)`;
// nothing without a board (no target, or the first startup pass). Never
// throws into httpd; `module_index` is the caller's APLOG_MODULE_INDEX (see
// the guards in module_kit.h).
template <typename NameOf>
int print_board(int module_index, request_rec* r, int flags, const char* kind,
                const delivery::StatusBoard* board, NameOf&& name_of) {
  if (!board) return OK;
  const char* who = apr_pstrcat(r->pool, kind, ": cannot show the delivery figures", nullptr);
  return guard_request(module_index, r, who, int{OK}, [&] {
    std::vector<StatusRow> rows;
    for (size_t i = 0; i < board->targets(); ++i) rows.push_back({name_of(i), board->totals(i)});
    print_sender_status(r, flags, kind, rows);
    return int{OK};
  });
}

}  // namespace logchain
