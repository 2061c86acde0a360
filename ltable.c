/* ltable.c - the listener's side of the ExtendedStatus connection table:
 * at most once a second (lsnap.h, hyb_lsnap_due), a walk over the
 * connections the listener holds, written into its slot's shared area.
 *
 * The walk takes the gathering connections first (slow clients are what
 * an admin looks for), then the other places, each queue from its head
 * (the oldest or the soonest due first), and stops at HYB_LSNAP_ROWS: it
 * visits at most that many connections, whatever the child holds.  The
 * counts per state come from the listener's exact per-place counts, so
 * the page can say how many were left out.  No allocation: the rows are
 * built in a static buffer, the address read from the socket (APR keeps
 * it there; a connection received from a sibling pays one getpeername
 * the first time) into the row.
 *
 * Owns: the buffer and when it was last published (statics: one listener
 * thread per child process).  Threads: the listener thread only.
 */
#include "listener.h"
#include "lsnap.h"

#include <unistd.h>

static hyb_lsnap_t hyb_lt_buf;          /* owner: the listener thread */
static apr_time_t hyb_lt_last;          /* when it was last published */

static hyb_conn_t *hyb_lt_conn_of(const hyb_tq_entry_t *e)
{
    return (hyb_conn_t *)((char *)e - APR_OFFSETOF(hyb_conn_t, l.tqe));
}

static int hyb_lt_state(hyb_place_e place)
{
    switch (place) {
    case HYB_AT_GATHER:    return HYB_MX_GATHERING;
    case HYB_AT_KEEPALIVE: return HYB_MX_KEEPALIVE;
    case HYB_AT_WRITE:     return HYB_MX_WRITING;
    case HYB_AT_WAITIO:    return HYB_MX_WAITIO;
    case HYB_AT_LINGER:    return HYB_MX_CLOSING;
    default:               return -1;
    }
}

static void hyb_lt_row(hyb_lsnap_row_t *row, hyb_conn_t *hc, int state)
{
    apr_sockaddr_t *sa = NULL;
    char ip[HYB_LSNAP_IPLEN];
    int gathering = state == HYB_MX_GATHERING;

    ip[0] = '\0';
    if (apr_socket_addr_get(&sa, APR_REMOTE, hc->sock) != APR_SUCCESS
        || apr_sockaddr_ip_getbuf(ip, sizeof(ip), sa) != APR_SUCCESS) {
        ip[0] = '\0';
        sa = NULL;
    }
    hyb_lsnap_row_set(row, (hyb_mx_state_e)state,
                      gathering ? hc->l.gather_start : hc->l.since,
                      gathering ? hc->l.gather_bytes : 0, ip,
                      sa ? (apr_uint16_t)sa->port : 0);
}

/* Rows from the queues that are (placed) or are not (!placed) the
 * gathering ones, until the buffer is full. */
static void hyb_lt_walk(hyb_listener_t *l, hyb_lsnap_t *s, int placed)
{
    unsigned int i, nq = hyb_tq_set_size(l->tqs);

    for (i = 0; i < nq && s->h.nrows < HYB_LSNAP_ROWS; i++) {
        const hyb_tq_t *q = hyb_tq_set_at(l->tqs, i);
        const hyb_tq_entry_t *e;
        if (q->placed != placed) {
            continue;
        }
        for (e = q->head; e && s->h.nrows < HYB_LSNAP_ROWS; e = e->next) {
            hyb_conn_t *hc = hyb_lt_conn_of(e);
            int state = hyb_lt_state(hc->l.place);
            if (state >= 0) {
                hyb_lt_row(&s->rows[s->h.nrows++], hc, state);
            }
        }
    }
}

/* After each loop round (hyb_l_after_round): refresh the area if due. */
void hyb_l_table(hyb_listener_t *l)
{
    hyb_lsnap_t *s = &hyb_lt_buf;
    hyb_lsnap_area_t *a;
    apr_uint64_t parked = 0;
    int k;

    for (k = HYB_AT_NONE + 1; k < HYB_AT_NUM; k++) {
        parked += l->count_at[k];
    }
    if (!hyb_lsnap_due(ap_extended_status, l->now, hyb_lt_last, s->h.nrows,
                       parked)
        || !(a = hyb_lsnap_for(l->ch->slot))) {
        return;
    }
    s->h.pid = (apr_uint64_t)getpid();
    s->h.taken = (apr_uint64_t)l->now;
    s->h.nrows = 0;
    for (k = HYB_AT_NONE + 1; k < HYB_AT_NUM; k++) {
        int state = hyb_lt_state((hyb_place_e)k);
        if (state >= 0) {
            s->h.count[state] = l->count_at[k];
        }
    }
    hyb_lt_walk(l, s, 1);
    hyb_lt_walk(l, s, 0);
    hyb_lsnap_publish(a, s);
    hyb_lt_last = l->now;
}
