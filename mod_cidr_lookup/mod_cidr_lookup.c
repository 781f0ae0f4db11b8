/* mod_cidr_lookup: the module record. Everything else is C++ (cidr_glue.cpp).
 *
 * The record lives in a .c file so that STANDARD20_MODULE_STUFF names the
 * module "mod_cidr_lookup.c" (for <IfModule> and hook ordering). The
 * directive table is here too: in C, AP_INIT_* use designated initializers
 * and check each handler's signature, which the C++ form of the macros
 * cannot do without casts. */
/* httpd.h first: http_config.h uses its types without including it. */
/* clang-format off */
#include "httpd.h"
#include "http_config.h"
/* clang-format on */

const char *cidr_lookup_cmd_file(cmd_parms *cmd, void *dconf, const char *arg);
const char *cidr_lookup_cmd_map(cmd_parms *cmd, void *dconf, const char *arg);
const char *cidr_lookup_cmd_default(cmd_parms *cmd, void *dconf, const char *arg);
const char *cidr_lookup_cmd_env(cmd_parms *cmd, void *dconf, const char *arg);
const char *cidr_lookup_cmd_header(cmd_parms *cmd, void *dconf, const char *arg);
const char *cidr_lookup_cmd_network_env(cmd_parms *cmd, void *dconf, const char *arg);

void *cidr_lookup_create_dir_config(apr_pool_t *p, char *dir);
void *cidr_lookup_merge_dir_config(apr_pool_t *p, void *base, void *add);
void *cidr_lookup_create_server_config(apr_pool_t *p, server_rec *s);
void *cidr_lookup_merge_server_config(apr_pool_t *p, void *base, void *add);
void cidr_lookup_register_hooks(apr_pool_t *p);

static const command_rec cidr_lookup_cmds[] = {
    AP_INIT_TAKE1("CIDRFile", cidr_lookup_cmd_file, NULL, RSRC_CONF | ACCESS_CONF,
                  "a file, directory or glob of CIDR lists; each file's name is its client type"),
    AP_INIT_TAKE1("CIDRMap", cidr_lookup_cmd_map, NULL, RSRC_CONF | ACCESS_CONF,
                  "a file, directory or glob of 'CIDR TYPE' lines"),
    AP_INIT_TAKE1("CIDRLookupDefault", cidr_lookup_cmd_default, NULL, RSRC_CONF | ACCESS_CONF,
                  "the client type when no list matches (default: none)"),
    AP_INIT_TAKE1("CIDRLookupEnv", cidr_lookup_cmd_env, NULL, RSRC_CONF | ACCESS_CONF,
                  "the environment variable for the client type (default X_CLIENT_TYPE)"),
    AP_INIT_TAKE1("CIDRLookupHeader", cidr_lookup_cmd_header, NULL, RSRC_CONF | ACCESS_CONF,
                  "the request header for the client type, or off (default X-Client-Type)"),
    AP_INIT_TAKE1("CIDRLookupNetworkEnv", cidr_lookup_cmd_network_env, NULL,
                  RSRC_CONF | ACCESS_CONF,
                  "an environment variable for the matched network in CIDR form, or off"),
    {NULL}};

/* clang-format off */
module AP_MODULE_DECLARE_DATA cidr_lookup_module = {
    STANDARD20_MODULE_STUFF,
    cidr_lookup_create_dir_config,
    cidr_lookup_merge_dir_config,
    cidr_lookup_create_server_config,
    cidr_lookup_merge_server_config,
    cidr_lookup_cmds,
    cidr_lookup_register_hooks,
    AP_MODULE_FLAG_NONE
};
/* clang-format on */
