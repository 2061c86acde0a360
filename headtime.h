/* headtime.h - the arithmetic of request-head timeouts: what
 * mod_reqtimeout's "handshake=" and "header=" parameters say, how a
 * <VirtualHost> inherits them, and when a head (or TLS ClientHello) that
 * is still incomplete times out, to the moment mod_reqtimeout (or the
 * core's socket timeout) would end it under mpm_event.
 *
 * Owns: pure functions, no httpd dependency (unit-tested directly);
 * gather.c feeds them the parsed configuration, the listener asks for
 * the time each gathering connection is due.
 *
 * Threads: none of this has state.
 */
#ifndef HYB_HEADTIME_H
#define HYB_HEADTIME_H

#include <apr_time.h>

/* One stage of RequestReadTimeout as written in one server's scope. */
typedef struct hyb_rrt_stage_t {
    int set;                    /* written in this scope */
    int timeout;                /* seconds; 0: stage disabled */
    int max_timeout;            /* seconds; 0: no cap */
    int min_rate;               /* bytes per second; 0: no extension */
} hyb_rrt_stage_t;

/* The stages gathering cares about (body= is read by workers). */
typedef struct hyb_rrt_t {
    hyb_rrt_stage_t handshake;
    hyb_rrt_stage_t header;
} hyb_rrt_t;

/* The effective timing of one stage of one server. */
typedef struct hyb_head_timeout_t {
    apr_interval_time_t timeout;        /* mod_reqtimeout's stage; 0: none,
                                         * the socket timeout alone applies */
    apr_interval_time_t max_timeout;    /* cap of the extension; 0: none */
    apr_interval_time_t per_byte;       /* extension per byte; 0: none */
    apr_interval_time_t sock_timeout;   /* Timeout: how long one read waits */
} hyb_head_timeout_t;

/* mod_reqtimeout never waits less than this in one poll (check_time_left). */
#define HYB_RRT_MIN_WAIT apr_time_from_sec(1)

/* One word of RequestReadTimeout's arguments: "header=T[-MAX][,MinRate=R]"
 * or "handshake=..." (case-insensitive keys) replaces that stage of *out,
 * as mod_reqtimeout replaces a whole stage; other words (body=) leave it
 * alone.  Malformed values are mod_reqtimeout's to reject at configtest. */
void hyb_rrt_parse_word(const char *word, hyb_rrt_t *out);

/* A <VirtualHost>'s stages: its own where written, else the main
 * server's (mod_reqtimeout's merge). */
void hyb_rrt_merge(const hyb_rrt_t *main_rrt, const hyb_rrt_t *vhost,
                   hyb_rrt_t *out);

/* The timing of a server's header stage (handshake = 0) or handshake stage
 * (handshake = 1).  With mod_reqtimeout loaded, a stage not written
 * anywhere has its defaults: header 20-40 s at MinRate 500, handshake off.
 * A stage that is off (or the module not loaded) leaves the server's
 * Timeout, which bounds every read in any case. */
void hyb_head_timeout_from(const hyb_rrt_t *rrt, int handshake,
                           int reqtimeout_loaded,
                           apr_interval_time_t server_timeout,
                           hyb_head_timeout_t *out);

/* The stage's deadline after `bytes` were counted: start + timeout +
 * bytes x per_byte (MinRate), capped at start + max_timeout. */
apr_time_t hyb_head_deadline(const hyb_head_timeout_t *t, apr_time_t start,
                             apr_uint32_t bytes);

/* Which bytes mod_reqtimeout has counted when bytes come in at a look:
 * `n_prev` were in at the previous look, `n` now.  `lines`: the head is
 * read line by line (HTTP: the core reads whole lines, mod_reqtimeout
 * checks the clock when it wakes, before it reads, and counts the bytes
 * of the line still open only after it has set up its next wait), with
 * the open line starting at `line_start`; else the bytes are read as they
 * come (a TLS record, read by mod_ssl).  *before: counted when it wakes;
 * *after: counted for the wait that follows. */
void hyb_head_counted(int lines, apr_uint32_t n_prev, apr_uint32_t n,
                      apr_uint32_t line_start, apr_uint32_t *before,
                      apr_uint32_t *after);

/* When a head that started at `start` and had bytes come in (or started)
 * at `now` times out if no more come: `now` itself when the deadline had
 * passed by the counting of `before` (mod_reqtimeout's check on waking);
 * else when its next wait ends: the deadline by `after`, but never less
 * than HYB_RRT_MIN_WAIT from now nor more than the socket timeout.  With
 * no stage, the socket timeout from now (each read waits that long). */
apr_time_t hyb_head_due(const hyb_head_timeout_t *t, apr_time_t start,
                        apr_time_t now, apr_uint32_t before,
                        apr_uint32_t after);

#endif
