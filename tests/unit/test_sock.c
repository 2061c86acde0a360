/* test_sock.c - questions to a connected socket (sock.c), on socket
 * pairs: the "would block" test, readability (nothing, data, EOF), the
 * half-close test,
 * draining for lingering close, and the peek-and-scan of a request head:
 * nothing yet, part, whole, a head longer than the first look, a head
 * longer than the limit, EOF; nothing is ever consumed by a look.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hyb_test.h"
#include "../../sock.h"

typedef struct {
    int fd[2];                  /* fd[0]: the server's end */
} pair_t;

static void pair_open(pair_t *p)
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd), 0);
}

static void pair_close(pair_t *p)
{
    if (p->fd[0] >= 0) {
        close(p->fd[0]);
    }
    if (p->fd[1] >= 0) {
        close(p->fd[1]);
    }
}

static void send_str(pair_t *p, const char *s)
{
    assert_int_equal(send(p->fd[1], s, strlen(s), 0), (ssize_t)strlen(s));
}

static void test_would_block(void **state)
{
    (void)state;
    assert_true(hyb_sock_would_block(EAGAIN));
    assert_true(hyb_sock_would_block(EWOULDBLOCK));
    assert_true(hyb_sock_would_block(EINTR));
    assert_false(hyb_sock_would_block(ECONNRESET));
    assert_false(hyb_sock_would_block(EBADF));
    assert_false(hyb_sock_would_block(0));
}

static void test_readable(void **state)
{
    pair_t p;
    char b[4];

    (void)state;
    pair_open(&p);
    assert_false(hyb_sock_readable(p.fd[0]));
    send_str(&p, "x");
    assert_true(hyb_sock_readable(p.fd[0]));
    assert_true(hyb_sock_readable(p.fd[0]));        /* nothing consumed */
    assert_int_equal(recv(p.fd[0], b, sizeof(b), 0), 1);
    assert_false(hyb_sock_readable(p.fd[0]));
    close(p.fd[1]);
    p.fd[1] = -1;
    assert_true(hyb_sock_readable(p.fd[0]));        /* EOF */
    assert_true(hyb_sock_readable(-1));             /* an error */
    pair_close(&p);
}

static void test_closed(void **state)
{
    pair_t p;

    (void)state;
    pair_open(&p);
    assert_false(hyb_sock_closed(p.fd[0]));
    send_str(&p, "GET /");
    assert_false(hyb_sock_closed(p.fd[0]));         /* data is not an end */
    shutdown(p.fd[1], SHUT_WR);
    assert_true(hyb_sock_closed(p.fd[0]));          /* even before it is read */
    pair_close(&p);
}

static void test_drain(void **state)
{
    static char junk[20000];
    pair_t p;

    (void)state;
    pair_open(&p);
    assert_false(hyb_sock_drain(p.fd[0]));          /* empty, still open */
    assert_int_equal(send(p.fd[1], junk, sizeof(junk), 0),
                     (ssize_t)sizeof(junk));
    assert_false(hyb_sock_drain(p.fd[0]));
    assert_false(hyb_sock_readable(p.fd[0]));       /* all of it gone */
    send_str(&p, "more");
    close(p.fd[1]);
    p.fd[1] = -1;
    assert_true(hyb_sock_drain(p.fd[0]));           /* data, then EOF */
    pair_close(&p);
}

#define HEAD "GET / HTTP/1.1\r\nHost: a\r\n\r\n"

/* One look with a fresh scan, as a caller would. */
static hyb_sock_head_e look(int fd, size_t first, size_t max,
                            apr_uint32_t *seen)
{
    unsigned char buf[256];
    hyb_hs_t hs;

    assert_true(max <= sizeof(buf));
    hyb_hs_init(&hs, HYB_HS_HTTP);
    return hyb_sock_peek_head(fd, &hs, buf, first, max, seen);
}

static void test_peek_head(void **state)
{
    pair_t p;
    apr_uint32_t seen = 7;
    char b[256];

    (void)state;
    pair_open(&p);
    assert_int_equal(look(p.fd[0], 64, 256, &seen), HYB_SOCK_NOTHING);
    assert_int_equal(seen, 7);                      /* unchanged */
    send_str(&p, "GET / HTTP/1.1\r\nHo");
    assert_int_equal(look(p.fd[0], 64, 256, &seen), HYB_SOCK_PART);
    assert_int_equal(seen, 18);
    send_str(&p, "st: a\r\n\r\n");
    assert_int_equal(look(p.fd[0], 64, 256, &seen), HYB_SOCK_WHOLE);
    assert_int_equal(seen, strlen(HEAD));
    /* The first look is shorter than the head: it looks again, further. */
    assert_int_equal(look(p.fd[0], 8, 256, &seen), HYB_SOCK_WHOLE);
    assert_int_equal(seen, strlen(HEAD));
    /* The limit is shorter than the head. */
    assert_int_equal(look(p.fd[0], 8, 16, &seen), HYB_SOCK_TOO_BIG);
    assert_int_equal(seen, 16);
    /* Nothing was consumed by any look. */
    assert_int_equal(recv(p.fd[0], b, sizeof(b), 0), (ssize_t)strlen(HEAD));
    send_str(&p, "GET /");
    close(p.fd[1]);
    p.fd[1] = -1;
    assert_int_equal(look(p.fd[0], 64, 256, &seen), HYB_SOCK_PART);
    assert_int_equal(recv(p.fd[0], b, sizeof(b), 0), 5);
    assert_int_equal(look(p.fd[0], 64, 256, &seen), HYB_SOCK_GONE);
    pair_close(&p);
}

/* A scan kept across looks (the listener's gathering) goes on where the
 * previous look stopped. */
static void test_peek_head_resumes(void **state)
{
    unsigned char buf[128];
    apr_uint32_t seen = 0;
    hyb_hs_t hs;
    pair_t p;
    size_t i;

    (void)state;
    pair_open(&p);
    hyb_hs_init(&hs, HYB_HS_HTTP);
    for (i = 0; i < strlen(HEAD) - 1; i++) {
        assert_int_equal(send(p.fd[1], HEAD + i, 1, 0), 1);
        assert_int_equal(hyb_sock_peek_head(p.fd[0], &hs, buf, 4,
                                            sizeof(buf), &seen),
                         HYB_SOCK_PART);
        assert_int_equal(seen, i + 1);
    }
    send_str(&p, "\n");
    assert_int_equal(hyb_sock_peek_head(p.fd[0], &hs, buf, 4, sizeof(buf),
                                        &seen), HYB_SOCK_WHOLE);
    pair_close(&p);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_would_block),
    cmocka_unit_test(test_readable),
    cmocka_unit_test(test_closed),
    cmocka_unit_test(test_drain),
    cmocka_unit_test(test_peek_head),
    cmocka_unit_test(test_peek_head_resumes),
};

HYB_TEST_GROUP(hyb_test_sock, tests);
