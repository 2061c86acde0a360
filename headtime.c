/* headtime.c - request-head timeout arithmetic (see headtime.h). */
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

void hyb_rrt_parse_word(const char *w, hyb_rrt_t *out)
{
    const char *rate;

    if (strncasecmp(w, "header=", 7) != 0) {
        return;
    }
    w += 7;
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

void hyb_head_timeout_from(const hyb_rrt_t *rrt, int reqtimeout_loaded,
                           apr_interval_time_t server_timeout,
                           hyb_head_timeout_t *out)
{
    static const hyb_rrt_t dflt = { 1, 20, 40, 500 };

    if (reqtimeout_loaded && !rrt->set) {
        rrt = &dflt;
    }
    memset(out, 0, sizeof(*out));
    if (!reqtimeout_loaded || rrt->timeout <= 0) {
        out->timeout = server_timeout;
        return;
    }
    out->timeout = apr_time_from_sec(rrt->timeout);
    if (rrt->max_timeout > rrt->timeout) {
        out->max_timeout = apr_time_from_sec(rrt->max_timeout);
    }
    if (rrt->min_rate > 0) {
        out->per_byte = APR_USEC_PER_SEC / rrt->min_rate;
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
