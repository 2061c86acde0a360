/* sock.c - questions to a connected socket (see sock.h).
 *
 * Owns: the one "would block" test, the one-byte readability peek, the
 * half-close test (poll for POLLRDHUP), the
 * bounded drain of lingering close, and the one peek-and-scan of a request
 * head that the listener (gathering, with its large buffer) and the
 * workers (before keep-alive, with a small one on their stack) share.
 *
 * Threads: any; each call works on a descriptor its caller owns.
 */
#include "sock.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#define HYB_SOCK_DRAIN_READS 128
#define HYB_SOCK_DRAIN_BUF   8192

int hyb_sock_would_block(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

/* The listener's edge-triggered event only reports data that arrives
 * later, so what is already in the socket must be checked this way before
 * a connection waits for reading. */
int hyb_sock_readable(int fd)
{
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

    return n >= 0 || !hyb_sock_would_block(errno);
}

/* Bounded so that one fast sender cannot hold the listener's loop: the
 * rest waits for its next edge or the linger timeout. */
int hyb_sock_drain(int fd)
{
    char buf[HYB_SOCK_DRAIN_BUF];
    int i;

    for (i = 0; i < HYB_SOCK_DRAIN_READS; i++) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n == 0) {
            return 1;
        }
        if (n < 0) {
            return !hyb_sock_would_block(errno);
        }
    }
    return 0;
}

int hyb_sock_closed(int fd)
{
    struct pollfd pfd = { fd, POLLRDHUP, 0 };

    return poll(&pfd, 1, 0) > 0
           && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static hyb_sock_head_e hyb_sock_head_of(hyb_hs_result_e r)
{
    switch (r) {
    case HYB_HS_DONE:
        return HYB_SOCK_WHOLE;
    case HYB_HS_TOO_BIG:
        return HYB_SOCK_TOO_BIG;
    default:
        return HYB_SOCK_PART;
    }
}

hyb_sock_head_e hyb_sock_peek_head(int fd, hyb_hs_t *hs, unsigned char *buf,
                                   size_t first, size_t max,
                                   apr_uint32_t *seen)
{
    size_t want = first < max ? first : max;
    hyb_hs_result_e r = HYB_HS_MORE;
    ssize_t n;

    for (;;) {
        n = recv(fd, buf, want, MSG_PEEK | MSG_DONTWAIT);
        if (n <= 0) {
            break;
        }
        *seen = (apr_uint32_t)n;
        r = hyb_hs_scan(hs, buf, (size_t)n, max);
        if (r != HYB_HS_MORE || (size_t)n < want || want == max) {
            break;
        }
        want = max;             /* the buffer was full: look further */
    }
    if (n == 0) {
        return HYB_SOCK_GONE;
    }
    if (n < 0) {
        return hyb_sock_would_block(errno) ? HYB_SOCK_NOTHING : HYB_SOCK_GONE;
    }
    return hyb_sock_head_of(r);
}
