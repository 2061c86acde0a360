/* timers.h - timed callbacks (ap_mpm_register_timed_callback) and the
 * connections a module suspended (CONN_STATE_SUSPENDED) until a callback
 * moves them on.
 *
 * Owns: hyb_timer_t (defined in timers.c only; others see the hyb_job_t
 * in it) from registration to free,
 * and the operations on a child's list of suspended connections
 * (hyb_child_t.suspended and its count susp_count, under susp_mutex).
 *
 * Threads: each entry point names the thread that may call it:
 *   _any_      any thread of a child (a module's hook call);
 *   _listener_ the child's listener thread (libevent);
 *   _worker_   a worker thread.
 * A timer travels: registering thread -> inbox -> listener (armed) ->
 * queue -> a worker, which runs it and frees it.
 */
#ifndef HYB_TIMERS_H
#define HYB_TIMERS_H

#include "httpd.h"
#include "ap_mpm.h"

#include "fdqueue.h"

struct event_base;
struct hyb_child_t;
struct hyb_conn_t;

/* The hook: cb(baton) runs on a worker after t; callbacks cannot be
 * cancelled, and pending ones are dropped when the child exits, as under
 * event.  APR_ENOTIMPL in the parent. */
apr_status_t hyb_timer_any_register(apr_time_t t, ap_mpm_callback_fn_t *cb,
                                    void *baton);

/* A timer job taken from the inbox: arm it on base (its time may have
 * passed: it fires at once); when it fires it goes into the queue of the
 * calling child. */
void hyb_timer_listener_arm(struct event_base *base, apr_time_t now,
                            hyb_job_t *job);

/* A timer job taken from the queue: run its callback, free it. */
void hyb_timer_worker_run(hyb_job_t *job);

/* A connection whose module suspended it: kept until a callback moves it
 * out of CONN_STATE_SUSPENDED. */
void hyb_susp_worker_add(struct hyb_child_t *ch, struct hyb_conn_t *hc);

/* The suspended connections no longer SUSPENDED, unlinked, as a list
 * through job.next (NULL: none). */
struct hyb_conn_t *hyb_susp_worker_take_released(struct hyb_child_t *ch);

/* How many connections are suspended now (exact as of the last change;
 * no lock), for the scoreboard's process_score.suspended. */
apr_uint32_t hyb_susp_any_count(struct hyb_child_t *ch);

#endif
