// Keeping mod_log_config's check_config (AH02297) from taking inline targets
// for files: it fails on a CustomLog whose "directory" does not exist, which
// "syslog:...@unix:/dev/log" and "...@udp://host:port" have. Targets named
// by SyslogTarget hold no '/' and need none of this. Glue only.
#pragma once

#include <vector>

// httpd.h must come first.
// clang-format off
#include "httpd.h"
#include "util_cfgtree.h"
// clang-format on

#include "log_writer_chain.h"

namespace syslogmod {

// Whether mod_log_config would look for a directory in `target`.
bool needs_log_dir_exemption(const char* target);

// Clears `directive` in mod_log_config's entries for the CustomLog nodes in
// `ours` (and only those), which makes its check skip them. Writes nothing
// when its private layout is not the one this was written against. Returns
// the directives it could not exempt (all of them, then): the caller must
// refuse those before mod_log_config fails on them with a misleading
// directory error.
logchain::TargetDirectives exempt_from_log_dir_check(server_rec* s,
                                                     const logchain::TargetDirectives& ours,
                                                     const char* prefix);

}  // namespace syslogmod
