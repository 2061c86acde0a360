/* hyb.h - declarations shared by the files of mod_mpm_hybrid.
 *
 * Owns the three structs that the files pass around:
 *   hyb_server_t  the parent's view of one configuration pass (directives,
 *                 listeners, pods); rebuilt on every restart.
 *   hyb_retained_t what survives restarts (httpd's retained data).
 *   hyb_child_t   one child process: its queue, inbox, threads and flags.
 * and the prototypes of the files' entry points.  A connection
 * (hyb_conn_t) is in conn.h, the listener's own state in listener.h.
 */
#ifndef HYB_H
#define HYB_H

#include "httpd.h"
#include "http_config.h"
#include "http_connection.h"
#include "http_core.h"
#include "http_log.h"
#include "http_main.h"
#include "ap_mpm.h"
#include "ap_listen.h"
#include "mpm_common.h"
#include "scoreboard.h"
#include "unixd.h"

#include <apr_thread_proc.h>
#include <apr_thread_mutex.h>
#include <apr_atomic.h>

#include "fdqueue.h"
#include "inbox.h"
#include "tqueue.h"
#include "hyb_limits.h"
#include "headscan.h"
#include "headtime.h"
#include "handoff.h"
#include "conn.h"


extern module AP_MODULE_DECLARE_DATA mpm_hybrid_module;
#ifndef HYB_MODULE_FILE    /* AP_DECLARE_MODULE defines it there */
APLOG_USE_MODULE(mpm_hybrid);
#endif

#define HYB_MPM_NAME "hybrid"
#define HYB_DEFAULT_DRAIN apr_time_from_sec(2)

/* ---- what survives restarts (owner: parent main thread) ---------------- */

typedef struct hyb_slot_t {
    pid_t pid;                  /* 0 when free; parent-private copy */
    ap_generation_t generation;
    int quiescing;              /* parent saw it stop accepting */
    apr_time_t started;         /* when it was forked */
} hyb_slot_t;

/* Shared memory, one per process slot, kept across restarts (status.c).
 * Each field has one writer, in the slot's child; the parent zeroes both
 * when it reaps that child; anyone reads without a lock (a hint). */
typedef struct hyb_shared_slot_t {
    apr_uint32_t gathering;     /* writer: the listener (each round) */
    apr_int32_t load;           /* writer: the worker queue, under its lock:
                                 * jobs queued - workers waiting */
} hyb_shared_slot_t;

typedef struct hyb_retained_t {
    ap_unixd_mpm_retained_data *mpm;
    int first_server_limit;     /* ServerLimit of the first pass */
    int first_thread_limit;     /* ThreadLimit of the first pass */
    int max_daemon_used;        /* highest slot holding a pid, + 1 */
    int idle_spawn_rate;
    apr_time_t saturated_since; /* start of the saturation episode, or 0 */
    apr_time_t saturation_logged;
    apr_time_t slots_short_since;   /* start of the episode in which the
                                     * current generation needs a child and
                                     * no scoreboard slot is free, or 0 */
    int killed_in_a_row;        /* children lost to signals in a row */
    hyb_slot_t *slots;          /* first_server_limit entries */
    apr_time_t gen_ended[16];   /* when generation g was replaced, at g % 16 */
    volatile hyb_shared_slot_t *shared; /* first_server_limit entries */
    int *handoff;               /* socket pairs an older build of this
                                 * module made (2 x first_server_limit
                                 * descriptors); closed and NULL from the
                                 * first pass of this build on, which keeps
                                 * its handoff sockets in their own retained
                                 * table (parent.c, handoff.c) */
} hyb_retained_t;

/* ---- one configuration pass (owner: parent main thread; read-only in
 *      children, which inherit it at fork) --------------------------------- */

typedef struct hyb_server_t {
    hyb_limits_t limits;        /* directives after check_config */
    hyb_limits_t given;         /* directives as written (HYB_UNSET if not) */
    int one_process, foreground, no_detach;
    apr_interval_time_t drain_timeout;  /* HybridDrainTimeout */
    int gather;                 /* HybridGatherHeads (default on) */
    apr_size_t gather_max;      /* HybridGatherMaxHead; 0 until derived */
    int gather_per_ip;          /* HybridGatherPerIP; 0: no cap */
    int cpu_affinity;           /* HybridCPUAffinity (default off) */
    int listener_batch;         /* HybridListenerBatch (default off) */
    int num_buckets;
    ap_listen_rec **listen_buckets;
    ap_pod_t **pods;
    apr_pool_t *pconf;
    hyb_retained_t *retained;
    hyb_handoff_tab_t *handoff; /* the handoff sockets, retained across
                                 * reloads (parent.c, each pass); NULL when
                                 * there are none (no random bytes for the
                                 * names).  A child's copy has only its own
                                 * slot's socket open. */
} hyb_server_t;

extern hyb_server_t hyb_srv;    /* the one pass-wide configuration */

/* ---- a child process ---------------------------------------------------- */

typedef enum {
    HYB_RUN = 0,                /* serving */
    HYB_GRACEFUL,               /* finish what is in flight, then exit */
    HYB_UNGRACEFUL              /* close everything now */
} hyb_exit_mode_e;

typedef struct hyb_child_t hyb_child_t;
typedef struct hyb_listener_t hyb_listener_t;

struct hyb_child_t {
    apr_pool_t *pchild;         /* main thread */
    apr_pool_t *pruntime;       /* outlives every connection pool */
    int slot;                   /* process slot in the scoreboard */
    int bucket;
    ap_listen_rec *listeners;   /* this bucket's listeners */
    hyb_queue_t *queue;         /* listener -> workers */
    hyb_inbox_t *inbox;         /* workers -> listener */
    hyb_listener_t *listener;   /* owner: listener thread */
    apr_thread_t *main_thread;
    apr_thread_t *listener_thread;
    apr_thread_t **workers;     /* threads_per_child entries */
    volatile apr_uint32_t exit_mode;     /* hyb_exit_mode_e; atomic, any thread */
    volatile apr_uint32_t live_threads;  /* atomic: workers + listener alive */
    volatile apr_uint32_t exit_requested;/* atomic: listener asks main to stop */
    int wake_fd;                         /* eventfd: listener wakes main */
    apr_thread_mutex_t *susp_mutex;      /* guards suspended */
    struct hyb_conn_t *suspended;        /* SUSPENDED by a module, linked
                                          * through job.next */
    volatile apr_uint32_t susp_count;    /* length of suspended: written
                                          * under susp_mutex, read without
                                          * it (atomic) by the listener */
    int ncpu;                            /* CPUs this child may run on, read
                                          * after HybridCPUAffinity; written
                                          * once by main before the threads */
    volatile int *worker_fds;            /* per worker: fd in use or -1; written
                                          * by that worker, read by main only on
                                          * ungraceful stop (to shutdown()) */
};

typedef struct hyb_worker_arg_t {
    hyb_child_t *child;
    int index;                  /* thread slot in the scoreboard */
} hyb_worker_arg_t;

/* mod_mpm_hybrid.c */
int hyb_mpm_state(void);

/* directives.c */
extern const command_rec hyb_cmds[];

/* parent.c */
int hyb_parent_run(apr_pool_t *pconf, apr_pool_t *plog, server_rec *s);

/* child.c */
void hyb_child_main(int slot, int bucket) __attribute__((noreturn));
hyb_child_t *hyb_child_current(void);
void hyb_child_request_exit(hyb_child_t *ch);
hyb_exit_mode_e hyb_child_exit_mode(hyb_child_t *ch);

/* listener.c */
apr_status_t hyb_listener_main_create(hyb_child_t *ch);
void *APR_THREAD_FUNC hyb_listener_main(apr_thread_t *thd, void *arg);
void hyb_listener_any_wake(hyb_child_t *ch);
void hyb_listener_worker_token_popped(hyb_child_t *ch);

/* worker.c */
void *APR_THREAD_FUNC hyb_worker_main(apr_thread_t *thd, void *arg);
hyb_conn_t *hyb_conn_get(conn_rec *c);
void hyb_worker_register_hooks(void);

/* gather.c */
void *hyb_gather_create_server_config(apr_pool_t *p, server_rec *s);
void *hyb_gather_merge_server_config(apr_pool_t *p, void *base, void *add);
void hyb_gather_post_config(apr_pool_t *p, server_rec *main_server);
const hyb_head_timeout_t *hyb_head_timing(server_rec *s, int tls);
server_rec *hyb_gather_base_server(apr_socket_t *sock);
hyb_hs_mode_e hyb_gather_first_mode(server_rec *s);
hyb_hs_mode_e hyb_gather_mode_after(conn_rec *c);
hyb_hs_mode_e hyb_gather_listener_mode(const ap_listen_rec *lr);
int hyb_head_ready(int fd, hyb_hs_mode_e mode, server_rec *s); /* 1, 0 or -1 */
const hyb_hs_limits_t *hyb_head_limits(server_rec *s);
void hyb_gather_add_nowait(hyb_conn_t *hc);
void hyb_gather_remove_nowait(hyb_conn_t *hc);
void hyb_gather_register_hooks(void);

/* status.c */
apr_status_t hyb_status_init(hyb_retained_t *r);
void hyb_status_set_gathering(int slot, apr_uint32_t n);
volatile apr_int32_t *hyb_status_load_word(int slot);
int hyb_status_least_loaded_sibling(int self_slot, int *demand);
int hyb_status_serving_children(void);
void hyb_status_clear(int slot);
void hyb_status_register_hooks(void);

/* scoreboard.c */
void hyb_sb_worker_start(int slot, int thread);
void hyb_sb_worker_stop(int slot, int thread, int graceful);
void hyb_sb_publish_counts(int slot, apr_uint32_t conns, apr_uint32_t ka,
                           apr_uint32_t wc, apr_uint32_t waitio,
                           apr_uint32_t linger, apr_uint32_t suspended);
void hyb_sb_set_accepting(int slot, int accepting);
void hyb_sb_set_quiescing(int slot);
void hyb_sb_child_started(int slot, pid_t pid, ap_generation_t gen);
void hyb_sb_child_gone(int slot);
typedef struct hyb_idle_count_t {
    int idle_threads;           /* current generation, accepting, READY */
    int active_daemons;         /* live current-generation, not stopping */
    int total_daemons;          /* every slot holding a pid */
    int free_slot_count;
    int max_daemon_used;
} hyb_idle_count_t;
void hyb_sb_count(hyb_idle_count_t *out, int *free_slots, int max_free);

#endif
