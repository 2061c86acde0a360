/* listener.h - private to the files of the listener thread (listener.c,
 * accept.c, lgather.c, ltable.c): hyb_listener_t and the functions they share.
 * libevent's types appear here and in those files only (and in timers.c,
 * which arms its own timer).
 *
 * Owns: nothing at run time; declares.
 *
 * Threads: everything in hyb_listener_t belongs to the listener thread,
 * except token_popped (atomic, set by a worker).  Functions named hyb_l_*
 * run on the listener thread only.
 */
#ifndef HYB_LISTENER_H
#define HYB_LISTENER_H

#include "hyb.h"
#include "admit.h"
#include "fdbudget.h"
#include "iptab.h"
#include "sock.h"
#include "timers.h"
#include "stats.h"

#include <event2/event.h>
#include <event2/event_struct.h>

/* A connection's libevent events (hyb_conn_l_t.io), made with it by
 * hyb_l_conn_from_fd.  Owner: the listener thread. */
typedef struct hyb_conn_io_t {
    int rev_added, wev_added;
    struct event rev, wev;
} hyb_conn_io_t;

typedef struct hyb_lsock_t {
    hyb_listener_t *l;
    ap_listen_rec *lr;
    struct event *ev;
    hyb_hs_mode_e mode;             /* how its connections' heads are gathered */
} hyb_lsock_t;

struct hyb_listener_t {
    hyb_child_t *ch;
    hyb_stats_slot_t *stats;        /* this slot's counters (stats.h); this
                                     * thread is their one writer */
    apr_pool_t *pool;               /* pruntime */
    struct event_base *base;
    struct event *inbox_ev;
    struct event *timer_ev;
    struct event *retry_ev;         /* ends a pause (accept error, or the
                                     * descriptor budget) */
    struct event *tick_ev;          /* bounds how long lazy handoffs wait */
    struct event *gate_ev;          /* the queue's wake gate asked to look
                                     * again (hyb_queue_nudge) */
    struct event *handoff_ev;       /* connections handed over by siblings */
    int handoff_tx;                 /* unbound socket to send to siblings */
    apr_uint32_t handoff_refused;   /* descriptors from strangers, closed */
    pid_t refused_pid;              /* the last stranger */
    uid_t refused_uid;
    apr_time_t refused_logged;
    int tick_on;
    int gate_on;                    /* gate_ev armed */
    apr_uint32_t gate_cap;          /* the queue's wake gate cap, as set */
    apr_time_t gate_cap_at;         /* when to count the children again */
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
    hyb_job_t accept_token;         /* in the queue while adm.token_queued */
    hyb_admit_state_t adm;          /* token turn and token (admit.c) */
    volatile apr_uint32_t token_popped;   /* atomic: set by the worker that
                                           * popped accept_token */
    apr_uint32_t count_at[HYB_AT_NUM];    /* connections per place */
    unsigned char *peek;            /* gathering: hyb_srv.gather_max bytes */
    hyb_iptab_t *per_ip;            /* gathering per client address, when
                                     * HybridGatherPerIP is set */
    apr_time_t per_ip_logged;
};

/* listener.c */
apr_pool_t *hyb_l_get_pool(hyb_listener_t *l);
void hyb_l_put_pool(hyb_listener_t *l, apr_pool_t *p);
void hyb_l_unqueue(hyb_listener_t *l, hyb_conn_t *hc);
void hyb_l_dispatch(hyb_listener_t *l, hyb_conn_t *hc);
void hyb_l_close(hyb_listener_t *l, hyb_conn_t *hc);
int hyb_l_watch_read(hyb_listener_t *l, hyb_conn_t *hc);
void hyb_l_clock(hyb_listener_t *l);
void hyb_l_begin_stop(hyb_listener_t *l);

/* accept.c */
apr_status_t hyb_l_door_init(hyb_listener_t *l);
void hyb_l_set_accepting(hyb_listener_t *l, int on);
int hyb_l_fd_room(hyb_listener_t *l);
void hyb_l_gate_accept(hyb_listener_t *l);
void hyb_l_rebalance(hyb_listener_t *l);

/* lgather.c */
apr_status_t hyb_l_gather_init(hyb_listener_t *l);
void hyb_l_start_new(hyb_listener_t *l, hyb_conn_t *hc);
void hyb_l_gather(hyb_listener_t *l, hyb_conn_t *hc);
void hyb_l_gather_park(hyb_listener_t *l, hyb_conn_t *hc);
void hyb_l_gather_expired(hyb_listener_t *l, hyb_conn_t *hc);
void hyb_l_ka_readable(hyb_listener_t *l, hyb_conn_t *hc);
void hyb_l_ip_release(hyb_listener_t *l, hyb_conn_t *hc);

/* ltable.c */
void hyb_l_table(hyb_listener_t *l);

#endif
