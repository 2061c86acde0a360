/* headscan.c - the request head / TLS record scanner (see headscan.h).
 *
 * Owns nothing but the rules; no allocation, no system calls, so it is
 * unit-tested at every split position and fuzzed directly.  The HTTP rules
 * follow httpd 2.4's server/protocol.c (ap_rgetline_core, read_request_line,
 * ap_parse_request_line, ap_get_mime_headers_core) under the default
 * HttpProtocolOptions Strict; the character classes are those of
 * server/gen_test_char.c.
 *
 * Threads: none (see headscan.h).
 */
#include <string.h>

#include "headscan.h"

static const hyb_hs_limits_t hyb_hs_default_limits = {
    HYB_HS_LINE_MAX, HYB_HS_FIELD_MAX, HYB_HS_FIELDS_MAX
};

/* What a line (or a head) means for the scan. */
enum { HYB_HS_WAIT, HYB_HS_END };

void hyb_hs_init(hyb_hs_t *s, hyb_hs_mode_e mode)
{
    memset(s, 0, sizeof(*s));
    s->lim = &hyb_hs_default_limits;
    s->mode = s->first_mode = (uint8_t)mode;
}

void hyb_hs_set_limits(hyb_hs_t *s, const hyb_hs_limits_t *lim)
{
    s->lim = lim ? lim : &hyb_hs_default_limits;
}

/* ---- character classes (gen_test_char.c) -------------------------------- */

/* tchar: the bytes of a method or a field name. */
static int hyb_hs_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
           || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* VCHAR or obs-text: the bytes of a request target and a protocol. */
static int hyb_hs_vchar(unsigned char c)
{
    return c > ' ' && c != 0x7f;
}

/* A control byte other than HT: not allowed in a field value. */
static int hyb_hs_ctl(unsigned char c)
{
    return (c < ' ' && c != '\t') || c == 0x7f;
}

static int hyb_hs_ws(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static size_t hyb_hs_span(const unsigned char *p, size_t n,
                          int (*in)(unsigned char))
{
    size_t i = 0;

    while (i < n && in(p[i])) {
        i++;
    }
    return i;
}

/* ---- HTTP ----------------------------------------------------------------- */

/* The request target of a request line the core accepts so far: 1 when
 * the core cannot reject it before the end of the head.  Only the plain
 * forms are sure ("/path" or "OPTIONS *", no fragment); anything else
 * (absolute-form, CONNECT's authority-form, ...) is a doubt. */
static int hyb_hs_target_ok(const unsigned char *meth, size_t m,
                            const unsigned char *uri, size_t u)
{
    if (memchr(uri, '#', u) || (m == 7 && !memcmp(meth, "CONNECT", 7))) {
        return 0;
    }
    if (uri[0] == '/') {
        return 1;
    }
    return u == 1 && uri[0] == '*' && m == 7 && !memcmp(meth, "OPTIONS", 7);
}

/* A request line without its line end: 1 when the core reads header lines
 * after it, i.e. exactly "method SP target SP HTTP/d.d" (Strict: single
 * spaces, uppercase, no trailing text, major version not 0).  HTTP/0.9
 * and every malformed line: 0, the core answers at once. */
static int hyb_hs_request_line(const unsigned char *l, size_t n)
{
    size_t m = hyb_hs_span(l, n, hyb_hs_tchar), u;
    const unsigned char *uri, *v;

    if (m == 0 || m + 1 >= n || l[m] != ' ') {
        return 0;
    }
    uri = l + m + 1;
    u = hyb_hs_span(uri, n - m - 1, hyb_hs_vchar);
    if (u == 0 || m + 1 + u + 1 + 8 != n || uri[u] != ' ') {
        return 0;
    }
    v = uri + u + 1;
    if (memcmp(v, "HTTP/", 5) != 0 || v[5] < '1' || v[5] > '9'
        || v[6] != '.' || v[7] < '0' || v[7] > '9') {
        return 0;
    }
    return hyb_hs_target_ok(l, m, uri, u);
}

static int hyb_hs_has_ctl(const unsigned char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (hyb_hs_ctl(p[i])) {
            return 1;
        }
    }
    return 0;
}

/* A field line: "token:" and a value without control bytes. */
static int hyb_hs_field_ok(const unsigned char *l, size_t n)
{
    size_t t = hyb_hs_span(l, n, hyb_hs_tchar);

    return t > 0 && t < n && l[t] == ':' && !hyb_hs_has_ctl(l + t, n - t);
}

/* An obs-fold line (it starts with SP or HT; trailing blanks dropped):
 * the core rejects it before any field line or when it is blank, else
 * appends it to the last field and checks the field's size. */
static int hyb_hs_fold(hyb_hs_t *s, const unsigned char *l, size_t n)
{
    if (!(s->field & HYB_HS_FIELD_SEEN) || n == 1) {
        return HYB_HS_END;
    }
    while (hyb_hs_ws(l[1])) {           /* stops: l[n - 1] is not blank */
        l++;
        n--;
    }
    if ((size_t)s->field_len + n + 1 >= s->lim->field_max) {
        return HYB_HS_END;
    }
    s->field_len += (uint32_t)n;
    if (hyb_hs_has_ctl(l + 1, n - 1)) {
        s->field |= HYB_HS_FIELD_BAD;
    }
    return HYB_HS_WAIT;
}

/* A header line, CRLF excluded.  The core checks a field line (count,
 * name, value) only when the next line that is not a fold has arrived. */
static int hyb_hs_header_line(hyb_hs_t *s, const unsigned char *l, size_t n)
{
    while (n > 1 && hyb_hs_ws(l[n - 1])) {
        n--;
    }
    if (n > 0 && hyb_hs_ws(l[0])) {
        return hyb_hs_fold(s, l, n);
    }
    if (s->field & HYB_HS_FIELD_SEEN) {
        if ((s->lim->fields_max && ++s->fields > s->lim->fields_max)
            || (s->field & HYB_HS_FIELD_BAD)) {
            return HYB_HS_END;
        }
    }
    if (n == 0) {
        return HYB_HS_END;              /* the blank line: a whole head */
    }
    s->field = HYB_HS_FIELD_SEEN | (hyb_hs_field_ok(l, n) ? 0 : HYB_HS_FIELD_BAD);
    s->field_len = (uint32_t)n;
    return HYB_HS_WAIT;
}

/* The line from s->line_start has ended at buf[lf] ('\n'). */
static int hyb_hs_line_end(hyb_hs_t *s, const unsigned char *buf, size_t lf)
{
    const unsigned char *l = buf + s->line_start;
    size_t n = lf - s->line_start;

    s->line_start = (uint32_t)(lf + 1);
    if (n == 0 || l[n - 1] != '\r' || memchr(l, 0, --n)) {
        return HYB_HS_END;              /* a bare LF or a NUL: 400 */
    }
    if (s->in_head) {
        return hyb_hs_header_line(s, l, n);
    }
    if (n == 0) {
        /* A blank line before the request line: skipped up to 10 times. */
        return ++s->blank > HYB_HS_MAX_BLANK ? HYB_HS_END : HYB_HS_WAIT;
    }
    s->in_head = 1;
    return hyb_hs_request_line(l, n) ? HYB_HS_WAIT : HYB_HS_END;
}

/* The core reads a line into a buffer of limit + 2 bytes: once it holds
 * limit + 3 bytes with no LF among them (414 or 400), or with the LF not
 * right after a CR at the end (Strict: 400), it answers. */
static size_t hyb_hs_line_overflow(const hyb_hs_t *s)
{
    return (size_t)s->line_start + 3
           + (s->in_head ? s->lim->field_max : s->lim->line_max);
}

static hyb_hs_result_e hyb_hs_scan_http(hyb_hs_t *s, const unsigned char *buf,
                                        size_t len, size_t limit)
{
    size_t end = len < limit ? len : limit;
    size_t i = s->pos;

    for (;;) {
        size_t over = hyb_hs_line_overflow(s);
        size_t stop = end < over ? end : over;
        const unsigned char *lf = i < stop ? memchr(buf + i, '\n', stop - i)
                                           : NULL;

        if (!lf && stop == over) {
            i = over;                   /* the line is too long */
            break;
        }
        if (!lf) {
            s->pos = (uint32_t)end;
            return end >= limit ? HYB_HS_TOO_BIG : HYB_HS_MORE;
        }
        i = (size_t)(lf - buf) + 1;
        if (hyb_hs_line_end(s, buf, i - 1) == HYB_HS_END) {
            break;
        }
    }
    s->pos = (uint32_t)i;
    s->done = 1;
    return HYB_HS_DONE;
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
        const hyb_hs_limits_t *lim = s->lim;

        hyb_hs_init(s, (hyb_hs_mode_e)s->first_mode);
        s->lim = lim;
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
