/* handoff.c - passing a connection that no worker has touched yet from one
 * child to a sibling that has an idle worker for it.
 *
 * Owns the socket pairs' protocol: one SOCK_DGRAM pair per process slot
 * (AF_UNIX, SCM_RIGHTS), made once by the parent and kept across restarts
 * in the retained data, like the scoreboard; every child inherits all of
 * them, receives on its own slot's end (fds[2 * slot]) and sends to a
 * sibling's (fds[2 * slot + 1]).  A message is one connection: its
 * descriptor and a hyb_handoff_msg_t.  A descriptor left in the pair of a
 * child that exited is read by the next child started in that slot.
 *
 * Threads: hyb_handoff_pairs in the parent during configuration; send and
 * receive on a child's listener thread only.  No httpd state: the unit
 * tests drive it directly.
 */
#include "handoff.h"

#include <sys/socket.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Parent, post_config: n socket pairs in *fds (2n descriptors, non-blocking
 * and close-on-exec), allocated from p; none on failure. */
apr_status_t hyb_handoff_pairs(int **fds, int n, apr_pool_t *p)
{
    int *v = apr_palloc(p, 2 * n * sizeof(int));
    int i;

    for (i = 0; i < n; i++) {
        if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                       &v[2 * i]) != 0) {
            apr_status_t rv = APR_FROM_OS_ERROR(errno);
            while (--i >= 0) {
                close(v[2 * i]);
                close(v[2 * i + 1]);
            }
            return rv;
        }
    }
    *fds = v;
    return APR_SUCCESS;
}

/* Listener thread: one datagram of len bytes on the sending end wfd,
 * carrying descriptor fd (which stays open here) unless fd < 0.  0, or an
 * errno (EAGAIN when the receiver's pair is full).  hyb_handoff_send is the
 * caller; the unit tests also send what an older build or a stray writer
 * would. */
int hyb_handoff_send_bytes(int wfd, int fd, const void *bytes, size_t len)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = { (void *)bytes, len };
    struct msghdr msg;

    if (wfd < 0) {
        return EINVAL;
    }
    memset(&msg, 0, sizeof(msg));
    memset(&ctl, 0, sizeof(ctl));
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
    if (sendmsg(wfd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)len) {
        return errno ? errno : EIO;
    }
    return 0;
}

/* Listener thread: hand fd over with m (the caller closes its copy). */
int hyb_handoff_send(int wfd, int fd, const hyb_handoff_msg_t *m)
{
    return hyb_handoff_send_bytes(wfd, fd, m, sizeof(*m));
}

/* Listener thread: one connection from the receiving end rfd, if any.
 * 1 with *fd (close-on-exec) and *m set, 0 when nothing waits.  A message
 * shorter than hyb_handoff_msg_t (an older build's: the mode byte alone)
 * counts as handed over HYB_HANDOFF_MAX_HOPS times. */
int hyb_handoff_recv(int rfd, int *fd, hyb_handoff_msg_t *m)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = { m, sizeof(*m) };
    struct msghdr msg;
    struct cmsghdr *cm;
    ssize_t n;

    if (rfd < 0) {
        return 0;
    }
    for (;;) {
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctl.buf;
        msg.msg_controllen = sizeof(ctl.buf);
        n = recvmsg(rfd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            return 0;
        }
        cm = CMSG_FIRSTHDR(&msg);
        if (n >= 1 && cm && cm->cmsg_level == SOL_SOCKET
            && cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len == CMSG_LEN(sizeof(int))) {
            memcpy(fd, CMSG_DATA(cm), sizeof(int));
            if (n < (ssize_t)sizeof(*m)) {
                m->hops = HYB_HANDOFF_MAX_HOPS;
            }
            return 1;
        }
        /* a message without a descriptor: nothing to serve, read on */
    }
}
