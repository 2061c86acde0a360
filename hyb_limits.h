/* hyb_limits.h - the arithmetic behind the process/thread directives.
 *
 * Owns: event-compatible defaults and clamping of StartServers, ServerLimit,
 * ThreadLimit, ThreadsPerChild, Min/MaxSpareThreads, MaxRequestWorkers and
 * AsyncRequestWorkerFactor.  Pure functions, no httpd dependency, so the
 * unit tests call them directly; mod_mpm_hybrid.c turns the messages into
 * log lines.
 */
#ifndef HYB_LIMITS_H
#define HYB_LIMITS_H

#define HYB_DEFAULT_SERVER_LIMIT      16
#define HYB_MAX_SERVER_LIMIT          20000
#define HYB_DEFAULT_THREAD_LIMIT      64
#define HYB_MAX_THREAD_LIMIT          100000
#define HYB_DEFAULT_THREADS_PER_CHILD 25
#define HYB_DEFAULT_START_DAEMON      3
#define HYB_DEFAULT_MIN_FREE_DAEMON   3    /* x ThreadsPerChild = MinSpareThreads */
#define HYB_DEFAULT_MAX_FREE_DAEMON   10   /* x ThreadsPerChild = MaxSpareThreads */
#define HYB_DEFAULT_WORKER_FACTOR     2.0

#include <limits.h>

/* A directive value of "not set" (directives not given in the config).
 * No directive can parse to it, so a literal -1 is clamped like any other
 * value, as event does. */
#define HYB_UNSET INT_MIN

typedef struct hyb_limits_t {
    int server_limit;           /* ServerLimit */
    int thread_limit;           /* ThreadLimit */
    int threads_per_child;      /* ThreadsPerChild */
    int max_workers;            /* MaxRequestWorkers */
    int start_servers;          /* StartServers */
    int min_spare_threads;      /* MinSpareThreads */
    int max_spare_threads;      /* MaxSpareThreads */
    double worker_factor;       /* AsyncRequestWorkerFactor */
    int active_daemons_limit;   /* derived: max_workers / threads_per_child */
} hyb_limits_t;

/* Called once per adjustment: directive name, value given, value used and a
 * sentence saying why (no trailing period).  */
typedef void hyb_limits_warn_fn(void *baton, const char *directive,
                                long given, long used, const char *why);

/* Fill every field with event's defaults (HYB_UNSET-free). */
void hyb_limits_defaults(hyb_limits_t *l);

/* Apply event's checks in event's order to l (values set by directives,
 * defaults elsewhere).  first_server_limit / first_thread_limit are the
 * values in force since the first start (0 on the first pass): a change
 * across a restart is reported and the first value kept.  Returns the
 * number of adjustments made. */
int hyb_limits_check(hyb_limits_t *l, int first_server_limit,
                     int first_thread_limit,
                     hyb_limits_warn_fn *warn, void *baton);

/* Parse AsyncRequestWorkerFactor: strtod, must be > 0 and finite; values
 * below 1 are raised to 1.  Returns NULL on success, else an error
 * message (static string). */
const char *hyb_limits_parse_factor(const char *arg, double *out);

#endif
