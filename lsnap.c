/* lsnap.c - the seqlock and the pure parts of the listener's connection
 * snapshot (lsnap.h): publishing it, copying it back, and the arithmetic
 * and text the status page needs.
 *
 * Owns no state.  Threads: hyb_lsnap_publish runs on the listener thread
 * of the area's child (its one writer); hyb_lsnap_read on any thread; the
 * rest are pure.  The shared segment is made in status.c.
 */
#include "lsnap.h"

#include <apr_thread_proc.h>
#include <stdio.h>
#include <string.h>

typedef char hyb_lsnap_row_is_8_words[sizeof(hyb_lsnap_row_t) == 64 ? 1 : -1];

static const char *const hyb_lsnap_names[HYB_MX_WORKER] = {
    "gathering", "keep-alive", "write-completion", "wait-io",
    "lingering-close"
};

const char *hyb_lsnap_state_name(unsigned int state)
{
    return state < HYB_MX_WORKER ? hyb_lsnap_names[state] : "?";
}

int hyb_lsnap_due(int extended, apr_time_t now, apr_time_t last,
                  apr_uint64_t shown, apr_uint64_t parked)
{
    if (!extended) {
        return 0;
    }
    if (!last || now < last || now - last >= HYB_LSNAP_EVERY) {
        return 1;
    }
    return shown > 0 && parked == 0;
}

void hyb_lsnap_row_set(hyb_lsnap_row_t *row, hyb_mx_state_e state,
                       apr_time_t since, apr_uint32_t bytes,
                       const char *ip, apr_uint16_t port)
{
    memset(row, 0, sizeof(*row));
    row->f.since = since;
    row->f.bytes = bytes;
    row->f.port = port;
    row->f.state = (unsigned char)state;
    if (ip) {
        apr_size_t n = strlen(ip);
        if (n > HYB_LSNAP_IPLEN) {
            n = HYB_LSNAP_IPLEN;
        }
        memcpy(row->f.ip, ip, n);
    }
}

static void hyb_lsnap_store(apr_uint64_t *to, const apr_uint64_t *from,
                            apr_size_t words)
{
    apr_size_t i;

    for (i = 0; i < words; i++) {
        __atomic_store_n(&to[i], from[i], __ATOMIC_RELEASE);
    }
}

static void hyb_lsnap_load(apr_uint64_t *to, const apr_uint64_t *from,
                           apr_size_t words)
{
    apr_size_t i;

    for (i = 0; i < words; i++) {
        to[i] = __atomic_load_n(&from[i], __ATOMIC_ACQUIRE);
    }
}

/* Writer: the counter odd, the words, the counter even.  The words are
 * stored with release and loaded with acquire (plain moves on x86), so a
 * reader that saw any new word also sees the odd counter on its second
 * look; no fence (ThreadSanitizer does not model fences).  See Boehm, "Can
 * seqlocks get along with programming language memory models?" (2012). */
void hyb_lsnap_publish(hyb_lsnap_area_t *a, const hyb_lsnap_t *s)
{
    apr_uint64_t seq = __atomic_load_n(&a->seq, __ATOMIC_RELAXED);
    apr_uint64_t nrows = s->h.nrows;

    if (nrows > HYB_LSNAP_ROWS) {
        nrows = HYB_LSNAP_ROWS;
    }
    __atomic_store_n(&a->seq, seq | 1, __ATOMIC_RELAXED);
    hyb_lsnap_store((apr_uint64_t *)&a->s.h, (const apr_uint64_t *)&s->h,
                    HYB_LSNAP_HEAD_WORDS);
    __atomic_store_n(&a->s.h.nrows, nrows, __ATOMIC_RELEASE);
    hyb_lsnap_store(a->s.rows[0].w, s->rows[0].w, nrows * 8);
    __atomic_store_n(&a->seq, (seq | 1) + 1, __ATOMIC_RELEASE);
}

/* One attempt: 1 when no write overlapped it. */
static int hyb_lsnap_try(const hyb_lsnap_area_t *a, hyb_lsnap_t *out)
{
    apr_uint64_t s1 = __atomic_load_n(&a->seq, __ATOMIC_ACQUIRE), s2;
    apr_uint64_t nrows;

    if (s1 & 1) {
        return 0;
    }
    hyb_lsnap_load((apr_uint64_t *)&out->h, (const apr_uint64_t *)&a->s.h,
                   HYB_LSNAP_HEAD_WORDS);
    nrows = out->h.nrows <= HYB_LSNAP_ROWS ? out->h.nrows : HYB_LSNAP_ROWS;
    hyb_lsnap_load(out->rows[0].w, a->s.rows[0].w, nrows * 8);
    s2 = __atomic_load_n(&a->seq, __ATOMIC_RELAXED);
    return s1 == s2;
}

/* What a reader copied, made safe to print whatever the writer put. */
static void hyb_lsnap_sanitize(hyb_lsnap_t *s)
{
    apr_uint64_t i;

    if (s->h.nrows > HYB_LSNAP_ROWS) {
        s->h.nrows = HYB_LSNAP_ROWS;
    }
    for (i = 0; i < s->h.nrows; i++) {
        hyb_lsnap_row_t *row = &s->rows[i];
        row->f.ip[HYB_LSNAP_IPLEN] = '\0';
        if (row->f.state >= HYB_MX_WORKER) {
            row->f.state = HYB_MX_WORKER;   /* printed as "?" */
        }
    }
}

int hyb_lsnap_read(const hyb_lsnap_area_t *a, hyb_lsnap_t *out, int tries)
{
    int i;

    for (i = 0; i < tries; i++) {
        if (hyb_lsnap_try(a, out)) {
            hyb_lsnap_sanitize(out);
            return 1;
        }
        apr_thread_yield();
    }
    return 0;
}

apr_uint64_t hyb_lsnap_more(const hyb_lsnap_t *s,
                            apr_uint64_t more[HYB_MX_WORKER])
{
    apr_uint64_t shown[HYB_MX_WORKER] = { 0 }, sum = 0, i;
    int k;

    for (i = 0; i < s->h.nrows && i < HYB_LSNAP_ROWS; i++) {
        if (s->rows[i].f.state < HYB_MX_WORKER) {
            shown[s->rows[i].f.state]++;
        }
    }
    for (k = 0; k < HYB_MX_WORKER; k++) {
        more[k] = s->h.count[k] > shown[k] ? s->h.count[k] - shown[k] : 0;
        sum += more[k];
    }
    return sum;
}

const char *hyb_lsnap_addr(char *buf, const hyb_lsnap_row_t *row)
{
    const char *ip = row->f.ip;
    apr_size_t n = strnlen(ip, HYB_LSNAP_IPLEN);

    if (!n) {
        return "-";
    }
    snprintf(buf, HYB_LSNAP_ADDRLEN, memchr(ip, ':', n) ? "[%.*s]:%u" : "%.*s:%u",
             (int)n, ip, (unsigned int)row->f.port);
    return buf;
}
