/* test_limits.c - unit tests of limits.c.
 *
 * Owns: the limits test group: defaults, HYB_UNSET filling, every clamp of
 * hyb_limits_check with the exact (directive, given, used) reported, the
 * order of the checks, AsyncRequestWorkerFactor parsing and the capacity
 * rule.
 *
 * Threads: single-threaded.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hyb_test.h"
#include "../../hyb_limits.h"

#define MAX_WARN 16

typedef struct {
    char directive[32];
    long given, used;
    char why[256];
} warning_t;

typedef struct {
    int n;
    warning_t w[MAX_WARN];
} warnings_t;

/* The warn fn: copies everything (why may be a temporary buffer). */
static void record(void *baton, const char *directive, long given, long used,
                   const char *why)
{
    warnings_t *ws = baton;
    warning_t *w;

    if (ws->n >= MAX_WARN) {
        return;
    }
    w = &ws->w[ws->n++];
    snprintf(w->directive, sizeof(w->directive), "%s", directive);
    w->given = given;
    w->used = used;
    snprintf(w->why, sizeof(w->why), "%s", why ? why : "");
}

static void expect_warning(const warnings_t *ws, int i, const char *dir,
                           long given, long used)
{
    assert_true(i < ws->n);
    assert_string_equal(ws->w[i].directive, dir);
    assert_int_equal(ws->w[i].given, given);
    assert_int_equal(ws->w[i].used, used);
    assert_true(strlen(ws->w[i].why) > 0);
    assert_true(ws->w[i].why[strlen(ws->w[i].why) - 1] != '.');
}

/* Defaults, then the given overrides, then check; returns the count. */
static int run_check(hyb_limits_t *l, warnings_t *ws, int first_sl,
                     int first_tl)
{
    int n;

    memset(ws, 0, sizeof(*ws));
    n = hyb_limits_check(l, first_sl, first_tl, record, ws);
    assert_int_equal(n, ws->n);
    return n;
}

static void all_unset(hyb_limits_t *l)
{
    l->server_limit = l->thread_limit = l->threads_per_child = HYB_UNSET;
    l->max_workers = l->start_servers = HYB_UNSET;
    l->min_spare_threads = l->max_spare_threads = HYB_UNSET;
    l->worker_factor = HYB_UNSET;
    l->active_daemons_limit = 12345;
}

/* ------------------------------------------------------------------ */

static void test_defaults(void **state)
{
    hyb_limits_t l;
    warnings_t ws;

    (void)state;
    memset(&l, 0xff, sizeof(l));
    hyb_limits_defaults(&l);
    assert_int_equal(l.server_limit, 16);
    assert_int_equal(l.thread_limit, 64);
    assert_int_equal(l.threads_per_child, 25);
    assert_int_equal(l.max_workers, 400);
    assert_int_equal(l.start_servers, 3);
    assert_int_equal(l.min_spare_threads, 75);
    assert_int_equal(l.max_spare_threads, 250);
    assert_true(l.worker_factor == 2.0);
    assert_int_equal(l.active_daemons_limit, 16);
    /* Defaults pass the checks untouched. */
    assert_int_equal(run_check(&l, &ws, 0, 0), 0);
    assert_int_equal(l.max_workers, 400);
    assert_int_equal(l.active_daemons_limit, 16);
}

/* A literal -1 is a value, not "unset": clamped with a warning, as event
 * does (it once fell silently back to the default). */
static void test_minus_one_is_clamped(void **state)
{
    hyb_limits_t l;
    warnings_t ws;

    (void)state;
    hyb_limits_defaults(&l);
    l.threads_per_child = -1;
    l.start_servers = -1;
    assert_true(run_check(&l, &ws, 0, 0) >= 2);
    assert_int_equal(l.threads_per_child, 1);
    assert_int_equal(l.start_servers, 1);
    assert_string_equal(ws.w[0].directive, "ThreadsPerChild");
    assert_int_equal(ws.w[0].given, -1);
    assert_int_equal(ws.w[0].used, 1);
}

static void test_unset_filled(void **state)
{
    hyb_limits_t l, d;
    warnings_t ws;

    (void)state;
    memset(&l, 0, sizeof(l));
    memset(&d, 0, sizeof(d));
    all_unset(&l);
    assert_int_equal(run_check(&l, &ws, 0, 0), 0);
    hyb_limits_defaults(&d);
    assert_memory_equal(&l, &d, sizeof(l));
    /* MaxRequestWorkers unset: from the final ServerLimit/ThreadsPerChild. */
    all_unset(&l);
    l.server_limit = 4;
    l.threads_per_child = 10;
    assert_int_equal(run_check(&l, &ws, 0, 0), 0);
    assert_int_equal(l.max_workers, 40);
    assert_int_equal(l.active_daemons_limit, 4);
    all_unset(&l);
    l.server_limit = 30000;         /* clamped first, then used */
    l.threads_per_child = 80;       /* clamped to ThreadLimit 64 */
    assert_int_equal(run_check(&l, &ws, 0, 0), 2);
    assert_int_equal(l.max_workers, 20000 * 64);
    assert_int_equal(l.active_daemons_limit, 20000);
    assert_int_equal(l.min_spare_threads, 75);  /* event: fixed 3 x 25 */
}

static void test_server_limit(void **state)
{
    hyb_limits_t l;
    warnings_t ws;

    (void)state;
    hyb_limits_defaults(&l);
    l.server_limit = 30000;
    assert_int_equal(run_check(&l, &ws, 0, 0), 1);
    expect_warning(&ws, 0, "ServerLimit", 30000, 20000);
    assert_int_equal(l.server_limit, 20000);

    hyb_limits_defaults(&l);
    l.server_limit = 0;
    assert_int_equal(run_check(&l, &ws, 0, 0), 2);
    expect_warning(&ws, 0, "ServerLimit", 0, 1);
    /* 400 workers now need 16 servers > 1. */
    expect_warning(&ws, 1, "MaxRequestWorkers", 400, 25);
    assert_int_equal(l.server_limit, 1);
    assert_int_equal(l.active_daemons_limit, 1);

    hyb_limits_defaults(&l);
    l.server_limit = 20000;                     /* the maximum is fine */
    assert_int_equal(run_check(&l, &ws, 0, 0), 0);
}

static void test_thread_limit(void **state)
{
    hyb_limits_t l;
    warnings_t ws;

    (void)state;
    hyb_limits_defaults(&l);
    l.thread_limit = 200000;
    assert_int_equal(run_check(&l, &ws, 0, 0), 1);
    expect_warning(&ws, 0, "ThreadLimit", 200000, 100000);
    assert_int_equal(l.thread_limit, 100000);

    hyb_limits_defaults(&l);
    l.thread_limit = -5;
    assert_int_equal(run_check(&l, &ws, 0, 0), 3);
    expect_warning(&ws, 0, "ThreadLimit", -5, 1);
    expect_warning(&ws, 1, "ThreadsPerChild", 25, 1);
    expect_warning(&ws, 2, "MaxRequestWorkers", 400, 16);
    /* 400 workers at 1 per child would need 400 servers: capped at 16. */
    assert_int_equal(l.threads_per_child, 1);
    assert_int_equal(l.max_workers, 16);
}

static void test_restart_change_ignored(void **state)
{
    hyb_limits_t l;
    warnings_t ws;

    (void)state;
    hyb_limits_defaults(&l);
    l.server_limit = 32;
    l.thread_limit = 128;
    assert_int_equal(run_check(&l, &ws, 16, 64), 2);
    expect_warning(&ws, 0, "ServerLimit", 32, 16);
    expect_warning(&ws, 1, "ThreadLimit", 128, 64);
    assert_non_null(strstr(ws.w[0].why, "stop"));
    assert_non_null(strstr(ws.w[0].why, "start"));
    assert_non_null(strstr(ws.w[1].why, "stop"));
    assert_int_equal(l.server_limit, 16);
    assert_int_equal(l.thread_limit, 64);

    /* Unchanged across the restart, or first pass: no warning. */
    hyb_limits_defaults(&l);
    assert_int_equal(run_check(&l, &ws, 16, 64), 0);
    hyb_limits_defaults(&l);
    l.server_limit = 32;
    assert_int_equal(run_check(&l, &ws, 0, 0), 0);
    assert_int_equal(l.server_limit, 32);

    /* Clamped value compared with the first one: 30000 -> 20000 == first. */
    hyb_limits_defaults(&l);
    l.server_limit = 30000;
    assert_int_equal(run_check(&l, &ws, 20000, 0), 1);
    expect_warning(&ws, 0, "ServerLimit", 30000, 20000);
}

static void test_threads_per_child(void **state)
{
    hyb_limits_t l;
    warnings_t ws;

    (void)state;
    hyb_limits_defaults(&l);
    l.threads_per_child = 80;
    l.max_workers = 640;
    assert_int_equal(run_check(&l, &ws, 0, 0), 1);
    expect_warning(&ws, 0, "ThreadsPerChild", 80, 64);
    assert_non_null(strstr(ws.w[0].why, "ThreadLimit"));
    assert_int_equal(l.threads_per_child, 64);
    assert_int_equal(l.active_daemons_limit, 10);

    hyb_limits_defaults(&l);
    l.threads_per_child = 0;
    l.max_workers = 16;
    assert_int_equal(run_check(&l, &ws, 0, 0), 1);
    expect_warning(&ws, 0, "ThreadsPerChild", 0, 1);
    assert_int_equal(l.active_daemons_limit, 16);
}

static void test_max_workers_minimum_and_rounding(void **state)
{
    hyb_limits_t l;
    warnings_t ws;

    (void)state;
    hyb_limits_defaults(&l);
    l.max_workers = 17;
    assert_int_equal(run_check(&l, &ws, 0, 0), 1);
    expect_warning(&ws, 0, "MaxRequestWorkers", 17, 25);
    assert_int_equal(l.max_workers, 25);
    assert_int_equal(l.active_daemons_limit, 1);

    hyb_limits_defaults(&l);
    l.max_workers = 110;
    assert_int_equal(run_check(&l, &ws, 0, 0), 1);
    expect_warning(&ws, 0, "MaxRequestWorkers", 110, 100);
    assert_non_null(strstr(ws.w[0].why, "multiple"));
    assert_int_equal(l.max_workers, 100);
    assert_int_equal(l.active_daemons_limit, 4);

    hyb_limits_defaults(&l);
    l.max_workers = 150;
    assert_int_equal(run_check(&l, &ws, 0, 0), 0);
    assert_int_equal(l.active_daemons_limit, 6);
}

static void test_max_workers_above_server_limit(void **state)
{
    hyb_limits_t l;
    warnings_t ws;

    (void)state;
    hyb_limits_defaults(&l);
    l.server_limit = 4;
    l.max_workers = 200;
    assert_int_equal(run_check(&l, &ws, 0, 0), 1);
    expect_warning(&ws, 0, "MaxRequestWorkers", 200, 100);
    assert_non_null(strstr(ws.w[0].why, "ServerLimit"));
    assert_int_equal(l.active_daemons_limit, 4);
    assert_int_equal(l.max_workers, 100);

    /* Rounding first, then the ServerLimit cap. */
    hyb_limits_defaults(&l);
    l.max_workers = 1010;
    assert_int_equal(run_check(&l, &ws, 0, 0), 2);
    expect_warning(&ws, 0, "MaxRequestWorkers", 1010, 1000);
    expect_warning(&ws, 1, "MaxRequestWorkers", 1000, 400);
    assert_int_equal(l.active_daemons_limit, 16);
}

static void test_start_and_min_spare(void **state)
{
    hyb_limits_t l;
    warnings_t ws;

    (void)state;
    hyb_limits_defaults(&l);
    l.start_servers = 0;
    l.min_spare_threads = 0;
    l.max_spare_threads = 0;        /* no warning: left to the caller */
    assert_int_equal(run_check(&l, &ws, 0, 0), 2);
    expect_warning(&ws, 0, "StartServers", 0, 1);
    expect_warning(&ws, 1, "MinSpareThreads", 0, 1);
    assert_int_equal(l.start_servers, 1);
    assert_int_equal(l.min_spare_threads, 1);
    assert_int_equal(l.max_spare_threads, 0);

    hyb_limits_defaults(&l);
    l.start_servers = -3;
    l.min_spare_threads = -7;
    assert_int_equal(run_check(&l, &ws, 0, 0), 2);
    expect_warning(&ws, 0, "StartServers", -3, 1);
    expect_warning(&ws, 1, "MinSpareThreads", -7, 1);
    /* StartServers above the number of children is not checked here. */
    hyb_limits_defaults(&l);
    l.start_servers = 100;
    assert_int_equal(run_check(&l, &ws, 0, 0), 0);
}

/* Everything wrong at once: the warnings come in event's order. */
static void test_check_order(void **state)
{
    hyb_limits_t l;
    warnings_t ws;

    (void)state;
    hyb_limits_defaults(&l);
    l.min_spare_threads = 0;
    l.start_servers = 0;
    l.max_workers = 0;
    l.threads_per_child = 3;
    l.thread_limit = 0;
    l.server_limit = 0;
    assert_int_equal(run_check(&l, &ws, 0, 0), 6);
    expect_warning(&ws, 0, "ServerLimit", 0, 1);
    expect_warning(&ws, 1, "ThreadLimit", 0, 1);
    expect_warning(&ws, 2, "ThreadsPerChild", 3, 1);   /* clamped TL */
    expect_warning(&ws, 3, "MaxRequestWorkers", 0, 1); /* clamped TPC */
    expect_warning(&ws, 4, "StartServers", 0, 1);
    expect_warning(&ws, 5, "MinSpareThreads", 0, 1);
    assert_int_equal(l.active_daemons_limit, 1);
}

static void test_null_warn_fn(void **state)
{
    hyb_limits_t l;

    (void)state;
    hyb_limits_defaults(&l);
    l.server_limit = 0;
    l.start_servers = 0;
    assert_int_equal(hyb_limits_check(&l, 0, 0, NULL, NULL), 3);
    assert_int_equal(l.server_limit, 1);
    assert_int_equal(l.start_servers, 1);
}

/* ------------------------------------------------------------------ */

static void test_parse_factor_ok(void **state)
{
    double f = -1;

    (void)state;
    assert_null(hyb_limits_parse_factor("2", &f));
    assert_true(f == 2.0);
    assert_null(hyb_limits_parse_factor("0.5", &f));
    assert_true(f == 1.0);
    assert_null(hyb_limits_parse_factor("1.5", &f));
    assert_true(f == 1.5);
    assert_null(hyb_limits_parse_factor("1e-9", &f));
    assert_true(f == 1.0);
    assert_null(hyb_limits_parse_factor("10", &f));
    assert_true(f == 10.0);
}

static void test_parse_factor_rejects(void **state)
{
    static const char *const bad[] = {
        "0", "-1", "abc", "2x", "nan", "", "inf", "-inf", "1e999",
        "0.0", "2 ", "-0.5",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        double f = 42.0;
        const char *err = hyb_limits_parse_factor(bad[i], &f);

        if (!err) {
            fail_msg("\"%s\" was accepted", bad[i]);
        }
        assert_non_null(strstr(err, "AsyncRequestWorkerFactor"));
        assert_non_null(strstr(err, "must be a positive number"));
        assert_true(f == 42.0);             /* untouched on error */
    }
}


static const struct CMUnitTest limits_tests[] = {
    cmocka_unit_test(test_defaults),
    cmocka_unit_test(test_unset_filled),
    cmocka_unit_test(test_minus_one_is_clamped),
    cmocka_unit_test(test_server_limit),
    cmocka_unit_test(test_thread_limit),
    cmocka_unit_test(test_restart_change_ignored),
    cmocka_unit_test(test_threads_per_child),
    cmocka_unit_test(test_max_workers_minimum_and_rounding),
    cmocka_unit_test(test_max_workers_above_server_limit),
    cmocka_unit_test(test_start_and_min_spare),
    cmocka_unit_test(test_check_order),
    cmocka_unit_test(test_null_warn_fn),
    cmocka_unit_test(test_parse_factor_ok),
    cmocka_unit_test(test_parse_factor_rejects),
};

HYB_TEST_GROUP(hyb_test_limits, limits_tests);
