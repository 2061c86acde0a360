/* limits.c - defaults and clamping of the process/thread directives
 * (see limits.h).
 *
 * Owns: the arithmetic of event_check_config, applied in event's order,
 * and the parsing of AsyncRequestWorkerFactor.  Pure functions: no globals,
 * no logging (every adjustment is reported through the caller's warn fn).
 *
 * Threads: called from the parent's config hooks (single-threaded).
 *
 * HYB_UNSET: a caller may leave any int field (and worker_factor) at
 * HYB_UNSET when its directive was not given; hyb_limits_check first fills
 * such fields with event's defaults, silently.  MaxRequestWorkers left
 * unset becomes ServerLimit x ThreadsPerChild computed from the *final*
 * (clamped) values of both.  Note that event itself starts from a fixed
 * 16 x 25 = 400: a caller wanting exactly that starts from
 * hyb_limits_defaults() and overwrites the fields set by directives.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "hyb_limits.h"

#define HYB_FACTOR_ERROR \
    "AsyncRequestWorkerFactor argument must be a positive number"

/* One hyb_limits_check run: the warn callback and the number of
 * adjustments made so far. */
typedef struct {
    hyb_limits_warn_fn *warn;
    void *baton;
    int count;
} adjust_ctx;

/* Report "directive: given -> used, why" and store used in *field.  why is
 * a phrase that follows "<Directive> of <given>", without a trailing
 * period, and may live in a caller's stack buffer: valid during the call
 * only. */
static void adjust(adjust_ctx *ctx, const char *directive, int *field,
                   int used, const char *why)
{
    if (ctx->warn) {
        ctx->warn(ctx->baton, directive, (long)*field, (long)used, why);
    }
    *field = used;
    ctx->count++;
}

void hyb_limits_defaults(hyb_limits_t *l)
{
    l->server_limit = HYB_DEFAULT_SERVER_LIMIT;
    l->thread_limit = HYB_DEFAULT_THREAD_LIMIT;
    l->threads_per_child = HYB_DEFAULT_THREADS_PER_CHILD;
    l->max_workers = HYB_DEFAULT_SERVER_LIMIT * HYB_DEFAULT_THREADS_PER_CHILD;
    l->start_servers = HYB_DEFAULT_START_DAEMON;
    l->min_spare_threads = HYB_DEFAULT_MIN_FREE_DAEMON
                           * HYB_DEFAULT_THREADS_PER_CHILD;
    l->max_spare_threads = HYB_DEFAULT_MAX_FREE_DAEMON
                           * HYB_DEFAULT_THREADS_PER_CHILD;
    l->worker_factor = HYB_DEFAULT_WORKER_FACTOR;
    l->active_daemons_limit = HYB_DEFAULT_SERVER_LIMIT;
}

static void fill_int(int *field, int dflt)
{
    if (*field == HYB_UNSET) {
        *field = dflt;
    }
}

/* Replace HYB_UNSET by the defaults, except max_workers (done later). */
static void fill_unset(hyb_limits_t *l)
{
    hyb_limits_t d;

    hyb_limits_defaults(&d);
    fill_int(&l->server_limit, d.server_limit);
    fill_int(&l->thread_limit, d.thread_limit);
    fill_int(&l->threads_per_child, d.threads_per_child);
    fill_int(&l->start_servers, d.start_servers);
    fill_int(&l->min_spare_threads, d.min_spare_threads);
    fill_int(&l->max_spare_threads, d.max_spare_threads);
    if (l->worker_factor == (double)HYB_UNSET) {
        l->worker_factor = d.worker_factor;
    }
}

/* ServerLimit / ThreadLimit: clamp to [1, max], then keep the value in
 * force since the first start (first == 0 on the first pass). */
static void check_hard_limit(adjust_ctx *ctx, const char *directive,
                             int *value, int max, int first)
{
    char why[160];

    if (*value > max) {
        snprintf(why, sizeof(why), "exceeds the compile-time limit of %d",
                 max);
        adjust(ctx, directive, value, max, why);
    }
    else if (*value < 1) {
        adjust(ctx, directive, value, 1, "must be at least 1");
    }
    if (first && *value != first) {
        snprintf(why, sizeof(why), "cannot be changed from its original "
                 "value of %d during a restart (a full stop and start of "
                 "the server is needed)", first);
        adjust(ctx, directive, value, first, why);
    }
}

static void check_threads_per_child(adjust_ctx *ctx, hyb_limits_t *l)
{
    char why[96];

    if (l->threads_per_child > l->thread_limit) {
        snprintf(why, sizeof(why), "exceeds ThreadLimit of %d threads",
                 l->thread_limit);
        adjust(ctx, "ThreadsPerChild", &l->threads_per_child,
               l->thread_limit, why);
    }
    else if (l->threads_per_child < 1) {
        adjust(ctx, "ThreadsPerChild", &l->threads_per_child, 1,
               "must be at least 1");
    }
}

/* MaxRequestWorkers: at least one child's worth, a whole number of
 * children, and no more children than ServerLimit.  Sets
 * active_daemons_limit. */
static void check_max_workers(adjust_ctx *ctx, hyb_limits_t *l)
{
    int tpc = l->threads_per_child;
    char why[128];

    if (l->max_workers < tpc) {
        snprintf(why, sizeof(why), "is less than ThreadsPerChild of %d "
                 "(it must cover at least one server)", tpc);
        adjust(ctx, "MaxRequestWorkers", &l->max_workers, tpc, why);
    }
    l->active_daemons_limit = l->max_workers / tpc;
    if (l->max_workers % tpc) {
        snprintf(why, sizeof(why), "is not an integer multiple of "
                 "ThreadsPerChild of %d", tpc);
        adjust(ctx, "MaxRequestWorkers", &l->max_workers,
               l->active_daemons_limit * tpc, why);
    }
    if (l->active_daemons_limit > l->server_limit) {
        snprintf(why, sizeof(why), "would require %d servers and exceed "
                 "ServerLimit of %d", l->active_daemons_limit,
                 l->server_limit);
        adjust(ctx, "MaxRequestWorkers", &l->max_workers,
               l->server_limit * tpc, why);
        l->active_daemons_limit = l->server_limit;
    }
}

static void check_minimums(adjust_ctx *ctx, hyb_limits_t *l)
{
    if (l->start_servers < 1) {
        adjust(ctx, "StartServers", &l->start_servers, 1,
               "must be at least 1");
    }
    if (l->min_spare_threads < 1) {
        adjust(ctx, "MinSpareThreads", &l->min_spare_threads, 1,
               "must be at least 1");
    }
}

/* Event's order: ServerLimit, ThreadLimit, ThreadsPerChild,
 * MaxRequestWorkers (minimum, rounding, ServerLimit), StartServers,
 * MinSpareThreads.  MaxSpareThreads is left to the caller (event fixes it
 * silently in event_run).  warn may be NULL. */
int hyb_limits_check(hyb_limits_t *l, int first_server_limit,
                     int first_thread_limit,
                     hyb_limits_warn_fn *warn, void *baton)
{
    adjust_ctx ctx = { warn, baton, 0 };

    fill_unset(l);
    check_hard_limit(&ctx, "ServerLimit", &l->server_limit,
                     HYB_MAX_SERVER_LIMIT, first_server_limit);
    check_hard_limit(&ctx, "ThreadLimit", &l->thread_limit,
                     HYB_MAX_THREAD_LIMIT, first_thread_limit);
    check_threads_per_child(&ctx, l);
    if (l->max_workers == HYB_UNSET) {
        l->max_workers = l->server_limit * l->threads_per_child;
    }
    check_max_workers(&ctx, l);
    check_minimums(&ctx, l);
    return ctx.count;
}

/* *out is written only on success. */
const char *hyb_limits_parse_factor(const char *arg, double *out)
{
    char *end;
    double val;

    if (!arg) {
        return HYB_FACTOR_ERROR;
    }
    val = strtod(arg, &end);
    if (end == arg || *end != '\0' || !isfinite(val) || !(val > 0)) {
        return HYB_FACTOR_ERROR;
    }
    *out = val < 1 ? 1.0 : val;
    return NULL;
}
