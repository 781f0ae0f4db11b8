// The senders (Shippers) one module runs in one child, and how they stop.
//
// A child stops all of its senders together, within one exit deadline:
// begin_stop_all() runs from a pchild pre-cleanup, and pre-cleanups of every
// module run before any ordinary cleanup, so mod_syslog's and mod_scribe's
// senders all start winding up at the same moment; finish_all() runs from an
// ordinary pchild cleanup and waits for each. Neither step can be held by a
// peer: the waits end at the deadline (plus a short grace) whatever the
// senders do, so httpd never has to escalate a stop (AH00045 after 3 s).
//
// Prefork runs pchild's cleanups inside its SIGTERM handler, on the only
// request thread, wherever the signal interrupted it. There both steps are
// async-signal-safe (an atomic store, eventfd writes and polls), and with
// Join::Never nothing is joined or freed: the senders do all the work on
// their own threads, which take no lock a request thread may hold, and the
// process exits right after. Threaded MPMs run the cleanups on a normal
// thread, after the workers are gone, and join.
#pragma once

#include <atomic>
#include <vector>

#include "delivery.h"
#include "exit_log.h"

namespace delivery {

class ChildSenders {
 public:
  enum class Join { AfterStop, Never };
  // Past the exit deadline, what a sender may still need to close its
  // connection and write its last report.
  static constexpr Millis kGrace{250};

  explicit ChildSenders(Join join) : join_(join) {}

  void add(Shipper* s) { senders_.push_back(s); }
  bool empty() const { return senders_.empty(); }

  // Async-signal-safe: an ungraceful stop is coming (httpd's child_stopping
  // hook, before a threaded child joins its workers): the exit deadline
  // starts now, though lines are still taken until begin_stop_all().
  void set_deadline_all() {
    for (Shipper* s : senders_) s->set_exit_deadline();
  }
  // Async-signal-safe.
  void begin_stop_all() {
    stopping_.store(true, std::memory_order_release);
    for (Shipper* s : senders_) s->begin_stop();
  }
  // Whether the senders must report through exit_log rather than httpd's
  // error log API: a stop that may run in a signal handler is under way.
  bool reports_lock_free() const {
    return join_ == Join::Never && stopping_.load(std::memory_order_acquire);
  }
  ExitLog exit_log;  // opened by the glue at child_init
  // Async-signal-safe with Join::Never. Returns how many senders had not
  // finished by their deadline (with Join::AfterStop those are left running
  // and not joined: the child is about to exit).
  // Senders that miss it are reported through exit_log (without allocating)
  // when the policy is Join::Never; the caller reports them otherwise.
  size_t finish_all() {
    begin_stop_all();  // in case no pre-cleanup ran
    size_t late = 0;
    for (Shipper* s : senders_) {
      // By the deadline; then a sender caught in a wait only its sink can
      // end (a library's own) is cut off, and gets the grace to finish.
      bool done = s->wait_stopped(Millis(0));
      if (!done) {
        s->interrupt_sinks();
        done = s->wait_stopped(kGrace);
      }
      if (!done) {
        ++late;
      } else if (join_ == Join::AfterStop) {
        try {
          s->join();
        } catch (...) {  // std::system_error: nothing to do but go on
        }
      }
    }
    if (late && join_ == Join::Never)
      exit_log.write_count(kLevelError, kLateBefore, late, kLateAfter);
    return late;
  }
  static constexpr int kLevelError = 3;  // APLOG_ERR
  // The report of senders that missed the deadline, around their count: one
  // message, whether exit_log (here) or the glue writes it.
  static constexpr const char* kLateBefore = "DE0018: ";
  static constexpr const char* kLateAfter =
      " senders had not finished by the exit deadline; the lines they held are not counted";
  Join join_policy() const { return join_; }

 private:
  Join join_;
  std::atomic<bool> stopping_{false};
  std::vector<Shipper*> senders_;
};

}  // namespace delivery
