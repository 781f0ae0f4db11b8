/* mod_scribe: stream access-log lines to Scribe collectors.
 *
 * Only the module record lives here, so that STANDARD20_MODULE_STUFF names
 * the module "mod_scribe.c" (<IfModule mod_scribe.c> works). Everything else
 * is C++: scribe_glue.cpp (httpd side), scribe_sink.cpp (Thrift side),
 * scribe_target.cpp (parsing), include/delivery.cpp (queue, sender, spool).
 */
/* httpd.h first: */
/* clang-format off */
#include "httpd.h"
#include "http_config.h"
/* clang-format on */

extern const command_rec scribe_directives[];
void* scribe_create_server_config(apr_pool_t* p, server_rec* s);
void* scribe_merge_server_config(apr_pool_t* p, void* base, void* add);
void scribe_register_hooks(apr_pool_t* p);

module AP_MODULE_DECLARE_DATA scribe_module = {
    STANDARD20_MODULE_STUFF,
    NULL,                        /* per-directory config creator */
    NULL,                        /* per-directory config merger */
    scribe_create_server_config, /* per-server config creator */
    scribe_merge_server_config,  /* per-server config merger */
    scribe_directives,           /* command table */
    scribe_register_hooks,       /* hook registration */
    0                            /* flags */
};
