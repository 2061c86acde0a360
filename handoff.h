/* handoff.h - passing a connection's descriptor to a sibling process over
 * unix datagram sockets named in Linux's abstract namespace (see
 * handoff.c).  Needs APR only, no httpd. */
#ifndef HYB_HANDOFF_H
#define HYB_HANDOFF_H

#include <stddef.h>
#include <sys/types.h>

#include <apr_pools.h>
#include <apr_general.h>

/* What travels with a handed-over descriptor. */
typedef struct hyb_handoff_msg_t {
    unsigned char mode;         /* how its listening socket gathers heads
                                 * (hyb_hs_mode_e) */
    unsigned char hops;         /* handoffs so far, this one included */
    unsigned short pad;         /* zero */
    apr_uint32_t from;          /* the sender's process slot */
} hyb_handoff_msg_t;

/* A connection handed over this many times stays where it is. */
#define HYB_HANDOFF_MAX_HOPS 8

/* The random part of a slot's socket name. */
#define HYB_HANDOFF_KEY_LEN 16

/* Every slot's receiving socket: made by the parent, kept for the server's
 * lifetime (httpd's retained data), inherited by the children.  key is
 * filled once for all n slots before the first child starts, so every
 * child knows every sibling's name; rx[slot] is opened by the parent
 * before the first child of that slot is forked (-1 until then, and in
 * children for every slot but their own). */
typedef struct hyb_handoff_tab_t {
    int n;                                      /* first ServerLimit */
    int *rx;                                    /* n descriptors or -1 */
    unsigned char (*key)[HYB_HANDOFF_KEY_LEN];  /* n names */
} hyb_handoff_tab_t;

/* Decides whether a received descriptor came from a sibling: the sender's
 * pid and uid as the kernel reports them (SCM_CREDENTIALS) and the slot it
 * claims in its message.  Non-zero: trusted. */
typedef int hyb_handoff_trust_fn(pid_t pid, uid_t uid, apr_uint32_t from,
                                 void *baton);

apr_status_t hyb_handoff_open_rx(const unsigned char *key, int *fd);
apr_status_t hyb_handoff_open_tx(int *fd);
int hyb_handoff_send(int tx, const unsigned char *key, int fd,
                     const hyb_handoff_msg_t *m);
int hyb_handoff_send_bytes(int tx, const unsigned char *key, int fd,
                           const void *bytes, size_t len);
int hyb_handoff_recv(int rx, int *fd, hyb_handoff_msg_t *m,
                     hyb_handoff_trust_fn *trusted, void *baton,
                     int *refused);

#endif
