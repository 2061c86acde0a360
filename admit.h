/* admit.h - the admission policy of a child's listener: when it watches the
 * listening sockets, when it queues the accept token, when it leaves new
 * connections to a sibling, and how many queued new connections it hands
 * to one (docs/admission.md, rules 1-3).
 *
 * Owns: pure functions over a snapshot the listener fills (no httpd or
 * libevent dependency; unit-tested directly).  The listener reads the
 * facts, asks hyb_admit_decide, and applies the answer; it decides
 * nothing itself.
 *
 * Threads: none of this has state; the snapshot and the hyb_admit_state_t
 * it carries belong to the listener thread of one child.
 *
 * Protocol: some facts cost a lock (the queue's) or arm the queue's idle
 * notification, or scan every slot, and are needed only on some paths.
 * They start as HYB_ADMIT_UNKNOWN; when the answer depends on one,
 * hyb_admit_decide says HYB_ADMIT_NEED_<fact>, and the listener reads that
 * fact and asks again with the same snapshot (at most three times per
 * question).  Only the last answer is applied.
 */
#ifndef HYB_ADMIT_H
#define HYB_ADMIT_H

#include <limits.h>

/* Accepts one accept-token turn admits without looking at the queue. */
#define HYB_ADMIT_BATCH        16
/* New connections handed to siblings per loop round, at most. */
#define HYB_ADMIT_HANDOFF_MAX  4
/* A fact not read (yet). */
#define HYB_ADMIT_UNKNOWN      INT_MIN
/* No sibling to compare with (sibling_demand). */
#define HYB_ADMIT_NO_SIBLING   INT_MAX

typedef enum {
    HYB_ADMIT_GATE = 0,         /* end of a loop round, while the listener
                                 * does not watch the listening sockets:
                                 * may it start again? */
    HYB_ADMIT_ACCEPTED,         /* just after an accept: go on watching? */
    HYB_ADMIT_BALANCE           /* end of a loop round: hand queued new
                                 * connections to a sibling? */
} hyb_admit_when_e;

typedef enum {
    HYB_ADMIT_ACCEPT = 0,       /* watch (or go on watching) the listening
                                 * sockets */
    HYB_ADMIT_HOLD,             /* leave things as they are (GATE: the token
                                 * is queued already, or the listener may not
                                 * accept at all; BALANCE: nothing to hand) */
    HYB_ADMIT_PAUSE,            /* stop watching: a job waits with no worker
                                 * coming (rule 1) */
    HYB_ADMIT_QUEUE_TOKEN,      /* queue the accept token behind the waiting
                                 * jobs (rule 1); the listener sets
                                 * token_queued once the push succeeded */
    HYB_ADMIT_DEFER,            /* do not watch: a sibling has less demand
                                 * (rule 2) */
    HYB_ADMIT_HANDOFF,          /* hand up to `handoff` new connections that
                                 * wait in the queue to sibling_slot (rule 3) */
    HYB_ADMIT_NEED_STARVED,     /* fill `starved` and ask again */
    HYB_ADMIT_NEED_LOAD,        /* fill `load` and ask again */
    HYB_ADMIT_NEED_SIBLING      /* fill `sibling_demand` and `sibling_slot`
                                 * and ask again */
} hyb_admit_action_e;

/* What the listener keeps between questions (owner: listener thread). */
typedef struct hyb_admit_state_t {
    int batch;                  /* accepts left in the current token turn */
    int token_queued;           /* the accept token is in the queue */
} hyb_admit_state_t;

typedef struct hyb_admit_snapshot_t {
    hyb_admit_when_e when;
    hyb_admit_state_t state;
    int accepting;              /* the listening sockets are watched */
    int stopping;               /* graceful stop: no accept, no handoff */
    int paused;                 /* accept error or descriptor budget pause */
    int token_popped;           /* a worker took the accept token */
    int gathering;              /* connections gathering a head here */
    int load_hint;              /* the published load word, read without a
                                 * lock; never below `load`; UNKNOWN when
                                 * there is no shared array */
    int load;                   /* jobs queued - workers waiting (or on their
                                 * way), under the queue's lock; UNKNOWN
                                 * until asked for */
    int starved;                /* a queued job has no worker coming (0/1);
                                 * UNKNOWN until asked for */
    int sibling_demand;         /* least demand (load + gathering) of an
                                 * accepting sibling of this generation;
                                 * NO_SIBLING when there is none; UNKNOWN
                                 * until asked for (a scan of every slot) */
    int sibling_slot;           /* its slot, or -1 */
} hyb_admit_snapshot_t;

typedef struct hyb_admit_verdict_t {
    hyb_admit_action_e action;
    hyb_admit_state_t next;     /* the state to keep from now on */
    int took_token;             /* the popped token was consumed: clear the
                                 * popped flag */
    int handoff;                /* HANDOFF: connections to hand, at most */
    int to;                     /* HANDOFF: the sibling's slot */
} hyb_admit_verdict_t;

/* A snapshot with every lazily read fact UNKNOWN and no sibling. */
void hyb_admit_snapshot_init(hyb_admit_snapshot_t *s, hyb_admit_when_e when,
                             const hyb_admit_state_t *state);

/* The rules; see the comments in admit.c and docs/admission.md. */
hyb_admit_verdict_t hyb_admit_decide(const hyb_admit_snapshot_t *s);

/* May a connection handed over `hops` times be handed on again (fewer
 * than HYB_HANDOFF_MAX_HOPS, handoff.h)? */
int hyb_admit_may_hand_on(unsigned int hops);

/* Where a connection came from, for MaxConnectionsPerChild. */
typedef enum {
    HYB_ADMIT_FROM_ACCEPT = 0,  /* accepted by this child */
    HYB_ADMIT_FROM_SIBLING      /* handed over by a sibling */
} hyb_admit_origin_e;

/* Count a new connection against MaxConnectionsPerChild (*left < 0:
 * unlimited).  Only the child that accepted a connection counts it: a
 * handed-over one was counted by the sibling, and counting it again would
 * make a child that helps its siblings restart sooner.  Returns 1 when
 * this connection used the last one, so the child must stop. */
int hyb_admit_count_conn(int *left, hyb_admit_origin_e origin);

#endif
