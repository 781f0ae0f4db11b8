// The glue side of a spool directory, shared by ScribeSpoolDir and a
// SyslogTarget's spool=: when to check it, and for whom (the user httpd's
// children run as). The checks themselves are spool_setup.h's. Glue only:
// includes httpd headers.
#pragma once

#include <unistd.h>

#include <string>

// httpd.h must come first.
// clang-format off
#include "httpd.h"
#include "http_main.h"
#include "unixd.h"
// clang-format on

#include "spool_setup.h"

namespace logchain {

// `apachectl stop` and `-k graceful` read the config too (one pass, then
// they signal the running parent): a spool problem must not keep an operator
// from stopping httpd. So the check runs for `apachectl -t` and in a
// starting or restarting server's second pass, which fails on it.
inline bool spool_check_due() {
  return ap_state_query(AP_SQ_RUN_MODE) == AP_SQ_RM_CONFIG_TEST ||
         ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG;
}

// Makes `dir` ready for the children's user. The checks and the creation run
// in the root parent: they are done through directory fds
// (spool_setup.cpp), never by following a name in a directory that User can
// write.
inline bool prepare_child_spool_dir(const std::string& dir, std::string& error) {
  delivery::SpoolOwner owner;
  if (geteuid() == 0) {
    owner = delivery::spool_owner_for(ap_unixd_config.user_id, ap_unixd_config.group_id,
                                      ap_unixd_config.user_name ? ap_unixd_config.user_name : "");
  } else {
    owner = delivery::spool_owner_for(geteuid(), getegid(), "");
  }
  return delivery::prepare_spool_dir(dir, owner, error);
}

}  // namespace logchain
