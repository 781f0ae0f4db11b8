// Keeping mod_log_config's check_config (AH02297) from taking our targets for
// files: it fails on a CustomLog whose "directory" does not exist, which
// "syslog:...@unix:/dev/log" and "...@udp://host:port" have. Glue only.
#pragma once

#include <vector>

// httpd.h must come first.
// clang-format off
#include "httpd.h"
#include "util_cfgtree.h"
// clang-format on

namespace syslogmod {

// Clears `directive` in mod_log_config's entries for the CustomLog nodes in
// `ours` (and only those), which makes its check skip them. Writes nothing
// when its private layout is not the one this was written against.
void exempt_from_log_dir_check(server_rec* s, const std::vector<const ap_directive_t*>& ours,
                               const char* prefix);

}  // namespace syslogmod
