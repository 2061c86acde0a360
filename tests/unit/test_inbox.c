/* test_inbox.c - unit tests of inbox.c.
 *
 * Owns: the inbox test group: eventfd readiness, one write per batch
 * (checked by reading the eventfd counter), wake, FIFO per producer with
 * several producer threads, fd flags and the pool cleanup.
 *
 * Threads: the test thread plays the listener (poll + take); producer
 * threads only push and are joined before any assertion.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include <apr_atomic.h>
#include <apr_thread_proc.h>

#include "hyb_test.h"
#include "../../inbox.h"

typedef struct {
    hyb_job_t job;
    int producer;
    int seq;
} ib_job_t;

static hyb_inbox_t *new_inbox(apr_pool_t *p)
{
    hyb_inbox_t *ib = NULL;

    assert_int_equal(hyb_inbox_create(&ib, p), APR_SUCCESS);
    assert_non_null(ib);
    assert_true(hyb_inbox_fd(ib) >= 0);
    return ib;
}

/* Is the fd readable right now (or within timeout_ms)? */
static int readable(int fd, int timeout_ms)
{
    struct pollfd pfd = { fd, POLLIN, 0 };

    return poll(&pfd, 1, timeout_ms) == 1 && (pfd.revents & POLLIN);
}

/* Read the eventfd counter (resets it); 0 when nothing was written. */
static uint64_t efd_counter(int fd)
{
    uint64_t v = 0;

    if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v)) {
        return 0;
    }
    return v;
}

static int list_length(hyb_job_t *j)
{
    int n = 0;

    for (; j; j = j->next) {
        n++;
    }
    return n;
}

static void test_readable_after_push_not_after_take(void **state)
{
    apr_pool_t *p = *state;
    hyb_inbox_t *ib = new_inbox(p);
    int fd = hyb_inbox_fd(ib);
    ib_job_t j[2];

    memset(j, 0, sizeof(j));
    assert_false(readable(fd, 0));
    assert_null(hyb_inbox_take(ib));
    hyb_inbox_push(ib, &j[0].job);
    assert_true(readable(fd, 0));
    assert_ptr_equal(hyb_inbox_take(ib), &j[0].job);
    assert_null(j[0].job.next);
    assert_false(readable(fd, 0));
    assert_null(hyb_inbox_take(ib));
    /* Re-armed: the next push wakes again. */
    hyb_inbox_push(ib, &j[1].job);
    assert_true(readable(fd, 0));
    assert_ptr_equal(hyb_inbox_take(ib), &j[1].job);
    assert_false(readable(fd, 0));
}

static void test_one_write_per_batch(void **state)
{
    apr_pool_t *p = *state;
    hyb_inbox_t *ib = new_inbox(p);
    int fd = hyb_inbox_fd(ib);
    ib_job_t j[101];
    hyb_job_t *list, *it;
    int i;

    memset(j, 0, sizeof(j));
    for (i = 0; i < 100; i++) {
        j[i].seq = i;
        hyb_inbox_push(ib, &j[i].job);
    }
    assert_int_equal(efd_counter(fd), 1);       /* one write for 100 */
    /* Still pending (no take yet): further pushes must not write. */
    j[100].seq = 100;
    hyb_inbox_push(ib, &j[100].job);
    hyb_inbox_wake(ib);
    assert_false(readable(fd, 0));
    list = hyb_inbox_take(ib);
    assert_int_equal(list_length(list), 101);
    for (it = list, i = 0; it; it = it->next, i++) {
        assert_int_equal(((ib_job_t *)it)->seq, i);
    }
    hyb_inbox_push(ib, &j[0].job);
    assert_int_equal(efd_counter(fd), 1);
}

static void test_wake(void **state)
{
    apr_pool_t *p = *state;
    hyb_inbox_t *ib = new_inbox(p);
    int fd = hyb_inbox_fd(ib);
    ib_job_t j;

    memset(&j, 0, sizeof(j));
    hyb_inbox_wake(ib);
    assert_true(readable(fd, 0));
    hyb_inbox_wake(ib);                         /* pending: no write */
    hyb_inbox_push(ib, &j.job);                 /* pending: no write */
    assert_int_equal(efd_counter(fd), 1);
    assert_ptr_equal(hyb_inbox_take(ib), &j.job);
    assert_false(readable(fd, 0));
    hyb_inbox_wake(ib);
    assert_true(readable(fd, 0));
    assert_null(hyb_inbox_take(ib));
    assert_false(readable(fd, 0));
}

static void test_fd_flags_and_cleanup(void **state)
{
    apr_pool_t *parent = *state, *p;
    hyb_inbox_t *ib;
    int fd;

    assert_int_equal(apr_pool_create(&p, parent), APR_SUCCESS);
    ib = new_inbox(p);
    fd = hyb_inbox_fd(ib);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    apr_pool_destroy(p);
    errno = 0;
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    assert_int_equal(errno, EBADF);
}

/* ------------------------------------------------------------------ */
/* Several producers; the test thread is the listener and only takes when
 * poll() says the eventfd is readable, so a lost wakeup fails the test. */

#define IB_PROD 4
#define IB_PER_PROD 5000

typedef struct {
    hyb_inbox_t *ib;
    ib_job_t *jobs;
    int index;
    apr_thread_t *thd;
} ib_producer_t;

static void *APR_THREAD_FUNC ib_producer_main(apr_thread_t *thd, void *data)
{
    ib_producer_t *t = data;
    int i;

    for (i = 0; i < IB_PER_PROD; i++) {
        ib_job_t *j = &t->jobs[t->index * IB_PER_PROD + i];

        j->producer = t->index;
        j->seq = i;
        hyb_inbox_push(t->ib, &j->job);
    }
    (void)thd;      /* return, no apr_thread_exit: see hyb_test.h */
    return NULL;
}

typedef struct {
    int next_seq[IB_PROD];
    int received;
    int order_errors;
    int takes;
} ib_listener_t;

static void consume(ib_listener_t *l, hyb_job_t *list)
{
    for (; list; list = list->next) {
        ib_job_t *j = (ib_job_t *)list;

        if (j->seq != l->next_seq[j->producer]) {
            l->order_errors++;
        }
        l->next_seq[j->producer] = j->seq + 1;
        l->received++;
    }
}

/* Listener loop: returns 0 if no wakeup came for 5 s while jobs were
 * still missing. */
static int listen_for(hyb_inbox_t *ib, ib_listener_t *l, int total)
{
    while (l->received < total) {
        if (!readable(hyb_inbox_fd(ib), 5000)) {
            return 0;
        }
        consume(l, hyb_inbox_take(ib));
        l->takes++;
    }
    return 1;
}

/* One round: start the producers, listen, join, then assert. */
static void multi_producer_round(apr_pool_t *p, hyb_inbox_t *ib,
                                 ib_job_t *jobs)
{
    ib_producer_t prod[IB_PROD];
    ib_listener_t l;
    apr_status_t rv;
    int i, ok;

    memset(&l, 0, sizeof(l));
    for (i = 0; i < IB_PROD; i++) {
        prod[i].ib = ib;
        prod[i].jobs = jobs;
        prod[i].index = i;
        if (apr_thread_create(&prod[i].thd, NULL, ib_producer_main,
                              &prod[i], p)) {
            fail_msg("apr_thread_create() failed");
        }
    }
    ok = listen_for(ib, &l, IB_PROD * IB_PER_PROD);
    for (i = 0; i < IB_PROD; i++) {
        apr_thread_join(&rv, prod[i].thd);  /* producers never block */
    }
    assert_true(ok);
    assert_int_equal(l.received, IB_PROD * IB_PER_PROD);
    assert_int_equal(l.order_errors, 0);
    for (i = 0; i < IB_PROD; i++) {
        assert_int_equal(l.next_seq[i], IB_PER_PROD);
    }
    assert_true(l.takes >= 1);
}

/* Several rounds: a lost wakeup is a race, so give it chances to show. */
static void test_multi_producer_fifo(void **state)
{
    apr_pool_t *p = *state;
    hyb_inbox_t *ib = new_inbox(p);
    ib_job_t *jobs = apr_pcalloc(p, IB_PROD * IB_PER_PROD * sizeof(*jobs));
    int round;

    for (round = 0; round < 8; round++) {
        multi_producer_round(p, ib, jobs);
    }
    /* Whatever spurious wakeup is left, nothing is left in the inbox. */
    assert_null(hyb_inbox_take(ib));
}

/* Lazy pushes never write the eventfd, keep FIFO order with eager ones,
 * and take_lazy leaves a pending wakeup in place. */
static void test_lazy_push(void **state)
{
    apr_pool_t *p = *state;
    hyb_inbox_t *ib = new_inbox(p);
    int fd = hyb_inbox_fd(ib);
    ib_job_t j[3];
    volatile apr_uint32_t clear = 0;
    hyb_job_t *list;

    memset(j, 0, sizeof(j));
    hyb_inbox_push_lazy_or_wake(ib, &j[0].job, &clear);
    hyb_inbox_push_lazy_or_wake(ib, &j[1].job, &clear);
    assert_false(readable(fd, 0));
    list = hyb_inbox_take_lazy(ib);
    assert_ptr_equal(list, &j[0].job);
    assert_ptr_equal(list->next, &j[1].job);
    assert_null(list->next->next);
    assert_null(hyb_inbox_take_lazy(ib));
    /* Eager push after a lazy one: one wakeup, both jobs, in order. */
    hyb_inbox_push_lazy_or_wake(ib, &j[0].job, &clear);
    hyb_inbox_push(ib, &j[2].job);
    assert_true(readable(fd, 0));
    list = hyb_inbox_take_lazy(ib);
    assert_int_equal(list_length(list), 2);
    assert_ptr_equal(list->next, &j[2].job);
    assert_true(readable(fd, 0));       /* still pending for take() */
    assert_null(hyb_inbox_take(ib));
    assert_false(readable(fd, 0));
}

/* push_lazy_or_wake: lazy while the flag is clear, one wakeup when set. */
static void test_lazy_or_wake(void **state)
{
    apr_pool_t *p = *state;
    hyb_inbox_t *ib = new_inbox(p);
    int fd = hyb_inbox_fd(ib);
    volatile apr_uint32_t flag = 0;
    ib_job_t j[2];

    memset(j, 0, sizeof(j));
    hyb_inbox_push_lazy_or_wake(ib, &j[0].job, &flag);
    assert_false(readable(fd, 0));
    flag = 1;
    hyb_inbox_push_lazy_or_wake(ib, &j[1].job, &flag);
    assert_true(readable(fd, 0));
    assert_int_equal(list_length(hyb_inbox_take(ib)), 2);
    assert_false(readable(fd, 0));
}

static const struct CMUnitTest inbox_tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, hyb_test_pool_setup, \
                                             hyb_test_pool_teardown)
    T(test_readable_after_push_not_after_take),
    T(test_one_write_per_batch),
    T(test_wake),
    T(test_fd_flags_and_cleanup),
    T(test_multi_producer_fifo),
    T(test_lazy_push),
    T(test_lazy_or_wake),
#undef T
};

HYB_TEST_GROUP(hyb_test_inbox, inbox_tests);
