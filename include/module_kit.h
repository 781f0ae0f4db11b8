// What the modules do alike in their glue: the exception guards every hook,
// writer and directive handler runs its body in (all three modules), and,
// for mod_syslog and mod_scribe, around their senders in a child: picking
// the stop policy for the MPM and hooking the two-step stop into pchild.
// Glue only: includes httpd headers.
#pragma once

// httpd.h must come first.
// clang-format off
#include "httpd.h"
#include "ap_mpm.h"
#include "apr_pools.h"
#include "apr_portable.h"
#include "apr_strings.h"
#include "http_config.h"
#include "http_log.h"
#include "http_main.h"
#include "mpm_common.h"
#include "scoreboard.h"
// clang-format on

#include <time.h>

#include <exception>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include "child_senders.h"
#include "status_board.h"

namespace logchain {

// ---- exception guards ----
//
// No exception crosses into httpd. Each guard runs `fn` and, when it throws,
// reports one message form, "<ID>: <who>: <what>" (one ID per guard, see
// MESSAGES.md), where <what> is "out of memory"
// for std::bad_alloc, what() for any other std::exception and "unexpected
// failure" for anything else. What the guard then returns depends on the
// kind of caller, not on the exception:
//
//   guard_hook       startup hooks (check_config, open_logs, post_config):
//                    logs at APLOG_STARTUP|APLOG_ERR, as their own config
//                    errors are (on stderr while the error log is not open
//                    yet, as under `apachectl -t`), and returns
//                    HTTP_INTERNAL_SERVER_ERROR: httpd stops on any return
//                    but OK or DECLINED from these hooks.
//   guard_parent     the rest of the parent's config cycle (writer_init,
//                    called from mod_log_config's open_logs): the same log
//                    line, and the caller's value for failure (nullptr).
//   guard_continue   work the caller goes on without (child_init's steps,
//                    exit cleanups, optional extras such as the status
//                    board): logs at the level given (APLOG_ERR for what
//                    loses lines, APLOG_WARNING for what only loses a
//                    figure or a warning) and returns false; true when fn
//                    finished.
//   guard_request    request time (log writers, request hooks, authz, the
//                    status page): logs against the request at APLOG_ERR and
//                    returns the caller's value, since each of those hooks
//                    has its own meaning for failure (a writer APR_SUCCESS, so
//                    that mod_log_config does not warn once per request;
//                    authz AUTHZ_GENERAL_ERROR; a request hook DECLINED/OK).
//   guard_directive  directive handlers: returns "<Directive>: <what>" in
//                    cmd->pool, which httpd prints with the file and line.
//
// `module_index` is the caller's APLOG_MODULE_INDEX (declared by
// APLOG_USE_MODULE in the module's glue, not visible here), so that the
// lines keep their "[name:level]" tag and the module's LogLevel applies
// (startup lines are printed without a tag, as httpd does for all of them).
// The file and line a line names (ErrorLogFormat %F) are this header's.

// Runs fn; if it throws, returns fail(what) instead.
template <typename Fn, typename Fail>
auto run_guarded(Fn&& fn, Fail&& fail) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return fail("out of memory");
  } catch (const std::exception& e) {
    return fail(e.what());
  } catch (...) {
    return fail("unexpected failure");
  }
}

template <typename Fn>
int guard_hook(int module_index, server_rec* s, const char* who, Fn&& fn) {
  return run_guarded(std::forward<Fn>(fn), [&](const char* what) -> int {
    ap_log_error(__FILE__, __LINE__, module_index, APLOG_STARTUP | APLOG_ERR, 0, s,
                 "DE0019: %s: %s", who, what);
    return HTTP_INTERNAL_SERVER_ERROR;
  });
}

template <typename R, typename Fn>
R guard_parent(int module_index, server_rec* s, const char* who, R on_failure, Fn&& fn) {
  return run_guarded(std::forward<Fn>(fn), [&](const char* what) -> R {
    ap_log_error(__FILE__, __LINE__, module_index, APLOG_STARTUP | APLOG_ERR, 0, s,
                 "DE0020: %s: %s", who, what);
    return on_failure;
  });
}

template <typename Fn>
bool guard_continue(int module_index, int level, server_rec* s, const char* who, Fn&& fn) {
  return run_guarded(
      [&]() -> bool {
        fn();
        return true;
      },
      [&](const char* what) -> bool {
        ap_log_error(__FILE__, __LINE__, module_index, level, 0, s, "DE0021: %s: %s", who, what);
        return false;
      });
}

template <typename R, typename Fn>
R guard_request(int module_index, request_rec* r, const char* who, R on_failure, Fn&& fn) {
  return run_guarded(std::forward<Fn>(fn), [&](const char* what) -> R {
    ap_log_rerror(__FILE__, __LINE__, module_index, APLOG_ERR, 0, r, "DE0022: %s: %s", who, what);
    return on_failure;
  });
}

// `name` names the message when the directive's own name is not enough
// (a Require provider, a directive and its argument).
template <typename Fn>
const char* guard_directive_named(cmd_parms* cmd, const char* name, Fn&& fn) {
  return run_guarded(std::forward<Fn>(fn), [&](const char* what) -> const char* {
    return apr_pstrcat(cmd->pool, name, ": ", what, nullptr);
  });
}

template <typename Fn>
const char* guard_directive(cmd_parms* cmd, Fn&& fn) {
  return guard_directive_named(cmd, cmd->cmd->name, std::forward<Fn>(fn));
}

// ---- senders in a child ----

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
