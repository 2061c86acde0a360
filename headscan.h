/* headscan.h - decides when the bytes a client has sent so far are enough
 * for a worker: a complete HTTP/1.x request head, or a complete TLS record.
 *
 * Owns: the incremental scan state of one connection (12 bytes, no buffer).
 * The caller peeks the socket (MSG_PEEK) into a buffer that always starts
 * at the first unread byte, so each call sees the bytes of the previous one
 * again, plus what arrived since; the state remembers how far it got, so
 * every byte is examined once.  Nothing is consumed or changed.
 *
 * What "complete" means, so that a worker never waits for bytes the core
 * would wait for (see hyb_hs_scan for the details):
 *   - HTTP: blank lines before the request line are skipped (as the core
 *     does); the head ends with the first empty line after it ("\n" or
 *     "\r\n" alone); a request line whose last word is not HTTP/x (HTTP/0.9
 *     or garbage) ends the head by itself, because the core answers it
 *     without reading headers.
 *   - TLS (first byte 0x16 in auto mode, or record mode): the 5-byte record
 *     header and the record length it announces.  Anything that is not a
 *     plausible record is handed over at once.
 * Being early is harmless (a worker reads the rest); being late is not, so
 * every doubt resolves to HYB_HS_DONE.
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

typedef struct hyb_hs_t {
    uint32_t pos;           /* bytes examined so far */
    uint32_t line_start;    /* offset of the current line */
    uint32_t seen;          /* len of the last call */
    uint8_t mode;           /* hyb_hs_mode_e once decided */
    uint8_t first_mode;     /* the mode given to hyb_hs_init */
    uint8_t in_head;        /* the request line has been seen */
    uint8_t blank;          /* blank lines skipped so far */
    uint8_t done;           /* HYB_HS_DONE was returned */
} hyb_hs_t;

void hyb_hs_init(hyb_hs_t *s, hyb_hs_mode_e mode);

/* 1 when the scan is (or, in auto mode, was decided to be) a TLS record. */
static inline int hyb_hs_tls(const hyb_hs_t *s)
{
    return s->mode == HYB_HS_RECORD;
}

/* buf[0, len) are the bytes available from the start of the head (or
 * record); each call passes the bytes of the previous one again plus what
 * arrived since.  A len shorter than the previous call's means the bytes
 * were consumed: the scan restarts as if hyb_hs_init had been called with
 * the same mode.  limit bounds how far to look: a head or record that does
 * not end within limit bytes gives HYB_HS_TOO_BIG once limit bytes are
 * there (HYB_HS_MORE before).  A limit below what was already examined
 * also restarts the scan, so answers never depend on earlier limits.  On
 * HYB_HS_DONE for a complete head or record, s->pos is its length;
 * HYB_HS_DONE is final: later calls return it again with the same pos
 * (unless they restart). */
hyb_hs_result_e hyb_hs_scan(hyb_hs_t *s, const unsigned char *buf,
                            size_t len, size_t limit);

#endif
