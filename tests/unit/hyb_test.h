/* hyb_test.h - shared declarations of the unit-test runner.
 *
 * Owns: the group table type each test_<unit>.c exports, the per-test pool
 * fixture and small helpers for tests that start threads.
 *
 * Threads: cmocka assertions (assert_*) may only run on the thread that
 * runs the test; helper threads record results in plain fields, and the
 * test asserts on them after joining.  Thread functions return instead of
 * calling apr_thread_exit(): pthread_exit's forced unwind trips a false
 * "stack-buffer-underflow" in gcc 12's AddressSanitizer at thread exit.
 */
#ifndef HYB_TEST_H
#define HYB_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <apr_pools.h>
#include <apr_time.h>

typedef struct hyb_test_group_t {
    const char *name;
    const struct CMUnitTest *tests;
    size_t count;
} hyb_test_group_t;

#define HYB_TEST_GROUP(gname, array) \
    const hyb_test_group_t gname = { #gname, array, \
                                     sizeof(array) / sizeof((array)[0]) }

extern const hyb_test_group_t hyb_test_fdqueue;
extern const hyb_test_group_t hyb_test_fdgate;
extern const hyb_test_group_t hyb_test_tqueue;
extern const hyb_test_group_t hyb_test_inbox;
extern const hyb_test_group_t hyb_test_limits;
extern const hyb_test_group_t hyb_test_headscan;
extern const hyb_test_group_t hyb_test_headtime;
extern const hyb_test_group_t hyb_test_iptab;
extern const hyb_test_group_t hyb_test_cpuaff;
extern const hyb_test_group_t hyb_test_handoff;
extern const hyb_test_group_t hyb_test_fdbudget;
extern const hyb_test_group_t hyb_test_metrics;
extern const hyb_test_group_t hyb_test_stats;
extern const hyb_test_group_t hyb_test_admit;
extern const hyb_test_group_t hyb_test_sock;
extern const hyb_test_group_t hyb_test_lsnap;

/* Fixture: *state becomes a fresh apr_pool_t, destroyed afterwards. */
int hyb_test_pool_setup(void **state);
int hyb_test_pool_teardown(void **state);

/* Poll pred(arg) every 100us until it is true or timeout elapses;
 * returns the last value of pred. */
typedef int hyb_test_pred_fn(void *arg);
int hyb_test_wait_until(hyb_test_pred_fn *pred, void *arg,
                        apr_interval_time_t timeout);

/* Timeouts used by the thread tests: generous, so that valgrind and
 * sanitizer runs pass, yet bounded. */
#define HYB_TEST_SHORT apr_time_from_sec(5)
#define HYB_TEST_LONG  apr_time_from_sec(120)

#endif
