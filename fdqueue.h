/* fdqueue.h - the worker queue of one child.
 *
 * Owns: the FIFO of jobs the listener hands to worker threads, the count of
 * idle workers, and the "starved" signal the listener uses for accept
 * back-pressure.  Jobs are intrusive (hyb_job_t is embedded in the caller's
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

/* Snapshot counters (take the lock). */
apr_uint32_t hyb_queue_idlers(hyb_queue_t *q);  /* workers waiting, not yet handed a job */
apr_uint32_t hyb_queue_length(hyb_queue_t *q);  /* jobs queued, not yet popped */

/* True when a queued job waits with no worker about to take it: the queue
 * holds more jobs than workers already woken for them.  Also arms the idle
 * notification: the next worker that becomes idle calls the idle fn once. */
int hyb_queue_starved(hyb_queue_t *q);

/* Jobs queued minus workers waiting: > 0, that many jobs have no worker
 * coming; < 0, that many workers are idle.  >= 0 arms the idle
 * notification the same way. */
int hyb_queue_load(hyb_queue_t *q);

/* Unlink the oldest queued job of `kind` that no already-woken worker is
 * coming for; NULL when there is none. */
hyb_job_t *hyb_queue_take_waiting(hyb_queue_t *q, int kind);

/* Keep a copy of the load in *word, updated under the lock at every
 * change; NULL stops it. */
void hyb_queue_set_load_mirror(hyb_queue_t *q, volatile apr_int32_t *word);

#endif
