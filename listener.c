/* listener.c - the child's listener thread: a libevent loop (epoll) that
 * hands runnable connections to workers through the queue and holds parked
 * ones (keep-alive, write completion, wait-io, lingering close) without a
 * thread, each under its timeout; the loop itself, its timers, and the
 * connections' per-connection events.  Accepting, the descriptor budget
 * and the handoff between children are in accept.c (applying admit.c);
 * head gathering in lgather.c.  It also feeds the counters of stats.h
 * that are its to write: a saturation check once per round, and the time
 * a connection is pushed to the queue (go.queued_at) for the queue-wait
 * histogram the worker fills.  With HybridListenerBatch On, the thread
 * takes the SCHED_BATCH policy at its start.
 *
 * Owns: hyb_listener_t (listener.h) and every parked connection.  Threads:
 * the listener thread only; workers reach it through the inbox (and the
 * entry points named hyb_listener_<thread>_*).  A connection's read event
 * is registered once, when it is created, edge-triggered and persistent,
 * so parking and waking cost no epoll_ctl; an edge that arrives while a
 * worker owns the connection is remembered (edge_seen) and checked with a
 * MSG_PEEK when the connection comes back, and an edge for a parked
 * connection is checked the same way before a worker is sent.
 */
#include "listener.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#define HYB_LINGER_NORMAL     apr_time_from_sec(30)
#define HYB_LINGER_SHORT      apr_time_from_sec(2)
/* A keep-alive connection idle this long gives its free memory back. */
#define HYB_TRIM_AFTER        apr_time_from_sec(1)

static hyb_conn_t *hyb_l_conn_of(hyb_tq_entry_t *e)
{
    return (hyb_conn_t *)((char *)e - APR_OFFSETOF(hyb_conn_t, l.tqe));
}


/* ---- connection pools ---------------------------------------------------- */

apr_pool_t *hyb_l_get_pool(hyb_listener_t *l)
{
    apr_allocator_t *a;
    apr_pool_t *p;

    if (l->nfree) {
        return l->free_pools[--l->nfree];
    }
    if (apr_allocator_create(&a) != APR_SUCCESS) {
        return NULL;
    }
    apr_allocator_max_free_set(a, ap_max_mem_free);
    if (apr_pool_create_ex(&p, l->pool, NULL, a) != APR_SUCCESS) {
        apr_allocator_destroy(a);
        return NULL;
    }
    apr_allocator_owner_set(a, p);
    apr_pool_tag(p, "transaction");
    return p;
}

void hyb_l_put_pool(hyb_listener_t *l, apr_pool_t *p)
{
    if (l->nfree < l->maxfree) {
        apr_pool_clear(p);
        l->free_pools[l->nfree++] = p;
    }
    else {
        apr_pool_destroy(p);
    }
}

/* ---- parking bookkeeping --------------------------------------------------- */

static void hyb_l_publish(hyb_listener_t *l)
{
    hyb_sb_publish_counts(l->ch->slot, l->conns,
                          l->count_at[HYB_AT_KEEPALIVE],
                          l->count_at[HYB_AT_WRITE],
                          l->count_at[HYB_AT_WAITIO],
                          l->count_at[HYB_AT_LINGER],
                          hyb_susp_any_count(l->ch));
    hyb_status_set_gathering(l->ch->slot, l->count_at[HYB_AT_GATHER]);
}

static void hyb_l_enqueue(hyb_listener_t *l, hyb_conn_t *hc, hyb_place_e kind,
                          apr_interval_time_t timeout)
{
    AP_DEBUG_ASSERT(hc->l.place == HYB_AT_NONE);
    AP_DEBUG_ASSERT(kind > HYB_AT_NONE && kind < HYB_AT_NUM);
    hc->l.place = kind;
    hc->l.since = l->now;
    l->count_at[kind]++;
    hyb_tq_append(hyb_tq_set_get(l->tqs, timeout), &hc->l.tqe, l->now);
    if (kind == HYB_AT_KEEPALIVE) {
        hyb_tq_append(&l->trim_q, &hc->l.trim_e, l->now);
    }
}

void hyb_l_unqueue(hyb_listener_t *l, hyb_conn_t *hc)
{
    if (hc->l.place == HYB_AT_NONE) {
        return;
    }
    if (hc->l.place == HYB_AT_GATHER) {
        hyb_l_ip_release(l, hc);
    }
    AP_DEBUG_ASSERT(hc->l.place < HYB_AT_NUM && l->count_at[hc->l.place] > 0);
    l->count_at[hc->l.place]--;
    hc->l.place = HYB_AT_NONE;
    hyb_tq_remove(&hc->l.tqe);
    hyb_tq_remove(&hc->l.trim_e);
    if (hc->l.io->wev_added) {
        event_del(&hc->l.io->wev);
        hc->l.io->wev_added = 0;
    }
}

void hyb_l_close(hyb_listener_t *l, hyb_conn_t *hc)
{
    hyb_l_unqueue(l, hc);
    if (hc->l.io->rev_added) {
        event_del(&hc->l.io->rev);
    }
    apr_socket_close(hc->sock);
    l->conns--;
    hyb_l_put_pool(l, hc->ptrans);
}

/* Hand a connection to a worker.  From here the worker owns it: it must be
 * in no list of the listener. */
void hyb_l_dispatch(hyb_listener_t *l, hyb_conn_t *hc)
{
    hyb_l_unqueue(l, hc);
    AP_DEBUG_ASSERT(hc->l.place == HYB_AT_NONE);
    AP_DEBUG_ASSERT(hc->l.tqe.q == NULL && hc->l.trim_e.q == NULL);
    AP_DEBUG_ASSERT(hc->job.kind == HYB_JOB_CONN
                    || hc->job.kind == HYB_JOB_CONN_NEW);
    apr_atomic_set32(&hc->edge_seen, 0);
    /* For the queue-wait histogram (stats.h, observed by the worker that
     * pops it).  A clock read of its own: l->now may be as old as the
     * round (accept and write events do not refresh it). */
    hc->go.queued_at = HYB_STATS_NOW();
    if (hyb_queue_append(l->ch->queue, &hc->job) != APR_SUCCESS) {
        hyb_l_close(l, hc);     /* child is exiting ungracefully */
    }
}

/* ---- per-connection events ------------------------------------------------- */

/* Does a connection parked for I/O wait for readability?  Write completion
 * waits for write unless the filters asked to read; wait-io waits for read
 * unless they asked to write. */
static int hyb_l_wants_read(const hyb_conn_t *hc)
{
    if (hc->back.ask == HYB_ASK_WAITIO) {
        return hc->cs.sense != CONN_SENSE_WANT_WRITE;
    }
    return hc->cs.sense == CONN_SENSE_WANT_READ;
}

static void hyb_l_on_read(evutil_socket_t fd, short what, void *arg)
{
    hyb_conn_t *hc = arg;
    hyb_listener_t *l = hc->child->listener;

    (void)fd;
    if (what & EV_CLOSED) {
        hc->l.rdhup = 1;          /* sticky: FIN (or RST) is reported once */
    }
    hyb_l_clock(l);
    switch (hc->l.place) {
    case HYB_AT_NONE:
        /* A worker owns it: checked when it parks.  If the worker hands
         * it back lazily after this, the flag makes that handoff wake the
         * loop; if it already did, this round's lazy take finds it. */
        apr_atomic_set32(&hc->edge_seen, 1);
        break;
    case HYB_AT_KEEPALIVE:
        /* The edge may be stale: raised before the connection was handed
         * back and reported only after it parked.  A worker sent for
         * nothing would block in a read, so look first (one MSG_PEEK,
         * cheaper than the epoll_ctl pair event pays per request). */
        hyb_l_ka_readable(l, hc);
        break;
    case HYB_AT_GATHER:
        hyb_l_gather(l, hc);
        break;
    case HYB_AT_WRITE:
    case HYB_AT_WAITIO:
        if (hyb_l_wants_read(hc) && hyb_sock_readable(hc->fd)) {
            hyb_l_dispatch(l, hc);
        }
        break;
    case HYB_AT_LINGER:
        if (hyb_sock_drain(hc->fd)) {
            hyb_l_close(l, hc);
        }
        break;
    default:
        break;
    }
}

static void hyb_l_on_write(evutil_socket_t fd, short what, void *arg)
{
    hyb_conn_t *hc = arg;

    (void)fd; (void)what;
    hc->l.io->wev_added = 0;
    if (hc->l.place == HYB_AT_WRITE || hc->l.place == HYB_AT_WAITIO) {
        hyb_l_dispatch(hc->child->listener, hc);
    }
}

/* Register the persistent edge-triggered read event (once per connection),
 * with EV_CLOSED (EPOLLRDHUP): the end of the stream after unread bytes,
 * which MSG_PEEK never shows. */
int hyb_l_watch_read(hyb_listener_t *l, hyb_conn_t *hc)
{
    if (hc->l.io->rev_added) {
        return 1;
    }
    event_assign(&hc->l.io->rev, l->base, hc->fd,
                 EV_READ | EV_CLOSED | EV_PERSIST | EV_ET, hyb_l_on_read, hc);
    if (event_add(&hc->l.io->rev, NULL) != 0) {
        return 0;
    }
    hc->l.io->rev_added = 1;
    return 1;
}

static int hyb_l_watch_write(hyb_listener_t *l, hyb_conn_t *hc)
{
    event_assign(&hc->l.io->wev, l->base, hc->fd, EV_WRITE | EV_ET,
                 hyb_l_on_write, hc);
    if (event_add(&hc->l.io->wev, NULL) != 0) {
        return 0;
    }
    hc->l.io->wev_added = 1;
    return 1;
}

/* After parking for read: an edge missed while a worker had it may mean
 * data is already waiting. */
static void hyb_l_check_missed(hyb_listener_t *l, hyb_conn_t *hc)
{
    if (apr_atomic_xchg32(&hc->edge_seen, 0)) {
        if (hyb_sock_readable(hc->fd)) {
            hyb_l_dispatch(l, hc);
        }
    }
}

static void hyb_l_park_io(hyb_listener_t *l, hyb_conn_t *hc)
{
    int want_read = hyb_l_wants_read(hc);

    if (!hyb_l_watch_read(l, hc) || (!want_read && !hyb_l_watch_write(l, hc))) {
        hc->go.expired = 1;
        hyb_l_dispatch(l, hc);
        return;
    }
    hyb_l_enqueue(l, hc, hc->back.ask == HYB_ASK_WAITIO ? HYB_AT_WAITIO
                                                 : HYB_AT_WRITE,
                  hc->back.io_timeout);
    if (want_read) {
        hyb_l_check_missed(l, hc);
    }
}

static void hyb_l_park_linger(hyb_listener_t *l, hyb_conn_t *hc)
{
    int short_linger = hc->back.linger_short || l->stopping;

    if (hyb_sock_drain(hc->fd) || !hyb_l_watch_read(l, hc)) {
        hyb_l_close(l, hc);
        return;
    }
    apr_atomic_set32(&hc->edge_seen, 0);
    hyb_l_enqueue(l, hc, HYB_AT_LINGER,
                  short_linger ? HYB_LINGER_SHORT : HYB_LINGER_NORMAL);
}

/* Idle keep-alive.  A stopping child keeps it only for what is left of the
 * drain window, so a request already on its way is still served. */
static void hyb_l_park_keepalive(hyb_listener_t *l, hyb_conn_t *hc)
{
    apr_interval_time_t timeout = hc->back.ka_timeout;
    apr_uint32_t edge;

    if (l->stopping) {
        timeout = l->drain_until - l->now;
    }
    if (timeout <= 0 || !hyb_l_watch_read(l, hc)) {
        hc->go.expired = 1;
        hyb_l_dispatch(l, hc);
        return;
    }
    /* While draining, the queue of the window's full length is used: an
     * entry may wait up to twice the window, never longer. */
    hyb_l_enqueue(l, hc, HYB_AT_KEEPALIVE,
                  l->stopping ? hyb_srv.drain_timeout : timeout);
    edge = apr_atomic_xchg32(&hc->edge_seen, 0);
    if (edge || hc->back.partial) {
        hc->back.partial = 0;
        hyb_l_ka_readable(l, hc);
    }
}

/* A worker handed this connection back: park it as it asks. */
static void hyb_l_park(hyb_listener_t *l, hyb_conn_t *hc)
{
    AP_DEBUG_ASSERT(hc->l.place == HYB_AT_NONE && hc->back.ask != HYB_ASK_NONE);
    switch (hc->back.ask) {
    case HYB_ASK_KEEPALIVE:
        hyb_l_park_keepalive(l, hc);
        break;
    case HYB_ASK_WRITE:
    case HYB_ASK_WAITIO:
        hyb_l_park_io(l, hc);
        break;
    case HYB_ASK_LINGER:
        hyb_l_park_linger(l, hc);
        break;
    default:
        hyb_l_close(l, hc);
        break;
    }
}

/* The time libevent read when epoll_wait returned: l->now from the end of
 * the previous round may be as old as the wait. */
void hyb_l_clock(hyb_listener_t *l)
{
    struct timeval tv;

    if (event_base_gettimeofday_cached(l->base, &tv) == 0) {
        l->now = apr_time_make(tv.tv_sec, tv.tv_usec);
    }
    else {
        l->now = apr_time_now();
    }
}

static void hyb_l_park_list(hyb_listener_t *l, hyb_job_t *job)
{
    while (job) {
        hyb_job_t *next = job->next;
        job->next = NULL;
        if (job->kind == HYB_JOB_TIMER) {
            hyb_timer_listener_arm(l->base, l->now, job);
        }
        else {
            hyb_l_park(l, (hyb_conn_t *)job);
        }
        job = next;
    }
}

static void hyb_l_on_inbox(evutil_socket_t fd, short what, void *arg)
{
    hyb_listener_t *l = arg;

    (void)fd; (void)what;
    hyb_l_clock(l);
    hyb_l_park_list(l, hyb_inbox_take(l->ch->inbox));
}

/* The tick and the gate's timer only make the loop run a round (see
 * hyb_l_after_round). */
static void hyb_l_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd; (void)what; (void)arg;
}

/* ---- memory of idle connections ----------------------------------------- */

/* Listener, on a keep-alive connection idle for HYB_TRIM_AFTER: give the
 * free nodes its allocator keeps (what the last request used) back to the
 * system.  Done lazily, not at every park, because Debian's APR allocator
 * maps and unmaps each node: releasing them per request costs more than
 * the request.  APR has no trim call, so the free list is emptied by taking
 * nodes out and freeing them while max_free is tiny (a few iterations; the
 * last one may map and unmap one fresh node). */
static void hyb_l_trim(hyb_conn_t *hc)
{
    apr_allocator_t *a = apr_pool_allocator_get(hc->ptrans);
    int i;

    apr_allocator_max_free_set(a, 1);
    for (i = 0; i < 6; i++) {
        apr_memnode_t *n = apr_allocator_alloc(a, 1);
        if (!n) {
            break;
        }
        apr_allocator_free(a, n);
    }
    apr_allocator_max_free_set(a, ap_max_mem_free);
}

static void hyb_l_trim_idle(hyb_listener_t *l)
{
    hyb_tq_entry_t *e;

    while ((e = hyb_tq_pop_expired(&l->trim_q, l->now)) != NULL) {
        hyb_l_trim((hyb_conn_t *)((char *)e - APR_OFFSETOF(hyb_conn_t, l.trim_e)));
    }
}

/* ---- timeouts ---------------------------------------------------------- */

static void hyb_l_expire(hyb_listener_t *l, hyb_conn_t *hc)
{
    if (hc->l.place == HYB_AT_LINGER) {
        hyb_l_close(l, hc);
        return;
    }
    if (hc->l.place == HYB_AT_GATHER) {
        hyb_l_gather_expired(l, hc);
        return;
    }
    hc->go.expired = 1;
    hyb_l_dispatch(l, hc);
}

static void hyb_l_on_timer(evutil_socket_t fd, short what, void *arg)
{
    hyb_listener_t *l = arg;
    hyb_tq_entry_t *e;

    (void)fd; (void)what;
    l->timer_at = 0;
    l->now = apr_time_now();
    while ((e = hyb_tq_set_pop_expired(l->tqs, l->now)) != NULL) {
        hyb_l_expire(l, hyb_l_conn_of(e));
    }
    hyb_l_trim_idle(l);
}

static void hyb_l_arm_timer(hyb_listener_t *l)
{
    apr_time_t next = hyb_tq_set_next_expiry(l->tqs);
    apr_time_t trim = hyb_tq_next_expiry(&l->trim_q);
    apr_interval_time_t delta;
    struct timeval tv;

    if (trim && (!next || trim < next)) {
        next = trim;
    }
    if (!next || (l->timer_at && l->timer_at <= next)) {
        return;
    }
    delta = next - l->now;
    if (delta < 0) {
        delta = 0;
    }
    delta = (delta + 999) / 1000 * 1000;    /* round up to the millisecond */
    tv.tv_sec = apr_time_sec(delta);
    tv.tv_usec = apr_time_usec(delta);
    evtimer_add(l->timer_ev, &tv);
    l->timer_at = next;
}

/* ---- the loop ------------------------------------------------------------ */

/* Take every parked connection out of the timeout queues, as lists linked
 * through job.next (free while a connection is parked): the gathering ones
 * in *gathering, the others returned. */
static hyb_conn_t *hyb_l_take_all_parked(hyb_listener_t *l,
                                         hyb_conn_t **gathering)
{
    apr_time_t far = l->now + apr_time_from_sec(86400 * 365);
    hyb_conn_t *list = NULL;
    hyb_tq_entry_t *e;

    *gathering = NULL;
    while ((e = hyb_tq_set_pop_expired(l->tqs, far)) != NULL) {
        hyb_conn_t *hc = hyb_l_conn_of(e);
        hyb_conn_t **to = (hc->l.place == HYB_AT_GATHER) ? gathering : &list;
        hyb_l_unqueue(l, hc);
        hc->job.next = (hyb_job_t *)*to;
        *to = hc;
    }
    return list;
}

/* Apply fn to every connection of a list made by hyb_l_take_all_parked. */
static void hyb_l_each(hyb_listener_t *l, hyb_conn_t *hc,
                       void (*fn)(hyb_listener_t *, hyb_conn_t *))
{
    while (hc) {
        hyb_conn_t *next = (hyb_conn_t *)hc->job.next;
        hc->job.next = NULL;
        fn(l, hc);
        hc = next;
    }
}

/* Stop accepting for good; idle keep-alive connections are closed (through
 * a worker, for lingering close), the rest finish under short timeouts. */
void hyb_l_begin_stop(hyb_listener_t *l)
{
    hyb_conn_t *hc, *gathering;

    if (l->stopping) {
        return;
    }
    l->stopping = 1;
    l->drain_until = l->now + hyb_srv.drain_timeout;
    /* httpd reads mpm_state without a lock (ap_set_keepalive: Connection:
     * close when STOPPING).  In a child only the main thread (start, stop)
     * and this thread (stop) write it, and both only move it to STOPPING. */
    hyb_srv.retained->mpm->mpm_state = AP_MPMQ_STOPPING;
    hyb_l_set_accepting(l, 0);
    hyb_sb_set_quiescing(l->ch->slot);
    hc = hyb_l_take_all_parked(l, &gathering);
    hyb_l_each(l, hc, hyb_l_park);              /* under the stopping rules */
    hyb_l_each(l, gathering, hyb_l_gather_park);
}

/* Ungraceful: close everything the listener holds. */
static void hyb_l_close_all(hyb_listener_t *l)
{
    hyb_conn_t *gathering, *hc = hyb_l_take_all_parked(l, &gathering);

    hyb_l_each(l, hc, hyb_l_close);
    hyb_l_each(l, gathering, hyb_l_close);
}

/* The tick runs while the child has connections: it bounds how long a
 * lazily handed-back connection waits for the listener to see it. */
static void hyb_l_tick(hyb_listener_t *l)
{
    static const struct timeval tick = { 0, 100 * 1000 };

    if (l->conns && !l->tick_on) {
        evtimer_add(l->tick_ev, &tick);
        l->tick_on = 1;
    }
    else if (!l->conns && l->tick_on) {
        evtimer_del(l->tick_ev);
        l->tick_on = 0;
    }
}

/* Once per round, after this round's pushes: let the queue wake the
 * workers its gate now says (fdqueue.h), and come back when it asks to
 * (a job held back for a worker that may not return soon). */
static void hyb_l_nudge_queue(hyb_listener_t *l)
{
    apr_uint32_t woken;
    apr_interval_time_t due = hyb_queue_nudge(l->ch->queue, &woken);
    struct timeval tv;

    if (woken && APLOGtrace2(ap_server_conf)) {
        ap_log_error(APLOG_MARK, APLOG_TRACE2, 0, ap_server_conf,
                     "hybrid: woke %u worker(s) for jobs the wake gate held",
                     woken);
    }
    if (due > 0) {
        tv.tv_sec = apr_time_sec(due);
        tv.tv_usec = apr_time_usec(due);
        evtimer_add(l->gate_ev, &tv);
        l->gate_on = 1;
    }
    else if (l->gate_on) {
        evtimer_del(l->gate_ev);
        l->gate_on = 0;
    }
}

/* At most once a second: the wake gate's cap follows the number of
 * children serving (a child started or retired changes each one's share
 * of the CPUs). */
static void hyb_l_gate_cap(hyb_listener_t *l)
{
    apr_uint32_t cap;

    if (l->now < l->gate_cap_at) {
        return;
    }
    l->gate_cap_at = l->now + apr_time_from_sec(1);
    cap = hyb_queue_gate_cap_for(l->ch->ncpu, hyb_status_serving_children());
    if (cap != l->gate_cap) {
        hyb_queue_set_gate(l->ch->queue, cap, HYB_QUEUE_GATE_WINDOW, NULL);
        l->gate_cap = cap;
    }
}

/* Once per round: open or close a saturation episode (stats.h).  The load
 * is the word the queue publishes at every change (one relaxed read, no
 * lock); without the shared array, a snapshot under the queue's lock. */
static void hyb_l_saturation(hyb_listener_t *l)
{
    volatile apr_int32_t *word = hyb_status_load_word(l->ch->slot);
    hyb_queue_snap_t q;
    int load;

    if (word) {
        load = (int)*word;
    }
    else {
        hyb_queue_snapshot(l->ch->queue, &q);
        load = hyb_queue_load_of(&q);
    }
    hyb_stats_saturation(l->stats,
                         hyb_stats_saturated(load, l->adm.token_queued),
                         l->now);
}

/* After each loop round: exit checks, accept gating, timer, counters.
 * Returns 0 when the loop must end. */
static int hyb_l_after_round(hyb_listener_t *l)
{
    hyb_exit_mode_e mode = hyb_child_exit_mode(l->ch);

    l->now = apr_time_now();
    hyb_l_park_list(l, hyb_inbox_take_lazy(l->ch->inbox));
    if (mode == HYB_UNGRACEFUL) {
        hyb_l_close_all(l);
        return 0;
    }
    if (mode == HYB_GRACEFUL) {
        hyb_l_begin_stop(l);
    }
    if (l->stopping && l->conns == 0) {
        return 0;
    }
    hyb_l_gate_accept(l);
    hyb_l_rebalance(l);
    hyb_l_gate_cap(l);
    hyb_l_nudge_queue(l);       /* after the last push of the round */
    hyb_l_saturation(l);
    hyb_l_tick(l);
    hyb_l_arm_timer(l);
    hyb_l_publish(l);
    hyb_l_table(l);
    return 1;
}

static struct event_base *hyb_l_new_base(void)
{
    struct event_config *cfg = event_config_new();
    struct event_base *base;

    if (!cfg) {
        return NULL;
    }
    event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
    event_config_avoid_method(cfg, "select");
    event_config_avoid_method(cfg, "poll");
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}

static apr_status_t hyb_l_cleanup(void *arg)
{
    hyb_listener_t *l = arg;

    if (l->base) {
        event_base_free(l->base);
        l->base = NULL;
    }
    hyb_iptab_destroy(l->per_ip);
    l->per_ip = NULL;
    if (l->handoff_tx >= 0) {
        close(l->handoff_tx);
        l->handoff_tx = -1;
    }
    return APR_SUCCESS;
}

/* Child main thread, before the threads start. */
apr_status_t hyb_listener_main_create(hyb_child_t *ch)
{
    hyb_listener_t *l = apr_pcalloc(ch->pruntime, sizeof(*l));

    l->ch = ch;
    l->stats = hyb_stats_for(ch->slot);
    l->pool = ch->pruntime;
    l->handoff_tx = -1;
    l->tqs = hyb_tq_set_create(l->pool);
    hyb_tq_init(&l->trim_q, HYB_TRIM_AFTER);
    l->maxfree = hyb_srv.limits.threads_per_child;
    l->free_pools = apr_pcalloc(l->pool, l->maxfree * sizeof(apr_pool_t *));
    l->base = hyb_l_new_base();
    if (!l->base) {
        return APR_EGENERAL;
    }
    /* A pre-cleanup: the base must go before the connection pools (children
     * of this pool) that hold its registered events. */
    apr_pool_pre_cleanup_register(l->pool, l, hyb_l_cleanup);
    l->inbox_ev = event_new(l->base, hyb_inbox_fd(ch->inbox), EV_READ | EV_PERSIST,
                            hyb_l_on_inbox, l);
    l->timer_ev = evtimer_new(l->base, hyb_l_on_timer, l);
    l->tick_ev = event_new(l->base, -1, EV_PERSIST, hyb_l_on_tick, l);
    l->gate_ev = evtimer_new(l->base, hyb_l_on_tick, l);
    if (!l->inbox_ev || !l->timer_ev || !l->tick_ev || !l->gate_ev
        || event_add(l->inbox_ev, NULL) != 0) {
        return APR_ENOMEM;
    }
    if (hyb_l_gather_init(l) != APR_SUCCESS) {
        return APR_ENOMEM;
    }
    ch->listener = l;
    return hyb_l_door_init(l);
}

/* Any thread: make the listener run a round (re-check flags). */
void hyb_listener_any_wake(hyb_child_t *ch)
{
    hyb_inbox_wake(ch->inbox);
}

/* Listener thread, at its start: HybridListenerBatch On makes this thread
 * SCHED_BATCH, so that when it wakes it waits for the running worker's
 * time slice instead of preempting it (fewer switches per request, see
 * BENCHMARKS.md).  Only from the normal policy: a policy an admin chose
 * for httpd (systemd's CPUSchedulingPolicy=) is left as it is. */
static void hyb_l_sched_batch(const hyb_child_t *ch)
{
    struct sched_param sp = { 0 };
    int policy, err;

    if (!hyb_srv.listener_batch) {
        return;
    }
    err = pthread_getschedparam(pthread_self(), &policy, &sp);
    if (err || policy != SCHED_OTHER) {
        return;
    }
    sp.sched_priority = 0;
    err = pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, err, ap_server_conf,
                     "HYB0310: HybridListenerBatch: the listener of the child "
                     "in slot %d keeps the normal scheduling policy", ch->slot);
    }
}

void *APR_THREAD_FUNC hyb_listener_main(apr_thread_t *thd, void *arg)
{
    hyb_child_t *ch = arg;
    hyb_listener_t *l = ch->listener;

    hyb_l_sched_batch(ch);
    l->now = apr_time_now();
    hyb_stats_listener_start(l->stats);
    hyb_l_set_accepting(l, 1);
    hyb_l_publish(l);
    while (hyb_l_after_round(l)) {
        event_base_loop(l->base, EVLOOP_ONCE);
    }
    hyb_stats_saturation(l->stats, 0, apr_time_now());    /* episode ends */
    hyb_l_publish(l);
    hyb_queue_term(ch->queue);
    apr_atomic_dec32(&ch->live_threads);
    if (hyb_child_exit_mode(ch) == HYB_RUN) {
        hyb_child_request_exit(ch);
    }
    apr_thread_exit(thd, APR_SUCCESS);
    return NULL;
}
