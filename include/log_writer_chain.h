// Sharing mod_log_config's single log-writer slot.
//
// ap_log_set_writer_init() and ap_log_set_writer() replace one global pair and
// return the previous one, so every module that hooks them forms a chain:
// each answers for its own CustomLog prefix and hands every other target, and
// every handle it did not create, to the pair it replaced. Ownership of a
// handle is decided by this module's own registry, never by peeking into a
// pointer that may belong to another writer.
//
// Glue only: includes httpd headers.
#pragma once

#include <strings.h>

#include <algorithm>
#include <cstring>
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

// The handles one module created in the current config cycle. Filled in the
// parent at open_logs; read-only (so lock-free) in the children.
template <typename Handle>
class HandleRegistry {
 public:
  void add(Handle* h) { handles_.push_back(h); }
  Handle* find(void* p) const {
    for (Handle* h : handles_)
      if (static_cast<void*>(h) == p) return h;
    return nullptr;
  }
  const std::vector<Handle*>& all() const { return handles_; }
  void clear() { handles_.clear(); }

 private:
  std::vector<Handle*> handles_;
};

// Case-insensitive prefix test for target strings such as "syslog:...".
inline bool has_prefix(const char* name, const char* prefix) {
  return name && strncasecmp(name, prefix, strlen(prefix)) == 0;
}

// Calls fn(directive, target) for every CustomLog and TransferLog in the
// parsed config tree whose target starts with `prefix`. mod_log_config keeps
// its own config private and opens logs only after `apachectl -t` has
// returned, so a check_config hook uses this to reject bad targets early,
// with the file and line of the directive.
template <typename Fn>
void for_each_log_target(const ap_directive_t* d, const char* prefix, apr_pool_t* p, Fn&& fn) {
  for (; d; d = d->next) {
    if (d->directive && d->args &&
        (!strcasecmp(d->directive, "CustomLog") || !strcasecmp(d->directive, "TransferLog"))) {
      const char* args = d->args;
      const char* target = ap_getword_conf(p, &args);
      if (has_prefix(target, prefix)) fn(d, target);
    }
    if (d->first_child) for_each_log_target(d->first_child, prefix, p, fn);
  }
}

}  // namespace logchain
