/* inbox.h - the listener's inbox: how worker threads hand connections back.
 *
 * Owns: a list of jobs returned to the listener and the eventfd that wakes
 * it.  Workers append under the mutex; the eventfd is written only when the
 * listener is not already known to be awake, so a busy listener that drains
 * the inbox in batches costs no extra syscall per handoff.
 *
 * Threads: hyb_inbox_push from any thread; hyb_inbox_take and
 * hyb_inbox_ack only from the listener thread.
 */
#ifndef HYB_INBOX_H
#define HYB_INBOX_H

#include "fdqueue.h"   /* hyb_job_t */

typedef struct hyb_inbox_t hyb_inbox_t;

/* Creates the eventfd (non-blocking, close-on-exec) and registers its close
 * as a cleanup of p. */
apr_status_t hyb_inbox_create(hyb_inbox_t **ib, apr_pool_t *p);
/* The fd the listener polls for reading. */
int hyb_inbox_fd(const hyb_inbox_t *ib);
/* Append (FIFO) and wake the listener unless a wakeup is already pending. */
void hyb_inbox_push(hyb_inbox_t *ib, hyb_job_t *job);
/* Append without waking the listener (for handoffs that can wait for its
 * next loop round, which it bounds with a periodic tick), but wake it if
 * *wake_if (an atomic flag the listener sets) is non-zero when the job is
 * appended; race-free with a listener that sets the flag and then takes
 * the lazy list. */
void hyb_inbox_push_lazy_or_wake(hyb_inbox_t *ib, hyb_job_t *job,
                                 volatile apr_uint32_t *wake_if);
/* Listener: take every queued job without touching the eventfd. */
hyb_job_t *hyb_inbox_take_lazy(hyb_inbox_t *ib);
/* Listener: take every queued job at once (FIFO order, NULL-terminated
 * list through job->next) and re-arm the wakeup.  Reads the eventfd. */
hyb_job_t *hyb_inbox_take(hyb_inbox_t *ib);
/* Wake the listener with no job (e.g. to make it re-check a flag). */
void hyb_inbox_wake(hyb_inbox_t *ib);

#endif
