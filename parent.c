/* parent.c - the parent process: forks children, reaps them, keeps the
 * number of idle threads between MinSpareThreads and MaxSpareThreads, and
 * turns signals into stop / restart / graceful actions.  The parent never
 * serves a connection.
 *
 * Also owns the table of the children's handoff sockets (handoff.c): the
 * parent draws every slot's name once, opens a slot's receiving socket
 * before its first child starts and holds them all until the server stops.
 *
 * Everything here runs in the parent's main thread.  State that must survive
 * a restart is in hyb_srv.retained (and the retained handoff table); the
 * rest lives for one pass.  Children read the handoff table they inherit.
 */
#include "hyb.h"
#include "fdbudget.h"

#include <sys/resource.h>
#include <signal.h>
#include <apr_signal.h>
#include <apr_strings.h>
#include <unistd.h>

#define HYB_MAX_SPAWN_RATE 32
#define HYB_HANDOFF_RETAINED_KEY "mpm_hybrid_handoff"

static hyb_retained_t *R(void)
{
    return hyb_srv.retained;
}

/* ---- the handoff sockets (handoff.c) ------------------------------------- */

/* The socket pairs an older build of this module kept in the retained data
 * (two per slot, inherited by every child): closed, once. */
static void hyb_handoff_close_pairs(hyb_retained_t *r)
{
    int i;

    if (r->handoff) {
        for (i = 0; i < 2 * r->first_server_limit; i++) {
            close(r->handoff[i]);
        }
        r->handoff = NULL;
    }
}

static hyb_handoff_tab_t *hyb_handoff_tab_create(int n)
{
    apr_size_t size = sizeof(hyb_handoff_tab_t) + n * sizeof(int)
                      + (apr_size_t)n * HYB_HANDOFF_KEY_LEN;
    hyb_handoff_tab_t *t = ap_retained_data_create(HYB_HANDOFF_RETAINED_KEY,
                                                   size);
    int i;

    t->rx = (int *)(t + 1);
    t->key = (unsigned char (*)[HYB_HANDOFF_KEY_LEN])(t->rx + n);
    for (i = 0; i < n; i++) {
        t->rx[i] = -1;
    }
    t->n = apr_generate_random_bytes((unsigned char *)t->key,
                                     (apr_size_t)n * HYB_HANDOFF_KEY_LEN)
           == APR_SUCCESS ? n : 0;
    if (!t->n) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ap_server_conf, "HYB0212: "
                     "no random bytes to name the handoff sockets; a child "
                     "short of workers keeps its new connections");
    }
    return t;
}

/* Each pass, before children start. */
static void hyb_handoff_setup(void)
{
    hyb_retained_t *r = R();
    hyb_handoff_tab_t *t = ap_retained_data_get(HYB_HANDOFF_RETAINED_KEY);

    hyb_handoff_close_pairs(r);
    if (!t) {
        t = hyb_handoff_tab_create(r->first_server_limit);
    }
    hyb_srv.handoff = t->n ? t : NULL;
}

/* Before the child of `slot` is forked: its receiving socket, opened once
 * per server lifetime.  A slot without one is only left out of handoffs
 * (its siblings' sends are refused and the connection stays with them). */
static void hyb_handoff_open_slot(int slot)
{
    static apr_time_t logged;
    hyb_handoff_tab_t *t = hyb_srv.handoff;
    apr_status_t rv;

    if (!t || slot >= t->n || t->rx[slot] >= 0) {
        return;
    }
    rv = hyb_handoff_open_rx(t->key[slot], &t->rx[slot]);
    if (rv != APR_SUCCESS) {
        t->rx[slot] = -1;
        if (apr_time_now() - logged > apr_time_from_sec(60)) {
            logged = apr_time_now();
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, ap_server_conf,
                         "HYB0213: no handoff socket for process slot %d; "
                         "its child takes no connection from its siblings "
                         "(logged at most once a minute)", slot);
        }
    }
}

static int hyb_make_child(int slot)
{
    hyb_retained_t *r = R();
    int bucket = slot % hyb_srv.num_buckets;
    pid_t pid;

    hyb_handoff_open_slot(slot);
    if (hyb_srv.one_process) {
        hyb_child_main(slot, 0);
    }
    pid = fork();
    if (pid == -1) {
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, ap_server_conf,
                     "HYB0201: fork: unable to fork new process");
        apr_sleep(apr_time_from_sec(10));
        return -1;
    }
    if (pid == 0) {
        /* The child must not act on the parent's signal handlers. */
        apr_signal(SIGTERM, SIG_DFL);
        apr_signal(SIGHUP, SIG_DFL);
        apr_signal(SIGUSR1, SIG_DFL);
        apr_signal(SIGWINCH, SIG_DFL);
        hyb_child_main(slot, bucket);
    }
    r->slots[slot].pid = pid;
    r->slots[slot].generation = r->mpm->my_generation;
    r->slots[slot].quiescing = 0;
    r->slots[slot].started = apr_time_now();
    hyb_sb_child_started(slot, pid, r->mpm->my_generation);
    if (slot + 1 > r->max_daemon_used) {
        r->max_daemon_used = slot + 1;
    }
    ap_run_child_status(ap_server_conf, pid, r->mpm->my_generation, slot,
                        MPM_CHILD_STARTED);
    return 0;
}

/* Start up to n children in free slots; returns how many are still to
 * start (no free slot for them yet). */
static int hyb_start_children(int n)
{
    int i;

    for (i = 0; i < hyb_srv.limits.server_limit && n > 0; i++) {
        if (R()->slots[i].pid == 0 && hyb_make_child(i) == 0) {
            n--;
        }
    }
    return n;
}

/* After the last child of an old generation is gone: one line saying how
 * long that generation took to drain after the restart that replaced it. */
static void hyb_note_generation_drained(ap_generation_t gen)
{
    hyb_retained_t *r = R();
    apr_time_t ended = r->gen_ended[gen % 16];
    int i;

    if (gen == r->mpm->my_generation || !ended) {
        return;
    }
    for (i = 0; i < r->max_daemon_used; i++) {
        if (r->slots[i].pid && r->slots[i].generation == gen) {
            return;
        }
    }
    r->gen_ended[gen % 16] = 0;
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, ap_server_conf,
                 "HYB0207: generation %d fully drained %" APR_TIME_T_FMT
                 " ms after the graceful restart", gen,
                 apr_time_as_msec(apr_time_now() - ended));
}

static void hyb_child_stopped(int slot, pid_t pid)
{
    hyb_retained_t *r = R();
    ap_generation_t gen = r->slots[slot].generation;

    hyb_sb_child_gone(slot);
    r->slots[slot].pid = 0;
    r->slots[slot].quiescing = 0;
    ap_run_child_status(ap_server_conf, pid, gen, slot, MPM_CHILD_EXITED);
    hyb_note_generation_drained(gen);
}

/* Callback of ap_reclaim/relieve_child_processes. */
static void hyb_reclaim_cb(int childnum, pid_t pid, ap_generation_t gen)
{
    (void)gen;
    if (childnum >= 0 && childnum < hyb_srv.limits.server_limit
        && R()->slots[childnum].pid == pid) {
        hyb_child_stopped(childnum, pid);
    }
}

static int hyb_slot_of(pid_t pid)
{
    int i;

    for (i = 0; i < R()->max_daemon_used; i++) {
        if (R()->slots[i].pid == pid) {
            return i;
        }
    }
    return -1;
}

/* ---- idle maintenance ---------------------------------------------------- */

/* Saturation: every idle thread of every allowed child is busy.  Logged when
 * an episode starts and then at most once a minute while it lasts, with its
 * duration, so the log shows how long it went on (event logs it once). */
static void hyb_report_saturation(const hyb_idle_count_t *n)
{
    hyb_retained_t *r = R();
    apr_time_t now = apr_time_now();

    if (n->idle_threads > 0) {
        return;
    }
    if (!r->saturated_since) {
        r->saturated_since = now;
    }
    else if (now - r->saturation_logged < apr_time_from_sec(60)) {
        return;
    }
    r->saturation_logged = now;
    ap_log_error(APLOG_MARK, APLOG_ERR, 0, ap_server_conf,
                 "HYB0202: server reached MaxRequestWorkers setting "
                 "(%d children x %d threads all busy for %" APR_TIME_T_FMT
                 " s), consider raising the MaxRequestWorkers setting",
                 n->active_daemons, hyb_srv.limits.threads_per_child,
                 apr_time_sec(now - r->saturated_since));
}

static void hyb_saturation_over(const hyb_idle_count_t *n)
{
    hyb_retained_t *r = R();

    if (r->saturated_since && n->idle_threads > 0) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, ap_server_conf,
                     "HYB0206: MaxRequestWorkers saturation ended after %"
                     APR_TIME_T_FMT " s", apr_time_sec(apr_time_now()
                                                       - r->saturated_since));
        r->saturated_since = 0;
    }
}

/* ---- scoreboard slot shortage ------------------------------------------------ */

/* How many slots children of older generations hold; *oldest is the fork
 * time of the oldest of them (0 when there is none). */
static int hyb_old_generation_slots(apr_time_t *oldest)
{
    hyb_retained_t *r = R();
    int i, held = 0;

    *oldest = 0;
    for (i = 0; i < hyb_srv.limits.server_limit; i++) {
        const hyb_slot_t *sl = &r->slots[i];
        if (sl->pid && sl->generation != r->mpm->my_generation) {
            held++;
            if (!*oldest || sl->started < *oldest) {
                *oldest = sl->started;
            }
        }
    }
    return held;
}

/* What else than ServerLimit the admin can change: HybridDrainTimeout
 * bounds how long stopping children keep idle keep-alive connections;
 * nothing bounds a request in flight across a graceful restart
 * (GracefulShutdownTimeout is for graceful-stop only). */
static const char *hyb_slots_advice(char *buf, apr_size_t len)
{
    if (hyb_srv.drain_timeout > 0) {
        apr_snprintf(buf, len, "or lower HybridDrainTimeout (now %g s) so "
                     "stopping children let idle keep-alive connections go "
                     "sooner; requests in flight are not cut short",
                     (double)hyb_srv.drain_timeout / APR_USEC_PER_SEC);
    }
    else {
        apr_snprintf(buf, len, "stopping children are finishing requests in "
                     "flight, which are not cut short");
    }
    return buf;
}

/* The current generation needs a child and every slot is taken, by
 * children of older generations (a graceful restart while they finish
 * their requests) or stopping children of this one.  One warning per
 * episode: hyb_slots_short_over() ends it. */
static void hyb_report_slots_short(const hyb_idle_count_t *n)
{
    hyb_retained_t *r = R();
    const hyb_limits_t *l = &hyb_srv.limits;
    apr_time_t now = apr_time_now(), oldest;
    int old_held, stopping;
    char advice[200], age[64] = "";

    if (r->slots_short_since) {
        return;
    }
    r->slots_short_since = now;
    old_held = hyb_old_generation_slots(&oldest);
    stopping = n->total_daemons - n->active_daemons - old_held;
    if (oldest) {
        apr_snprintf(age, sizeof(age), " (the oldest was started %"
                     APR_TIME_T_FMT " s ago)", apr_time_sec(now - oldest));
    }
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ap_server_conf,
                 "HYB0208: scoreboard is full, not at MaxRequestWorkers: "
                 "children of older generations hold %d of the ServerLimit "
                 "%d slots%s and stopping children of this generation hold "
                 "%d, so it runs %d of up to %d children; raise ServerLimit "
                 "to at least %d (needs a full restart), %s", old_held,
                 l->server_limit, age, stopping, n->active_daemons,
                 l->active_daemons_limit,
                 l->active_daemons_limit + old_held + stopping,
                 hyb_slots_advice(advice, sizeof(advice)));
}

/* Maintenance tick, or a child exited: the episode is over when a slot is
 * free again or the current generation needs no more children. */
static void hyb_slots_short_over(const hyb_idle_count_t *n)
{
    hyb_retained_t *r = R();
    const hyb_limits_t *l = &hyb_srv.limits;

    if (!r->slots_short_since
        || (n->free_slot_count == 0 && n->idle_threads < l->min_spare_threads
            && n->active_daemons < l->active_daemons_limit)) {
        return;
    }
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, ap_server_conf,
                 "HYB0209: scoreboard slots sufficient again after %"
                 APR_TIME_T_FMT " s",
                 apr_time_sec(apr_time_now() - r->slots_short_since));
    r->slots_short_since = 0;
}

/* After a child exited and was perhaps replaced: did that end the
 * episode?  (Ticks check too, but a restart may come before the next.) */
static void hyb_slots_recheck(void)
{
    hyb_idle_count_t n;
    int free_slot;

    if (R()->slots_short_since) {
        hyb_sb_count(&n, &free_slot, 1);
        hyb_slots_short_over(&n);
    }
}

static void hyb_spawn_for_idle(const hyb_idle_count_t *n, const int *free_slots)
{
    hyb_retained_t *r = R();
    const hyb_limits_t *l = &hyb_srv.limits;
    int i, todo;

    if (n->active_daemons >= l->active_daemons_limit) {
        hyb_report_saturation(n);
        r->idle_spawn_rate = 1;
        return;
    }
    if (n->free_slot_count == 0) {
        hyb_report_slots_short(n);
        r->idle_spawn_rate = 1;
        return;
    }
    todo = r->idle_spawn_rate;
    if (todo > n->free_slot_count) todo = n->free_slot_count;
    if (todo > l->active_daemons_limit - n->active_daemons) {
        todo = l->active_daemons_limit - n->active_daemons;
    }
    if (r->idle_spawn_rate >= 8) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, ap_server_conf,
                     "HYB0204: server seems busy (you may need to increase "
                     "StartServers, or Min/MaxSpareThreads), spawning %d "
                     "children, there are %d idle threads and %d total children",
                     todo, n->idle_threads, n->total_daemons);
    }
    for (i = 0; i < todo && i < HYB_MAX_SPAWN_RATE; i++) {
        hyb_make_child(free_slots[i]);
    }
    if (r->idle_spawn_rate < HYB_MAX_SPAWN_RATE) {
        r->idle_spawn_rate *= 2;
    }
}

static void hyb_idle_maintenance(void)
{
    const hyb_limits_t *l = &hyb_srv.limits;
    int free_slots[HYB_MAX_SPAWN_RATE];
    hyb_idle_count_t n;

    hyb_sb_count(&n, free_slots, HYB_MAX_SPAWN_RATE);
    R()->max_daemon_used = n.max_daemon_used;
    hyb_saturation_over(&n);
    hyb_slots_short_over(&n);
    if (n.idle_threads > l->max_spare_threads && n.active_daemons > 1) {
        /* Retire one child a tick, when no other is already stopping or
         * there is headroom for one more stopping child. */
        if (n.total_daemons == n.active_daemons
            || l->server_limit - n.total_daemons > l->active_daemons_limit) {
            ap_mpm_podx_signal(hyb_srv.pods[0], AP_MPM_PODX_GRACEFUL);
        }
        R()->idle_spawn_rate = 1;
    }
    else if (n.idle_threads < l->min_spare_threads) {
        hyb_spawn_for_idle(&n, free_slots);
    }
    else {
        R()->idle_spawn_rate = 1;
    }
}

/* Right after a child exited: spawn (never retire) if spare threads are
 * short. */
static void hyb_spawn_if_short(void)
{
    int free_slots[HYB_MAX_SPAWN_RATE];
    hyb_idle_count_t n;

    hyb_sb_count(&n, free_slots, HYB_MAX_SPAWN_RATE);
    R()->max_daemon_used = n.max_daemon_used;
    if (n.idle_threads < hyb_srv.limits.min_spare_threads) {
        hyb_spawn_for_idle(&n, free_slots);
    }
}

/* ---- main loop ----------------------------------------------------------- */

/* A child exited with APEXIT_CHILDFATAL: it could not set itself up (e.g.
 * drop privileges), and a new one would fail the same way.  A child of the
 * current generation (or an unknown process, as event does) stops the
 * server; one of an older generation is only noted, as it may have been
 * caught by the restart while starting. */
static void hyb_note_fatal(pid_t pid, int slot, pid_t *fatal_pid)
{
    hyb_retained_t *r = R();

    if (slot >= 0 && r->slots[slot].generation != r->mpm->my_generation) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ap_server_conf,
                     "HYB0211: ignoring the fatal exit of child %" APR_PID_T_FMT
                     " of the older generation %d", pid,
                     r->slots[slot].generation);
        return;
    }
    *fatal_pid = pid;
    r->mpm->shutdown_pending = 1;
}

/* Returns 1 when a child of ours exited normally (not killed by a signal),
 * e.g. after MaxConnectionsPerChild. */
static int hyb_handle_exit(apr_proc_t *pid, apr_exit_why_e why, int status,
                           pid_t *fatal_pid)
{
    hyb_retained_t *r = R();
    int processed = ap_process_child_status(pid, why, status);
    int slot = hyb_slot_of(pid->pid);

    if (processed == APEXIT_CHILDFATAL) {
        hyb_note_fatal(pid->pid, slot, fatal_pid);
    }
    if (slot >= 0) {
        int signalled = (why & APR_PROC_SIGNAL) != 0;
        int current = r->slots[slot].generation == r->mpm->my_generation;
        hyb_child_stopped(slot, pid->pid);
        if (signalled && current && !r->mpm->shutdown_pending
            && !r->mpm->restart_pending && r->killed_in_a_row++ < 3) {
            hyb_make_child(slot);      /* crashed: replace at once */
        }
        else if (!signalled) {
            r->killed_in_a_row = 0;
        }
        return !signalled && processed != APEXIT_CHILDFATAL;
    }
    if (apr_proc_other_child_alert(pid, APR_OC_REASON_DEATH, status)
        == APR_SUCCESS) {
        return 0;
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, ap_server_conf,
                 "HYB0205: reaped unknown process %" APR_PID_T_FMT, pid->pid);
    return 0;
}

/* One child (or other process) exited: bookkeeping, then start what the
 * current generation is waiting for. */
static void hyb_on_exit(apr_proc_t *pid, apr_exit_why_e why, int status,
                        int *remaining_to_start, pid_t *fatal_pid)
{
    hyb_retained_t *r = R();
    int clean = hyb_handle_exit(pid, why, status, fatal_pid);

    if (r->mpm->shutdown_pending || r->mpm->restart_pending) {
        return;
    }
    if (*remaining_to_start) {
        /* After a graceful restart that found every slot taken, the new
         * generation starts in the slot just freed. */
        *remaining_to_start = hyb_start_children(*remaining_to_start);
    }
    else if (clean) {
        /* A child that recycled (MaxConnectionsPerChild) is replaced now
         * if spare threads run short, not a tick later.  Crashes keep
         * their own throttle (see hyb_handle_exit); retiring stays one per
         * second. */
        hyb_spawn_if_short();
    }
    hyb_slots_recheck();
}

/* How often the parent looks for exited children between ticks. */
#define HYB_REAP_POLL apr_time_from_msec(100)

/* Wait until a child exits (1, *pid set) or until deadline, or a signal
 * asked for a restart or stop (0).  ap_wait_or_timeout() sleeps a whole
 * second before it looks again, so a crashed child's replacement, or a new
 * generation waiting for a slot, could wait that long. */
static int hyb_wait_child(apr_proc_t *pid, apr_exit_why_e *why, int *status,
                          apr_time_t deadline)
{
    hyb_retained_t *r = R();

    for (;;) {
        apr_time_t now;

        if (APR_STATUS_IS_CHILD_DONE(apr_proc_wait_all_procs(
                pid, status, why, APR_NOWAIT, hyb_srv.pconf))) {
            return 1;
        }
        now = apr_time_now();
        if (now >= deadline || r->mpm->restart_pending
            || r->mpm->shutdown_pending) {
            return 0;
        }
        apr_sleep(deadline - now < HYB_REAP_POLL ? deadline - now
                                                 : HYB_REAP_POLL);
    }
}

/* Once a second: what ap_wait_or_timeout() did besides waiting (the
 * monitor hook every ten calls, the global status times), then starting
 * what is left of StartServers, or spare-thread maintenance. */
static void hyb_tick(int *remaining_to_start)
{
    static int ticks;

    if (++ticks % 10 == 0) {
        ap_run_monitor(hyb_srv.pconf, ap_server_conf);
    }
    ap_update_global_status();
    if (*remaining_to_start) {
        int before = *remaining_to_start;
        *remaining_to_start = hyb_start_children(before);
        if (*remaining_to_start < before) {
            return;
        }
        *remaining_to_start = 0;    /* no free slot: maintenance decides */
    }
    hyb_idle_maintenance();
}

/* Returns the pid of a child whose fatal exit stops the server, or 0. */
static pid_t hyb_main_loop(int *remaining_to_start)
{
    hyb_retained_t *r = R();
    apr_time_t next_tick = apr_time_now() + apr_time_from_sec(1);
    pid_t fatal_pid = 0;

    while (!r->mpm->restart_pending && !r->mpm->shutdown_pending) {
        apr_exit_why_e why;
        int status;
        apr_proc_t pid;

        if (hyb_wait_child(&pid, &why, &status, next_tick)) {
            hyb_on_exit(&pid, why, status, remaining_to_start, &fatal_pid);
            continue;
        }
        if (r->mpm->restart_pending || r->mpm->shutdown_pending) {
            break;
        }
        next_tick = apr_time_now() + apr_time_from_sec(1);
        hyb_tick(remaining_to_start);
    }
    return fatal_pid;
}

static void hyb_signal_children(ap_podx_restart_t how)
{
    int i, n = hyb_srv.limits.active_daemons_limit;

    for (i = 0; i < hyb_srv.num_buckets; i++) {
        ap_mpm_podx_killpg(hyb_srv.pods[i], n, how);
    }
}

static int hyb_any_child_alive(void)
{
    int i;

    for (i = 0; i < R()->max_daemon_used; i++) {
        pid_t pid = R()->slots[i].pid;
        if (pid && ap_mpm_safe_kill(pid, 0) == APR_SUCCESS) {
            return 1;
        }
    }
    return 0;
}

static int hyb_graceful_stop(void)
{
    hyb_retained_t *r = R();
    apr_time_t cutoff = 0;

    ap_close_listeners();
    hyb_signal_children(AP_MPM_PODX_GRACEFUL);
    ap_relieve_child_processes(hyb_reclaim_cb);
    ap_remove_pid(hyb_srv.pconf, ap_pid_fname);
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, ap_server_conf,
                 "caught SIGWINCH, shutting down gracefully");
    if (ap_graceful_shutdown_timeout) {
        cutoff = apr_time_now() + apr_time_from_sec(ap_graceful_shutdown_timeout);
    }
    r->mpm->shutdown_pending = 0;
    while (hyb_any_child_alive() && !r->mpm->shutdown_pending
           && (!cutoff || apr_time_now() < cutoff)) {
        apr_sleep(apr_time_from_msec(200));
        ap_relieve_child_processes(hyb_reclaim_cb);
    }
    hyb_signal_children(AP_MPM_PODX_RESTART);
    ap_reclaim_child_processes(1, hyb_reclaim_cb);
    return DONE;
}

/* A child of the current generation exited with APEXIT_CHILDFATAL: stop
 * everything at once (the other children would fail or be replaced by
 * failing ones) and exit with an error status, so that an init system sees
 * a failure rather than a clean stop. */
static int hyb_fatal_stop(pid_t fatal_pid)
{
    ap_log_error(APLOG_MARK, APLOG_ALERT, 0, ap_server_conf,
                 "HYB0210: child %" APR_PID_T_FMT " of generation %d could not "
                 "start (it exited with APEXIT_CHILDFATAL; the lines above say "
                 "why, e.g. User or Group could not be set): stopping the "
                 "server instead of forking more children", fatal_pid,
                 R()->mpm->my_generation);
    hyb_signal_children(AP_MPM_PODX_RESTART);
    ap_reclaim_child_processes(1, hyb_reclaim_cb);
    ap_remove_pid(hyb_srv.pconf, ap_pid_fname);
    return !OK;     /* main() logs "MPM run failed" and exits with 1 */
}

static int hyb_stop_or_restart(pid_t fatal_pid)
{
    hyb_retained_t *r = R();

    r->mpm->mpm_state = AP_MPMQ_STOPPING;
    if (fatal_pid) {
        return hyb_fatal_stop(fatal_pid);
    }
    if (r->mpm->shutdown_pending && !r->mpm->is_ungraceful) {
        return hyb_graceful_stop();
    }
    if (r->mpm->shutdown_pending) {
        hyb_signal_children(AP_MPM_PODX_RESTART);
        ap_reclaim_child_processes(1, hyb_reclaim_cb);
        ap_remove_pid(hyb_srv.pconf, ap_pid_fname);
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, ap_server_conf,
                     "caught SIGTERM, shutting down");
        return DONE;
    }
    r->gen_ended[r->mpm->my_generation % 16] =
        r->mpm->is_ungraceful ? 0 : apr_time_now();
    ++r->mpm->my_generation;
    ap_scoreboard_image->global->running_generation = r->mpm->my_generation;
    if (!r->mpm->is_ungraceful) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, ap_server_conf,
                     "SIGUSR1 received.  Doing graceful restart");
        hyb_signal_children(AP_MPM_PODX_GRACEFUL);
        return OK;
    }
    hyb_signal_children(AP_MPM_PODX_RESTART);
    ap_reclaim_child_processes(1, hyb_reclaim_cb);
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, ap_server_conf,
                 "SIGHUP received.  Attempting to restart");
    return OK;
}

static void hyb_log_started(void)
{
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, ap_server_conf,
                 "%s configured -- resuming normal operations",
                 ap_get_server_description());
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, ap_server_conf,
                 "Server built: %s", ap_get_server_built());
    ap_log_command_line(hyb_srv.pconf, ap_server_conf);
    ap_log_mpm_common(ap_server_conf);
}

/* Each pass: a limit on open files too small for the descriptor reserve of
 * ThreadsPerChild workers (fdbudget.c) is said once, with the numbers. */
static void hyb_check_nofile(void)
{
    int tpc = hyb_srv.limits.threads_per_child, clamped;
    struct rlimit rl;
    long limit, reserve;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY
        || rl.rlim_cur > 1000000000) {
        return;
    }
    limit = (long)rl.rlim_cur;
    reserve = hyb_fdb_reserve(limit, tpc, &clamped);
    if (clamped) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ap_server_conf,
                     "HYB0214: the open files limit (%ld) is small for "
                     "ThreadsPerChild %d: a child keeps only %ld descriptors "
                     "free for its requests (%ld wanted) and holds fewer "
                     "than %ld connections; raise it with ulimit -n, "
                     "LimitNOFILE= in the systemd unit, or "
                     "APACHE_ULIMIT_MAX_FILES in /etc/apache2/envvars",
                     limit, tpc, reserve,
                     (long)tpc * HYB_FDB_PER_WORKER + HYB_FDB_SLACK,
                     limit - reserve);
    }
}

/* The mpm hook: runs one configuration pass.  OK = restart, DONE = exit. */
int hyb_parent_run(apr_pool_t *pconf, apr_pool_t *plog, server_rec *s)
{
    hyb_retained_t *r = R();
    int remaining;
    pid_t fatal_pid;

    (void)plog; (void)s;
    hyb_srv.pconf = pconf;
    ap_log_pid(pconf, ap_pid_fname);
    if (!r->mpm->was_graceful) {
        if (ap_run_pre_mpm(s->process->pool, SB_SHARED) != OK) {
            r->mpm->mpm_state = AP_MPMQ_STOPPING;
            return !OK;
        }
        memset(r->slots, 0, r->first_server_limit * sizeof(hyb_slot_t));
        r->max_daemon_used = 0;
    }
    ap_scoreboard_image->global->running_generation = r->mpm->my_generation;
    ap_unixd_mpm_set_signals(pconf, hyb_srv.one_process);
    hyb_handoff_setup();
    hyb_check_nofile();
    /* The new generation starts at once, in the slots the old one does not
     * hold (old children stopped accepting as soon as they were told), so
     * a graceful restart leaves no second without an accepting child;
     * whatever does not fit starts as old children exit. */
    remaining = hyb_start_children(hyb_srv.limits.start_servers);
    hyb_log_started();
    r->mpm->mpm_state = AP_MPMQ_RUNNING;
    r->mpm->restart_pending = r->mpm->shutdown_pending = 0;
    fatal_pid = hyb_main_loop(&remaining);
    return hyb_stop_or_restart(fatal_pid);
}
