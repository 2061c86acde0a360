/* fdqueue.c - the worker queue of one child (see fdqueue.h).
 *
 * Owns: an intrusive FIFO of hyb_job_t (head/tail), the counts of waiting
 * and already-signalled workers, the interrupt generation, the term flag and
 * the one-shot idle notification.  One mutex guards all of it; one
 * condition variable carries both "job available" (signal) and
 * "interrupt/term" (broadcast).
 *
 * Threads: the listener (or any thread) calls push, interrupt_all, term and
 * the snapshot calls; worker threads call pop.  The idle notify fn runs on
 * a worker thread with the lock released.
 *
 * Accounting: "waiting" counts workers blocked in the condition wait;
 * "claimed" counts those of them a push has already signalled and which
 * have not yet come back from the wait.  Idle workers = waiting - claimed,
 * and claimed <= waiting always holds.  A push signals only when an
 * unclaimed waiter exists; otherwise the job is left for a worker that is
 * already awake or returning, which re-checks the queue before it waits.
 * Load, starved and idle are defined once, over a snapshot of these counts
 * (hyb_queue_load_of and the others below).  When a mirror word is set,
 * every change of the load is stored there too (under the lock), for other
 * processes to read.
 */
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>

#include "fdqueue.h"
#include "hyb_assert.h"

struct hyb_queue_t {
    apr_thread_mutex_t *mutex;
    apr_thread_cond_t *cond;
    hyb_job_t *head, *tail;
    apr_uint32_t length;        /* jobs queued */
    apr_uint32_t waiting;       /* workers blocked in the condition wait */
    apr_uint32_t claimed;       /* waiters already signalled for a job */
    apr_uint32_t notifying;     /* workers running the idle fn, on their
                                 * way to wait: counted as waiting in the
                                 * load (hyb_queue_load_of) */
    apr_uint32_t intr_gen;      /* bumped by hyb_queue_interrupt_all */
    int terminated;
    int notify_armed;           /* set by hyb_queue_arm_idle_notify_if,
                                 * one-shot */
    hyb_queue_idle_fn *idle_fn;
    void *idle_baton;
    volatile apr_int32_t *load_mirror;      /* optional copy of the load
                                             * (shared memory) */
};

int hyb_queue_load_of(const hyb_queue_snap_t *s)
{
    return (int)s->length - (int)(s->waiting + s->notifying);
}

int hyb_queue_starved_of(const hyb_queue_snap_t *s)
{
    return s->length > s->claimed;
}

int hyb_queue_busy_of(const hyb_queue_snap_t *s)
{
    return hyb_queue_load_of(s) >= 0;
}

apr_uint32_t hyb_queue_idle_of(const hyb_queue_snap_t *s)
{
    return s->waiting - s->claimed;
}

/* Lock held. */
static void snap_locked(const hyb_queue_t *q, hyb_queue_snap_t *s)
{
    s->length = q->length;
    s->waiting = q->waiting;
    s->notifying = q->notifying;
    s->claimed = q->claimed;
}

/* Lock held: publish the load after length, waiting or notifying changed. */
static void mirror_load(hyb_queue_t *q)
{
    hyb_queue_snap_t s;

    if (q->load_mirror) {
        snap_locked(q, &s);
        *q->load_mirror = (apr_int32_t)hyb_queue_load_of(&s);
    }
}

/* Any thread.  The mutex and cond register their own pool cleanups with p
 * (apr_thread_mutex_create/apr_thread_cond_create do so), so destroying p
 * destroys them; the queue itself is plain pool memory. */
apr_status_t hyb_queue_create(hyb_queue_t **q, apr_pool_t *p)
{
    hyb_queue_t *nq = apr_pcalloc(p, sizeof(*nq));
    apr_status_t rv;

    rv = apr_thread_mutex_create(&nq->mutex, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    rv = apr_thread_cond_create(&nq->cond, p);
    if (rv != APR_SUCCESS) {
        apr_thread_mutex_destroy(nq->mutex);
        return rv;
    }
    *q = nq;
    return APR_SUCCESS;
}

/* Any thread, normally before the workers start. */
void hyb_queue_set_idle_notify(hyb_queue_t *q, hyb_queue_idle_fn *fn,
                               void *baton)
{
    apr_thread_mutex_lock(q->mutex);
    q->idle_fn = fn;
    q->idle_baton = baton;
    apr_thread_mutex_unlock(q->mutex);
}

/* Any thread, normally before the workers start. */
void hyb_queue_set_load_mirror(hyb_queue_t *q, volatile apr_int32_t *word)
{
    apr_thread_mutex_lock(q->mutex);
    q->load_mirror = word;
    mirror_load(q);
    apr_thread_mutex_unlock(q->mutex);
}

/* Any thread; never blocks beyond the short critical section. */
apr_status_t hyb_queue_push(hyb_queue_t *q, hyb_job_t *job)
{
    apr_thread_mutex_lock(q->mutex);
    if (q->terminated) {
        apr_thread_mutex_unlock(q->mutex);
        return APR_EOF;
    }
    job->next = NULL;
    if (q->tail) {
        q->tail->next = job;
    }
    else {
        q->head = job;
    }
    q->tail = job;
    q->length++;
    mirror_load(q);
    if (q->waiting > q->claimed) {
        q->claimed++;
        HYB_ASSERT(q->claimed <= q->waiting);
        apr_thread_cond_signal(q->cond);
    }
    apr_thread_mutex_unlock(q->mutex);
    return APR_SUCCESS;
}

/* Lock held, queue not empty: unlink and return the head. */
static hyb_job_t *take_head(hyb_queue_t *q)
{
    hyb_job_t *job = q->head;

    q->head = job->next;
    if (!q->head) {
        q->tail = NULL;
    }
    q->length--;
    mirror_load(q);
    job->next = NULL;
    return job;
}

/* Lock held on entry and exit; released around the callback so that the
 * notify fn may use the queue (or take its own locks) freely. */
static void run_idle_notify(hyb_queue_t *q)
{
    hyb_queue_idle_fn *fn = q->idle_fn;
    void *baton = q->idle_baton;

    q->notify_armed = 0;
    if (!fn) {
        return;
    }
    q->notifying++;
    mirror_load(q);
    apr_thread_mutex_unlock(q->mutex);
    fn(baton);
    apr_thread_mutex_lock(q->mutex);
    q->notifying--;
    mirror_load(q);
}

/* Lock held.  One condition wait, keeping waiting/claimed consistent: every
 * return from the wait releases one claim if any is outstanding (a spurious
 * or broadcast wakeup may take a claim meant for another waiter; that only
 * makes later pushes signal more eagerly, never less). */
static void wait_once(hyb_queue_t *q)
{
    q->waiting++;
    mirror_load(q);
    apr_thread_cond_wait(q->cond, q->mutex);
    q->waiting--;
    if (q->claimed) {
        q->claimed--;
    }
    HYB_ASSERT(q->claimed <= q->waiting);
    mirror_load(q);
}

/* Worker thread.  gen is the interrupt generation seen on entry: an
 * interrupt_all issued after we took the lock makes us return APR_EINTR
 * (before any job), one issued before does not concern us. */
apr_status_t hyb_queue_pop(hyb_queue_t *q, hyb_job_t **job)
{
    apr_status_t rv;
    apr_uint32_t gen;

    apr_thread_mutex_lock(q->mutex);
    gen = q->intr_gen;
    for (;;) {
        if (q->intr_gen != gen) {
            rv = APR_EINTR;
            break;
        }
        if (q->head) {
            *job = take_head(q);
            rv = APR_SUCCESS;
            break;
        }
        if (q->terminated) {
            rv = APR_EOF;
            break;
        }
        if (q->notify_armed) {
            run_idle_notify(q);     /* drops the lock: re-check everything */
            continue;
        }
        wait_once(q);
    }
    apr_thread_mutex_unlock(q->mutex);
    return rv;
}

/* Any thread (e.g. the child's main thread on ungraceful stop). */
void hyb_queue_interrupt_all(hyb_queue_t *q)
{
    apr_thread_mutex_lock(q->mutex);
    q->intr_gen++;
    apr_thread_cond_broadcast(q->cond);
    apr_thread_mutex_unlock(q->mutex);
}

/* Any thread.  Idempotent. */
void hyb_queue_term(hyb_queue_t *q)
{
    apr_thread_mutex_lock(q->mutex);
    q->terminated = 1;
    apr_thread_cond_broadcast(q->cond);
    apr_thread_mutex_unlock(q->mutex);
}

/* Any thread. */
void hyb_queue_snapshot(hyb_queue_t *q, hyb_queue_snap_t *s)
{
    apr_thread_mutex_lock(q->mutex);
    snap_locked(q, s);
    apr_thread_mutex_unlock(q->mutex);
}

/* Listener thread.  Only a caller that will wait for a worker arms (one
 * told there is an idle worker has nothing to wait for). */
int hyb_queue_arm_idle_notify_if(hyb_queue_t *q, hyb_queue_cond_fn *cond,
                                 hyb_queue_snap_t *s)
{
    int yes;

    apr_thread_mutex_lock(q->mutex);
    snap_locked(q, s);
    yes = cond(s);
    if (yes) {
        q->notify_armed = 1;
    }
    apr_thread_mutex_unlock(q->mutex);
    return yes;
}

/* Listener thread.  Unlink and return the oldest queued job of `kind` that
 * no worker is coming for (the first `claimed` jobs are spoken for by
 * workers already woken), or NULL. */
hyb_job_t *hyb_queue_take_waiting(hyb_queue_t *q, int kind)
{
    hyb_job_t *prev = NULL, *job;
    apr_uint32_t pos = 0;

    apr_thread_mutex_lock(q->mutex);
    for (job = q->head; job; prev = job, job = job->next, pos++) {
        if (pos < q->claimed || job->kind != kind) {
            continue;
        }
        if (prev) {
            prev->next = job->next;
        }
        else {
            q->head = job->next;
        }
        if (q->tail == job) {
            q->tail = prev;
        }
        q->length--;
        mirror_load(q);
        job->next = NULL;
        break;
    }
    apr_thread_mutex_unlock(q->mutex);
    return job;
}
