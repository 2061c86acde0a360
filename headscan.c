/* headscan.c - the request head / TLS record scanner (see headscan.h).
 *
 * Owns nothing but the rules; no allocation, no system calls, so it is
 * unit-tested at every split position and fuzzed directly.
 */
#include <string.h>
#include <strings.h>

#include "headscan.h"

void hyb_hs_init(hyb_hs_t *s, hyb_hs_mode_e mode)
{
    memset(s, 0, sizeof(*s));
    s->mode = s->first_mode = (uint8_t)mode;
}

/* Does the request line end with an HTTP/x version word?  Only then does
 * the core go on to read header lines. */
static int hyb_hs_has_version(const unsigned char *line, size_t n)
{
    size_t i = n;

    while (i > 0 && line[i - 1] != ' ' && line[i - 1] != '\t') {
        i--;
    }
    if (i == 0) {
        return 0;               /* one word: HTTP/0.9-style or garbage */
    }
    return n - i >= 5 && strncasecmp((const char *)line + i, "HTTP/", 5) == 0;
}

/* A line ended at buf[lf] ('\n'): 1 when it completes the head. */
static int hyb_hs_line_end(hyb_hs_t *s, const unsigned char *buf,
                           size_t lf)
{
    const unsigned char *line = buf + s->line_start;
    size_t n = lf - s->line_start;

    s->line_start = (uint32_t)(lf + 1);
    if (n > 0 && line[n - 1] == '\r') {
        n--;
    }
    if (n == 0) {
        /* Blank: the end of the head, or skipped before the request line. */
        return s->in_head || ++s->blank > HYB_HS_MAX_BLANK;
    }
    if (!s->in_head) {
        s->in_head = 1;
        return !hyb_hs_has_version(line, n);
    }
    return 0;
}

static hyb_hs_result_e hyb_hs_scan_http(hyb_hs_t *s, const unsigned char *buf,
                                        size_t len, size_t limit)
{
    size_t end = len < limit ? len : limit;
    size_t i;

    for (i = s->pos; i < end; i++) {
        const unsigned char *lf = memchr(buf + i, '\n', end - i);
        if (!lf) {
            break;
        }
        i = (size_t)(lf - buf);
        if (hyb_hs_line_end(s, buf, i)) {
            s->pos = (uint32_t)(i + 1);
            s->done = 1;
            return HYB_HS_DONE;
        }
    }
    s->pos = (uint32_t)end;
    return end >= limit ? HYB_HS_TOO_BIG : HYB_HS_MORE;
}

/* One TLS record: 1 byte type (20..24), 2 bytes version (major 3), 2 bytes
 * length.  Implausible headers are handed over for the TLS library to
 * reject. */
static hyb_hs_result_e hyb_hs_scan_record(hyb_hs_t *s, const unsigned char *buf,
                                          size_t len, size_t limit)
{
    size_t total = 5, have = len < limit ? len : limit;

    if ((len >= 1 && (buf[0] < 20 || buf[0] > 24)) || (len >= 2 && buf[1] != 3)) {
        s->done = 1;            /* not a record: for the TLS library */
        return HYB_HS_DONE;
    }
    if (len >= 5) {
        total += ((size_t)buf[3] << 8) | buf[4];
        if (total - 5 > HYB_HS_MAX_RECORD) {
            s->done = 1;
            return HYB_HS_DONE;
        }
    }
    if (len >= total && total <= limit) {
        s->pos = (uint32_t)total;
        s->done = 1;
        return HYB_HS_DONE;
    }
    s->pos = (uint32_t)have;
    return have >= limit ? HYB_HS_TOO_BIG : HYB_HS_MORE;
}

hyb_hs_result_e hyb_hs_scan(hyb_hs_t *s, const unsigned char *buf,
                            size_t len, size_t limit)
{
    size_t end = len < limit ? len : limit;

    if (len < s->seen || end < s->pos) {
        hyb_hs_init(s, (hyb_hs_mode_e)s->first_mode);
    }
    s->seen = (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len);
    if (s->done) {
        return HYB_HS_DONE;
    }
    if (s->mode == HYB_HS_AUTO) {
        if (len == 0) {
            return limit == 0 ? HYB_HS_TOO_BIG : HYB_HS_MORE;
        }
        s->mode = (buf[0] == 0x16) ? HYB_HS_RECORD : HYB_HS_HTTP;
    }
    if (s->mode == HYB_HS_RECORD) {
        return hyb_hs_scan_record(s, buf, len, limit);
    }
    return hyb_hs_scan_http(s, buf, len, limit);
}
