/* The seam between the module record (C, mod_syslog.c) and the C++ glue
 * (syslog_directives.cpp, syslog_glue.cpp): the functions the record names, with C linkage. Both
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

extern module AP_MODULE_DECLARE_DATA syslog_module;

void *syslog_create_server_config(apr_pool_t *p, server_rec *s);
void *syslog_merge_server_config(apr_pool_t *p, void *basev, void *addv);
const char *syslog_cmd_ident(cmd_parms *cmd, void *dummy, const char *arg);
const char *syslog_cmd_format(cmd_parms *cmd, void *dummy, const char *arg);
const char *syslog_cmd_max_length(cmd_parms *cmd, void *dummy, const char *arg);
const char *syslog_cmd_queue_size(cmd_parms *cmd, void *dummy, const char *arg);
const char *syslog_cmd_exit_timeout(cmd_parms *cmd, void *dummy, const char *arg);
const char *syslog_cmd_target(cmd_parms *cmd, void *dummy, int argc, char *const argv[]);
void syslog_register_hooks(apr_pool_t *p);

#ifdef __cplusplus
}
#endif
