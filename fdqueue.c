/* fdqueue.c - the worker queue of one child (see fdqueue.h).
 *
 * Owns: an intrusive FIFO of hyb_job_t (head/tail), the counts of waiting
 * and already-signalled workers, the interrupt generation, the term flag and
 * the one-shot idle notification.  One mutex guards all of it; one
 * condition variable carries both "job available" (signal) and
 * "interrupt/term" (broadcast).
 *
 * Threads: the listener (or any thread) calls push, starved, interrupt_all,
 * term and the snapshot getters; worker threads call pop.  The idle notify
 * fn runs on a worker thread with the lock released.
 *
 * Accounting: "waiting" counts workers blocked in the condition wait;
 * "claimed" counts those of them a push has already signalled and which
 * have not yet come back from the wait.  Idle workers = waiting - claimed,
 * and claimed <= waiting always holds.  A push signals only when an
 * unclaimed waiter exists; otherwise the job is left for a worker that is
 * already awake or returning, which re-checks the queue before it waits.
 * Load = jobs queued - workers waiting (signed): above 0, jobs wait with
 * no worker coming; below 0, workers wait with no job.  When a mirror word
 * is set, every change of the load is stored there too (under the lock),
 * for other processes to read.
 */
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>

#include "fdqueue.h"

struct hyb_queue_t {
    apr_thread_mutex_t *mutex;
    apr_thread_cond_t *cond;
    hyb_job_t *head, *tail;
    apr_uint32_t length;        /* jobs queued */
    apr_uint32_t waiting;       /* workers blocked in the condition wait */
    apr_uint32_t claimed;       /* waiters already signalled for a job */
    apr_uint32_t notifying;     /* workers running the idle fn, on their
                                 * way to wait: waiting for hyb_queue_load */
    apr_uint32_t intr_gen;      /* bumped by hyb_queue_interrupt_all */
    int terminated;
    int notify_armed;           /* set by hyb_queue_starved or
                                 * hyb_queue_load, one-shot */
    hyb_queue_idle_fn *idle_fn;
    void *idle_baton;
    volatile apr_int32_t *load_mirror;      /* optional copy of the load
                                             * (shared memory) */
};

/* Lock held: publish the load after length or waiting changed. */
static void mirror_load(hyb_queue_t *q)
{
    if (q->load_mirror) {
        *q->load_mirror = (apr_int32_t)q->length - (apr_int32_t)q->waiting;
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
    apr_thread_mutex_unlock(q->mutex);
    fn(baton);
    apr_thread_mutex_lock(q->mutex);
    q->notifying--;
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

/* Any thread: snapshot of idle workers (waiting and not yet signalled). */
apr_uint32_t hyb_queue_idlers(hyb_queue_t *q)
{
    apr_uint32_t n;

    apr_thread_mutex_lock(q->mutex);
    n = q->waiting - q->claimed;
    apr_thread_mutex_unlock(q->mutex);
    return n;
}

/* Any thread: snapshot of queued jobs. */
apr_uint32_t hyb_queue_length(hyb_queue_t *q)
{
    apr_uint32_t n;

    apr_thread_mutex_lock(q->mutex);
    n = q->length;
    apr_thread_mutex_unlock(q->mutex);
    return n;
}

/* Listener thread.  True when more jobs are queued than workers already
 * signalled for them.  Only a true answer arms the idle notification (a
 * listener told "not starved" has nothing to wait for); the next worker
 * about to wait then calls the idle fn once. */
int hyb_queue_starved(hyb_queue_t *q)
{
    int starved;

    apr_thread_mutex_lock(q->mutex);
    starved = q->length > q->claimed;
    if (starved) {
        q->notify_armed = 1;
    }
    apr_thread_mutex_unlock(q->mutex);
    return starved;
}

/* Listener thread.  The load (jobs queued - workers waiting), where a
 * worker running the idle fn on its way to wait counts as waiting (it holds
 * the lock from the fn's return until the wait, so a caller woken by the fn
 * sees it as one or the other).  A load >= 0 (no idle worker) arms the idle
 * notification, as hyb_queue_starved does, so a listener that holds back
 * for want of a worker hears of the next one. */
int hyb_queue_load(hyb_queue_t *q)
{
    int load;

    apr_thread_mutex_lock(q->mutex);
    load = (int)q->length - (int)(q->waiting + q->notifying);
    if (load >= 0) {
        q->notify_armed = 1;
    }
    apr_thread_mutex_unlock(q->mutex);
    return load;
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
