/* test_fdgate.c - unit tests of the worker queue's wake gate (fdqueue.h).
 *
 * Owns: the fdgate test group: the one wake rule (hyb_queue_wakes_of) as a
 * table, the cap a child uses (hyb_queue_gate_cap_for), and the gate
 * applied by a queue on a fake clock: a job held back for a worker that
 * took one less than a window ago, taken by it when it comes back,
 * released to an idle waiter once the window has passed (by
 * hyb_queue_nudge, at the time the last nudge said), appended jobs waking
 * nobody until the nudge, never held by an ungated push, nor for a worker
 * that left; a nudge with nothing to wake for not reading the clock; and
 * how starved and take_waiting count a returning worker.
 *
 * Threads: each test runs on the runner's thread; a test that needs an
 * idle waiter starts one popper thread without a seat, and joins it before
 * asserting (terminating the queue to release it if it does not finish).
 * The fake clock is only read under the queue's lock and only written by
 * the runner's thread while no pop or push runs.
 */
#include <apr_atomic.h>
#include <apr_thread_proc.h>

#include "hyb_test.h"
#include "../../fdqueue.h"

#define WINDOW 1000

static apr_time_t fake_now;
static unsigned int fake_reads;

static apr_time_t fake_clock(void)
{
    fake_reads++;
    return fake_now;
}

typedef struct {
    hyb_queue_t *q;
    apr_thread_t *thd;
    volatile apr_uint32_t done;
    apr_status_t rv;
    hyb_job_t *job;
} waiter_t;

static void *APR_THREAD_FUNC waiter_main(apr_thread_t *thd, void *data)
{
    waiter_t *w = data;

    w->rv = hyb_queue_pop(w->q, &w->job);
    apr_atomic_set32(&w->done, 1);
    (void)thd;
    return NULL;
}

static int idle_is_one(void *arg)
{
    hyb_queue_snap_t s;

    hyb_queue_snapshot(arg, &s);
    return hyb_queue_idle_of(&s) == 1;
}

/* Start one waiter and wait until it waits (unsignalled). */
static void waiter_start(waiter_t *w, hyb_queue_t *q, apr_pool_t *p)
{
    w->q = q;
    w->done = 0;
    w->job = NULL;
    if (apr_thread_create(&w->thd, NULL, waiter_main, w, p)) {
        fail_msg("apr_thread_create() failed");
    }
    assert_true(hyb_test_wait_until(idle_is_one, q, HYB_TEST_SHORT));
}

static int waiter_done(void *arg)
{
    return apr_atomic_read32(&((waiter_t *)arg)->done) != 0;
}

/* 1 if the waiter returned on its own; else term the queue to free it. */
static int waiter_join(waiter_t *w)
{
    apr_status_t rv;
    int ok = hyb_test_wait_until(waiter_done, w, HYB_TEST_SHORT);

    if (!ok) {
        hyb_queue_term(w->q);
    }
    apr_thread_join(&rv, w->thd);
    return ok;
}

static hyb_queue_t *gated_queue(apr_pool_t *p, apr_uint32_t cap)
{
    hyb_queue_t *q = NULL;

    assert_int_equal(hyb_queue_create(&q, p), APR_SUCCESS);
    fake_now = 1000000;
    hyb_queue_set_gate(q, cap, WINDOW, fake_clock);
    return q;
}

/* What the listener does with a job in a round: append it, then nudge;
 * returns the nudge's recheck time. */
static apr_interval_time_t listener_round(hyb_queue_t *q, hyb_job_t *job)
{
    apr_uint32_t woken;

    assert_int_equal(hyb_queue_append(q, job), APR_SUCCESS);
    return hyb_queue_nudge(q, &woken);
}

/* The worker with `seat` takes what is queued now (the queue holds one). */
static hyb_job_t *seat_takes(hyb_queue_t *q, hyb_queue_seat_t *seat)
{
    hyb_job_t *job = NULL;

    assert_int_equal(hyb_queue_pop_at(q, seat, &job), APR_SUCCESS);
    return job;
}

static hyb_queue_snap_t snap_of(hyb_queue_t *q)
{
    hyb_queue_snap_t s;

    hyb_queue_snapshot(q, &s);
    return s;
}

/* ------------------------------------------------------------------ */

static void test_wakes_of_table(void **state)
{
    static const struct {
        hyb_queue_snap_t s;     /* length, waiting, notifying, claimed,
                                 * returning */
        apr_uint32_t cap, wakes;
    } t[] = {
        { { 0, 4, 0, 0, 0 }, 0, 0 },    /* nothing queued */
        { { 3, 5, 0, 0, 0 }, 0, 3 },    /* gate off: a waiter per job */
        { { 3, 2, 0, 0, 0 }, 0, 2 },    /* ... as many as are idle */
        { { 3, 3, 0, 2, 0 }, 0, 1 },    /* two already signalled */
        { { 2, 2, 0, 2, 0 }, 0, 0 },    /* each job has a waiter */
        { { 3, 5, 0, 0, 0 }, 1, 1 },    /* cap 1: one awake at a time */
        { { 3, 5, 0, 0, 1 }, 1, 0 },    /* the returning one is it */
        { { 3, 5, 0, 1, 0 }, 1, 0 },    /* so is a signalled one */
        { { 3, 5, 0, 0, 1 }, 2, 1 },    /* cap 2: one more */
        { { 1, 5, 0, 0, 1 }, 2, 0 },    /* the returning one takes it */
        { { 6, 5, 0, 1, 1 }, 4, 2 },    /* up to the cap */
        { { 6, 1, 0, 0, 0 }, 4, 1 },    /* ... and the idle */
        { { 2, 3, 0, 3, 0 }, 4, 0 },    /* nobody idle */
        { { 3, 0, 0, 0, 0 }, 1, 0 },    /* nobody waits */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        /* the row number in the failure message: 100 * row + wakes */
        assert_int_equal(100 * i + hyb_queue_wakes_of(&t[i].s, t[i].cap),
                         100 * i + t[i].wakes);
    }
}

/* A child's share of the CPUs, rounded up; never 0. */
static void test_gate_cap_for(void **state)
{
    (void)state;
    assert_int_equal(hyb_queue_gate_cap_for(2, 4), 1);     /* this VM */
    assert_int_equal(hyb_queue_gate_cap_for(2, 2), 1);     /* Debian's 2 */
    assert_int_equal(hyb_queue_gate_cap_for(2, 1), 2);
    assert_int_equal(hyb_queue_gate_cap_for(8, 3), 3);     /* 9 >= 8 */
    assert_int_equal(hyb_queue_gate_cap_for(16, 2), 8);
    assert_int_equal(hyb_queue_gate_cap_for(1, 6), 1);     /* pinned */
    assert_int_equal(hyb_queue_gate_cap_for(0, 2), 1);
    assert_int_equal(hyb_queue_gate_cap_for(4, 0), 1);
}

/* A job is held for a worker that took one less than a window ago; nudge
 * says when to look again, and releases it to the idle waiter then. */
static void test_held_until_window_passes(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = gated_queue(p, 1);
    hyb_job_t jobs[2] = { { NULL, 0 }, { NULL, 0 } };
    hyb_queue_seat_t seat = { NULL, NULL, NULL, 0 };
    apr_interval_time_t recheck = -1;
    apr_uint32_t woken = 9;
    waiter_t w;

    recheck = listener_round(q, &jobs[0]);
    assert_int_equal(recheck, 0);           /* nobody waits: nothing held */
    assert_ptr_equal(seat_takes(q, &seat), &jobs[0]);
    waiter_start(&w, q, p);
    fake_now += 300;
    recheck = listener_round(q, &jobs[1]);
    assert_int_equal(recheck, WINDOW - 300);
    assert_int_equal(snap_of(q).returning, 1);
    assert_int_equal(snap_of(q).claimed, 0);
    fake_now += 400;
    assert_int_equal(hyb_queue_nudge(q, &woken), WINDOW - 700);
    assert_int_equal(woken, 0);
    assert_false(waiter_done(&w));
    fake_now += WINDOW - 700;               /* the seat is a window old */
    assert_int_equal(hyb_queue_nudge(q, &woken), 0);
    assert_int_equal(woken, 1);
    assert_true(waiter_join(&w));
    assert_int_equal(w.rv, APR_SUCCESS);
    assert_ptr_equal(w.job, &jobs[1]);
}

/* The returning worker takes the job held for it; the waiter stays idle. */
static void test_returning_worker_takes_held_job(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = gated_queue(p, 1);
    hyb_job_t jobs[2] = { { NULL, 0 }, { NULL, 0 } };
    hyb_queue_seat_t seat = { NULL, NULL, NULL, 0 };
    apr_uint32_t woken = 9;
    waiter_t w;

    listener_round(q, &jobs[0]);
    assert_ptr_equal(seat_takes(q, &seat), &jobs[0]);
    waiter_start(&w, q, p);
    listener_round(q, &jobs[1]);
    fake_now += 100;
    assert_ptr_equal(seat_takes(q, &seat), &jobs[1]);   /* back for more */
    assert_int_equal(snap_of(q).returning, 1);          /* fresh again */
    assert_int_equal(hyb_queue_nudge(q, &woken), 0);    /* nothing held */
    assert_int_equal(woken, 0);
    assert_false(waiter_done(&w));
    hyb_queue_term(q);
    assert_true(waiter_join(&w));
    assert_int_equal(w.rv, APR_EOF);
}

/* A job held for a returning worker is not taken for a sibling; nor is a
 * queue starved while an idle waiter could be woken. */
static void test_held_job_is_spoken_for(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = gated_queue(p, 1);
    hyb_job_t jobs[3] = { { NULL, 7 }, { NULL, 7 }, { NULL, 7 } };
    hyb_queue_seat_t seat = { NULL, NULL, NULL, 0 };
    hyb_queue_snap_t s;
    waiter_t w;

    listener_round(q, &jobs[0]);
    seat_takes(q, &seat);
    waiter_start(&w, q, p);
    listener_round(q, &jobs[1]);
    s = snap_of(q);
    assert_false(hyb_queue_starved_of(&s));
    assert_null(hyb_queue_take_waiting(q, 7));
    listener_round(q, &jobs[2]);    /* one more than it takes */
    s = snap_of(q);
    assert_int_equal(s.length, 2);
    assert_int_equal(s.claimed, 0);             /* cap 1: still held */
    assert_false(hyb_queue_starved_of(&s));
    assert_ptr_equal(hyb_queue_take_waiting(q, 7), &jobs[2]);
    hyb_queue_term(q);
    assert_true(waiter_join(&w));
}

/* An ungated push, and any push after the worker left, wakes the waiter. */
static void test_ungated_push_and_leave(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = gated_queue(p, 1);
    hyb_job_t jobs[3] = { { NULL, 0 }, { NULL, 0 }, { NULL, 0 } };
    hyb_queue_seat_t seat = { NULL, NULL, NULL, 0 };
    apr_interval_time_t recheck = -1;
    waiter_t w;

    listener_round(q, &jobs[0]);
    seat_takes(q, &seat);
    waiter_start(&w, q, p);
    assert_int_equal(hyb_queue_push(q, &jobs[1]), APR_SUCCESS);
    assert_true(waiter_join(&w));
    assert_ptr_equal(w.job, &jobs[1]);

    waiter_start(&w, q, p);
    hyb_queue_leave(q, &seat);
    assert_int_equal(snap_of(q).returning, 0);
    recheck = listener_round(q, &jobs[2]);
    assert_int_equal(recheck, 0);
    assert_true(waiter_join(&w));
    assert_ptr_equal(w.job, &jobs[2]);
}

/* Append wakes nobody; the round's nudge wakes whom the gate says, once
 * for all the round's jobs. */
static void test_append_waits_for_nudge(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = gated_queue(p, 1);
    hyb_job_t jobs[2] = { { NULL, 0 }, { NULL, 0 } };
    apr_uint32_t woken = 9;
    waiter_t w;

    waiter_start(&w, q, p);
    assert_int_equal(hyb_queue_append(q, &jobs[0]), APR_SUCCESS);
    assert_int_equal(hyb_queue_append(q, &jobs[1]), APR_SUCCESS);
    assert_int_equal(snap_of(q).claimed, 0);
    assert_false(waiter_done(&w));
    /* w signalled; no other waiter idle, so nothing to look at again */
    assert_int_equal(hyb_queue_nudge(q, &woken), 0);
    assert_int_equal(woken, 1);                             /* cap 1 */
    assert_true(waiter_join(&w));
    assert_ptr_equal(w.job, &jobs[0]);
    hyb_queue_term(q);
    assert_int_equal(hyb_queue_append(q, &jobs[0]), APR_EOF);
}

/* The listener nudges every round; with no job that an idle waiter could
 * take, the nudge decides without counting returning workers, so it
 * reads no clock.  With one, it does. */
static void test_idle_nudge_reads_no_clock(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = gated_queue(p, 1);
    hyb_job_t jobs[3] = { { NULL, 0 }, { NULL, 0 }, { NULL, 0 } };
    hyb_queue_seat_t seat = { NULL, NULL, NULL, 0 };
    apr_uint32_t woken = 9;
    waiter_t w;

    listener_round(q, &jobs[0]);
    seat_takes(q, &seat);
    fake_reads = 0;
    assert_int_equal(hyb_queue_nudge(q, &woken), 0);    /* queue empty */
    assert_int_equal(woken, 0);
    assert_int_equal(hyb_queue_append(q, &jobs[1]), APR_SUCCESS);
    assert_int_equal(hyb_queue_nudge(q, &woken), 0);    /* no waiter */
    assert_int_equal(woken, 0);
    assert_int_equal(fake_reads, 0);
    assert_ptr_equal(seat_takes(q, &seat), &jobs[1]);
    waiter_start(&w, q, p);
    fake_reads = 0;
    assert_int_equal(hyb_queue_append(q, &jobs[2]), APR_SUCCESS);
    assert_int_equal(hyb_queue_nudge(q, &woken), WINDOW);  /* held */
    assert_int_equal(woken, 0);
    assert_true(fake_reads > 0);
    hyb_queue_term(q);
    assert_true(waiter_join(&w));
}

/* With the gate off (the default), seats change nothing. */
static void test_gate_off_by_default(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = NULL;
    hyb_job_t jobs[2] = { { NULL, 0 }, { NULL, 0 } };
    hyb_queue_seat_t seat = { NULL, NULL, NULL, 0 };
    apr_interval_time_t recheck = -1;
    waiter_t w;

    assert_int_equal(hyb_queue_create(&q, p), APR_SUCCESS);
    listener_round(q, &jobs[0]);
    seat_takes(q, &seat);
    assert_null(seat.q);            /* not counted */
    waiter_start(&w, q, p);
    recheck = listener_round(q, &jobs[1]);
    assert_int_equal(recheck, 0);
    assert_true(waiter_join(&w));
    assert_ptr_equal(w.job, &jobs[1]);
}

static const struct CMUnitTest fdgate_tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, hyb_test_pool_setup, \
                                             hyb_test_pool_teardown)
    T(test_wakes_of_table),
    T(test_gate_cap_for),
    T(test_held_until_window_passes),
    T(test_returning_worker_takes_held_job),
    T(test_held_job_is_spoken_for),
    T(test_ungated_push_and_leave),
    T(test_append_waits_for_nudge),
    T(test_idle_nudge_reads_no_clock),
    T(test_gate_off_by_default),
#undef T
};

HYB_TEST_GROUP(hyb_test_fdgate, fdgate_tests);
