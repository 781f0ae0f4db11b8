/* mod_cidr_lookup: matches the client address against CIDR lists and exposes
 * the list's name as env X_CLIENT_TYPE and request header X-Client-Type.
 *
 * Only the module record and its directive table live here, so that
 * STANDARD20_MODULE_STUFF names the module "mod_cidr_lookup.c" (for
 * <IfModule> and hook ordering) and AP_INIT_* check each handler's
 * signature, which the C++ form of the macros cannot do without casts.
 * Everything else is C++ in cidr_glue.cpp and the httpd-free core beside it. */
#include "mod_cidr_lookup.h"

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
    AP_INIT_TAKE1("CIDRLookupReload", cidr_lookup_cmd_reload, NULL, RSRC_CONF,
                  "how often children look for changed lists, in seconds, or off (default off)"),
    AP_INIT_TAKE1(
        "CIDRLookupOnError", cidr_lookup_cmd_on_error, NULL, RSRC_CONF,
        "fail or keep: what a bad list does at startup and graceful restart (default fail)"),
    {NULL}};

AP_DECLARE_MODULE(cidr_lookup) = {
    STANDARD20_MODULE_STUFF,
    cidr_lookup_create_dir_config,    /* per-directory config creator */
    cidr_lookup_merge_dir_config,     /* per-directory config merger */
    cidr_lookup_create_server_config, /* per-server config creator */
    cidr_lookup_merge_server_config,  /* per-server config merger */
    cidr_lookup_cmds,                 /* command table */
    cidr_lookup_register_hooks,       /* hook registration */
    AP_MODULE_FLAG_NONE,              /* flags */
};
