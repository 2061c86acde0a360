/* tqueue.c - timeout queues and sets of them (see tqueue.h).
 *
 * Owns: the doubly linked list of each hyb_tq_t (kept in expiry order by
 * construction: one timeout per queue, append only) and, in a
 * hyb_tq_set_t, a small pool-allocated array of queues, one per distinct
 * timeout, searched linearly (a handful of timeouts in practice).
 *
 * Threads: none of this locks; everything is called by the one owner of
 * the queues (the child's listener thread).
 */
#include <string.h>

#include "tqueue.h"
#include "hyb_assert.h"

#define HYB_TQ_SET_INITIAL 4

struct hyb_tq_set_t {
    apr_pool_t *pool;
    hyb_tq_t **queues;
    unsigned int nqueues;
    unsigned int capacity;
};

void hyb_tq_init(hyb_tq_t *q, apr_interval_time_t timeout)
{
    q->timeout = timeout;
    q->head = q->tail = NULL;
    q->count = 0;
    q->placed = 0;
}

/* Append at the tail.  The entry must not be queued anywhere (callers
 * remove it first), and the queue must keep one timeout (not placed):
 * checked by HYB_ASSERT in a debug build, not repaired. */
void hyb_tq_append(hyb_tq_t *q, hyb_tq_entry_t *e, apr_time_t now)
{
    HYB_ASSERT(e->q == NULL);
    HYB_ASSERT(!q->placed);
    e->expiry = now + q->timeout;
    e->next = NULL;
    e->prev = q->tail;
    if (q->tail) {
        q->tail->next = e;
    }
    else {
        q->head = e;
    }
    q->tail = e;
    e->q = q;
    q->count++;
}

void hyb_tq_remove(hyb_tq_entry_t *e)
{
    hyb_tq_t *q = e->q;

    if (!q) {
        return;
    }
    if (e->prev) {
        e->prev->next = e->next;
    }
    else {
        q->head = e->next;
    }
    if (e->next) {
        e->next->prev = e->prev;
    }
    else {
        q->tail = e->prev;
    }
    e->prev = e->next = NULL;
    e->q = NULL;
    q->count--;
}

/* Link e (not queued) in q right after `after` (NULL: at the head). */
static void tq_link_after(hyb_tq_t *q, hyb_tq_entry_t *after, hyb_tq_entry_t *e)
{
    e->prev = after;
    e->next = after ? after->next : q->head;
    if (e->next) {
        e->next->prev = e;
    }
    else {
        q->tail = e;
    }
    if (after) {
        after->next = e;
    }
    else {
        q->head = e;
    }
    e->q = q;
    q->count++;
}

/* The entry e goes right after in q (NULL: at the head), searched from
 * `from` (an entry of q, or NULL) towards its place and from the end of q
 * it moves towards, one step of each in turn. */
static hyb_tq_entry_t *tq_find_place(hyb_tq_t *q, hyb_tq_entry_t *from,
                                     apr_time_t expiry)
{
    hyb_tq_entry_t *a, *b;

    if (from && from->expiry > expiry) {        /* earlier: walk back */
        for (a = from, b = q->head;; a = a->prev, b = b->next) {
            if (!a || a->expiry <= expiry) {
                return a;
            }
            if (b->expiry > expiry) {
                return b->prev;
            }
        }
    }
    for (a = from, b = q->tail;; b = b->prev) { /* later: walk forward */
        if (!b || b->expiry <= expiry) {
            return b;
        }
        if (a) {
            if (!a->next || a->next->expiry > expiry) {
                return a;
            }
            a = a->next;
        }
    }
}

void hyb_tq_place(hyb_tq_t *q, hyb_tq_entry_t *e, apr_time_t expiry)
{
    hyb_tq_entry_t *from = NULL;

    if (e->q == q) {
        from = e->prev ? e->prev : e->next;
    }
    if (e->q) {
        hyb_tq_remove(e);
    }
    e->expiry = expiry;
    tq_link_after(q, tq_find_place(q, from, expiry), e);
}

hyb_tq_entry_t *hyb_tq_pop_expired(hyb_tq_t *q, apr_time_t now)
{
    hyb_tq_entry_t *e = q->head;

    if (!e || e->expiry > now) {
        return NULL;
    }
    hyb_tq_remove(e);
    return e;
}

apr_time_t hyb_tq_next_expiry(const hyb_tq_t *q)
{
    return q->head ? q->head->expiry : 0;
}

hyb_tq_set_t *hyb_tq_set_create(apr_pool_t *p)
{
    hyb_tq_set_t *s = apr_pcalloc(p, sizeof(*s));

    s->pool = p;
    s->capacity = HYB_TQ_SET_INITIAL;
    s->queues = apr_pcalloc(p, s->capacity * sizeof(*s->queues));
    return s;
}

/* Double the array.  The old array stays in the pool until it is cleared;
 * that is a few pointers, a handful of times per pool lifetime. */
static void set_grow(hyb_tq_set_t *s)
{
    unsigned int cap = s->capacity * 2;
    hyb_tq_t **queues = apr_pcalloc(s->pool, cap * sizeof(*queues));

    memcpy(queues, s->queues, s->nqueues * sizeof(*queues));
    s->queues = queues;
    s->capacity = cap;
}

static hyb_tq_t *set_get(hyb_tq_set_t *s, apr_interval_time_t timeout,
                         int placed)
{
    hyb_tq_t *q;
    unsigned int i;

    for (i = 0; i < s->nqueues; i++) {
        if (s->queues[i]->timeout == timeout && s->queues[i]->placed == placed) {
            return s->queues[i];
        }
    }
    if (s->nqueues == s->capacity) {
        set_grow(s);
    }
    q = apr_palloc(s->pool, sizeof(*q));
    hyb_tq_init(q, timeout);
    q->placed = placed;
    s->queues[s->nqueues++] = q;
    return q;
}

hyb_tq_t *hyb_tq_set_get(hyb_tq_set_t *s, apr_interval_time_t timeout)
{
    return set_get(s, timeout, 0);
}

hyb_tq_t *hyb_tq_set_get_placed(hyb_tq_set_t *s, apr_interval_time_t key)
{
    return set_get(s, key, 1);
}

/* The non-empty queue whose head expires first, or NULL. */
static hyb_tq_t *set_earliest(const hyb_tq_set_t *s)
{
    hyb_tq_t *best = NULL;
    unsigned int i;

    for (i = 0; i < s->nqueues; i++) {
        hyb_tq_t *q = s->queues[i];

        if (q->head && (!best || q->head->expiry < best->head->expiry)) {
            best = q;
        }
    }
    return best;
}

apr_time_t hyb_tq_set_next_expiry(const hyb_tq_set_t *s)
{
    hyb_tq_t *q = set_earliest(s);

    return q ? q->head->expiry : 0;
}

hyb_tq_entry_t *hyb_tq_set_pop_expired(hyb_tq_set_t *s, apr_time_t now)
{
    hyb_tq_t *q = set_earliest(s);

    return q ? hyb_tq_pop_expired(q, now) : NULL;
}

unsigned int hyb_tq_set_count(const hyb_tq_set_t *s)
{
    unsigned int i, n = 0;

    for (i = 0; i < s->nqueues; i++) {
        n += s->queues[i]->count;
    }
    return n;
}

unsigned int hyb_tq_set_size(const hyb_tq_set_t *s)
{
    return s->nqueues;
}

const hyb_tq_t *hyb_tq_set_at(const hyb_tq_set_t *s, unsigned int i)
{
    return i < s->nqueues ? s->queues[i] : NULL;
}
