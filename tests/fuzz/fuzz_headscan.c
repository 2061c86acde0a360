/* fuzz_headscan.c - libFuzzer target for headscan.c.
 *
 * Owns: the checks of hyb_hs_scan on arbitrary bytes.  Each input is fed
 * in every mode (AUTO, HTTP, RECORD) and with several limits (none, one
 * derived from the input, and the limits just at and just below where an
 * unlimited scan ended), in prefixes cut at positions derived from the
 * input (and one byte per call for short inputs).  Every call scans a heap
 * copy of exactly len bytes, so ASan sees any read past len.  Checked, with
 * abort() on a violation:
 *   - the result is MORE, DONE or TOO_BIG; pos <= len and pos <= limit;
 *   - each call agrees with a reference with no incremental state
 *     (ref_scan below): for HTTP a model of httpd's core (core_stop:
 *     ap_rgetline_core's buffer of limit + 2 bytes filled byte by byte,
 *     read_request_line, ap_parse_request_line and
 *     ap_get_mime_headers_core under HttpProtocolOptions Strict, written
 *     from their rules), so DONE comes exactly where the core would stop
 *     reading and answer (never later: a head the core rejects is never
 *     held; never earlier, except at the request line of a target only
 *     apr_uri_parse can judge); for TLS the record rules of headscan.h.
 *     Same result, and the same pos unless the result is a handover of an
 *     implausible TLS record (pos unspecified); MORE has pos == len;
 *   - the core's limits (LimitRequestLine, LimitRequestFieldSize,
 *     LimitRequestFields) are random per input, small enough for short
 *     inputs to reach them (0 included), or httpd's defaults;
 *   - TOO_BIG only once limit bytes were available (len >= limit);
 *   - stability: the incremental feed, stopped at its first DONE or
 *     TOO_BIG, ends like a single call on the whole input from a fresh
 *     state: DONE with the same pos, MORE with the same pos, TOO_BIG with
 *     the same pos in HTTP.  In record mode an incremental TOO_BIG (limit
 *     < 5: the header is not all there) may become DONE once the bytes
 *     that show an implausible header are there; both hand over;
 *   - DONE is final: a call with more bytes after it gives DONE, same pos;
 *   - a shorter len restarts: the next call equals a call on a fresh state
 *     (AUTO deciding the mode again), also with a different buffer.
 *
 *   - the limit is an argument of each call: after a call with a smaller
 *     limit, a call with the large one again answers like the reference.
 *
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "../../headscan.h"

#define NO_LIMIT ((size_t)1 << 20)
#define POS_ANY  ((size_t)-1)

/* What the current feed is doing, for the abort message. */
static struct {
    const char *step;
    int mode;
    size_t limit, len, size;
    const hyb_hs_limits_t *lim;     /* the core's limits of this input */
} ctx;

static void fail(const char *what, int line, int got, size_t got_pos,
                 int want, size_t want_pos)
{
    fprintf(stderr, "fuzz_headscan.c:%d: %s\n  step %s, mode %d, limit %zu,"
            " len %zu, input %zu bytes, core limits %u %u %u: got result %d"
            " pos %zu, want %d pos %zd\n", line, what, ctx.step, ctx.mode,
            ctx.limit, ctx.len, ctx.size, ctx.lim->line_max,
            ctx.lim->field_max, ctx.lim->fields_max, got, got_pos, want,
            want_pos == POS_ANY ? (ssize_t)-1 : (ssize_t)want_pos);
    abort();
}

#define CHECK(cond, got, got_pos, want, want_pos) do { \
        if (!(cond)) { \
            fail(#cond, __LINE__, (int)(got), (size_t)(got_pos), \
                 (int)(want), (size_t)(want_pos)); \
        } \
    } while (0)

/* ------------------------------------------------------ reference model */

typedef struct {
    hyb_hs_result_e res;
    size_t pos;                 /* POS_ANY: not specified */
} ref_t;

/* ---- a model of httpd's core (server/protocol.c, Strict), written from
 * its rules, not from headscan.c: where does the core stop reading a head
 * and answer?  Lines are read byte by byte into a buffer of limit + 2
 * bytes as ap_rgetline_core does. */

typedef struct {
    const unsigned char *b;
    size_t end;                 /* bytes the core can read */
    size_t at;                  /* next byte to read */
} rd_t;

enum { LINE_MORE, LINE_OK, LINE_ERR };

/* One line, buffer of n bytes, CRLF required.  LINE_OK: the content is
 * b[*l, *l + *ln) and rd->at is past the LF; LINE_ERR: the core answers
 * once it has read rd->at bytes. */
static int core_getline(rd_t *rd, size_t n, size_t *l, size_t *ln)
{
    size_t start = rd->at, i, k;

    for (i = start; i < rd->end; i++) {
        size_t have = i - start + 1;

        if (have > n) {
            /* Overflow; only the LF of a CRLF may stick out by one. */
            if (!(have == n + 1 && rd->b[i] == '\n' && rd->b[i - 1] == '\r')) {
                rd->at = i + 1;
                return LINE_ERR;
            }
        }
        if (rd->b[i] != '\n') {
            continue;
        }
        rd->at = i + 1;
        if (i == start || rd->b[i - 1] != '\r') {
            return LINE_ERR;                    /* bare LF */
        }
        *l = start;
        *ln = i - 1 - start;
        for (k = 0; k < *ln; k++) {
            if (rd->b[start + k] == 0) {
                return LINE_ERR;                /* NUL in the line */
            }
        }
        return LINE_OK;
    }
    rd->at = rd->end;
    return LINE_MORE;
}

static int m_space(unsigned char c)        /* apr_isspace */
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static int m_token(unsigned char c)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";

    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
        return 1;
    }
    return c != 0 && memchr(extra, c, sizeof(extra) - 1) != NULL;
}

static int m_vchar(unsigned char c)
{
    return c >= 0x21 && c != 0x7f;
}

static int m_ctl(unsigned char c)
{
    return c != '\t' && (c < 0x20 || c == 0x7f);
}

enum { RL_ERR, RL_09, RL_HEADERS, RL_DOUBT };

/* The request line's verdict, under Strict: RL_ERR (400 and no headers
 * read), RL_09 (an HTTP/0.9 request: no headers), RL_HEADERS, RL_DOUBT
 * (a target whose fate depends on apr_uri_parse: a scanner may stop). */
static int core_request_line(const unsigned char *l, size_t n)
{
    size_t i = 0, meth, mlen, uri, ulen, proto, plen;

    if (n == 0 || m_space(l[0])) {
        return RL_ERR;          /* empty (11 blank lines), or leading space */
    }
    meth = i;
    while (i < n && m_token(l[i])) {
        i++;
    }
    mlen = i - meth;
    if (mlen == 0 || i == n || l[i] != ' ' || i + 1 == n || m_space(l[i + 1])) {
        return RL_ERR;          /* bad method, no target, bad whitespace */
    }
    uri = ++i;
    while (i < n && m_vchar(l[i])) {
        i++;
    }
    ulen = i - uri;
    if (i < n && (l[i] != ' ' || i + 1 == n || m_space(l[i + 1]))) {
        return RL_ERR;          /* a control byte, bad or trailing space */
    }
    proto = i < n ? i + 1 : n;
    i = proto;
    while (i < n && m_vchar(l[i])) {
        i++;
    }
    plen = i - proto;
    if (i != n) {
        return RL_ERR;          /* text or space after the protocol */
    }
    if (plen == 0) {
        if (mlen != 3 || memcmp(l + meth, "GET", 3) != 0) {
            return RL_ERR;      /* HTTP/0.9 is GET only */
        }
    }
    else if (plen != 8 || memcmp(l + proto, "HTTP/", 5) != 0
             || !(l[proto + 5] >= '1' && l[proto + 5] <= '9')
             || l[proto + 6] != '.'
             || !(l[proto + 7] >= '0' && l[proto + 7] <= '9')) {
        return RL_ERR;
    }
    if (memchr(l + uri, '#', ulen)) {
        return RL_ERR;          /* a fragment */
    }
    if (mlen == 7 && memcmp(l + meth, "CONNECT", 7) == 0) {
        return RL_DOUBT;
    }
    if (l[uri] != '/' && !(ulen == 1 && l[uri] == '*' && mlen == 7
                           && memcmp(l + meth, "OPTIONS", 7) == 0)) {
        return RL_DOUBT;
    }
    return plen == 0 ? RL_09 : RL_HEADERS;
}

/* Where the core stops reading the head in b[0, end): *pos, 1; or 0 when
 * it would wait for more.  The head's own end counts as a stop, and so
 * does the request line of an RL_DOUBT target (where a scanner ends). */
static int core_stop(const unsigned char *b, size_t end,
                     const hyb_hs_limits_t *lim, size_t *pos)
{
    rd_t rd = { b, end, 0 };
    size_t l = 0, n = 0, last_len = 0, fields = 0;
    int blank = HYB_HS_MAX_BLANK, r, have_last = 0, bad_last = 0, v;

    do {
        r = core_getline(&rd, (size_t)lim->line_max + 2, &l, &n);
    } while (r == LINE_OK && n == 0 && --blank >= 0);
    if (r == LINE_MORE) {
        return 0;
    }
    *pos = rd.at;
    if (r == LINE_ERR || (v = core_request_line(b + l, n)) != RL_HEADERS) {
        return 1;
    }
    for (;;) {
        const unsigned char *f;

        r = core_getline(&rd, (size_t)lim->field_max + 2, &l, &n);
        if (r == LINE_MORE) {
            return 0;
        }
        *pos = rd.at;
        if (r == LINE_ERR) {
            return 1;
        }
        f = b + l;
        while (n > 1 && (f[n - 1] == ' ' || f[n - 1] == '\t')) {
            n--;
        }
        if (n > 0 && (f[0] == ' ' || f[0] == '\t')) {
            size_t k;

            if (!have_last || n == 1) {
                return 1;
            }
            while (f[1] == ' ' || f[1] == '\t') {
                f++;
                n--;
            }
            if (last_len + n + 1 >= lim->field_max) {
                return 1;
            }
            last_len += n;
            for (k = 1; k < n; k++) {
                bad_last |= m_ctl(f[k]);
            }
            continue;
        }
        if (have_last) {
            if ((lim->fields_max && ++fields > lim->fields_max) || bad_last) {
                return 1;
            }
        }
        if (n == 0) {
            return 1;
        }
        {
            size_t k = 0;

            while (k < n && m_token(f[k])) {
                k++;
            }
            bad_last = k == 0 || k == n || f[k] != ':';
            for (; !bad_last && k < n; k++) {
                bad_last |= m_ctl(f[k]);
            }
        }
        have_last = 1;
        last_len = n;
    }
}

/* The scanner's expected answer: DONE where the core stops, else MORE,
 * or TOO_BIG once limit bytes are there. */
static ref_t ref_http(const unsigned char *b, size_t len, size_t limit)
{
    size_t end = len < limit ? len : limit;
    ref_t r;

    if (core_stop(b, end, ctx.lim, &r.pos)) {
        r.res = HYB_HS_DONE;
        return r;
    }
    r.res = end >= limit ? HYB_HS_TOO_BIG : HYB_HS_MORE;
    r.pos = end;
    return r;
}

static ref_t ref_record(const unsigned char *b, size_t len, size_t limit)
{
    size_t total;
    ref_t r;

    r.pos = POS_ANY;
    if ((len >= 1 && (b[0] < 20 || b[0] > 24)) || (len >= 2 && b[1] != 3)) {
        r.res = HYB_HS_DONE;            /* implausible: handed over */
        return r;
    }
    if (len < 5) {
        if (len >= limit) {
            r.res = HYB_HS_TOO_BIG;
            r.pos = limit;
        }
        else {
            r.res = HYB_HS_MORE;
            r.pos = len;
        }
        return r;
    }
    total = 5 + ((size_t)b[3] << 8 | b[4]);
    if (total - 5 > HYB_HS_MAX_RECORD) {
        r.res = HYB_HS_DONE;
        return r;
    }
    if (total <= limit) {
        r.res = len >= total ? HYB_HS_DONE : HYB_HS_MORE;
        r.pos = len >= total ? total : len;
        return r;
    }
    r.res = len >= limit ? HYB_HS_TOO_BIG : HYB_HS_MORE;
    r.pos = len < limit ? len : limit;
    return r;
}

static ref_t ref_scan(int mode, const unsigned char *b, size_t len,
                      size_t limit)
{
    if (mode == HYB_HS_AUTO) {
        if (len == 0) {
            ref_t r = { limit == 0 ? HYB_HS_TOO_BIG : HYB_HS_MORE, 0 };
            return r;
        }
        mode = b[0] == 0x16 ? HYB_HS_RECORD : HYB_HS_HTTP;
    }
    return mode == HYB_HS_RECORD ? ref_record(b, len, limit)
                                 : ref_http(b, len, limit);
}

/* ------------------------------------------------------------- driving */

/* One call on s with a heap copy of exactly buf[0, len); every per-call
 * invariant is checked here. */
static hyb_hs_result_e call(hyb_hs_t *s, const unsigned char *buf,
                            size_t len, size_t limit)
{
    unsigned char *copy = malloc(len ? len : 1);
    hyb_hs_result_e r;
    ref_t want;
    int record;

    if (!copy) {
        abort();
    }
    if (len) {
        memcpy(copy, buf, len);
    }
    ctx.len = len;
    r = hyb_hs_scan(s, copy, len, limit);
    free(copy);

    want = ref_scan(ctx.mode, buf, len, limit);
    record = ctx.mode == HYB_HS_RECORD ||
             (ctx.mode == HYB_HS_AUTO && len > 0 && buf[0] == 0x16);
    CHECK(r == HYB_HS_MORE || r == HYB_HS_DONE || r == HYB_HS_TOO_BIG,
          r, s->pos, want.res, want.pos);
    CHECK(s->pos <= len, r, s->pos, want.res, want.pos);
    CHECK(s->pos <= limit, r, s->pos, want.res, want.pos);
    CHECK(r != HYB_HS_TOO_BIG || len >= limit, r, s->pos, want.res,
          want.pos);
    CHECK(r == want.res, r, s->pos, want.res, want.pos);
    CHECK(want.pos == POS_ANY || s->pos == want.pos, r, s->pos, want.res,
          want.pos);
    CHECK(r != HYB_HS_MORE || s->pos == len, r, s->pos, want.res, want.pos);
    if (len > 0) {
        CHECK(hyb_hs_tls(s) == record, r, hyb_hs_tls(s), want.res, record);
    }
    return r;
}

static hyb_hs_result_e fresh(int mode, const unsigned char *buf, size_t len,
                             size_t limit, size_t *pos)
{
    hyb_hs_t s;
    hyb_hs_result_e r;

    hyb_hs_init(&s, (hyb_hs_mode_e)mode);
    hyb_hs_set_limits(&s, ctx.lim);
    r = call(&s, buf, len, limit);
    *pos = s.pos;
    return r;
}

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;

    return x < y ? -1 : x > y;
}

/* Feed data[0, size) in the given non-decreasing prefix lengths (the last
 * is size), stopping at the first result other than MORE; then check the
 * stability against one call, and a restart on a shorter len. */
static void feed(int mode, const uint8_t *data, size_t size, size_t limit,
                 const size_t *cuts, size_t ncuts, uint64_t h)
{
    hyb_hs_t s;
    hyb_hs_result_e r = HYB_HS_MORE, one;
    size_t i, last = 0, pos, done_pos, k2;

    ctx.mode = mode;
    ctx.limit = limit;
    ctx.step = "incremental";
    hyb_hs_init(&s, (hyb_hs_mode_e)mode);
    hyb_hs_set_limits(&s, ctx.lim);
    for (i = 0; i < ncuts; i++) {
        last = cuts[i];
        r = call(&s, data, last, limit);
        if (r != HYB_HS_MORE) {
            break;
        }
    }
    done_pos = s.pos;

    /* DONE is final: more bytes change neither the result nor pos. */
    if (r == HYB_HS_DONE && last < size) {
        hyb_hs_t s3 = s;
        hyb_hs_result_e again;

        ctx.step = "more bytes after DONE";
        again = call(&s3, data, size, limit);
        CHECK(again == HYB_HS_DONE && s3.pos == done_pos, again, s3.pos,
              HYB_HS_DONE, done_pos);
    }

    /* Stability: one call on everything from a fresh state. */
    ctx.step = "one call on the whole input";
    one = fresh(mode, data, size, limit, &pos);
    switch (r) {
    case HYB_HS_DONE:
        CHECK(one == HYB_HS_DONE, one, pos, r, done_pos);
        if (ref_scan(mode, data, last, limit).pos != POS_ANY) {
            CHECK(pos == done_pos, one, pos, r, done_pos);
        }
        break;
    case HYB_HS_MORE:
        CHECK(one == HYB_HS_MORE && pos == done_pos, one, pos, r, done_pos);
        break;
    default: {
        int record = mode == HYB_HS_RECORD ||
                     (mode == HYB_HS_AUTO && size > 0 && data[0] == 0x16);

        if (record) {
            CHECK(one == HYB_HS_TOO_BIG || one == HYB_HS_DONE, one, pos, r,
                  done_pos);
        }
        else {
            CHECK(one == HYB_HS_TOO_BIG && pos == done_pos, one, pos, r,
                  done_pos);
        }
        break;
    }
    }

    /* A shorter len restarts: the same as a fresh state, with the same
     * bytes and with bytes from further on in the input. */
    if (last == 0) {
        return;
    }
    k2 = (size_t)(h % last);
    {
        hyb_hs_t s2 = s;
        hyb_hs_result_e a, b;
        size_t off = (size_t)((h >> 20) % (size - k2 + 1));
        size_t fpos;

        ctx.step = "restart, same bytes";
        a = call(&s2, data, k2, limit);
        b = fresh(mode, data, k2, limit, &fpos);
        CHECK(a == b, a, s2.pos, b, fpos);
        CHECK(a != HYB_HS_DONE || ref_scan(mode, data, k2, limit).pos == POS_ANY
              || s2.pos == fpos, a, s2.pos, b, fpos);

        ctx.step = "restart, other bytes";
        s2 = s;
        a = call(&s2, data + off, k2, limit);
        b = fresh(mode, data + off, k2, limit, &fpos);
        CHECK(a == b, a, s2.pos, b, fpos);
    }
}

/* The limit is an argument of each call: a smaller limit, then the large
 * one again, on one state, must still answer like the reference (which
 * has no state).  Only from MORE: calls after DONE are not specified. */
static void vary_limit(int mode, const uint8_t *data, size_t size,
                       size_t small)
{
    hyb_hs_t s;

    ctx.mode = mode;
    ctx.limit = small;
    ctx.step = "limit large, small, large again";
    hyb_hs_init(&s, (hyb_hs_mode_e)mode);
    hyb_hs_set_limits(&s, ctx.lim);
    if (call(&s, data, size, NO_LIMIT) != HYB_HS_MORE) {
        return;
    }
    if (call(&s, data, size, small) == HYB_HS_DONE) {
        return;
    }
    call(&s, data, size, NO_LIMIT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int modes[] = { HYB_HS_AUTO, HYB_HS_HTTP, HYB_HS_RECORD };
    uint64_t h = 1469598103934665603ULL;
    static hyb_hs_limits_t lim;
    static const hyb_hs_limits_t defaults = {
        HYB_HS_LINE_MAX, HYB_HS_FIELD_MAX, HYB_HS_FIELDS_MAX
    };
    size_t cuts[6], ncuts, bytewise[257], i, m;

    ctx.size = size;
    for (i = 0; i < size; i++) {
        h = (h ^ data[i]) * 1099511628211ULL;
    }
    h = mix(h ^ size);

    /* The core's limits: httpd's defaults for one input in four, else
     * small ones (0 included) that short inputs reach. */
    lim.line_max = (uint32_t)(mix(h + 11) % 48);
    lim.field_max = (uint32_t)(mix(h + 12) % 48);
    lim.fields_max = (uint32_t)(mix(h + 13) % 6);
    ctx.lim = (mix(h + 14) & 3) == 0 ? &defaults : &lim;

    /* Up to 4 cuts from the hash, sorted, then the whole input. */
    ncuts = 0;
    if (size > 0) {
        size_t n = 1 + (size_t)(h & 3);

        for (i = 0; i < n; i++) {
            cuts[ncuts++] = (size_t)(mix(h + i + 1) % (size + 1));
        }
        qsort(cuts, ncuts, sizeof(cuts[0]), cmp_size);
    }
    cuts[ncuts++] = size;
    for (i = 0; i <= size && i < 257; i++) {
        bytewise[i] = i;
    }

    for (m = 0; m < 3; m++) {
        int mode = modes[m];
        size_t limits[4], nlimits = 0, l, pos;
        hyb_hs_result_e r;

        /* Where does an unlimited scan end? */
        ctx.mode = mode;
        ctx.limit = NO_LIMIT;
        ctx.step = "unlimited";
        r = fresh(mode, data, size, NO_LIMIT, &pos);
        limits[nlimits++] = NO_LIMIT;
        limits[nlimits++] = (size_t)(mix(h + 7 + m) % (size + 8));
        if (r == HYB_HS_DONE && pos > 0 &&
            ref_scan(mode, data, size, NO_LIMIT).pos != POS_ANY) {
            limits[nlimits++] = pos;        /* just fits: DONE */
            limits[nlimits++] = pos - 1;    /* one short: TOO_BIG */
        }
        vary_limit(mode, data, size, limits[1]);
        for (l = 0; l < nlimits; l++) {
            feed(mode, data, size, limits[l], cuts, ncuts, mix(h + l));
            if (size < 257) {
                feed(mode, data, size, limits[l], bytewise, size + 1,
                     mix(h + l + 100));
            }
        }
    }
    return 0;
}
