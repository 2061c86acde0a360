/* handoff.c - passing a connection that no worker has touched yet from one
 * child to a sibling that has an idle worker for it.
 *
 * Owns the channel's protocol.  Each process slot has one receiving unix
 * datagram socket, bound to a name in Linux's abstract namespace made of
 * HYB_HANDOFF_KEY_LEN random bytes drawn by the parent for that slot
 * (hyb_handoff_tab_t); a child receives on its own slot's socket and sends
 * to any sibling's name with sendto() from one unbound socket of its own.
 * So a child holds two descriptors for the channel, whatever ServerLimit
 * is.  A message is one connection: its descriptor (SCM_RIGHTS) and a
 * hyb_handoff_msg_t.
 *
 * Abstract names have no permissions: any local process may send to one
 * (names show in /proc/net/unix).  The receiving socket has SO_PASSCRED,
 * so the kernel attaches the sender's real pid and uid to every message
 * (only a privileged sender can claim others), and a descriptor is kept
 * only when the caller's trust function accepts them (the listener: the
 * same uid, and the pid the scoreboard shows in the slot the message
 * names); any other descriptor is closed at once.  Nobody else can take a
 * name over: the parent binds it before the slot's first child starts and
 * holds the socket until the server stops, so the names are never free,
 * and a name not bound yet cannot be guessed.  Since the parent holds the
 * socket, a descriptor in flight to a child that exits waits in it for the
 * next child started in that slot, as it did in the socket pairs before.
 *
 * Threads: hyb_handoff_open_rx in the parent; send and receive on a
 * child's listener thread only.  No httpd state: the unit tests drive it
 * directly.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* struct ucred */
#endif
#include "handoff.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Messages looked at by one receive call at most (junk included). */
#define HYB_HANDOFF_RECV_SCAN 64
/* Descriptors one message may bring (only one is valid; the rest are
 * received to be closed). */
#define HYB_HANDOFF_FDS_MAX 4

/* The abstract socket address of a slot's key; returns its length. */
static socklen_t hyb_handoff_addr(struct sockaddr_un *sa,
                                  const unsigned char *key)
{
    static const char hex[] = "0123456789abcdef";
    char *p;
    int i;

    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    p = sa->sun_path + 1;                       /* [0] = 0: abstract */
    memcpy(p, "mpm_hybrid-handoff.", 19);
    p += 19;
    for (i = 0; i < HYB_HANDOFF_KEY_LEN; i++) {
        *p++ = hex[key[i] >> 4];
        *p++ = hex[key[i] & 15];
    }
    return (socklen_t)(p - (char *)sa);
}

/* Parent: the receiving socket of the slot whose name is key (non-blocking,
 * close-on-exec, SO_PASSCRED). */
apr_status_t hyb_handoff_open_rx(const unsigned char *key, int *fd)
{
    struct sockaddr_un sa;
    socklen_t len = hyb_handoff_addr(&sa, key);
    int one = 1;
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (s < 0) {
        return APR_FROM_OS_ERROR(errno);
    }
    if (setsockopt(s, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0
        || bind(s, (struct sockaddr *)&sa, len) != 0) {
        apr_status_t rv = APR_FROM_OS_ERROR(errno);
        close(s);
        return rv;
    }
    *fd = s;
    return APR_SUCCESS;
}

/* Child: the unbound socket it sends from. */
apr_status_t hyb_handoff_open_tx(int *fd)
{
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (s < 0) {
        return APR_FROM_OS_ERROR(errno);
    }
    *fd = s;
    return APR_SUCCESS;
}

/* Listener thread: one datagram of len bytes to the socket named key,
 * carrying descriptor fd (which stays open here) unless fd < 0.  0, or an
 * errno (EAGAIN when the receiver's queue is full, ECONNREFUSED when no
 * socket has that name).  hyb_handoff_send is the caller; the unit tests
 * also send what a stray writer would. */
int hyb_handoff_send_bytes(int tx, const unsigned char *key, int fd,
                           const void *bytes, size_t len)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = { (void *)bytes, len };
    struct sockaddr_un sa;
    struct msghdr msg;

    if (tx < 0 || !key) {
        return EINVAL;
    }
    memset(&msg, 0, sizeof(msg));
    memset(&ctl, 0, sizeof(ctl));
    msg.msg_name = &sa;
    msg.msg_namelen = hyb_handoff_addr(&sa, key);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (fd >= 0) {
        struct cmsghdr *cm;
        msg.msg_control = ctl.buf;
        msg.msg_controllen = sizeof(ctl.buf);
        cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    }
    if (sendmsg(tx, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)len) {
        return errno ? errno : EIO;
    }
    return 0;
}

/* Listener thread: hand fd over with m (the caller closes its copy). */
int hyb_handoff_send(int tx, const unsigned char *key, int fd,
                     const hyb_handoff_msg_t *m)
{
    return hyb_handoff_send_bytes(tx, key, fd, m, sizeof(*m));
}

/* What one received datagram brought. */
typedef struct hyb_handoff_in_t {
    hyb_handoff_msg_t m;
    int fds[HYB_HANDOFF_FDS_MAX];
    int nfds;
    int have_cred;
    struct ucred cred;
} hyb_handoff_in_t;

static void hyb_handoff_parse(struct msghdr *msg, hyb_handoff_in_t *in)
{
    struct cmsghdr *cm;

    for (cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET) {
            continue;
        }
        if (cm->cmsg_type == SCM_RIGHTS) {
            size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int), i;
            for (i = 0; i < n && in->nfds < HYB_HANDOFF_FDS_MAX; i++) {
                memcpy(&in->fds[in->nfds++], CMSG_DATA(cm) + i * sizeof(int),
                       sizeof(int));
            }
        }
        else if (cm->cmsg_type == SCM_CREDENTIALS
                 && cm->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
            memcpy(&in->cred, CMSG_DATA(cm), sizeof(struct ucred));
            in->have_cred = 1;
        }
    }
}

/* One datagram: -1 when none waits, 0 when it carried no descriptor, 1
 * with *fd and *m from a trusted sender, 2 when its descriptors were
 * refused (closed). */
static int hyb_handoff_recv_one(int rx, int *fd, hyb_handoff_msg_t *m,
                                hyb_handoff_trust_fn *trusted, void *baton)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(struct ucred))
                 + CMSG_SPACE(HYB_HANDOFF_FDS_MAX * sizeof(int))];
    } ctl;
    hyb_handoff_in_t in;
    struct iovec iov = { &in.m, sizeof(in.m) };
    struct msghdr msg;
    ssize_t n;
    int i;

    memset(&msg, 0, sizeof(msg));
    memset(&in, 0, sizeof(in));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof(ctl.buf);
    n = recvmsg(rx, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
        return -1;
    }
    hyb_handoff_parse(&msg, &in);
    if (in.nfds == 0) {
        return 0;
    }
    if (in.nfds == 1 && in.have_cred && n == (ssize_t)sizeof(in.m)
        && !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
        && trusted(in.cred.pid, in.cred.uid, in.m.from, baton)) {
        *fd = in.fds[0];
        *m = in.m;
        return 1;
    }
    for (i = 0; i < in.nfds; i++) {
        close(in.fds[i]);
    }
    return 2;
}

/* Listener thread: one connection from the receiving socket rx, if any.
 * 1 with *fd (close-on-exec) and *m set, 0 when nothing (more) waits or
 * HYB_HANDOFF_RECV_SCAN datagrams were looked at.  A descriptor whose
 * sender `trusted` does not accept, or that comes in a malformed message
 * (wrong length, several descriptors, no credentials), is closed and
 * counted in *refused. */
int hyb_handoff_recv(int rx, int *fd, hyb_handoff_msg_t *m,
                     hyb_handoff_trust_fn *trusted, void *baton,
                     int *refused)
{
    int i;

    if (rx < 0) {
        return 0;
    }
    for (i = 0; i < HYB_HANDOFF_RECV_SCAN; i++) {
        switch (hyb_handoff_recv_one(rx, fd, m, trusted, baton)) {
        case -1:
            return 0;
        case 1:
            return 1;
        case 2:
            (*refused)++;
            break;
        default:
            break;              /* no descriptor: nothing to serve */
        }
    }
    return 0;
}
