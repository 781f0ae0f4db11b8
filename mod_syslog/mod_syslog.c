/* mod_syslog: CustomLog "syslog:FACILITY[.LEVEL][:TAG][@TARGET]" sends each
 * access-log line to syslog from inside httpd.
 *
 * Only the module record and its directive table live here, so that
 * STANDARD20_MODULE_STUFF names the module "mod_syslog.c" (<IfModule
 * mod_syslog.c> works) and AP_INIT_* check each handler's signature, which
 * the C++ form of the macros cannot do without casts. Everything else is C++
 * in syslog_directives.cpp, syslog_glue.cpp and the httpd-free core beside them. */
#include "mod_syslog.h"

static const command_rec syslog_cmds[] = {
    AP_INIT_TAKE_ARGV("SyslogTarget", syslog_cmd_target, NULL, RSRC_CONF,
                      "NAME URL [format=bsd|rfc5424] [framing=octet-counted|lf] "
                      "[maxlength=BYTES] [queuesize=SIZE]: a receiver that CustomLog "
                      "\"syslog:...@NAME\" sends to; one sender per child for all its logs"),
    AP_INIT_TAKE1("SyslogIdent", syslog_cmd_ident, NULL, RSRC_CONF,
                  "The syslog tag of lines whose target names none (default: the name httpd "
                  "was started as)"),
    AP_INIT_TAKE1("SyslogFormat", syslog_cmd_format, NULL, RSRC_CONF,
                  "bsd or rfc5424 (default: bsd for unix: targets, rfc5424 for udp:// and "
                  "tcp://)"),
    AP_INIT_TAKE1("SyslogMaxLength", syslog_cmd_max_length, NULL, RSRC_CONF,
                  "Longest syslog message in bytes, header included; longer lines are "
                  "truncated (default 8192)"),
    AP_INIT_TAKE1(
        "SyslogQueueSize", syslog_cmd_queue_size, NULL, RSRC_CONF,
        "Bytes of lines each child may hold for one log while they wait to be sent (default 4M)"),
    AP_INIT_TAKE1("SyslogExitTimeout", syslog_cmd_exit_timeout, NULL, RSRC_CONF,
                  "Milliseconds an exiting child may spend sending what it holds; what is "
                  "left then is counted and reported (default 2000, at most 2500)"),
    {NULL}};

AP_DECLARE_MODULE(syslog) = {
    STANDARD20_MODULE_STUFF,
    NULL,                        /* per-directory config creator */
    NULL,                        /* per-directory config merger */
    syslog_create_server_config, /* per-server config creator */
    syslog_merge_server_config,  /* per-server config merger */
    syslog_cmds,                 /* command table */
    syslog_register_hooks,       /* hook registration */
    AP_MODULE_FLAG_NONE,         /* flags */
};
