/* test_iptab.c - per-address counters: counts, removal at zero, growth,
 * and deletion inside probe runs (backward shift) against a model. */
#include <string.h>

#include "hyb_test.h"

#include "../../iptab.h"

static void key4(unsigned char k[4], unsigned v)
{
    k[0] = 127; k[1] = (unsigned char)(v >> 16);
    k[2] = (unsigned char)(v >> 8); k[3] = (unsigned char)v;
}

static void test_count_up_and_down(void **state)
{
    hyb_iptab_t *t = hyb_iptab_create();
    unsigned char a[4] = { 127, 0, 0, 1 }, b[16] = { 0 };

    (void)state;
    b[15] = 1;                                  /* ::1 */
    assert_int_equal(hyb_iptab_inc(t, a, 4), 1);
    assert_int_equal(hyb_iptab_inc(t, a, 4), 2);
    assert_int_equal(hyb_iptab_inc(t, b, 16), 1);
    assert_int_equal(hyb_iptab_get(t, a, 4), 2);
    assert_int_equal(hyb_iptab_size(t), 2);
    assert_int_equal(hyb_iptab_dec(t, a, 4), 1);
    assert_int_equal(hyb_iptab_dec(t, a, 4), 0);
    assert_int_equal(hyb_iptab_size(t), 1);     /* gone at zero */
    assert_int_equal(hyb_iptab_get(t, a, 4), 0);
    assert_int_equal(hyb_iptab_dec(t, a, 4), 0);    /* not counted: no-op */
    assert_int_equal(hyb_iptab_get(t, b, 16), 1);
    /* same bytes, different length: different keys */
    assert_int_equal(hyb_iptab_inc(t, b, 4), 1);
    assert_int_equal(hyb_iptab_get(t, b, 16), 1);
    assert_int_equal(hyb_iptab_inc(t, a, 0), -1);
    assert_int_equal(hyb_iptab_inc(t, b, 17), -1);
    hyb_iptab_destroy(t);
}

/* Many keys, interleaved increments and decrements, checked against a
 * plain array after every step: exercises growth and backward-shift
 * deletion in long probe runs. */
static void test_against_model(void **state)
{
    enum { N = 3000 };
    static int model[N];
    hyb_iptab_t *t = hyb_iptab_create();
    unsigned seed = 12345, step, live = 0;
    unsigned char k[4];

    (void)state;
    memset(model, 0, sizeof(model));
    for (step = 0; step < 200000; step++) {
        unsigned v;
        seed = seed * 1103515245u + 12345u;
        v = (seed >> 8) % N;
        key4(k, v);
        if ((seed >> 4) & 1 || !model[v]) {
            live += !model[v];
            assert_int_equal(hyb_iptab_inc(t, k, 4), ++model[v]);
        }
        else {
            assert_int_equal(hyb_iptab_dec(t, k, 4), --model[v]);
            live -= !model[v];
        }
        if (step % 997 == 0) {
            unsigned i;
            assert_int_equal(hyb_iptab_size(t), live);
            for (i = 0; i < N; i++) {
                key4(k, i);
                assert_int_equal(hyb_iptab_get(t, k, 4), model[i]);
            }
        }
    }
    hyb_iptab_destroy(t);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_count_up_and_down),
    cmocka_unit_test(test_against_model),
};

HYB_TEST_GROUP(hyb_test_iptab, tests);
