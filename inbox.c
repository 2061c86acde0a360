/* inbox.c - the listener's inbox on Linux (see inbox.h).
 *
 * Owns: a FIFO of hyb_job_t handed back by workers, the eventfd that wakes
 * the listener, and the wake_pending flag.  The mutex guards the list and
 * the flag; the eventfd itself needs no lock.
 *
 * Threads: hyb_inbox_push, hyb_inbox_push_lazy_or_wake and hyb_inbox_wake from any
 * thread; hyb_inbox_take, hyb_inbox_take_lazy (and hyb_inbox_fd) from the
 * listener thread.
 *
 * Protocol: wake_pending is set by the first push/wake after a take, and
 * only that caller writes the eventfd, so one batch costs one write.  take
 * drains the eventfd *before* it takes the list and clears the flag: a
 * write that lands after the drain belongs to a push whose job is either in
 * the list we take (a harmless spurious wakeup later) or was appended after
 * the flag was cleared (and then its write is the wakeup for it).  Draining
 * after clearing the flag could swallow the only wakeup of a new batch.
 */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include <apr_thread_mutex.h>

#include "inbox.h"

#include <apr_atomic.h>

struct hyb_inbox_t {
    apr_thread_mutex_t *mutex;
    hyb_job_t *head, *tail;     /* guarded by mutex */
    int wake_pending;           /* guarded by mutex */
    int efd;
};

/* Pool cleanup: close the eventfd.  The mutex has its own cleanup. */
static apr_status_t inbox_cleanup(void *data)
{
    hyb_inbox_t *ib = data;

    if (ib->efd >= 0) {
        close(ib->efd);
        ib->efd = -1;
    }
    return APR_SUCCESS;
}

/* Any thread (the child's main thread, before the listener starts). */
apr_status_t hyb_inbox_create(hyb_inbox_t **ib, apr_pool_t *p)
{
    hyb_inbox_t *nib = apr_pcalloc(p, sizeof(*nib));
    apr_status_t rv;

    rv = apr_thread_mutex_create(&nib->mutex, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    nib->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (nib->efd < 0) {
        rv = APR_FROM_OS_ERROR(errno);
        apr_thread_mutex_destroy(nib->mutex);
        return rv;
    }
    apr_pool_cleanup_register(p, nib, inbox_cleanup, apr_pool_cleanup_null);
    *ib = nib;
    return APR_SUCCESS;
}

int hyb_inbox_fd(const hyb_inbox_t *ib)
{
    return ib->efd;
}

/* Any thread, without the mutex.  EAGAIN (counter saturated) cannot
 * happen with at most one write per batch; other errors leave nothing
 * useful to do. */
static void signal_efd(hyb_inbox_t *ib)
{
    uint64_t one = 1;
    ssize_t n;

    do {
        n = write(ib->efd, &one, sizeof(one));
    } while (n < 0 && errno == EINTR);
}

/* Mutex held: claim the right to write the eventfd. */
static int claim_wakeup(hyb_inbox_t *ib)
{
    if (ib->wake_pending) {
        return 0;
    }
    ib->wake_pending = 1;
    return 1;
}

/* Mutex held: append at the tail. */
static void append_locked(hyb_inbox_t *ib, hyb_job_t *job)
{
    job->next = NULL;
    if (ib->tail) {
        ib->tail->next = job;
    }
    else {
        ib->head = job;
    }
    ib->tail = job;
}

/* Any thread. */
void hyb_inbox_push(hyb_inbox_t *ib, hyb_job_t *job)
{
    int must_signal;

    apr_thread_mutex_lock(ib->mutex);
    append_locked(ib, job);
    must_signal = claim_wakeup(ib);
    apr_thread_mutex_unlock(ib->mutex);
    if (must_signal) {
        signal_efd(ib);
    }
}

/* Any thread: append without waking (the listener finds the job at its
 * next round, hyb_inbox_take_lazy, which its tick bounds), unless *wake_if
 * is set by the time the job is in the list.  The flag is read under the
 * mutex, so the listener either sees the job in its take that follows
 * setting the flag, or is woken. */
void hyb_inbox_push_lazy_or_wake(hyb_inbox_t *ib, hyb_job_t *job,
                                 volatile apr_uint32_t *wake_if)
{
    int must_signal = 0;

    apr_thread_mutex_lock(ib->mutex);
    append_locked(ib, job);
    if (apr_atomic_read32(wake_if)) {
        must_signal = claim_wakeup(ib);
    }
    apr_thread_mutex_unlock(ib->mutex);
    if (must_signal) {
        signal_efd(ib);
    }
}

/* Any thread. */
void hyb_inbox_wake(hyb_inbox_t *ib)
{
    int must_signal;

    apr_thread_mutex_lock(ib->mutex);
    must_signal = claim_wakeup(ib);
    apr_thread_mutex_unlock(ib->mutex);
    if (must_signal) {
        signal_efd(ib);
    }
}

/* Listener thread: reset the eventfd counter (read until EAGAIN). */
static void drain_efd(hyb_inbox_t *ib)
{
    uint64_t value;
    ssize_t n;

    do {
        n = read(ib->efd, &value, sizeof(value));
    } while (n > 0 || (n < 0 && errno == EINTR));
}

/* Listener thread.  See the protocol note at the top for the order. */
hyb_job_t *hyb_inbox_take(hyb_inbox_t *ib)
{
    hyb_job_t *list;

    drain_efd(ib);
    apr_thread_mutex_lock(ib->mutex);
    list = ib->head;
    ib->head = ib->tail = NULL;
    ib->wake_pending = 0;
    apr_thread_mutex_unlock(ib->mutex);
    return list;
}

/* Listener thread: take the list but leave the eventfd and the wakeup flag
 * alone (a pending wakeup still fires and finds an empty or newer list). */
hyb_job_t *hyb_inbox_take_lazy(hyb_inbox_t *ib)
{
    hyb_job_t *list;

    apr_thread_mutex_lock(ib->mutex);
    list = ib->head;
    ib->head = ib->tail = NULL;
    apr_thread_mutex_unlock(ib->mutex);
    return list;
}
