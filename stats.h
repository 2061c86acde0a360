/* stats.h - the per-slot counters of mod_mpm_hybrid: what the admission
 * rules did (accepts, handoffs, deferrals, token turns, pauses), what the
 * listener refused or timed out, saturation episodes, and a histogram of
 * how long runnable connections waited in a child's queue for a worker.
 *
 * Owns hyb_stats_slot_t, one per process slot, in a shared-memory segment
 * the parent creates once and keeps across restarts (status.c,
 * hyb_status_init); the increment API (inline, no lock, no syscall); and
 * the pure functions around it (histogram bucket, snapshot, saturation
 * episode transitions, accept-state transitions), unit-tested in
 * tests/unit/test_metrics.c and tests/unit/test_stats.c.
 *
 * Threads: every field names its one writer; counters are monotonic for
 * the server's lifetime per slot (a new child in a slot continues them,
 * the parent never writes them), so a reader sees at worst a value one
 * increment old.  Readers (the status and metrics handlers, in any
 * worker of any child) copy them with relaxed loads, without a lock.  The
 * parent never reads them (a child can write anything here).
 *
 * No httpd header: the unit tests build it with APR alone.
 */
#ifndef HYB_STATS_H
#define HYB_STATS_H

#include <apr.h>
#include <apr_time.h>

/* Counters written by the child's listener thread (single writer: a
 * relaxed load, add, relaxed store; no read-modify-write instruction). */
typedef enum {
    HYB_STAT_ACCEPTS = 0,       /* connections accept()ed */
    HYB_STAT_HANDOFF_SENT,      /* new connections handed to a sibling */
    HYB_STAT_HANDOFF_RECV,      /* connections received from a sibling */
    HYB_STAT_DEFERRALS,         /* accepting stopped to leave new
                                 * connections to a less loaded sibling */
    HYB_STAT_TOKEN_TURNS,       /* accept-token turns (a batch admitted
                                 * behind the queued work) */
    HYB_STAT_HEAD_TIMEOUTS,     /* gathering connections past their head
                                 * timeout, sent to a worker for the 408 */
    HYB_STAT_PERIP_REFUSED,     /* new connections closed by
                                 * HybridGatherPerIP */
    HYB_STAT_FD_PAUSES,         /* descriptor-reserve pauses (HYB0420) */
    HYB_STAT_SAT_EPISODES,      /* saturation episodes that began */
    HYB_STAT_SAT_USEC,          /* total length of the ended ones, us */
    HYB_STAT_NCOUNTERS
} hyb_stat_e;

/* Queue-wait histogram: upper bounds in microseconds, 1-2.5-5 per decade
 * from 1 ms to 10 s; one more bucket (+Inf) after the last. */
#define HYB_STATS_WAIT_BOUNDS 13
#define HYB_STATS_WAIT_BUCKETS (HYB_STATS_WAIT_BOUNDS + 1)
extern const apr_uint32_t hyb_stats_wait_bound_usec[HYB_STATS_WAIT_BOUNDS];

/* Why a child does not accept, as its listener last set it (0: not
 * published by this build's listener). */
typedef enum {
    HYB_ACCEPT_UNKNOWN = 0,
    HYB_ACCEPT_YES,             /* accepting */
    HYB_ACCEPT_BUSY,            /* work waits for its workers (token) */
    HYB_ACCEPT_DEFER,           /* leaves new connections to a sibling */
    HYB_ACCEPT_FD_PAUSE,        /* descriptor reserve or accept error */
    HYB_ACCEPT_STOPPING,        /* stops for good */
    HYB_ACCEPT_NSTATES
} hyb_accept_state_e;
extern const char *const hyb_accept_state_name[HYB_ACCEPT_NSTATES];

/* One process slot.  Padded so that the listener's line, the workers'
 * histogram and the next slot never share a cache line. */
typedef struct hyb_stats_slot_t {
    /* writer: the listener thread of the slot's child */
    apr_uint64_t c[HYB_STAT_NCOUNTERS];
    apr_uint64_t sat_since;         /* start of the open saturation
                                     * episode (apr_time_t), or 0 */
    apr_uint32_t accept_state;      /* hyb_accept_state_e */
    /* writer: any worker of the slot's child, after it popped a job
     * (atomic add: several workers) */
    apr_uint64_t wait_bucket[HYB_STATS_WAIT_BUCKETS]
        __attribute__((aligned(64)));
    apr_uint64_t wait_sum_usec;
} __attribute__((aligned(64))) hyb_stats_slot_t;

/* A reader's copy of one slot. */
typedef struct hyb_stats_snap_t {
    apr_uint64_t c[HYB_STAT_NCOUNTERS];
    apr_uint64_t wait_bucket[HYB_STATS_WAIT_BUCKETS];  /* not cumulative */
    apr_uint64_t wait_count;        /* sum of wait_bucket */
    apr_uint64_t wait_sum_usec;
    apr_time_t sat_since;
    hyb_accept_state_e accept_state;
} hyb_stats_snap_t;

/* status.c: the slot's counters, or a private dummy when there is no
 * shared segment (so that callers never test for NULL). */
hyb_stats_slot_t *hyb_stats_for(int slot);

/* ---- writers: inline, no lock ------------------------------------------ */

/* HYB_STATS_OFF (benchmark builds only: `make -f Makefile.apxs
 * BUILDDIR=build-nostats HYB_EXTRA_CFLAGS=-DHYB_STATS_OFF`): every
 * per-event write and the queue-wait clock reads compile to nothing, to
 * measure what the counters cost (BENCHMARKS.md). */
#ifdef HYB_STATS_OFF
#define HYB_STATS_NOW() ((apr_time_t)0)
#else
#define HYB_STATS_NOW() apr_time_now()
#endif

/* Listener thread only (single writer). */
static APR_INLINE void hyb_stats_add(hyb_stats_slot_t *s, hyb_stat_e which,
                                     apr_uint64_t n)
{
#ifndef HYB_STATS_OFF
    apr_uint64_t v = __atomic_load_n(&s->c[which], __ATOMIC_RELAXED);

    __atomic_store_n(&s->c[which], v + n, __ATOMIC_RELAXED);
#else
    (void)s; (void)which; (void)n;
#endif
}

static APR_INLINE void hyb_stats_inc(hyb_stats_slot_t *s, hyb_stat_e which)
{
    hyb_stats_add(s, which, 1);
}

/* Listener thread only. */
static APR_INLINE void hyb_stats_set_accept_state(hyb_stats_slot_t *s,
                                                  hyb_accept_state_e st)
{
    __atomic_store_n(&s->accept_state, (apr_uint32_t)st, __ATOMIC_RELAXED);
}

/* Listener thread: the state it published last (its own field). */
static APR_INLINE hyb_accept_state_e
hyb_stats_accept_state(const hyb_stats_slot_t *s)
{
    apr_uint32_t st = __atomic_load_n(&s->accept_state, __ATOMIC_RELAXED);

    return st < HYB_ACCEPT_NSTATES ? (hyb_accept_state_e)st
                                   : HYB_ACCEPT_UNKNOWN;
}

/* Pure: the accept state after the listener says `want` in state `cur`.
 * Stopping is final; UNKNOWN (or out of range) changes nothing.  Sets
 * *deferral to 1 when the move enters deferring from another state: a
 * deferral is an episode of stepping aside, however many rounds it lasts
 * (HYB_STAT_DEFERRALS counts these), else to 0. */
hyb_accept_state_e hyb_stats_accept_next(hyb_accept_state_e cur,
                                         hyb_accept_state_e want,
                                         int *deferral);

/* Pure: is the child saturated (stats.h's meaning: a runnable job waits
 * in its queue and no idle worker will take it)?  `load` is the queue's
 * load (hyb_queue_load_of: jobs queued - workers waiting), `token_queued`
 * 1 while the accept token, which is no work, is among those jobs. */
int hyb_stats_saturated(int load, int token_queued);

/* Listener thread, before its first round: forget what a previous child
 * of the slot left open (an episode that child never closed, because it
 * crashed, is dropped, not counted; its accept state). */
void hyb_stats_listener_start(hyb_stats_slot_t *s);

/* Pure: the histogram bucket of a wait (0 .. HYB_STATS_WAIT_BOUNDS). */
int hyb_stats_wait_bucket(apr_interval_time_t wait);

/* Any worker thread: one runnable job waited `wait` in the queue, from
 * the listener's push (conn.h go.queued_at) to the pop.  A connection
 * handed to a sibling is counted there, from its push in that child; one
 * put back after a failed handoff, from its second push. */
static APR_INLINE void hyb_stats_observe_wait(hyb_stats_slot_t *s,
                                              apr_interval_time_t wait)
{
#ifndef HYB_STATS_OFF
    if (wait < 0) {
        wait = 0;           /* clock stepped back */
    }
    __atomic_fetch_add(&s->wait_bucket[hyb_stats_wait_bucket(wait)], 1,
                       __ATOMIC_RELAXED);
    __atomic_fetch_add(&s->wait_sum_usec, (apr_uint64_t)wait,
                       __ATOMIC_RELAXED);
#else
    (void)s; (void)wait;
#endif
}

/* HYB_STATS_HOLD (benchmark builds only: `make -f Makefile.apxs
 * BUILDDIR=build-hold HYB_EXTRA_CFLAGS=-DHYB_STATS_HOLD`): the histogram
 * counts, instead of each job's queue wait, how long the worker that
 * popped it was off the cpu before it handed the connection back (wall
 * time minus the thread's cpu time): a request held by a preempted
 * worker.  hybrid-metrics then names it hybrid_job_offcpu_seconds
 * (BENCHMARKS.md, "Where the c50 tail is").  Four clock reads per job,
 * two of them system calls: not for production. */
typedef struct hyb_stats_hold_t {
    apr_interval_time_t wall, cpu;
} hyb_stats_hold_t;

#ifndef HYB_STATS_HOLD
#define HYB_STATS_WAIT_METRIC "hybrid_queue_wait_seconds"
#else
#define HYB_STATS_WAIT_METRIC "hybrid_job_offcpu_seconds"
#include <time.h>

/* Any thread: this thread's cpu time, us. */
static APR_INLINE apr_interval_time_t hyb_stats_thread_cpu(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (apr_interval_time_t)ts.tv_sec * APR_USEC_PER_SEC
           + ts.tv_nsec / 1000;
}
#endif

/* Worker thread, after it popped a connection queued at `queued_at`. */
static APR_INLINE void hyb_stats_popped(hyb_stats_slot_t *s,
                                        apr_time_t queued_at,
                                        hyb_stats_hold_t *h)
{
#ifdef HYB_STATS_HOLD
    (void)queued_at;
    (void)s;
    h->wall = apr_time_now();
    h->cpu = hyb_stats_thread_cpu();
#else
    (void)h;
    hyb_stats_observe_wait(s, HYB_STATS_NOW() - queued_at);
#endif
}

/* Worker thread, once the connection it popped has left it. */
static APR_INLINE void hyb_stats_handed_back(hyb_stats_slot_t *s,
                                             const hyb_stats_hold_t *h)
{
#ifdef HYB_STATS_HOLD
    hyb_stats_observe_wait(s, (apr_time_now() - h->wall)
                              - (hyb_stats_thread_cpu() - h->cpu));
#else
    (void)s; (void)h;
#endif
}

/* Listener thread, once per round with the queue load it read: opens an
 * episode when a job waits with no worker coming (load > 0), closes it
 * (adding its length) when none does.  Cheap when nothing changes. */
void hyb_stats_saturation(hyb_stats_slot_t *s, int saturated, apr_time_t now);

/* ---- readers ----------------------------------------------------------- */

/* Any thread: a lock-free copy (each field atomic, the set not). */
void hyb_stats_snapshot(const hyb_stats_slot_t *s, hyb_stats_snap_t *out);

/* Pure: length of the open saturation episode at `now` (0 when none). */
apr_interval_time_t hyb_stats_sat_current(const hyb_stats_snap_t *s,
                                          apr_time_t now);

#endif
