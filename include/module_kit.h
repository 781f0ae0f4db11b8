// What mod_syslog and mod_scribe do alike around their senders in a child:
// picking the stop policy for the MPM and hooking the two-step stop into
// pchild. Glue only: includes httpd headers.
#pragma once

// httpd.h must come first.
// clang-format off
#include "httpd.h"
#include "ap_mpm.h"
#include "apr_pools.h"
#include "apr_portable.h"
#include "http_main.h"
#include "mpm_common.h"
#include "scoreboard.h"
// clang-format on

#include <time.h>

#include <memory>
#include <string>

#include "child_senders.h"
#include "status_board.h"

namespace logchain {

// How many children of one generation may run at once (ServerLimit): the
// StatusBoard's slots per target.
inline size_t children_per_generation() {
  int limit = 0;
  if (ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit) != APR_SUCCESS || limit <= 0) limit = 16;
  return static_cast<size_t>(limit);
}

// Whether `pid` is in httpd's scoreboard: a child of this server, not a
// process that got a dead child's pid.
inline bool is_server_child(pid_t pid) {
  apr_proc_t proc;
  proc.pid = pid;
  return ap_find_child_by_pid(&proc) >= 0;
}

// A generation's figures for mod_status: made by the parent at post_config
// (anonymous shared memory, before any child is forked). Throws.
inline std::unique_ptr<delivery::StatusBoard> new_status_board(size_t targets) {
  return std::make_unique<delivery::StatusBoard>(targets, children_per_generation(),
                                                 is_server_child);
}

// Prefork (no threads) may run pchild's cleanups from a signal handler.
inline delivery::ChildSenders::Join join_policy_for_mpm() {
  int threaded = 0;
  bool prefork_like = ap_mpm_query(AP_MPMQ_IS_THREADED, &threaded) == APR_SUCCESS &&
                      threaded == AP_MPMQ_NOT_SUPPORTED;
  return prefork_like ? delivery::ChildSenders::Join::Never
                      : delivery::ChildSenders::Join::AfterStop;
}

// A ChildSenders for this child, its ExitLog pointed at the main server's
// error log (when that is a file or a pipe; with `ErrorLog syslog` reports
// keep going through ap_log_error). Never freed: with Join::Never it must not
// be (its cleanup may run in a signal handler), and the child exits after.
inline delivery::ChildSenders* new_child_senders(const char* module_tag) {
  auto* senders = new delivery::ChildSenders(join_policy_for_mpm());
  apr_os_file_t fd = -1;
  server_rec* s = ap_server_conf;
  if (s && s->error_log && apr_os_file_get(&fd, s->error_log) == APR_SUCCESS && fd >= 0) {
    time_t now = time(nullptr);
    struct tm local;
    long offset = localtime_r(&now, &local) ? local.tm_gmtoff : 0;
    senders->exit_log.open(fd, module_tag, offset, s->log.level);
  }
  return senders;
}

// For httpd's child_stopping hook (2.4.49+), which every MPM runs when a
// child starts to stop: on an ungraceful stop the exit deadline starts
// then, not only when pchild's cleanups run after a threaded child joined
// its workers, so that join time plus the deadline stay within httpd's 3 s.
// A graceful stop may legitimately take until GracefulShutdownTimeout.
// Async-signal-safe (prefork runs it in its SIGTERM handler).
inline void start_exit_deadline(delivery::ChildSenders* senders, int graceful) {
  if (senders && !graceful) senders->set_deadline_all();
}

// Reports through the ExitLog when httpd's error-log API is not safe to call
// (see child_senders.h); false when the caller should use ap_log_error.
inline bool report_lock_free(const delivery::ChildSenders* senders, int aplog_level,
                             const std::string& text) {
  if (!senders || !senders->reports_lock_free() || !senders->exit_log.usable()) return false;
  senders->exit_log.write(aplog_level, text);
  return true;
}

// Registers the two steps on pchild: the pre-cleanup that tells every
// sender to stop, and the module's `finish(data)`, an ordinary cleanup that
// calls senders->finish_all(). Under prefork `finish` may run in a signal
// handler and must then be async-signal-safe.
inline void stop_with_child(apr_pool_t* pchild, delivery::ChildSenders* senders,
                            apr_status_t (*finish)(void*), void* data) {
  apr_pool_pre_cleanup_register(pchild, senders, [](void* d) -> apr_status_t {
    static_cast<delivery::ChildSenders*>(d)->begin_stop_all();
    return APR_SUCCESS;
  });
  apr_pool_cleanup_register(pchild, data, finish, apr_pool_cleanup_null);
}

}  // namespace logchain
