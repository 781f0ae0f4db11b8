/* The seam between the module record (C, mod_cidr_lookup.c) and the C++
 * glue (cidr_glue.cpp): the functions the record names, with C linkage.
 * Both sides include it, so the compiler checks every signature. */
#pragma once

/* httpd.h must come first. */
/* clang-format off */
#include "httpd.h"
#include "http_config.h"
/* clang-format on */

#ifdef __cplusplus
extern "C" {
#endif

extern module AP_MODULE_DECLARE_DATA cidr_lookup_module;

void *cidr_lookup_create_dir_config(apr_pool_t *p, char *dir);
void *cidr_lookup_merge_dir_config(apr_pool_t *p, void *basev, void *addv);
void *cidr_lookup_create_server_config(apr_pool_t *p, server_rec *s);
void *cidr_lookup_merge_server_config(apr_pool_t *p, void *basev, void *addv);
const char *cidr_lookup_cmd_file(cmd_parms *cmd, void *dconf, const char *arg);
const char *cidr_lookup_cmd_map(cmd_parms *cmd, void *dconf, const char *arg);
const char *cidr_lookup_cmd_default(cmd_parms *cmd, void *dconf, const char *arg);
const char *cidr_lookup_cmd_env(cmd_parms *cmd, void *dconf, const char *arg);
const char *cidr_lookup_cmd_header(cmd_parms *cmd, void *dconf, const char *arg);
const char *cidr_lookup_cmd_network_env(cmd_parms *cmd, void *dconf, const char *arg);
const char *cidr_lookup_cmd_reload(cmd_parms *cmd, void *dconf, const char *arg);
const char *cidr_lookup_cmd_on_error(cmd_parms *cmd, void *dconf, const char *arg);
void cidr_lookup_register_hooks(apr_pool_t *p);

#ifdef __cplusplus
}
#endif
