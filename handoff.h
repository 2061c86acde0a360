/* handoff.h - passing a connection's descriptor to a sibling process over
 * a datagram socket pair (see handoff.c).  Needs APR only, no httpd. */
#ifndef HYB_HANDOFF_H
#define HYB_HANDOFF_H

#include <stddef.h>

#include <apr_pools.h>

/* What travels with a handed-over descriptor. */
typedef struct hyb_handoff_msg_t {
    unsigned char mode;         /* how its listening socket gathers heads
                                 * (hyb_hs_mode_e) */
    unsigned char hops;         /* handoffs so far, this one included */
} hyb_handoff_msg_t;

/* A connection handed over this many times stays where it is. */
#define HYB_HANDOFF_MAX_HOPS 8

apr_status_t hyb_handoff_pairs(int **fds, int n, apr_pool_t *p);
int hyb_handoff_send(int wfd, int fd, const hyb_handoff_msg_t *m);
int hyb_handoff_send_bytes(int wfd, int fd, const void *bytes, size_t len);
int hyb_handoff_recv(int rfd, int *fd, hyb_handoff_msg_t *m);

#endif
