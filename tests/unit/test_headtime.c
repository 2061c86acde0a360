/* test_headtime.c - RequestReadTimeout header= parsing and head deadlines. */
#include "hyb_test.h"

#include "../../headtime.h"

static hyb_rrt_t parse(const char *w)
{
    hyb_rrt_t r = { 0, 0, 0, 0 };
    hyb_rrt_parse_word(w, &r);
    return r;
}

static void test_parse_header_forms(void **state)
{
    hyb_rrt_t r;

    (void)state;
    r = parse("header=20-40,MinRate=500");
    assert_int_equal(r.set, 1);
    assert_int_equal(r.timeout, 20);
    assert_int_equal(r.max_timeout, 40);
    assert_int_equal(r.min_rate, 500);
    r = parse("HEADER=10,minrate=1");
    assert_int_equal(r.timeout, 10);
    assert_int_equal(r.max_timeout, 0);
    assert_int_equal(r.min_rate, 1);
    r = parse("header=7");
    assert_int_equal(r.set, 1);
    assert_int_equal(r.timeout, 7);
    assert_int_equal(r.min_rate, 0);
    r = parse("header=0");
    assert_int_equal(r.set, 1);
    assert_int_equal(r.timeout, 0);
}

static void test_parse_ignores_other_stages(void **state)
{
    hyb_rrt_t r = { 1, 5, 9, 100 };

    (void)state;
    hyb_rrt_parse_word("body=20,MinRate=500", &r);
    hyb_rrt_parse_word("handshake=5", &r);
    assert_int_equal(r.timeout, 5);
    assert_int_equal(r.max_timeout, 9);
    assert_int_equal(r.min_rate, 100);
    hyb_rrt_parse_word("header=3", &r);     /* replaces the whole stage */
    assert_int_equal(r.timeout, 3);
    assert_int_equal(r.max_timeout, 0);
    assert_int_equal(r.min_rate, 0);
}

static void test_timeout_sources(void **state)
{
    hyb_rrt_t unset = { 0, 0, 0, 0 }, off = { 1, 0, 0, 0 }, set = { 1, 8, 0, 0 };
    hyb_head_timeout_t t;

    (void)state;
    hyb_head_timeout_from(&set, 0, apr_time_from_sec(300), &t);
    assert_true(t.timeout == apr_time_from_sec(300));   /* not loaded */
    hyb_head_timeout_from(&unset, 1, apr_time_from_sec(300), &t);
    assert_true(t.timeout == apr_time_from_sec(20));    /* its defaults */
    assert_true(t.max_timeout == apr_time_from_sec(40));
    assert_true(t.per_byte == APR_USEC_PER_SEC / 500);
    hyb_head_timeout_from(&off, 1, apr_time_from_sec(60), &t);
    assert_true(t.timeout == apr_time_from_sec(60));    /* header=0 */
    assert_true(t.per_byte == 0);
    hyb_head_timeout_from(&set, 1, apr_time_from_sec(60), &t);
    assert_true(t.timeout == apr_time_from_sec(8));
    assert_true(t.max_timeout == 0 && t.per_byte == 0);
}

static void test_deadline_minrate(void **state)
{
    hyb_rrt_t rrt = { 1, 20, 40, 500 };
    hyb_head_timeout_t t;
    apr_time_t start = apr_time_from_sec(1000);

    (void)state;
    hyb_head_timeout_from(&rrt, 1, 0, &t);
    assert_true(hyb_head_deadline(&t, start, 0) == start + apr_time_from_sec(20));
    /* 500 bytes buy one more second */
    assert_true(hyb_head_deadline(&t, start, 500) == start + apr_time_from_sec(21));
    /* capped at 40 s */
    assert_true(hyb_head_deadline(&t, start, 1000000) == start + apr_time_from_sec(40));
    /* no cap: MinRate without a maximum extends without bound */
    rrt.max_timeout = 0;
    hyb_head_timeout_from(&rrt, 1, 0, &t);
    assert_true(hyb_head_deadline(&t, start, 50000) == start + apr_time_from_sec(120));
    /* no MinRate: fixed */
    rrt.min_rate = 0;
    hyb_head_timeout_from(&rrt, 1, 0, &t);
    assert_true(hyb_head_deadline(&t, start, 50000) == start + apr_time_from_sec(20));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse_header_forms),
    cmocka_unit_test(test_parse_ignores_other_stages),
    cmocka_unit_test(test_timeout_sources),
    cmocka_unit_test(test_deadline_minrate),
};

HYB_TEST_GROUP(hyb_test_headtime, tests);
