/* handoff.c - passing a connection that no worker has touched yet from one
 * child to a sibling that has an idle worker for it.
 *
 * Owns one datagram socket pair per process slot (SCM_RIGHTS over
 * AF_UNIX), made once by the parent and kept across restarts in the
 * retained data, like the scoreboard: every child inherits all of them,
 * receives on its own slot's end and sends to a sibling's.  A message is
 * one connection: its descriptor and one byte, how its listening socket
 * gathers heads.  A descriptor left in the pair of a child that exited is
 * read by the next child started in that slot.
 *
 * Threads: hyb_handoff_init in the parent during configuration; send and
 * receive on a child's listener thread only.
 */
#include "hyb.h"

#include <sys/socket.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Parent, post_config: once per server lifetime (sized for the first
 * ServerLimit, which restarts cannot change). */
apr_status_t hyb_handoff_init(hyb_retained_t *r)
{
    int i;

    if (r->handoff) {
        return APR_SUCCESS;
    }
    r->handoff = apr_palloc(ap_pglobal, 2 * r->first_server_limit * sizeof(int));
    for (i = 0; i < r->first_server_limit; i++) {
        if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                       &r->handoff[2 * i]) != 0) {
            apr_status_t rv = APR_FROM_OS_ERROR(errno);
            while (--i >= 0) {
                close(r->handoff[2 * i]);
                close(r->handoff[2 * i + 1]);
            }
            r->handoff = NULL;
            return rv;
        }
    }
    return APR_SUCCESS;
}

/* Listener thread: the end this slot's child receives on, or -1. */
int hyb_handoff_fd(int slot)
{
    hyb_retained_t *r = hyb_srv.retained;

    if (!r->handoff || slot < 0 || slot >= r->first_server_limit) {
        return -1;
    }
    return r->handoff[2 * slot];
}

/* Listener thread: send fd (which stays open here; the caller closes its
 * copy) to the child of `slot`.  0, or an errno (EAGAIN when that child's
 * pair is full). */
int hyb_handoff_send(int slot, int fd, unsigned char mode)
{
    hyb_retained_t *r = hyb_srv.retained;
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = { &mode, 1 };
    struct msghdr msg;
    struct cmsghdr *cm;

    if (!r->handoff || slot < 0 || slot >= r->first_server_limit) {
        return EINVAL;
    }
    memset(&msg, 0, sizeof(msg));
    memset(&ctl, 0, sizeof(ctl));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.buf;
    msg.msg_controllen = sizeof(ctl.buf);
    cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    if (sendmsg(r->handoff[2 * slot + 1], &msg, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) {
        return errno ? errno : EIO;
    }
    return 0;
}

/* Listener thread of the child in `slot`: one connection, if any.
 * 1 with *fd and *mode set, 0 when nothing waits. */
int hyb_handoff_recv(int slot, int *fd, unsigned char *mode)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = { mode, 1 };
    struct msghdr msg;
    struct cmsghdr *cm;
    int rfd = hyb_handoff_fd(slot);

    for (;;) {
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = ctl.buf;
        msg.msg_controllen = sizeof(ctl.buf);
        if (rfd < 0 || recvmsg(rfd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) != 1) {
            return 0;
        }
        cm = CMSG_FIRSTHDR(&msg);
        if (cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS
            && cm->cmsg_len == CMSG_LEN(sizeof(int))) {
            memcpy(fd, CMSG_DATA(cm), sizeof(int));
            return 1;
        }
        /* a message without a descriptor: nothing to serve, read on */
    }
}
