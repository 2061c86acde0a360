/* headtime.c - request-head timeout arithmetic (see headtime.h).
 *
 * The model is mod_reqtimeout's filter in httpd 2.4 (reqtimeout_filter,
 * check_time_left, extend_timeout) over the core's blocking reads.
 * Threads: none; pure functions.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "headtime.h"

/* Case-insensitive search (the MinRate key may be written in any case). */
static const char *hyb_strcasestr(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    for (; *hay; hay++) {
        if (strncasecmp(hay, needle, n) == 0) {
            return hay;
        }
    }
    return NULL;
}

static void hyb_rrt_parse_stage(const char *w, hyb_rrt_stage_t *out)
{
    const char *rate;

    memset(out, 0, sizeof(*out));
    out->set = 1;
    out->timeout = atoi(w);
    if ((rate = hyb_strcasestr(w, ",minrate=")) != NULL) {
        const char *dash = strchr(w, '-');
        if (dash && dash < rate) {
            out->max_timeout = atoi(dash + 1);
        }
        out->min_rate = atoi(rate + 9);
    }
}

void hyb_rrt_parse_word(const char *w, hyb_rrt_t *out)
{
    if (strncasecmp(w, "header=", 7) == 0) {
        hyb_rrt_parse_stage(w + 7, &out->header);
    }
    else if (strncasecmp(w, "handshake=", 10) == 0) {
        hyb_rrt_parse_stage(w + 10, &out->handshake);
    }
}

void hyb_rrt_merge(const hyb_rrt_t *main_rrt, const hyb_rrt_t *vhost,
                   hyb_rrt_t *out)
{
    hyb_rrt_t m;

    m.handshake = vhost->handshake.set ? vhost->handshake : main_rrt->handshake;
    m.header = vhost->header.set ? vhost->header : main_rrt->header;
    *out = m;
}

void hyb_head_timeout_from(const hyb_rrt_t *rrt, int handshake,
                           int reqtimeout_loaded,
                           apr_interval_time_t server_timeout,
                           hyb_head_timeout_t *out)
{
    static const hyb_rrt_stage_t header_dflt = { 1, 20, 40, 500 };
    const hyb_rrt_stage_t *st = handshake ? &rrt->handshake : &rrt->header;

    if (!st->set && !handshake) {
        st = &header_dflt;
    }
    memset(out, 0, sizeof(*out));
    out->sock_timeout = server_timeout;
    if (!reqtimeout_loaded || !st->set || st->timeout <= 0) {
        return;
    }
    out->timeout = apr_time_from_sec(st->timeout);
    if (st->max_timeout > st->timeout) {
        out->max_timeout = apr_time_from_sec(st->max_timeout);
    }
    if (st->min_rate > 0) {
        out->per_byte = APR_USEC_PER_SEC / st->min_rate;
    }
}

apr_time_t hyb_head_deadline(const hyb_head_timeout_t *t, apr_time_t start,
                             apr_uint32_t bytes)
{
    apr_interval_time_t d = t->timeout;

    if (t->per_byte > 0) {
        d += (apr_interval_time_t)bytes * t->per_byte;
        if (t->max_timeout > 0 && d > t->max_timeout) {
            d = t->max_timeout;
        }
    }
    return start + d;
}

void hyb_head_counted(int lines, apr_uint32_t n_prev, apr_uint32_t n,
                      apr_uint32_t line_start, apr_uint32_t *before,
                      apr_uint32_t *after)
{
    if (!lines) {
        *before = *after = n;
        return;
    }
    *before = n_prev;
    *after = line_start > n_prev ? line_start : n_prev;
}

apr_time_t hyb_head_due(const hyb_head_timeout_t *t, apr_time_t start,
                        apr_time_t now, apr_uint32_t before,
                        apr_uint32_t after)
{
    apr_interval_time_t wait;

    if (t->timeout <= 0) {
        return now + t->sock_timeout;
    }
    if (now >= hyb_head_deadline(t, start, before)) {
        return now;
    }
    wait = hyb_head_deadline(t, start, after) - now;
    if (wait < HYB_RRT_MIN_WAIT) {
        wait = HYB_RRT_MIN_WAIT;
    }
    if (t->sock_timeout > 0 && wait > t->sock_timeout) {
        wait = t->sock_timeout;
    }
    return now + wait;
}
