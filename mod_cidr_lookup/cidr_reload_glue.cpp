// CIDRLookupReload in a child: the thread that runs the reload rounds
// (list_reload.h) every N seconds, off every request's path, and its stop.
//
// The thread is started at child_init, never in the parent (threads do not
// survive fork). It waits on an eventfd with a timeout; the child's exit
// writes to the eventfd after setting the stop flag, which is all prefork's
// SIGTERM handler may do (pchild's cleanups run there: no lock, no
// allocation, no join). Threaded MPMs join it, which takes no longer than
// its current step: builds look at the stop flag as they go.
// Glue only: includes httpd headers.
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <exception>
#include <memory>
#include <string>
#include <thread>

// clang-format off
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "apr_pools.h"
// clang-format on

#include "cidr_list_sets.h"
#include "list_reload.h"
#include "mod_cidr_lookup.h"
#include "module_kit.h"

APLOG_USE_MODULE(cidr_lookup);

namespace cidrglue {
namespace {

constexpr int kMillisPerSecond = 1000;

// Never freed: under prefork the thread may still run when pchild's
// cleanups are done, and the child exits right after.
struct ReloadThread {
  std::atomic<bool> stop{false};
  int wake_fd = -1;
  int interval_seconds = 0;
  server_rec* server = nullptr;
  std::unique_ptr<cidr::ListReloader> reloader;
  std::thread thread;
};

void log_event(server_rec* s, cidr::ReloadEvent event, const std::string& origin,
               const std::string& text) {
  switch (event) {
    case cidr::ReloadEvent::Built:
      ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "CL0015: lists of %s reloaded: %s",
                   origin.c_str(), text.c_str());
      return;
    case cidr::ReloadEvent::Failed:
      ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                   "CL0016: lists of %s not reloaded: %s; the table in use is kept", origin.c_str(),
                   text.c_str());
      return;
    case cidr::ReloadEvent::Switched:
      ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, "CL0017: lists of %s: this child now uses %s",
                   origin.c_str(), text.c_str());
      return;
    case cidr::ReloadEvent::Problem:
      ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "CL0018: lists of %s: %s", origin.c_str(),
                   text.c_str());
      return;
  }
}

void run(ReloadThread* t) {
  for (;;) {
    struct pollfd wake = {t->wake_fd, POLLIN, 0};
    ::poll(&wake, 1, t->interval_seconds * kMillisPerSecond);
    if (t->stop.load()) return;
    // A hand-written catch: this is a thread of our own, not a hook, and a
    // round that fails (out of memory, a full disk) must not end reloads.
    try {
      t->reloader->round(int64_t(std::time(nullptr)));
    } catch (const cidr::LoadStopped&) {
      return;
    } catch (const std::exception& e) {
      log_event(t->server, cidr::ReloadEvent::Problem, "every context", e.what());
    } catch (...) {
      log_event(t->server, cidr::ReloadEvent::Problem, "every context", "unexpected failure");
    }
  }
}

// pchild pre-cleanup: async-signal-safe (an atomic store and a write).
apr_status_t stop_thread(void* data) {
  auto* t = static_cast<ReloadThread*>(data);
  t->stop.store(true);
  uint64_t one = 1;
  ssize_t written = ::write(t->wake_fd, &one, sizeof(one));
  (void)written;  // a full eventfd wakes the thread all the same
  return APR_SUCCESS;
}

// pchild cleanup under threaded MPMs only.
apr_status_t join_thread(void* data) {
  auto* t = static_cast<ReloadThread*>(data);
  if (t->thread.joinable()) t->thread.join();
  return APR_SUCCESS;
}

}  // namespace

void start_reloads(apr_pool_t* pchild, server_rec* s) {
  ReloadParts parts;
  if (!reload_parts(s->process->pconf, parts) || parts.settings.reload_seconds <= 0 ||
      parts.store == nullptr || parts.board == nullptr || parts.sources.empty()) {
    return;
  }
  auto* t = new ReloadThread;
  t->interval_seconds = parts.settings.reload_seconds;
  t->server = s;
  t->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (t->wake_fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  cidr::TrustedWriters trusted(parts.parent_uid, parts.children_uid);
  t->reloader = std::make_unique<cidr::ListReloader>(
      *parts.store, trusted,
      [s](cidr::ReloadEvent e, const std::string& origin, const std::string& text) {
        log_event(s, e, origin, text);
      },
      &t->stop);
  for (TableSource* src : parts.sources) {
    cidr::WatchedSource w;
    w.specs = src->specs;
    w.config_key = src->config_key;
    w.origin = src->origin;
    w.stamps = src->stamps;
    w.empty_files = src->empty_files;
    w.identity = src->holder->current().info().identity;
    w.slot = &parts.board->slot(src->board_slot);
    w.holder = src->holder.get();
    t->reloader->watch(w);
  }
  // Before this child serves a request.
  t->reloader->catch_up();
  // Every signal blocked in the thread (it inherits the mask): the MPM's
  // signals stay with httpd's own threads, whatever the MPM did before
  // child_init.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  try {
    t->thread = std::thread(run, t);
  } catch (...) {
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    throw;
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  apr_pool_pre_cleanup_register(pchild, t, stop_thread);
  if (logchain::join_policy_for_mpm() == delivery::ChildSenders::Join::Never) {
    t->thread.detach();
  } else {
    apr_pool_cleanup_register(pchild, t, join_thread, apr_pool_cleanup_null);
  }
}

}  // namespace cidrglue
