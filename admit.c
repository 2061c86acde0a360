/* admit.c - the admission policy of a child's listener (see admit.h and
 * docs/admission.md).
 *
 * Owns: the three admission rules as pure functions of a snapshot:
 *   rule 1  back-pressure: the child stops accepting while a job waits in
 *           its queue with no worker coming, and queues an accept token
 *           behind those jobs; when a worker takes the token, a batch of
 *           HYB_ADMIT_BATCH accepts passes over the check;
 *   rule 2  a child with no idle worker to spare leaves new connections to
 *           a sibling with less demand (load + connections gathering);
 *   rule 3  a child whose queue holds jobs with no worker coming hands
 *           up to HYB_ADMIT_HANDOFF_MAX queued new connections per round to
 *           the sibling with the most idle workers, no more than it has.
 * and the two small rules around them: how far a connection travels
 * (HYB_HANDOFF_MAX_HOPS) and which connections MaxConnectionsPerChild
 * counts.
 *
 * Threads: no state; called by the listener thread of each child.
 */
#include "admit.h"
#include "handoff.h"

void hyb_admit_snapshot_init(hyb_admit_snapshot_t *s, hyb_admit_when_e when,
                             const hyb_admit_state_t *state)
{
    s->when = when;
    s->state = *state;
    s->accepting = 0;
    s->stopping = 0;
    s->paused = 0;
    s->token_popped = 0;
    s->gathering = 0;
    s->load_hint = HYB_ADMIT_UNKNOWN;
    s->load = HYB_ADMIT_UNKNOWN;
    s->starved = HYB_ADMIT_UNKNOWN;
    s->sibling_demand = HYB_ADMIT_UNKNOWN;
    s->sibling_slot = -1;
}

static hyb_admit_verdict_t hyb_admit_say(hyb_admit_action_e action,
                                         const hyb_admit_state_t *next)
{
    hyb_admit_verdict_t v;

    v.action = action;
    v.next = *next;
    v.took_token = 0;
    v.handoff = 0;
    v.to = -1;
    return v;
}

/* Rule 2.  HYB_ADMIT_DEFER, HYB_ADMIT_ACCEPT (no reason to defer) or the
 * fact still needed.  The published load word is read first: by its
 * definition never below the exact load, so a child whose word shows an
 * idle worker, or no sibling below it, needs no lock; one that looks as
 * though it must defer confirms with the exact load, which also counts a
 * worker on its way to wait. */
static hyb_admit_action_e hyb_admit_defer(const hyb_admit_snapshot_t *s)
{
    int demand;

    if (s->load_hint == HYB_ADMIT_UNKNOWN) {
        return HYB_ADMIT_ACCEPT;        /* no shared array: no siblings */
    }
    demand = s->load_hint + s->gathering;
    if (demand < 0) {
        return HYB_ADMIT_ACCEPT;        /* an idle worker to spare */
    }
    if (s->sibling_demand == HYB_ADMIT_UNKNOWN) {
        return HYB_ADMIT_NEED_SIBLING;
    }
    if (s->sibling_demand >= demand) {
        return HYB_ADMIT_ACCEPT;
    }
    if (s->load == HYB_ADMIT_UNKNOWN) {
        return HYB_ADMIT_NEED_LOAD;
    }
    demand = s->load + s->gathering;
    return demand >= 0 && s->sibling_demand < demand ? HYB_ADMIT_DEFER
                                                     : HYB_ADMIT_ACCEPT;
}

/* Rule 1 at the end of a round, while the listening sockets are not
 * watched.  A popped token starts a batch; the batch, or a queue with no
 * job left waiting, lets the child watch again unless rule 2 defers; else
 * the token goes in behind the waiting jobs, once. */
static hyb_admit_verdict_t hyb_admit_gate(const hyb_admit_snapshot_t *s)
{
    hyb_admit_state_t next = s->state;
    hyb_admit_verdict_t v;
    hyb_admit_action_e a;

    if (s->accepting || s->stopping || s->paused) {
        return hyb_admit_say(HYB_ADMIT_HOLD, &next);
    }
    if (s->token_popped) {
        next.token_queued = 0;
        next.batch = HYB_ADMIT_BATCH;
    }
    if (next.batch > 0 || s->starved == 0) {
        a = hyb_admit_defer(s);
    }
    else if (s->starved == HYB_ADMIT_UNKNOWN) {
        a = HYB_ADMIT_NEED_STARVED;
    }
    else {
        a = next.token_queued ? HYB_ADMIT_HOLD : HYB_ADMIT_QUEUE_TOKEN;
    }
    v = hyb_admit_say(a, &next);
    v.took_token = s->token_popped != 0;
    return v;
}

/* Rules 1 and 2 after an accept.  A less loaded sibling ends even a token
 * turn's batch; the batch passes over the starved check. */
static hyb_admit_verdict_t hyb_admit_accepted(const hyb_admit_snapshot_t *s)
{
    hyb_admit_state_t next = s->state;
    hyb_admit_action_e a = hyb_admit_defer(s);

    if (a != HYB_ADMIT_ACCEPT) {
        return hyb_admit_say(a, &next);
    }
    if (next.batch > 0) {
        next.batch--;
        return hyb_admit_say(HYB_ADMIT_ACCEPT, &next);
    }
    if (s->starved == HYB_ADMIT_UNKNOWN) {
        return hyb_admit_say(HYB_ADMIT_NEED_STARVED, &next);
    }
    return hyb_admit_say(s->starved ? HYB_ADMIT_PAUSE : HYB_ADMIT_ACCEPT,
                         &next);
}

/* Rule 3, after each round: jobs wait here with no worker coming (by the
 * published word), and a sibling has idle workers: hand it up to that
 * many new connections, at most HYB_ADMIT_HANDOFF_MAX.  A stopping child
 * hands nothing. */
static hyb_admit_verdict_t hyb_admit_balance(const hyb_admit_snapshot_t *s)
{
    hyb_admit_verdict_t v = hyb_admit_say(HYB_ADMIT_HOLD, &s->state);
    int spare;

    if (s->stopping || s->load_hint == HYB_ADMIT_UNKNOWN || s->load_hint <= 0) {
        return v;
    }
    if (s->sibling_demand == HYB_ADMIT_UNKNOWN) {
        v.action = HYB_ADMIT_NEED_SIBLING;
        return v;
    }
    if (s->sibling_slot < 0 || s->sibling_demand >= 0) {
        return v;
    }
    spare = -s->sibling_demand;
    v.action = HYB_ADMIT_HANDOFF;
    v.to = s->sibling_slot;
    v.handoff = spare < HYB_ADMIT_HANDOFF_MAX ? spare : HYB_ADMIT_HANDOFF_MAX;
    return v;
}

hyb_admit_verdict_t hyb_admit_decide(const hyb_admit_snapshot_t *s)
{
    switch (s->when) {
    case HYB_ADMIT_GATE:
        return hyb_admit_gate(s);
    case HYB_ADMIT_ACCEPTED:
        return hyb_admit_accepted(s);
    default:
        return hyb_admit_balance(s);
    }
}

int hyb_admit_may_hand_on(unsigned int hops)
{
    return hops < HYB_HANDOFF_MAX_HOPS;
}

int hyb_admit_count_conn(int *left, hyb_admit_origin_e origin)
{
    if (origin != HYB_ADMIT_FROM_ACCEPT || *left <= 0) {
        return 0;
    }
    return --*left == 0;
}
