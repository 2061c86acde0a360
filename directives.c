/* directives.c - every directive the module takes: its command table and
 * the setters that parse and check each value.
 *
 * Owns: hyb_cmds and the parsing into hyb_srv (its given limits, drain
 * timeout, gathering switches and CPU affinity).  Ranges are checked here; the
 * process/thread limits are clamped later, in limits.c, with event's
 * warnings.  Per-server settings the module reads from other modules'
 * directives (mod_reqtimeout, SSLEngine) are resolved in gather.c.
 *
 * Threads: the parent's main thread, while httpd reads the configuration.
 */
#include "hyb.h"

#include <stdlib.h>
#include <apr_strings.h>

#define HYB_INT_ANY_MIN (-1000000000L)
#define HYB_INT_ANY_MAX 1000000000L

/* Parent, configuration: a global integer directive in [lo, hi].  The
 * process/thread directives take any int (their range is clamped later,
 * with a warning, as event does), so their message names no range. */
static const char *hyb_cmd_int(cmd_parms *cmd, const char *arg, long lo,
                               long hi, long *out)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char *end;
    long v;

    if (err) {
        return err;
    }
    v = strtol(arg, &end, 10);
    if (*arg != '\0' && *end == '\0' && v >= lo && v <= hi) {
        *out = v;
        return NULL;
    }
    if (lo == HYB_INT_ANY_MIN && hi == HYB_INT_ANY_MAX) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name,
                           " must be an integer, not '", arg, "'", NULL);
    }
    return apr_psprintf(cmd->pool, "%s must be an integer from %ld to %ld, "
                        "not '%s'", cmd->cmd->name, lo, hi, arg);
}

static const char *hyb_set_int(cmd_parms *cmd, const char *arg, int *field)
{
    long v;
    const char *err = hyb_cmd_int(cmd, arg, HYB_INT_ANY_MIN, HYB_INT_ANY_MAX,
                                  &v);

    if (!err) {
        *field = (int)v;
    }
    return err;
}

#define HYB_INT_SETTER(fn, field)                                          \
    static const char *fn(cmd_parms *cmd, void *d, const char *arg)        \
    {                                                                      \
        (void)d;                                                           \
        return hyb_set_int(cmd, arg, &hyb_srv.given.field);                \
    }

HYB_INT_SETTER(hyb_set_start_servers, start_servers)
HYB_INT_SETTER(hyb_set_server_limit, server_limit)
HYB_INT_SETTER(hyb_set_thread_limit, thread_limit)
HYB_INT_SETTER(hyb_set_threads_per_child, threads_per_child)
HYB_INT_SETTER(hyb_set_min_spare, min_spare_threads)
HYB_INT_SETTER(hyb_set_max_spare, max_spare_threads)

static const char *hyb_set_max_workers(cmd_parms *cmd, void *d, const char *arg)
{
    (void)d;
    if (!strcasecmp(cmd->cmd->name, "MaxClients")) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, NULL,
                     "HYB0101: MaxClients is deprecated, use MaxRequestWorkers "
                     "instead");
    }
    return hyb_set_int(cmd, arg, &hyb_srv.given.max_workers);
}

static const char *hyb_set_worker_factor(cmd_parms *cmd, void *d,
                                         const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    (void)d;
    if (err) {
        return err;
    }
    return hyb_limits_parse_factor(arg, &hyb_srv.given.worker_factor);
}

/* HybridDrainTimeout: how long a child that stops gracefully (graceful
 * restart, MaxConnectionsPerChild, idle reduction) keeps its idle
 * keep-alive connections, so that a request already on its way is served
 * (with Connection: close) instead of meeting a closed socket. */
static const char *hyb_set_drain(cmd_parms *cmd, void *d, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char *end;
    double v;

    (void)d;
    if (err) {
        return err;
    }
    v = strtod(arg, &end);
    if (end == arg || *end != '\0' || !(v >= 0.0 && v <= 60.0)) {
        return apr_pstrcat(cmd->pool, "HybridDrainTimeout must be a number of "
                           "seconds from 0 to 60 (e.g. 2 or 0.5), not '",
                           arg, "'", NULL);
    }
    hyb_srv.drain_timeout = (apr_interval_time_t)(v * APR_USEC_PER_SEC);
    return NULL;
}

/* An On/Off directive at server level: cmd->info is the hyb_srv field it
 * sets (HybridGatherHeads, HybridCPUAffinity, HybridListenerBatch). */
static const char *hyb_set_global_flag(cmd_parms *cmd, void *d, int on)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    (void)d;
    if (err) {
        return err;
    }
    *(int *)cmd->info = on;
    return NULL;
}

/* HybridGatherMaxHead, HybridGatherPerIP: what the listener may hold
 * (gather.c, lgather.c use them). */

static const char *hyb_set_gather_max(cmd_parms *cmd, void *d, const char *arg)
{
    long v;
    const char *err = hyb_cmd_int(cmd, arg, 1024, 1024 * 1024, &v);

    (void)d;
    if (!err) {
        hyb_srv.gather_max = (apr_size_t)v;
    }
    return err;
}

static const char *hyb_set_gather_per_ip(cmd_parms *cmd, void *d,
                                         const char *arg)
{
    long v;
    const char *err = hyb_cmd_int(cmd, arg, 0, 1000000, &v);

    (void)d;
    if (!err) {
        hyb_srv.gather_per_ip = (int)v;
    }
    return err;
}

const command_rec hyb_cmds[] = {
    LISTEN_COMMANDS,
    AP_INIT_TAKE1("StartServers", hyb_set_start_servers, NULL, RSRC_CONF,
                  "Number of child processes launched at server startup"),
    AP_INIT_TAKE1("ServerLimit", hyb_set_server_limit, NULL, RSRC_CONF,
                  "Upper limit on configurable number of processes"),
    AP_INIT_TAKE1("ThreadLimit", hyb_set_thread_limit, NULL, RSRC_CONF,
                  "Upper limit on configurable number of threads per child"),
    AP_INIT_TAKE1("ThreadsPerChild", hyb_set_threads_per_child, NULL, RSRC_CONF,
                  "Number of worker threads in each child process"),
    AP_INIT_TAKE1("MinSpareThreads", hyb_set_min_spare, NULL, RSRC_CONF,
                  "Minimum number of idle worker threads kept running"),
    AP_INIT_TAKE1("MaxSpareThreads", hyb_set_max_spare, NULL, RSRC_CONF,
                  "Maximum number of idle worker threads kept running"),
    AP_INIT_TAKE1("MaxRequestWorkers", hyb_set_max_workers, NULL, RSRC_CONF,
                  "Maximum number of worker threads serving at once"),
    AP_INIT_TAKE1("MaxClients", hyb_set_max_workers, NULL, RSRC_CONF,
                  "Deprecated name of MaxRequestWorkers"),
    AP_INIT_TAKE1("AsyncRequestWorkerFactor", hyb_set_worker_factor, NULL,
                  RSRC_CONF, "Accepted for compatibility with mpm_event "
                  "(see the hybrid README: capacity rule)"),
    AP_INIT_TAKE1("HybridDrainTimeout", hyb_set_drain, NULL, RSRC_CONF,
                  "Seconds a gracefully stopping child keeps idle keep-alive "
                  "connections to serve a last request (default 2, 0: close "
                  "them at once)"),
    AP_INIT_FLAG("HybridGatherHeads", hyb_set_global_flag, &hyb_srv.gather,
                 RSRC_CONF,
                 "On (default): a connection gets a worker only once its "
                 "whole request head (or TLS record) has arrived"),
    AP_INIT_TAKE1("HybridGatherMaxHead", hyb_set_gather_max, NULL, RSRC_CONF,
                  "Largest head, in bytes, the listener waits for (1024 to "
                  "1048576; default from LimitRequestLine/FieldSize/Fields, "
                  "at most 65536)"),
    AP_INIT_TAKE1("HybridGatherPerIP", hyb_set_gather_per_ip, NULL, RSRC_CONF,
                  "Most connections from one client address that may wait "
                  "for their first request head in one child (0: no cap)"),
    AP_INIT_FLAG("HybridCPUAffinity", hyb_set_global_flag,
                 &hyb_srv.cpu_affinity, RSRC_CONF,
                 "On: each child's listener and workers run on one CPU, "
                 "children spread over the CPUs by slot (default Off)"),
    AP_INIT_FLAG("HybridListenerBatch", hyb_set_global_flag,
                 &hyb_srv.listener_batch, RSRC_CONF,
                 "On: each child's listener thread runs as SCHED_BATCH "
                 "and does not preempt its workers on waking (default Off)"),
    AP_GRACEFUL_SHUTDOWN_TIMEOUT_COMMAND,
    { NULL }
};
