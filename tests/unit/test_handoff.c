/* test_handoff.c - the socket pairs that carry a connection's descriptor
 * to a sibling (handoff.c): the descriptor arrives usable, the message
 * (mode, hops) intact, an empty pair reads as nothing, a message from an
 * older build (the mode byte alone) counts as handed over for the last
 * time, and a message without a descriptor is skipped.
 */
#include <fcntl.h>
#include <unistd.h>

#include "hyb_test.h"
#include "../../handoff.h"

/* One pair of slot 1 of 3, and a pipe standing in for a connection. */
typedef struct {
    int *fds;
    int pipefd[2];
} fixture_t;

static void open_fixture(fixture_t *f, apr_pool_t *p)
{
    assert_int_equal(hyb_handoff_pairs(&f->fds, 3, p), APR_SUCCESS);
    assert_int_equal(pipe(f->pipefd), 0);
}

static void close_fixture(fixture_t *f)
{
    int i;

    for (i = 0; i < 6; i++) {
        close(f->fds[i]);
    }
    close(f->pipefd[0]);
    close(f->pipefd[1]);
}

static void test_pairs_are_distinct_nonblocking_cloexec(void **state)
{
    fixture_t f;
    int i, j;

    open_fixture(&f, *state);
    for (i = 0; i < 6; i++) {
        assert_true(fcntl(f.fds[i], F_GETFL) & O_NONBLOCK);
        assert_true(fcntl(f.fds[i], F_GETFD) & FD_CLOEXEC);
        for (j = 0; j < i; j++) {
            assert_int_not_equal(f.fds[i], f.fds[j]);
        }
    }
    close_fixture(&f);
}

static void test_descriptor_and_message_arrive(void **state)
{
    hyb_handoff_msg_t out = { 2, 3 }, in = { 0, 0 };
    fixture_t f;
    char c = 0;
    int got = -1;

    open_fixture(&f, *state);
    assert_int_equal(hyb_handoff_send(f.fds[2 * 1 + 1], f.pipefd[1], &out), 0);
    assert_int_equal(hyb_handoff_recv(f.fds[2 * 0], &got, &in), 0);   /* not slot 0's */
    assert_int_equal(hyb_handoff_recv(f.fds[2 * 1], &got, &in), 1);
    assert_int_equal(in.mode, 2);
    assert_int_equal(in.hops, 3);
    assert_int_not_equal(got, f.pipefd[1]);
    assert_true(fcntl(got, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(write(got, "x", 1), 1);       /* the same pipe */
    assert_int_equal(read(f.pipefd[0], &c, 1), 1);
    assert_int_equal(c, 'x');
    close(got);
    assert_int_equal(hyb_handoff_recv(f.fds[2 * 1], &got, &in), 0);   /* drained */
    close_fixture(&f);
}

/* Raw bytes with or without a descriptor, as an older build or a stray
 * writer would send them. */
static void send_raw(int wfd, const void *bytes, size_t len, int fd)
{
    assert_int_equal(hyb_handoff_send_bytes(wfd, fd, bytes, len), 0);
}

static void test_short_message_is_last_hop(void **state)
{
    hyb_handoff_msg_t in = { 0, 0 };
    unsigned char mode = 1;
    fixture_t f;
    int got = -1;

    open_fixture(&f, *state);
    send_raw(f.fds[1], &mode, 1, f.pipefd[1]);
    assert_int_equal(hyb_handoff_recv(f.fds[0], &got, &in), 1);
    assert_int_equal(in.mode, 1);
    assert_int_equal(in.hops, HYB_HANDOFF_MAX_HOPS);
    close(got);
    close_fixture(&f);
}

static void test_message_without_descriptor_is_skipped(void **state)
{
    hyb_handoff_msg_t junk = { 9, 9 }, out = { 0, 1 }, in = { 0, 0 };
    fixture_t f;
    int got = -1;

    open_fixture(&f, *state);
    send_raw(f.fds[1], &junk, sizeof(junk), -1);
    assert_int_equal(hyb_handoff_send(f.fds[1], f.pipefd[0], &out), 0);
    assert_int_equal(hyb_handoff_recv(f.fds[0], &got, &in), 1);
    assert_int_equal(in.mode, 0);
    assert_int_equal(in.hops, 1);
    close(got);
    close_fixture(&f);
}

static void test_no_pairs(void **state)
{
    hyb_handoff_msg_t m = { 0, 1 };
    int got = -1;

    (void)state;
    assert_int_equal(hyb_handoff_send(-1, 0, &m), EINVAL);
    assert_int_equal(hyb_handoff_recv(-1, &got, &m), 0);
    assert_int_equal(got, -1);
}

static const struct CMUnitTest handoff_tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, hyb_test_pool_setup, \
                                             hyb_test_pool_teardown)
    T(test_pairs_are_distinct_nonblocking_cloexec),
    T(test_descriptor_and_message_arrive),
    T(test_short_message_is_last_hop),
    T(test_message_without_descriptor_is_skipped),
    T(test_no_pairs),
#undef T
};

HYB_TEST_GROUP(hyb_test_handoff, handoff_tests);
