/* sock.h - what the listener and the workers ask a connected socket
 * without reading from it (or, for lingering close, reading to discard):
 * is a read possible, is a request head (or TLS record) whole, and the
 * one test of "would block" that both use.
 *
 * Owns: leaf functions over a descriptor (no httpd, no libevent; tested
 * with socket pairs).  Nothing is kept between calls but the caller's
 * scan state.
 *
 * Threads: any thread, on a descriptor it owns at the time.
 */
#ifndef HYB_SOCK_H
#define HYB_SOCK_H

#include <stddef.h>
#include <apr.h>

#include "headscan.h"

/* errno of a non-blocking recv that found nothing (EAGAIN, EWOULDBLOCK)
 * or was interrupted (EINTR): try again later, the socket is fine. */
int hyb_sock_would_block(int err);

/* 1 when a read would not block (data, EOF or an error). */
int hyb_sock_readable(int fd);

/* Lingering close: read and discard what is there, at most 128 reads of
 * 8 KiB; 1 when the peer is done (EOF or an error), 0 when the socket is
 * empty for now or the bound was reached. */
int hyb_sock_drain(int fd);

/* 1 when the peer has closed its side (or the socket has an error): no
 * more bytes will come after those already in the socket, which MSG_PEEK
 * returns without ever saying so. */
int hyb_sock_closed(int fd);

typedef enum {
    HYB_SOCK_NOTHING = 0,       /* no byte yet */
    HYB_SOCK_PART,              /* part of a head (HYB_HS_MORE) */
    HYB_SOCK_WHOLE,             /* a whole head or record (HYB_HS_DONE) */
    HYB_SOCK_TOO_BIG,           /* `max` bytes there, no end (HYB_HS_TOO_BIG) */
    HYB_SOCK_GONE               /* EOF or an error */
} hyb_sock_head_e;

/* Look at what the client has sent, with MSG_PEEK into buf (nothing is
 * consumed), and scan it with hs (hyb_hs_init'ed by the caller, kept
 * across calls).  First `first` bytes are looked at; only when they were
 * all there and the scan wants more is the look repeated with up to `max`
 * (buf holds max bytes; max also bounds the scan), so that a body behind
 * a head is not copied on every look.  *seen: bytes available at the last
 * look (unchanged when none). */
hyb_sock_head_e hyb_sock_peek_head(int fd, hyb_hs_t *hs, unsigned char *buf,
                                   size_t first, size_t max,
                                   apr_uint32_t *seen);

#endif
