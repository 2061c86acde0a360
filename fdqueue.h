/* fdqueue.h - the worker queue of one child.
 *
 * Owns: the FIFO of jobs the listener hands to worker threads, the counts
 * of waiting workers (hyb_queue_snap_t, with the one definition of load,
 * starved and idle), and the one-shot idle notification the listener arms
 * when it holds back for want of a worker.  Jobs are intrusive (hyb_job_t
 * is embedded in the caller's object), so push never allocates and never
 * blocks.
 *
 * The wake gate (off unless hyb_queue_set_gate gives it a cap; children
 * use hyb_queue_gate_cap_for and HYB_QUEUE_GATE_WINDOW): a job
 * wakes a waiting worker only while fewer than `cap` workers are awake for
 * the queue, counting those already signalled and those that took a job
 * less than `window` ago and still run it ("returning": they look at the
 * queue again when they finish).  Jobs beyond wait for those, which saves
 * a sleep and a wake-up per job while workers keep coming back; a worker
 * busy for longer than the window no longer counts, so a slow request
 * holds a job back for one window at most, provided somebody calls
 * hyb_queue_nudge again when the last nudge said to.
 *
 * Threads: the listener appends and nudges; any thread may push past the
 * gate (push); worker threads pop.  Every field of hyb_queue_t is guarded
 * by its own mutex.
 */
#ifndef HYB_FDQUEUE_H
#define HYB_FDQUEUE_H

#include <apr_pools.h>
#include <apr_errno.h>

#include "tqueue.h"

typedef struct hyb_job_t hyb_job_t;
struct hyb_job_t {
    hyb_job_t *next;        /* owner: the queue while queued */
    int kind;               /* caller-defined (connection, timer, ...) */
};

typedef struct hyb_queue_t hyb_queue_t;

/* The gate's window as the children use it, in microseconds: longer than
 * a short request takes (a worker back within it served one), short
 * enough that a job held behind a slow one is barely delayed. */
#define HYB_QUEUE_GATE_WINDOW 1000

/* A worker's place in the gate's list of running workers (see above): an
 * entry of a timeout queue whose timeout is the window, so its expiry is
 * when the worker stops counting.  Owner: the worker thread allocates it
 * (zeroed) and passes it to every pop; its fields are the queue's, under
 * the queue's lock. */
typedef hyb_tq_entry_t hyb_queue_seat_t;

/* Microseconds that only go forward (tests pass their own). */
typedef apr_time_t hyb_queue_clock_fn(void);

/* Called (without the queue lock held) by a worker that is about to wait
 * for work while the queue had flagged itself as starved: the listener uses
 * it to resume accepting.  Runs on a worker thread. */
typedef void hyb_queue_idle_fn(void *baton);

apr_status_t hyb_queue_create(hyb_queue_t **q, apr_pool_t *p);
void hyb_queue_set_idle_notify(hyb_queue_t *q, hyb_queue_idle_fn *fn, void *baton);

/* Pure: the cap a child uses: its CPUs shared out over the children that
 * serve, rounded up (so that together they can keep every CPU busy), at
 * least 1. */
apr_uint32_t hyb_queue_gate_cap_for(int ncpu, int children);

/* Turn the wake gate on (cap > 0 and window > 0) or off; clock NULL keeps
 * the current one (monotonic by default).  Any thread, any time. */
void hyb_queue_set_gate(hyb_queue_t *q, apr_uint32_t cap,
                        apr_interval_time_t window, hyb_queue_clock_fn *clock);

/* Listener thread: append a job and wake nobody yet; the caller must call
 * hyb_queue_nudge before it next sleeps (the listener does at the end of
 * each loop round, so the round's jobs share the wake-ups).  APR_EOF once
 * the queue was terminated. */
apr_status_t hyb_queue_append(hyb_queue_t *q, hyb_job_t *job);

/* Any thread: append a job and wake the idle workers hyb_queue_wakes_of
 * says as if the gate were off (for threads that do not nudge: timed
 * callbacks, the accept token).  Never blocks.  APR_EOF once the queue
 * was terminated. */
apr_status_t hyb_queue_push(hyb_queue_t *q, hyb_job_t *job);

/* Listener thread: wake whom hyb_queue_wakes_of says now (how many in
 * *woken).  Returns how long until a returning worker stops counting
 * while a job is held back for it (call again by then), else 0. */
apr_interval_time_t hyb_queue_nudge(hyb_queue_t *q, apr_uint32_t *woken);

/* Worker side: wait for a job.  APR_SUCCESS with *job set; APR_EINTR after
 * hyb_queue_interrupt_all() (once per waiting worker); APR_EOF once
 * terminated and empty.  With a seat, the worker counts as returning from
 * the job it takes until it calls pop again (or leave). */
apr_status_t hyb_queue_pop_at(hyb_queue_t *q, hyb_queue_seat_t *seat,
                              hyb_job_t **job);
apr_status_t hyb_queue_pop(hyb_queue_t *q, hyb_job_t **job);

/* Worker thread that stops popping: its seat stops counting. */
void hyb_queue_leave(hyb_queue_t *q, hyb_queue_seat_t *seat);

/* Wake every waiting worker with APR_EINTR (they re-check their exit flag). */
void hyb_queue_interrupt_all(hyb_queue_t *q);

/* No more pushes; pops drain what is queued, then return APR_EOF. */
void hyb_queue_term(hyb_queue_t *q);

/* What the queue holds and who waits for it, at one moment (read under
 * its lock).  The derived quantities below are the only definitions of
 * load, starved and idle: the listener, the published load word and the
 * tests all use them. */
typedef struct hyb_queue_snap_t {
    apr_uint32_t length;        /* jobs queued, not yet popped */
    apr_uint32_t waiting;       /* workers blocked in the wait */
    apr_uint32_t notifying;     /* workers running the idle fn, on their way
                                 * to wait */
    apr_uint32_t claimed;       /* waiters a push already signalled */
    apr_uint32_t returning;     /* workers that took a job less than the
                                 * gate's window ago, at most its cap */
} hyb_queue_snap_t;

/* Jobs queued - workers waiting (a worker on its way to wait counts as
 * waiting): > 0, that many jobs have no worker coming; < 0, that many
 * workers are idle.  The value the load mirror publishes. */
int hyb_queue_load_of(const hyb_queue_snap_t *s);

/* A queued job has no worker coming and none idle to wake for it: more
 * jobs than waiters signalled and workers returning, and no idle waiter
 * (with the gate on, a job held back while one is idle is not starved:
 * the nudge wakes that one if nobody returns in time). */
int hyb_queue_starved_of(const hyb_queue_snap_t *s);

/* No idle worker: load >= 0. */
int hyb_queue_busy_of(const hyb_queue_snap_t *s);

/* The one wake rule: how many idle waiters to signal for what is queued.
 * Each signalled waiter and each returning worker takes one job; the rest
 * need a waiter each, as many as are idle; with cap > 0, only until cap
 * workers are awake (signalled + returning). */
apr_uint32_t hyb_queue_wakes_of(const hyb_queue_snap_t *s, apr_uint32_t cap);

/* Workers waiting that no push has signalled yet. */
apr_uint32_t hyb_queue_idle_of(const hyb_queue_snap_t *s);

/* Any thread: the counts now.  No side effect. */
void hyb_queue_snapshot(hyb_queue_t *q, hyb_queue_snap_t *s);

/* Listener thread: the counts now (into *s) and, under the same lock, arm
 * the one-shot idle notification when cond(*s) holds: the next worker
 * about to wait then calls the idle fn once.  A caller that holds back for
 * want of a worker arms it so that it hears of the next one; reading and
 * arming under one lock means no worker goes idle unheard in between.
 * Returns cond(*s). */
typedef int hyb_queue_cond_fn(const hyb_queue_snap_t *s);
int hyb_queue_arm_idle_notify_if(hyb_queue_t *q, hyb_queue_cond_fn *cond,
                                 hyb_queue_snap_t *s);

/* Unlink the oldest queued job of `kind` that no already-woken worker is
 * coming for; NULL when there is none. */
hyb_job_t *hyb_queue_take_waiting(hyb_queue_t *q, int kind);

/* Keep a copy of hyb_queue_load_of in *word, updated under the lock at
 * every change; NULL stops it. */
void hyb_queue_set_load_mirror(hyb_queue_t *q, volatile apr_int32_t *word);

#endif
