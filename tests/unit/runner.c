/* runner.c - the unit-test runner: runs every group with cmocka and ends
 * with exactly one line "N passed, N failed" (the CI parses it).
 *
 * Owns: APR initialisation, the group list, the pass/fail totals and a
 * watchdog (SIGALRM) that turns a hung test into a failed run that still
 * prints the closing line.
 *
 * Threads: main thread only; test groups may start and join threads.
 * Environment: HYB_TEST_WATCHDOG=<seconds> (default 300, 0 disables).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_general.h>

#include "hyb_test.h"

static const hyb_test_group_t *const groups[] = {
    &hyb_test_fdqueue,
    &hyb_test_fdgate,
    &hyb_test_tqueue,
    &hyb_test_inbox,
    &hyb_test_limits,
    &hyb_test_headscan,
    &hyb_test_headtime,
    &hyb_test_iptab,
    &hyb_test_handoff,
    &hyb_test_fdbudget,
    &hyb_test_metrics,
    &hyb_test_stats,
    &hyb_test_admit,
    &hyb_test_sock,
    &hyb_test_cpuaff,
    &hyb_test_lsnap,
};
#define NGROUPS (sizeof(groups) / sizeof(groups[0]))

/* Written by main, read by the signal handler. */
static volatile sig_atomic_t total_tests;
static volatile sig_atomic_t passed_so_far;

int hyb_test_pool_setup(void **state)
{
    apr_pool_t *p;

    if (apr_pool_create(&p, NULL) != APR_SUCCESS) {
        return -1;
    }
    *state = p;
    return 0;
}

int hyb_test_pool_teardown(void **state)
{
    apr_pool_destroy(*state);
    return 0;
}

int hyb_test_wait_until(hyb_test_pred_fn *pred, void *arg,
                        apr_interval_time_t timeout)
{
    apr_time_t deadline = apr_time_now() + timeout;

    while (!pred(arg)) {
        if (apr_time_now() >= deadline) {
            return pred(arg);
        }
        apr_sleep(100);
    }
    return 1;
}

/* Async-signal-safe decimal formatting into buf; returns the length. */
static size_t fmt_uint(char *buf, unsigned long v)
{
    char tmp[24];
    size_t n = 0, i;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (i = 0; i < n; i++) {
        buf[i] = tmp[n - 1 - i];
    }
    return n;
}

/* SIGALRM: everything not passed yet counts as failed. */
static void watchdog_fired(int sig)
{
    static const char msg[] = "\nwatchdog: a test hung, giving up\n";
    char line[80];
    size_t n;
    ssize_t unused;

    (void)sig;
    unused = write(STDOUT_FILENO, msg, sizeof(msg) - 1);
    n = fmt_uint(line, (unsigned long)passed_so_far);
    memcpy(line + n, " passed, ", 9);
    n += 9;
    n += fmt_uint(line + n, (unsigned long)(total_tests - passed_so_far));
    memcpy(line + n, " failed\n", 8);
    n += 8;
    unused = write(STDOUT_FILENO, line, n);
    (void)unused;
    _exit(2);
}

static void arm_watchdog(void)
{
    const char *env = getenv("HYB_TEST_WATCHDOG");
    unsigned int secs = env ? (unsigned int)strtoul(env, NULL, 10) : 300;

    if (secs) {
        signal(SIGALRM, watchdog_fired);
        alarm(secs);
    }
}

int main(void)
{
    size_t i, passed = 0, total = 0;

    if (apr_initialize() != APR_SUCCESS) {
        fprintf(stderr, "apr_initialize() failed\n");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    for (i = 0; i < NGROUPS; i++) {
        total += groups[i]->count;
    }
    total_tests = (sig_atomic_t)total;
    arm_watchdog();
    for (i = 0; i < NGROUPS; i++) {
        const hyb_test_group_t *g = groups[i];
        int rc = _cmocka_run_group_tests(g->name, g->tests, g->count,
                                         NULL, NULL);
        size_t f = rc < 0 ? g->count : (size_t)rc;

        passed += g->count - (f > g->count ? g->count : f);
        passed_so_far = (sig_atomic_t)passed;
    }
    alarm(0);
    apr_terminate();
    fflush(stderr);
    fflush(stdout);
    printf("%zu passed, %zu failed\n", passed, total - passed);
    fflush(stdout);
    return passed == total ? 0 : 1;
}
