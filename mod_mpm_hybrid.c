/* mod_mpm_hybrid.c - the module itself: directives, configuration hooks,
 * the answers to ap_mpm_query(), the check of the running httpd's module
 * API and the version line in the error log.
 *
 * Owns hyb_srv (one configuration pass) and the retained data.  Everything
 * here runs in the parent's main thread during configuration, except
 * hyb_query(), which any thread of any process may call (it only reads).
 */
#define HYB_MODULE_FILE
#include "hyb.h"

#include <stdlib.h>
#include <apr_strings.h>

hyb_server_t hyb_srv;

#define HYB_RETAINED_KEY "mpm_hybrid_retained"

/* The lowest httpd module API (MODULE_MAGIC_NUMBER 20120211.minor) this
 * module may run in: it writes process_score.wait_io (.136) and answers
 * AP_MPMQ_CAN_WAITIO (.137), both new in httpd 2.4.63.  httpd itself checks
 * only the major number when it loads a module, so hyb_api_check() refuses
 * an older server.  Tests raise HYB_MMN_MINOR_MIN at build time to play an
 * older server. */
#define HYB_MMN_MINOR_NEED 137
#ifndef HYB_MMN_MINOR_MIN
#define HYB_MMN_MINOR_MIN HYB_MMN_MINOR_NEED
#endif
#if !AP_MODULE_MAGIC_AT_LEAST(20120211, HYB_MMN_MINOR_NEED)
#error "mod_mpm_hybrid needs the headers of httpd 2.4.63 or newer (module API 20120211.137)"
#endif

/* The build's version (debian/changelog's, passed in by Makefile.apxs). */
#ifndef HYB_VERSION
#define HYB_VERSION "unversioned"
#endif

int hyb_mpm_state(void)
{
    return hyb_srv.retained ? hyb_srv.retained->mpm->mpm_state
                            : AP_MPMQ_STARTING;
}

/* ---- ap_mpm_query -------------------------------------------------------- */

static int hyb_query_value(int code, int *result)
{
    const hyb_limits_t *l = &hyb_srv.limits;
    hyb_retained_t *r = hyb_srv.retained;

    switch (code) {
    case AP_MPMQ_MAX_DAEMON_USED:    *result = r ? r->max_daemon_used : 0; break;
    case AP_MPMQ_IS_THREADED:        *result = AP_MPMQ_STATIC; break;
    case AP_MPMQ_IS_FORKED:          *result = AP_MPMQ_DYNAMIC; break;
    case AP_MPMQ_IS_ASYNC:           *result = 1; break;
    case AP_MPMQ_HARD_LIMIT_DAEMONS: *result = l->server_limit; break;
    case AP_MPMQ_HARD_LIMIT_THREADS: *result = l->thread_limit; break;
    case AP_MPMQ_MAX_THREADS:        *result = l->threads_per_child; break;
    case AP_MPMQ_MIN_SPARE_DAEMONS:  *result = 0; break;
    case AP_MPMQ_MIN_SPARE_THREADS:  *result = l->min_spare_threads; break;
    case AP_MPMQ_MAX_SPARE_DAEMONS:  *result = 0; break;
    case AP_MPMQ_MAX_SPARE_THREADS:  *result = l->max_spare_threads; break;
    case AP_MPMQ_MAX_REQUESTS_DAEMON:*result = ap_max_requests_per_child; break;
    case AP_MPMQ_MAX_DAEMONS:        *result = l->active_daemons_limit; break;
    case AP_MPMQ_MPM_STATE:          *result = hyb_mpm_state(); break;
    case AP_MPMQ_GENERATION:         *result = r ? r->mpm->my_generation : 0; break;
    case AP_MPMQ_CAN_WAITIO:         *result = 1; break;
    default:
        return 0;
    }
    return 1;
}

static int hyb_query(int code, int *result, apr_status_t *rv)
{
    *rv = hyb_query_value(code, result) ? APR_SUCCESS : APR_ENOTIMPL;
    return OK;
}

static const char *hyb_get_name(void)
{
    return HYB_MPM_NAME;
}

/* ---- directives ---------------------------------------------------------- */

/* Parent, configuration: a global integer directive in [lo, hi].  The
 * process/thread directives take any int (their range is clamped later,
 * with a warning, as event does), so their message names no range. */
const char *hyb_cmd_int(cmd_parms *cmd, const char *arg, long lo, long hi,
                        long *out)
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
    const char *err = hyb_cmd_int(cmd, arg, HYB_INT_ANY_MIN, HYB_INT_ANY_MAX, &v);

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

static const command_rec hyb_cmds[] = {
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
    AP_INIT_FLAG("HybridGatherHeads", hyb_set_gather, NULL, RSRC_CONF,
                 "On (default): a connection gets a worker only once its "
                 "whole request head (or TLS record) has arrived"),
    AP_INIT_TAKE1("HybridGatherMaxHead", hyb_set_gather_max, NULL, RSRC_CONF,
                  "Largest head, in bytes, the listener waits for (1024 to "
                  "1048576; default from LimitRequestLine/FieldSize/Fields, "
                  "at most 65536)"),
    AP_INIT_TAKE1("HybridGatherPerIP", hyb_set_gather_per_ip, NULL, RSRC_CONF,
                  "Most connections from one client address that may wait "
                  "for their first request head in one child (0: no cap)"),
    AP_GRACEFUL_SHUTDOWN_TIMEOUT_COMMAND,
    { NULL }
};

/* ---- configuration hooks ------------------------------------------------- */

static void hyb_read_run_flags(void)
{
    if (ap_exists_config_define("DEBUG")) {
        hyb_srv.one_process = hyb_srv.foreground = 1;
        hyb_srv.no_detach = 0;
        return;
    }
    hyb_srv.one_process = ap_exists_config_define("ONE_PROCESS");
    hyb_srv.no_detach = ap_exists_config_define("NO_DETACH");
    hyb_srv.foreground = ap_exists_config_define("FOREGROUND");
}

static hyb_retained_t *hyb_retained_get(void)
{
    hyb_retained_t *r = ap_retained_data_get(HYB_RETAINED_KEY);

    if (!r) {
        r = ap_retained_data_create(HYB_RETAINED_KEY, sizeof(*r));
        r->mpm = ap_unixd_mpm_get_retained_data();
        r->idle_spawn_rate = 1;
    }
    return r;
}

/* Second pass: detach like event (Debian's unit is Type=forking). */
static int hyb_maybe_detach(apr_pool_t *pconf)
{
    apr_status_t rv;

    ap_fatal_signal_setup(ap_server_conf, pconf);
    if (hyb_srv.one_process || hyb_srv.foreground) {
        return OK;
    }
    rv = apr_proc_detach(hyb_srv.no_detach ? APR_PROC_DETACH_FOREGROUND
                                           : APR_PROC_DETACH_DAEMONIZE);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, NULL,
                     "HYB0102: apr_proc_detach failed");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

/* Parent, pre_config (before any directive is applied): refuse to run in
 * an httpd whose module API is older than HYB_MMN_MINOR_MIN.  The core
 * module's struct carries the running server's own MODULE_MAGIC_NUMBER. */
static int hyb_api_check(void)
{
    const module *core = ap_find_linked_module("core.c");
    int major = core ? core->version : 0;
    int minor = core ? core->minor_version : 0;

    if (major > MODULE_MAGIC_NUMBER_MAJOR
        || (major == MODULE_MAGIC_NUMBER_MAJOR && minor >= HYB_MMN_MINOR_MIN)) {
        return OK;
    }
    ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_EMERG, 0, NULL,
                 "HYB0110: mpm_hybrid %s needs httpd module API %d.%d or "
                 "newer, but the running server (%s) has %d.%d: upgrade "
                 "apache2, or switch back to mpm_event (a2dismod mpm_hybrid "
                 "&& a2enmod mpm_event)", HYB_VERSION,
                 MODULE_MAGIC_NUMBER_MAJOR, HYB_MMN_MINOR_MIN,
                 ap_get_server_description(), major, minor);
    return HTTP_INTERNAL_SERVER_ERROR;
}

static int hyb_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp)
{
    hyb_retained_t *r;

    (void)plog; (void)ptemp;
    if (hyb_api_check() != OK) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    memset(&hyb_srv, 0, sizeof(hyb_srv));
    hyb_srv.pconf = pconf;
    hyb_read_run_flags();
    r = hyb_srv.retained = hyb_retained_get();
    r->mpm->mpm_state = AP_MPMQ_STARTING;
    if (r->mpm->baton != r) {
        r->mpm->was_graceful = 0;
        r->mpm->baton = r;
    }
    ++r->mpm->module_loads;
    if (r->mpm->module_loads == 2 && hyb_maybe_detach(pconf) != OK) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    ap_listen_pre_config();
    /* Start from event's defaults (MaxRequestWorkers 400 included), so an
     * unset directive behaves exactly as under event. */
    hyb_limits_defaults(&hyb_srv.given);
    hyb_srv.limits = hyb_srv.given;
    hyb_srv.drain_timeout = HYB_DEFAULT_DRAIN;
    hyb_srv.gather = 1;
    ap_extended_status = 0;
    return OK;
}

/* Log one adjustment: to stderr (plain) on the first pass, to the error
 * log afterwards, like event's startup/restart message pairs. */
static void hyb_warn_limit(void *baton, const char *directive, long given,
                           long used, const char *why)
{
    int startup = *(int *)baton;

    if (startup) {
        ap_log_error(APLOG_MARK, APLOG_WARNING | APLOG_STARTUP, 0, NULL,
                     "WARNING: %s of %ld %s; using %ld (mpm_hybrid)",
                     directive, given, why, used);
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ap_server_conf,
                     "HYB0103: %s of %ld %s; using %ld",
                     directive, given, why, used);
    }
}

static void hyb_fix_spares(hyb_limits_t *l)
{
    if (l->max_spare_threads < l->min_spare_threads + l->threads_per_child) {
        l->max_spare_threads = l->min_spare_threads + l->threads_per_child;
    }
    if (l->start_servers > l->active_daemons_limit) {
        l->start_servers = l->active_daemons_limit;
    }
}

static int hyb_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp, server_rec *s)
{
    hyb_retained_t *r = hyb_srv.retained;
    int startup = (r->mpm->module_loads == 1);

    (void)pconf; (void)plog; (void)ptemp; (void)s;
    hyb_srv.limits = hyb_srv.given;
    hyb_limits_check(&hyb_srv.limits, r->first_server_limit,
                     r->first_thread_limit, hyb_warn_limit, &startup);
    hyb_fix_spares(&hyb_srv.limits);
    if (!r->first_server_limit) {
        r->first_server_limit = hyb_srv.limits.server_limit;
        r->first_thread_limit = hyb_srv.limits.thread_limit;
    }
    return OK;
}

static int hyb_open_logs(apr_pool_t *pconf, apr_pool_t *plog,
                         apr_pool_t *ptemp, server_rec *s)
{
    int level = APLOG_ALERT | APLOG_STARTUP, i;
    apr_status_t rv;

    (void)plog; (void)ptemp;
    if (ap_setup_listeners(s) < 1) {
        ap_log_error(APLOG_MARK, level, 0, NULL,
                     "HYB0104: no listening sockets available, shutting down");
        return !OK;
    }
    rv = ap_duplicate_listeners(pconf, s, &hyb_srv.listen_buckets,
                                &hyb_srv.num_buckets);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, level, rv, NULL,
                     "HYB0105: could not duplicate listeners");
        return !OK;
    }
    hyb_srv.pods = apr_pcalloc(pconf, hyb_srv.num_buckets * sizeof(ap_pod_t *));
    for (i = 0; i < hyb_srv.num_buckets; i++) {
        rv = ap_mpm_podx_open(pconf, &hyb_srv.pods[i]);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, level, rv, NULL,
                         "HYB0106: could not open pipe-of-death");
            return !OK;
        }
    }
    hyb_srv.retained->mpm->num_buckets = hyb_srv.num_buckets;
    return OK;
}

/* Parent, post_config, once per generation: which build runs, next to
 * httpd's own "resuming normal operations" line.  Not in the Server header:
 * clients see exactly what they see under mpm_event. */
static void hyb_log_version(server_rec *s)
{
    const module *core = ap_find_linked_module("core.c");

    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                 "HYB0109: mpm_hybrid %s (built for httpd module API %d.%d, "
                 "running in %d.%d)", HYB_VERSION, MODULE_MAGIC_NUMBER_MAJOR,
                 MODULE_MAGIC_NUMBER_MINOR, core ? core->version : 0,
                 core ? core->minor_version : 0);
}

static int hyb_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp, server_rec *s)
{
    hyb_retained_t *r = hyb_srv.retained;
    apr_size_t size;

    (void)plog; (void)ptemp;
    hyb_gather_post_config(pconf, s);
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    hyb_log_version(s);
    if (!r->slots) {
        size = r->first_server_limit * sizeof(hyb_slot_t);
        r->slots = ap_retained_data_create("mpm_hybrid_slots", size);
    }
    if (hyb_status_init(r) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "HYB0107: no shared "
                     "memory for the gathering counts; server-status will "
                     "not show ConnsAsyncGathering");
    }
    return OK;
}

static void hyb_register_hooks(apr_pool_t *p)
{
    static const char *const after_core[] = { "core.c", NULL };

    (void)p;
    ap_hook_pre_config(hyb_pre_config, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_check_config(hyb_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_open_logs(hyb_open_logs, NULL, after_core, APR_HOOK_REALLY_FIRST);
    ap_hook_post_config(hyb_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_mpm(hyb_parent_run, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_mpm_query(hyb_query, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_mpm_get_name(hyb_get_name, NULL, NULL, APR_HOOK_MIDDLE);
    hyb_worker_register_hooks();
    hyb_gather_register_hooks();
    hyb_status_register_hooks();
}

AP_DECLARE_MODULE(mpm_hybrid) = {
    MPM20_MODULE_STUFF,
    NULL,                       /* hook to run before apache parses args */
    NULL,                       /* create per-directory config structure */
    NULL,                       /* merge per-directory config structures */
    hyb_gather_create_server_config, /* create per-server config structure */
    hyb_gather_merge_server_config, /* merge per-server config structures */
    hyb_cmds,                   /* command apr_table_t */
    hyb_register_hooks,         /* register hooks */
    AP_MODULE_FLAG_ALWAYS_MERGE /* a merged struct for every vhost */
};
