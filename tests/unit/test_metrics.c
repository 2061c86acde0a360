/* test_metrics.c - the per-slot counters (stats.c) and the Prometheus and
 * ?auto formatters (metrics.c). */
#include "hyb_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <apr_thread_proc.h>

#include "../../stats.h"
#include "../../metrics.h"

/* status.c defines it in the module; the formatters never call it. */
hyb_stats_slot_t *hyb_stats_for(int slot)
{
    static hyb_stats_slot_t s;

    (void)slot;
    return &s;
}

static void test_wait_bucket_bounds(void **state)
{
    int i;

    (void)state;
    assert_int_equal(hyb_stats_wait_bucket(0), 0);
    assert_int_equal(hyb_stats_wait_bucket(1000), 0);      /* le="0.001" */
    assert_int_equal(hyb_stats_wait_bucket(1001), 1);
    assert_int_equal(hyb_stats_wait_bucket(2500), 1);
    assert_int_equal(hyb_stats_wait_bucket(2501), 2);
    assert_int_equal(hyb_stats_wait_bucket(10000000), HYB_STATS_WAIT_BOUNDS - 1);
    assert_int_equal(hyb_stats_wait_bucket(10000001), HYB_STATS_WAIT_BOUNDS);
    assert_int_equal(hyb_stats_wait_bucket(APR_INT64_C(1) << 50),
                     HYB_STATS_WAIT_BOUNDS);
    for (i = 0; i < HYB_STATS_WAIT_BOUNDS; i++) {
        apr_interval_time_t b = hyb_stats_wait_bound_usec[i];
        assert_int_equal(hyb_stats_wait_bucket(b), i);
        assert_int_equal(hyb_stats_wait_bucket(b + 1), i + 1);
        if (i) {    /* log scale: each bound 2 to 2.5 times the one before */
            apr_interval_time_t prev = hyb_stats_wait_bound_usec[i - 1];
            assert_true(b >= 2 * prev && 2 * b <= 5 * prev);
        }
    }
}

static void test_observe_and_snapshot(void **state)
{
    hyb_stats_slot_t s;
    hyb_stats_snap_t snap;

    (void)state;
    memset(&s, 0, sizeof(s));
    hyb_stats_observe_wait(&s, 10);
    hyb_stats_observe_wait(&s, -5);         /* clock stepped back: 0 */
    hyb_stats_observe_wait(&s, 3000);
    hyb_stats_observe_wait(&s, apr_time_from_sec(60));
    hyb_stats_inc(&s, HYB_STAT_ACCEPTS);
    hyb_stats_add(&s, HYB_STAT_ACCEPTS, 4);
    hyb_stats_set_accept_state(&s, HYB_ACCEPT_DEFER);
    hyb_stats_snapshot(&s, &snap);
    assert_int_equal(snap.wait_count, 4);
    assert_int_equal(snap.wait_bucket[0], 2);
    assert_int_equal(snap.wait_bucket[2], 1);
    assert_int_equal(snap.wait_bucket[HYB_STATS_WAIT_BOUNDS], 1);
    assert_true(snap.wait_sum_usec == 10 + 3000 + apr_time_from_sec(60));
    assert_int_equal(snap.c[HYB_STAT_ACCEPTS], 5);
    assert_int_equal(snap.accept_state, HYB_ACCEPT_DEFER);
    s.accept_state = 99;                    /* garbage from a bad child */
    hyb_stats_snapshot(&s, &snap);
    assert_int_equal(snap.accept_state, HYB_ACCEPT_UNKNOWN);
}

static void test_saturation_episodes(void **state)
{
    hyb_stats_slot_t s;
    hyb_stats_snap_t snap;
    apr_time_t t = apr_time_from_sec(1000);

    (void)state;
    memset(&s, 0, sizeof(s));
    hyb_stats_saturation(&s, 0, t);                 /* nothing open */
    hyb_stats_saturation(&s, 1, t);
    hyb_stats_saturation(&s, 1, t + 500000);        /* same episode */
    hyb_stats_snapshot(&s, &snap);
    assert_int_equal(snap.c[HYB_STAT_SAT_EPISODES], 1);
    assert_int_equal(snap.c[HYB_STAT_SAT_USEC], 0);
    assert_true(hyb_stats_sat_current(&snap, t + 700000) == 700000);
    hyb_stats_saturation(&s, 0, t + 2000000);
    hyb_stats_saturation(&s, 1, t + 3000000);
    hyb_stats_saturation(&s, 0, t + 3250000);
    hyb_stats_snapshot(&s, &snap);
    assert_int_equal(snap.c[HYB_STAT_SAT_EPISODES], 2);
    assert_int_equal(snap.c[HYB_STAT_SAT_USEC], 2250000);
    assert_true(hyb_stats_sat_current(&snap, t + 4000000) == 0);
}

#define OBS_THREADS 4
#define OBS_EACH    20000

static void *APR_THREAD_FUNC observer(apr_thread_t *thd, void *arg)
{
    int i;

    (void)thd;
    for (i = 0; i < OBS_EACH; i++) {
        hyb_stats_observe_wait(arg, (i % 7) * 1000);
    }
    return NULL;
}

/* Workers observe concurrently: nothing is lost. */
static void test_observe_from_threads(void **state)
{
    static hyb_stats_slot_t s;
    apr_thread_t *t[OBS_THREADS];
    hyb_stats_snap_t snap;
    apr_status_t rv;
    int i;

    memset(&s, 0, sizeof(s));
    for (i = 0; i < OBS_THREADS; i++) {
        assert_int_equal(apr_thread_create(&t[i], NULL, observer, &s, *state),
                         APR_SUCCESS);
    }
    for (i = 0; i < OBS_THREADS; i++) {
        apr_thread_join(&rv, t[i]);
    }
    hyb_stats_snapshot(&s, &snap);
    assert_int_equal(snap.wait_count, OBS_THREADS * OBS_EACH);
}

static void test_seconds_format(void **state)
{
    char b[32];

    (void)state;
    assert_string_equal(hyb_mx_seconds(b, 0), "0");
    assert_string_equal(hyb_mx_seconds(b, 1000), "0.001");
    assert_string_equal(hyb_mx_seconds(b, 2500), "0.0025");
    assert_string_equal(hyb_mx_seconds(b, 1000000), "1");
    assert_string_equal(hyb_mx_seconds(b, 1500000), "1.5");
    assert_string_equal(hyb_mx_seconds(b, 10000000), "10");
    assert_string_equal(hyb_mx_seconds(b, 1), "0.000001");
}

/* ---- formatter --------------------------------------------------------- */

typedef struct outbuf_t {
    char *s;
    apr_size_t len, cap;
} outbuf_t;

static void out_write(void *baton, const char *s, apr_size_t len)
{
    outbuf_t *o = baton;

    if (o->len + len + 1 > o->cap) {
        o->cap = (o->len + len + 1) * 2;
        o->s = realloc(o->s, o->cap);
    }
    memcpy(o->s + o->len, s, len);
    o->len += len;
    o->s[o->len] = '\0';
}

static void two_children(hyb_mx_child_t k[3])
{
    memset(k, 0, 3 * sizeof(*k));
    k[0].slot = 0;
    k[0].pid = 100;
    k[0].accepting = 1;
    k[0].conns = 130;
    k[0].parked[HYB_MX_GATHERING] = 20;
    k[0].parked[HYB_MX_KEEPALIVE] = 100;
    k[0].parked[HYB_MX_CLOSING] = 3;
    k[0].busy = 5;
    k[0].idle = 20;
    k[0].load = -20;
    k[0].st.c[HYB_STAT_ACCEPTS] = 7;
    k[0].st.c[HYB_STAT_SAT_USEC] = 1500000;
    k[0].st.wait_bucket[0] = 5;
    k[0].st.wait_bucket[3] = 2;
    k[0].st.wait_count = 7;
    k[0].st.wait_sum_usec = 20000;
    k[0].st.accept_state = HYB_ACCEPT_YES;
    k[1].slot = 2;
    k[1].pid = 101;
    k[1].conns = 2;
    k[1].parked[HYB_MX_KEEPALIVE] = 5;     /* torn read: more than conns */
    k[1].load = 3;
    k[1].st.c[HYB_STAT_ACCEPTS] = 1;
    k[2].slot = 3;                          /* gone, counters remain */
    k[2].st.c[HYB_STAT_ACCEPTS] = 40;
}

/* The value of the sample line that starts with `prefix` (-1: none). */
static double sample(const char *text, const char *prefix)
{
    const char *p = text;
    size_t n = strlen(prefix);

    while ((p = strstr(p, prefix)) != NULL) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ') {
            return strtod(p + n + 1, NULL);
        }
        p += n;
    }
    return -1;
}

/* Every sample follows the TYPE of its family; no family twice. */
static void check_families(char *text)
{
    char *save = NULL, *line, family[128] = "", seen[4096] = " ";

    for (line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char name[128];
        if (!strncmp(line, "# HELP ", 7)) {
            continue;
        }
        if (sscanf(line, "# TYPE %127s", name) == 1) {
            char key[132];
            apr_snprintf(key, sizeof(key), " %s ", name);
            assert_null(strstr(seen, key));
            apr_cpystrn(seen + strlen(seen), key + 1, sizeof(seen) - strlen(seen));
            apr_cpystrn(family, name, sizeof(family));
            continue;
        }
        assert_int_equal(line[0] != '#', 1);
        assert_int_equal(strncmp(line, family, strlen(family)), 0);
    }
}

static void test_prometheus_format(void **state)
{
    hyb_mx_child_t k[3];
    outbuf_t o = { NULL, 0, 0 };
    char *copy;

    (void)state;
    two_children(k);
    hyb_mx_format(k, 3, apr_time_from_sec(5), out_write, &o);
    assert_non_null(o.s);
    assert_non_null(strstr(o.s, "# TYPE hybrid_queue_wait_seconds histogram\n"));
    assert_non_null(strstr(o.s, "# TYPE hybrid_accepts_total counter\n"));
    assert_true(sample(o.s, "hybrid_connections{slot=\"0\",state=\"gathering\"}") == 20);
    assert_true(sample(o.s, "hybrid_connections{slot=\"0\",state=\"worker\"}") == 7);
    assert_true(sample(o.s, "hybrid_connections{slot=\"2\",state=\"worker\"}") == 0);
    assert_true(sample(o.s, "hybrid_connections_open{slot=\"0\"}") == 130);
    assert_true(sample(o.s, "hybrid_queue_load{slot=\"2\"}") == 3);
    assert_true(sample(o.s, "hybrid_workers{slot=\"0\",state=\"idle\"}") == 20);
    assert_true(sample(o.s, "hybrid_accepts_total{slot=\"3\"}") == 40);
    assert_true(sample(o.s, "hybrid_connections_open{slot=\"3\"}") == -1);
    assert_true(sample(o.s, "hybrid_saturation_seconds_total{slot=\"0\"}") == 1.5);
    assert_true(sample(o.s, "hybrid_child_accept_state{slot=\"0\",state=\"accepting\"}") == 1);
    assert_true(sample(o.s, "hybrid_child_accept_state{slot=\"0\",state=\"deferring\"}") == 0);
    assert_true(sample(o.s, "hybrid_child_accept_state{slot=\"2\",state=\"accepting\"}") == -1);
    /* cumulative buckets; +Inf equals _count */
    assert_true(sample(o.s, "hybrid_queue_wait_seconds_bucket{slot=\"0\",le=\"0.001\"}") == 5);
    assert_true(sample(o.s, "hybrid_queue_wait_seconds_bucket{slot=\"0\",le=\"0.005\"}") == 5);
    assert_true(sample(o.s, "hybrid_queue_wait_seconds_bucket{slot=\"0\",le=\"0.01\"}") == 7);
    assert_true(sample(o.s, "hybrid_queue_wait_seconds_bucket{slot=\"0\",le=\"+Inf\"}") == 7);
    assert_true(sample(o.s, "hybrid_queue_wait_seconds_count{slot=\"0\"}") == 7);
    assert_true(sample(o.s, "hybrid_queue_wait_seconds_sum{slot=\"0\"}") == 0.02);
    copy = strdup(o.s);
    check_families(copy);
    free(copy);
    free(o.s);
}

static void test_prometheus_no_children(void **state)
{
    outbuf_t o = { NULL, 0, 0 };

    (void)state;
    hyb_mx_format(NULL, 0, 0, out_write, &o);
    assert_non_null(strstr(o.s, "# TYPE hybrid_connections gauge\n"));
    assert_null(strstr(o.s, "{slot="));
    free(o.s);
}

static void test_auto_keys(void **state)
{
    hyb_mx_child_t k[3];
    outbuf_t o = { NULL, 0, 0 };

    (void)state;
    two_children(k);
    k[1].st.sat_since = apr_time_from_sec(1);
    hyb_mx_format_auto(k, 3, apr_time_from_sec(5), out_write, &o);
    assert_non_null(strstr(o.s, "ConnsAsyncGathering: 20\n"));
    assert_non_null(strstr(o.s, "HybridConnsInWorker: 7\n"));
    assert_non_null(strstr(o.s, "HybridAccepts: 48\n"));
    assert_non_null(strstr(o.s, "HybridSaturationSeconds: 1.5\n"));
    assert_non_null(strstr(o.s, "HybridProcessesSaturated: 1\n"));
    assert_non_null(strstr(o.s, "HybridQueueWaitCount: 7\n"));
    assert_non_null(strstr(o.s, "HybridQueueWaitSeconds: 0.02\n"));
    assert_string_equal(hyb_mx_auto_key(HYB_STAT_HEAD_TIMEOUTS),
                        "HybridHeadTimeouts");
    free(o.s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_wait_bucket_bounds),
    cmocka_unit_test(test_observe_and_snapshot),
    cmocka_unit_test(test_saturation_episodes),
    cmocka_unit_test_setup_teardown(test_observe_from_threads,
                                    hyb_test_pool_setup, hyb_test_pool_teardown),
    cmocka_unit_test(test_seconds_format),
    cmocka_unit_test(test_prometheus_format),
    cmocka_unit_test(test_prometheus_no_children),
    cmocka_unit_test(test_auto_keys),
};

HYB_TEST_GROUP(hyb_test_metrics, tests);
