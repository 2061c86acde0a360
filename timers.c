/* timers.c - timed callbacks and suspended connections (see timers.h).
 *
 * Owns: hyb_timer_t, with the libevent timer the listener arms for it
 * (libevent is used here for that alone), and the list operations on
 * hyb_child_t.suspended with its count susp_count.
 *
 * Threads: as named in timers.h: registration on any thread of a child,
 * arming and firing on its listener thread, running and freeing on a
 * worker; the suspended list and its count under hyb_child_t.susp_mutex,
 * by workers; the count also read (atomic, no lock) by the listener.
 */
#include "hyb.h"
#include "timers.h"

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdlib.h>

typedef struct hyb_timer_t {
    hyb_job_t job;              /* inbox, then queue: owner is the holder */
    struct event ev;            /* listener */
    apr_time_t when;
    ap_mpm_callback_fn_t *cb;
    void *baton;
} hyb_timer_t;

apr_status_t hyb_timer_any_register(apr_time_t t, ap_mpm_callback_fn_t *cb,
                                    void *baton)
{
    hyb_child_t *ch = hyb_child_current();
    hyb_timer_t *tm;

    if (!ch) {
        return APR_ENOTIMPL;    /* the parent serves nothing */
    }
    tm = calloc(1, sizeof(*tm));
    if (!tm) {
        return APR_ENOMEM;
    }
    tm->job.kind = HYB_JOB_TIMER;
    tm->when = apr_time_now() + t;
    tm->cb = cb;
    tm->baton = baton;
    hyb_inbox_push(ch->inbox, &tm->job);
    return APR_SUCCESS;
}

/* Listener thread: the time came; a worker runs it. */
static void hyb_timer_on_fire(evutil_socket_t fd, short what, void *arg)
{
    hyb_timer_t *tm = arg;

    (void)fd; (void)what;
    if (hyb_queue_push(hyb_child_current()->queue, &tm->job) != APR_SUCCESS) {
        free(tm);               /* exiting: pending callbacks are dropped */
    }
}

void hyb_timer_listener_arm(struct event_base *base, apr_time_t now,
                            hyb_job_t *job)
{
    hyb_timer_t *tm = (hyb_timer_t *)job;
    apr_interval_time_t delta = tm->when - now;
    struct timeval tv;

    AP_DEBUG_ASSERT(job->kind == HYB_JOB_TIMER);
    if (delta < 0) {
        delta = 0;
    }
    tv.tv_sec = apr_time_sec(delta);
    tv.tv_usec = apr_time_usec(delta);
    evtimer_assign(&tm->ev, base, hyb_timer_on_fire, tm);
    evtimer_add(&tm->ev, &tv);
}

void hyb_timer_worker_run(hyb_job_t *job)
{
    hyb_timer_t *tm = (hyb_timer_t *)job;

    AP_DEBUG_ASSERT(job->kind == HYB_JOB_TIMER);
    tm->cb(tm->baton);
    free(tm);
}

/* 2.4 has no API for a module to give a suspended connection back (e.g.
 * mod_dialup pacing a response with timed callbacks), so the worker that
 * runs a timed callback picks up the ones it released. */
void hyb_susp_worker_add(hyb_child_t *ch, hyb_conn_t *hc)
{
    apr_thread_mutex_lock(ch->susp_mutex);
    hc->job.next = (hyb_job_t *)ch->suspended;
    ch->suspended = hc;
    apr_atomic_inc32(&ch->susp_count);
    apr_thread_mutex_unlock(ch->susp_mutex);
}

hyb_conn_t *hyb_susp_worker_take_released(hyb_child_t *ch)
{
    hyb_conn_t **pp, *done = NULL;
    apr_uint32_t n = 0;

    apr_thread_mutex_lock(ch->susp_mutex);
    pp = &ch->suspended;
    while (*pp) {
        hyb_conn_t *hc = *pp;
        if (hc->cs.state != CONN_STATE_SUSPENDED) {
            *pp = (hyb_conn_t *)hc->job.next;
            hc->job.next = (hyb_job_t *)done;
            done = hc;
            n++;
        }
        else {
            pp = (hyb_conn_t **)&hc->job.next;
        }
    }
    if (n) {
        apr_atomic_sub32(&ch->susp_count, n);
    }
    apr_thread_mutex_unlock(ch->susp_mutex);
    return done;
}

apr_uint32_t hyb_susp_any_count(hyb_child_t *ch)
{
    return apr_atomic_read32(&ch->susp_count);
}
