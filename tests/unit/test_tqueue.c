/* test_tqueue.c - unit tests of tqueue.c.
 *
 * Owns: the tqueue test group: expiry order, the exact expiry boundary,
 * removal anywhere in a queue, counts, and sets of queues.
 *
 * Threads: single-threaded, like the listener that owns the queues.
 */
#include <string.h>

#include "hyb_test.h"
#include "../../tqueue.h"

#define T0 ((apr_time_t)1000000000)     /* an arbitrary "now" */

/* Walk q from head and tail and check it holds exactly want[0..n-1]. */
static void assert_queue_is(const hyb_tq_t *q, hyb_tq_entry_t **want, int n)
{
    hyb_tq_entry_t *e;
    int i = 0;

    assert_int_equal(q->count, n);
    for (e = q->head; e; e = e->next, i++) {
        assert_true(i < n);
        assert_ptr_equal(e, want[i]);
        assert_ptr_equal(e->q, q);
    }
    assert_int_equal(i, n);
    for (e = q->tail; e; e = e->prev) {
        assert_ptr_equal(e, want[--i]);
    }
    assert_int_equal(i, 0);
}

static void test_init_empty(void **state)
{
    hyb_tq_t q;

    (void)state;
    memset(&q, 0xa5, sizeof(q));
    hyb_tq_init(&q, 5000);
    assert_int_equal(q.timeout, 5000);
    assert_null(q.head);
    assert_null(q.tail);
    assert_int_equal(q.count, 0);
    assert_int_equal(hyb_tq_next_expiry(&q), 0);
    assert_null(hyb_tq_pop_expired(&q, T0 * 2));
}

/* Append order is expiry order; pop_expired honours the boundary exactly:
 * an entry expires at now == expiry, not one microsecond before. */
static void test_expiry_order_and_boundary(void **state)
{
    hyb_tq_t q;
    hyb_tq_entry_t e[3];
    int i;

    (void)state;
    memset(e, 0, sizeof(e));
    hyb_tq_init(&q, 100);
    for (i = 0; i < 3; i++) {
        hyb_tq_append(&q, &e[i], T0 + 10 * i);
        assert_int_equal(e[i].expiry, T0 + 10 * i + 100);
    }
    assert_int_equal(q.count, 3);
    assert_int_equal(hyb_tq_next_expiry(&q), T0 + 100);
    for (i = 0; i < 3; i++) {
        apr_time_t exp = T0 + 10 * i + 100;

        assert_null(hyb_tq_pop_expired(&q, exp - 1));
        assert_int_equal(q.count, 3 - i);
        assert_ptr_equal(hyb_tq_pop_expired(&q, exp), &e[i]);
        assert_null(e[i].q);
        assert_int_equal(q.count, 2 - i);
    }
    assert_int_equal(hyb_tq_next_expiry(&q), 0);
    assert_null(q.head);
    assert_null(q.tail);
}

/* Late pops return the entries one by one, oldest first. */
static void test_pop_expired_all_late(void **state)
{
    hyb_tq_t q;
    hyb_tq_entry_t e[4];
    int i;

    (void)state;
    memset(e, 0, sizeof(e));
    hyb_tq_init(&q, 5);
    for (i = 0; i < 4; i++) {
        hyb_tq_append(&q, &e[i], T0 + i);
    }
    for (i = 0; i < 4; i++) {
        assert_ptr_equal(hyb_tq_pop_expired(&q, T0 + 1000), &e[i]);
    }
    assert_null(hyb_tq_pop_expired(&q, T0 + 1000));
    assert_int_equal(q.count, 0);
}

static void test_remove_middle_head_tail(void **state)
{
    hyb_tq_t q;
    hyb_tq_entry_t e[5];
    hyb_tq_entry_t *w1[] = { &e[0], &e[1], &e[3], &e[4] };
    hyb_tq_entry_t *w2[] = { &e[1], &e[3], &e[4] };
    hyb_tq_entry_t *w3[] = { &e[1], &e[3] };
    int i;

    (void)state;
    memset(e, 0, sizeof(e));
    hyb_tq_init(&q, 50);
    for (i = 0; i < 5; i++) {
        hyb_tq_append(&q, &e[i], T0 + i);
    }
    hyb_tq_remove(&e[2]);                       /* middle */
    assert_null(e[2].q);
    assert_queue_is(&q, w1, 4);
    hyb_tq_remove(&e[0]);                       /* head */
    assert_queue_is(&q, w2, 3);
    assert_int_equal(hyb_tq_next_expiry(&q), T0 + 1 + 50);
    hyb_tq_remove(&e[4]);                       /* tail */
    assert_queue_is(&q, w3, 2);
    hyb_tq_append(&q, &e[4], T0 + 9);           /* re-append works */
    assert_ptr_equal(q.tail, &e[4]);
    hyb_tq_remove(&e[1]);
    hyb_tq_remove(&e[3]);
    hyb_tq_remove(&e[4]);
    assert_queue_is(&q, NULL, 0);
}

static void test_remove_not_queued_is_noop(void **state)
{
    hyb_tq_t q;
    hyb_tq_entry_t e[3], stray;
    hyb_tq_entry_t *w[] = { &e[0], &e[2] };
    int i;

    (void)state;
    memset(e, 0, sizeof(e));
    memset(&stray, 0, sizeof(stray));
    hyb_tq_init(&q, 50);
    for (i = 0; i < 3; i++) {
        hyb_tq_append(&q, &e[i], T0);
    }
    hyb_tq_remove(&stray);                      /* never queued */
    hyb_tq_remove(&e[1]);
    hyb_tq_remove(&e[1]);                       /* already removed */
    assert_queue_is(&q, w, 2);
    /* A popped entry is no longer queued either. */
    assert_ptr_equal(hyb_tq_pop_expired(&q, T0 + 50), &e[0]);
    hyb_tq_remove(&e[0]);
    assert_int_equal(q.count, 1);
    assert_ptr_equal(q.head, &e[2]);
}

/* ------------------------------------------------------------------ */

static void test_set_get_creates_once(void **state)
{
    apr_pool_t *p = *state;
    hyb_tq_set_t *s = hyb_tq_set_create(p);
    hyb_tq_t *q[10];
    int i;

    assert_non_null(s);
    assert_int_equal(hyb_tq_set_count(s), 0);
    assert_int_equal(hyb_tq_set_next_expiry(s), 0);
    /* More timeouts than the initial capacity. */
    for (i = 0; i < 10; i++) {
        q[i] = hyb_tq_set_get(s, apr_time_from_sec(i + 1));
        assert_non_null(q[i]);
        assert_int_equal(q[i]->timeout, apr_time_from_sec(i + 1));
        assert_int_equal(q[i]->count, 0);
    }
    for (i = 0; i < 10; i++) {
        assert_ptr_equal(hyb_tq_set_get(s, apr_time_from_sec(i + 1)), q[i]);
    }
    assert_ptr_not_equal(q[0], q[1]);
    assert_int_equal(hyb_tq_set_next_expiry(s), 0);
    assert_null(hyb_tq_set_pop_expired(s, T0 * 2));
    /* Walking: every queue once, in creation order (placed ones too). */
    assert_int_equal(hyb_tq_set_size(s), 10);
    assert_ptr_not_equal(hyb_tq_set_get_placed(s, apr_time_from_sec(1)), q[0]);
    assert_int_equal(hyb_tq_set_size(s), 11);
    for (i = 0; i < 10; i++) {
        assert_ptr_equal(hyb_tq_set_at(s, i), q[i]);
    }
    assert_true(hyb_tq_set_at(s, 10)->placed);
    assert_null(hyb_tq_set_at(s, 11));
}

/* Entries in three queues (timeouts 5 s, 60 s, 2 s) appended at various
 * times; the set must hand them out in global expiry order. */
static void test_set_global_order(void **state)
{
    apr_pool_t *p = *state;
    hyb_tq_set_t *s = hyb_tq_set_create(p);
    hyb_tq_t *ka = hyb_tq_set_get(s, apr_time_from_sec(5));
    hyb_tq_t *to = hyb_tq_set_get(s, apr_time_from_sec(60));
    hyb_tq_t *li = hyb_tq_set_get(s, apr_time_from_sec(2));
    hyb_tq_entry_t a, b, c, d, e;
    hyb_tq_entry_t *order[] = { &c, &a, &e, &b, &d };
    apr_time_t exp[5];
    int i;

    memset(&a, 0, sizeof(a)); memset(&b, 0, sizeof(b));
    memset(&c, 0, sizeof(c)); memset(&d, 0, sizeof(d));
    memset(&e, 0, sizeof(e));
    hyb_tq_append(to, &d, T0);                          /* T0 + 60 s */
    hyb_tq_append(ka, &a, T0);                          /* T0 + 5 s */
    hyb_tq_append(ka, &b, T0 + apr_time_from_sec(4));   /* T0 + 9 s */
    hyb_tq_append(li, &c, T0 + apr_time_from_sec(1));   /* T0 + 3 s */
    hyb_tq_append(li, &e, T0 + apr_time_from_sec(5));   /* T0 + 7 s */
    assert_int_equal(hyb_tq_set_count(s), 5);
    for (i = 0; i < 5; i++) {
        exp[i] = order[i]->expiry;
    }
    assert_int_equal(hyb_tq_set_next_expiry(s), exp[0]);
    for (i = 0; i < 5; i++) {
        assert_int_equal(hyb_tq_set_next_expiry(s), exp[i]);
        assert_null(hyb_tq_set_pop_expired(s, exp[i] - 1));
        assert_ptr_equal(hyb_tq_set_pop_expired(s, exp[i]), order[i]);
        assert_int_equal(hyb_tq_set_count(s), 4 - i);
    }
    assert_int_equal(hyb_tq_set_next_expiry(s), 0);
}

/* All expired at once: still earliest first, across queues. */
static void test_set_pop_all_expired(void **state)
{
    apr_pool_t *p = *state;
    hyb_tq_set_t *s = hyb_tq_set_create(p);
    hyb_tq_t *q1 = hyb_tq_set_get(s, 30);
    hyb_tq_t *q2 = hyb_tq_set_get(s, 10);
    hyb_tq_entry_t e[4];
    hyb_tq_entry_t *got;
    apr_time_t last = 0;
    int i;

    memset(e, 0, sizeof(e));
    hyb_tq_append(q1, &e[0], T0);           /* T0+30 */
    hyb_tq_append(q2, &e[1], T0 + 5);       /* T0+15 */
    hyb_tq_append(q1, &e[2], T0 + 6);       /* T0+36 */
    hyb_tq_append(q2, &e[3], T0 + 25);      /* T0+35 */
    for (i = 0; i < 4; i++) {
        got = hyb_tq_set_pop_expired(s, T0 + 1000);
        assert_non_null(got);
        assert_true(got->expiry >= last);
        last = got->expiry;
    }
    assert_int_equal(last, T0 + 36);
    assert_null(hyb_tq_set_pop_expired(s, T0 + 1000));
    /* Removing through the entry updates the set's count. */
    hyb_tq_append(q1, &e[0], T0);
    hyb_tq_append(q2, &e[1], T0);
    hyb_tq_remove(&e[0]);
    assert_int_equal(hyb_tq_set_count(s), 1);
    assert_int_equal(hyb_tq_set_next_expiry(s), T0 + 10);
}

/* A placed queue stays in expiry order whatever is placed or moved, and
 * is a queue of its own next to the FIFO queue of the same timeout. */
static void test_placed_queue_keeps_order(void **state)
{
    apr_pool_t *p = *state;
    hyb_tq_set_t *s = hyb_tq_set_create(p);
    hyb_tq_t *q = hyb_tq_set_get_placed(s, 100);
    hyb_tq_entry_t e[64], *it;
    unsigned int seed = 7, i, n;
    apr_time_t last;

    memset(e, 0, sizeof(e));
    assert_true(q != hyb_tq_set_get(s, 100));
    assert_true(q == hyb_tq_set_get_placed(s, 100));
    for (i = 0; i < 3000; i++) {
        hyb_tq_entry_t *x = &e[(seed = seed * 1103515245u + 12345u) % 64];
        apr_time_t when = T0 + (seed >> 8) % 50;
        if ((seed >> 20) % 5 == 0) {
            hyb_tq_remove(x);
            continue;
        }
        hyb_tq_place(q, x, when);
        assert_true(x->expiry == when && x->q == q);
        for (it = q->head, n = 0, last = 0; it; it = it->next, n++) {
            assert_true(it->expiry >= last);
            assert_true(it->next || it == q->tail);
            assert_true(!it->next || it->next->prev == it);
            last = it->expiry;
        }
        assert_int_equal(n, q->count);
    }
    /* ties keep their order: placed later, popped later */
    while ((it = hyb_tq_pop_expired(q, T0 * 2)) != NULL) {
        it->q = NULL;
    }
    hyb_tq_place(q, &e[0], T0 + 5);
    hyb_tq_place(q, &e[1], T0 + 5);
    hyb_tq_place(q, &e[2], T0 + 1);
    assert_ptr_equal(hyb_tq_set_pop_expired(s, T0 + 5), &e[2]);
    assert_ptr_equal(hyb_tq_set_pop_expired(s, T0 + 5), &e[0]);
    assert_ptr_equal(hyb_tq_set_pop_expired(s, T0 + 5), &e[1]);
}

static const struct CMUnitTest tqueue_tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, hyb_test_pool_setup, \
                                             hyb_test_pool_teardown)
    T(test_init_empty),
    T(test_expiry_order_and_boundary),
    T(test_pop_expired_all_late),
    T(test_remove_middle_head_tail),
    T(test_remove_not_queued_is_noop),
    T(test_set_get_creates_once),
    T(test_set_global_order),
    T(test_set_pop_all_expired),
    T(test_placed_queue_keeps_order),
#undef T
};

HYB_TEST_GROUP(hyb_test_tqueue, tqueue_tests);
