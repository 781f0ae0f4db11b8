/* The seam between the module record (C, mod_scribe.c) and the C++ glue
 * (scribe_glue.cpp): the functions the record names, with C linkage. Both
 * sides include it, so the compiler checks every signature. */
#pragma once

/* httpd.h must come first. */
/* clang-format off */
#include "httpd.h"
#include "http_config.h"
/* clang-format on */

#ifdef __cplusplus
extern "C" {
#endif

extern module AP_MODULE_DECLARE_DATA scribe_module;

void *scribe_create_server_config(apr_pool_t *p, server_rec *s);
void *scribe_merge_server_config(apr_pool_t *p, void *basev, void *addv);
const char *scribe_cmd_server(cmd_parms *cmd, void *dummy, int argc, char *const argv[]);
const char *scribe_cmd_spool_dir(cmd_parms *cmd, void *dummy, const char *arg);
const char *scribe_cmd_spool_max_size(cmd_parms *cmd, void *dummy, const char *arg);
const char *scribe_cmd_queue_size(cmd_parms *cmd, void *dummy, const char *arg);
const char *scribe_cmd_batch_size(cmd_parms *cmd, void *dummy, const char *arg);
const char *scribe_cmd_batch_bytes(cmd_parms *cmd, void *dummy, const char *arg);
const char *scribe_cmd_replay_rate(cmd_parms *cmd, void *dummy, const char *arg);
const char *scribe_cmd_try_later_failover(cmd_parms *cmd, void *dummy, const char *answers_arg,
                                          const char *ms_arg);
const char *scribe_cmd_flush_interval(cmd_parms *cmd, void *dummy, const char *arg);
const char *scribe_cmd_timeout(cmd_parms *cmd, void *dummy, const char *arg);
const char *scribe_cmd_exit_timeout(cmd_parms *cmd, void *dummy, const char *arg);
const char *scribe_cmd_retry_interval(cmd_parms *cmd, void *dummy, const char *min_arg,
                                      const char *max_arg);
const char *scribe_cmd_strip_newline(cmd_parms *cmd, void *dummy, int on);
void scribe_register_hooks(apr_pool_t *p);

#ifdef __cplusplus
}
#endif
