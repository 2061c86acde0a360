/* test_admit.c - the admission policy (admit.c): one table row per case of
 * rules 1-3 in docs/admission.md, each run through the listener's protocol
 * (ask, fill the fact it needs, ask again) against a world where every
 * fact is known, checking the answer, the state kept, and which costly
 * facts were read; the accept-token turn as a sequence; how far a
 * connection travels; and what MaxConnectionsPerChild counts.
 *
 * Threads: the runner's thread only.
 */
#include "hyb_test.h"
#include "../../admit.h"
#include "../../handoff.h"

#define U  HYB_ADMIT_UNKNOWN
#define NS HYB_ADMIT_NO_SIBLING

/* Facts the listener reads only when asked. */
#define ASK_STARVED 1
#define ASK_LOAD    2
#define ASK_SIBLING 4

/* Every fact of one moment, as the listener would read it. */
typedef struct {
    int accepting, stopping, paused, token_popped, gathering;
    int load_hint, load, starved, sibling_demand, sibling_slot;
} world_t;

typedef struct {
    const char *name;
    hyb_admit_when_e when;
    hyb_admit_state_t state;
    world_t w;
    hyb_admit_action_e want;
    hyb_admit_state_t want_next;
    int want_took;
    int want_handoff;
    int want_asked;
} row_t;

/* The listener's protocol: cheap facts first, the others on request. */
static hyb_admit_verdict_t ask(hyb_admit_when_e when,
                               const hyb_admit_state_t *st, const world_t *w,
                               int *asked)
{
    hyb_admit_snapshot_t s;
    hyb_admit_verdict_t v;
    int round;

    hyb_admit_snapshot_init(&s, when, st);
    s.accepting = w->accepting;
    s.stopping = w->stopping;
    s.paused = w->paused;
    s.token_popped = w->token_popped;
    s.gathering = w->gathering;
    s.load_hint = w->load_hint;
    *asked = 0;
    for (round = 0; round < 4; round++) {
        v = hyb_admit_decide(&s);
        switch (v.action) {
        case HYB_ADMIT_NEED_STARVED:
            assert_false(*asked & ASK_STARVED);     /* asked once at most */
            *asked |= ASK_STARVED;
            s.starved = w->starved;
            break;
        case HYB_ADMIT_NEED_LOAD:
            assert_false(*asked & ASK_LOAD);
            *asked |= ASK_LOAD;
            s.load = w->load;
            break;
        case HYB_ADMIT_NEED_SIBLING:
            assert_false(*asked & ASK_SIBLING);
            *asked |= ASK_SIBLING;
            s.sibling_demand = w->sibling_demand;
            s.sibling_slot = w->sibling_slot;
            break;
        default:
            return v;
        }
    }
    fail_msg("hyb_admit_decide kept asking");
    return v;
}

static void run_table(const row_t *t, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        int asked;
        hyb_admit_verdict_t v = ask(t[i].when, &t[i].state, &t[i].w, &asked);

        if (v.action != t[i].want || v.next.batch != t[i].want_next.batch
            || v.next.token_queued != t[i].want_next.token_queued
            || v.took_token != t[i].want_took
            || v.handoff != t[i].want_handoff || asked != t[i].want_asked) {
            fail_msg("%s: action %d batch %d queued %d took %d handoff %d "
                     "asked %d; want %d %d %d %d %d %d", t[i].name, v.action,
                     v.next.batch, v.next.token_queued, v.took_token,
                     v.handoff, asked, t[i].want, t[i].want_next.batch,
                     t[i].want_next.token_queued, t[i].want_took,
                     t[i].want_handoff, t[i].want_asked);
        }
        assert_int_equal(v.to, v.action == HYB_ADMIT_HANDOFF
                               ? t[i].w.sibling_slot : -1);
    }
}

/*            acc stop paus pop gath hint load starv sib slot */
#define W(...) { __VA_ARGS__ }

/* Rule 1 (and 2) at the end of a round, the sockets not watched. */
static void test_gate(void **state)
{
    static const row_t t[] = {
        { "watching already", HYB_ADMIT_GATE, { 0, 0 },
          W(1, 0, 0, 0, 0, -3, -3, 0, NS, -1),
          HYB_ADMIT_HOLD, { 0, 0 }, 0, 0, 0 },
        { "stopping", HYB_ADMIT_GATE, { 0, 0 },
          W(0, 1, 0, 1, 0, -3, -3, 0, NS, -1),
          HYB_ADMIT_HOLD, { 0, 0 }, 0, 0, 0 },
        { "paused (accept error, descriptors)", HYB_ADMIT_GATE, { 0, 0 },
          W(0, 0, 1, 0, 0, -3, -3, 0, NS, -1),
          HYB_ADMIT_HOLD, { 0, 0 }, 0, 0, 0 },
        { "no job waits, no shared array", HYB_ADMIT_GATE, { 0, 0 },
          W(0, 0, 0, 0, 0, U, -1, 0, NS, -1),
          HYB_ADMIT_ACCEPT, { 0, 0 }, 0, 0, ASK_STARVED },
        { "no job waits, an idle worker: no sibling scan", HYB_ADMIT_GATE,
          { 0, 0 }, W(0, 0, 0, 0, 0, -1, -1, 0, 5, 1),
          HYB_ADMIT_ACCEPT, { 0, 0 }, 0, 0, ASK_STARVED },
        { "starved: queue the token", HYB_ADMIT_GATE, { 0, 0 },
          W(0, 0, 0, 0, 0, 3, 3, 1, -5, 1),
          HYB_ADMIT_QUEUE_TOKEN, { 0, 0 }, 0, 0, ASK_STARVED },
        { "starved, token queued: wait for it", HYB_ADMIT_GATE, { 0, 1 },
          W(0, 0, 0, 0, 0, 3, 3, 1, -5, 1),
          HYB_ADMIT_HOLD, { 0, 1 }, 0, 0, ASK_STARVED },
        { "token popped: a batch, starved not asked", HYB_ADMIT_GATE,
          { 0, 1 }, W(0, 0, 0, 1, 0, 3, 3, 1, 5, 1),
          HYB_ADMIT_ACCEPT, { HYB_ADMIT_BATCH, 0 }, 1, 0, ASK_SIBLING },
        { "token popped, a sibling has less demand", HYB_ADMIT_GATE,
          { 0, 1 }, W(0, 0, 0, 1, 0, 3, 3, 1, -2, 1),
          HYB_ADMIT_DEFER, { HYB_ADMIT_BATCH, 0 }, 1, 0,
          ASK_SIBLING | ASK_LOAD },
        { "all equally loaded: none defers", HYB_ADMIT_GATE, { 0, 0 },
          W(0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
          HYB_ADMIT_ACCEPT, { 0, 0 }, 0, 0, ASK_STARVED | ASK_SIBLING },
        { "hint says defer, a worker came since", HYB_ADMIT_GATE, { 0, 0 },
          W(0, 0, 0, 0, 0, 0, -1, 0, -5, 1),
          HYB_ADMIT_ACCEPT, { 0, 0 }, 0, 0,
          ASK_STARVED | ASK_SIBLING | ASK_LOAD },
        { "gathering heads count as demand", HYB_ADMIT_GATE, { 0, 0 },
          W(0, 0, 0, 0, 3, -2, -2, 0, 0, 1),
          HYB_ADMIT_DEFER, { 0, 0 }, 0, 0,
          ASK_STARVED | ASK_SIBLING | ASK_LOAD },
    };

    (void)state;
    run_table(t, sizeof(t) / sizeof(t[0]));
}

/* Rules 1 and 2 after an accept. */
static void test_accepted(void **state)
{
    static const row_t t[] = {
        { "idle workers: go on", HYB_ADMIT_ACCEPTED, { 0, 0 },
          W(1, 0, 0, 0, 0, -3, -3, 0, -5, 1),
          HYB_ADMIT_ACCEPT, { 0, 0 }, 0, 0, ASK_STARVED },
        { "a job left waiting: pause", HYB_ADMIT_ACCEPTED, { 0, 0 },
          W(1, 0, 0, 0, 0, 1, 1, 1, 1, 1),
          HYB_ADMIT_PAUSE, { 0, 0 }, 0, 0, ASK_SIBLING | ASK_STARVED },
        { "token batch passes over starved", HYB_ADMIT_ACCEPTED, { 5, 0 },
          W(1, 0, 0, 0, 0, 2, 2, 1, 4, 1),
          HYB_ADMIT_ACCEPT, { 4, 0 }, 0, 0, ASK_SIBLING },
        { "token batch, idle worker: no scan", HYB_ADMIT_ACCEPTED, { 5, 0 },
          W(1, 0, 0, 0, 0, -3, -3, 0, 4, 1),
          HYB_ADMIT_ACCEPT, { 4, 0 }, 0, 0, 0 },
        { "a less loaded sibling ends the batch", HYB_ADMIT_ACCEPTED,
          { 5, 0 }, W(1, 0, 0, 0, 0, 2, 2, 1, -1, 1),
          HYB_ADMIT_DEFER, { 5, 0 }, 0, 0, ASK_SIBLING | ASK_LOAD },
        /* Rule 2's case: 25 HTTP/2 connections hold all 25 workers of
         * this child for the whole run (no idle worker, none queued); a
         * sibling has 20 idle. */
        { "h2 holds every worker, sibling idle", HYB_ADMIT_ACCEPTED, { 0, 0 },
          W(1, 0, 0, 0, 0, 0, 0, 0, -20, 2),
          HYB_ADMIT_DEFER, { 0, 0 }, 0, 0, ASK_SIBLING | ASK_LOAD },
        { "h2 holds every worker, siblings too", HYB_ADMIT_ACCEPTED, { 0, 0 },
          W(1, 0, 0, 0, 0, 0, 0, 0, 0, 2),
          HYB_ADMIT_ACCEPT, { 0, 0 }, 0, 0, ASK_SIBLING | ASK_STARVED },
        { "hint stale: the exact load has an idle worker", HYB_ADMIT_ACCEPTED,
          { 0, 0 }, W(1, 0, 0, 0, 0, 1, -1, 0, 0, 2),
          HYB_ADMIT_ACCEPT, { 0, 0 }, 0, 0,
          ASK_SIBLING | ASK_LOAD | ASK_STARVED },
        { "no sibling at all", HYB_ADMIT_ACCEPTED, { 0, 0 },
          W(1, 0, 0, 0, 0, 1, 1, 1, NS, -1),
          HYB_ADMIT_PAUSE, { 0, 0 }, 0, 0, ASK_SIBLING | ASK_STARVED },
    };

    (void)state;
    run_table(t, sizeof(t) / sizeof(t[0]));
}

/* Rule 3 after each round. */
static void test_balance(void **state)
{
    static const row_t t[] = {
        { "one waits, sibling has one idle", HYB_ADMIT_BALANCE, { 0, 0 },
          W(1, 0, 0, 0, 0, 1, 1, 1, -1, 2),
          HYB_ADMIT_HANDOFF, { 0, 0 }, 0, 1, ASK_SIBLING },
        { "no more than the cap a round", HYB_ADMIT_BALANCE, { 0, 0 },
          W(0, 0, 0, 0, 0, 9, 9, 1, -10, 2),
          HYB_ADMIT_HANDOFF, { 0, 0 }, 0, HYB_ADMIT_HANDOFF_MAX, ASK_SIBLING },
        { "nothing waits: no scan", HYB_ADMIT_BALANCE, { 0, 0 },
          W(1, 0, 0, 0, 0, 0, 0, 0, -10, 2),
          HYB_ADMIT_HOLD, { 0, 0 }, 0, 0, 0 },
        { "stopping hands nothing", HYB_ADMIT_BALANCE, { 0, 0 },
          W(0, 1, 0, 0, 0, 3, 3, 1, -10, 2),
          HYB_ADMIT_HOLD, { 0, 0 }, 0, 0, 0 },
        { "no shared array", HYB_ADMIT_BALANCE, { 0, 0 },
          W(0, 0, 0, 0, 0, U, 3, 1, -10, 2),
          HYB_ADMIT_HOLD, { 0, 0 }, 0, 0, 0 },
        { "sibling busy too", HYB_ADMIT_BALANCE, { 0, 0 },
          W(0, 0, 0, 0, 0, 3, 3, 1, 0, 2),
          HYB_ADMIT_HOLD, { 0, 0 }, 0, 0, ASK_SIBLING },
        { "no sibling", HYB_ADMIT_BALANCE, { 0, 0 },
          W(0, 0, 0, 0, 0, 3, 3, 1, NS, -1),
          HYB_ADMIT_HOLD, { 0, 0 }, 0, 0, ASK_SIBLING },
    };

    (void)state;
    run_table(t, sizeof(t) / sizeof(t[0]));
}

/* Rule 3's case at full capacity: a TLS burst right after an h2c load
 * finds every worker of every child busy; token turns pile 36 new
 * connections into one child of 25 workers.  While every sibling is as
 * busy, nothing moves; the moment one shows idle workers, the surplus goes
 * there, a few a round. */
static void test_full_capacity_h2(void **state)
{
    static const hyb_admit_state_t st = { 0, 0 };
    world_t busy = { 0, 0, 0, 0, 0, 11, 11, 1, 4, 1 };
    hyb_admit_verdict_t v;
    int asked, moved = 0, rounds;

    (void)state;
    v = ask(HYB_ADMIT_BALANCE, &st, &busy, &asked);
    assert_int_equal(v.action, HYB_ADMIT_HOLD);
    busy.sibling_demand = -3;               /* three of its h2 ended */
    for (rounds = 0; rounds < 10 && busy.load_hint > 0; rounds++) {
        v = ask(HYB_ADMIT_BALANCE, &st, &busy, &asked);
        if (v.action != HYB_ADMIT_HANDOFF) {
            break;
        }
        moved += v.handoff;
        busy.load_hint -= v.handoff;
        busy.sibling_demand += v.handoff;   /* its idle workers took them */
    }
    assert_int_equal(moved, 3);             /* no more than it had idle */
    assert_int_equal(busy.load_hint, 8);
}

/* Rule 1 as a sequence: starved -> token queued -> held -> popped -> a
 * batch of HYB_ADMIT_BATCH accepts while still starved -> pause. */
static void test_token_turn(void **state)
{
    hyb_admit_state_t st = { 0, 0 };
    world_t w = { 0, 0, 0, 0, 0, 30, 30, 1, NS, -1 };
    hyb_admit_verdict_t v;
    int asked, i;

    (void)state;
    v = ask(HYB_ADMIT_GATE, &st, &w, &asked);
    assert_int_equal(v.action, HYB_ADMIT_QUEUE_TOKEN);
    st = v.next;
    st.token_queued = 1;                    /* the push succeeded */
    v = ask(HYB_ADMIT_GATE, &st, &w, &asked);
    assert_int_equal(v.action, HYB_ADMIT_HOLD);
    w.token_popped = 1;
    v = ask(HYB_ADMIT_GATE, &st, &w, &asked);
    assert_int_equal(v.action, HYB_ADMIT_ACCEPT);
    assert_true(v.took_token);
    st = v.next;
    assert_int_equal(st.token_queued, 0);
    w.token_popped = 0;
    w.accepting = 1;
    for (i = 0; i < HYB_ADMIT_BATCH; i++) {
        v = ask(HYB_ADMIT_ACCEPTED, &st, &w, &asked);
        assert_int_equal(v.action, HYB_ADMIT_ACCEPT);
        assert_int_equal(asked, ASK_SIBLING);   /* starved never asked */
        st = v.next;
    }
    v = ask(HYB_ADMIT_ACCEPTED, &st, &w, &asked);
    assert_int_equal(v.action, HYB_ADMIT_PAUSE);
}

/* A handed-over connection that again finds no worker is handed on, up to
 * HYB_HANDOFF_MAX_HOPS times in all; then it stays. */
static void test_hops(void **state)
{
    unsigned int h;

    (void)state;
    for (h = 0; h < HYB_HANDOFF_MAX_HOPS; h++) {
        assert_true(hyb_admit_may_hand_on(h));
    }
    assert_false(hyb_admit_may_hand_on(HYB_HANDOFF_MAX_HOPS));
    assert_false(hyb_admit_may_hand_on(HYB_HANDOFF_MAX_HOPS + 1));
    assert_false(hyb_admit_may_hand_on(255));
}

/* MaxConnectionsPerChild counts a connection in the child that accepted
 * it; the child that receives it from a sibling does not count it again. */
static void test_max_connections(void **state)
{
    int unlimited = -1, left = 2, i;

    (void)state;
    for (i = 0; i < 100; i++) {
        assert_false(hyb_admit_count_conn(&unlimited, HYB_ADMIT_FROM_ACCEPT));
    }
    assert_int_equal(unlimited, -1);
    assert_false(hyb_admit_count_conn(&left, HYB_ADMIT_FROM_ACCEPT));
    assert_int_equal(left, 1);
    for (i = 0; i < 5; i++) {
        assert_false(hyb_admit_count_conn(&left, HYB_ADMIT_FROM_SIBLING));
    }
    assert_int_equal(left, 1);
    assert_true(hyb_admit_count_conn(&left, HYB_ADMIT_FROM_ACCEPT));
    assert_int_equal(left, 0);
    assert_false(hyb_admit_count_conn(&left, HYB_ADMIT_FROM_ACCEPT));
    assert_int_equal(left, 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_gate),
    cmocka_unit_test(test_accepted),
    cmocka_unit_test(test_balance),
    cmocka_unit_test(test_full_capacity_h2),
    cmocka_unit_test(test_token_turn),
    cmocka_unit_test(test_hops),
    cmocka_unit_test(test_max_connections),
};

HYB_TEST_GROUP(hyb_test_admit, tests);
