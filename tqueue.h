/* tqueue.h - timeout queues (FIFO lists with one fixed timeout each).
 *
 * Owns: the ordering of parked connections by expiry.  Because every entry
 * of one queue has the same timeout, appending keeps the list sorted, so the
 * head is always the next to expire: O(1) append, remove and expiry check,
 * the same idea as libevent's "common timeouts".  A "placed" queue instead
 * takes entries with their own expiry (hyb_tq_place) and keeps them in
 * order by insertion: head gathering, where each connection is due at a
 * time of its own, but close to the others of its queue.
 *
 * Threads: not thread-safe; one owner, which serializes every call: the
 * child's listener thread for the parked connections, the worker queue's
 * mutex for its list of running workers (fdqueue.c).
 */
#ifndef HYB_TQUEUE_H
#define HYB_TQUEUE_H

#include <apr_pools.h>
#include <apr_time.h>

typedef struct hyb_tq_entry_t hyb_tq_entry_t;
struct hyb_tq_entry_t {
    hyb_tq_entry_t *prev, *next;
    struct hyb_tq_t *q;         /* NULL when not queued */
    apr_time_t expiry;
};

typedef struct hyb_tq_t {
    apr_interval_time_t timeout;
    hyb_tq_entry_t *head, *tail;
    unsigned int count;
    int placed;                 /* entries carry their own expiry
                                 * (hyb_tq_place), kept in order */
} hyb_tq_t;

/* A set of queues, one per distinct timeout, created on demand. */
typedef struct hyb_tq_set_t hyb_tq_set_t;

void hyb_tq_init(hyb_tq_t *q, apr_interval_time_t timeout);
/* Append with expiry = now + q->timeout.  The entry must not be queued. */
void hyb_tq_append(hyb_tq_t *q, hyb_tq_entry_t *e, apr_time_t now);
/* Put e into a placed queue at its place in expiry order, with its own
 * expiry (moved if q already holds it, taken out of any other queue).
 * The search starts both from where e was (or the tail) and from the end
 * it moves towards, so it costs the shorter of the two distances: O(1)
 * when e goes to the tail or moves by little. */
void hyb_tq_place(hyb_tq_t *q, hyb_tq_entry_t *e, apr_time_t expiry);
/* Remove from whatever queue holds it; no-op when not queued. */
void hyb_tq_remove(hyb_tq_entry_t *e);
/* Pop the head if it expired at or before now, else NULL. */
hyb_tq_entry_t *hyb_tq_pop_expired(hyb_tq_t *q, apr_time_t now);
/* Expiry of the head, or 0 when empty. */
apr_time_t hyb_tq_next_expiry(const hyb_tq_t *q);

hyb_tq_set_t *hyb_tq_set_create(apr_pool_t *p);
/* The queue for this timeout (created the first time it is asked for). */
hyb_tq_t *hyb_tq_set_get(hyb_tq_set_t *s, apr_interval_time_t timeout);
/* The placed queue for this key (a FIFO queue of the same timeout is
 * another queue). */
hyb_tq_t *hyb_tq_set_get_placed(hyb_tq_set_t *s, apr_interval_time_t key);
/* Earliest expiry over all queues, 0 when all are empty. */
apr_time_t hyb_tq_set_next_expiry(const hyb_tq_set_t *s);
/* Pop one expired entry from any queue (earliest first), or NULL. */
hyb_tq_entry_t *hyb_tq_set_pop_expired(hyb_tq_set_t *s, apr_time_t now);
/* Total entries over all queues. */
unsigned int hyb_tq_set_count(const hyb_tq_set_t *s);
/* For walking the set: its number of queues, and queue i of them (their
 * entries from head to tail, in expiry order). */
unsigned int hyb_tq_set_size(const hyb_tq_set_t *s);
const hyb_tq_t *hyb_tq_set_at(const hyb_tq_set_t *s, unsigned int i);

#endif
