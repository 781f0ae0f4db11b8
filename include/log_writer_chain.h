// Sharing mod_log_config's single log-writer slot, and the handles we give it.
//
// ap_log_set_writer_init() and ap_log_set_writer() replace one global pair and
// return the previous one, so every module that hooks them forms a chain:
// each answers for its own CustomLog prefix and hands every other target, and
// every handle it did not create, to the pair it replaced. Ownership of a
// handle is decided by this module's own table, never by peeking into a
// pointer that may belong to another writer.
//
// Lifetimes: writer_init() is called with plog, but a handle must not live
// there. main.c clears pconf (mod_so unloads the modules), reads the config
// again (loading them, maybe at other addresses) and only then clears plog:
// a cleanup that a module registered on plog would run code that is gone.
// Handles and everything they own therefore live in pconf, in a HandleTable
// that the module makes in its open_logs hook.
//
// Glue only: includes httpd headers.
#pragma once

#include <strings.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

// httpd.h must come before the other httpd headers. clang-format 14 honours
// only the bare markers below (no text after "off").
// clang-format off
#include "httpd.h"
#include "apr_optional.h"
#include "http_config.h"
#include "mod_log_config.h"
#include "util_cfgtree.h"
// clang-format on

namespace logchain {

// What writer_init() returns to mod_log_config for one of our targets.
//
// mod_log_config reads every log_writer as its own buffered_log when
// BufferedLogs is On: flush_all_logs() (a pchild cleanup, and a child cleanup
// that also runs in children forked for CGI and piped logs) casts each
// config_log_state's log_writer to
//     struct buffered_log { apr_file_t *handle; apr_size_t outcnt; char outbuf[]; ... }
// and calls apr_file_write_full(handle, outbuf, outcnt) unless outcnt is 0 or
// handle is NULL (mod_log_config.c, flush_log()). Our handles therefore start
// with a NULL pointer and a zero count that nothing ever changes, whatever
// BufferedLogs says and in whichever order the logs are listed.
struct WriterHandle {
  void* not_a_file;              // buffered_log.handle: always NULL
  apr_size_t no_buffered_bytes;  // buffered_log.outcnt: always 0
  void* target;                  // the module's object for this log
};
static_assert(std::is_standard_layout<WriterHandle>::value, "read as a C struct");
static_assert(offsetof(WriterHandle, not_a_file) == 0 &&
                  offsetof(WriterHandle, no_buffered_bytes) == sizeof(void*),
              "the first two words are what flush_log() reads");

// A C++ object in an APR pool, destroyed by the pool's cleanup. Registered
// on the pool it lives in, so its destructor runs before mod_so unloads the
// module when that pool is pconf.
template <typename T, typename... Args>
T* pool_new(apr_pool_t* p, Args&&... args) {
  void* mem = apr_palloc(p, sizeof(T));
  T* obj = new (mem) T(std::forward<Args>(args)...);
  apr_pool_cleanup_register(
      p, obj,
      [](void* o) -> apr_status_t {
        static_cast<T*>(o)->~T();
        return APR_SUCCESS;
      },
      apr_pool_cleanup_null);
  return obj;
}

// The targets one module created in the current config cycle, and the
// handles mod_log_config holds for them. Filled in the parent at open_logs;
// read-only (so lock-free) in the children.
template <typename Target>
class HandleTable {
 public:
  // Takes `target`; returns what writer_init() gives mod_log_config.
  void* add(apr_pool_t* pconf, std::unique_ptr<Target> target) {
    auto* h = static_cast<WriterHandle*>(apr_pcalloc(pconf, sizeof(WriterHandle)));
    h->target = target.get();
    targets_.push_back(std::move(target));
    by_address_.insert(
        std::upper_bound(by_address_.begin(), by_address_.end(), h, std::less<const void*>()), h);
    return h;
  }
  // Our target for `handle`, or nullptr when the handle is somebody else's.
  Target* find(const void* handle) const {
    auto it =
        std::lower_bound(by_address_.begin(), by_address_.end(), handle, std::less<const void*>());
    if (it == by_address_.end() || *it != handle) return nullptr;
    return static_cast<Target*>(static_cast<const WriterHandle*>(*it)->target);
  }
  const std::vector<std::unique_ptr<Target>>& all() const { return targets_; }

 private:
  std::vector<std::unique_ptr<Target>> targets_;
  std::vector<const void*> by_address_;  // sorted: writer() looks up every line
};

class WriterChain {
 public:
  // Installs our pair in front of whatever is there now. Call from an
  // open_logs hook ordered before mod_log_config.c, on every config cycle:
  // mod_log_config resets the slot in pre_config and when BufferedLogs is
  // read. Returns false when mod_log_config is absent.
  bool install(ap_log_writer_init* init, ap_log_writer* writer) {
    auto set_init = APR_RETRIEVE_OPTIONAL_FN(ap_log_set_writer_init);
    auto set_writer = APR_RETRIEVE_OPTIONAL_FN(ap_log_set_writer);
    if (!set_init || !set_writer) return false;
    ap_log_writer_init* prev_init = set_init(init);
    ap_log_writer* prev_writer = set_writer(writer);
    // Installing twice in one cycle must not make us our own successor.
    if (prev_init != init) prev_init_ = prev_init;
    if (prev_writer != writer) prev_writer_ = prev_writer;
    return true;
  }

  void* next_init(apr_pool_t* p, server_rec* s, const char* name) const {
    return prev_init_ ? prev_init_(p, s, name) : nullptr;
  }

  apr_status_t next_write(request_rec* r, void* handle, const char** strs, int* lens, int n,
                          apr_size_t len) const {
    return prev_writer_ ? prev_writer_(r, handle, strs, lens, n, len) : APR_SUCCESS;
  }

 private:
  ap_log_writer_init* prev_init_ = nullptr;
  ap_log_writer* prev_writer_ = nullptr;
};

// Case-insensitive prefix test for target strings such as "syslog:...".
inline bool has_prefix(const char* name, const char* prefix) {
  return name && strncasecmp(name, prefix, strlen(prefix)) == 0;
}

// One CustomLog (or GlobalLog, TransferLog) of the module's, as check_config
// found it in the config tree, and its target string.
struct TargetDirective {
  const ap_directive_t* directive;
  const char* target;  // in ptemp
};
using TargetDirectives = std::vector<TargetDirective>;

// Calls fn(directive, target) for every CustomLog, GlobalLog and TransferLog
// in the parsed config tree whose target starts with `prefix`. mod_log_config keeps
// its own config private and opens logs only after `apachectl -t` has
// returned, so a check_config hook uses this to reject bad targets early,
// with the file and line of the directive.
template <typename Fn>
void for_each_log_target(const ap_directive_t* d, const char* prefix, apr_pool_t* p, Fn&& fn) {
  for (; d; d = d->next) {
    if (d->directive && d->args &&
        (!strcasecmp(d->directive, "CustomLog") || !strcasecmp(d->directive, "GlobalLog") ||
         !strcasecmp(d->directive, "TransferLog"))) {
      const char* args = d->args;
      const char* target = ap_getword_conf(p, &args);
      if (has_prefix(target, prefix)) fn(d, target);
    }
    if (d->first_child) for_each_log_target(d->first_child, prefix, p, fn);
  }
}

}  // namespace logchain
