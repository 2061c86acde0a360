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
 *   - each call agrees with a plain reference model of headscan.h
 *     (ref_scan below, written from the header's rules, line by line with
 *     no incremental state): same result, and the same pos unless the
 *     result is a handover of an implausible TLS record (pos unspecified);
 *     MORE has pos == len;
 *   - TOO_BIG only once limit bytes were available (len >= limit);
 *   - stability: the incremental feed, stopped at its first DONE or
 *     TOO_BIG, ends like a single call on the whole input from a fresh
 *     state: DONE with the same pos, MORE with the same pos, TOO_BIG with
 *     the same pos in HTTP.  In record mode an incremental TOO_BIG (limit
 *     < 5: the header is not all there) may become DONE once the bytes
 *     that show an implausible header are there; both hand over;
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
} ctx;

static void fail(const char *what, int line, int got, size_t got_pos,
                 int want, size_t want_pos)
{
    fprintf(stderr, "fuzz_headscan.c:%d: %s\n  step %s, mode %d, limit %zu,"
            " len %zu, input %zu bytes: got result %d pos %zu, want %d "
            "pos %zd\n", line, what, ctx.step, ctx.mode, ctx.limit, ctx.len,
            ctx.size, got, got_pos, want,
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

/* The last word (after the last SP or HT) starts with "HTTP/", in any
 * case; a line of one word has no version. */
static int ref_has_version(const unsigned char *l, size_t n)
{
    static const char v[] = "http/";
    size_t i, w = n;
    int sp = 0;

    for (i = 0; i < n; i++) {
        if (l[i] == ' ' || l[i] == '\t') {
            sp = 1;
            w = i + 1;
        }
    }
    if (!sp || n - w < 5) {
        return 0;
    }
    for (i = 0; i < 5; i++) {
        unsigned char c = l[w + i];

        if (c >= 'A' && c <= 'Z') {
            c = (unsigned char)(c - 'A' + 'a');
        }
        if (c != (unsigned char)v[i]) {
            return 0;
        }
    }
    return 1;
}

static ref_t ref_http(const unsigned char *b, size_t len, size_t limit)
{
    size_t end = len < limit ? len : limit, start = 0, i;
    int in_head = 0, blank = 0;
    ref_t r;

    for (i = 0; i < end; i++) {
        size_t n;

        if (b[i] != '\n') {
            continue;
        }
        n = i - start;
        if (n > 0 && b[start + n - 1] == '\r') {
            n--;
        }
        if (n == 0) {
            if (in_head || ++blank > HYB_HS_MAX_BLANK) {
                r.res = HYB_HS_DONE;
                r.pos = i + 1;
                return r;
            }
        }
        else if (!in_head) {
            in_head = 1;
            if (!ref_has_version(b + start, n)) {
                r.res = HYB_HS_DONE;
                r.pos = i + 1;
                return r;
            }
        }
        start = i + 1;
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
    for (i = 0; i < ncuts; i++) {
        last = cuts[i];
        r = call(&s, data, last, limit);
        if (r != HYB_HS_MORE) {
            break;
        }
    }
    done_pos = s.pos;

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
    size_t cuts[6], ncuts, bytewise[257], i, m;

    ctx.size = size;
    for (i = 0; i < size; i++) {
        h = (h ^ data[i]) * 1099511628211ULL;
    }
    h = mix(h ^ size);

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
