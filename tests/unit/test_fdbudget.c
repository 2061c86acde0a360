/* test_fdbudget.c - the descriptor budget (fdbudget.c): the reserve rule,
 * admission and its hysteresis as a table, the episode rule for logging,
 * when a recount is due, and the count of open descriptors itself.
 */
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include "hyb_test.h"
#include "../../fdbudget.h"

#define SEC(s) apr_time_from_sec(s)
#define T0     SEC(1000)

static void test_reserve_rule(void **state)
{
    static const struct {
        long limit;
        int threads;
        long reserve;
        int clamped;
    } t[] = {
        { 1024, 25, 25 * HYB_FDB_PER_WORKER + HYB_FDB_SLACK, 0 },
        { 65536, 64, 64 * HYB_FDB_PER_WORKER + HYB_FDB_SLACK, 0 },
        { 256, 25, 25 * HYB_FDB_PER_WORKER + HYB_FDB_SLACK, 0 },
        { 256, 64, 128, 1 },            /* too small: half the limit */
        { 64, 25, 32, 1 },
        { 0, 10, 10 * HYB_FDB_PER_WORKER + HYB_FDB_SLACK, 0 },  /* unknown */
        { 1024, 0, HYB_FDB_PER_WORKER + HYB_FDB_SLACK, 0 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        int clamped = -1;
        assert_int_equal(hyb_fdb_reserve(t[i].limit, t[i].threads, &clamped),
                         t[i].reserve);
        assert_int_equal(clamped, t[i].clamped);
    }
}

/* One step of a budget: (open at the count, connections now) and what
 * check() says, applied in order to one hyb_fdb_t with limit 256 and 25
 * threads (reserve 91, hysteresis 22). */
static void test_admission_table(void **state)
{
    static const struct {
        long counted;           /* < 0: no recount this step */
        long conns;
        hyb_fdb_verdict_e want;
    } t[] = {
        { 40, 0, HYB_FDB_ADMIT },       /* far below */
        { -1, 100, HYB_FDB_ADMIT },     /* 140 + 1 + 91 = 232 */
        { -1, 124, HYB_FDB_ADMIT },     /* 164 + 1 + 91 = 256: the last */
        { -1, 125, HYB_FDB_PAUSE },     /* 165 + 1 + 91 = 257 */
        { -1, 125, HYB_FDB_HOLD },
        { -1, 124, HYB_FDB_HOLD },      /* one closed: not yet */
        { -1, 104, HYB_FDB_HOLD },      /* 144 + 91 + 22 = 257 */
        { -1, 103, HYB_FDB_RESUME },    /* 143 + 91 + 22 = 256 */
        { -1, 103, HYB_FDB_ADMIT },
        { 200, 103, HYB_FDB_PAUSE_QUIET },  /* modules opened 57 more */
        { 60, 0, HYB_FDB_RESUME },
    };
    hyb_fdb_t b;
    size_t i;

    (void)state;
    hyb_fdb_init(&b, 25);
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        if (t[i].counted >= 0) {
            hyb_fdb_counted(&b, 256, t[i].counted, t[i].conns, T0 + (long)i, 0, 25);
        }
        assert_int_equal(b.reserve, 91);
        if (hyb_fdb_check(&b, t[i].conns, T0 + (long)i) != t[i].want) {
            fail_msg("step %u: got %d, want %d", (unsigned)i,
                     (int)hyb_fdb_check(&b, t[i].conns, T0 + (long)i),
                     (int)t[i].want);
        }
    }
}

/* A pause long after the last resume is a new episode, logged again. */
static void test_episodes(void **state)
{
    hyb_fdb_t b;

    (void)state;
    hyb_fdb_init(&b, 1);
    hyb_fdb_counted(&b, 100, 90, 0, T0, 0, 1);
    assert_int_equal(hyb_fdb_check(&b, 0, T0), HYB_FDB_PAUSE);
    assert_int_equal(hyb_fdb_check(&b, -80, T0 + SEC(5)), HYB_FDB_RESUME);
    assert_int_equal(hyb_fdb_check(&b, 0, T0 + SEC(6)), HYB_FDB_PAUSE_QUIET);
    assert_int_equal(hyb_fdb_check(&b, -80, T0 + SEC(7)), HYB_FDB_RESUME);
    assert_int_equal(hyb_fdb_check(&b, 0, T0 + SEC(7) + HYB_FDB_EPISODE_GAP),
                     HYB_FDB_PAUSE);
}

/* No count possible (no /proc) or no limit: everything is admitted. */
static void test_unknown_admits(void **state)
{
    hyb_fdb_t b;

    (void)state;
    hyb_fdb_init(&b, 25);
    hyb_fdb_counted(&b, 256, -1, 0, T0, 0, 25);
    assert_int_equal(hyb_fdb_check(&b, 100000, T0), HYB_FDB_ADMIT);
    assert_false(hyb_fdb_count_due(&b, 100000, T0 + SEC(100)));
    hyb_fdb_counted(&b, 0, 10, 0, T0, 0, 25);
    assert_int_equal(hyb_fdb_check(&b, 100000, T0), HYB_FDB_ADMIT);
    hyb_fdb_counted(&b, LONG_MAX, 10, 0, T0, 0, 25);   /* RLIM_INFINITY */
    assert_int_equal(hyb_fdb_check(&b, 1000000, T0), HYB_FDB_ADMIT);
}

static void test_count_due(void **state)
{
    hyb_fdb_t b;

    (void)state;
    hyb_fdb_init(&b, 10);               /* reserve 46 */
    assert_true(hyb_fdb_count_due(&b, 0, T0));          /* never counted */
    hyb_fdb_counted(&b, 1024, 50, 0, T0, 0, 10);
    assert_false(hyb_fdb_count_due(&b, 0, T0 + HYB_FDB_NEAR_EVERY));
    assert_true(hyb_fdb_count_due(&b, 0, T0 + HYB_FDB_FAR_EVERY));
    /* near: 50 + 900 + 2 * 46 >= 1024 */
    assert_false(hyb_fdb_count_due(&b, 900, T0 + HYB_FDB_NEAR_EVERY - 1));
    assert_true(hyb_fdb_count_due(&b, 900, T0 + HYB_FDB_NEAR_EVERY));
    /* a count that took 10 ms is not repeated within 50 times that */
    hyb_fdb_counted(&b, 100000, 20000, 0, T0, apr_time_from_msec(10), 10);
    assert_false(hyb_fdb_count_due(&b, 79950, T0 + apr_time_from_msec(499)));
    assert_true(hyb_fdb_count_due(&b, 79950, T0 + apr_time_from_msec(500)));
    assert_false(hyb_fdb_count_due(&b, 0, T0 + HYB_FDB_FAR_EVERY - 1));
    assert_true(hyb_fdb_count_due(&b, 0, T0 + HYB_FDB_FAR_EVERY));
}

static void test_estimate_follows_conns(void **state)
{
    hyb_fdb_t b;

    (void)state;
    hyb_fdb_init(&b, 10);
    hyb_fdb_counted(&b, 1024, 50, 20, T0, 0, 10);
    assert_int_equal(hyb_fdb_estimate(&b, 20), 50);
    assert_int_equal(hyb_fdb_estimate(&b, 30), 60);
    assert_int_equal(hyb_fdb_estimate(&b, 0), 30);
    assert_int_equal(hyb_fdb_estimate(&b, -100), 0);
}

static void test_count_open_sees_new_descriptors(void **state)
{
    long before, after;
    int p[2];

    (void)state;
    before = hyb_fdb_count_open();
    assert_true(before >= 3);
    assert_int_equal(pipe(p), 0);
    after = hyb_fdb_count_open();
    close(p[0]);
    close(p[1]);
    assert_int_equal(after, before + 2);
    assert_int_equal(hyb_fdb_count_open(), before);
}

static const struct CMUnitTest fdbudget_tests[] = {
    cmocka_unit_test(test_reserve_rule),
    cmocka_unit_test(test_admission_table),
    cmocka_unit_test(test_episodes),
    cmocka_unit_test(test_unknown_admits),
    cmocka_unit_test(test_count_due),
    cmocka_unit_test(test_estimate_follows_conns),
    cmocka_unit_test(test_count_open_sees_new_descriptors),
};

HYB_TEST_GROUP(hyb_test_fdbudget, fdbudget_tests);
