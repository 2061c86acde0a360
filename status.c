/* status.c - what a child tells its siblings, mod_status and Prometheus
 * that the scoreboard has no field for.
 *
 * Owns three shared-memory arrays, one entry per process slot, created
 * once by the parent and kept across restarts: hyb_shared_slot_t
 * (connections gathering a request head, worker queue load; kept in the
 * retained data), hyb_stats_slot_t (the counters of stats.h; its address
 * kept under the retained-data key "mpm_hybrid_stats") and
 * hyb_lsnap_area_t (the snapshot of the connections each listener holds,
 * lsnap.h; under "mpm_hybrid_lsnap").  Also owns the sibling scan the
 * listener uses to leave new connections to a less loaded child
 * (hyb_status_least_loaded_sibling); the mod_status hook (the hybrid
 * table in the HTML page, and with ExtendedStatus On the table of the
 * connections the listeners hold; the hybrid keys in ?auto after the
 * standard keys, which are unchanged); and the hybrid-metrics handler
 * (Prometheus text, formatted by metrics.c).
 *
 * Threads: hyb_status_init runs in the parent during configuration; each
 * field has one writer in its child (see hyb_shared_slot_t, stats.h,
 * lsnap.h); the parent zeroes the hyb_shared_slot_t of a slot when it
 * reaps that child and never reads or writes the counters or the
 * snapshots; the handlers run on worker threads and read everything
 * without a lock (a snapshot of hints; the connection snapshots under
 * their seqlock).
 */
#include "hyb.h"
#include "stats.h"
#include "metrics.h"
#include "lsnap.h"

#include "http_protocol.h"
#include "mod_status.h"

#include <apr_shm.h>
#include <apr_strings.h>
#include <limits.h>
#include <apr_optional_hooks.h>

#define HYB_STATS_KEY "mpm_hybrid_stats"
#define HYB_LSNAP_KEY "mpm_hybrid_lsnap"

/* This pass's view of the counters (set in every pass, inherited at fork);
 * the dummy takes the increments when there is no segment. */
static hyb_stats_slot_t *hyb_stats_base;
static hyb_stats_slot_t hyb_stats_dummy;

/* Parent, post_config: the counters' segment, once per server lifetime;
 * its address survives the module's unload in the retained data. */
static void hyb_stats_init(hyb_retained_t *r)
{
    hyb_stats_slot_t **keep = ap_retained_data_get(HYB_STATS_KEY);
    apr_size_t size = r->first_server_limit * sizeof(hyb_stats_slot_t) + 64;
    apr_shm_t *shm;
    apr_status_t rv;
    char *base;

    if (!keep) {
        keep = ap_retained_data_create(HYB_STATS_KEY, sizeof(*keep));
    }
    if (!*keep) {
        rv = apr_shm_create(&shm, size, NULL, ap_pglobal);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, ap_server_conf,
                         "HYB0111: no shared memory for the hybrid counters "
                         "(%" APR_SIZE_T_FMT " bytes); the hybrid-metrics "
                         "handler and the status page show them as 0",
                         size);
            return;
        }
        base = apr_shm_baseaddr_get(shm);
        memset(base, 0, size);
        *keep = (hyb_stats_slot_t *)APR_ALIGN((apr_uintptr_t)base, 64);
    }
    hyb_stats_base = *keep;
}

hyb_stats_slot_t *hyb_stats_for(int slot)
{
    hyb_retained_t *rt = hyb_srv.retained;

    if (!hyb_stats_base || !rt || slot < 0
        || slot >= rt->first_server_limit) {
        return &hyb_stats_dummy;
    }
    return &hyb_stats_base[slot];
}

/* This pass's view of the connection snapshots (NULL without a segment). */
static hyb_lsnap_area_t *hyb_lsnap_base;

/* Parent, post_config: the connection snapshots' segment, once per server
 * lifetime, kept as the counters' is.  Not cleared: a new segment is
 * zeroed by the system, and its pages are touched only by the slots that
 * have a child (ServerLimit x 6.5 KB of address space, mostly unused). */
static void hyb_lsnap_init(hyb_retained_t *r)
{
    hyb_lsnap_area_t **keep = ap_retained_data_get(HYB_LSNAP_KEY);
    apr_size_t size = r->first_server_limit * sizeof(hyb_lsnap_area_t) + 64;
    apr_shm_t *shm;
    apr_status_t rv;

    if (!keep) {
        keep = ap_retained_data_create(HYB_LSNAP_KEY, sizeof(*keep));
    }
    if (!*keep) {
        rv = apr_shm_create(&shm, size, NULL, ap_pglobal);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, ap_server_conf,
                         "HYB0115: no shared memory for the table of the "
                         "connections the listeners hold (%" APR_SIZE_T_FMT
                         " bytes); server-status shows no such table", size);
            return;
        }
        *keep = (hyb_lsnap_area_t *)APR_ALIGN(
                    (apr_uintptr_t)apr_shm_baseaddr_get(shm), 64);
    }
    hyb_lsnap_base = *keep;
}

hyb_lsnap_area_t *hyb_lsnap_for(int slot)
{
    hyb_retained_t *rt = hyb_srv.retained;

    if (!hyb_lsnap_base || !rt || slot < 0 || slot >= rt->first_server_limit) {
        return NULL;
    }
    return &hyb_lsnap_base[slot];
}

/* Parent, post_config: once per server lifetime (the arrays are sized for
 * the first ServerLimit, which restarts cannot change). */
apr_status_t hyb_status_init(hyb_retained_t *r)
{
    apr_size_t size = r->first_server_limit * sizeof(hyb_shared_slot_t);
    apr_shm_t *shm;
    apr_status_t rv;

    hyb_stats_init(r);
    hyb_lsnap_init(r);
    if (r->shared) {
        return APR_SUCCESS;
    }
    rv = apr_shm_create(&shm, size, NULL, ap_pglobal);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    r->shared = apr_shm_baseaddr_get(shm);
    memset((void *)r->shared, 0, size);
    return APR_SUCCESS;
}

static volatile hyb_shared_slot_t *hyb_status_slot(int slot)
{
    hyb_retained_t *rt = hyb_srv.retained;

    if (!rt || !rt->shared || slot < 0 || slot >= rt->first_server_limit) {
        return NULL;
    }
    return &rt->shared[slot];
}

/* Listener thread of the child in `slot`. */
void hyb_status_set_gathering(int slot, apr_uint32_t n)
{
    volatile hyb_shared_slot_t *sh = hyb_status_slot(slot);

    if (sh) {
        sh->gathering = n;
    }
}

/* Child main thread, before the workers start: the word its queue keeps
 * its load in (NULL without the shared array). */
volatile apr_int32_t *hyb_status_load_word(int slot)
{
    volatile hyb_shared_slot_t *sh = hyb_status_slot(slot);

    return sh ? &sh->load : NULL;
}

/* Parent, when the child of `slot` is gone. */
void hyb_status_clear(int slot)
{
    volatile hyb_shared_slot_t *sh = hyb_status_slot(slot);

    if (sh) {
        sh->gathering = 0;
        sh->load = 0;
    }
}

/* Listener thread of the child in self_slot: the slot of the least loaded
 * other child of this generation that is accepting, and its demand (queue
 * load plus connections gathering a head, each of which will want a
 * worker) in *demand; -1 (and INT_MAX) when there is none.  One pass over
 * ServerLimit slots, a few reads each; a racy hint.  A child that lies
 * here can at worst make its busier siblings leave or hand new connections
 * to it, which it could take anyway (the parent never reads this array). */
int hyb_status_least_loaded_sibling(int self_slot, int *demand)
{
    hyb_retained_t *rt = hyb_srv.retained;
    ap_generation_t gen = rt->mpm->my_generation;
    int i, best = -1;

    *demand = INT_MAX;
    if (!rt->shared) {
        return best;
    }
    for (i = 0; i < rt->first_server_limit; i++) {
        process_score *ps = ap_get_scoreboard_process(i);
        volatile hyb_shared_slot_t *sh = &rt->shared[i];
        int d;
        if (i == self_slot || !ps->pid || ps->generation != gen
            || ps->quiescing || ps->not_accepting) {
            continue;
        }
        d = sh->load + (int)sh->gathering;
        if (d < *demand) {
            *demand = d;
            best = i;
        }
    }
    return best;
}

/* Any thread of a child: how many children of this generation serve (have
 * a pid and are not quiescing), this one included; at least 1. */
int hyb_status_serving_children(void)
{
    hyb_retained_t *rt = hyb_srv.retained;
    ap_generation_t gen = rt->mpm->my_generation;
    int i, n = 0;

    for (i = 0; rt->shared && i < rt->first_server_limit; i++) {
        process_score *ps = ap_get_scoreboard_process(i);
        if (ps->pid && ps->generation == gen && !ps->quiescing) {
            n++;
        }
    }
    return n > 0 ? n : 1;
}

/* ---- reading every slot (worker threads of any child) ------------------- */

static int hyb_status_stats_any(const hyb_stats_snap_t *st)
{
    int i;

    for (i = 0; i < HYB_STAT_NCOUNTERS; i++) {
        if (st->c[i]) {
            return 1;
        }
    }
    return st->wait_count != 0;
}

/* Worker threads of the child in `slot`, counted as mod_status does. */
static void hyb_status_threads(hyb_mx_child_t *k, const process_score *ps)
{
    int j;

    if (ps->quiescing) {
        return;
    }
    for (j = 0; j < hyb_srv.retained->first_thread_limit; j++) {
        int st = ap_get_scoreboard_worker_from_indexes(k->slot, j)->status;
        if (st == SERVER_READY) {
            k->idle++;
        }
        else if (st != SERVER_DEAD && st != SERVER_STARTING
                 && st != SERVER_IDLE_KILL && st != SERVER_GRACEFUL) {
            k->busy++;
        }
    }
}

/* What the scoreboard and hyb_shared_slot_t say of a live child. */
static void hyb_status_gauges(hyb_mx_child_t *k, const process_score *ps,
                              ap_generation_t gen)
{
    volatile hyb_shared_slot_t *sh = hyb_status_slot(k->slot);

    k->pid = ps->pid;
    k->old_gen = ps->generation != gen;
    k->stopping = ps->quiescing != 0;
    k->accepting = !ps->not_accepting && !ps->quiescing;
    k->conns = ps->connections;
    k->parked[HYB_MX_KEEPALIVE] = ps->keep_alive;
    k->parked[HYB_MX_WRITING] = ps->write_completion;
    k->parked[HYB_MX_WAITIO] = ps->wait_io;
    k->parked[HYB_MX_CLOSING] = ps->lingering_close;
    if (sh) {
        k->parked[HYB_MX_GATHERING] = sh->gathering;
        k->load = sh->load;
    }
    hyb_status_threads(k, ps);
}

/* Every slot with a process or with counters; *n of them.  Grown as
 * needed: ServerLimit may be large and mostly empty. */
static hyb_mx_child_t *hyb_status_snapshot(apr_pool_t *p, int *n)
{
    hyb_retained_t *rt = hyb_srv.retained;
    ap_generation_t gen = rt->mpm->my_generation;
    apr_array_header_t *kids = apr_array_make(p, 16, sizeof(hyb_mx_child_t));
    hyb_mx_child_t k;
    int i;

    for (i = 0; i < rt->first_server_limit; i++) {
        process_score *ps = ap_get_scoreboard_process(i);

        memset(&k, 0, sizeof(k));
        k.slot = i;
        hyb_stats_snapshot(hyb_stats_for(i), &k.st);
        if (!ps->pid && !hyb_status_stats_any(&k.st)) {
            continue;
        }
        if (ps->pid) {
            hyb_status_gauges(&k, ps, gen);
        }
        *(hyb_mx_child_t *)apr_array_push(kids) = k;
    }
    *n = kids->nelts;
    return (hyb_mx_child_t *)kids->elts;
}

static void hyb_status_write(void *baton, const char *s, apr_size_t len)
{
    ap_rwrite(s, (int)len, baton);
}

/* ---- the status page ------------------------------------------------------ */

static const char *hyb_status_accepting(const hyb_mx_child_t *k)
{
    if (k->stopping) {
        return "no (stopping)";
    }
    if (k->st.accept_state > HYB_ACCEPT_YES) {
        return k->accepting ? "yes" : hyb_accept_state_name[k->st.accept_state];
    }
    return k->accepting ? "yes" : "no";
}

static void hyb_status_row(request_rec *r, const hyb_mx_child_t *k)
{
    const apr_uint64_t *c = k->st.c;

    ap_rprintf(r, "<tr><td>%d</td><td>%" APR_INT64_T_FMT "%s</td><td>%s</td>"
               "<td>%d</td><td>%u</td><td>%u</td><td>%u</td><td>%u</td>"
               "<td>%u</td><td>%u</td><td>%u</td><td>%" APR_UINT64_T_FMT
               "</td><td>%" APR_UINT64_T_FMT "</td><td>%" APR_UINT64_T_FMT
               "</td><td>%" APR_UINT64_T_FMT "</td></tr>\n",
               k->slot, k->pid, k->old_gen ? " (old gen)" : "",
               hyb_status_accepting(k), (int)k->load, k->conns,
               k->parked[HYB_MX_GATHERING], k->parked[HYB_MX_KEEPALIVE],
               k->parked[HYB_MX_WRITING], k->parked[HYB_MX_WAITIO],
               k->parked[HYB_MX_CLOSING], hyb_mx_in_worker(k),
               c[HYB_STAT_ACCEPTS], c[HYB_STAT_HANDOFF_SENT],
               c[HYB_STAT_HANDOFF_RECV], c[HYB_STAT_DEFERRALS]);
}

static void hyb_status_sum_row(request_rec *r, const hyb_mx_child_t *kids,
                               int n)
{
    hyb_mx_child_t sum;
    apr_uint32_t in_worker = 0;
    int i, j;

    memset(&sum, 0, sizeof(sum));
    for (i = 0; i < n; i++) {
        if (!kids[i].pid) {
            continue;
        }
        sum.conns += kids[i].conns;
        sum.load += kids[i].load;
        for (j = 0; j < HYB_MX_WORKER; j++) {
            sum.parked[j] += kids[i].parked[j];
        }
        in_worker += hyb_mx_in_worker(&kids[i]);   /* clamped per child */
        for (j = 0; j < HYB_STAT_NCOUNTERS; j++) {
            sum.st.c[j] += kids[i].st.c[j];
        }
    }
    ap_rprintf(r, "<tr><td>Sum</td><td>&nbsp;</td><td>&nbsp;</td><td>%d</td>"
               "<td>%u</td><td>%u</td><td>%u</td><td>%u</td><td>%u</td>"
               "<td>%u</td><td>%u</td><td>%" APR_UINT64_T_FMT "</td><td>%"
               APR_UINT64_T_FMT "</td><td>%" APR_UINT64_T_FMT "</td><td>%"
               APR_UINT64_T_FMT "</td></tr>\n", (int)sum.load, sum.conns,
               sum.parked[HYB_MX_GATHERING], sum.parked[HYB_MX_KEEPALIVE],
               sum.parked[HYB_MX_WRITING], sum.parked[HYB_MX_WAITIO],
               sum.parked[HYB_MX_CLOSING], in_worker,
               sum.st.c[HYB_STAT_ACCEPTS], sum.st.c[HYB_STAT_HANDOFF_SENT],
               sum.st.c[HYB_STAT_HANDOFF_RECV], sum.st.c[HYB_STAT_DEFERRALS]);
}

static void hyb_status_table(request_rec *r, const hyb_mx_child_t *kids,
                             int n)
{
    int i;

    ap_rputs("<hr /><h2>Hybrid MPM: connections and admission per "
             "process</h2>\n"
             "<table id=\"hybrid-processes\" rules=\"all\" cellpadding=\"1%\">\n"
             "<tr><th rowspan=\"2\">Slot</th><th rowspan=\"2\">PID</th>"
             "<th rowspan=\"2\">accepting</th>"
             "<th rowspan=\"2\">queue load</th>"
             "<th colspan=\"7\">Connections</th>"
             "<th colspan=\"4\">New connections (since start)</th></tr>\n"
             "<tr><th>total</th><th>gathering</th><th>keep-alive</th>"
             "<th>writing</th><th>wait-io</th><th>closing</th>"
             "<th>in a worker</th><th>accepted</th><th>handed off</th>"
             "<th>received</th><th>deferrals</th></tr>\n", r);
    for (i = 0; i < n; i++) {
        if (kids[i].pid) {
            hyb_status_row(r, &kids[i]);
        }
    }
    hyb_status_sum_row(r, kids, n);
    ap_rputs("</table>\n<p>The connection columns after <i>total</i> add up "
             "to it. <i>gathering</i>: the request head is still arriving; "
             "these connections hold no worker, so they are not <code>R"
             "</code> in the scoreboard above (with ExtendedStatus On, the "
             "table below lists them). <i>in a worker</i>: being "
             "served, or queued for a worker. <i>queue load</i>: jobs "
             "waiting for a worker minus idle workers (above 0: the child "
             "is short of workers). Counters per slot since the server "
             "started; the counters and the queue-wait histogram are also "
             "served in Prometheus format by <code>SetHandler "
             "hybrid-metrics</code>.</p>\n", r);
}

/* ---- the connections the listeners hold (ExtendedStatus On) -------------- */

static void hyb_status_conn_rows(request_rec *r, const hyb_mx_child_t *k,
                                 const hyb_lsnap_t *s)
{
    char addr[HYB_LSNAP_ADDRLEN], secs[32], bytes[16];
    apr_uint64_t i;

    for (i = 0; i < s->h.nrows; i++) {
        const hyb_lsnap_row_t *row = &s->rows[i];
        apr_time_t since = row->f.since;
        apr_uint64_t age = (apr_time_t)s->h.taken > since
                           ? (apr_uint64_t)((apr_time_t)s->h.taken - since) : 0;

        apr_snprintf(secs, sizeof(secs), "%" APR_UINT64_T_FMT ".%u",
                     age / APR_USEC_PER_SEC,
                     (unsigned int)(age % APR_USEC_PER_SEC / 100000));
        apr_snprintf(bytes, sizeof(bytes), "%u", (unsigned int)row->f.bytes);
        ap_rprintf(r, "<tr><td>%d</td><td>%" APR_INT64_T_FMT "</td><td>%s</td>"
                   "<td>%s</td><td>%s</td><td>%s</td></tr>\n", k->slot, k->pid,
                   hyb_lsnap_state_name(row->f.state),
                   ap_escape_html(r->pool, hyb_lsnap_addr(addr, row)), secs,
                   row->f.state == HYB_MX_GATHERING ? bytes : "-");
    }
}

/* One line under the table per child: how old its snapshot is and what
 * it left out. */
static void hyb_status_conn_note(request_rec *r, const hyb_mx_child_t *k,
                                 const hyb_lsnap_t *s, int ok)
{
    apr_uint64_t more[HYB_MX_WORKER], n;
    apr_time_t age;
    int j;

    ap_rprintf(r, "<li>slot %d, pid %" APR_INT64_T_FMT ": ", k->slot, k->pid);
    if (!ok) {
        ap_rputs("busy, reload</li>\n", r);
        return;
    }
    if ((apr_int64_t)s->h.pid != k->pid || !s->h.taken) {
        ap_rputs("no snapshot yet</li>\n", r);
        return;
    }
    age = apr_time_now() - (apr_time_t)s->h.taken;
    ap_rprintf(r, "as of %" APR_TIME_T_FMT ".%u s ago; %" APR_UINT64_T_FMT
               " shown", age > 0 ? apr_time_sec(age) : 0,
               (unsigned int)(age > 0 ? apr_time_usec(age) / 100000 : 0),
               s->h.nrows);
    n = hyb_lsnap_more(s, more);
    if (n) {
        ap_rprintf(r, "; <span class=\"more\">%" APR_UINT64_T_FMT
                   " more not shown</span>:", n);
        for (j = 0; j < HYB_MX_WORKER; j++) {
            if (more[j]) {
                ap_rprintf(r, " %s %" APR_UINT64_T_FMT,
                           hyb_lsnap_state_name(j), more[j]);
            }
        }
    }
    ap_rputs("</li>\n", r);
}

static void hyb_status_conns(request_rec *r, const hyb_mx_child_t *kids,
                             int n)
{
    hyb_lsnap_t *snaps = apr_palloc(r->pool, n * sizeof(*snaps));
    int *ok = apr_pcalloc(r->pool, n * sizeof(*ok));
    int i;

    for (i = 0; i < n; i++) {
        const hyb_lsnap_area_t *a = hyb_lsnap_for(kids[i].slot);
        if (kids[i].pid && a) {
            ok[i] = hyb_lsnap_read(a, &snaps[i], HYB_LSNAP_TRIES);
        }
    }
    ap_rprintf(r, "<h2>Hybrid MPM: connections the listeners hold</h2>\n"
               "<p>Connections no worker holds: their request head is still "
               "arriving (<i>gathering</i>, with the bytes so far), or they "
               "wait in keep-alive, write completion, wait-io or lingering "
               "close. <i>seconds</i>: how long they had been in that state "
               "when their process took the snapshot (at most once a "
               "second). At most %d rows per process, gathering ones first; "
               "the rest are counted by state.</p>\n"
               "<ul id=\"hybrid-conns-notes\">\n", HYB_LSNAP_ROWS);
    for (i = 0; i < n; i++) {
        if (kids[i].pid && hyb_lsnap_for(kids[i].slot)) {
            hyb_status_conn_note(r, &kids[i], &snaps[i], ok[i]);
        }
    }
    ap_rputs("</ul>\n<table id=\"hybrid-conns\" rules=\"all\" "
             "cellpadding=\"1%\">\n<tr><th>Slot</th><th>PID</th>"
             "<th>state</th><th>client</th><th>seconds</th>"
             "<th>head bytes</th></tr>\n", r);
    for (i = 0; i < n; i++) {
        if (ok[i] && (apr_int64_t)snaps[i].h.pid == kids[i].pid) {
            hyb_status_conn_rows(r, &kids[i], &snaps[i]);
        }
    }
    ap_rputs("</table>\n", r);
}

static int hyb_status_hook(request_rec *r, int flags)
{
    hyb_mx_child_t *kids;
    int n;

    if (!hyb_srv.retained || !hyb_srv.retained->shared) {
        return OK;
    }
    kids = hyb_status_snapshot(r->pool, &n);
    if (flags & AP_STATUS_SHORT) {
        hyb_mx_format_auto(kids, n, apr_time_now(), hyb_status_write, r);
        return OK;
    }
    hyb_status_table(r, kids, n);
    if (ap_extended_status) {
        hyb_status_conns(r, kids, n);
    }
    return OK;
}

/* ---- the hybrid-metrics handler ------------------------------------------- */

static int hyb_metrics_handler(request_rec *r)
{
    hyb_mx_child_t *kids;
    int n;

    if (!r->handler || strcmp(r->handler, "hybrid-metrics") != 0) {
        return DECLINED;
    }
    r->allowed = (AP_METHOD_BIT << M_GET);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-cache");
    if (r->header_only) {
        return OK;
    }
    if (!hyb_srv.retained || !hyb_srv.retained->shared) {
        kids = NULL;
        n = 0;
    }
    else {
        kids = hyb_status_snapshot(r->pool, &n);
    }
    hyb_mx_format(kids, n, apr_time_now(), hyb_status_write, r);
    return OK;
}

void hyb_status_register_hooks(void)
{
    APR_OPTIONAL_HOOK(ap, status_hook, hyb_status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
    ap_hook_handler(hyb_metrics_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
