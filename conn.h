/* conn.h - one client connection (hyb_conn_t) and the enums of where it
 * is.
 *
 * Owns: the layout of hyb_conn_t, grouped by owner so that every access
 * shows whose field it is:
 *   (top level)  set when the connection is made, or by whoever holds it;
 *   l            the listener thread's, whatever thread holds the
 *                connection (its events, timeout-queue entries, gathering);
 *   w            the worker's that runs it;
 *   back         written by a worker before it hands the connection back
 *                (inbox push), read by the listener after;
 *   go           written by the listener before it hands the connection to
 *                a worker (queue push), read by that worker after.
 * The queue and the inbox (their mutexes) order the two handoffs; nothing
 * else is shared but edge_seen (atomic).
 *
 * Threads: a connection is held by exactly one thread at a time: the
 * listener, or one worker.
 */
#ifndef HYB_CONN_H
#define HYB_CONN_H

#include "httpd.h"
#include "http_connection.h"
#include "scoreboard.h"

#include "fdqueue.h"
#include "tqueue.h"
#include "headscan.h"

struct hyb_child_t;
struct hyb_conn_io_t;           /* listener.h: its libevent events */

/* What a worker asks when it hands a connection back (back.ask). */
typedef enum {
    HYB_ASK_NONE = 0,           /* nothing: the worker runs it */
    HYB_ASK_KEEPALIVE,          /* wait for the next request */
    HYB_ASK_WRITE,              /* write completion, poll per sense */
    HYB_ASK_WAITIO,             /* CONN_STATE_ASYNC_WAITIO, poll per sense */
    HYB_ASK_LINGER,             /* drain after shutdown(WR) */
    HYB_ASK_CLOSE               /* close now */
} hyb_ask_e;

/* Where the listener keeps a connection (l.place).  Also the index of the
 * listener's per-place counts, HYB_AT_NUM of them. */
typedef enum {
    HYB_AT_NONE = 0,            /* not parked: in the queue or a worker */
    HYB_AT_KEEPALIVE,
    HYB_AT_WRITE,
    HYB_AT_WAITIO,
    HYB_AT_LINGER,
    HYB_AT_GATHER,              /* waiting for a whole request head (or
                                 * TLS record) */
    HYB_AT_NUM                  /* count sentinel, not a place */
} hyb_place_e;

typedef struct hyb_conn_l_t {   /* owner: the listener thread */
    hyb_place_e place;          /* where it waits now */
    apr_time_t since;           /* when it took that place (not gathering:
                                 * see gather_start) */
    struct hyb_conn_io_t *io;   /* its read and write events (libevent's
                                 * types stay in listener.h) */
    hyb_tq_entry_t tqe;         /* in the timeout queue of its place */
    hyb_tq_entry_t trim_e;      /* in the listener's memory-trim queue */
    hyb_hs_t hs;                /* gathering: scan state */
    hyb_hs_mode_e first_mode;   /* how its listening socket gathers */
    unsigned int hops;          /* times handed to a sibling (handoff.c) */
    server_rec *base_s;         /* gathering a new connection: the server
                                 * the core will give it */
    apr_time_t gather_start;    /* gathering: when its head's clock started
                                 * (accept, or the next head's first byte) */
    apr_time_t gather_due;      /* gathering: when it times out if nothing
                                 * more comes */
    apr_uint32_t gather_bytes;  /* gathering: bytes available at last look */
    apr_uint32_t gather_line;   /* gathering: where the open line starts */
    int ip_counted;             /* gathering: counted in the per-IP table */
    int rdhup;                  /* the peer closed its side (EV_CLOSED) */
} hyb_conn_l_t;

typedef struct hyb_conn_w_t {   /* owner: the worker that runs it */
    request_rec *r;             /* request being read/handled */
    ap_filter_t *expired_f;     /* the no-wait filter while it is in place */
} hyb_conn_w_t;

typedef struct hyb_conn_back_t {    /* worker -> listener (inbox) */
    hyb_ask_e ask;
    apr_interval_time_t ka_timeout;     /* per-vhost KeepAliveTimeout */
    apr_interval_time_t io_timeout;     /* per-vhost Timeout */
    int linger_short;
    hyb_hs_mode_e gather_mode;  /* how to gather its next request after
                                 * keep-alive; HYB_HS_AUTO: don't */
    int partial;                /* part of the next head is already in */
} hyb_conn_back_t;

typedef struct hyb_conn_go_t {      /* listener -> worker (queue) */
    int expired;                /* parked connection timed out */
    int head_expired;           /* gathering timed out: reads must not wait */
    int close_soon;             /* gathering ended by a FIN or a timeout: the
                                 * answer is followed by a close, handed
                                 * back to the listener at once; the
                                 * worker clears it when a head is read */
    apr_time_t queued_at;       /* when it was pushed to the queue: the
                                 * worker that pops it observes the wait
                                 * (stats.h queue-wait histogram) */
} hyb_conn_go_t;

typedef struct hyb_conn_t {
    hyb_job_t job;              /* queue / inbox link: owner is the holder */
    conn_state_t cs;            /* c->cs points here */
    struct hyb_child_t *child;
    apr_pool_t *ptrans;         /* everything of the connection lives here */
    apr_socket_t *sock;
    int fd;
    conn_rec *c;                /* NULL until a worker created it */
    ap_sb_handle_t *sbh;

    /* Atomic: set by the listener when it sees a read edge while a worker
     * owns the connection; read and cleared by the listener when the
     * connection parks (and cleared at dispatch); read by the worker,
     * under the inbox mutex, when it hands the connection back lazily, so
     * that the handoff wakes the listener. */
    volatile apr_uint32_t edge_seen;

    hyb_conn_back_t back;
    hyb_conn_go_t go;
    hyb_conn_w_t w;
    hyb_conn_l_t l;
} hyb_conn_t;

#define HYB_JOB_CONN         1
#define HYB_JOB_ACCEPT_TOKEN 2  /* see hyb_l_gate_accept() */
#define HYB_JOB_TIMER        3  /* ap_mpm_register_timed_callback() */
#define HYB_JOB_CONN_NEW     4  /* a connection no worker has run yet; the
                                 * worker makes it HYB_JOB_CONN */

#endif
