/* metrics.c - Prometheus text exposition and the extra ?auto keys of the
 * hybrid MPM, from a snapshot of the process slots (metrics.h).
 *
 * Owns the one table of metric names, help texts and ?auto keys.  Pure:
 * no state, no httpd call; runs on the worker thread that serves the
 * hybrid-metrics handler or server-status (status.c), and in unit tests.
 */
#include "metrics.h"

#include <stdarg.h>

#include <apr_strings.h>

const char *const hyb_mx_state_name[HYB_MX_NSTATES] = {
    "gathering", "keepalive", "writing", "waitio", "closing", "worker"
};

typedef struct hyb_mx_counter_t {
    const char *name;
    const char *auto_key;
    const char *help;
} hyb_mx_counter_t;

static const hyb_mx_counter_t hyb_mx_counters[HYB_STAT_NCOUNTERS] = {
    { "hybrid_accepts_total", "HybridAccepts",
      "Connections accepted by the child in this slot." },
    { "hybrid_handoffs_sent_total", "HybridHandoffsSent",
      "New connections handed to a sibling with an idle worker." },
    { "hybrid_handoffs_received_total", "HybridHandoffsReceived",
      "Connections received from a sibling." },
    { "hybrid_deferrals_total", "HybridDeferrals",
      "Times the child stopped accepting to leave new connections to a "
      "less loaded sibling." },
    { "hybrid_accept_token_turns_total", "HybridAcceptTokenTurns",
      "Accept-token turns: batches of new connections admitted in turn "
      "with the work queued before them." },
    { "hybrid_head_timeouts_total", "HybridHeadTimeouts",
      "Connections whose request head did not arrive in time (answered "
      "408 or closed, as httpd does)." },
    { "hybrid_gather_per_ip_refusals_total", "HybridPerIPRefusals",
      "New connections closed by HybridGatherPerIP." },
    { "hybrid_descriptor_pauses_total", "HybridDescriptorPauses",
      "Times the child stopped accepting to keep its descriptor reserve "
      "(HYB0420)." },
    { "hybrid_saturation_episodes_total", "HybridSaturationEpisodes",
      "Episodes in which a runnable job waited in the child's queue with "
      "no worker free." },
    { "hybrid_saturation_seconds_total", "HybridSaturationSeconds",
      "Total length of the ended saturation episodes." },
};

const char *hyb_mx_auto_key(hyb_stat_e which)
{
    return hyb_mx_counters[which].auto_key;
}

apr_uint32_t hyb_mx_in_worker(const hyb_mx_child_t *k)
{
    apr_uint64_t parked = 0;
    int i;

    for (i = 0; i < HYB_MX_WORKER; i++) {
        parked += k->parked[i];
    }
    return parked >= k->conns ? 0 : (apr_uint32_t)(k->conns - parked);
}

const char *hyb_mx_seconds(char *buf, apr_uint64_t usec)
{
    apr_size_t n;

    n = apr_snprintf(buf, 32, "%" APR_UINT64_T_FMT ".%06u",
                     usec / 1000000, (unsigned)(usec % 1000000));
    while (buf[n - 1] == '0') {
        buf[--n] = '\0';
    }
    if (buf[n - 1] == '.') {
        buf[--n] = '\0';
    }
    return buf;
}

/* ---- output helpers -------------------------------------------------------- */

typedef struct hyb_mx_out_t {
    hyb_mx_write_fn *w;
    void *baton;
} hyb_mx_out_t;

static void hyb_mx_printf(hyb_mx_out_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void hyb_mx_printf(hyb_mx_out_t *o, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    apr_size_t n;

    va_start(ap, fmt);
    n = apr_vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    o->w(o->baton, buf, n);
}

static void hyb_mx_family(hyb_mx_out_t *o, const char *name, const char *type,
                          const char *help)
{
    hyb_mx_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One integer sample per child: value(k) for each. */
typedef apr_int64_t hyb_mx_value_fn(const hyb_mx_child_t *k, apr_time_t now);

static void hyb_mx_gauge(hyb_mx_out_t *o, const hyb_mx_child_t *kids, int n,
                         apr_time_t now, const char *name, const char *help,
                         hyb_mx_value_fn *value, int live_only)
{
    int i;

    hyb_mx_family(o, name, "gauge", help);
    for (i = 0; i < n; i++) {
        if (!live_only || kids[i].pid) {
            hyb_mx_printf(o, "%s{slot=\"%d\"} %" APR_INT64_T_FMT "\n", name,
                          kids[i].slot, value(&kids[i], now));
        }
    }
}

static apr_int64_t hyb_mx_v_open(const hyb_mx_child_t *k, apr_time_t now)
{
    (void)now;
    return k->conns;
}

static apr_int64_t hyb_mx_v_accepting(const hyb_mx_child_t *k, apr_time_t now)
{
    (void)now;
    return k->accepting;
}

static apr_int64_t hyb_mx_v_stopping(const hyb_mx_child_t *k, apr_time_t now)
{
    (void)now;
    return k->stopping;
}

static apr_int64_t hyb_mx_v_load(const hyb_mx_child_t *k, apr_time_t now)
{
    (void)now;
    return k->load;
}

static apr_int64_t hyb_mx_v_pid(const hyb_mx_child_t *k, apr_time_t now)
{
    (void)now;
    return k->pid;
}

/* ---- families -------------------------------------------------------------- */

static void hyb_mx_connections(hyb_mx_out_t *o, const hyb_mx_child_t *kids,
                               int n)
{
    int i, s;

    hyb_mx_family(o, "hybrid_connections", "gauge",
                  "Open connections of the child by state: gathering (request "
                  "head arriving), keepalive, writing (write completion), "
                  "waitio, closing (lingering close), worker (in a worker or "
                  "queued for one). They sum to hybrid_connections_open.");
    for (i = 0; i < n; i++) {
        if (!kids[i].pid) {
            continue;
        }
        for (s = 0; s < HYB_MX_NSTATES; s++) {
            apr_uint32_t v = s == HYB_MX_WORKER ? hyb_mx_in_worker(&kids[i])
                                                : kids[i].parked[s];
            hyb_mx_printf(o, "hybrid_connections{slot=\"%d\",state=\"%s\"} "
                          "%u\n", kids[i].slot, hyb_mx_state_name[s], v);
        }
    }
}

static void hyb_mx_workers(hyb_mx_out_t *o, const hyb_mx_child_t *kids, int n)
{
    int i;

    hyb_mx_family(o, "hybrid_workers", "gauge",
                  "Worker threads of the child, busy or idle.");
    for (i = 0; i < n; i++) {
        if (kids[i].pid) {
            hyb_mx_printf(o, "hybrid_workers{slot=\"%d\",state=\"busy\"} %u\n"
                          "hybrid_workers{slot=\"%d\",state=\"idle\"} %u\n",
                          kids[i].slot, kids[i].busy, kids[i].slot,
                          kids[i].idle);
        }
    }
}

/* A state set: 1 for the current state, 0 for the others; children whose
 * listener does not publish it are left out. */
static void hyb_mx_accept_state(hyb_mx_out_t *o, const hyb_mx_child_t *kids,
                                int n)
{
    int i, s;

    hyb_mx_family(o, "hybrid_child_accept_state", "gauge",
                  "Why the child accepts or not: accepting, busy (work waits "
                  "for its workers), deferring (leaves new connections to a "
                  "sibling), paused (descriptor reserve or accept error), stopping.");
    for (i = 0; i < n; i++) {
        if (!kids[i].pid || kids[i].st.accept_state == HYB_ACCEPT_UNKNOWN) {
            continue;
        }
        for (s = HYB_ACCEPT_YES; s < HYB_ACCEPT_NSTATES; s++) {
            hyb_mx_printf(o, "hybrid_child_accept_state{slot=\"%d\","
                          "state=\"%s\"} %d\n", kids[i].slot,
                          hyb_accept_state_name[s],
                          (int)kids[i].st.accept_state == s);
        }
    }
}

static void hyb_mx_counter(hyb_mx_out_t *o, const hyb_mx_child_t *kids, int n,
                           hyb_stat_e which)
{
    const hyb_mx_counter_t *m = &hyb_mx_counters[which];
    char sec[32];
    int i;

    hyb_mx_family(o, m->name, "counter", m->help);
    for (i = 0; i < n; i++) {
        apr_uint64_t v = kids[i].st.c[which];
        if (which == HYB_STAT_SAT_USEC) {
            hyb_mx_printf(o, "%s{slot=\"%d\"} %s\n", m->name, kids[i].slot,
                          hyb_mx_seconds(sec, v));
        }
        else {
            hyb_mx_printf(o, "%s{slot=\"%d\"} %" APR_UINT64_T_FMT "\n",
                          m->name, kids[i].slot, v);
        }
    }
}

static void hyb_mx_sat_current(hyb_mx_out_t *o, const hyb_mx_child_t *kids,
                               int n, apr_time_t now)
{
    char sec[32];
    int i;

    hyb_mx_family(o, "hybrid_saturation_current_seconds", "gauge",
                  "Length so far of the open saturation episode (0: none).");
    for (i = 0; i < n; i++) {
        if (kids[i].pid) {
            apr_interval_time_t d = hyb_stats_sat_current(&kids[i].st, now);
            hyb_mx_printf(o, "hybrid_saturation_current_seconds{slot=\"%d\"} "
                          "%s\n", kids[i].slot,
                          hyb_mx_seconds(sec, (apr_uint64_t)d));
        }
    }
}

static void hyb_mx_histogram(hyb_mx_out_t *o, const hyb_mx_child_t *kids,
                             int n)
{
    static const char name[] = HYB_STATS_WAIT_METRIC;
    char sec[32];
    int i, b;

#ifdef HYB_STATS_HOLD
    hyb_mx_family(o, name, "histogram",
                  "Benchmark build: time a worker holding a connection spent "
                  "off the cpu before handing it back.");
#else
    hyb_mx_family(o, name, "histogram",
                  "Time runnable connections waited in the child's queue for "
                  "a worker.");
#endif
    for (i = 0; i < n; i++) {
        const hyb_stats_snap_t *st = &kids[i].st;
        apr_uint64_t cum = 0;
        for (b = 0; b < HYB_STATS_WAIT_BOUNDS; b++) {
            cum += st->wait_bucket[b];
            hyb_mx_printf(o, "%s_bucket{slot=\"%d\",le=\"%s\"} %"
                          APR_UINT64_T_FMT "\n", name, kids[i].slot,
                          hyb_mx_seconds(sec, hyb_stats_wait_bound_usec[b]),
                          cum);
        }
        hyb_mx_printf(o, "%s_bucket{slot=\"%d\",le=\"+Inf\"} %" APR_UINT64_T_FMT
                      "\n%s_sum{slot=\"%d\"} %s\n%s_count{slot=\"%d\"} %"
                      APR_UINT64_T_FMT "\n", name, kids[i].slot, st->wait_count,
                      name, kids[i].slot, hyb_mx_seconds(sec, st->wait_sum_usec),
                      name, kids[i].slot, st->wait_count);
    }
}

void hyb_mx_format(const hyb_mx_child_t *kids, int n, apr_time_t now,
                   hyb_mx_write_fn *w, void *baton)
{
    hyb_mx_out_t o = { w, baton };
    int i;

    hyb_mx_gauge(&o, kids, n, now, "hybrid_child_pid",
                 "Process id of the child in this slot.", hyb_mx_v_pid, 1);
    hyb_mx_gauge(&o, kids, n, now, "hybrid_child_accepting",
                 "1 while the child accepts new connections.",
                 hyb_mx_v_accepting, 1);
    hyb_mx_gauge(&o, kids, n, now, "hybrid_child_stopping",
                 "1 once the child stops (graceful restart, idle reduction, "
                 "MaxConnectionsPerChild).", hyb_mx_v_stopping, 1);
    hyb_mx_accept_state(&o, kids, n);
    hyb_mx_gauge(&o, kids, n, now, "hybrid_queue_load",
                 "Jobs queued for a worker minus workers waiting for one "
                 "(above 0: work waits; below 0: idle workers).",
                 hyb_mx_v_load, 1);
    hyb_mx_gauge(&o, kids, n, now, "hybrid_connections_open",
                 "Open connections of the child.", hyb_mx_v_open, 1);
    hyb_mx_connections(&o, kids, n);
    hyb_mx_workers(&o, kids, n);
    for (i = 0; i < HYB_STAT_NCOUNTERS; i++) {
        hyb_mx_counter(&o, kids, n, (hyb_stat_e)i);
    }
    hyb_mx_sat_current(&o, kids, n, now);
    hyb_mx_histogram(&o, kids, n);
}

void hyb_mx_format_auto(const hyb_mx_child_t *kids, int n, apr_time_t now,
                        hyb_mx_write_fn *w, void *baton)
{
    hyb_mx_out_t o = { w, baton };
    apr_uint64_t sum[HYB_STAT_NCOUNTERS] = { 0 }, wcount = 0, wsum = 0;
    apr_uint64_t gathering = 0, in_worker = 0, sat_now = 0;
    char sec[32];
    int i, j;

    for (i = 0; i < n; i++) {
        for (j = 0; j < HYB_STAT_NCOUNTERS; j++) {
            sum[j] += kids[i].st.c[j];
        }
        wcount += kids[i].st.wait_count;
        wsum += kids[i].st.wait_sum_usec;
        if (kids[i].pid) {
            gathering += kids[i].parked[HYB_MX_GATHERING];
            in_worker += hyb_mx_in_worker(&kids[i]);
            sat_now += hyb_stats_sat_current(&kids[i].st, now) > 0;
        }
    }
    hyb_mx_printf(&o, "ConnsAsyncGathering: %" APR_UINT64_T_FMT "\n"
                  "HybridConnsInWorker: %" APR_UINT64_T_FMT "\n",
                  gathering, in_worker);
    for (j = 0; j < HYB_STAT_NCOUNTERS; j++) {
        if (j == HYB_STAT_SAT_USEC) {
            hyb_mx_printf(&o, "%s: %s\n", hyb_mx_counters[j].auto_key,
                          hyb_mx_seconds(sec, sum[j]));
        }
        else {
            hyb_mx_printf(&o, "%s: %" APR_UINT64_T_FMT "\n",
                          hyb_mx_counters[j].auto_key, sum[j]);
        }
    }
    hyb_mx_printf(&o, "HybridProcessesSaturated: %" APR_UINT64_T_FMT "\n"
                  "HybridQueueWaitCount: %" APR_UINT64_T_FMT "\n"
                  "HybridQueueWaitSeconds: %s\n", sat_now, wcount,
                  hyb_mx_seconds(sec, wsum));
}
