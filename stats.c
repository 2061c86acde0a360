/* stats.c - the pure parts of the per-slot counters (stats.h): the queue
 * wait histogram's buckets, saturation episodes, accept-state transitions,
 * and the reader's copy.
 *
 * Owns no state.  Threads: hyb_stats_saturation and
 * hyb_stats_listener_start run on the listener thread of the slot's child
 * (the single writer of those fields); the others on any thread.  The
 * shared segment itself is made in status.c.
 */
#include "stats.h"

/* 1-2.5-5 per decade: 1 ms .. 10 s. */
const apr_uint32_t hyb_stats_wait_bound_usec[HYB_STATS_WAIT_BOUNDS] = {
    1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000
};

const char *const hyb_accept_state_name[HYB_ACCEPT_NSTATES] = {
    "unknown", "accepting", "busy", "deferring", "paused", "stopping"
};

/* Binary search over 13 bounds: 4 compares. */
int hyb_stats_wait_bucket(apr_interval_time_t wait)
{
    int lo = 0, hi = HYB_STATS_WAIT_BOUNDS;

    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (wait <= (apr_interval_time_t)hyb_stats_wait_bound_usec[mid]) {
            hi = mid;
        }
        else {
            lo = mid + 1;
        }
    }
    return lo;
}

void hyb_stats_saturation(hyb_stats_slot_t *s, int saturated, apr_time_t now)
{
    apr_uint64_t since = __atomic_load_n(&s->sat_since, __ATOMIC_RELAXED);

    if (saturated && !since) {
        hyb_stats_inc(s, HYB_STAT_SAT_EPISODES);
        __atomic_store_n(&s->sat_since, (apr_uint64_t)(now ? now : 1),
                         __ATOMIC_RELAXED);
    }
    else if (!saturated && since) {
        /* The total first: a reader that still sees since adds the open
         * part itself, a moment too much at worst (a gauge). */
        hyb_stats_add(s, HYB_STAT_SAT_USEC,
                      now > (apr_time_t)since ? (apr_uint64_t)now - since : 0);
        __atomic_store_n(&s->sat_since, 0, __ATOMIC_RELAXED);
    }
}

int hyb_stats_saturated(int load, int token_queued)
{
    return load - (token_queued ? 1 : 0) > 0;
}

hyb_accept_state_e hyb_stats_accept_next(hyb_accept_state_e cur,
                                         hyb_accept_state_e want,
                                         int *deferral)
{
    hyb_accept_state_e next = cur;

    if (cur != HYB_ACCEPT_STOPPING && want > HYB_ACCEPT_UNKNOWN
        && want < HYB_ACCEPT_NSTATES) {
        next = want;
    }
    *deferral = next == HYB_ACCEPT_DEFER && cur != HYB_ACCEPT_DEFER;
    return next;
}

void hyb_stats_listener_start(hyb_stats_slot_t *s)
{
    __atomic_store_n(&s->sat_since, 0, __ATOMIC_RELAXED);
    hyb_stats_set_accept_state(s, HYB_ACCEPT_UNKNOWN);
}

void hyb_stats_snapshot(const hyb_stats_slot_t *s, hyb_stats_snap_t *out)
{
    int i;

    for (i = 0; i < HYB_STAT_NCOUNTERS; i++) {
        out->c[i] = __atomic_load_n(&s->c[i], __ATOMIC_RELAXED);
    }
    out->wait_count = 0;
    for (i = 0; i < HYB_STATS_WAIT_BUCKETS; i++) {
        out->wait_bucket[i] = __atomic_load_n(&s->wait_bucket[i],
                                              __ATOMIC_RELAXED);
        out->wait_count += out->wait_bucket[i];
    }
    out->wait_sum_usec = __atomic_load_n(&s->wait_sum_usec, __ATOMIC_RELAXED);
    out->sat_since = (apr_time_t)__atomic_load_n(&s->sat_since,
                                                 __ATOMIC_RELAXED);
    out->accept_state = (hyb_accept_state_e)
        __atomic_load_n(&s->accept_state, __ATOMIC_RELAXED);
    if ((unsigned)out->accept_state >= HYB_ACCEPT_NSTATES) {
        out->accept_state = HYB_ACCEPT_UNKNOWN;
    }
}

apr_interval_time_t hyb_stats_sat_current(const hyb_stats_snap_t *s,
                                          apr_time_t now)
{
    return (s->sat_since && now > s->sat_since) ? now - s->sat_since : 0;
}
