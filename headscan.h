/* headscan.h - decides when the bytes a client has sent so far are enough
 * for a worker: a complete HTTP/1.x request head, a head the core would
 * already reject, or a complete TLS record.
 *
 * Owns: the incremental scan state of one connection (40 bytes on LP64,
 * no buffer; the limits are kept by pointer).  The caller peeks the socket
 * (MSG_PEEK) into a buffer that always starts at the first unread byte, so
 * each call sees the bytes of the previous one again, plus what arrived
 * since; the state remembers how far it got, so no byte is scanned again
 * by a later call (a line is looked at when its LF arrives: memchr finds
 * the LF, one pass checks the line).  Nothing is consumed or changed.
 *
 * What "enough" means, so that a worker never waits for bytes the core
 * would wait for, and the listener never holds a head the core would have
 * answered already (see hyb_hs_scan):
 *   - HTTP: the head ends with the first empty line after the request
 *     line, or at the first byte where httpd's core (server/protocol.c,
 *     HttpProtocolOptions Strict, the default) stops reading and answers:
 *     a line ending in a bare LF, a NUL in a line, a line longer than
 *     LimitRequestLine / LimitRequestFieldSize (at the byte the core's
 *     buffer overflows), more than 10 blank lines before the request line,
 *     a request line that is not "token SP target SP HTTP/d.d" (HTTP/0.9,
 *     bad method, bad whitespace, lowercase or missing version, control
 *     bytes), an obs-fold line right after the request line or of blanks
 *     only, a folded field over LimitRequestFieldSize, and, at the next
 *     line that is not a fold (where the core checks it), a field without
 *     a token and a colon, with control bytes, or past LimitRequestFields.
 *     A line the core accepts only under HttpProtocolOptions Unsafe, and a
 *     request target other than "/..." (or "OPTIONS *") without '#', also
 *     end the head: the worker then reads the rest.
 *   - TLS (first byte 0x16 in auto mode, or record mode): the 5-byte record
 *     header and the record length it announces.  Anything that is not a
 *     plausible record is handed over at once.
 * Being early is harmless (a worker reads the rest, costing it the wait);
 * being late is not, so every doubt resolves to HYB_HS_DONE.  A line is
 * not judged before its LF (or its length limit) because the core does not
 * judge it earlier either: a client that stalls in it gets the core's
 * timeout from the listener, without holding a worker.
 *
 * Threads: none; the state belongs to whichever thread owns the connection.
 */
#ifndef HYB_HEADSCAN_H
#define HYB_HEADSCAN_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    HYB_HS_AUTO = 0,            /* first byte decides: 0x16 is TLS */
    HYB_HS_HTTP,                /* an HTTP/1.x head */
    HYB_HS_RECORD               /* one TLS record */
} hyb_hs_mode_e;

typedef enum {
    HYB_HS_MORE = 0,            /* not enough yet: wait for more bytes */
    HYB_HS_DONE,                /* enough: hand the connection to a worker */
    HYB_HS_TOO_BIG              /* limit bytes there, not done: hand it over */
} hyb_hs_result_e;

/* Blank lines the core skips before a request line; more than this is
 * handed over (the core then answers 400). */
#define HYB_HS_MAX_BLANK 10
/* Largest record length (ciphertext plus slack) accepted as plausible. */
#define HYB_HS_MAX_RECORD (16384 + 2048)

/* The core's limits for one server (server_rec's limit_req_*). */
typedef struct hyb_hs_limits_t {
    uint32_t line_max;     /* LimitRequestLine: bytes of the request line, CRLF excluded */
    uint32_t field_max;    /* LimitRequestFieldSize: bytes of one header field line */
    uint32_t fields_max;   /* LimitRequestFields; 0: no limit */
} hyb_hs_limits_t;

typedef struct hyb_hs_t {
    const hyb_hs_limits_t *lim; /* never NULL after hyb_hs_init */
    uint32_t pos;           /* bytes examined so far */
    uint32_t line_start;    /* offset of the current line */
    uint32_t seen;          /* len of the last call */
    uint32_t fields;        /* header fields the core has counted */
    uint32_t field_len;     /* bytes of the last field, its folds included */
    uint8_t mode;           /* hyb_hs_mode_e once decided */
    uint8_t first_mode;     /* the mode given to hyb_hs_init */
    uint8_t in_head;        /* the request line has been seen */
    uint8_t blank;          /* blank lines skipped so far */
    uint8_t done;           /* HYB_HS_DONE was returned */
    uint8_t field;          /* HYB_HS_FIELD_* bits of the last field */
} hyb_hs_t;

/* s->field: there is a last field line (the core's last_field), and it is
 * malformed (rejected once the next line that is not a fold arrives). */
#define HYB_HS_FIELD_SEEN 1
#define HYB_HS_FIELD_BAD  2

/* httpd's defaults (DEFAULT_LIMIT_REQUEST_LINE, _FIELDSIZE, _FIELDS). */
#define HYB_HS_LINE_MAX   8190
#define HYB_HS_FIELD_MAX  8190
#define HYB_HS_FIELDS_MAX 100

/* Starts a scan with httpd's default limits. */
void hyb_hs_init(hyb_hs_t *s, hyb_hs_mode_e mode);

/* Call after hyb_hs_init.  lim must outlive the scan (it is kept by
 * pointer); NULL means httpd's defaults (8190, 8190, 100).  A scan that
 * restarts (shorter len, lower limit) keeps its limits. */
void hyb_hs_set_limits(hyb_hs_t *s, const hyb_hs_limits_t *lim);

/* 1 when the scan is (or, in auto mode, was decided to be) a TLS record. */
static inline int hyb_hs_tls(const hyb_hs_t *s)
{
    return s->mode == HYB_HS_RECORD;
}

/* buf[0, len) are the bytes available from the start of the head (or
 * record); each call passes the bytes of the previous one again plus what
 * arrived since.  A len shorter than the previous call's means the bytes
 * were consumed: the scan restarts as if hyb_hs_init had been called with
 * the same mode (and the same limits).  limit bounds how far to look: a head or record that does
 * not end within limit bytes gives HYB_HS_TOO_BIG once limit bytes are
 * there (HYB_HS_MORE before).  A limit below what was already examined
 * also restarts the scan, so answers never depend on earlier limits.  On
 * HYB_HS_DONE for a complete head or record, s->pos is its length; for a
 * head the core rejects, the number of bytes the core reads before it
 * answers (the bad line's LF, or the byte that overflows a line limit).
 * HYB_HS_DONE is final: later calls return it again with the same pos
 * (unless they restart). */
hyb_hs_result_e hyb_hs_scan(hyb_hs_t *s, const unsigned char *buf,
                            size_t len, size_t limit);

#endif
