/* listener.c - the child's listener thread: a libevent loop (epoll) that
 * accepts connections, hands runnable ones to workers through the queue,
 * and holds parked ones (keep-alive, write completion, wait-io, lingering
 * close) without a thread, each under its timeout.
 *
 * Everything in hyb_listener_t is owned by the listener thread; workers
 * reach it only through the inbox.  A connection's read event is
 * registered once, at accept, edge-triggered and persistent, so parking and
 * waking cost no epoll_ctl; an edge that arrives while a worker owns the
 * connection is remembered (edge_seen) and checked with a MSG_PEEK when
 * the connection comes back, and an edge for a parked connection is checked
 * the same way before a worker is sent.
 *
 * Capacity rule: the child accepts while no runnable job waits for a
 * worker (hyb_queue_starved); parked connections cost no worker and are not
 * counted against any limit.  Under saturation an accept token queued
 * behind the waiting jobs admits new connections in turn with them
 * (hyb_l_gate_accept).  A child with no idle worker to spare also leaves
 * new connections to a less loaded sibling (hyb_l_defer_to_sibling), and
 * hands a new connection that waits in its queue with no worker coming to
 * a sibling with an idle worker (hyb_l_rebalance, handoff.c).
 *
 * Descriptor rule: every descriptor the listener takes (accept, or one
 * received from a sibling) is checked against the child's descriptor
 * budget (fdbudget.c), which keeps a reserve below RLIMIT_NOFILE for the
 * work the admitted connections do (files, backend sockets, pipes); over
 * it, the listener pauses both until descriptors are free again (HYB0420
 * once per episode).
 *
 * Head gathering (HybridGatherHeads): a new connection, and a keep-alive
 * one that becomes readable, goes to a worker only when hyb_hs_scan finds
 * its whole request head (or TLS record) in the socket, looked at with
 * MSG_PEEK into one buffer of the listener; until then it waits here
 * (HYB_PARK_GATHER) until the moment mod_reqtimeout (or the core's read
 * timeout) would end it under event (hyb_head_due, headtime.c), in a
 * timeout queue kept in order of those moments (hyb_tq_place).  The read
 * event also asks for EV_CLOSED (EPOLLRDHUP): a peer that closes its side
 * after part of a head is handed to a worker at once, as event's worker
 * would read the end of the stream at once.
 */
#include "hyb.h"
#include "iptab.h"
#include "fdbudget.h"
#include "sock.h"
#include "timers.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#define HYB_ACCEPT_BATCH      16   /* admitted by one accept-token turn */
/* Connections accepted per wakeup of a listening socket.  One, as event
 * does: every child's listener is woken for a new connection, and taking
 * one at a time lets the siblings take their share of a burst instead of
 * the first child awake taking a batch (measured: close 1.05x, keep-alive
 * c50 p99 187 vs 254 ms against a batch of 16, see BENCHMARKS.md). */
#define HYB_ACCEPT_PER_WAKEUP 1
#define HYB_LINGER_NORMAL     apr_time_from_sec(30)
#define HYB_LINGER_SHORT      apr_time_from_sec(2)
#define HYB_EMFILE_PAUSE_MS   100
/* A keep-alive connection idle this long gives its free memory back. */
#define HYB_TRIM_AFTER        apr_time_from_sec(1)
/* Bytes of the first look at a head (most heads are shorter). */
#define HYB_PEEK_FIRST        4096

typedef struct hyb_lsock_t {
    hyb_listener_t *l;
    ap_listen_rec *lr;
    struct event *ev;
    hyb_hs_mode_e mode;             /* how its connections' heads are gathered */
} hyb_lsock_t;

struct hyb_listener_t {
    hyb_child_t *ch;
    apr_pool_t *pool;               /* pruntime */
    struct event_base *base;
    struct event *inbox_ev;
    struct event *timer_ev;
    struct event *retry_ev;         /* ends a pause (accept error, or the
                                     * descriptor budget) */
    struct event *tick_ev;          /* bounds how long lazy handoffs wait */
    struct event *handoff_ev;       /* connections handed over by siblings */
    int handoff_tx;                 /* unbound socket to send to siblings */
    apr_uint32_t handoff_refused;   /* descriptors from strangers, closed */
    pid_t refused_pid;              /* the last stranger */
    uid_t refused_uid;
    apr_time_t refused_logged;
    int tick_on;
    apr_time_t timer_at;            /* 0: not armed */
    apr_time_t now;                 /* cached once per loop round */
    hyb_lsock_t *socks;
    int nsocks;
    int accepting;                  /* listen events armed */
    int stopping;                   /* no more accepts, ever */
    apr_time_t drain_until;         /* stopping: idle keep-alive kept until */
    int paused;                     /* accept paused: error back-off or
                                     * descriptor budget; retry_ev armed */
    apr_time_t emfile_logged;
    hyb_fdb_t fdb;                  /* descriptor budget (fdbudget.c) */
    int fd_episode_logged;          /* HYB0420 said; HYB0421 still to say */
    hyb_tq_set_t *tqs;
    hyb_tq_t trim_q;                /* idle keep-alive, memory not trimmed yet */
    apr_pool_t **free_pools;        /* recycled ptrans (LIFO) */
    int nfree, maxfree;
    int conns_left;                 /* MaxConnectionsPerChild; <0: unlimited */
    apr_uint32_t conns;             /* every open connection of the child */
    hyb_job_t accept_token;         /* in the queue while token_queued */
    int token_queued;
    int admit;                      /* accepts allowed before the starved
                                     * check applies again (token turn) */
    volatile apr_uint32_t token_popped;   /* atomic: set by the worker that
                                           * popped accept_token */
    apr_uint32_t parked[HYB_PARK_CLOSE];  /* per park kind */
    unsigned char *peek;            /* gathering: hyb_srv.gather_max bytes */
    hyb_iptab_t *per_ip;            /* gathering per client address, when
                                     * HybridGatherPerIP is set */
    apr_time_t per_ip_logged;
};

static hyb_conn_t *hyb_l_conn_of(hyb_tq_entry_t *e)
{
    return (hyb_conn_t *)((char *)e - APR_OFFSETOF(hyb_conn_t, tqe));
}

static void hyb_l_begin_stop(hyb_listener_t *l);
static void hyb_l_clock(hyb_listener_t *l);

/* ---- connection pools ---------------------------------------------------- */

static apr_pool_t *hyb_l_get_pool(hyb_listener_t *l)
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

static void hyb_l_put_pool(hyb_listener_t *l, apr_pool_t *p)
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
                          l->parked[HYB_PARK_KEEPALIVE],
                          l->parked[HYB_PARK_WRITE],
                          l->parked[HYB_PARK_WAITIO],
                          l->parked[HYB_PARK_LINGER], 0);
    hyb_status_set_gathering(l->ch->slot, l->parked[HYB_PARK_GATHER]);
}

static void hyb_l_enqueue(hyb_listener_t *l, hyb_conn_t *hc, hyb_park_e kind,
                          apr_interval_time_t timeout)
{
    hc->parked = kind;
    l->parked[kind]++;
    hyb_tq_append(hyb_tq_set_get(l->tqs, timeout), &hc->tqe, l->now);
    if (kind == HYB_PARK_KEEPALIVE) {
        hyb_tq_append(&l->trim_q, &hc->trim_e, l->now);
    }
}

static void hyb_l_ip_release(hyb_listener_t *l, hyb_conn_t *hc);

static void hyb_l_unqueue(hyb_listener_t *l, hyb_conn_t *hc)
{
    if (hc->parked == HYB_PARK_NONE) {
        return;
    }
    if (hc->parked == HYB_PARK_GATHER) {
        hyb_l_ip_release(l, hc);
    }
    l->parked[hc->parked]--;
    hc->parked = HYB_PARK_NONE;
    hyb_tq_remove(&hc->tqe);
    hyb_tq_remove(&hc->trim_e);
    if (hc->wev_added) {
        event_del(&hc->wev);
        hc->wev_added = 0;
    }
}

static void hyb_l_close(hyb_listener_t *l, hyb_conn_t *hc)
{
    hyb_l_unqueue(l, hc);
    if (hc->rev_added) {
        event_del(&hc->rev);
    }
    apr_socket_close(hc->sock);
    l->conns--;
    hyb_l_put_pool(l, hc->ptrans);
}

/* Hand a connection to a worker. */
static void hyb_l_dispatch(hyb_listener_t *l, hyb_conn_t *hc)
{
    hyb_l_unqueue(l, hc);
    apr_atomic_set32(&hc->edge_seen, 0);
    if (hyb_queue_push(l->ch->queue, &hc->job) != APR_SUCCESS) {
        hyb_l_close(l, hc);     /* child is exiting ungracefully */
    }
}

/* ---- gathering request heads ---------------------------------------------- */

typedef enum {
    HYB_HEAD_NONE,              /* no byte yet */
    HYB_HEAD_PART,              /* part of a head */
    HYB_HEAD_READY,             /* a whole head (or record): send a worker */
    HYB_HEAD_GONE               /* EOF or error: send a worker (or close) */
} hyb_head_e;

/* Look at what the client has sent so far; nothing is consumed (the
 * peek-and-scan and its buffer rule are hyb_sock_peek_head's). */
static hyb_head_e hyb_l_look(hyb_listener_t *l, hyb_conn_t *hc)
{
    const unsigned char *lf;

    switch (hyb_sock_peek_head(hc->fd, &hc->hs, l->peek, HYB_PEEK_FIRST,
                               hyb_srv.gather_max, &hc->gather_bytes)) {
    case HYB_SOCK_NOTHING:
        return HYB_HEAD_NONE;
    case HYB_SOCK_GONE:
        return HYB_HEAD_GONE;
    case HYB_SOCK_PART:
        break;
    default:
        return HYB_HEAD_READY;
    }
    lf = memrchr(l->peek, '\n', hc->gather_bytes);   /* the open line */
    hc->gather_line = lf ? (apr_uint32_t)(lf - l->peek) + 1 : 0;
    return HYB_HEAD_PART;
}

/* Head timeouts follow the connection's server, as mod_reqtimeout's do
 * (c->base_server; for a new connection, the one the core will give it),
 * and its stage: handshake for a ClientHello, header for an HTTP head. */
static const hyb_head_timeout_t *hyb_l_head_timeout(const hyb_conn_t *hc)
{
    server_rec *s = hc->c ? hc->c->base_server : hc->base_s;

    return hyb_head_timing(s ? s : ap_server_conf, hyb_hs_tls(&hc->hs));
}

static int hyb_l_ip_key(hyb_conn_t *hc, const void **key, size_t *len)
{
    apr_sockaddr_t *sa;

    if (apr_socket_addr_get(&sa, APR_REMOTE, hc->sock) != APR_SUCCESS) {
        return 0;
    }
    *key = sa->ipaddr_ptr;
    *len = (size_t)sa->ipaddr_len;
    return 1;
}

static void hyb_l_ip_release(hyb_listener_t *l, hyb_conn_t *hc)
{
    const void *key;
    size_t len;

    if (hc->ip_counted && hyb_l_ip_key(hc, &key, &len)) {
        hyb_iptab_dec(l->per_ip, key, len);
    }
    hc->ip_counted = 0;
}

static void hyb_l_log_refused(hyb_listener_t *l, hyb_conn_t *hc)
{
    apr_sockaddr_t *sa;
    char *ip = NULL;

    if (l->now - l->per_ip_logged < apr_time_from_sec(10)) {
        return;
    }
    l->per_ip_logged = l->now;
    if (apr_socket_addr_get(&sa, APR_REMOTE, hc->sock) == APR_SUCCESS) {
        apr_sockaddr_ip_get(&ip, sa);
    }
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ap_server_conf,
                 "HYB0403: closed a new connection from %s: %d connections "
                 "from that address already wait for a request head in this "
                 "child (HybridGatherPerIP %d); logged at most every 10 s",
                 ip ? ip : "?", hyb_srv.gather_per_ip, hyb_srv.gather_per_ip);
}

/* Count a connection that starts gathering; 0 when HybridGatherPerIP
 * refuses it.  The cap applies to new connections only: a keep-alive
 * connection already served its client and is counted, never refused. */
static int hyb_l_ip_admit(hyb_listener_t *l, hyb_conn_t *hc)
{
    const void *key;
    size_t len;
    int n;

    if (!l->per_ip || !hyb_l_ip_key(hc, &key, &len)) {
        return 1;
    }
    n = hyb_iptab_inc(l->per_ip, key, len);
    if (n < 0) {
        return 1;               /* out of memory: not counted */
    }
    hc->ip_counted = 1;
    if (n <= hyb_srv.gather_per_ip || hc->c) {
        return 1;
    }
    hyb_l_ip_release(l, hc);
    hyb_l_log_refused(l, hc);
    return 0;
}

/* Wait in the listener for the rest of the head until it is due (or the
 * drain window of a stopping child ends): in the ordered queue of its
 * timing, moved there on each look that changes when it is due. */
static void hyb_l_gather_park(hyb_listener_t *l, hyb_conn_t *hc)
{
    const hyb_head_timeout_t *t = hyb_l_head_timeout(hc);
    apr_time_t due = hc->gather_due;

    if (hc->parked != HYB_PARK_GATHER) {
        if (!hyb_l_ip_admit(l, hc)) {
            hyb_l_close(l, hc);
            return;
        }
        hc->parked = HYB_PARK_GATHER;
        l->parked[HYB_PARK_GATHER]++;
    }
    if (l->stopping && due > l->drain_until) {
        due = l->drain_until;
    }
    hyb_tq_place(hyb_tq_set_get_placed(l->tqs, t->timeout ? t->timeout
                                                          : t->sock_timeout),
                 &hc->tqe, due);
}

/* The head timed out (as mod_reqtimeout or the core's read would have
 * now): the worker runs it with reads that do not wait, so httpd answers
 * the timeout as its own read timeout (408 or close, log). */
static void hyb_l_gather_expire(hyb_listener_t *l, hyb_conn_t *hc)
{
    hc->head_expired = 1;
    hc->close_soon = 1;
    hc->job.kind = HYB_JOB_CONN;    /* a 408 to write: never handed off */
    hyb_l_dispatch(l, hc);
}

/* After a look at a head still incomplete (first: its first look; n_prev
 * bytes were in at the previous one): when it is due, from l->now (fresh).
 * Due already (bytes after the deadline): it times out now. */
static void hyb_l_gather_wait(hyb_listener_t *l, hyb_conn_t *hc,
                              apr_uint32_t n_prev, int first)
{
    apr_uint32_t before, after;

    if (!first && hc->gather_bytes == n_prev) {
        return;                 /* nothing new: due as before */
    }
    hyb_head_counted(!hyb_hs_tls(&hc->hs), n_prev, hc->gather_bytes,
                     hc->gather_line, &before, &after);
    hc->gather_due = hyb_head_due(hyb_l_head_timeout(hc), hc->gather_start,
                                  l->now, before, after);
    if (hc->gather_due <= l->now && !first) {
        hyb_l_gather_expire(l, hc);
        return;
    }
    hyb_l_gather_park(l, hc);
}

/* Look again at a connection that gathers (or starts to).  A peer that
 * closed its side sends nothing more: part of a head goes to a worker,
 * which reads it and the end of the stream and answers as under event
 * (400, or a silent close); a new connection with no byte is closed. */
static void hyb_l_gather(hyb_listener_t *l, hyb_conn_t *hc)
{
    apr_uint32_t n_prev = hc->gather_bytes;
    int first = hc->parked != HYB_PARK_GATHER;

    switch (hyb_l_look(l, hc)) {
    case HYB_HEAD_READY:
        hyb_l_dispatch(l, hc);
        break;
    case HYB_HEAD_GONE:
        if (hc->c) {
            hyb_l_dispatch(l, hc);  /* the worker closes it as usual */
        }
        else {
            hyb_l_close(l, hc);     /* closed before a byte: nothing to run */
        }
        break;
    case HYB_HEAD_PART:
        if (hc->rdhup) {
            hc->close_soon = 1;
            hyb_l_dispatch(l, hc);
            break;
        }
        hyb_l_gather_wait(l, hc, n_prev, first);
        break;
    default:
        if (first) {
            hyb_l_gather_wait(l, hc, 0, 1);
        }
        break;
    }
}

/* A new connection: to a worker at once without gathering, else once its
 * first head is in.  Gathered as the server the core will give it says
 * (TLS record or HTTP head, and that server's timeouts), on a clock read
 * now: the loop's time may be from before an idle spell. */
static void hyb_l_start_new(hyb_listener_t *l, hyb_conn_t *hc)
{
    if (!hyb_srv.gather) {
        hyb_l_dispatch(l, hc);
        return;
    }
    l->now = apr_time_now();
    hc->base_s = hyb_gather_base_server(hc->sock);
    if (hc->base_s) {
        hc->first_mode = hyb_gather_first_mode(hc->base_s);
    }
    hyb_hs_init(&hc->hs, hc->first_mode);
    hc->gather_start = l->now;
    hyb_l_gather(l, hc);
}

/* A parked keep-alive connection may have bytes: serve a whole head at
 * once, gather a partial one, ignore a stale edge. */
static void hyb_l_ka_readable(hyb_listener_t *l, hyb_conn_t *hc)
{
    if (hc->gather_mode == HYB_HS_AUTO) {
        if (hyb_sock_readable(hc->fd)) {
            hyb_l_dispatch(l, hc);
        }
        return;
    }
    hyb_hs_init(&hc->hs, hc->gather_mode);
    hc->gather_start = l->now;
    hc->gather_bytes = 0;
    switch (hyb_l_look(l, hc)) {
    case HYB_HEAD_NONE:
        break;
    case HYB_HEAD_PART:
        if (hc->rdhup) {
            hc->close_soon = 1;
            hyb_l_dispatch(l, hc);  /* no more will come: the core answers */
            break;
        }
        hyb_l_unqueue(l, hc);
        hyb_l_gather_wait(l, hc, 0, 1);
        break;
    default:
        hyb_l_dispatch(l, hc);
        break;
    }
}

/* A gathering connection came out of its queue: it is due (its due time
 * is exact, every look that brought bytes recomputed it), or the drain
 * window of a stopping child ended. */
static void hyb_l_gather_expired(hyb_listener_t *l, hyb_conn_t *hc)
{
    hyb_l_gather_expire(l, hc);
}

/* ---- per-connection events ------------------------------------------------- */

/* Does a connection parked for I/O wait for readability?  Write completion
 * waits for write unless the filters asked to read; wait-io waits for read
 * unless they asked to write. */
static int hyb_l_wants_read(const hyb_conn_t *hc)
{
    if (hc->park == HYB_PARK_WAITIO) {
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
        hc->rdhup = 1;          /* sticky: FIN (or RST) is reported once */
    }
    hyb_l_clock(l);
    switch (hc->parked) {
    case HYB_PARK_NONE:
        /* A worker owns it: checked when it parks.  If the worker hands
         * it back lazily after this, the flag makes that handoff wake the
         * loop; if it already did, this round's lazy take finds it. */
        apr_atomic_set32(&hc->edge_seen, 1);
        break;
    case HYB_PARK_KEEPALIVE:
        /* The edge may be stale: raised before the connection was handed
         * back and reported only after it parked.  A worker sent for
         * nothing would block in a read, so look first (one MSG_PEEK,
         * cheaper than the epoll_ctl pair event pays per request). */
        hyb_l_ka_readable(l, hc);
        break;
    case HYB_PARK_GATHER:
        hyb_l_gather(l, hc);
        break;
    case HYB_PARK_WRITE:
    case HYB_PARK_WAITIO:
        if (hyb_l_wants_read(hc) && hyb_sock_readable(hc->fd)) {
            hyb_l_dispatch(l, hc);
        }
        break;
    case HYB_PARK_LINGER:
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
    hc->wev_added = 0;
    if (hc->parked == HYB_PARK_WRITE || hc->parked == HYB_PARK_WAITIO) {
        hyb_l_dispatch(hc->child->listener, hc);
    }
}

/* Register the persistent edge-triggered read event (once per connection),
 * with EV_CLOSED (EPOLLRDHUP): the end of the stream after unread bytes,
 * which MSG_PEEK never shows. */
static int hyb_l_watch_read(hyb_listener_t *l, hyb_conn_t *hc)
{
    if (hc->rev_added) {
        return 1;
    }
    event_assign(&hc->rev, l->base, hc->fd,
                 EV_READ | EV_CLOSED | EV_PERSIST | EV_ET, hyb_l_on_read, hc);
    if (event_add(&hc->rev, NULL) != 0) {
        return 0;
    }
    hc->rev_added = 1;
    return 1;
}

static int hyb_l_watch_write(hyb_listener_t *l, hyb_conn_t *hc)
{
    event_assign(&hc->wev, l->base, hc->fd, EV_WRITE | EV_ET, hyb_l_on_write,
                 hc);
    if (event_add(&hc->wev, NULL) != 0) {
        return 0;
    }
    hc->wev_added = 1;
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
        hc->expired = 1;
        hyb_l_dispatch(l, hc);
        return;
    }
    hyb_l_enqueue(l, hc, hc->park, hc->io_timeout);
    if (want_read) {
        hyb_l_check_missed(l, hc);
    }
}

static void hyb_l_park_linger(hyb_listener_t *l, hyb_conn_t *hc)
{
    int short_linger = hc->linger_short || l->stopping;

    if (hyb_sock_drain(hc->fd) || !hyb_l_watch_read(l, hc)) {
        hyb_l_close(l, hc);
        return;
    }
    apr_atomic_set32(&hc->edge_seen, 0);
    hyb_l_enqueue(l, hc, HYB_PARK_LINGER,
                  short_linger ? HYB_LINGER_SHORT : HYB_LINGER_NORMAL);
}

/* Idle keep-alive.  A stopping child keeps it only for what is left of the
 * drain window, so a request already on its way is still served. */
static void hyb_l_park_keepalive(hyb_listener_t *l, hyb_conn_t *hc)
{
    apr_interval_time_t timeout = hc->ka_timeout;
    apr_uint32_t edge;

    if (l->stopping) {
        timeout = l->drain_until - l->now;
    }
    if (timeout <= 0 || !hyb_l_watch_read(l, hc)) {
        hc->expired = 1;
        hyb_l_dispatch(l, hc);
        return;
    }
    /* While draining, the queue of the window's full length is used: an
     * entry may wait up to twice the window, never longer. */
    hyb_l_enqueue(l, hc, HYB_PARK_KEEPALIVE,
                  l->stopping ? hyb_srv.drain_timeout : timeout);
    edge = apr_atomic_xchg32(&hc->edge_seen, 0);
    if (edge || hc->partial) {
        hc->partial = 0;
        hyb_l_ka_readable(l, hc);
    }
}

/* A worker handed this connection back: park it as it asks. */
static void hyb_l_park(hyb_listener_t *l, hyb_conn_t *hc)
{
    switch (hc->park) {
    case HYB_PARK_KEEPALIVE:
        hyb_l_park_keepalive(l, hc);
        break;
    case HYB_PARK_WRITE:
    case HYB_PARK_WAITIO:
        hyb_l_park_io(l, hc);
        break;
    case HYB_PARK_LINGER:
        hyb_l_park_linger(l, hc);
        break;
    default:
        hyb_l_close(l, hc);
        break;
    }
}

/* The time libevent read when epoll_wait returned: l->now from the end of
 * the previous round may be as old as the wait. */
static void hyb_l_clock(hyb_listener_t *l)
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

/* The tick only makes the loop run a round (see hyb_l_after_round). */
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
        e->q = NULL;
        hyb_l_trim((hyb_conn_t *)((char *)e - APR_OFFSETOF(hyb_conn_t, trim_e)));
    }
}

/* ---- timeouts ---------------------------------------------------------- */

static void hyb_l_expire(hyb_listener_t *l, hyb_conn_t *hc)
{
    if (hc->parked == HYB_PARK_LINGER) {
        hyb_l_close(l, hc);
        return;
    }
    if (hc->parked == HYB_PARK_GATHER) {
        hyb_l_gather_expired(l, hc);
        return;
    }
    hc->expired = 1;
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
        e->q = NULL;
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

/* ---- accepting ---------------------------------------------------------- */

/* Listener thread: what this child's workers are short of, counting the
 * connections gathering a head as wanting one soon (< 0: idle workers).
 * Read without the lock from the load word the queue mirrors: a hint, by
 * its definition never below the load hyb_queue_load gives (which also
 * counts a worker on its way to wait), so a child that must defer goes on
 * to confirm; a stale read only moves that to the next accept or round. */
static int hyb_l_demand(hyb_listener_t *l)
{
    volatile apr_int32_t *load = hyb_status_load_word(l->ch->slot);

    return load ? *load + (int)l->parked[HYB_PARK_GATHER] : -1;
}

/* Listener thread.  True when a new connection is better left to a sibling:
 * this child has no idle worker to spare and a sibling of this generation
 * that is accepting has less demand (an idle worker, or fewer jobs
 * waiting).  The kernel then gives the connection to that sibling, which
 * watches the same listening sockets, instead of queueing it here behind
 * workers that long-lived work (HTTP/2, WebSocket, slow PHP) may hold for
 * minutes.  With every child equally short, none defers and the capacity
 * rule alone applies.  Deferring is confirmed with hyb_queue_load, which
 * counts a worker on its way to wait and arms the queue's idle
 * notification; the 100 ms tick re-checks the siblings. */
static int hyb_l_defer_to_sibling(hyb_listener_t *l)
{
    int demand = hyb_l_demand(l), least;

    if (demand < 0) {
        return 0;
    }
    hyb_status_least_loaded_sibling(l->ch->slot, &least);
    if (least >= demand) {
        return 0;
    }
    demand = hyb_queue_load(l->ch->queue) + (int)l->parked[HYB_PARK_GATHER];
    return demand >= 0 && least < demand;
}

/* After an accept: stop for now?  A token turn's batch passes over the
 * starved check, not over a less loaded sibling. */
static int hyb_l_pause_after_accept(hyb_listener_t *l)
{
    if (hyb_l_defer_to_sibling(l)) {
        return 1;
    }
    if (l->admit > 0) {
        l->admit--;
        return 0;
    }
    return hyb_queue_starved(l->ch->queue);
}

static int hyb_l_fd_room(hyb_listener_t *l);

static void hyb_l_set_accepting(hyb_listener_t *l, int on)
{
    int i;

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
}

/* Stop accepting, and receiving connections from siblings (each costs a
 * descriptor too), until hyb_l_on_retry. */
static void hyb_l_pause(hyb_listener_t *l)
{
    struct timeval tv = { 0, HYB_EMFILE_PAUSE_MS * 1000 };

    hyb_l_set_accepting(l, 0);
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
static int hyb_l_fd_room(hyb_listener_t *l)
{
    hyb_l_fd_count(l, 0);
    switch (hyb_fdb_check(&l->fdb, (long)l->conns, l->now)) {
    case HYB_FDB_ADMIT:
        return 1;
    case HYB_FDB_RESUME:
        hyb_l_fd_log_resume(l);
        return 1;
    case HYB_FDB_PAUSE:
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

static hyb_conn_t *hyb_l_new_conn(hyb_listener_t *l, apr_pool_t *ptrans,
                                  apr_socket_t *sock)
{
    hyb_conn_t *hc = apr_pcalloc(ptrans, sizeof(*hc));

    hc->job.kind = HYB_JOB_CONN_NEW;
    hc->child = l->ch;
    hc->ptrans = ptrans;
    hc->sock = sock;
    apr_os_sock_get(&hc->fd, sock);
    hc->cs.state = CONN_STATE_PROCESSING;
    l->conns++;
    return hc;
}

/* Accept up to HYB_ACCEPT_PER_WAKEUP connections; stops early when the
 * backlog is empty or a job is left waiting for a worker (back-pressure). */
static void hyb_l_on_accept(evutil_socket_t fd, short what, void *arg)
{
    hyb_lsock_t *ls = arg;
    hyb_listener_t *l = ls->l;
    int i;

    (void)fd; (void)what;
    for (i = 0; i < HYB_ACCEPT_PER_WAKEUP && l->accepting; i++) {
        apr_pool_t *ptrans;
        apr_socket_t *sock;
        hyb_conn_t *hc;
        apr_status_t rv;

        if (!hyb_l_fd_room(l)) {
            return;
        }
        ptrans = hyb_l_get_pool(l);
        if (!ptrans) {
            hyb_l_accept_error(l, APR_ENOMEM);
            return;
        }
        rv = apr_socket_accept(&sock, ls->lr->sd, ptrans);
        if (rv != APR_SUCCESS) {
            hyb_l_put_pool(l, ptrans);
            hyb_l_accept_error(l, rv);
            return;
        }
        hc = hyb_l_new_conn(l, ptrans, sock);
        hc->first_mode = ls->mode;
        /* Registered now so that no edge is lost while workers hand the
         * connection back lazily (see hyb_conn_park). */
        if (!hyb_l_watch_read(l, hc)) {
            hyb_l_close(l, hc);
            continue;
        }
        hyb_l_start_new(l, hc);
        if (l->conns_left > 0 && --l->conns_left == 0) {
            hyb_child_request_exit(l->ch);
            hyb_l_begin_stop(l);
            return;
        }
        if (hyb_l_pause_after_accept(l)) {
            hyb_l_set_accepting(l, 0);
            return;
        }
    }
}

/* ---- handing new connections to siblings (handoff.c) --------------------- */

#define HYB_HANDOFF_PER_ROUND  4    /* sent by one round, at most */
#define HYB_HANDOFF_PER_WAKEUP 16   /* received by one wakeup, at most */

/* Listener thread: this child's receiving socket, or -1. */
static int hyb_l_handoff_rx(hyb_listener_t *l)
{
    hyb_handoff_tab_t *t = hyb_handoff_table();
    int slot = l->ch->slot;

    return t && slot >= 0 && slot < t->n ? t->rx[slot] : -1;
}

/* Listener thread: the name of the socket of `slot`, or NULL. */
static const unsigned char *hyb_l_handoff_key(int slot)
{
    hyb_handoff_tab_t *t = hyb_handoff_table();

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

/* A sibling handed over connections whose head (or ClientHello) is in:
 * to a worker here, as if accepted here.  One that finds no worker here
 * either (the idle worker the sibling saw was taken meanwhile, say by an
 * HTTP/2 connection back from wait-io) may be handed on again, up to
 * HYB_HANDOFF_MAX_HOPS times in all. */
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
        apr_pool_t *ptrans = hyb_l_get_pool(l);
        apr_os_sock_t osd = cfd;
        apr_socket_t *sock = NULL;
        hyb_conn_t *hc;

        if (!ptrans || apr_os_sock_put(&sock, &osd, ptrans) != APR_SUCCESS) {
            close(cfd);
            if (ptrans) {
                hyb_l_put_pool(l, ptrans);
            }
            continue;
        }
        hc = hyb_l_new_conn(l, ptrans, sock);
        hc->hops = m.hops;
        if (hc->hops >= HYB_HANDOFF_MAX_HOPS) {
            hc->job.kind = HYB_JOB_CONN;        /* stays here */
        }
        hc->first_mode = (hyb_hs_mode_e)m.mode;
        if (!hyb_l_watch_read(l, hc)) {
            hyb_l_close(l, hc);
            continue;
        }
        hyb_l_dispatch(l, hc);
    }
    l->handoff_refused += (apr_uint32_t)refused;
    hyb_l_handoff_log_refused(l);
}

/* After each round.  While new connections (no worker has run them yet)
 * wait here with no worker coming, and a sibling of this generation that
 * is accepting has idle workers to spare, hand some of them over: they
 * would otherwise wait behind work that may last for minutes (HTTP/2,
 * WebSocket, slow PHP) in this child, typically after a burst in which
 * every child was busy at once and accepted more than its workers. */
static void hyb_l_rebalance(hyb_listener_t *l)
{
    volatile apr_int32_t *own = hyb_status_load_word(l->ch->slot);
    int i, spare, to;

    if (!own || *own <= 0 || l->stopping) {
        return;
    }
    to = hyb_status_least_loaded_sibling(l->ch->slot, &spare);
    spare = -spare;
    for (i = 0; to >= 0 && i < spare && i < HYB_HANDOFF_PER_ROUND; i++) {
        hyb_job_t *job = hyb_queue_take_waiting(l->ch->queue, HYB_JOB_CONN_NEW);
        hyb_conn_t *hc = (hyb_conn_t *)job;
        hyb_handoff_msg_t m;
        if (!job) {
            return;
        }
        m.mode = (unsigned char)hc->first_mode;
        m.hops = (unsigned char)(hc->hops + 1);
        m.pad = 0;
        m.from = (apr_uint32_t)l->ch->slot;
        if (hyb_handoff_send(l->handoff_tx, hyb_l_handoff_key(to), hc->fd,
                             &m) != 0) {
            hyb_l_dispatch(l, hc);      /* back in line; try again later */
            return;
        }
        hyb_l_close(l, hc);             /* our copy only: close(), no FIN */
    }
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
        hyb_conn_t **to = (hc->parked == HYB_PARK_GATHER) ? gathering : &list;
        e->q = NULL;
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
static void hyb_l_begin_stop(hyb_listener_t *l)
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

/* Worker thread: it popped the accept token, so every job queued before the
 * listener stopped accepting has been taken: accept some more. */
void hyb_listener_token_popped(hyb_child_t *ch)
{
    apr_atomic_set32(&ch->listener->token_popped, 1);
    hyb_inbox_wake(ch->inbox);
}

/* Accept gating, once per round.  While jobs wait for workers the child
 * does not accept; an accept token queued behind those jobs brings it back
 * when they have been taken, so new connections are admitted in turn with
 * the runnable work of existing ones instead of waiting for the load to
 * end.  With no backlog, an idle worker's notification does the same. */
static void hyb_l_gate_accept(hyb_listener_t *l)
{
    if (l->accepting || l->stopping || l->paused) {
        return;
    }
    if (apr_atomic_xchg32(&l->token_popped, 0)) {
        l->token_queued = 0;
        l->admit = HYB_ACCEPT_BATCH;    /* this turn admits a batch */
    }
    if (l->admit > 0 || !hyb_queue_starved(l->ch->queue)) {
        if (!hyb_l_defer_to_sibling(l)) {
            hyb_l_set_accepting(l, 1);
        }
    }
    else if (!l->token_queued
             && hyb_queue_push(l->ch->queue, &l->accept_token) == APR_SUCCESS) {
        l->token_queued = 1;
    }
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
    hyb_l_tick(l);
    hyb_l_arm_timer(l);
    hyb_l_publish(l);
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

/* The gathering buffer (one per child: connections keep only their scan
 * state) and the per-address table when a cap is set. */
static apr_status_t hyb_l_gather_init(hyb_listener_t *l)
{
    if (!hyb_srv.gather) {
        return APR_SUCCESS;
    }
    l->peek = apr_palloc(l->pool, hyb_srv.gather_max);
    if (hyb_srv.gather_per_ip > 0) {
        l->per_ip = hyb_iptab_create();
        if (!l->per_ip) {
            return APR_ENOMEM;
        }
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

/* Worker thread, about to wait while the listener had stopped accepting
 * because jobs waited for workers: make the listener re-check. */
static void hyb_l_idle_notify(void *baton)
{
    hyb_inbox_wake(((hyb_child_t *)baton)->inbox);
}

/* Child main thread, before the threads start. */
apr_status_t hyb_listener_create(hyb_child_t *ch)
{
    hyb_listener_t *l = apr_pcalloc(ch->pruntime, sizeof(*l));

    l->ch = ch;
    l->pool = ch->pruntime;
    l->handoff_tx = -1;
    l->tqs = hyb_tq_set_create(l->pool);
    hyb_tq_init(&l->trim_q, HYB_TRIM_AFTER);
    l->maxfree = hyb_srv.limits.threads_per_child;
    l->free_pools = apr_pcalloc(l->pool, l->maxfree * sizeof(apr_pool_t *));
    l->conns_left = ap_max_requests_per_child > 0 ? ap_max_requests_per_child : -1;
    hyb_fdb_init(&l->fdb, hyb_srv.limits.threads_per_child);
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
    l->retry_ev = evtimer_new(l->base, hyb_l_on_retry, l);
    l->tick_ev = event_new(l->base, -1, EV_PERSIST, hyb_l_on_tick, l);
    if (hyb_l_handoff_rx(l) >= 0) {
        l->handoff_ev = event_new(l->base, hyb_l_handoff_rx(l),
                                  EV_READ | EV_PERSIST, hyb_l_on_handoff, l);
        if (!l->handoff_ev || event_add(l->handoff_ev, NULL) != 0) {
            return APR_ENOMEM;
        }
    }
    if (hyb_handoff_table()
        && hyb_handoff_open_tx(&l->handoff_tx) != APR_SUCCESS) {
        l->handoff_tx = -1;         /* sends fail: connections stay here */
    }
    l->accept_token.kind = HYB_JOB_ACCEPT_TOKEN;
    if (!l->inbox_ev || !l->timer_ev || !l->retry_ev || !l->tick_ev
        || event_add(l->inbox_ev, NULL) != 0) {
        return APR_ENOMEM;
    }
    if (hyb_l_gather_init(l) != APR_SUCCESS) {
        return APR_ENOMEM;
    }
    ch->listener = l;
    hyb_queue_set_idle_notify(ch->queue, hyb_l_idle_notify, ch);
    hyb_queue_set_load_mirror(ch->queue, hyb_status_load_word(ch->slot));
    return hyb_l_add_listeners(l);
}

/* Any thread: make the listener run a round (re-check flags). */
void hyb_listener_wake(hyb_child_t *ch)
{
    hyb_inbox_wake(ch->inbox);
}

void *APR_THREAD_FUNC hyb_listener_main(apr_thread_t *thd, void *arg)
{
    hyb_child_t *ch = arg;
    hyb_listener_t *l = ch->listener;

    l->now = apr_time_now();
    hyb_l_set_accepting(l, 1);
    hyb_l_publish(l);
    while (hyb_l_after_round(l)) {
        event_base_loop(l->base, EVLOOP_ONCE);
    }
    hyb_l_publish(l);
    hyb_queue_term(ch->queue);
    apr_atomic_dec32(&ch->live_threads);
    if (hyb_child_exit_mode(ch) == HYB_RUN) {
        hyb_child_request_exit(ch);
    }
    apr_thread_exit(thd, APR_SUCCESS);
    return NULL;
}
