/* lsnap.h - the snapshot of the connections a child's listener holds (no
 * worker has them), for the ExtendedStatus table of /server-status: one
 * fixed-size area per process slot in shared memory, under a sequence
 * counter (seqlock).
 *
 * Owns the layout of hyb_lsnap_area_t and hyb_lsnap_t, the seqlock
 * (hyb_lsnap_publish, hyb_lsnap_read) and the pure functions around it
 * (when to refresh, the rows left out per state, the address text),
 * unit-tested in tests/unit/test_lsnap.c.  The segment is created by the
 * parent (status.c, hyb_lsnap_for); ltable.c fills the private snapshot
 * on the listener thread; status.c renders it.
 *
 * Threads: an area has one writer, the listener thread of the slot's child
 * (hyb_lsnap_publish), and any number of readers, the status handler on
 * worker threads of any child (hyb_lsnap_read, no lock: it copies and
 * retries a bounded number of times while a write is under way).  Every
 * word of an area is an atomic access: stores with release, loads with
 * acquire, the sequence counter around them (lsnap.c).  A
 * reader trusts nothing it copied: the row count is bounded and every
 * string terminated before use (a child can write anything here).
 *
 * No httpd header: the unit tests build it with APR alone.
 */
#ifndef HYB_LSNAP_H
#define HYB_LSNAP_H

#include <apr.h>
#include <apr_time.h>

#include "metrics.h"        /* hyb_mx_state_e: the listener's states */

#define HYB_LSNAP_ROWS   100    /* rows per child; the rest are counted */
#define HYB_LSNAP_IPLEN  46     /* INET6_ADDRSTRLEN, with its NUL */
#define HYB_LSNAP_ADDRLEN (HYB_LSNAP_IPLEN + 10) /* "[" ip "]:" port NUL */

/* The listener refreshes its area at most this often. */
#define HYB_LSNAP_EVERY  apr_time_from_sec(1)

/* Bounded copy attempts of a reader before it gives up ("busy"). */
#define HYB_LSNAP_TRIES  200

/* One connection.  64 bytes: copied as 8 words. */
typedef union hyb_lsnap_row_t {
    struct {
        apr_int64_t since;      /* apr_time_t it took this state */
        apr_uint32_t bytes;     /* gathering: bytes of head so far */
        apr_uint16_t port;      /* client port */
        unsigned char state;    /* hyb_mx_state_e, < HYB_MX_WORKER */
        char ip[HYB_LSNAP_IPLEN + 1];   /* client address, NUL-terminated */
    } f;
    apr_uint64_t w[8];
} hyb_lsnap_row_t;

/* What the snapshot says of its child.  Words, copied as words. */
typedef struct hyb_lsnap_head_t {
    apr_uint64_t pid;           /* the child that wrote it */
    apr_uint64_t taken;         /* apr_time_t of the walk; 0: never */
    apr_uint64_t nrows;         /* rows[0 .. nrows) are valid */
    apr_uint64_t count[HYB_MX_WORKER];  /* connections per state, shown
                                         * or not, at the walk */
} hyb_lsnap_head_t;

#define HYB_LSNAP_HEAD_WORDS (sizeof(hyb_lsnap_head_t) / sizeof(apr_uint64_t))

/* A private copy: the listener's buffer, or what a reader copied. */
typedef struct hyb_lsnap_t {
    hyb_lsnap_head_t h;
    hyb_lsnap_row_t rows[HYB_LSNAP_ROWS];
} hyb_lsnap_t;

/* One process slot in shared memory. */
typedef struct hyb_lsnap_area_t {
    apr_uint64_t seq;           /* odd while the writer is in it */
    apr_uint64_t pad[7];
    hyb_lsnap_t s;
} __attribute__((aligned(64))) hyb_lsnap_area_t;

/* status.c: the area of a slot, NULL without the segment. */
hyb_lsnap_area_t *hyb_lsnap_for(int slot);

/* ---- writer: the listener thread of the slot's child ------------------- */

/* Pure: is a refresh due?  extended: ExtendedStatus On; last: when the
 * area was last written (0: never); shown: rows it holds; parked: the
 * connections the listener holds now.  Due once HYB_LSNAP_EVERY has
 * passed (or the clock went back), and at once when the last rows are
 * all gone (so an idle child, whose loop may then sleep for long, does
 * not keep showing them). */
int hyb_lsnap_due(int extended, apr_time_t now, apr_time_t last,
                  apr_uint64_t shown, apr_uint64_t parked);

/* Fill one row; ip may be NULL or empty (unknown). */
void hyb_lsnap_row_set(hyb_lsnap_row_t *row, hyb_mx_state_e state,
                       apr_time_t since, apr_uint32_t bytes,
                       const char *ip, apr_uint16_t port);

/* Copy the head and the first s->h.nrows rows into the area under its
 * sequence counter (s->h.nrows must be <= HYB_LSNAP_ROWS). */
void hyb_lsnap_publish(hyb_lsnap_area_t *a, const hyb_lsnap_t *s);

/* ---- readers: any thread ----------------------------------------------- */

/* Copy the area into *out.  Returns 1 with a consistent copy (nrows
 * bounded, strings terminated, states checked), 0 when every one of
 * `tries` attempts met a write under way. */
int hyb_lsnap_read(const hyb_lsnap_area_t *a, hyb_lsnap_t *out, int tries);

/* Pure: connections per state left out of the rows (count minus rows of
 * that state, never below 0) in more[]; returns their sum. */
apr_uint64_t hyb_lsnap_more(const hyb_lsnap_t *s,
                            apr_uint64_t more[HYB_MX_WORKER]);

/* Pure: "1.2.3.4:80", "[::1]:80", or "-" when the address is unknown;
 * buf has HYB_LSNAP_ADDRLEN bytes. */
const char *hyb_lsnap_addr(char *buf, const hyb_lsnap_row_t *row);

/* The state's name on the page: gathering, keep-alive, write-completion,
 * wait-io, lingering-close ("?" out of range). */
const char *hyb_lsnap_state_name(unsigned int state);

#endif
