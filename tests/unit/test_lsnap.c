/* test_lsnap.c - the listener's connection snapshot (lsnap.c): when to
 * refresh, rows and their address text, the rows left out per state, the
 * seqlock (a round trip, a reader that meets a write under way, garbage
 * from a bad child, and a writer and a reader racing on two threads). */
#include "hyb_test.h"

#include <string.h>

#include <apr_thread_proc.h>

#include "../../lsnap.h"

#define SEC(n) apr_time_from_sec(n)

static void test_due(void **state)
{
    apr_time_t t = SEC(1000);

    (void)state;
    assert_false(hyb_lsnap_due(0, t, 0, 0, 5));             /* Off */
    assert_true(hyb_lsnap_due(1, t, 0, 0, 0));              /* never */
    assert_false(hyb_lsnap_due(1, t, t - SEC(1) + 1, 3, 3));
    assert_true(hyb_lsnap_due(1, t, t - SEC(1), 3, 3));     /* a second */
    assert_true(hyb_lsnap_due(1, t, t + 5, 3, 3));          /* clock back */
    assert_true(hyb_lsnap_due(1, t, t - 10, 3, 0));         /* all gone */
    assert_false(hyb_lsnap_due(1, t, t - 10, 0, 0));        /* was empty */
    assert_false(hyb_lsnap_due(0, t, t - 10, 3, 0));
}

static void test_row_and_addr(void **state)
{
    hyb_lsnap_row_t row;
    char buf[HYB_LSNAP_ADDRLEN];
    char big[100];

    (void)state;
    hyb_lsnap_row_set(&row, HYB_MX_GATHERING, SEC(7), 17, "127.0.0.1", 40000);
    assert_int_equal(row.f.state, HYB_MX_GATHERING);
    assert_true(row.f.since == SEC(7));
    assert_int_equal(row.f.bytes, 17);
    assert_string_equal(hyb_lsnap_addr(buf, &row), "127.0.0.1:40000");
    hyb_lsnap_row_set(&row, HYB_MX_KEEPALIVE, 0, 0,
                      "2001:db8:ffff:ffff:ffff:ffff:255.255.255.255", 65535);
    assert_string_equal(hyb_lsnap_addr(buf, &row),
                        "[2001:db8:ffff:ffff:ffff:ffff:255.255.255.255]:65535");
    hyb_lsnap_row_set(&row, HYB_MX_CLOSING, 0, 0, NULL, 1);
    assert_string_equal(hyb_lsnap_addr(buf, &row), "-");
    memset(big, '1', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    hyb_lsnap_row_set(&row, HYB_MX_CLOSING, 0, 0, big, 1);   /* truncated */
    assert_int_equal(strlen(row.f.ip), HYB_LSNAP_IPLEN);
    memset(row.f.ip, 'x', sizeof(row.f.ip));                /* unterminated */
    assert_int_equal(strlen(hyb_lsnap_addr(buf, &row)), HYB_LSNAP_IPLEN + 2);
    assert_string_equal(hyb_lsnap_state_name(HYB_MX_WAITIO), "wait-io");
    assert_string_equal(hyb_lsnap_state_name(HYB_MX_WRITING), "write-completion");
    assert_string_equal(hyb_lsnap_state_name(HYB_MX_WORKER), "?");
    assert_string_equal(hyb_lsnap_state_name(250), "?");
}

static void test_more(void **state)
{
    static hyb_lsnap_t s;
    apr_uint64_t more[HYB_MX_WORKER];
    int i;

    (void)state;
    memset(&s, 0, sizeof(s));
    for (i = 0; i < HYB_LSNAP_ROWS; i++) {
        hyb_lsnap_row_set(&s.rows[i], i < 20 ? HYB_MX_GATHERING : HYB_MX_KEEPALIVE,
                          0, 0, "10.0.0.1", 1);
    }
    s.h.nrows = HYB_LSNAP_ROWS;
    s.h.count[HYB_MX_GATHERING] = 20;
    s.h.count[HYB_MX_KEEPALIVE] = 200;
    s.h.count[HYB_MX_CLOSING] = 3;
    assert_int_equal(hyb_lsnap_more(&s, more), 120 + 3);
    assert_int_equal(more[HYB_MX_GATHERING], 0);
    assert_int_equal(more[HYB_MX_KEEPALIVE], 120);
    assert_int_equal(more[HYB_MX_CLOSING], 3);
    assert_int_equal(more[HYB_MX_WRITING], 0);
    s.h.count[HYB_MX_KEEPALIVE] = 10;       /* fewer than shown: never < 0 */
    assert_int_equal(hyb_lsnap_more(&s, more), 3);
    s.h.nrows = 1000;                       /* bounded */
    assert_int_equal(hyb_lsnap_more(&s, more), 3);
}

static void test_publish_read(void **state)
{
    static hyb_lsnap_area_t a;
    static hyb_lsnap_t w, r;

    (void)state;
    memset(&a, 0, sizeof(a));
    memset(&w, 0, sizeof(w));
    memset(&r, 0xee, sizeof(r));
    w.h.pid = 4242;
    w.h.taken = SEC(5);
    w.h.nrows = 2;
    w.h.count[HYB_MX_GATHERING] = 1;
    w.h.count[HYB_MX_KEEPALIVE] = 7;
    hyb_lsnap_row_set(&w.rows[0], HYB_MX_GATHERING, SEC(3), 30, "::1", 5);
    hyb_lsnap_row_set(&w.rows[1], HYB_MX_KEEPALIVE, SEC(4), 0, "1.2.3.4", 6);
    hyb_lsnap_publish(&a, &w);
    assert_int_equal(a.seq, 2);
    assert_true(hyb_lsnap_read(&a, &r, 1));
    assert_int_equal(r.h.pid, 4242);
    assert_int_equal(r.h.nrows, 2);
    assert_int_equal(r.h.count[HYB_MX_KEEPALIVE], 7);
    assert_memory_equal(&r.rows[0], &w.rows[0], 2 * sizeof(r.rows[0]));

    /* A writer that died in the middle: odd for good.  The reader gives
     * up after its tries; the next writer (a new child) repairs it. */
    a.seq = 7;
    assert_false(hyb_lsnap_read(&a, &r, 3));
    hyb_lsnap_publish(&a, &w);
    assert_int_equal(a.seq, 8);
    assert_true(hyb_lsnap_read(&a, &r, 1));

    /* Garbage: row count bounded, strings terminated, states checked. */
    a.s.h.nrows = 1u << 30;
    memset(a.s.rows[0].f.ip, 'z', sizeof(a.s.rows[0].f.ip));
    a.s.rows[1].f.state = 77;
    assert_true(hyb_lsnap_read(&a, &r, 1));
    assert_int_equal(r.h.nrows, HYB_LSNAP_ROWS);
    assert_int_equal(strlen(r.rows[0].f.ip), HYB_LSNAP_IPLEN);
    assert_string_equal(hyb_lsnap_state_name(r.rows[1].f.state), "?");
}

/* ---- a writer and a reader racing ---------------------------------------- */

typedef struct race_t {
    hyb_lsnap_area_t a;
    hyb_lsnap_t w, r;
    volatile apr_uint32_t stop;
    apr_uint64_t reads, busy, torn, written;
} race_t;

/* Every publish n: nrows n % 100, each row and the head carry n. */
static void *APR_THREAD_FUNC race_writer(apr_thread_t *t, void *arg)
{
    race_t *x = arg;
    apr_uint64_t n;

    (void)t;
    for (n = 1; !__atomic_load_n(&x->stop, __ATOMIC_RELAXED); n++) {
        apr_uint64_t i;
        x->w.h.taken = n;
        x->w.h.nrows = n % HYB_LSNAP_ROWS;
        for (i = 0; i < x->w.h.nrows; i++) {
            hyb_lsnap_row_set(&x->w.rows[i], HYB_MX_KEEPALIVE, (apr_time_t)n,
                              (apr_uint32_t)n, "127.0.0.1", (apr_uint16_t)n);
        }
        hyb_lsnap_publish(&x->a, &x->w);
    }
    x->written = n;
    return NULL;
}

static int race_check(const hyb_lsnap_t *s)
{
    apr_uint64_t i;

    if (s->h.taken && s->h.nrows != s->h.taken % HYB_LSNAP_ROWS) {
        return 0;
    }
    for (i = 0; i < s->h.nrows; i++) {
        if ((apr_uint64_t)s->rows[i].f.since != s->h.taken
            || s->rows[i].f.bytes != (apr_uint32_t)s->h.taken) {
            return 0;
        }
    }
    return 1;
}

static void test_race(void **state)
{
    static race_t x;
    apr_pool_t *p = *state;
    apr_thread_t *th;
    apr_status_t rv;
    apr_time_t end = apr_time_now() + apr_time_from_msec(300);

    memset(&x, 0, sizeof(x));
    assert_int_equal(apr_thread_create(&th, NULL, race_writer, &x, p), APR_SUCCESS);
    while (apr_time_now() < end) {
        if (!hyb_lsnap_read(&x.a, &x.r, HYB_LSNAP_TRIES)) {
            x.busy++;
            continue;
        }
        x.reads++;
        x.torn += !race_check(&x.r);
    }
    __atomic_store_n(&x.stop, 1, __ATOMIC_RELAXED);
    apr_thread_join(&rv, th);
    assert_true(x.reads > 0);
    assert_true(x.written > 1);
    assert_int_equal(x.torn, 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_due),
    cmocka_unit_test(test_row_and_addr),
    cmocka_unit_test(test_more),
    cmocka_unit_test(test_publish_read),
    cmocka_unit_test_setup_teardown(test_race, hyb_test_pool_setup,
                                    hyb_test_pool_teardown),
};
HYB_TEST_GROUP(hyb_test_lsnap, tests);
