/* mod_scribe: CustomLog "scribe:CATEGORY[@HOST[:PORT]]" streams each
 * access-log line to Scribe collectors.
 *
 * Only the module record and its directive table live here, so that
 * STANDARD20_MODULE_STUFF names the module "mod_scribe.c" (<IfModule
 * mod_scribe.c> works) and AP_INIT_* check each handler's signature, which
 * the C++ form of the macros cannot do without casts. Everything else is
 * C++: scribe_glue.cpp (httpd side), scribe_sink.cpp (Thrift side),
 * scribe_target.cpp (parsing), include/delivery.cpp (queue, sender, spool). */
#include "mod_scribe.h"

static const command_rec scribe_cmds[] = {
    AP_INIT_TAKE_ARGV("ScribeServer", scribe_cmd_server, NULL, RSRC_CONF,
                      "host:port of the Scribe collectors, in order of preference"),
    AP_INIT_TAKE1("ScribeSpoolDir", scribe_cmd_spool_dir, NULL, RSRC_CONF,
                  "directory for lines no collector could take (default: scribe-spool under "
                  "DefaultRuntimeDir)"),
    AP_INIT_TAKE1("ScribeSpoolMaxSize", scribe_cmd_spool_max_size, NULL, RSRC_CONF,
                  "bytes the spool directory may hold before the oldest lines are dropped"),
    AP_INIT_TAKE1("ScribeQueueSize", scribe_cmd_queue_size, NULL, RSRC_CONF,
                  "bytes of lines each child keeps in memory"),
    AP_INIT_TAKE1("ScribeBatchSize", scribe_cmd_batch_size, NULL, RSRC_CONF,
                  "most lines sent in one Log() call"),
    AP_INIT_TAKE1("ScribeBatchBytes", scribe_cmd_batch_bytes, NULL, RSRC_CONF,
                  "most bytes of lines in one Log() call (default 4M)"),
    AP_INIT_TAKE1("ScribeFlushInterval", scribe_cmd_flush_interval, NULL, RSRC_CONF,
                  "milliseconds a line may wait for its batch to fill"),
    AP_INIT_TAKE1("ScribeTimeout", scribe_cmd_timeout, NULL, RSRC_CONF,
                  "milliseconds for connecting, sending and receiving"),
    AP_INIT_TAKE1("ScribeExitTimeout", scribe_cmd_exit_timeout, NULL, RSRC_CONF,
                  "milliseconds an exiting child may spend delivering after it spooled everything "
                  "(default 2000, at most 2500)"),
    AP_INIT_TAKE12("ScribeRetryInterval", scribe_cmd_retry_interval, NULL, RSRC_CONF,
                   "minimum and (optional) maximum milliseconds between retries"),
    AP_INIT_TAKE12("ScribeTryLaterFailover", scribe_cmd_try_later_failover, NULL, RSRC_CONF,
                   "TRY_LATER answers in a row, and (optional) milliseconds of them, after which "
                   "the next collector takes the lines (default 5 10000)"),
    AP_INIT_TAKE1("ScribeReplayRate", scribe_cmd_replay_rate, NULL, RSRC_CONF,
                  "spooled lines each child replays per second, or off (default 2000)"),
    AP_INIT_FLAG("ScribeStripNewline", scribe_cmd_strip_newline, NULL, RSRC_CONF,
                 "On: send lines without their line end"),
    {NULL}};

AP_DECLARE_MODULE(scribe) = {
    STANDARD20_MODULE_STUFF,
    NULL,                        /* per-directory config creator */
    NULL,                        /* per-directory config merger */
    scribe_create_server_config, /* per-server config creator */
    scribe_merge_server_config,  /* per-server config merger */
    scribe_cmds,                 /* command table */
    scribe_register_hooks,       /* hook registration */
    AP_MODULE_FLAG_NONE,         /* flags */
};
