/* fdqueue.h - the worker queue of one child.
 *
 * Owns: the FIFO of jobs the listener hands to worker threads, the counts
 * of waiting workers (hyb_queue_snap_t, with the one definition of load,
 * starved and idle), and the one-shot idle notification the listener arms
 * when it holds back for want of a worker.  Jobs are intrusive (hyb_job_t is embedded in the caller's
 * object), so push never allocates and never blocks.
 *
 * Threads: any thread may push (in practice the listener); worker threads
 * pop.  Every field of hyb_queue_t is guarded by its own mutex.
 */
#ifndef HYB_FDQUEUE_H
#define HYB_FDQUEUE_H

#include <apr_pools.h>
#include <apr_errno.h>

typedef struct hyb_job_t hyb_job_t;
struct hyb_job_t {
    hyb_job_t *next;        /* owner: the queue while queued */
    int kind;               /* caller-defined (connection, timer, ...) */
};

typedef struct hyb_queue_t hyb_queue_t;

/* Called (without the queue lock held) by a worker that is about to wait
 * for work while the queue had flagged itself as starved: the listener uses
 * it to resume accepting.  Runs on a worker thread. */
typedef void hyb_queue_idle_fn(void *baton);

apr_status_t hyb_queue_create(hyb_queue_t **q, apr_pool_t *p);
void hyb_queue_set_idle_notify(hyb_queue_t *q, hyb_queue_idle_fn *fn, void *baton);

/* Append a job; wakes one idle worker if any.  Never blocks.
 * Returns APR_EOF once the queue was terminated. */
apr_status_t hyb_queue_push(hyb_queue_t *q, hyb_job_t *job);

/* Worker side: wait for a job.  APR_SUCCESS with *job set; APR_EINTR after
 * hyb_queue_interrupt_all() (once per waiting worker); APR_EOF once
 * terminated and empty. */
apr_status_t hyb_queue_pop(hyb_queue_t *q, hyb_job_t **job);

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
} hyb_queue_snap_t;

/* Jobs queued - workers waiting (a worker on its way to wait counts as
 * waiting): > 0, that many jobs have no worker coming; < 0, that many
 * workers are idle.  The value the load mirror publishes. */
int hyb_queue_load_of(const hyb_queue_snap_t *s);

/* A queued job has no worker coming: more jobs than waiters signalled. */
int hyb_queue_starved_of(const hyb_queue_snap_t *s);

/* No idle worker: load >= 0. */
int hyb_queue_busy_of(const hyb_queue_snap_t *s);

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
