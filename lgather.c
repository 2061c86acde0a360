/* lgather.c - the listener's side of head gathering (HybridGatherHeads):
 * a new connection, and a keep-alive one that becomes readable, goes to a
 * worker only when hyb_hs_scan finds its whole request head (or TLS
 * record) in the socket, looked at with MSG_PEEK into one buffer of the
 * listener (hyb_sock_peek_head); until then it waits here
 * (HYB_AT_GATHER) until the moment mod_reqtimeout (or the core's read
 * timeout) would end it under event (hyb_head_due, headtime.c), in a
 * timeout queue kept in order of those moments (hyb_tq_place).  The read
 * event also asks for EV_CLOSED (EPOLLRDHUP): a peer that closes its side
 * after part of a head is handed to a worker at once, as event's worker
 * would read the end of the stream at once.  HybridGatherPerIP counts the
 * gathering connections per client address (iptab.c, HYB0403).
 *
 * Owns: the listener's peek buffer and per-address table, and the
 * gathering fields of the connections it holds.  Threads: the listener
 * thread only.  gather.c has the directives, the head timeouts per server
 * and the worker's side.
 */
#include "listener.h"

#include <string.h>

/* Bytes of the first look at a head (most heads are shorter). */
#define HYB_PEEK_FIRST        4096

/* ---- looking at heads ------------------------------------------------------- */

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

    switch (hyb_sock_peek_head(hc->fd, &hc->l.hs, l->peek, HYB_PEEK_FIRST,
                               hyb_srv.gather_max, &hc->l.gather_bytes)) {
    case HYB_SOCK_NOTHING:
        return HYB_HEAD_NONE;
    case HYB_SOCK_GONE:
        return HYB_HEAD_GONE;
    case HYB_SOCK_PART:
        break;
    default:
        return HYB_HEAD_READY;
    }
    lf = memrchr(l->peek, '\n', hc->l.gather_bytes);   /* the open line */
    hc->l.gather_line = lf ? (apr_uint32_t)(lf - l->peek) + 1 : 0;
    return HYB_HEAD_PART;
}

/* Head timeouts follow the connection's server, as mod_reqtimeout's do
 * (c->base_server; for a new connection, the one the core will give it),
 * and its stage: handshake for a ClientHello, header for an HTTP head. */
static const hyb_head_timeout_t *hyb_l_head_timeout(const hyb_conn_t *hc)
{
    server_rec *s = hc->c ? hc->c->base_server : hc->l.base_s;

    return hyb_head_timing(s ? s : ap_server_conf, hyb_hs_tls(&hc->l.hs));
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

void hyb_l_ip_release(hyb_listener_t *l, hyb_conn_t *hc)
{
    const void *key;
    size_t len;

    if (hc->l.ip_counted && hyb_l_ip_key(hc, &key, &len)) {
        hyb_iptab_dec(l->per_ip, key, len);
    }
    hc->l.ip_counted = 0;
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
    hc->l.ip_counted = 1;
    if (n <= hyb_srv.gather_per_ip || hc->c) {
        return 1;
    }
    hyb_l_ip_release(l, hc);
    hyb_stats_inc(l->stats, HYB_STAT_PERIP_REFUSED);
    hyb_l_log_refused(l, hc);
    return 0;
}

/* Wait in the listener for the rest of the head until it is due (or the
 * drain window of a stopping child ends): in the ordered queue of its
 * timing, moved there on each look that changes when it is due. */
void hyb_l_gather_park(hyb_listener_t *l, hyb_conn_t *hc)
{
    const hyb_head_timeout_t *t = hyb_l_head_timeout(hc);
    apr_time_t due = hc->l.gather_due;

    if (hc->l.place != HYB_AT_GATHER) {
        AP_DEBUG_ASSERT(hc->l.place == HYB_AT_NONE);
        if (!hyb_l_ip_admit(l, hc)) {
            hyb_l_close(l, hc);
            return;
        }
        hc->l.place = HYB_AT_GATHER;
        l->count_at[HYB_AT_GATHER]++;
    }
    if (l->stopping && due > l->drain_until) {
        due = l->drain_until;
    }
    hyb_tq_place(hyb_tq_set_get_placed(l->tqs, t->timeout ? t->timeout
                                                          : t->sock_timeout),
                 &hc->l.tqe, due);
}

/* The head timed out (as mod_reqtimeout or the core's read would have
 * now): the worker runs it with reads that do not wait, so httpd answers
 * the timeout as its own read timeout (408 or close, log). */
static void hyb_l_gather_expire(hyb_listener_t *l, hyb_conn_t *hc)
{
    hyb_stats_inc(l->stats, HYB_STAT_HEAD_TIMEOUTS);
    hc->go.head_expired = 1;
    hc->go.close_soon = 1;
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

    if (!first && hc->l.gather_bytes == n_prev) {
        return;                 /* nothing new: due as before */
    }
    hyb_head_counted(!hyb_hs_tls(&hc->l.hs), n_prev, hc->l.gather_bytes,
                     hc->l.gather_line, &before, &after);
    hc->l.gather_due = hyb_head_due(hyb_l_head_timeout(hc), hc->l.gather_start,
                                  l->now, before, after);
    if (hc->l.gather_due <= l->now && !first) {
        hyb_l_gather_expire(l, hc);
        return;
    }
    hyb_l_gather_park(l, hc);
}

/* Look again at a connection that gathers (or starts to).  A peer that
 * closed its side sends nothing more: part of a head goes to a worker,
 * which reads it and the end of the stream and answers as under event
 * (400, or a silent close); a new connection with no byte is closed. */
void hyb_l_gather(hyb_listener_t *l, hyb_conn_t *hc)
{
    apr_uint32_t n_prev = hc->l.gather_bytes;
    int first = hc->l.place != HYB_AT_GATHER;

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
        if (hc->l.rdhup) {
            hc->go.close_soon = 1;
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
void hyb_l_start_new(hyb_listener_t *l, hyb_conn_t *hc)
{
    if (!hyb_srv.gather) {
        hyb_l_dispatch(l, hc);
        return;
    }
    l->now = apr_time_now();
    hc->l.base_s = hyb_gather_base_server(hc->sock);
    if (hc->l.base_s) {
        hc->l.first_mode = hyb_gather_first_mode(hc->l.base_s);
    }
    hyb_hs_init(&hc->l.hs, hc->l.first_mode);
    hyb_hs_set_limits(&hc->l.hs, hyb_head_limits(hc->l.base_s));
    hc->l.gather_start = l->now;
    hyb_l_gather(l, hc);
}

/* A parked keep-alive connection may have bytes: serve a whole head at
 * once, gather a partial one, ignore a stale edge. */
void hyb_l_ka_readable(hyb_listener_t *l, hyb_conn_t *hc)
{
    if (hc->back.gather_mode == HYB_HS_AUTO) {
        if (hyb_sock_readable(hc->fd)) {
            hyb_l_dispatch(l, hc);
        }
        return;
    }
    hyb_hs_init(&hc->l.hs, hc->back.gather_mode);
    hyb_hs_set_limits(&hc->l.hs, hyb_head_limits(hc->c->base_server));
    hc->l.gather_start = l->now;
    hc->l.gather_bytes = 0;
    switch (hyb_l_look(l, hc)) {
    case HYB_HEAD_NONE:
        break;
    case HYB_HEAD_PART:
        if (hc->l.rdhup) {
            hc->go.close_soon = 1;
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
void hyb_l_gather_expired(hyb_listener_t *l, hyb_conn_t *hc)
{
    hyb_l_gather_expire(l, hc);
}

/* The gathering buffer (one per child: connections keep only their scan
 * state) and the per-address table when a cap is set. */
apr_status_t hyb_l_gather_init(hyb_listener_t *l)
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
