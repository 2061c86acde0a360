/* fdqueue.c - the worker queue of one child (see fdqueue.h).
 *
 * Owns: an intrusive FIFO of hyb_job_t (head/tail), the counts of waiting
 * and already-signalled workers, the list of seats of workers running a job
 * they took (the wake gate's view of who comes back soon), the interrupt
 * generation, the term flag and the one-shot idle notification.  One mutex
 * guards all of it; one condition variable carries both "job available"
 * (signal) and "interrupt/term" (broadcast).
 *
 * Threads: the listener (or any thread) calls push, nudge, interrupt_all,
 * term and the snapshot calls; worker threads call pop and leave.  The idle
 * notify fn runs on a worker thread with the lock released.
 *
 * Accounting: "waiting" counts workers blocked in the condition wait;
 * "claimed" counts those of them a push has already signalled and which
 * have not yet come back from the wait.  Idle workers = waiting - claimed,
 * and claimed <= waiting always holds.  "returning" counts workers that
 * took a job less than the gate's window ago and still run it: they will
 * look at the queue again soon.  Which waiters to wake is decided in one
 * place, hyb_queue_wakes_of, over a snapshot of these counts; push (as if
 * the gate were off) and nudge apply it.  Load, starved and idle are
 * defined there too.  When a mirror word is set, every change of the load
 * is stored there too (under the lock), for other processes to read.
 */
#include <apr_thread_mutex.h>
#include <apr_thread_cond.h>

#include <time.h>

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
    hyb_tq_t running;           /* seats of workers running a job, by
                                 * when they took it; timeout: the gate's
                                 * window */
    apr_uint32_t gate_cap;      /* 0: every job wakes a waiter */
    hyb_queue_clock_fn *clock;
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
    return s->length > s->claimed + s->returning && s->waiting <= s->claimed;
}

int hyb_queue_busy_of(const hyb_queue_snap_t *s)
{
    return hyb_queue_load_of(s) >= 0;
}

apr_uint32_t hyb_queue_idle_of(const hyb_queue_snap_t *s)
{
    return s->waiting - s->claimed;
}

apr_uint32_t hyb_queue_wakes_of(const hyb_queue_snap_t *s, apr_uint32_t cap)
{
    apr_uint32_t unclaimed, idle, awake, n;

    if (s->length <= s->claimed + s->returning || s->waiting <= s->claimed) {
        return 0;
    }
    unclaimed = s->length - s->claimed - s->returning;
    idle = s->waiting - s->claimed;
    n = unclaimed < idle ? unclaimed : idle;
    if (cap) {
        awake = s->claimed + s->returning;
        if (awake >= cap) {
            return 0;
        }
        if (n > cap - awake) {
            n = cap - awake;
        }
    }
    return n;
}

apr_uint32_t hyb_queue_gate_cap_for(int ncpu, int children)
{
    if (ncpu < 1 || children < 1) {
        return 1;
    }
    return (apr_uint32_t)((ncpu + children - 1) / children);
}

/* The default clock: monotonic microseconds (a wall clock set back would
 * keep a seat fresh for as long). */
static apr_time_t hyb_queue_monotonic(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (apr_time_t)ts.tv_sec * APR_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* Lock held: the seats that took a job less than the window ago (not yet
 * expired), newest first, at most `cap` of them; *stale_in is how long
 * until the oldest of those counted stops counting (0 when none). */
static apr_uint32_t returning_locked(const hyb_queue_t *q, apr_uint32_t cap,
                                     apr_interval_time_t *stale_in)
{
    const hyb_queue_seat_t *seat;
    apr_time_t now = cap ? q->clock() : 0;
    apr_uint32_t n = 0;

    *stale_in = 0;
    for (seat = q->running.tail; seat && n < cap; seat = seat->prev) {
        if (seat->expiry <= now) {
            break;      /* older seats are older still */
        }
        *stale_in = seat->expiry - now;
        n++;
    }
    return n;
}

/* Lock held: the counts, with returning counted for `cap` (0: none). */
static apr_interval_time_t counts_locked(const hyb_queue_t *q,
                                         apr_uint32_t cap,
                                         hyb_queue_snap_t *s)
{
    apr_interval_time_t stale_in;

    s->length = q->length;
    s->waiting = q->waiting;
    s->notifying = q->notifying;
    s->claimed = q->claimed;
    s->returning = returning_locked(q, cap, &stale_in);
    return stale_in;
}

/* Lock held. */
static void snap_locked(const hyb_queue_t *q, hyb_queue_snap_t *s)
{
    counts_locked(q, q->gate_cap, s);
}

/* Lock held: publish the load after length, waiting or notifying changed
 * (no clock read: the load does not count returning workers). */
static void mirror_load(hyb_queue_t *q)
{
    hyb_queue_snap_t s;

    if (q->load_mirror) {
        counts_locked(q, 0, &s);
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
    nq->clock = hyb_queue_monotonic;
    hyb_tq_init(&nq->running, 0);
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

/* Any thread, normally before the workers start (tests: any time). */
void hyb_queue_set_gate(hyb_queue_t *q, apr_uint32_t cap,
                        apr_interval_time_t window, hyb_queue_clock_fn *clock)
{
    apr_thread_mutex_lock(q->mutex);
    /* The running list stays in expiry order only with one window. */
    HYB_ASSERT(!q->running.head || window == q->running.timeout);
    q->gate_cap = window > 0 ? cap : 0;
    q->running.timeout = window;
    if (clock) {
        q->clock = clock;
    }
    apr_thread_mutex_unlock(q->mutex);
}

/* Lock held: signal as many waiters as hyb_queue_wakes_of says (with the
 * gate off, or ungated: as if nobody were returning, up to one per job).
 * Returns when to look again while a job is held back for a worker that
 * is awake and an idle waiter could take it (0: nothing held back): when
 * the oldest returning worker counted stops counting, or after a window
 * when only signalled ones are (they will be returning by then). */
static apr_interval_time_t wake_locked(hyb_queue_t *q, int gated,
                                       apr_uint32_t *woken)
{
    hyb_queue_snap_t s;
    apr_uint32_t cap = gated ? q->gate_cap : 0, n;
    apr_interval_time_t stale_in;

    if (q->length <= q->claimed || q->waiting <= q->claimed) {
        *woken = 0;     /* as hyb_queue_wakes_of would say, without the */
        return 0;       /* clock read of counting the returning workers */
    }
    stale_in = counts_locked(q, cap, &s);
    n = hyb_queue_wakes_of(&s, cap);
    *woken = n;
    for (; n > 0; n--) {
        q->claimed++;
        HYB_ASSERT(q->claimed <= q->waiting);
        apr_thread_cond_signal(q->cond);
    }
    if (q->length <= q->claimed || q->waiting <= q->claimed) {
        return 0;
    }
    return stale_in ? stale_in : q->running.timeout;
}

/* Lock held: append. */
static void append_locked(hyb_queue_t *q, hyb_job_t *job)
{
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
}

/* Listener thread: append only; the round's nudge wakes whom the gate
 * says, once for all the jobs of the round. */
apr_status_t hyb_queue_append(hyb_queue_t *q, hyb_job_t *job)
{
    apr_thread_mutex_lock(q->mutex);
    if (q->terminated) {
        apr_thread_mutex_unlock(q->mutex);
        return APR_EOF;
    }
    append_locked(q, job);
    apr_thread_mutex_unlock(q->mutex);
    return APR_SUCCESS;
}

/* Any thread: never held back by the gate (nobody may be there to nudge). */
apr_status_t hyb_queue_push(hyb_queue_t *q, hyb_job_t *job)
{
    apr_uint32_t woken;

    apr_thread_mutex_lock(q->mutex);
    if (q->terminated) {
        apr_thread_mutex_unlock(q->mutex);
        return APR_EOF;
    }
    append_locked(q, job);
    wake_locked(q, 0, &woken);
    apr_thread_mutex_unlock(q->mutex);
    return APR_SUCCESS;
}

/* Listener thread, once per round and when the last nudge said to. */
apr_interval_time_t hyb_queue_nudge(hyb_queue_t *q, apr_uint32_t *woken)
{
    apr_interval_time_t due;

    apr_thread_mutex_lock(q->mutex);
    due = wake_locked(q, 1, woken);
    apr_thread_mutex_unlock(q->mutex);
    return due;
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

/* Worker thread, leaving for good: its seat no longer counts. */
void hyb_queue_leave(hyb_queue_t *q, hyb_queue_seat_t *seat)
{
    apr_thread_mutex_lock(q->mutex);
    hyb_tq_remove(seat);
    apr_thread_mutex_unlock(q->mutex);
}

/* Worker thread.  gen is the interrupt generation seen on entry: an
 * interrupt_all issued after we took the lock makes us return APR_EINTR
 * (before any job), one issued before does not concern us. */
apr_status_t hyb_queue_pop_at(hyb_queue_t *q, hyb_queue_seat_t *seat,
                             hyb_job_t **job)
{
    apr_status_t rv;
    apr_uint32_t gen;

    apr_thread_mutex_lock(q->mutex);
    if (seat) {
        hyb_tq_remove(seat);    /* back: no longer running a job */
    }
    gen = q->intr_gen;
    for (;;) {
        if (q->intr_gen != gen) {
            rv = APR_EINTR;
            break;
        }
        if (q->head) {
            *job = take_head(q);
            if (seat && q->gate_cap) {
                hyb_tq_append(&q->running, seat, q->clock());
            }
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

/* Worker thread (tests: any), without a seat: never counts as returning. */
apr_status_t hyb_queue_pop(hyb_queue_t *q, hyb_job_t **job)
{
    return hyb_queue_pop_at(q, NULL, job);
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
 * no worker is coming for (the first claimed + returning jobs are spoken
 * for by workers already woken or about to come back), or NULL. */
hyb_job_t *hyb_queue_take_waiting(hyb_queue_t *q, int kind)
{
    hyb_job_t *prev = NULL, *job;
    hyb_queue_snap_t s;
    apr_uint32_t pos = 0;

    apr_thread_mutex_lock(q->mutex);
    snap_locked(q, &s);
    for (job = q->head; job; prev = job, job = job->next, pos++) {
        if (pos < s.claimed + s.returning || job->kind != kind) {
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
