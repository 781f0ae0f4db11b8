// The CIDR lists of one config generation, as the glue sees them: one
// ListSet per context (the main server, a virtual host, a directory
// section) that names lists, filled by CIDRFile and CIDRMap while the config
// is read, built into tables at post_config (or by `apachectl -t`), shown on
// the status page. Glue only: includes httpd headers.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

// httpd.h first: the other httpd headers use its types without including it.
#include "httpd.h"
// clang-format off
#include "http_config.h"
#include "util_cfgtree.h"
// clang-format on

#include "cidr_loader.h"
#include "prefix_table.h"

namespace cidrglue {

// The lists of one context (the main server, a virtual host or a directory
// section). Owned by pconf through a cleanup.
struct ListSet {
  cidr::Loader loader;                  // entries parsed so far; emptied by build()
  std::vector<cidr::Warning> warnings;  // parse warnings, logged once the error log is open
  std::vector<std::string> notices;     // files skipped on purpose, logged likewise
  std::unique_ptr<cidr::PrefixTable> table;
  std::string origin;  // "file:line" of the first directive, for messages
  // For mod_status: reading and parsing the files, then building the table.
  std::chrono::steady_clock::duration load_time{};
  apr_time_t built_at = 0;
};

// A new, empty ListSet of this generation, owned by `pconf` (the pool the
// directive's config lives in) and named after `directive` ("file:line").
// Throws.
ListSet* new_list_set(apr_pool_t* pconf, const ap_directive_t* directive);

// Builds the table of every ListSet of this generation that has none yet and
// logs the warnings collected while the lists were read. `s` decides where
// they go: the error log after open_logs, stderr under `apachectl -t`.
// False when a table could not be built (logged).
bool build_list_sets(apr_pool_t* pconf, server_rec* s);

// mod_status: what each context's table holds. Throws.
void print_list_sets(request_rec* r, int flags);

}  // namespace cidrglue
