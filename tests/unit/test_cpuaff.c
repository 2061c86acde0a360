/* test_cpuaff.c - HybridCPUAffinity's rule (cpuaff.c): which CPU a slot
 * gets out of the CPUs httpd may use, and the ranges text of the log line.
 */
#include "../../cpuaff.h"
#include "hyb_test.h"

static void set_of(cpu_set_t *s, const int *cpus, int n)
{
    int i;

    CPU_ZERO(s);
    for (i = 0; i < n; i++) {
        CPU_SET(cpus[i], s);
    }
}

static void test_slots_spread_and_wrap(void **state)
{
    static const int two[] = { 0, 1 };
    cpu_set_t s;

    (void)state;
    set_of(&s, two, 2);
    assert_int_equal(hyb_cpu_for_slot(0, &s), 0);
    assert_int_equal(hyb_cpu_for_slot(1, &s), 1);
    assert_int_equal(hyb_cpu_for_slot(2, &s), 0);
    assert_int_equal(hyb_cpu_for_slot(3, &s), 1);
    assert_int_equal(hyb_cpu_for_slot(1001, &s), 1);
}

/* httpd started under taskset (or a cgroup cpuset): only those CPUs, in
 * ascending order, whatever their numbers. */
static void test_only_allowed_cpus(void **state)
{
    static const int some[] = { 3, 5, 9 };
    static const int one[] = { 7 };
    cpu_set_t s;

    (void)state;
    set_of(&s, some, 3);
    assert_int_equal(hyb_cpu_for_slot(0, &s), 3);
    assert_int_equal(hyb_cpu_for_slot(1, &s), 5);
    assert_int_equal(hyb_cpu_for_slot(2, &s), 9);
    assert_int_equal(hyb_cpu_for_slot(3, &s), 3);
    set_of(&s, one, 1);
    assert_int_equal(hyb_cpu_for_slot(0, &s), 7);
    assert_int_equal(hyb_cpu_for_slot(5, &s), 7);
}

static void test_nothing_to_choose(void **state)
{
    static const int two[] = { 0, 1 };
    cpu_set_t s;

    (void)state;
    CPU_ZERO(&s);
    assert_int_equal(hyb_cpu_for_slot(0, &s), -1);
    set_of(&s, two, 2);
    assert_int_equal(hyb_cpu_for_slot(-1, &s), -1);
}

static void test_ranges_text(void **state)
{
    static const int a[] = { 0, 1, 2, 3, 6 };
    static const int b[] = { 5 };
    static const int c[] = { 0, 2, 4, 5 };
    apr_pool_t *p = *state;
    cpu_set_t s;

    set_of(&s, a, 5);
    assert_string_equal(hyb_cpuaff_ranges(p, &s), "0-3,6");
    set_of(&s, b, 1);
    assert_string_equal(hyb_cpuaff_ranges(p, &s), "5");
    set_of(&s, c, 4);
    assert_string_equal(hyb_cpuaff_ranges(p, &s), "0,2,4-5");
    CPU_ZERO(&s);
    assert_string_equal(hyb_cpuaff_ranges(p, &s), "");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_slots_spread_and_wrap),
    cmocka_unit_test(test_only_allowed_cpus),
    cmocka_unit_test(test_nothing_to_choose),
    cmocka_unit_test_setup_teardown(test_ranges_text, hyb_test_pool_setup,
                                    hyb_test_pool_teardown),
};

HYB_TEST_GROUP(hyb_test_cpuaff, tests);
