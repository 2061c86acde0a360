/* mod_mpm_hybrid.c - the module itself: configuration hooks,
 * the answers to ap_mpm_query(), the check of the running httpd's module
 * API and the version line in the error log.
 *
 * Owns hyb_srv (one configuration pass) and the retained data.  Everything
 * here runs in the parent's main thread during configuration, except
 * hyb_query(), which any thread of any process may call (it only reads).
 */
#define HYB_MODULE_FILE
#include "hyb.h"

#include "cpuaff.h"

#include <errno.h>
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
    hyb_srv.cpu_affinity = 0;
    hyb_srv.listener_batch = 0;
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

/* HybridCPUAffinity On: which CPUs the children share, and a warning when
 * there are fewer possible children than CPUs (some CPUs would get none). */
static void hyb_log_affinity(server_rec *s, apr_pool_t *ptemp)
{
    int n;
    const char *cpus;

    if (!hyb_srv.cpu_affinity) {
        return;
    }
    cpus = hyb_cpuaff_describe(ptemp, &n);
    if (!cpus) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s, "HYB0113: "
                     "HybridCPUAffinity On, but the CPUs httpd may use cannot "
                     "be read; children run on every CPU");
        return;
    }
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "HYB0112: HybridCPUAffinity "
                 "On: each child runs on one of CPUs %s (%d), the child in "
                 "slot N on the (N mod %d)-th", cpus, n, n);
    if (hyb_srv.limits.server_limit < n) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "HYB0114: "
                     "HybridCPUAffinity On with ServerLimit %d: %d of the %d "
                     "CPUs get no child; raise ServerLimit and StartServers "
                     "to %d or more", hyb_srv.limits.server_limit,
                     n - hyb_srv.limits.server_limit, n, n);
    }
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
    hyb_log_affinity(s, ptemp);
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
