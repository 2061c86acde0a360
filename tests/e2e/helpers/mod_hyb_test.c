/* mod_hyb_test.c - a helper module for the end-to-end tests, built with
 * apxs into a temporary directory by conftest.py (hyb_test_module fixture)
 * and loaded only into test servers.  Never installed.
 *
 *   HybTestChildFatal On     every child exits from child_init with
 *                            APEXIT_CHILDFATAL, as an httpd child does when
 *                            it cannot drop its privileges.  Each child logs
 *                            "hyb_test: child <pid> exits with
 *                            APEXIT_CHILDFATAL" first, so a test can count
 *                            how many children were forked.
 *   HybTestLogHooks On       the parent logs "hyb_test: monitor" from each
 *                            monitor hook run and "hyb_test: end_generation
 *                            <gen>" from each end_generation hook run, so a
 *                            test can check that the MPM runs them.
 *   SetHandler hyb-test-sleep
 *                            GET ...?ms=N holds the worker thread for N ms
 *                            (0..30000), then answers
 *                            "start=<usec> end=<usec> pid=<pid>\n"
 *                            (times from apr_time_now()).
 *
 * Works under any MPM; uses only public httpd 2.4 / APR interfaces.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "ap_mpm.h"
#include "mpm_common.h"

#include <apr_strings.h>
#include <stdlib.h>
#include <unistd.h>

#define HYB_TEST_MAX_SLEEP_MS 30000

module AP_MODULE_DECLARE_DATA hyb_test_module;

/* Set while the configuration is read (parent, single-threaded); read by
 * each child in child_init. */
static int hyb_test_child_fatal;
static int hyb_test_log_hooks;

/* Parent, configuration pass: the directive. */
static const char *hyb_test_set_fatal(cmd_parms *cmd, void *d, int on)
{
    (void)cmd; (void)d;
    hyb_test_child_fatal = on;
    return NULL;
}

/* Parent, configuration pass: the directive. */
static const char *hyb_test_set_log_hooks(cmd_parms *cmd, void *d, int on)
{
    (void)cmd; (void)d;
    hyb_test_log_hooks = on;
    return NULL;
}

/* Parent, before each configuration pass: forget the last pass's values. */
static int hyb_test_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                               apr_pool_t *ptemp)
{
    (void)pconf; (void)plog; (void)ptemp;
    hyb_test_child_fatal = 0;
    hyb_test_log_hooks = 0;
    return OK;
}

/* Parent main thread, about every 10 s. */
static int hyb_test_monitor(apr_pool_t *p, server_rec *s)
{
    (void)p;
    if (hyb_test_log_hooks) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "hyb_test: monitor");
    }
    return DECLINED;
}

/* Parent main thread, when the last child of a generation has exited. */
static void hyb_test_end_generation(server_rec *s, ap_generation_t gen)
{
    if (hyb_test_log_hooks) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                     "hyb_test: end_generation %d", gen);
    }
}

/* Child main thread, after privileges were dropped. */
static void hyb_test_child_init(apr_pool_t *p, server_rec *s)
{
    (void)p;
    if (hyb_test_child_fatal) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                     "hyb_test: child %ld exits with APEXIT_CHILDFATAL",
                     (long)getpid());
        exit(APEXIT_CHILDFATAL);
    }
}

/* Worker thread: ?ms=N, clamped to 0..HYB_TEST_MAX_SLEEP_MS. */
static apr_interval_time_t hyb_test_sleep_of(const request_rec *r)
{
    const char *q = r->args ? strstr(r->args, "ms=") : NULL;
    long ms = q ? strtol(q + 3, NULL, 10) : 0;

    if (ms < 0) {
        ms = 0;
    }
    if (ms > HYB_TEST_MAX_SLEEP_MS) {
        ms = HYB_TEST_MAX_SLEEP_MS;
    }
    return apr_time_from_msec(ms);
}

/* Worker thread: the hyb-test-sleep handler. */
static int hyb_test_handler(request_rec *r)
{
    apr_time_t start;

    if (!r->handler || strcmp(r->handler, "hyb-test-sleep") != 0) {
        return DECLINED;
    }
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    start = apr_time_now();
    apr_sleep(hyb_test_sleep_of(r));
    ap_set_content_type(r, "text/plain");
    ap_rprintf(r, "start=%" APR_TIME_T_FMT " end=%" APR_TIME_T_FMT
               " pid=%ld\n", start, apr_time_now(), (long)getpid());
    return OK;
}

static const command_rec hyb_test_cmds[] = {
    AP_INIT_FLAG("HybTestChildFatal", hyb_test_set_fatal, NULL, RSRC_CONF,
                 "On: every child exits from child_init with APEXIT_CHILDFATAL"),
    AP_INIT_FLAG("HybTestLogHooks", hyb_test_set_log_hooks, NULL, RSRC_CONF,
                 "On: log each monitor and end_generation hook run"),
    { NULL }
};

static void hyb_test_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_pre_config(hyb_test_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(hyb_test_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(hyb_test_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_monitor(hyb_test_monitor, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_end_generation(hyb_test_end_generation, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(hyb_test) = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, NULL, NULL,
    hyb_test_cmds,
    hyb_test_register_hooks,
    AP_MODULE_FLAG_NONE
};
