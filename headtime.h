/* headtime.h - the arithmetic of request-head timeouts: what
 * mod_reqtimeout's "header=" parameter says, and when a head that started
 * at a given time, with so many bytes received, times out.
 *
 * Owns: pure functions, no httpd dependency (unit-tested directly);
 * gather.c feeds them the parsed configuration, the listener asks for
 * deadlines.
 *
 * Threads: none of this has state.
 */
#ifndef HYB_HEADTIME_H
#define HYB_HEADTIME_H

#include <apr_time.h>

/* mod_reqtimeout's header stage as written in one server's scope. */
typedef struct hyb_rrt_t {
    int set;                    /* a header= parameter was given */
    int timeout;                /* seconds; 0: stage disabled */
    int max_timeout;            /* seconds; 0: no cap */
    int min_rate;               /* bytes per second; 0: no extension */
} hyb_rrt_t;

/* The effective head timeout of one server. */
typedef struct hyb_head_timeout_t {
    apr_interval_time_t timeout;        /* from the first byte */
    apr_interval_time_t max_timeout;    /* cap of the extension; 0: none */
    apr_interval_time_t per_byte;       /* extension per byte; 0: none */
} hyb_head_timeout_t;

/* One word of RequestReadTimeout's arguments: "header=T[-MAX][,MinRate=R]"
 * (case-insensitive keys) replaces *out, as mod_reqtimeout replaces the
 * whole stage; other words (handshake=, body=) leave it alone.  Malformed
 * values are mod_reqtimeout's to reject at configtest. */
void hyb_rrt_parse_word(const char *word, hyb_rrt_t *out);

/* The head timeout: mod_reqtimeout's header stage when the module is
 * loaded (its defaults, 20-40 s at MinRate 500, when rrt was not set), the
 * server's Timeout when it is not loaded or the stage is disabled. */
void hyb_head_timeout_from(const hyb_rrt_t *rrt, int reqtimeout_loaded,
                           apr_interval_time_t server_timeout,
                           hyb_head_timeout_t *out);

/* When a head that started at `start` with `bytes` received so far times
 * out: each byte extends the timeout by per_byte (MinRate), up to
 * max_timeout when one is set. */
apr_time_t hyb_head_deadline(const hyb_head_timeout_t *t, apr_time_t start,
                             apr_uint32_t bytes);

#endif
