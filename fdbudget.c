/* fdbudget.c - the descriptor budget of a child (see fdbudget.h).
 *
 * The rule: the listener takes one more descriptor only while
 *     open + 1 + reserve <= RLIMIT_NOFILE
 * where `open` is the last count of this process's descriptors plus the
 * connections opened (minus those closed) since, and `reserve` is
 * HYB_FDB_PER_WORKER per worker thread plus HYB_FDB_SLACK, cut to half the
 * limit when the limit is too small for it.  Once over, it stays paused
 * until a fresh count leaves a quarter of the reserve more than that
 * (hysteresis, so that one closed connection does not reopen the door for
 * one accept at a time).  Counting is O(open descriptors), so it is done
 * when due (HYB_FDB_NEAR_EVERY near the limit, HYB_FDB_FAR_EVERY
 * otherwise, and never more often than HYB_FDB_COST_FACTOR times what the
 * last count took), not per accept.
 *
 * Threads: the listener thread of one child owns its hyb_fdb_t.
 */
#include "fdbudget.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>

/* Anything above this counts as "no practical limit" (RLIM_INFINITY). */
#define HYB_FDB_BIG (LONG_MAX / 8)

/* Descriptors to keep free for `threads` workers; *clamped set when the
 * limit is too small and the reserve was cut to half of it. */
long hyb_fdb_reserve(long limit, int threads, int *clamped)
{
    long r = (long)(threads > 0 ? threads : 1) * HYB_FDB_PER_WORKER
             + HYB_FDB_SLACK;

    *clamped = 0;
    if (limit > 0 && r > limit / 2) {
        r = limit / 2;
        *clamped = 1;
    }
    return r;
}

void hyb_fdb_init(hyb_fdb_t *b, int threads)
{
    b->limit = 0;
    b->reserve = hyb_fdb_reserve(0, threads, &b->clamped);
    b->counted = 0;
    b->conns_then = 0;
    b->counted_at = 0;
    b->cost = 0;
    b->paused = 0;
    b->paused_at = 0;
    b->resumed_at = 0;
}

/* Descriptors open now, as far as the listener knows: the last count plus
 * the connections it opened since (minus those it closed). */
long hyb_fdb_estimate(const hyb_fdb_t *b, long conns)
{
    long e = b->counted + (conns - b->conns_then);

    return e < 0 ? 0 : e;
}

/* Descriptors that must be free before a pause ends: the reserve and a
 * quarter of it more. */
long hyb_fdb_resume_room(const hyb_fdb_t *b)
{
    return b->reserve + (b->reserve / 4 > 0 ? b->reserve / 4 : 1);
}

static int hyb_fdb_near(const hyb_fdb_t *b, long conns)
{
    return b->paused
           || hyb_fdb_estimate(b, conns) + 2 * b->reserve >= b->limit;
}

/* Is a fresh count due before the next check? */
int hyb_fdb_count_due(const hyb_fdb_t *b, long conns, apr_time_t now)
{
    apr_interval_time_t age = now - b->counted_at, every;

    if (b->counted_at == 0) {
        return 1;
    }
    if (b->limit <= 0) {
        return 0;               /* no budget: counting is not possible */
    }
    every = hyb_fdb_near(b, conns) ? HYB_FDB_NEAR_EVERY : HYB_FDB_FAR_EVERY;
    if (every < b->cost * HYB_FDB_COST_FACTOR) {
        every = b->cost * HYB_FDB_COST_FACTOR;
    }
    return age >= every;
}

/* A count was taken, in `cost`: `open` descriptors (< 0: counting is not
 * possible, which turns the budget off) with `conns` connections, under
 * `limit`. */
void hyb_fdb_counted(hyb_fdb_t *b, long limit, long open, long conns,
                     apr_time_t now, apr_interval_time_t cost, int threads)
{
    if (open < 0 || limit <= 0) {
        limit = 0;              /* unknown: admit everything */
    }
    else if (limit > HYB_FDB_BIG) {
        limit = HYB_FDB_BIG;
    }
    b->limit = limit;
    b->reserve = hyb_fdb_reserve(limit, threads, &b->clamped);
    b->counted = open < 0 ? 0 : open;
    b->conns_then = conns;
    b->counted_at = now ? now : 1;
    b->cost = cost > 0 ? cost : 0;
}

/* May the listener take one more descriptor now?  Moves the pause state;
 * PAUSE starts an episode (to log), PAUSE_QUIET continues one that ended
 * less than HYB_FDB_EPISODE_GAP ago. */
hyb_fdb_verdict_e hyb_fdb_check(hyb_fdb_t *b, long conns, apr_time_t now)
{
    long open = hyb_fdb_estimate(b, conns);

    if (b->limit <= 0) {
        b->paused = 0;
        return HYB_FDB_ADMIT;
    }
    if (b->paused) {
        if (open + hyb_fdb_resume_room(b) > b->limit) {
            return HYB_FDB_HOLD;
        }
        b->paused = 0;
        b->resumed_at = now;
        return HYB_FDB_RESUME;
    }
    if (open + 1 + b->reserve <= b->limit) {
        return HYB_FDB_ADMIT;
    }
    b->paused = 1;
    b->paused_at = now;
    if (b->resumed_at && now - b->resumed_at < HYB_FDB_EPISODE_GAP) {
        return HYB_FDB_PAUSE_QUIET;
    }
    return HYB_FDB_PAUSE;
}

/* Descriptors this process has open (the one used to count excluded), or
 * -1 with errno set (EMFILE/ENFILE: none left to count with). */
long hyb_fdb_count_open(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    long n = 0;

    if (!d) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n > 0 ? n - 1 : 0;
}
