/* test_fdqueue.c - unit tests of fdqueue.c.
 *
 * Owns: the fdqueue test group: FIFO order, non-blocking push and wakeups,
 * a 4x4 producer/consumer stress run, interrupt_all, term, the snapshot and
 * its one definition of load, starved and idle, and the one-shot idle
 * notification, armed only by hyb_queue_arm_idle_notify_if.
 *
 * Threads: each test runs on the runner's thread and may start popper,
 * consumer and producer threads; they only record results, and every test
 * joins its threads before asserting.  If a thread does not finish in
 * time, the queue is terminated to release it and the test fails.
 */
#include <string.h>

#include <apr_atomic.h>
#include <apr_thread_proc.h>

#include "hyb_test.h"
#include "../../fdqueue.h"

#define NJOBS_SMALL 8
#define MAX_POPS 4

/* The counts the tests look at, through the snapshot (no side effect). */
static apr_uint32_t q_idlers(hyb_queue_t *q)
{
    hyb_queue_snap_t s;

    hyb_queue_snapshot(q, &s);
    return hyb_queue_idle_of(&s);
}

static apr_uint32_t q_length(hyb_queue_t *q)
{
    hyb_queue_snap_t s;

    hyb_queue_snapshot(q, &s);
    return s.length;
}

/* What the listener asks: starved (arming when so) ... */
static int q_starved(hyb_queue_t *q)
{
    hyb_queue_snap_t s;

    return hyb_queue_arm_idle_notify_if(q, hyb_queue_starved_of, &s);
}

/* ... and the exact load (arming when no worker is idle). */
static int q_load(hyb_queue_t *q)
{
    hyb_queue_snap_t s;

    hyb_queue_arm_idle_notify_if(q, hyb_queue_busy_of, &s);
    return hyb_queue_load_of(&s);
}

typedef struct {
    hyb_job_t job;
    int id;         /* index in the test's job array */
    int producer;   /* stress test: who pushed it */
    int seq;        /* stress test: position in that producer's sequence */
} test_job_t;

/* A thread doing npops pops and recording each result. */
typedef struct {
    hyb_queue_t *q;
    apr_thread_t *thd;
    int npops;
    volatile apr_uint32_t pops_done;
    volatile apr_uint32_t done;
    apr_status_t rv[MAX_POPS];
    hyb_job_t *job[MAX_POPS];
} popper_t;

static void *APR_THREAD_FUNC popper_main(apr_thread_t *thd, void *data)
{
    popper_t *pp = data;
    int i;

    for (i = 0; i < pp->npops; i++) {
        pp->job[i] = NULL;
        pp->rv[i] = hyb_queue_pop(pp->q, &pp->job[i]);
        apr_atomic_inc32(&pp->pops_done);
    }
    apr_atomic_set32(&pp->done, 1);
    (void)thd;      /* return, no apr_thread_exit: see hyb_test.h */
    return NULL;
}

static void popper_start(popper_t *pp, hyb_queue_t *q, int npops,
                         apr_pool_t *p)
{
    pp->q = q;
    pp->npops = npops;
    pp->pops_done = 0;
    pp->done = 0;
    if (apr_thread_create(&pp->thd, NULL, popper_main, pp, p)) {
        fail_msg("apr_thread_create() failed");
    }
}

typedef struct {
    popper_t *pp;
    int n;
} popper_set_t;

static int all_done(void *arg)
{
    popper_set_t *s = arg;
    int i;

    for (i = 0; i < s->n; i++) {
        if (!apr_atomic_read32(&s->pp[i].done)) {
            return 0;
        }
    }
    return 1;
}

/* Join n poppers.  Returns 1 if they all finished on their own within the
 * timeout; otherwise terminates q to release them (0). */
static int poppers_join(popper_t *pp, int n, hyb_queue_t *q)
{
    popper_set_t s = { pp, n };
    apr_status_t rv;
    int ok = hyb_test_wait_until(all_done, &s, HYB_TEST_SHORT);
    int i;

    if (!ok) {
        hyb_queue_term(q);
    }
    for (i = 0; i < n; i++) {
        apr_thread_join(&rv, pp[i].thd);
    }
    return ok;
}

typedef struct {
    hyb_queue_t *q;
    apr_uint32_t n;
} idlers_arg_t;

static int idlers_reached(void *arg)
{
    idlers_arg_t *a = arg;

    return q_idlers(a->q) == a->n;
}

/* Wait until exactly n workers wait in pop. */
static int wait_idlers(hyb_queue_t *q, apr_uint32_t n)
{
    idlers_arg_t a = { q, n };

    return hyb_test_wait_until(idlers_reached, &a, HYB_TEST_SHORT);
}

static hyb_queue_t *new_queue(apr_pool_t *p)
{
    hyb_queue_t *q = NULL;

    assert_int_equal(hyb_queue_create(&q, p), APR_SUCCESS);
    assert_non_null(q);
    return q;
}

static test_job_t *new_jobs(apr_pool_t *p, int n)
{
    test_job_t *jobs = apr_pcalloc(p, n * sizeof(*jobs));
    int i;

    for (i = 0; i < n; i++) {
        jobs[i].id = i;
    }
    return jobs;
}

/* ------------------------------------------------------------------ */

static void test_fifo_order(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = new_queue(p);
    test_job_t *jobs = new_jobs(p, NJOBS_SMALL);
    hyb_job_t *job;
    int i;

    assert_int_equal(q_length(q), 0);
    for (i = 0; i < NJOBS_SMALL; i++) {
        assert_int_equal(hyb_queue_push(q, &jobs[i].job), APR_SUCCESS);
        assert_int_equal(q_length(q), i + 1);
    }
    assert_int_equal(q_idlers(q), 0);
    for (i = 0; i < NJOBS_SMALL; i++) {
        job = NULL;
        assert_int_equal(hyb_queue_pop(q, &job), APR_SUCCESS);
        assert_ptr_equal(job, &jobs[i].job);
        assert_int_equal(q_length(q), NJOBS_SMALL - 1 - i);
    }
    /* The queue is reusable after being emptied (tail reset). */
    assert_int_equal(hyb_queue_push(q, &jobs[1].job), APR_SUCCESS);
    assert_int_equal(hyb_queue_push(q, &jobs[0].job), APR_SUCCESS);
    assert_int_equal(hyb_queue_pop(q, &job), APR_SUCCESS);
    assert_ptr_equal(job, &jobs[1].job);
    assert_int_equal(hyb_queue_pop(q, &job), APR_SUCCESS);
    assert_ptr_equal(job, &jobs[0].job);
}

static void test_push_never_blocks(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = new_queue(p);
    test_job_t *jobs = new_jobs(p, 1000);
    int i;

    /* No worker at all: every push returns at once. */
    for (i = 0; i < 1000; i++) {
        assert_int_equal(hyb_queue_push(q, &jobs[i].job), APR_SUCCESS);
    }
    assert_int_equal(q_length(q), 1000);
    assert_int_equal(q_idlers(q), 0);
}

static void test_push_wakes_waiter(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = new_queue(p);
    test_job_t *jobs = new_jobs(p, 1);
    popper_t pp = { 0 };
    int waited, finished;
    apr_uint32_t idlers_after_push;

    popper_start(&pp, q, 1, p);
    waited = wait_idlers(q, 1);
    assert_int_equal(hyb_queue_push(q, &jobs[0].job), APR_SUCCESS);
    idlers_after_push = q_idlers(q);
    finished = poppers_join(&pp, 1, q);

    assert_true(waited);
    assert_int_equal(idlers_after_push, 0);   /* the waiter was claimed */
    assert_true(finished);
    assert_int_equal(pp.rv[0], APR_SUCCESS);
    assert_ptr_equal(pp.job[0], &jobs[0].job);
    assert_int_equal(q_length(q), 0);
}

/* ------------------------------------------------------------------ */
/* Stress: 4 producers x 4 consumers x 20000 jobs per producer. */

#define NPROD 4
#define NCONS 4
#define PER_PROD 20000

typedef struct {
    hyb_queue_t *q;
    test_job_t *jobs;
    apr_uint32_t *seen;
    int index;
    apr_thread_t *thd;
    volatile apr_uint32_t done;
    int errors;         /* producer: failed pushes; consumer: EINTR/order */
    int count;          /* consumer: jobs popped */
    apr_status_t last_rv;
} stress_thread_t;

static void *APR_THREAD_FUNC producer_main(apr_thread_t *thd, void *data)
{
    stress_thread_t *t = data;
    int i;

    for (i = 0; i < PER_PROD; i++) {
        test_job_t *j = &t->jobs[t->index * PER_PROD + i];

        j->producer = t->index;
        j->seq = i;
        if (hyb_queue_push(t->q, &j->job) != APR_SUCCESS) {
            t->errors++;
        }
    }
    apr_atomic_set32(&t->done, 1);
    (void)thd;      /* return, no apr_thread_exit: see hyb_test.h */
    return NULL;
}

/* Pops until EOF.  FIFO implies each consumer sees every producer's jobs
 * in increasing seq order. */
static void *APR_THREAD_FUNC consumer_main(apr_thread_t *thd, void *data)
{
    stress_thread_t *t = data;
    int last[NPROD] = { -1, -1, -1, -1 };
    hyb_job_t *job;

    while ((t->last_rv = hyb_queue_pop(t->q, &job)) != APR_EOF) {
        test_job_t *j = (test_job_t *)job;

        if (t->last_rv != APR_SUCCESS || j->seq <= last[j->producer]) {
            t->errors++;
            continue;
        }
        last[j->producer] = j->seq;
        apr_atomic_inc32(&t->seen[j->id]);
        t->count++;
    }
    apr_atomic_set32(&t->done, 1);
    (void)thd;      /* return, no apr_thread_exit: see hyb_test.h */
    return NULL;
}

typedef struct {
    stress_thread_t *t;
    int n;
} stress_set_t;

static int stress_all_done(void *arg)
{
    stress_set_t *s = arg;
    int i;

    for (i = 0; i < s->n; i++) {
        if (!apr_atomic_read32(&s->t[i].done)) {
            return 0;
        }
    }
    return 1;
}

static void stress_start(stress_thread_t *t, int n, apr_thread_start_t fn,
                         hyb_queue_t *q, test_job_t *jobs,
                         apr_uint32_t *seen, apr_pool_t *p)
{
    int i;

    for (i = 0; i < n; i++) {
        t[i].q = q;
        t[i].jobs = jobs;
        t[i].seen = seen;
        t[i].index = i;
        if (apr_thread_create(&t[i].thd, NULL, fn, &t[i], p)) {
            fail_msg("apr_thread_create() failed");
        }
    }
}

/* Wait (bounded) for n threads, then join them.  On timeout the queue is
 * terminated to release blocked consumers (producers never block). */
static int stress_join(stress_thread_t *t, int n, hyb_queue_t *q)
{
    stress_set_t s = { t, n };
    int ok = hyb_test_wait_until(stress_all_done, &s, HYB_TEST_LONG);
    apr_status_t rv;
    int i;

    if (!ok) {
        hyb_queue_term(q);
    }
    for (i = 0; i < n; i++) {
        apr_thread_join(&rv, t[i].thd);
    }
    return ok;
}

static void stress_check(stress_thread_t *prod, stress_thread_t *cons,
                         apr_uint32_t *seen)
{
    int i, total = 0, dup_or_lost = 0;

    for (i = 0; i < NPROD; i++) {
        assert_int_equal(prod[i].errors, 0);
    }
    for (i = 0; i < NCONS; i++) {
        assert_int_equal(cons[i].errors, 0);
        assert_int_equal(cons[i].last_rv, APR_EOF);
        total += cons[i].count;
    }
    for (i = 0; i < NPROD * PER_PROD; i++) {
        dup_or_lost += seen[i] != 1;
    }
    assert_int_equal(dup_or_lost, 0);
    assert_int_equal(total, NPROD * PER_PROD);
}

static void test_stress_4x4(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = new_queue(p);
    test_job_t *jobs = new_jobs(p, NPROD * PER_PROD);
    apr_uint32_t *seen = apr_pcalloc(p, NPROD * PER_PROD * sizeof(*seen));
    stress_thread_t prod[NPROD], cons[NCONS];
    int prod_ok, cons_ok;

    memset(prod, 0, sizeof(prod));
    memset(cons, 0, sizeof(cons));
    stress_start(cons, NCONS, consumer_main, q, jobs, seen, p);
    stress_start(prod, NPROD, producer_main, q, jobs, seen, p);
    prod_ok = stress_join(prod, NPROD, q);
    hyb_queue_term(q);
    cons_ok = stress_join(cons, NCONS, q);

    assert_true(prod_ok);
    assert_true(cons_ok);
    stress_check(prod, cons, seen);
    assert_int_equal(q_length(q), 0);
}

/* ------------------------------------------------------------------ */

typedef struct {
    popper_t *pp;
    int n;
    apr_uint32_t pops;
} pops_arg_t;

static int pops_reached(void *arg)
{
    pops_arg_t *a = arg;
    int i;

    for (i = 0; i < a->n; i++) {
        if (apr_atomic_read32(&a->pp[i].pops_done) < a->pops) {
            return 0;
        }
    }
    return 1;
}

/* Three waiters get EINTR once each; their next pop waits again and gets
 * a job; an interrupt with nobody waiting affects no later pop. */
static void test_interrupt_all(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = new_queue(p);
    test_job_t *jobs = new_jobs(p, 4);
    popper_t pp[3];
    pops_arg_t first = { pp, 3, 1 };
    int i, waited, interrupted, waited_again, finished;
    hyb_job_t *job = NULL;

    memset(pp, 0, sizeof(pp));
    for (i = 0; i < 3; i++) {
        popper_start(&pp[i], q, 2, p);
    }
    waited = wait_idlers(q, 3);
    hyb_queue_interrupt_all(q);
    interrupted = hyb_test_wait_until(pops_reached, &first, HYB_TEST_SHORT);
    waited_again = wait_idlers(q, 3);
    for (i = 0; i < 3; i++) {
        hyb_queue_push(q, &jobs[i].job);
    }
    finished = poppers_join(pp, 3, q);

    assert_true(waited);
    assert_true(interrupted);
    assert_true(waited_again);
    assert_true(finished);
    for (i = 0; i < 3; i++) {
        assert_int_equal(pp[i].rv[0], APR_EINTR);
        assert_int_equal(pp[i].rv[1], APR_SUCCESS);
        assert_non_null(pp[i].job[1]);
    }
    /* Nobody waiting: the interrupt must not stick to a later pop. */
    hyb_queue_interrupt_all(q);
    hyb_queue_push(q, &jobs[3].job);
    assert_int_equal(hyb_queue_pop(q, &job), APR_SUCCESS);
    assert_ptr_equal(job, &jobs[3].job);
}

/* A worker arriving after the interrupt waits normally. */
static void test_interrupt_late_arrival(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = new_queue(p);
    test_job_t *jobs = new_jobs(p, 1);
    popper_t pp = { 0 };
    int waited, finished;

    hyb_queue_interrupt_all(q);
    popper_start(&pp, q, 1, p);
    waited = wait_idlers(q, 1);
    hyb_queue_push(q, &jobs[0].job);
    finished = poppers_join(&pp, 1, q);

    assert_true(waited);
    assert_true(finished);
    assert_int_equal(pp.rv[0], APR_SUCCESS);
    assert_ptr_equal(pp.job[0], &jobs[0].job);
}

static void test_term_drains_then_eof(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = new_queue(p);
    test_job_t *jobs = new_jobs(p, NJOBS_SMALL + 1);
    hyb_job_t *job;
    int i;

    for (i = 0; i < NJOBS_SMALL; i++) {
        assert_int_equal(hyb_queue_push(q, &jobs[i].job), APR_SUCCESS);
    }
    hyb_queue_term(q);
    assert_int_equal(hyb_queue_push(q, &jobs[NJOBS_SMALL].job), APR_EOF);
    assert_int_equal(q_length(q), NJOBS_SMALL);
    for (i = 0; i < NJOBS_SMALL; i++) {
        assert_int_equal(hyb_queue_pop(q, &job), APR_SUCCESS);
        assert_ptr_equal(job, &jobs[i].job);
    }
    assert_int_equal(hyb_queue_pop(q, &job), APR_EOF);
    assert_int_equal(hyb_queue_pop(q, &job), APR_EOF);
    hyb_queue_term(q);      /* idempotent */
    assert_int_equal(hyb_queue_pop(q, &job), APR_EOF);
}

static void test_term_wakes_all_waiters(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = new_queue(p);
    popper_t pp[3];
    popper_set_t s = { pp, 3 };
    int i, waited, finished;

    memset(pp, 0, sizeof(pp));
    for (i = 0; i < 3; i++) {
        popper_start(&pp[i], q, 1, p);
    }
    waited = wait_idlers(q, 3);
    hyb_queue_term(q);
    /* Must finish because of term itself, not poppers_join's fallback. */
    finished = hyb_test_wait_until(all_done, &s, HYB_TEST_SHORT);
    poppers_join(pp, 3, q);

    assert_true(waited);
    assert_true(finished);
    for (i = 0; i < 3; i++) {
        assert_int_equal(pp[i].rv[0], APR_EOF);
    }
    assert_int_equal(q_idlers(q), 0);
}

/* Consumers looping until EOF share out the jobs left at term. */
static void test_term_drain_by_workers(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = new_queue(p);
    test_job_t *jobs = new_jobs(p, 50);
    apr_uint32_t *seen = apr_pcalloc(p, 50 * sizeof(*seen));
    stress_thread_t cons[NCONS];
    int i, ok, total = 0;

    memset(cons, 0, sizeof(cons));
    for (i = 0; i < 50; i++) {
        jobs[i].producer = 0;
        jobs[i].seq = i;
        hyb_queue_push(q, &jobs[i].job);
    }
    hyb_queue_term(q);
    stress_start(cons, NCONS, consumer_main, q, jobs, seen, p);
    ok = stress_join(cons, NCONS, q);

    assert_true(ok);
    for (i = 0; i < NCONS; i++) {
        assert_int_equal(cons[i].last_rv, APR_EOF);
        assert_int_equal(cons[i].errors, 0);
        total += cons[i].count;
    }
    assert_int_equal(total, 50);
    for (i = 0; i < 50; i++) {
        assert_int_equal(seen[i], 1);
    }
}

/* ------------------------------------------------------------------ */

static void test_starved_no_workers(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = new_queue(p);
    test_job_t *jobs = new_jobs(p, 1);
    hyb_job_t *job;

    assert_false(q_starved(q));             /* empty */
    hyb_queue_push(q, &jobs[0].job);
    assert_true(q_starved(q));              /* nobody to take it */
    assert_int_equal(hyb_queue_pop(q, &job), APR_SUCCESS);
    assert_false(q_starved(q));
}

/* Two idle workers, two jobs: both are claimed, nothing starves. */
static void test_starved_idle_workers_take_jobs(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = new_queue(p);
    test_job_t *jobs = new_jobs(p, 2);
    popper_t pp[2];
    int waited, starved, finished;
    apr_uint32_t idlers;

    memset(pp, 0, sizeof(pp));
    popper_start(&pp[0], q, 1, p);
    popper_start(&pp[1], q, 1, p);
    waited = wait_idlers(q, 2);
    hyb_queue_push(q, &jobs[0].job);
    hyb_queue_push(q, &jobs[1].job);
    starved = q_starved(q);
    idlers = q_idlers(q);
    finished = poppers_join(pp, 2, q);

    assert_true(waited);
    assert_false(starved);
    assert_int_equal(idlers, 0);
    assert_true(finished);
    assert_int_equal(pp[0].rv[0], APR_SUCCESS);
    assert_int_equal(pp[1].rv[0], APR_SUCCESS);
    assert_ptr_not_equal(pp[0].job[0], pp[1].job[0]);
}

/* One idle worker, two jobs: one job has nobody coming for it. */
static void test_starved_more_jobs_than_woken(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = new_queue(p);
    test_job_t *jobs = new_jobs(p, 2);
    popper_t pp = { 0 };
    int waited, starved, finished;
    hyb_job_t *job = NULL;

    popper_start(&pp, q, 1, p);
    waited = wait_idlers(q, 1);
    hyb_queue_push(q, &jobs[0].job);
    hyb_queue_push(q, &jobs[1].job);
    starved = q_starved(q);
    finished = poppers_join(&pp, 1, q);

    assert_true(waited);
    assert_true(starved);
    assert_true(finished);
    assert_ptr_equal(pp.job[0], &jobs[0].job);
    assert_int_equal(hyb_queue_pop(q, &job), APR_SUCCESS);
    assert_ptr_equal(job, &jobs[1].job);
}

typedef struct {
    hyb_queue_t *q;
    volatile apr_uint32_t calls;
    volatile apr_uint32_t length_seen;
} notify_t;

/* Runs on a worker; uses the queue to prove the lock is not held (the
 * APR default mutex is not recursive: holding it would deadlock here). */
static void on_idle(void *baton)
{
    notify_t *n = baton;

    apr_atomic_set32(&n->length_seen, q_length(n->q));
    apr_atomic_inc32(&n->calls);
}

typedef struct {
    hyb_queue_t *q;
    notify_t *n;
    apr_uint32_t idlers;
    apr_uint32_t calls;
} idle_arg_t;

static int idle_reached(void *arg)
{
    idle_arg_t *a = arg;

    return q_idlers(a->q) == a->idlers
           && apr_atomic_read32(&a->n->calls) == a->calls;
}

static int wait_idle_state(hyb_queue_t *q, notify_t *n, apr_uint32_t idlers,
                           apr_uint32_t calls)
{
    idle_arg_t a = { q, n, idlers, calls };

    return hyb_test_wait_until(idle_reached, &a, HYB_TEST_SHORT);
}

/* Arms, then checks that only the first worker about to wait notifies. */
static void idle_notify_first_round(apr_pool_t *p, hyb_queue_t *q,
                                    notify_t *n, test_job_t *jobs,
                                    int *ok)
{
    popper_t pp[3];
    hyb_job_t *job;
    int i;

    memset(pp, 0, sizeof(pp));
    hyb_queue_push(q, &jobs[0].job);
    ok[0] = q_starved(q) && q_starved(q);   /* armed */
    /* Finding a job is not becoming idle: no notification. */
    ok[1] = hyb_queue_pop(q, &job) == APR_SUCCESS
            && apr_atomic_read32(&n->calls) == 0;
    popper_start(&pp[0], q, 1, p);
    ok[2] = wait_idle_state(q, n, 1, 1);
    popper_start(&pp[1], q, 1, p);
    ok[3] = wait_idle_state(q, n, 2, 1);
    ok[4] = !q_starved(q);      /* empty: false, does not arm */
    popper_start(&pp[2], q, 1, p);
    ok[5] = wait_idle_state(q, n, 3, 1);
    for (i = 0; i < 3; i++) {
        hyb_queue_push(q, &jobs[1 + i].job);
    }
    ok[6] = poppers_join(pp, 3, q);
}

/* Re-arming fires again, once. */
static void idle_notify_second_round(apr_pool_t *p, hyb_queue_t *q,
                                     notify_t *n, test_job_t *jobs,
                                     int *ok)
{
    popper_t pp = { 0 };

    hyb_queue_push(q, &jobs[4].job);
    ok[0] = q_starved(q);
    popper_start(&pp, q, 2, p);         /* 1st pop finds the job */
    ok[1] = wait_idle_state(q, n, 1, 2);
    hyb_queue_push(q, &jobs[5].job);
    ok[2] = poppers_join(&pp, 1, q);
    ok[3] = pp.rv[0] == APR_SUCCESS && pp.rv[1] == APR_SUCCESS;
}

static void test_idle_notify_once(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = new_queue(p);
    test_job_t *jobs = new_jobs(p, 6);
    notify_t n = { q, 0, 99 };
    int ok1[7] = { 0 }, ok2[4] = { 0 };
    int i;

    hyb_queue_set_idle_notify(q, on_idle, &n);
    idle_notify_first_round(p, q, &n, jobs, ok1);
    idle_notify_second_round(p, q, &n, jobs, ok2);

    for (i = 0; i < 7; i++) {
        if (!ok1[i]) {
            fail_msg("idle notify, first round, step %d failed", i);
        }
    }
    for (i = 0; i < 4; i++) {
        if (!ok2[i]) {
            fail_msg("idle notify, second round, step %d failed", i);
        }
    }
    assert_int_equal(apr_atomic_read32(&n.calls), 2);
    assert_int_equal(apr_atomic_read32(&n.length_seen), 0);
}

/* Starved with no notify fn set: arming must be harmless. */
static void test_starved_without_notify_fn(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = new_queue(p);
    test_job_t *jobs = new_jobs(p, 2);
    popper_t pp = { 0 };
    hyb_job_t *job;
    int waited, finished;

    hyb_queue_push(q, &jobs[0].job);
    assert_true(q_starved(q));
    assert_int_equal(hyb_queue_pop(q, &job), APR_SUCCESS);
    popper_start(&pp, q, 1, p);
    waited = wait_idlers(q, 1);
    hyb_queue_push(q, &jobs[1].job);
    finished = poppers_join(&pp, 1, q);
    assert_true(waited);
    assert_true(finished);
    assert_ptr_equal(pp.job[0], &jobs[1].job);
}

/* The load (jobs queued - workers waiting) and its mirror word follow
 * pushes, waits and pops: negative with idle workers, positive with jobs
 * nobody is coming for. */
static void test_load_and_mirror(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = new_queue(p);
    test_job_t *jobs = new_jobs(p, 4);
    volatile apr_int32_t word = 77;
    popper_t pp[2];
    hyb_job_t *job;
    int waited, load_idle, load_claimed, load_backlog, load_end;
    apr_int32_t seen_idle, seen_claimed, seen_backlog, seen_end;

    memset(pp, 0, sizeof(pp));
    hyb_queue_set_load_mirror(q, &word);
    assert_int_equal(word, 0);
    assert_int_equal(q_load(q), 0);         /* no worker, no job */
    popper_start(&pp[0], q, 1, p);
    popper_start(&pp[1], q, 1, p);
    waited = wait_idlers(q, 2);
    load_idle = q_load(q);
    seen_idle = word;
    hyb_queue_push(q, &jobs[0].job);                /* claims one waiter */
    load_claimed = q_load(q);
    seen_claimed = word;
    hyb_queue_push(q, &jobs[1].job);
    assert_true(poppers_join(pp, 2, q));
    hyb_queue_push(q, &jobs[2].job);                /* nobody to take these */
    hyb_queue_push(q, &jobs[3].job);
    load_backlog = q_load(q);
    seen_backlog = word;
    assert_int_equal(hyb_queue_pop(q, &job), APR_SUCCESS);
    assert_int_equal(hyb_queue_pop(q, &job), APR_SUCCESS);
    load_end = q_load(q);
    seen_end = word;

    assert_true(waited);
    assert_int_equal(load_idle, -2);
    assert_int_equal(seen_idle, -2);
    assert_true(load_claimed == -1 || load_claimed == 0);   /* 0 once the
                                                    * claimed waiter took it */
    assert_true(seen_claimed == -1 || seen_claimed == 0);
    assert_int_equal(load_backlog, 2);
    assert_int_equal(seen_backlog, 2);
    assert_int_equal(load_end, 0);
    assert_int_equal(seen_end, 0);
}

typedef struct {
    hyb_queue_t *q;
    volatile apr_uint32_t calls;
    volatile apr_uint32_t load_seen;    /* 100 + load(q) inside the fn */
} load_notify_t;

/* Runs on the worker on its way to wait, lock released: to a listener
 * woken by this call, the worker must already count as idle. */
static void on_idle_check_load(void *baton)
{
    load_notify_t *n = baton;

    apr_atomic_set32(&n->load_seen, (apr_uint32_t)(100 + q_load(n->q)));
    apr_atomic_inc32(&n->calls);
}

static int load_notified(void *arg)
{
    load_notify_t *n = arg;

    return apr_atomic_read32(&n->calls) >= 1;
}

/* A load >= 0 arms the notification; the worker that becomes idle calls
 * it, and is counted as idle (load -1) while it does. */
static void test_load_arms_idle_notify(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = new_queue(p);
    test_job_t *jobs = new_jobs(p, 1);
    load_notify_t n = { q, 0, 0 };
    popper_t pp = { 0 };
    int notified, idle_after;

    hyb_queue_set_idle_notify(q, on_idle_check_load, &n);
    assert_int_equal(q_load(q), 0);         /* arms */
    popper_start(&pp, q, 1, p);
    notified = hyb_test_wait_until(load_notified, &n, HYB_TEST_SHORT);
    idle_after = wait_idlers(q, 1);
    hyb_queue_push(q, &jobs[0].job);
    assert_true(poppers_join(&pp, 1, q));

    assert_true(notified);
    assert_true(idle_after);
    assert_int_equal(apr_atomic_read32(&n.load_seen), 99);
    assert_int_equal(apr_atomic_read32(&n.calls), 1);
}

/* The one definition of load, starved, busy and idle. */
static void test_snap_definitions(void **state)
{
    static const struct {
        hyb_queue_snap_t s;     /* length, waiting, notifying, claimed,
                                 * returning */
        int load, starved, busy;
        apr_uint32_t idle;
    } t[] = {
        { { 0, 0, 0, 0, 0 }, 0, 0, 1, 0 },     /* nothing: busy (no idle) */
        { { 0, 3, 0, 0, 0 }, -3, 0, 0, 3 },    /* three idle */
        { { 0, 2, 1, 0, 0 }, -3, 0, 0, 2 },    /* one on its way to wait */
        { { 2, 2, 0, 2, 0 }, 0, 0, 1, 0 },     /* two jobs, both claimed */
        { { 3, 2, 0, 2, 0 }, 1, 1, 1, 0 },     /* one job nobody comes for */
        { { 5, 0, 0, 0, 0 }, 5, 1, 1, 0 },
        { { 1, 0, 1, 0, 0 }, 0, 1, 1, 0 },     /* the notifier will take it */
        { { 2, 3, 0, 1, 1 }, -1, 0, 0, 2 },    /* one returning takes one */
        { { 3, 3, 0, 1, 1 }, 0, 0, 1, 2 },     /* held: an idle one to wake */
        { { 3, 1, 0, 1, 1 }, 2, 1, 1, 0 },     /* one job, nobody idle */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        assert_int_equal(hyb_queue_load_of(&t[i].s), t[i].load);
        assert_int_equal(hyb_queue_starved_of(&t[i].s), t[i].starved);
        assert_int_equal(hyb_queue_busy_of(&t[i].s), t[i].busy);
        assert_int_equal(hyb_queue_idle_of(&t[i].s), t[i].idle);
    }
}

static int never(const hyb_queue_snap_t *s)
{
    (void)s;
    return 0;
}

/* Reading the counts arms nothing: a worker that becomes idle after a
 * snapshot (or an arm call whose condition was false) stays silent; an
 * arm call whose condition holds makes the next one notify. */
static void test_snapshot_does_not_arm(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = new_queue(p);
    test_job_t *jobs = new_jobs(p, 3);
    notify_t n = { q, 0, 99 };
    popper_t pp = { 0 };
    hyb_queue_snap_t s;
    int waited, armed, notified;

    hyb_queue_set_idle_notify(q, on_idle, &n);
    hyb_queue_push(q, &jobs[0].job);
    hyb_queue_snapshot(q, &s);
    assert_true(hyb_queue_starved_of(&s));
    assert_false(hyb_queue_arm_idle_notify_if(q, never, &s));
    assert_int_equal(s.length, 1);
    popper_start(&pp, q, 2, p);             /* takes the job, then waits */
    waited = wait_idle_state(q, &n, 1, 0);
    hyb_queue_push(q, &jobs[1].job);
    armed = hyb_queue_arm_idle_notify_if(q, hyb_queue_busy_of, &s);
    assert_true(poppers_join(&pp, 1, q));
    popper_start(&pp, q, 1, p);             /* now it notifies */
    notified = wait_idle_state(q, &n, 1, 1);
    hyb_queue_push(q, &jobs[2].job);
    assert_true(poppers_join(&pp, 1, q));

    assert_true(waited);
    assert_true(armed);
    assert_true(notified);
    assert_int_equal(apr_atomic_read32(&n.calls), 1);
}

typedef struct {
    volatile apr_int32_t *word;
    volatile apr_uint32_t calls;
    volatile apr_int32_t word_seen;
} mirror_notify_t;

static void on_idle_read_mirror(void *baton)
{
    mirror_notify_t *m = baton;

    m->word_seen = *m->word;
    apr_atomic_inc32(&m->calls);
}

static int mirror_notified(void *arg)
{
    return apr_atomic_read32(&((mirror_notify_t *)arg)->calls) >= 1;
}

/* The mirror publishes the same load: a worker running the idle fn on its
 * way to wait already counts as idle there too. */
static void test_mirror_counts_notifying(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = new_queue(p);
    test_job_t *jobs = new_jobs(p, 1);
    volatile apr_int32_t word = 77;
    mirror_notify_t m = { &word, 0, 77 };
    popper_t pp = { 0 };
    int notified;

    hyb_queue_set_load_mirror(q, &word);
    hyb_queue_set_idle_notify(q, on_idle_read_mirror, &m);
    assert_int_equal(q_load(q), 0);         /* arms */
    popper_start(&pp, q, 1, p);
    notified = hyb_test_wait_until(mirror_notified, &m, HYB_TEST_SHORT);
    hyb_queue_push(q, &jobs[0].job);
    assert_true(poppers_join(&pp, 1, q));

    assert_true(notified);
    assert_int_equal(m.word_seen, -1);
    assert_int_equal(word, 0);
}

/* take_waiting unlinks the oldest job of a kind from anywhere in the queue
 * (head, middle, tail), keeps the others in order, and leaves alone the
 * jobs already spoken for by woken workers. */
static void test_take_waiting(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = new_queue(p);
    test_job_t *jobs = new_jobs(p, 5);
    volatile apr_int32_t word = 0;
    hyb_job_t *job, *got[3];
    int i;

    hyb_queue_set_load_mirror(q, &word);
    for (i = 0; i < 5; i++) {
        jobs[i].job.kind = (i == 0 || i == 2 || i == 4) ? 7 : 1;
        hyb_queue_push(q, &jobs[i].job);
    }
    assert_null(hyb_queue_take_waiting(q, 9));      /* no such kind */
    for (i = 0; i < 3; i++) {
        got[i] = hyb_queue_take_waiting(q, 7);
    }
    assert_null(hyb_queue_take_waiting(q, 7));
    assert_ptr_equal(got[0], &jobs[0].job);        /* head */
    assert_ptr_equal(got[1], &jobs[2].job);        /* middle */
    assert_ptr_equal(got[2], &jobs[4].job);        /* tail */
    assert_int_equal(q_length(q), 2);
    assert_int_equal(word, 2);
    hyb_queue_push(q, &jobs[0].job);                /* tail still right */
    assert_int_equal(hyb_queue_pop(q, &job), APR_SUCCESS);
    assert_ptr_equal(job, &jobs[1].job);
    assert_int_equal(hyb_queue_pop(q, &job), APR_SUCCESS);
    assert_ptr_equal(job, &jobs[3].job);
    assert_int_equal(hyb_queue_pop(q, &job), APR_SUCCESS);
    assert_ptr_equal(job, &jobs[0].job);
    assert_int_equal(word, 0);
}

/* A job a woken worker is coming for is not taken. */
static void test_take_waiting_skips_claimed(void **state)
{
    apr_pool_t *p = *state;
    hyb_queue_t *q = new_queue(p);
    test_job_t *jobs = new_jobs(p, 2);
    popper_t pp = { 0 };
    hyb_job_t *taken;
    int waited;

    jobs[0].job.kind = 7;
    jobs[1].job.kind = 7;
    popper_start(&pp, q, 1, p);
    waited = wait_idlers(q, 1);
    /* The first push claims the waiting worker; take_waiting must leave
     * that job to it even if the worker has not run yet. */
    hyb_queue_push(q, &jobs[0].job);
    hyb_queue_push(q, &jobs[1].job);
    taken = hyb_queue_take_waiting(q, 7);
    assert_true(poppers_join(&pp, 1, q));

    assert_true(waited);
    assert_ptr_equal(pp.job[0], &jobs[0].job);
    assert_ptr_equal(taken, &jobs[1].job);
}

static const struct CMUnitTest fdqueue_tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, hyb_test_pool_setup, \
                                             hyb_test_pool_teardown)
    T(test_snap_definitions),
    T(test_snapshot_does_not_arm),
    T(test_mirror_counts_notifying),
    T(test_fifo_order),
    T(test_push_never_blocks),
    T(test_push_wakes_waiter),
    T(test_stress_4x4),
    T(test_interrupt_all),
    T(test_interrupt_late_arrival),
    T(test_term_drains_then_eof),
    T(test_term_wakes_all_waiters),
    T(test_term_drain_by_workers),
    T(test_starved_no_workers),
    T(test_starved_idle_workers_take_jobs),
    T(test_starved_more_jobs_than_woken),
    T(test_idle_notify_once),
    T(test_starved_without_notify_fn),
    T(test_load_and_mirror),
    T(test_load_arms_idle_notify),
    T(test_take_waiting),
    T(test_take_waiting_skips_claimed),
#undef T
};

HYB_TEST_GROUP(hyb_test_fdqueue, fdqueue_tests);
