/* worker.c - worker threads and the connection state machine they run,
 * plus the per-connection hooks the MPM registers.
 *
 * A worker pops a connection from the queue and owns it until it either
 * needs to wait (keep-alive, write completion, wait-io, lingering close) or
 * is done; it then hands it back to the listener through the inbox and
 * never touches it again.  All state changes go through hyb_conn_set_state()
 * (logged at trace4), and what each state does is in hyb_state_table.
 * Suspended connections and timed callbacks are kept by timers.c.
 *
 * Threads: worker threads; the hooks run on whichever thread runs the
 * connection (a worker).  Each worker adds the queue wait of every
 * connection it pops to its slot's histogram (stats.h, atomic adds; in a
 * HYB_STATS_HOLD build, the time it held it off the cpu instead).  A
 * worker touches only the shared, w and back parts of the hyb_conn_t it
 * holds (conn.h).
 */
#include "hyb.h"

#include "http_protocol.h"
#include "http_request.h"
#include "http_vhost.h"

#include "sock.h"
#include "stats.h"
#include "timers.h"

typedef struct hyb_run_t {
    hyb_conn_t *hc;
    apr_thread_t *thd;
    int slot, index;
} hyb_run_t;

/* A state step returns 1 when the connection left the worker. */
typedef int hyb_step_fn(hyb_run_t *run);

static const char *const hyb_state_names[] = {
    "keepalive", "processing", "handler", "write-completion", "suspended",
    "linger", "linger-normal", "linger-short", "waitio"
};

static void hyb_conn_set_state(hyb_conn_t *hc, conn_state_e st, const char *why)
{
    if (APLOGctrace4(hc->c)) {
        unsigned from = hc->cs.state, to = st;
        ap_log_cerror(APLOG_MARK, APLOG_TRACE4, 0, hc->c,
                      "hybrid: state %s -> %s (%s)",
                      from < CONN_STATE_NUM ? hyb_state_names[from] : "?",
                      to < CONN_STATE_NUM ? hyb_state_names[to] : "?", why);
    }
    hc->cs.state = st;
}

/* Give the connection back to the listener; the caller must not touch hc
 * afterwards. */
static int hyb_conn_park(hyb_run_t *run, hyb_ask_e kind)
{
    hyb_conn_t *hc = run->hc;

    /* The listener keeps no trace of a connection a worker owns. */
    AP_DEBUG_ASSERT(hc->l.place == HYB_AT_NONE && kind != HYB_ASK_NONE);
    if (kind != HYB_ASK_CLOSE && kind != HYB_ASK_LINGER) {
        ap_run_suspend_connection(hc->c, hc->w.r);   /* paired with resume */
    }
    hc->c->sbh = NULL;          /* no scoreboard writes while parked */
    hc->back.ask = kind;
    if (kind == HYB_ASK_WRITE || kind == HYB_ASK_WAITIO || hc->go.close_soon) {
        hyb_inbox_push(hc->child->inbox, &hc->job);
    }
    else {
        /* Keep-alive and closing need no prompt listener: its read event
         * is already registered (an edge makes it look at the inbox), and
         * the tick bounds the wait for the timeouts to start.  An edge the
         * listener saw while this worker still held the connection (the
         * next request, already on its way) makes the handoff wake it. */
        hyb_inbox_push_lazy_or_wake(hc->child->inbox, &hc->job,
                                    &hc->edge_seen);
    }
    return 1;
}

static int hyb_step_process(hyb_run_t *run)
{
    hyb_conn_t *hc = run->hc;
    conn_rec *c = hc->c;
    int rc = DONE;

    if (!c->aborted) {
        hc->cs.sense = CONN_SENSE_DEFAULT;
        rc = ap_run_process_connection(c);
    }
    if (c->aborted || (rc != OK && rc != DONE)) {
        hyb_conn_set_state(hc, CONN_STATE_LINGER, "aborted or hook error");
    }
    else if (hc->cs.state == CONN_STATE_PROCESSING) {
        hyb_conn_set_state(hc, CONN_STATE_LINGER, "no module took the state");
    }
    else if (hc->cs.state == CONN_STATE_KEEPALIVE) {
        hyb_conn_set_state(hc, CONN_STATE_WRITE_COMPLETION, "flush first");
    }
    return 0;
}

/* Before keep-alive: is the next request already whole?  Also records how
 * the listener gathers it and whether part of it is in (see lgather.c).
 * The mode is asked each time: mod_http2 takes over a prior-knowledge h2c
 * connection without a protocol_switch, so no hook tells the MPM. */
static int hyb_next_head_ready(hyb_conn_t *hc)
{
    int r;

    hc->back.gather_mode = hyb_gather_mode_after(hc->c);
    r = hyb_head_ready(hc->fd, hc->back.gather_mode, hc->c->base_server);
    hc->back.partial = (r < 0);
    return r > 0;
}

static ap_filter_t *hyb_last_output_filter(conn_rec *c)
{
    ap_filter_t *f = c->output_filters;

    while (f->next) {
        f = f->next;
    }
    return f;
}

static int hyb_step_write(hyb_run_t *run)
{
    hyb_conn_t *hc = run->hc;
    conn_rec *c = hc->c;
    ap_filter_t *f = hyb_last_output_filter(c);
    apr_status_t rv;

    ap_update_child_status(c->sbh, SERVER_BUSY_WRITE, NULL);
    rv = f->frec->filter_func.out_func(f, NULL);     /* non-blocking flush */
    if (rv != APR_SUCCESS) {
        ap_log_cerror(APLOG_MARK, APLOG_DEBUG, rv, c,
                      "hybrid: network write failure in core output filter");
        hyb_conn_set_state(hc, CONN_STATE_LINGER, "write failure");
    }
    else if (c->data_in_output_filters) {
        return hyb_conn_park(run, HYB_ASK_WRITE);
    }
    else if (hc->cs.sense == CONN_SENSE_WANT_READ && !hyb_sock_readable(hc->fd)) {
        return hyb_conn_park(run, HYB_ASK_WRITE);
    }
    else if (c->keepalive != AP_CONN_KEEPALIVE || c->aborted
             || hyb_child_exit_mode(hc->child) == HYB_UNGRACEFUL) {
        hyb_conn_set_state(hc, CONN_STATE_LINGER, "no keep-alive");
    }
    /* A child stopping gracefully still parks the connection: the response
     * promised keep-alive, so the client may already be sending its next
     * request, which the listener answers within the drain window. */
    else if (c->data_in_input_filters || hyb_next_head_ready(hc)) {
        hyb_conn_set_state(hc, CONN_STATE_PROCESSING, "next request waiting");
    }
    else {
        hyb_conn_set_state(hc, CONN_STATE_KEEPALIVE, "response sent");
    }
    return 0;
}

static int hyb_step_keepalive(hyb_run_t *run)
{
    ap_update_child_status(run->hc->c->sbh, SERVER_BUSY_KEEPALIVE, NULL);
    return hyb_conn_park(run, HYB_ASK_KEEPALIVE);
}

static int hyb_step_waitio(hyb_run_t *run)
{
    hyb_conn_t *hc = run->hc;

    if (hc->cs.sense != CONN_SENSE_WANT_WRITE && hyb_sock_readable(hc->fd)) {
        hc->cs.sense = CONN_SENSE_DEFAULT;
        hyb_conn_set_state(hc, CONN_STATE_PROCESSING, "already readable");
        return 0;
    }
    ap_update_child_status(hc->c->sbh, SERVER_BUSY_READ, NULL);
    return hyb_conn_park(run, HYB_ASK_WAITIO);
}

/* A handler suspended the request (e.g. mod_dialup pacing a response with
 * timed callbacks).  2.4 has no API to give the connection back, so it is
 * remembered here and picked up again by the worker that ran a timed
 * callback, once the module has moved it out of SUSPENDED. */
static int hyb_step_suspended(hyb_run_t *run)
{
    hyb_conn_t *hc = run->hc;
    hyb_child_t *ch = hc->child;

    ap_run_suspend_connection(hc->c, hc->w.r);
    hc->c->sbh = NULL;
    hyb_susp_worker_add(ch, hc);
    return 1;
}

static int hyb_step_linger(hyb_run_t *run)
{
    hyb_conn_t *hc = run->hc;
    conn_rec *c = hc->c;

    if (hc->cs.state == CONN_STATE_LINGER_SHORT
        || apr_table_get(c->notes, "short-lingering-close")) {
        hc->back.linger_short = 1;
    }
    hyb_conn_set_state(hc, hc->back.linger_short ? CONN_STATE_LINGER_SHORT
                                            : CONN_STATE_LINGER_NORMAL,
                       "start lingering close");
    if (ap_start_lingering_close(c)) {
        return hyb_conn_park(run, HYB_ASK_CLOSE);
    }
    apr_socket_timeout_set(hc->sock, 0);
    return hyb_conn_park(run, HYB_ASK_LINGER);
}

static int hyb_step_unknown(hyb_run_t *run)
{
    hyb_conn_set_state(run->hc, CONN_STATE_LINGER, "unexpected state");
    return 0;
}

static hyb_step_fn *const hyb_state_table[CONN_STATE_NUM] = {
    [CONN_STATE_KEEPALIVE]        = hyb_step_keepalive,
    [CONN_STATE_PROCESSING]       = hyb_step_process,
    [CONN_STATE_HANDLER]          = hyb_step_unknown,
    [CONN_STATE_WRITE_COMPLETION] = hyb_step_write,
    [CONN_STATE_SUSPENDED]        = hyb_step_suspended,
    [CONN_STATE_LINGER]           = hyb_step_linger,
    [CONN_STATE_LINGER_NORMAL]    = hyb_step_linger,
    [CONN_STATE_LINGER_SHORT]     = hyb_step_linger,
    [CONN_STATE_ASYNC_WAITIO]     = hyb_step_waitio,
};

static void hyb_conn_loop(hyb_run_t *run)
{
    for (;;) {
        unsigned st = run->hc->cs.state;
        hyb_step_fn *step = st < CONN_STATE_NUM ? hyb_state_table[st] : NULL;

        if ((step ? step : hyb_step_unknown)(run)) {
            return;
        }
    }
}

/* First time a worker sees the connection: build the conn_rec. */
static int hyb_conn_create(hyb_run_t *run)
{
    hyb_conn_t *hc = run->hc;
    apr_bucket_alloc_t *ba = apr_bucket_alloc_create(hc->ptrans);
    long id = (long)run->slot * hyb_srv.limits.thread_limit + run->index;
    conn_rec *c;
    int rc;

    ap_create_sb_handle(&hc->sbh, hc->ptrans, run->slot, run->index);
    c = ap_run_create_connection(hc->ptrans, ap_server_conf, hc->sock, id,
                                 hc->sbh, ba);
    if (!c) {
        return 0;
    }
    hc->c = c;
    c->cs = &hc->cs;
    c->current_thread = run->thd;
    ap_set_module_config(c->conn_config, &mpm_hybrid_module, hc);
    ap_update_vhost_given_ip(c);
    hc->back.ka_timeout = c->base_server->keep_alive_timeout;
    hc->back.io_timeout = c->base_server->timeout;
    rc = ap_pre_connection(c, hc->sock);
    if (rc != OK && rc != DONE) {
        ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, c,
                      "hybrid: connection aborted by a pre_connection hook");
        c->aborted = 1;
    }
    hyb_conn_set_state(hc, CONN_STATE_PROCESSING, "new connection");
    return 1;
}

/* A parked connection comes back: what to do depends on why it parked. */
static void hyb_conn_resume(hyb_run_t *run)
{
    hyb_conn_t *hc = run->hc;
    conn_rec *c = hc->c;
    hyb_ask_e was = hc->back.ask;
    int expired = hc->go.expired;

    ap_update_sb_handle(hc->sbh, run->slot, run->index);
    c->sbh = hc->sbh;
    c->current_thread = run->thd;
    c->id = (long)run->slot * hyb_srv.limits.thread_limit + run->index;
    hc->back.ask = HYB_ASK_NONE;
    hc->go.expired = 0;
    hc->cs.sense = CONN_SENSE_DEFAULT;      /* a sense asks for one event */
    ap_run_resume_connection(c, hc->w.r);
    if (expired && was == HYB_ASK_KEEPALIVE) {
        apr_table_setn(c->notes, "short-lingering-close", "1");
        hyb_conn_set_state(hc, CONN_STATE_LINGER, "keep-alive timeout");
    }
    else if (expired) {
        c->aborted = (was == HYB_ASK_WRITE);
        hyb_conn_set_state(hc, CONN_STATE_LINGER, "I/O timeout");
    }
    else if (was == HYB_ASK_WRITE && !c->clogging_input_filters) {
        hyb_conn_set_state(hc, CONN_STATE_WRITE_COMPLETION, "writable");
    }
    else {
        hyb_conn_set_state(hc, CONN_STATE_PROCESSING, "readable");
    }
}

/* Continue a connection its module took out of SUSPENDED. */
static void hyb_conn_unsuspend(hyb_run_t *run)
{
    hyb_conn_t *hc = run->hc;
    conn_rec *c = hc->c;

    ap_update_sb_handle(hc->sbh, run->slot, run->index);
    c->sbh = hc->sbh;
    c->current_thread = run->thd;
    ap_run_resume_connection(c, hc->w.r);
    hyb_conn_loop(run);
}

/* Worker: run a timed callback, then continue the connections it (or an
 * earlier callback) released from SUSPENDED. */
static void hyb_run_timer(hyb_run_t *run, hyb_job_t *tm)
{
    hyb_child_t *ch = hyb_child_current();
    hyb_conn_t *hc;

    hyb_timer_worker_run(tm);
    hc = hyb_susp_worker_take_released(ch);
    while (hc) {
        hyb_conn_t *next = (hyb_conn_t *)hc->job.next;
        hc->job.next = NULL;
        run->hc = hc;
        ch->worker_fds[run->index] = hc->fd;
        hyb_conn_unsuspend(run);
        ch->worker_fds[run->index] = -1;
        hc = next;
    }
}

static void hyb_conn_run(hyb_run_t *run)
{
    if (!run->hc->c) {
        if (!hyb_conn_create(run)) {
            run->hc->back.ask = HYB_ASK_CLOSE;
            hyb_inbox_push(run->hc->child->inbox, &run->hc->job);
            return;
        }
    }
    else {
        hyb_conn_resume(run);
    }
    if (run->hc->go.head_expired) {
        hyb_gather_add_nowait(run->hc);
    }
    hyb_conn_loop(run);
}

void *APR_THREAD_FUNC hyb_worker_main(apr_thread_t *thd, void *arg)
{
    hyb_worker_arg_t *wa = arg;
    hyb_child_t *ch = wa->child;
    hyb_run_t run = { NULL, thd, ch->slot, wa->index };
    hyb_stats_slot_t *stats = hyb_stats_for(ch->slot);
    hyb_queue_seat_t seat = { NULL, NULL, NULL, 0 };
    hyb_stats_hold_t hold = { 0, 0 };
    hyb_job_t *job;

    ap_update_child_status_from_indexes(run.slot, run.index, SERVER_READY, NULL);
    while (hyb_child_exit_mode(ch) != HYB_UNGRACEFUL) {
        apr_status_t rv = hyb_queue_pop_at(ch->queue, &seat, &job);
        if (rv == APR_EOF) {
            break;
        }
        if (rv != APR_SUCCESS) {
            continue;
        }
        if (job->kind == HYB_JOB_ACCEPT_TOKEN) {
            hyb_listener_worker_token_popped(ch);
            continue;
        }
        if (job->kind == HYB_JOB_TIMER) {
            hyb_run_timer(&run, job);
            ap_update_child_status_from_indexes(run.slot, run.index,
                                                SERVER_READY, NULL);
            continue;
        }
        job->kind = HYB_JOB_CONN;   /* run once: no longer handed off */
        run.hc = (hyb_conn_t *)job;
        hyb_stats_popped(stats, run.hc->go.queued_at, &hold);
        ch->worker_fds[run.index] = run.hc->fd;
        hyb_conn_run(&run);
        hyb_stats_handed_back(stats, &hold);
        ch->worker_fds[run.index] = -1;
        ap_update_child_status_from_indexes(run.slot, run.index, SERVER_READY,
                                            NULL);
    }
    hyb_queue_leave(ch->queue, &seat);
    hyb_sb_worker_stop(run.slot, run.index,
                       hyb_child_exit_mode(ch) == HYB_GRACEFUL);
    apr_atomic_dec32(&ch->live_threads);
    apr_thread_exit(thd, APR_SUCCESS);
    return NULL;
}

/* ---- per-connection hooks ------------------------------------------------ */

/* The MPM's state of a connection; NULL for h2 secondaries and proxy
 * backend connections, which the MPM does not run. */
hyb_conn_t *hyb_conn_get(conn_rec *c)
{
    if (c->master || c->outgoing) {
        return NULL;
    }
    return ap_get_module_config(c->conn_config, &mpm_hybrid_module);
}

static apr_status_t hyb_clear_request(void *arg)
{
    ((hyb_conn_t *)arg)->w.r = NULL;
    return APR_SUCCESS;
}

static void hyb_pre_read_request(request_rec *r, conn_rec *c)
{
    hyb_conn_t *hc = hyb_conn_get(c);

    if (hc) {
        hc->w.r = r;
        apr_pool_cleanup_register(r->pool, hc, hyb_clear_request,
                                  apr_pool_cleanup_null);
    }
}

/* KeepAliveTimeout follows the request's vhost when that vhost sets one. */
static int hyb_post_read_request(request_rec *r)
{
    hyb_conn_t *hc = hyb_conn_get(r->connection);

    if (hc) {
        server_rec *s = r->server->keep_alive_timeout_set
                        ? r->server : r->connection->base_server;
        hc->back.ka_timeout = s->keep_alive_timeout;
        hc->back.io_timeout = r->server->timeout;
        hc->go.close_soon = 0;     /* a head was read after all */
        hyb_gather_remove_nowait(hc);
    }
    return OK;
}

/* h2 secondary connections share the primary's conn_state: give them their
 * own so the worker running the primary never sees their states. */
static int hyb_pre_connection(conn_rec *c, void *csd)
{
    (void)csd;
    if (c->master && (!c->cs || c->cs == c->master->cs)) {
        conn_state_t *cs = apr_pcalloc(c->pool, sizeof(*cs));
        cs->state = CONN_STATE_PROCESSING;
        cs->sense = CONN_SENSE_DEFAULT;
        c->cs = cs;
    }
    return OK;
}

static int hyb_protocol_switch(conn_rec *c, request_rec *r, server_rec *s,
                               const char *protocol)
{
    hyb_conn_t *hc = hyb_conn_get(c);

    (void)protocol;
    if (!r && s && hc) {
        hc->back.ka_timeout = s->keep_alive_timeout;
        hc->back.io_timeout = s->timeout;
    }
    return DECLINED;
}

void hyb_worker_register_hooks(void)
{
    ap_hook_pre_read_request(hyb_pre_read_request, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_read_request(hyb_post_read_request, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_pre_connection(hyb_pre_connection, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_protocol_switch(hyb_protocol_switch, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_mpm_register_timed_callback(hyb_timer_any_register, NULL, NULL,
                                        APR_HOOK_MIDDLE);
}
