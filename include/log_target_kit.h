// The life of a log writer's targets, written once for mod_syslog and
// mod_scribe: what a module's glue keeps is its directives, how it checks a
// target string, how it builds a handle, and how it opens a sink in a child.
//
//   check_config   every CustomLog/GlobalLog/TransferLog with the module's
//                  prefix is parsed, so that `apachectl -t` fails on a bad
//                  one with its file and line.
//   open_logs      (parent, each config cycle, before mod_log_config's) a
//                  new Generation in pconf, our writer pair installed in
//                  front of whatever was there.
//   writer_init    (called by mod_log_config) one Handle per log target; a
//                  handle names the Sender (one per destination) it feeds.
//   post_config    the status board, one target per distinct status name.
//   child_init     one Shipper per Sender, started in the child (never
//                  before fork); the two-step stop hooked into pchild.
//   writer         (request threads) the portions taken as they are (never
//                  joined), the line end stripped when the handle asks,
//                  the line offered to the handle's Sender: copied once,
//                  into its queue, or counted; never waited for.
//   child exit     every sender told to stop at once, then waited for
//                  within the exit deadline (child_senders.h); what could
//                  not be sent is counted and reported.
//
// Lifetimes are pconf's (see log_writer_chain.h): the Generation, its
// handles and senders go with the config cycle that made them; only two
// pointers per module are static, and neither owns anything.
//
// A module plugs in with a traits type M:
//
//   using Handle, Destination, Settings;  one log; what opens a Sender; per
//                                         generation settings
//   kPrefix ("syslog:"), kModule ("mod_syslog"), kExitTag ("syslog"),
//   kStatusKind ("Syslog")
//   int log_index()                       APLOG_MODULE_INDEX of the glue
//   bool parse_target(server_rec* main, const char*, std::string& error)
//   int check_config(apr_pool_t* ptemp, server_rec*, const TargetDirectives&)
//   void open_logs(Generation&, apr_pool_t* pconf, server_rec*)
//   std::unique_ptr<Handle> new_handle(Generation&, server_rec*, const char*)
//                                         nullptr: refused (it logged why)
//   int post_config(Generation&, server_rec*)   OK or a startup failure
//   void child_init(Generation&, apr_pool_t* pchild)
//   delivery::Peers open_sink(Generation&, SenderFor<M>&,
//       delivery::ShipperOptions&, const delivery::Reporter&)
//                                         the destination's peers, in order
//                                         of preference; none: no address
//                                         (lines are counted as EDESTADDRREQ)
//   LineEnd line_end(const Handle&)
//   void write(Handle&, const delivery::BodyParts& line, apr_pool_t* r_pool)
//                                         offers to handle.sender
//
// Every entry point runs in a guard of module_kit.h. Glue only.
#pragma once

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

// httpd.h must come first.
// clang-format off
#include "httpd.h"
#include "apr_optional.h"
#include "apr_strings.h"
#include "http_config.h"
#include "http_log.h"
#include "http_main.h"
#include "mod_status.h"
#include "util_cfgtree.h"
// clang-format on

#include "child_senders.h"
#include "delivery.h"
#include "delivery_aplog.h"
#include "drop_ledger.h"
#include "log_writer_chain.h"
#include "module_kit.h"
#include "status_board.h"
#include "status_page.h"

namespace logchain {

// Whether the writer takes mod_log_config's line end ("\n", or "\r\n") off
// before the module sees the line.
using LineEnd = delivery::LineEnd;

// One destination of a generation, and in each child the Shipper (queue,
// thread, connection) that carries its lines. Handles of the same
// destination share it.
template <typename Destination>
struct Sender {
  std::string name;         // names it in messages
  std::string status_name;  // its key on the status page (several may share one)
  server_rec* report_to = nullptr;
  Destination destination;
  // Lines that found no running Shipper, and (mod_syslog) truncations.
  // Made in the parent, so that each child has one even when it could set
  // up nothing else.
  std::unique_ptr<delivery::DropLedger> ledger;
  size_t status_index = 0;
  // In a child, after child_init. A Shipper whose thread could not start
  // counts (and its ledger reports) every line offered to it.
  std::unique_ptr<delivery::Shipper> shipper;
  // Why a line finds no Shipper: ENOMEM until child_init made one (it ran
  // out of memory or threads), EDESTADDRREQ when the module had no address.
  int no_shipper_errno = ENOMEM;

  bool running() const { return shipper && shipper->running(); }

  // Request threads. A full queue is counted and reported by the Shipper.
  void offer(std::string_view tag, const delivery::BodyParts& line) {
    if (running()) {
      shipper->push(tag, line);
      return;
    }
    ledger->count_dropped(shipper ? EAGAIN : no_shipper_errno);  // EAGAIN: as pthread_create says
  }
};

// One config cycle of one module, in pconf.
template <typename M>
struct Generation {
  using SenderT = Sender<typename M::Destination>;

  Generation(apr_pool_t* p, server_rec* s) : pconf(p), main_server(s) {}

  apr_pool_t* pconf;
  server_rec* main_server;
  typename M::Settings settings;
  HandleTable<typename M::Handle> handles;
  std::vector<std::unique_ptr<SenderT>> senders;
  // Every child's figures for mod_status, one target per distinct status
  // name; made at post_config.
  std::unique_ptr<delivery::StatusBoard> board;
  std::vector<std::string> status_names;
  delivery::ChildSenders* child = nullptr;  // in a child, after child_init
  std::string child_exit_who;               // names the exit report's failure; likewise

  // A new sender; `ledger` counts what it cannot take. Throws.
  SenderT* add_sender(std::string name, std::string status_name, server_rec* report_to,
                      std::unique_ptr<delivery::DropLedger> ledger) {
    auto sender = std::make_unique<SenderT>();
    sender->name = std::move(name);
    sender->status_name = std::move(status_name);
    sender->report_to = report_to;
    sender->ledger = std::move(ledger);
    senders.push_back(std::move(sender));
    return senders.back().get();
  }
  SenderT* find_sender(std::string_view name) const {
    return find_sender_if([name](const SenderT& s) { return s.name == name; });
  }
  template <typename Pred>
  SenderT* find_sender_if(Pred&& pred) const {
    for (const auto& s : senders)
      if (pred(*s)) return s.get();
    return nullptr;
  }
};

template <typename M>
using SenderFor = typename Generation<M>::SenderT;

// A line in one piece, in `pool`: for the rare line that is cut.
inline std::string_view joined(const delivery::BodyParts& line, apr_pool_t* pool) {
  char* to = static_cast<char*>(apr_palloc(pool, line.bytes + 1));
  return std::string_view(to, static_cast<size_t>(line.copy_to(to) - to));
}

template <typename M>
class LogTargetKit {
 public:
  using Gen = Generation<M>;
  using SenderT = SenderFor<M>;

  // This config cycle's generation; nullptr before open_logs and after
  // pconf was cleared.
  static Gen* generation() { return gen_; }

  // For the module's register_hooks. Our check_config and open_logs run
  // before mod_log_config's: its check must not see our targets as files,
  // and its open_logs calls our writer_init.
  static void register_hooks() {
    static const char* const before_log_config[] = {"mod_log_config.c", nullptr};
    ap_hook_check_config(check_config, nullptr, before_log_config, APR_HOOK_MIDDLE);
    ap_hook_open_logs(open_logs, nullptr, before_log_config, APR_HOOK_MIDDLE);
    ap_hook_post_config(post_config, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_child_init(child_init, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_child_stopping(child_stopping, nullptr, nullptr, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, status_hook, nullptr, nullptr, APR_HOOK_MIDDLE);
  }

  // Writes what a ledger has to say; for reports made outside the sender.
  static void report(server_rec* s,
                     const std::vector<std::pair<delivery::Level, std::string>>& messages) {
    for (const auto& [level, text] : messages)
      ap_log_error(__FILE__, __LINE__, M::log_index(), delivery::aplog_level(level), 0, s, "%s",
                   text.c_str());
  }

 private:
  static inline Gen* gen_ = nullptr;
  static inline WriterChain chain_;  // two pointers: nothing to destroy

  // ---- the parent's config cycle ----

  // `apachectl -t` never opens logs: bad targets are rejected here, with
  // their file and line.
  static int check_config(apr_pool_t*, apr_pool_t*, apr_pool_t* ptemp, server_rec* s) {
    return guard_hook(M::log_index(), s, M::kModule, [&] {
      bool ok = true;
      TargetDirectives ours;
      for_each_log_target(
          ap_conftree, M::kPrefix, ptemp, [&](const ap_directive_t* d, const char* target) {
            std::string error;
            if (!M::parse_target(s, target, error)) {
              ap_log_error(__FILE__, __LINE__, M::log_index(), APLOG_STARTUP | APLOG_ERR, 0, s,
                           "DE0016: %s \"%s\" (line %d of %s): %s", d->directive, target,
                           d->line_num, d->filename, error.c_str());
              ok = false;
            }
            ours.push_back({d, target});
          });
      // httpd stops on any return but OK from check_config.
      if (!ok) return HTTP_INTERNAL_SERVER_ERROR;
      return M::check_config(ptemp, s, ours);
    });
  }

  static apr_status_t forget_generation(void* data) {
    if (gen_ == data) gen_ = nullptr;
    return APR_SUCCESS;
  }

  static int open_logs(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* s) {
    return guard_hook(M::log_index(), s, M::kModule, [&] {
      gen_ = pool_new<Gen>(pconf, pconf, s);
      apr_pool_cleanup_register(pconf, gen_, forget_generation, apr_pool_cleanup_null);
      M::open_logs(*gen_, pconf, s);
      if (!chain_.install(writer_init, writer))
        ap_log_error(__FILE__, __LINE__, M::log_index(), APLOG_STARTUP | APLOG_NOTICE, 0, s,
                     "DE0017: %s: mod_log_config is not loaded; %s targets are unused", M::kModule,
                     M::kPrefix);
      return OK;
    });
  }

  // `p` is plog: nothing of ours may live there (see log_writer_chain.h); a
  // message's text, with no cleanup, may.
  static void* writer_init(apr_pool_t* p, server_rec* s, const char* name) {
    if (!has_prefix(name, M::kPrefix)) return chain_.next_init(p, s, name);
    const char* who = apr_psprintf(p, "CustomLog \"%s\"", name);
    return guard_parent(M::log_index(), s, who, static_cast<void*>(nullptr), [&]() -> void* {
      Gen* gen = gen_;
      if (!gen) return nullptr;  // never: open_logs made it
      std::unique_ptr<typename M::Handle> h = M::new_handle(*gen, s, name);
      return h ? gen->handles.add(gen->pconf, std::move(h)) : nullptr;
    });
  }

  // One status target per distinct name, and the board that holds them.
  // Throws.
  static void make_status_board(Gen& gen) {
    for (auto& sender : gen.senders) {
      auto it = std::find(gen.status_names.begin(), gen.status_names.end(), sender->status_name);
      sender->status_index = static_cast<size_t>(it - gen.status_names.begin());
      if (it == gen.status_names.end()) gen.status_names.push_back(sender->status_name);
    }
    gen.board = new_status_board(gen.status_names.size());
  }

  static int post_config(apr_pool_t*, apr_pool_t*, apr_pool_t*, server_rec* s) {
    // The first of the two startup passes only checks the configuration.
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) return OK;
    Gen* gen = gen_;
    if (!gen || gen->senders.empty()) return OK;
    return guard_hook(M::log_index(), s, M::kModule, [&] {
      int rc = M::post_config(*gen, s);
      if (rc != OK) return rc;
      std::string who = std::string(M::kModule) + ": no delivery figures for mod_status";
      guard_continue(M::log_index(), APLOG_WARNING, s, who.c_str(),
                     [&] { make_status_board(*gen); });
      return OK;
    });
  }

  // ---- a child ----

  // Runs on the sender thread; while a prefork child stops, through the
  // ExitLog (see child_senders.h).
  static delivery::Reporter reporter_for(server_rec* s, const delivery::ChildSenders* senders) {
    return [s, senders](delivery::Level level, const std::string& text) {
      if (report_lock_free(senders, delivery::aplog_level(level), text)) return;
      ap_log_error(__FILE__, __LINE__, M::log_index(), delivery::aplog_level(level), 0, s, "%s",
                   text.c_str());
    };
  }

  // The Shipper of one sender in this child. Throws.
  static void open_sender(Gen& gen, SenderT& sender) {
    // The slot first: a sender that gets no Shipper still shows the lines
    // its ledger counts.
    delivery::DropLedger* ledger = sender.ledger.get();
    delivery::SenderSlot* slot =
        gen.board ? gen.board->claim(sender.status_index, getpid()) : nullptr;
    ledger->mirror_to(slot);
    delivery::ShipperOptions options;
    delivery::Reporter to_log = reporter_for(sender.report_to, gen.child);
    delivery::Peers peers = M::open_sink(gen, sender, options, to_log);
    if (peers.empty()) {
      sender.no_shipper_errno = EDESTADDRREQ;
      return;
    }
    options.status = slot;
    options.thread_name = std::string(M::kExitTag) + "-sender";
    // While the sender runs, it reports what the ledger counts.
    options.ledger = ledger;
    sender.shipper = std::make_unique<delivery::Shipper>(std::move(peers), options, to_log);
    gen.child->add(sender.shipper.get());
    sender.shipper->start();  // a failed start leaves a Shipper that counts every line
  }

  static void child_init(apr_pool_t* pchild, server_rec* s) {
    Gen* gen = gen_;
    if (!gen || gen->senders.empty()) return;
    // Made in pchild: nothing here may throw outside a guard.
    const char* who = apr_pstrcat(pchild, M::kModule, ": child_init", nullptr);
    if (!guard_continue(M::log_index(), APLOG_ERR, s, who, [&] {
          gen->child = new_child_senders(M::kExitTag);
          gen->child_exit_who = std::string(M::kModule) + ": child exit";
        }))
      return;  // no child state: every line is counted as ENOMEM
    guard_continue(M::log_index(), APLOG_ERR, s, who, [&] { M::child_init(*gen, pchild); });
    // Cleanups run last-registered first: the stop runs before whatever
    // M::child_init registered.
    stop_with_child(pchild, gen->child, child_exit, gen);
    for (auto& sender : gen->senders) {
      const char* what =
          apr_pstrcat(pchild, sender->name.c_str(),
                      ": cannot start the sender (its lines are counted as lost)", nullptr);
      guard_continue(M::log_index(), APLOG_ERR, s, what, [&] { open_sender(*gen, *sender); });
    }
  }

  static void child_stopping(apr_pool_t*, int graceful) {
    if (Gen* gen = gen_) start_exit_deadline(gen->child, graceful);
  }

  // What a child reports at its exit, after its senders finished. Throws.
  static void report_at_exit(Gen& gen, size_t late) {
    if (late) {
      // The message exit_log writes under prefork (child_senders.h).
      std::string text = delivery::ChildSenders::kLateBefore + std::to_string(late) +
                         delivery::ChildSenders::kLateAfter;
      ap_log_error(__FILE__, __LINE__, M::log_index(), APLOG_ERR, 0, gen.main_server, "%s",
                   text.c_str());
    }
    // Senders that ran reported their ledgers as their last act.
    for (auto& sender : gen.senders)
      if (!sender->running())
        report(sender->report_to, sender->ledger->take(delivery::Clock::now(), true));
  }

  // Runs after every sender of this child was told to stop (a pre-cleanup),
  // maybe inside prefork's signal handler: nothing here allocates, locks or
  // frees unless the policy says this is an ordinary thread. The senders
  // stay: the child exits next.
  static apr_status_t child_exit(void* data) {
    auto* gen = static_cast<Gen*>(data);
    size_t late = gen->child->finish_all();
    if (gen->child->join_policy() != delivery::ChildSenders::Join::AfterStop) return APR_SUCCESS;
    guard_continue(M::log_index(), APLOG_ERR, gen->main_server, gen->child_exit_who.c_str(),
                   [&] { report_at_exit(*gen, late); });
    return APR_SUCCESS;
  }

  // ---- requests ----

  // A line that could not go is counted and reported; an error returned
  // here would make mod_log_config warn once per request as well.
  static apr_status_t writer(request_rec* r, void* handle, const char** strs, int* lens, int n,
                             apr_size_t len) {
    Gen* gen = gen_;
    typename M::Handle* h = gen ? gen->handles.find(handle) : nullptr;
    if (!h) return chain_.next_write(r, handle, strs, lens, n, len);
    return guard_request(
        M::log_index(), r, h->sender->name.c_str(), apr_status_t{APR_SUCCESS},
        [&]() -> apr_status_t {
          // The portions as mod_log_config made them: copied once, into
          // the queue.
          M::write(*h,
                   delivery::BodyParts::line(strs, lens, static_cast<size_t>(n > 0 ? n : 0), len,
                                             M::line_end(*h)),
                   r->pool);
          // A running sender reports the ledger's counts; without one,
          // the request threads do (a rare state: no clock read per line
          // otherwise).
          if (!h->sender->running()) {
            delivery::DropLedger& ledger = *h->sender->ledger;
            auto now = delivery::Clock::now();
            if (ledger.due(now)) report(h->sender->report_to, ledger.take(now, false));
          }
          return APR_SUCCESS;
        });
  }

  static int status_hook(request_rec* r, int flags) {
    Gen* gen = gen_;
    if (!gen) return OK;
    return print_board(M::log_index(), r, flags, M::kStatusKind, gen->board.get(),
                       [gen](size_t i) { return gen->status_names[i]; });
  }
};

}  // namespace logchain
