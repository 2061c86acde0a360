/* fdbudget.h - the descriptor budget of a child: may the listener take one
 * more descriptor (accept a connection, receive one from a sibling), given
 * RLIMIT_NOFILE, the descriptors open at the last count, and a reserve kept
 * free for the work already admitted (the file a request serves, a proxy
 * or cgid socket, CGI pipes)?
 *
 * Owns: pure functions and the small state of one child's budget (no
 * httpd dependency; unit-tested directly), plus hyb_fdb_count_open, which
 * counts this process's open descriptors (/proc/self/fd).
 *
 * Threads: a hyb_fdb_t belongs to one thread (the child's listener).
 */
#ifndef HYB_FDBUDGET_H
#define HYB_FDBUDGET_H

#include <apr_time.h>

/* Descriptors kept free per worker thread, and for the process. */
#define HYB_FDB_PER_WORKER 3
#define HYB_FDB_SLACK      16
/* Recount at most this often while near the limit (or paused), and at
 * least this often otherwise (modules open descriptors the listener does
 * not see: pooled proxy connections, log pipes, caches). */
#define HYB_FDB_NEAR_EVERY apr_time_from_msec(20)
#define HYB_FDB_FAR_EVERY  apr_time_from_sec(1)
/* ... and never more often than every this many times what the last count
 * took (counting is O(descriptors): about 1 ms per 2 000 of them), so
 * that counting costs the listener at most 2% of its time. */
#define HYB_FDB_COST_FACTOR 50
/* A pause that starts within this time of the last resume belongs to the
 * same episode (it is not logged again). */
#define HYB_FDB_EPISODE_GAP apr_time_from_sec(30)

typedef struct hyb_fdb_t {
    long limit;                 /* RLIMIT_NOFILE (soft) at the last count */
    long reserve;               /* kept free for admitted work */
    long counted;               /* descriptors open at the last count */
    long conns_then;            /* the child's connections at that count */
    apr_time_t counted_at;      /* 0: never counted */
    apr_interval_time_t cost;   /* what the last count took */
    int paused;                 /* over budget: no accept, no receive */
    apr_time_t paused_at;       /* start of the current pause */
    apr_time_t resumed_at;      /* end of the last pause; 0: none yet */
    int clamped;                /* the reserve was cut to half the limit */
} hyb_fdb_t;

typedef enum {
    HYB_FDB_ADMIT = 0,          /* take it */
    HYB_FDB_PAUSE,              /* stop: the start of an episode (log it) */
    HYB_FDB_PAUSE_QUIET,        /* stop: the same episode as before */
    HYB_FDB_HOLD,               /* still paused */
    HYB_FDB_RESUME              /* the pause is over */
} hyb_fdb_verdict_e;

long hyb_fdb_reserve(long limit, int threads, int *clamped);
void hyb_fdb_init(hyb_fdb_t *b, int threads);
long hyb_fdb_estimate(const hyb_fdb_t *b, long conns);
long hyb_fdb_resume_room(const hyb_fdb_t *b);
int hyb_fdb_count_due(const hyb_fdb_t *b, long conns, apr_time_t now);
void hyb_fdb_counted(hyb_fdb_t *b, long limit, long open, long conns,
                     apr_time_t now, apr_interval_time_t cost, int threads);
hyb_fdb_verdict_e hyb_fdb_check(hyb_fdb_t *b, long conns, apr_time_t now);
long hyb_fdb_count_open(void);

#endif
