/* test_stats.c - the pure transitions the listener applies to its slot's
 * counters (stats.c): why the child accepts or not and when that counts a
 * deferral, when a child is saturated, and what a new child of a slot
 * forgets.  The counters' arithmetic and the formatters are in
 * test_metrics.c. */
#include "hyb_test.h"

#include <string.h>

#include "../../fdqueue.h"
#include "../../stats.h"

/* What accept.c's hyb_l_accept_reason does with the answer: publish on
 * change, count a deferral on entry. */
static void apply(hyb_stats_slot_t *s, hyb_accept_state_e want)
{
    hyb_accept_state_e cur = hyb_stats_accept_state(s);
    int deferral;
    hyb_accept_state_e next = hyb_stats_accept_next(cur, want, &deferral);

    if (next != cur) {
        if (deferral) {
            hyb_stats_inc(s, HYB_STAT_DEFERRALS);
        }
        hyb_stats_set_accept_state(s, next);
    }
}

static void test_accept_next_table(void **state)
{
    int cur, want, d;

    (void)state;
    for (cur = 0; cur < HYB_ACCEPT_NSTATES; cur++) {
        for (want = 0; want < HYB_ACCEPT_NSTATES; want++) {
            hyb_accept_state_e next = hyb_stats_accept_next(
                (hyb_accept_state_e)cur, (hyb_accept_state_e)want, &d);
            if (cur == HYB_ACCEPT_STOPPING || want == HYB_ACCEPT_UNKNOWN) {
                assert_int_equal(next, cur);        /* final / no news */
            }
            else {
                assert_int_equal(next, want);
            }
            /* a deferral is the entry into deferring, nothing else */
            assert_int_equal(d, next == HYB_ACCEPT_DEFER
                                && cur != HYB_ACCEPT_DEFER);
        }
    }
    /* garbage asked for changes nothing */
    assert_int_equal(hyb_stats_accept_next(HYB_ACCEPT_BUSY,
                                           (hyb_accept_state_e)77, &d),
                     HYB_ACCEPT_BUSY);
    assert_int_equal(d, 0);
}

static void test_deferral_counts_episodes(void **state)
{
    hyb_stats_slot_t s;
    int i;

    (void)state;
    memset(&s, 0, sizeof(s));
    apply(&s, HYB_ACCEPT_YES);
    for (i = 0; i < 10; i++) {          /* ten rounds of one episode */
        apply(&s, HYB_ACCEPT_DEFER);
    }
    assert_int_equal(s.c[HYB_STAT_DEFERRALS], 1);
    assert_int_equal(hyb_stats_accept_state(&s), HYB_ACCEPT_DEFER);
    apply(&s, HYB_ACCEPT_YES);          /* the sibling got busier */
    apply(&s, HYB_ACCEPT_DEFER);        /* a second episode */
    apply(&s, HYB_ACCEPT_BUSY);         /* then work waits here */
    apply(&s, HYB_ACCEPT_DEFER);        /* and a third */
    assert_int_equal(s.c[HYB_STAT_DEFERRALS], 3);
    apply(&s, HYB_ACCEPT_FD_PAUSE);
    assert_int_equal(hyb_stats_accept_state(&s), HYB_ACCEPT_FD_PAUSE);
    apply(&s, HYB_ACCEPT_STOPPING);
    apply(&s, HYB_ACCEPT_DEFER);        /* a stopping child says stopping */
    apply(&s, HYB_ACCEPT_YES);
    assert_int_equal(hyb_stats_accept_state(&s), HYB_ACCEPT_STOPPING);
    assert_int_equal(s.c[HYB_STAT_DEFERRALS], 3);
}

static int load_of(apr_uint32_t length, apr_uint32_t waiting,
                   apr_uint32_t claimed)
{
    hyb_queue_snap_t q = { length, waiting, 0, claimed, 0 };

    return hyb_queue_load_of(&q);
}

static void test_saturated(void **state)
{
    (void)state;
    assert_false(hyb_stats_saturated(load_of(0, 2, 0), 0));   /* idle */
    assert_false(hyb_stats_saturated(load_of(0, 0, 0), 0));   /* all busy */
    /* pushed, a waiter signalled and on its way: a worker will take it */
    assert_false(hyb_stats_saturated(load_of(1, 1, 1), 0));
    assert_true(hyb_stats_saturated(load_of(1, 0, 0), 0));    /* waits */
    assert_true(hyb_stats_saturated(load_of(3, 2, 2), 0));
    /* the accept token alone is no work */
    assert_false(hyb_stats_saturated(load_of(1, 0, 0), 1));
    assert_true(hyb_stats_saturated(load_of(2, 0, 0), 1));
}

static void test_listener_start_forgets_the_old_child(void **state)
{
    hyb_stats_slot_t s;
    apr_time_t t = apr_time_from_sec(1000);

    (void)state;
    memset(&s, 0, sizeof(s));
    hyb_stats_saturation(&s, 1, t);             /* the old child dies here */
    hyb_stats_set_accept_state(&s, HYB_ACCEPT_STOPPING);
    hyb_stats_listener_start(&s);
    assert_int_equal(hyb_stats_accept_state(&s), HYB_ACCEPT_UNKNOWN);
    hyb_stats_saturation(&s, 0, t + apr_time_from_sec(3600));
    assert_int_equal(s.c[HYB_STAT_SAT_EPISODES], 1);     /* kept */
    assert_int_equal(s.c[HYB_STAT_SAT_USEC], 0);         /* not an hour */
    hyb_stats_saturation(&s, 1, t + 10);
    hyb_stats_saturation(&s, 0, t + 20);
    assert_int_equal(s.c[HYB_STAT_SAT_EPISODES], 2);
    assert_int_equal(s.c[HYB_STAT_SAT_USEC], 10);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_accept_next_table),
    cmocka_unit_test(test_deferral_counts_episodes),
    cmocka_unit_test(test_saturated),
    cmocka_unit_test(test_listener_start_forgets_the_old_child),
};

HYB_TEST_GROUP(hyb_test_stats, tests);
