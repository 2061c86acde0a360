/* test_handoff.c - the channel that carries a connection's descriptor to a
 * sibling (handoff.c): the descriptor arrives usable, to the socket named
 * by its key only, with the message (mode, hops, sender slot) intact and
 * the sender's pid and uid as the kernel reports them; an empty socket
 * reads as nothing; a descriptor from a sender the trust function refuses,
 * or in a malformed message, is closed; a message without a descriptor is
 * skipped; a held name cannot be bound again; a child process's
 * credentials are its own.
 */
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hyb_test.h"
#include "../../handoff.h"

/* Two slots' sockets, a sending socket, and a pipe standing in for a
 * connection. */
typedef struct {
    unsigned char key[2][HYB_HANDOFF_KEY_LEN];
    int rx[2];
    int tx;
    int pipefd[2];
} fixture_t;

/* What the trust function saw, and what it answers. */
typedef struct {
    pid_t pid;
    uid_t uid;
    apr_uint32_t from;
    int calls;
    int answer;
} trust_t;

static int trust_fn(pid_t pid, uid_t uid, apr_uint32_t from, void *baton)
{
    trust_t *t = baton;

    t->pid = pid;
    t->uid = uid;
    t->from = from;
    t->calls++;
    return t->answer;
}

static void open_fixture(fixture_t *f)
{
    int i;

    for (i = 0; i < 2; i++) {
        assert_int_equal(apr_generate_random_bytes(f->key[i], HYB_HANDOFF_KEY_LEN),
                         APR_SUCCESS);
        assert_int_equal(hyb_handoff_open_rx(f->key[i], &f->rx[i]), APR_SUCCESS);
    }
    assert_int_equal(hyb_handoff_open_tx(&f->tx), APR_SUCCESS);
    assert_int_equal(pipe(f->pipefd), 0);
}

static void close_fixture(fixture_t *f)
{
    close(f->rx[0]);
    close(f->rx[1]);
    close(f->tx);
    close(f->pipefd[0]);
    if (f->pipefd[1] >= 0) {
        close(f->pipefd[1]);
    }
}

static void test_sockets_are_nonblocking_cloexec(void **state)
{
    fixture_t f;
    int fds[3], i;

    (void)state;
    open_fixture(&f);
    fds[0] = f.rx[0];
    fds[1] = f.rx[1];
    fds[2] = f.tx;
    for (i = 0; i < 3; i++) {
        assert_true(fcntl(fds[i], F_GETFL) & O_NONBLOCK);
        assert_true(fcntl(fds[i], F_GETFD) & FD_CLOEXEC);
    }
    close_fixture(&f);
}

static void test_descriptor_and_message_arrive(void **state)
{
    hyb_handoff_msg_t out = { 2, 3, 0, 7 }, in;
    trust_t t = { 0, 0, 0, 0, 1 };
    fixture_t f;
    int got = -1, refused = 0;
    char c = 0;

    (void)state;
    open_fixture(&f);
    assert_int_equal(hyb_handoff_send(f.tx, f.key[1], f.pipefd[1], &out), 0);
    assert_int_equal(hyb_handoff_recv(f.rx[0], &got, &in, trust_fn, &t,
                                      &refused), 0);      /* not slot 0's */
    assert_int_equal(hyb_handoff_recv(f.rx[1], &got, &in, trust_fn, &t,
                                      &refused), 1);
    assert_int_equal(refused, 0);
    assert_int_equal(in.mode, 2);
    assert_int_equal(in.hops, 3);
    assert_int_equal(in.from, 7);
    assert_int_equal(t.calls, 1);
    assert_int_equal(t.pid, getpid());          /* filled by the kernel */
    assert_int_equal(t.uid, getuid());
    assert_int_equal(t.from, 7);
    assert_int_not_equal(got, f.pipefd[1]);
    assert_true(fcntl(got, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(write(got, "x", 1), 1);       /* the same pipe */
    assert_int_equal(read(f.pipefd[0], &c, 1), 1);
    assert_int_equal(c, 'x');
    close(got);
    assert_int_equal(hyb_handoff_recv(f.rx[1], &got, &in, trust_fn, &t,
                                      &refused), 0);      /* drained */
    close_fixture(&f);
}

/* The only other copy of the pipe's write end is the one received: the
 * read end sees EOF once the receiver closed it. */
static void assert_write_end_closed(fixture_t *f)
{
    char c;

    close(f->pipefd[1]);
    f->pipefd[1] = -1;
    assert_int_equal(read(f->pipefd[0], &c, 1), 0);
}

static void test_untrusted_sender_is_closed(void **state)
{
    hyb_handoff_msg_t out = { 0, 1, 0, 0 }, in;
    trust_t t = { 0, 0, 0, 0, 0 };
    fixture_t f;
    int got = -1, refused = 0;

    (void)state;
    open_fixture(&f);
    assert_int_equal(hyb_handoff_send(f.tx, f.key[0], f.pipefd[1], &out), 0);
    assert_int_equal(hyb_handoff_recv(f.rx[0], &got, &in, trust_fn, &t,
                                      &refused), 0);
    assert_int_equal(t.calls, 1);
    assert_int_equal(refused, 1);
    assert_int_equal(got, -1);
    assert_write_end_closed(&f);
    close_fixture(&f);
}

/* Raw bytes with or without a descriptor, as a stray writer would send. */
static void send_raw(fixture_t *f, const void *bytes, size_t len, int fd)
{
    assert_int_equal(hyb_handoff_send_bytes(f->tx, f->key[0], fd, bytes, len), 0);
}

static void test_malformed_message_is_closed(void **state)
{
    static const size_t lens[] = { 1, sizeof(hyb_handoff_msg_t) - 1 };
    unsigned char bytes[sizeof(hyb_handoff_msg_t)] = { 1 };
    trust_t t = { 0, 0, 0, 0, 1 };
    hyb_handoff_msg_t in;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        fixture_t f;
        int got = -1, refused = 0;
        open_fixture(&f);
        send_raw(&f, bytes, lens[i], f.pipefd[1]);
        assert_int_equal(hyb_handoff_recv(f.rx[0], &got, &in, trust_fn, &t,
                                          &refused), 0);
        assert_int_equal(refused, 1);
        assert_int_equal(t.calls, 0);
        assert_write_end_closed(&f);
        close_fixture(&f);
    }
}

static void test_message_without_descriptor_is_skipped(void **state)
{
    hyb_handoff_msg_t junk = { 9, 9, 0, 9 }, out = { 0, 1, 0, 3 }, in;
    trust_t t = { 0, 0, 0, 0, 1 };
    fixture_t f;
    int got = -1, refused = 0;

    (void)state;
    open_fixture(&f);
    send_raw(&f, &junk, sizeof(junk), -1);
    assert_int_equal(hyb_handoff_send(f.tx, f.key[0], f.pipefd[0], &out), 0);
    assert_int_equal(hyb_handoff_recv(f.rx[0], &got, &in, trust_fn, &t,
                                      &refused), 1);
    assert_int_equal(refused, 0);
    assert_int_equal(in.mode, 0);
    assert_int_equal(in.hops, 1);
    assert_int_equal(in.from, 3);
    close(got);
    close_fixture(&f);
}

/* A bound name cannot be taken by anyone else while its socket is open. */
static void test_held_name_cannot_be_bound_again(void **state)
{
    fixture_t f;
    int other = -1;

    (void)state;
    open_fixture(&f);
    assert_int_equal(hyb_handoff_open_rx(f.key[0], &other),
                     APR_FROM_OS_ERROR(EADDRINUSE));
    assert_int_equal(other, -1);
    close_fixture(&f);
}

static void test_unbound_name_refuses(void **state)
{
    hyb_handoff_msg_t out = { 0, 1, 0, 0 };
    unsigned char nobody[HYB_HANDOFF_KEY_LEN];
    fixture_t f;

    (void)state;
    open_fixture(&f);
    memset(nobody, 0x5a, sizeof(nobody));
    assert_int_equal(hyb_handoff_send(f.tx, nobody, f.pipefd[1], &out),
                     ECONNREFUSED);
    close_fixture(&f);
}

/* Another process's message carries that process's pid, not ours. */
static void test_other_process_is_reported_as_itself(void **state)
{
    hyb_handoff_msg_t out = { 0, 1, 0, 0 }, in;
    trust_t t = { 0, 0, 0, 0, 0 };
    fixture_t f;
    int got = -1, refused = 0, status = 0;
    pid_t pid;

    (void)state;
    open_fixture(&f);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(hyb_handoff_send(f.tx, f.key[0], f.pipefd[1], &out) == 0 ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(hyb_handoff_recv(f.rx[0], &got, &in, trust_fn, &t,
                                      &refused), 0);
    assert_int_equal(t.pid, pid);
    assert_int_equal(refused, 1);
    close_fixture(&f);
}

static void test_no_channel(void **state)
{
    hyb_handoff_msg_t m = { 0, 1, 0, 0 };
    unsigned char key[HYB_HANDOFF_KEY_LEN] = { 0 };
    trust_t t = { 0, 0, 0, 0, 1 };
    int got = -1, refused = 0;

    (void)state;
    assert_int_equal(hyb_handoff_send(-1, key, 0, &m), EINVAL);
    assert_int_equal(hyb_handoff_recv(-1, &got, &m, trust_fn, &t, &refused), 0);
    assert_int_equal(got, -1);
}

static const struct CMUnitTest handoff_tests[] = {
    cmocka_unit_test(test_sockets_are_nonblocking_cloexec),
    cmocka_unit_test(test_descriptor_and_message_arrive),
    cmocka_unit_test(test_untrusted_sender_is_closed),
    cmocka_unit_test(test_malformed_message_is_closed),
    cmocka_unit_test(test_message_without_descriptor_is_skipped),
    cmocka_unit_test(test_held_name_cannot_be_bound_again),
    cmocka_unit_test(test_unbound_name_refuses),
    cmocka_unit_test(test_other_process_is_reported_as_itself),
    cmocka_unit_test(test_no_channel),
};

HYB_TEST_GROUP(hyb_test_handoff, handoff_tests);
