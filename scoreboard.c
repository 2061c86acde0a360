/* scoreboard.c - every write the MPM makes to httpd's shared scoreboard, and
 * the parent's one read of it (idle thread counting).
 *
 * Writers: worker threads write their own worker_score; the listener thread
 * writes its process_score counters and accepting flag; the parent writes
 * pid/generation at fork and clears slots at exit.
 *
 * What the parent reads, and why each read is safe (CVE-2019-0211 class: a
 * compromised child can write anything in the shared scoreboard):
 *   - worker_score.status of current-generation children, only to count
 *     idle threads; a lying child can at worst make the parent fork up to
 *     the configured limits or retire a child through the pipe of death.
 *   - process_score.quiescing / not_accepting, only to leave a child out of
 *     the idle count (same bound).
 * Slot ownership, pids and generations come from the parent-private copy in
 * the retained data (hyb_retained_t.slots), never from the scoreboard; the
 * parent never indexes memory with a value read from the scoreboard.
 */
#include "hyb.h"

/* Worker thread, at start: fill its worker_score like event does. */
void hyb_sb_worker_start(int slot, int thread)
{
    worker_score *ws = ap_get_scoreboard_worker_from_indexes(slot, thread);

    ws->pid = getpid();
    ws->tid = apr_os_thread_current();
    ws->generation = hyb_srv.retained->mpm->my_generation;
    ap_update_child_status_from_indexes(slot, thread, SERVER_STARTING, NULL);
}

/* Worker thread, at exit. */
void hyb_sb_worker_stop(int slot, int thread, int graceful)
{
    ap_update_child_status_from_indexes(slot, thread,
                                        graceful ? SERVER_GRACEFUL : SERVER_DEAD,
                                        NULL);
}

/* Listener thread: the async connection counts, written on every change so
 * mod_status shows exact numbers (event only samples them); `suspended` is
 * the count the workers keep beside their list (timers.c), read once per
 * listener round (the tick bounds that to 100 ms while connections are
 * open).  mod_status prints no key for it; mod_lua's
 * r:scoreboard_process() shows it. */
void hyb_sb_publish_counts(int slot, apr_uint32_t conns, apr_uint32_t ka,
                           apr_uint32_t wc, apr_uint32_t waitio,
                           apr_uint32_t linger, apr_uint32_t suspended)
{
    process_score *ps = ap_get_scoreboard_process(slot);

    ps->connections = conns;
    ps->keep_alive = ka;
    ps->write_completion = wc;
    ps->wait_io = waitio;
    ps->lingering_close = linger;
    ps->suspended = suspended;
}

/* Listener thread. */
void hyb_sb_set_accepting(int slot, int accepting)
{
    ap_get_scoreboard_process(slot)->not_accepting = !accepting;
}

/* Listener thread, when the child stops accepting for good. */
void hyb_sb_set_quiescing(int slot)
{
    ap_get_scoreboard_process(slot)->quiescing = 1;
}

/* Parent, right after fork. */
void hyb_sb_child_started(int slot, pid_t pid, ap_generation_t gen)
{
    process_score *ps = ap_get_scoreboard_process(slot);

    ps->quiescing = 0;
    ps->not_accepting = 0;
    ps->generation = gen;
    ps->pid = pid;
}

/* Parent, after reaping the child of this slot. */
void hyb_sb_child_gone(int slot)
{
    process_score *ps = ap_get_scoreboard_process(slot);
    int i;

    for (i = 0; i < hyb_srv.limits.threads_per_child; i++) {
        ap_update_child_status_from_indexes(slot, i, SERVER_DEAD, NULL);
    }
    hyb_sb_publish_counts(slot, 0, 0, 0, 0, 0, 0);
    hyb_status_clear(slot);
    ps->quiescing = 0;
    ps->not_accepting = 0;
    ps->pid = 0;
}

static int hyb_sb_idle_threads(int slot)
{
    int i, idle = 0;

    for (i = 0; i < hyb_srv.limits.threads_per_child; i++) {
        int st = ap_get_scoreboard_worker_from_indexes(slot, i)->status;
        if (st <= SERVER_READY) {   /* DEAD and STARTING count as idle */
            idle++;
        }
    }
    return idle;
}

/* Parent, once per maintenance tick: count idle threads and slots.  Fills
 * up to max_free free slot numbers into free_slots. */
void hyb_sb_count(hyb_idle_count_t *out, int *free_slots, int max_free)
{
    hyb_retained_t *r = hyb_srv.retained;
    ap_generation_t gen = r->mpm->my_generation;
    int i, last = -1;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < hyb_srv.limits.server_limit; i++) {
        hyb_slot_t *sl = &r->slots[i];
        process_score *ps;

        if (sl->pid == 0) {
            if (out->free_slot_count < max_free) {
                free_slots[out->free_slot_count] = i;
            }
            out->free_slot_count++;
            continue;
        }
        last = i;
        out->total_daemons++;
        ps = ap_get_scoreboard_process(i);
        if (ps->quiescing) {
            sl->quiescing = 1;
        }
        if (sl->quiescing || sl->generation != gen) {
            continue;
        }
        out->active_daemons++;
        if (!ps->not_accepting) {
            out->idle_threads += hyb_sb_idle_threads(i);
        }
    }
    out->max_daemon_used = last + 1;
}
