/* test_headtime.c - RequestReadTimeout parsing and merging, and when an
 * incomplete head is due (mod_reqtimeout's model, see headtime.h). */
#include "hyb_test.h"

#include <string.h>

#include "../../headtime.h"

#define S(x) apr_time_from_sec(x)
#define MS(x) ((apr_time_t)(x) * 1000)

static hyb_rrt_t parse(const char *w)
{
    hyb_rrt_t r;

    memset(&r, 0, sizeof(r));
    hyb_rrt_parse_word(w, &r);
    return r;
}

static void test_parse_header_forms(void **state)
{
    hyb_rrt_t r;

    (void)state;
    r = parse("header=20-40,MinRate=500");
    assert_int_equal(r.header.set, 1);
    assert_int_equal(r.header.timeout, 20);
    assert_int_equal(r.header.max_timeout, 40);
    assert_int_equal(r.header.min_rate, 500);
    assert_int_equal(r.handshake.set, 0);
    r = parse("HEADER=10,minrate=1");
    assert_int_equal(r.header.timeout, 10);
    assert_int_equal(r.header.max_timeout, 0);
    assert_int_equal(r.header.min_rate, 1);
    r = parse("header=0");
    assert_int_equal(r.header.set, 1);
    assert_int_equal(r.header.timeout, 0);
    r = parse("Handshake=5-10,MinRate=100");
    assert_int_equal(r.handshake.set, 1);
    assert_int_equal(r.handshake.timeout, 5);
    assert_int_equal(r.handshake.max_timeout, 10);
    assert_int_equal(r.handshake.min_rate, 100);
    assert_int_equal(r.header.set, 0);
}

static void test_parse_replaces_one_stage(void **state)
{
    hyb_rrt_t r = parse("header=5-9,MinRate=100");

    (void)state;
    hyb_rrt_parse_word("body=20,MinRate=500", &r);
    hyb_rrt_parse_word("handshake=5", &r);
    assert_int_equal(r.header.timeout, 5);
    assert_int_equal(r.header.max_timeout, 9);
    assert_int_equal(r.header.min_rate, 100);
    assert_int_equal(r.handshake.timeout, 5);
    hyb_rrt_parse_word("header=3", &r);     /* replaces the whole stage */
    assert_int_equal(r.header.timeout, 3);
    assert_int_equal(r.header.max_timeout, 0);
    assert_int_equal(r.header.min_rate, 0);
    assert_int_equal(r.handshake.timeout, 5);
}

static void test_merge_per_stage(void **state)
{
    hyb_rrt_t main_r = parse("handshake=1"), vh = parse("header=6"), out;

    (void)state;
    hyb_rrt_merge(&main_r, &vh, &out);
    assert_int_equal(out.handshake.timeout, 1);     /* inherited */
    assert_int_equal(out.header.timeout, 6);        /* its own */
    memset(&vh, 0, sizeof(vh));
    hyb_rrt_parse_word("handshake=0", &vh);
    hyb_rrt_merge(&main_r, &vh, &out);
    assert_int_equal(out.handshake.set, 1);         /* off, written */
    assert_int_equal(out.handshake.timeout, 0);
    assert_int_equal(out.header.set, 0);
}

static void test_timeout_sources(void **state)
{
    hyb_rrt_t unset, off = parse("header=0"), set = parse("header=8"),
              hs = parse("handshake=2");
    hyb_head_timeout_t t;

    (void)state;
    memset(&unset, 0, sizeof(unset));
    hyb_head_timeout_from(&set, 0, 0, S(300), &t);
    assert_true(t.timeout == 0 && t.sock_timeout == S(300));   /* not loaded */
    hyb_head_timeout_from(&unset, 0, 1, S(300), &t);
    assert_true(t.timeout == S(20));                    /* its defaults */
    assert_true(t.max_timeout == S(40));
    assert_true(t.per_byte == APR_USEC_PER_SEC / 500);
    hyb_head_timeout_from(&off, 0, 1, S(60), &t);
    assert_true(t.timeout == 0 && t.sock_timeout == S(60));    /* header=0 */
    hyb_head_timeout_from(&set, 0, 1, S(60), &t);
    assert_true(t.timeout == S(8));
    assert_true(t.max_timeout == 0 && t.per_byte == 0);
    /* handshake: off unless written */
    hyb_head_timeout_from(&unset, 1, 1, S(60), &t);
    assert_true(t.timeout == 0 && t.sock_timeout == S(60));
    hyb_head_timeout_from(&hs, 1, 1, S(60), &t);
    assert_true(t.timeout == S(2));
}

static void test_deadline_minrate(void **state)
{
    hyb_rrt_t rrt = parse("header=20-40,MinRate=500");
    hyb_head_timeout_t t;
    apr_time_t start = S(1000);

    (void)state;
    hyb_head_timeout_from(&rrt, 0, 1, 0, &t);
    assert_true(hyb_head_deadline(&t, start, 0) == start + S(20));
    /* 500 bytes buy one more second */
    assert_true(hyb_head_deadline(&t, start, 500) == start + S(21));
    /* capped at 40 s */
    assert_true(hyb_head_deadline(&t, start, 1000000) == start + S(40));
    /* no cap: MinRate without a maximum extends without bound */
    rrt = parse("header=20,MinRate=500");
    hyb_head_timeout_from(&rrt, 0, 1, 0, &t);
    assert_true(hyb_head_deadline(&t, start, 50000) == start + S(120));
    /* no MinRate: fixed */
    rrt = parse("header=20");
    hyb_head_timeout_from(&rrt, 0, 1, 0, &t);
    assert_true(hyb_head_deadline(&t, start, 50000) == start + S(20));
}

static void test_counted(void **state)
{
    apr_uint32_t b, a;

    (void)state;
    /* a head's lines: the open line's newest bytes wait for the next wake */
    hyb_head_counted(1, 0, 1024, 0, &b, &a);        /* 1 KB, no LF */
    assert_int_equal(b, 0);
    assert_int_equal(a, 0);
    hyb_head_counted(1, 0, 35, 35, &b, &a);         /* whole lines only */
    assert_int_equal(b, 0);
    assert_int_equal(a, 35);
    hyb_head_counted(1, 35, 36, 35, &b, &a);        /* one more byte */
    assert_int_equal(b, 35);
    assert_int_equal(a, 35);
    hyb_head_counted(1, 40, 41, 20, &b, &a);
    assert_int_equal(b, 40);
    assert_int_equal(a, 40);
    /* a record: read as it comes */
    hyb_head_counted(0, 1, 60, 0, &b, &a);
    assert_int_equal(b, 60);
    assert_int_equal(a, 60);
}

static void test_due(void **state)
{
    hyb_rrt_t rrt = parse("header=2-4,MinRate=500");
    hyb_head_timeout_t t;
    apr_time_t start = S(1000);

    (void)state;
    hyb_head_timeout_from(&rrt, 0, 1, S(300), &t);
    /* a partial head at once: 35 bytes of whole lines, 2.07 s */
    assert_true(hyb_head_due(&t, start, start, 0, 35) == start + MS(2070));
    /* 1 KB without LF at once: the first wait is not extended */
    assert_true(hyb_head_due(&t, start, start, 0, 0) == start + S(2));
    /* a byte 0.5 s before the deadline: mod_reqtimeout waits 1 s */
    assert_true(hyb_head_due(&t, start, start + MS(1500), 0, 0)
                == start + MS(2500));
    /* a byte after the deadline: at once */
    assert_true(hyb_head_due(&t, start, start + MS(2100), 0, 0)
                == start + MS(2100));
    /* but not while earlier bytes extended it */
    assert_true(hyb_head_due(&t, start, start + MS(2100), 100, 100)
                == start + MS(3100));
    /* the socket timeout bounds each wait */
    t.sock_timeout = S(1);
    assert_true(hyb_head_due(&t, start, start, 0, 0) == start + S(1));
    /* no stage: Timeout from the last byte */
    rrt = parse("header=0");
    hyb_head_timeout_from(&rrt, 0, 1, S(3), &t);
    assert_true(hyb_head_due(&t, start, start + S(7), 5, 5) == start + S(10));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse_header_forms),
    cmocka_unit_test(test_parse_replaces_one_stage),
    cmocka_unit_test(test_merge_per_stage),
    cmocka_unit_test(test_timeout_sources),
    cmocka_unit_test(test_deadline_minrate),
    cmocka_unit_test(test_counted),
    cmocka_unit_test(test_due),
};

HYB_TEST_GROUP(hyb_test_headtime, tests);
