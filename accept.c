/* accept.c - the listener's door: the listening sockets, the descriptor
 * budget, connections handed over by siblings and handed to them, and
 * the admission rules of admit.c applied.
 *
 * Owns: watching or not the listening sockets (accepting), the pause after
 * an accept error or over the descriptor budget (fdbudget.c, HYB0401,
 * HYB0420, HYB0421), the accept token, the one constructor of a
 * connection (hyb_l_conn_from_fd) for accepted and handed-over ones,
 * both ends of the handoff between children (handoff.c, HYB0422), and
 * the published reason the child accepts or not, with its deferral count
 * (stats.h: hyb_l_accept_reason).  Every decision of when to accept,
 * defer, queue the token or hand off is hyb_admit_decide's; this file
 * reads the facts it asks for and applies its answer.
 *
 * Threads: the listener thread, except hyb_listener_worker_token_popped
 * and hyb_l_idle_notify, which run on a worker and only set a flag and
 * wake the listener.
 */
#include "listener.h"

#include <sys/resource.h>
#include <errno.h>
#include <limits.h>
#include <unistd.h>

/* Connections accepted per wakeup of a listening socket.  One, as event
 * does: every child's listener is woken for a new connection, and taking
 * one at a time lets the siblings take their share of a burst instead of
 * the first child awake taking a batch (measured: close 1.05x, keep-alive
 * c50 p99 187 vs 254 ms against a batch of 16, see docs/admission.md). */
#define HYB_ACCEPT_PER_WAKEUP  1
#define HYB_EMFILE_PAUSE_MS    100
#define HYB_HANDOFF_PER_WAKEUP 16   /* received by one wakeup, at most */

/* ---- admission (admit.c) ------------------------------------------------ */

/* Read the fact hyb_admit_decide asks for.  The queue's facts are read
 * with hyb_queue_arm_idle_notify_if: a listener that holds back for want
 * of a worker hears of the next idle one. */
static void hyb_l_admit_fill(hyb_listener_t *l, hyb_admit_snapshot_t *s,
                             hyb_admit_action_e need)
{
    hyb_queue_snap_t q;

    switch (need) {
    case HYB_ADMIT_NEED_STARVED:
        s->starved = hyb_queue_arm_idle_notify_if(l->ch->queue,
                                                  hyb_queue_starved_of, &q);
        break;
    case HYB_ADMIT_NEED_LOAD:
        hyb_queue_arm_idle_notify_if(l->ch->queue, hyb_queue_busy_of, &q);
        s->load = hyb_queue_load_of(&q);
        break;
    default:
        s->sibling_slot = hyb_status_least_loaded_sibling(l->ch->slot,
                                                          &s->sibling_demand);
        break;
    }
}

/* Ask admit.c, reading the costly facts only when it needs them.  The
 * published load word is read without a lock (a hint, see admit.h). */
static hyb_admit_verdict_t hyb_l_admit(hyb_listener_t *l,
                                       hyb_admit_when_e when)
{
    volatile apr_int32_t *word = hyb_status_load_word(l->ch->slot);
    hyb_admit_snapshot_t s;
    hyb_admit_verdict_t v;
    int i;

    hyb_admit_snapshot_init(&s, when, &l->adm);
    s.accepting = l->accepting;
    s.stopping = l->stopping;
    s.paused = l->paused;
    s.token_popped = apr_atomic_read32(&l->token_popped) != 0;
    s.gathering = (int)l->count_at[HYB_AT_GATHER];
    s.load_hint = word ? (int)*word : HYB_ADMIT_UNKNOWN;
    for (i = 0; i < 4; i++) {       /* three facts, each asked once */
        v = hyb_admit_decide(&s);
        if (v.action < HYB_ADMIT_NEED_STARVED) {
            return v;
        }
        hyb_l_admit_fill(l, &s, v.action);
    }
    AP_DEBUG_ASSERT(0);             /* hyb_admit_decide kept asking */
    v.action = HYB_ADMIT_HOLD;
    return v;
}

/* ---- accepting or not --------------------------------------------------- */

/* Publish why the child accepts or not (stats.h), on change only; a move
 * into deferring counts one deferral (hyb_stats_accept_next). */
static void hyb_l_accept_reason(hyb_listener_t *l, hyb_accept_state_e want)
{
    hyb_accept_state_e cur = hyb_stats_accept_state(l->stats);
    int deferral;
    hyb_accept_state_e next = hyb_stats_accept_next(cur, want, &deferral);

    if (next == cur) {
        return;
    }
    if (deferral) {
        hyb_stats_inc(l->stats, HYB_STAT_DEFERRALS);
    }
    hyb_stats_set_accept_state(l->stats, next);
}

/* Start or stop watching the listening sockets.  Starting publishes
 * "accepting" (or, without descriptor room, the pause does); a stop gives
 * its reason itself, except the stop for good (l->stopping). */
void hyb_l_set_accepting(hyb_listener_t *l, int on)
{
    int i;

    if (!on && l->stopping) {
        hyb_l_accept_reason(l, HYB_ACCEPT_STOPPING);
    }
    if (on == l->accepting || (on && !hyb_l_fd_room(l))) {
        return;
    }
    for (i = 0; i < l->nsocks; i++) {
        if (on) {
            event_add(l->socks[i].ev, NULL);
        }
        else {
            event_del(l->socks[i].ev);
        }
    }
    l->accepting = on;
    hyb_sb_set_accepting(l->ch->slot, on);
    if (on) {
        hyb_l_accept_reason(l, HYB_ACCEPT_YES);
    }
}

/* Stop accepting, and receiving connections from siblings (each costs a
 * descriptor too), until hyb_l_on_retry. */
static void hyb_l_pause(hyb_listener_t *l)
{
    struct timeval tv = { 0, HYB_EMFILE_PAUSE_MS * 1000 };

    hyb_l_set_accepting(l, 0);
    hyb_l_accept_reason(l, HYB_ACCEPT_FD_PAUSE);
    if (l->handoff_ev) {
        event_del(l->handoff_ev);
    }
    if (!l->paused) {
        l->paused = 1;
        evtimer_add(l->retry_ev, &tv);
    }
}

/* Errors accept() passes on from a connection that failed in the backlog
 * (see accept(2)): that connection is gone, the next one may be fine. */
static int hyb_l_accept_transient(apr_status_t rv)
{
    switch (rv - APR_OS_START_SYSERR) {
    case ENETDOWN: case EPROTO: case ENOPROTOOPT: case EHOSTDOWN:
    case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH: case ECONNRESET:
        return 1;
    default:
        return APR_STATUS_IS_EAGAIN(rv) || APR_STATUS_IS_EINTR(rv)
               || APR_STATUS_IS_ECONNABORTED(rv);
    }
}

/* accept() failed: a transient error is ignored, anything else (EMFILE,
 * ENFILE, ENOBUFS, ENOMEM) pauses accepting for HYB_EMFILE_PAUSE_MS and is
 * logged at most every 10 s. */
static void hyb_l_accept_error(hyb_listener_t *l, apr_status_t rv)
{
    if (hyb_l_accept_transient(rv)) {
        return;
    }
    if (!l->emfile_logged
        || l->now - l->emfile_logged > apr_time_from_sec(10)) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, ap_server_conf,
                     "HYB0401: accept failed with %u connections open in this "
                     "child; pausing accept for %d ms (raise the open files "
                     "limit, ulimit -n, if this repeats); logged at most "
                     "every 10 s", l->conns, HYB_EMFILE_PAUSE_MS);
        l->emfile_logged = l->now;
    }
    hyb_l_pause(l);
}

/* ---- the descriptor budget (fdbudget.c) ---------------------------------- */

/* Count this process's descriptors when due (always when forced). */
static void hyb_l_fd_count(hyb_listener_t *l, int force)
{
    struct rlimit rl;
    long limit = 0, open;
    apr_time_t t0;

    if (!force && !hyb_fdb_count_due(&l->fdb, (long)l->conns, l->now)) {
        return;
    }
    t0 = apr_time_now();
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        limit = (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > LONG_MAX)
                ? LONG_MAX : (long)rl.rlim_cur;
    }
    open = hyb_fdb_count_open();
    if (open < 0 && (errno == EMFILE || errno == ENFILE)) {
        open = limit;               /* not even one left to count with */
    }
    hyb_fdb_counted(&l->fdb, limit, open, (long)l->conns, l->now,
                    apr_time_now() - t0, hyb_srv.limits.threads_per_child);
}

/* The start of an episode (hyb_fdb_check says which pauses start one). */
static void hyb_l_fd_log_pause(hyb_listener_t *l)
{
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ap_server_conf,
                 "HYB0420: %ld of this child's %ld descriptors (RLIMIT_NOFILE) "
                 "are open, %u of them connections; it stops accepting until "
                 "%ld are free again, keeping %ld for the requests it serves. "
                 "Raise the open files limit: ulimit -n, LimitNOFILE= in the "
                 "systemd unit, or APACHE_ULIMIT_MAX_FILES in "
                 "/etc/apache2/envvars (logged once per episode)",
                 hyb_fdb_estimate(&l->fdb, (long)l->conns), l->fdb.limit,
                 l->conns, hyb_fdb_resume_room(&l->fdb), l->fdb.reserve);
    l->fd_episode_logged = 1;
}

static void hyb_l_fd_log_resume(hyb_listener_t *l)
{
    if (!l->fd_episode_logged) {
        return;
    }
    l->fd_episode_logged = 0;
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, ap_server_conf,
                 "HYB0421: accepting again after %" APR_TIME_T_FMT " ms: %ld "
                 "of %ld descriptors open", apr_time_as_msec(
                     l->now - l->fdb.paused_at),
                 hyb_fdb_estimate(&l->fdb, (long)l->conns), l->fdb.limit);
}

/* May the listener take one more descriptor (accept a connection, receive
 * one from a sibling)?  When not, it pauses both. */
int hyb_l_fd_room(hyb_listener_t *l)
{
    hyb_l_fd_count(l, 0);
    switch (hyb_fdb_check(&l->fdb, (long)l->conns, l->now)) {
    case HYB_FDB_ADMIT:
        return 1;
    case HYB_FDB_RESUME:
        hyb_l_fd_log_resume(l);
        return 1;
    case HYB_FDB_PAUSE:
        hyb_stats_inc(l->stats, HYB_STAT_FD_PAUSES);
        hyb_l_fd_log_pause(l);
        break;
    default:
        break;
    }
    hyb_l_pause(l);
    return 0;
}

/* The pause is over: count afresh; accept again (from the next round's
 * accept gating) if the budget allows, else pause once more. */
static void hyb_l_on_retry(evutil_socket_t fd, short what, void *arg)
{
    hyb_listener_t *l = arg;

    (void)fd; (void)what;
    l->paused = 0;
    l->now = apr_time_now();
    hyb_l_fd_count(l, 1);
    if (hyb_l_fd_room(l) && l->handoff_ev) {
        event_add(l->handoff_ev, NULL);
    }
}

/* ---- new connections ------------------------------------------------------ */

/* The one constructor of a connection, accepted here or handed over by a
 * sibling (`hops` times so far): its read event is registered at once so
 * that no edge is lost while workers hand it back lazily.  NULL when that
 * fails (the connection is closed). */
static hyb_conn_t *hyb_l_conn_from_fd(hyb_listener_t *l, apr_pool_t *ptrans,
                                      apr_socket_t *sock, hyb_hs_mode_e mode,
                                      unsigned int hops)
{
    struct {
        hyb_conn_t hc;
        hyb_conn_io_t io;
    } *both = apr_pcalloc(ptrans, sizeof(*both));
    hyb_conn_t *hc = &both->hc;

    hc->l.io = &both->io;

    hc->job.kind = hyb_admit_may_hand_on(hops) ? HYB_JOB_CONN_NEW
                                               : HYB_JOB_CONN;
    hc->child = l->ch;
    hc->ptrans = ptrans;
    hc->sock = sock;
    apr_os_sock_get(&hc->fd, sock);
    hc->cs.state = CONN_STATE_PROCESSING;
    hc->l.first_mode = mode;
    hc->l.hops = hops;
    l->conns++;
    if (!hyb_l_watch_read(l, hc)) {
        hyb_l_close(l, hc);
        return NULL;
    }
    return hc;
}

/* Accept one connection from ls: 1 when it is in, 0 when it was closed
 * at once, -1 when the loop must stop (an error, or no room). */
static int hyb_l_accept_one(hyb_listener_t *l, hyb_lsock_t *ls)
{
    apr_pool_t *ptrans;
    apr_socket_t *sock;
    hyb_conn_t *hc;
    apr_status_t rv;

    if (!hyb_l_fd_room(l)) {
        return -1;
    }
    ptrans = hyb_l_get_pool(l);
    if (!ptrans) {
        hyb_l_accept_error(l, APR_ENOMEM);
        return -1;
    }
    rv = apr_socket_accept(&sock, ls->lr->sd, ptrans);
    if (rv != APR_SUCCESS) {
        hyb_l_put_pool(l, ptrans);
        hyb_l_accept_error(l, rv);
        return -1;
    }
    hyb_stats_inc(l->stats, HYB_STAT_ACCEPTS);
    hc = hyb_l_conn_from_fd(l, ptrans, sock, ls->mode, 0);
    if (!hc) {
        return 0;
    }
    hyb_l_start_new(l, hc);
    return 1;
}

/* Accept up to HYB_ACCEPT_PER_WAKEUP connections; after each, the child
 * may have to stop (MaxConnectionsPerChild), or admit.c says to stop
 * watching (a job waits with no worker coming, or a sibling has less
 * demand). */
static void hyb_l_on_accept(evutil_socket_t fd, short what, void *arg)
{
    hyb_lsock_t *ls = arg;
    hyb_listener_t *l = ls->l;
    int i;

    (void)fd; (void)what;
    for (i = 0; i < HYB_ACCEPT_PER_WAKEUP && l->accepting; i++) {
        hyb_admit_verdict_t v;
        int r = hyb_l_accept_one(l, ls);

        if (r < 0) {
            return;
        }
        if (r == 0) {
            continue;
        }
        if (hyb_admit_count_conn(&l->conns_left, HYB_ADMIT_FROM_ACCEPT)) {
            hyb_child_request_exit(l->ch);
            hyb_l_begin_stop(l);
            return;
        }
        v = hyb_l_admit(l, HYB_ADMIT_ACCEPTED);
        l->adm = v.next;
        if (v.action != HYB_ADMIT_ACCEPT) {
            hyb_l_set_accepting(l, 0);
            hyb_l_accept_reason(l, v.action == HYB_ADMIT_DEFER
                                   ? HYB_ACCEPT_DEFER : HYB_ACCEPT_BUSY);
            return;
        }
    }
}

/* Accept gating, once per round (rule 1, with rule 2): start watching the
 * listening sockets again, or queue the accept token behind the jobs that
 * wait, as admit.c says. */
void hyb_l_gate_accept(hyb_listener_t *l)
{
    hyb_admit_verdict_t v = hyb_l_admit(l, HYB_ADMIT_GATE);

    if (v.took_token) {
        apr_atomic_set32(&l->token_popped, 0);
        hyb_stats_inc(l->stats, HYB_STAT_TOKEN_TURNS);
    }
    l->adm = v.next;
    if (v.action == HYB_ADMIT_ACCEPT) {
        hyb_l_set_accepting(l, 1);
    }
    else if (v.action == HYB_ADMIT_DEFER) {
        hyb_l_accept_reason(l, HYB_ACCEPT_DEFER);
    }
    else if (v.action == HYB_ADMIT_QUEUE_TOKEN) {
        hyb_l_accept_reason(l, HYB_ACCEPT_BUSY);
        if (hyb_queue_push(l->ch->queue, &l->accept_token) == APR_SUCCESS) {
            l->adm.token_queued = 1;
        }
    }
}

/* Worker thread: it popped the accept token, so every job queued before the
 * listener stopped accepting has been taken: accept some more. */
void hyb_listener_worker_token_popped(hyb_child_t *ch)
{
    apr_atomic_set32(&ch->listener->token_popped, 1);
    hyb_inbox_wake(ch->inbox);
}

/* Worker thread, about to wait while the listener held back for want of a
 * worker (hyb_queue_arm_idle_notify_if): make the listener re-check. */
static void hyb_l_idle_notify(void *baton)
{
    hyb_inbox_wake(((hyb_child_t *)baton)->inbox);
}

/* ---- handing new connections to siblings (handoff.c) --------------------- */

/* Listener thread: this child's receiving socket, or -1. */
static int hyb_l_handoff_rx(hyb_listener_t *l)
{
    hyb_handoff_tab_t *t = hyb_srv.handoff;
    int slot = l->ch->slot;

    return t && slot >= 0 && slot < t->n ? t->rx[slot] : -1;
}

/* Listener thread: the name of the socket of `slot`, or NULL. */
static const unsigned char *hyb_l_handoff_key(int slot)
{
    hyb_handoff_tab_t *t = hyb_srv.handoff;

    return t && slot >= 0 && slot < t->n ? t->key[slot] : NULL;
}

/* Listener thread (hyb_handoff_trust_fn): a descriptor is taken only from
 * a sibling: a process of this user whose pid the scoreboard shows in the
 * slot its message names. */
static int hyb_l_handoff_trusted(pid_t pid, uid_t uid, apr_uint32_t from,
                                 void *baton)
{
    hyb_listener_t *l = baton;
    apr_uint32_t slots = (apr_uint32_t)hyb_srv.retained->first_server_limit;

    if (uid == getuid() && from < slots && (int)from != l->ch->slot
        && ap_get_scoreboard_process((int)from)->pid == pid) {
        return 1;
    }
    l->refused_pid = pid;
    l->refused_uid = uid;
    return 0;
}

/* Descriptors from strangers were closed: say so at most once a minute. */
static void hyb_l_handoff_log_refused(hyb_listener_t *l)
{
    if (!l->handoff_refused
        || (l->refused_logged
            && l->now - l->refused_logged < apr_time_from_sec(60))) {
        return;
    }
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ap_server_conf,
                 "HYB0422: closed %u descriptors sent to this child's handoff "
                 "socket by a process that is not a sibling (the last from "
                 "pid %ld, uid %ld); a local process writes to it (logged at "
                 "most once a minute)", l->handoff_refused,
                 (long)l->refused_pid, (long)l->refused_uid);
    l->refused_logged = l->now;
    l->handoff_refused = 0;
}

/* Take one received descriptor as a connection of this child. */
static void hyb_l_take_handed(hyb_listener_t *l, int cfd,
                              const hyb_handoff_msg_t *m)
{
    apr_pool_t *ptrans = hyb_l_get_pool(l);
    apr_os_sock_t osd = cfd;
    apr_socket_t *sock = NULL;
    hyb_conn_t *hc;

    if (!ptrans || apr_os_sock_put(&sock, &osd, ptrans) != APR_SUCCESS) {
        close(cfd);
        if (ptrans) {
            hyb_l_put_pool(l, ptrans);
        }
        return;
    }
    hc = hyb_l_conn_from_fd(l, ptrans, sock, (hyb_hs_mode_e)m->mode, m->hops);
    if (hc) {
        hyb_stats_inc(l->stats, HYB_STAT_HANDOFF_RECV);
        /* Counted by the child that accepted it: a no-op, see admit.h. */
        hyb_admit_count_conn(&l->conns_left, HYB_ADMIT_FROM_SIBLING);
        hyb_l_dispatch(l, hc);
    }
}

/* A sibling handed over connections whose head (or ClientHello) is in:
 * to a worker here, as if accepted here.  One that finds no worker here
 * either (the idle worker the sibling saw was taken meanwhile, say by an
 * HTTP/2 connection back from wait-io) may be handed on again, up to
 * HYB_HANDOFF_MAX_HOPS times in all (hyb_admit_may_hand_on). */
static void hyb_l_on_handoff(evutil_socket_t fd, short what, void *arg)
{
    hyb_listener_t *l = arg;
    int rfd = hyb_l_handoff_rx(l), cfd, i, refused = 0;
    hyb_handoff_msg_t m;

    (void)fd; (void)what;
    hyb_l_clock(l);
    for (i = 0; i < HYB_HANDOFF_PER_WAKEUP && hyb_l_fd_room(l)
                && hyb_handoff_recv(rfd, &cfd, &m, hyb_l_handoff_trusted, l,
                                    &refused); i++) {
        hyb_l_take_handed(l, cfd, &m);
    }
    l->handoff_refused += (apr_uint32_t)refused;
    hyb_l_handoff_log_refused(l);
}

/* Send one queued new connection to slot `to`; 0 when there was none or
 * sending failed (then it is back in line here). */
static int hyb_l_hand_one(hyb_listener_t *l, int to)
{
    hyb_job_t *job = hyb_queue_take_waiting(l->ch->queue, HYB_JOB_CONN_NEW);
    hyb_conn_t *hc = (hyb_conn_t *)job;
    hyb_handoff_msg_t m;

    if (!job) {
        return 0;
    }
    m.mode = (unsigned char)hc->l.first_mode;
    m.hops = (unsigned char)(hc->l.hops + 1);
    m.pad = 0;
    m.from = (apr_uint32_t)l->ch->slot;
    if (hyb_handoff_send(l->handoff_tx, hyb_l_handoff_key(to), hc->fd,
                         &m) != 0) {
        hyb_l_dispatch(l, hc);      /* back in line (its queue wait counts
                                     * from now); try again later */
        return 0;
    }
    hyb_stats_inc(l->stats, HYB_STAT_HANDOFF_SENT);
    hyb_l_close(l, hc);             /* our copy only: close(), no FIN */
    return 1;
}

/* After each round (rule 3): hand as many new connections that wait here
 * with no worker coming as admit.c says to the sibling it names; they
 * would otherwise wait behind work that may last for minutes (HTTP/2,
 * WebSocket, slow PHP), typically after a burst in which every child was
 * busy at once and accepted more than its workers. */
void hyb_l_rebalance(hyb_listener_t *l)
{
    hyb_admit_verdict_t v = hyb_l_admit(l, HYB_ADMIT_BALANCE);
    int i;

    for (i = 0; v.action == HYB_ADMIT_HANDOFF && i < v.handoff; i++) {
        if (!hyb_l_hand_one(l, v.to)) {
            return;
        }
    }
}

/* ---- set-up (child main thread, before the threads start) ---------------- */

/* The handoff sockets: receive on this slot's, send from an unbound one. */
static apr_status_t hyb_l_handoff_init(hyb_listener_t *l)
{
    l->handoff_tx = -1;
    if (hyb_l_handoff_rx(l) >= 0) {
        l->handoff_ev = event_new(l->base, hyb_l_handoff_rx(l),
                                  EV_READ | EV_PERSIST, hyb_l_on_handoff, l);
        if (!l->handoff_ev || event_add(l->handoff_ev, NULL) != 0) {
            return APR_ENOMEM;
        }
    }
    if (hyb_srv.handoff
        && hyb_handoff_open_tx(&l->handoff_tx) != APR_SUCCESS) {
        l->handoff_tx = -1;         /* sends fail: connections stay here */
    }
    return APR_SUCCESS;
}

static apr_status_t hyb_l_add_listeners(hyb_listener_t *l)
{
    ap_listen_rec *lr;
    int n = 0;

    for (lr = l->ch->listeners; lr; lr = lr->next) {
        n++;
    }
    l->socks = apr_pcalloc(l->pool, n * sizeof(*l->socks));
    for (lr = l->ch->listeners; lr; lr = lr->next) {
        hyb_lsock_t *ls = &l->socks[l->nsocks++];
        apr_os_sock_t fd;
        apr_os_sock_get(&fd, lr->sd);
        apr_socket_opt_set(lr->sd, APR_SO_NONBLOCK, 1);
        ls->l = l;
        ls->lr = lr;
        ls->mode = hyb_gather_listener_mode(lr);
        ls->ev = event_new(l->base, fd, EV_READ | EV_PERSIST, hyb_l_on_accept, ls);
        if (!ls->ev) {
            return APR_ENOMEM;
        }
    }
    return APR_SUCCESS;
}

/* Everything of this file: the budget, the pause timer, the token, the
 * handoff sockets, the queue's notification and load word, the listening
 * sockets (not watched until hyb_l_set_accepting). */
apr_status_t hyb_l_door_init(hyb_listener_t *l)
{
    hyb_child_t *ch = l->ch;

    l->conns_left = ap_max_requests_per_child > 0 ? ap_max_requests_per_child
                                                  : -1;
    hyb_fdb_init(&l->fdb, hyb_srv.limits.threads_per_child);
    l->retry_ev = evtimer_new(l->base, hyb_l_on_retry, l);
    l->accept_token.kind = HYB_JOB_ACCEPT_TOKEN;
    if (!l->retry_ev || hyb_l_handoff_init(l) != APR_SUCCESS) {
        return APR_ENOMEM;
    }
    hyb_queue_set_idle_notify(ch->queue, hyb_l_idle_notify, ch);
    hyb_queue_set_load_mirror(ch->queue, hyb_status_load_word(ch->slot));
    return hyb_l_add_listeners(l);
}
