/* metrics.h - pure formatters of what the hybrid MPM publishes: Prometheus
 * text exposition (the hybrid-metrics handler) and the extra ?auto keys of
 * server-status, from a snapshot of every process slot.
 *
 * Owns the names, help texts and ?auto keys of every metric (one table,
 * so the page, ?auto and /metrics cannot drift apart).  Threads: any; no
 * state.  No httpd header (unit-tested with APR alone): status.c takes the
 * snapshot from the scoreboard and the shared segments.
 */
#ifndef HYB_METRICS_H
#define HYB_METRICS_H

#include "stats.h"

/* Connection states of a child, as the listener publishes them. */
typedef enum {
    HYB_MX_GATHERING = 0,       /* request head still arriving */
    HYB_MX_KEEPALIVE,
    HYB_MX_WRITING,             /* write completion */
    HYB_MX_WAITIO,
    HYB_MX_CLOSING,             /* lingering close */
    HYB_MX_WORKER,              /* the rest: in a worker or queued for one */
    HYB_MX_NSTATES
} hyb_mx_state_e;
extern const char *const hyb_mx_state_name[HYB_MX_NSTATES];

/* One process slot, as a reader saw it. */
typedef struct hyb_mx_child_t {
    int slot;
    apr_int64_t pid;            /* 0: no process in the slot now */
    int old_gen;                /* of an older generation */
    int accepting, stopping;
    apr_uint32_t conns;         /* every open connection of the child */
    apr_uint32_t parked[HYB_MX_WORKER];     /* by state, without WORKER */
    apr_int32_t load;           /* jobs queued - workers waiting */
    apr_uint32_t busy, idle;    /* worker threads */
    hyb_stats_snap_t st;
} hyb_mx_child_t;

/* Connections neither parked nor gathering: conns minus the parked ones,
 * 0 when a torn read makes that negative. */
apr_uint32_t hyb_mx_in_worker(const hyb_mx_child_t *k);

/* The ?auto key of a counter. */
const char *hyb_mx_auto_key(hyb_stat_e which);

typedef void hyb_mx_write_fn(void *baton, const char *s, apr_size_t len);

/* Prometheus text format 0.0.4: every family with HELP and TYPE, one
 * sample per child (label slot), the queue-wait histogram with _bucket,
 * _sum and _count.  Counters are printed for every slot given (callers
 * pass live slots and slots whose counters are not zero). */
void hyb_mx_format(const hyb_mx_child_t *kids, int n, apr_time_t now,
                   hyb_mx_write_fn *w, void *baton);

/* The hybrid ?auto lines (sums over the slots), after the standard keys:
 * ConnsAsyncGathering, then one key per counter, then the queue-wait
 * count and sum. */
void hyb_mx_format_auto(const hyb_mx_child_t *kids, int n, apr_time_t now,
                        hyb_mx_write_fn *w, void *baton);

/* "0.0025" for 2500 us: seconds, no trailing zeros (buf >= 32 bytes). */
const char *hyb_mx_seconds(char *buf, apr_uint64_t usec);

#endif
