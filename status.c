/* status.c - what a child tells its siblings and mod_status that the
 * scoreboard has no field for: the connections gathering a request head,
 * and the load of its worker queue.
 *
 * Owns a small shared-memory array (hyb_shared_slot_t, one per process
 * slot), created once by the parent and kept across restarts in the
 * retained data; the mod_status hook that prints the gathering count (a
 * "ConnsAsyncGathering" key in ?auto, after the standard keys, which are
 * unchanged, and a per-process line in the HTML page); and the sibling
 * scan the listener uses to leave new connections to a less loaded child
 * (hyb_status_least_loaded_sibling).
 *
 * Threads: hyb_status_init runs in the parent during configuration; each
 * field has one writer in its child (see hyb_shared_slot_t) and is zeroed
 * by the parent when it reaps that child; readers take no lock.
 */
#include "hyb.h"

#include "http_protocol.h"
#include "mod_status.h"

#include <apr_shm.h>
#include <limits.h>
#include <apr_optional_hooks.h>

/* Parent, post_config: once per server lifetime (the array is sized for the
 * first ServerLimit, which restarts cannot change). */
apr_status_t hyb_status_init(hyb_retained_t *r)
{
    apr_size_t size = r->first_server_limit * sizeof(hyb_shared_slot_t);
    apr_shm_t *shm;
    apr_status_t rv;

    if (r->shared) {
        return APR_SUCCESS;
    }
    rv = apr_shm_create(&shm, size, NULL, ap_pglobal);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    r->shared = apr_shm_baseaddr_get(shm);
    memset((void *)r->shared, 0, size);
    return APR_SUCCESS;
}

static volatile hyb_shared_slot_t *hyb_status_slot(int slot)
{
    hyb_retained_t *rt = hyb_srv.retained;

    if (!rt || !rt->shared || slot < 0 || slot >= rt->first_server_limit) {
        return NULL;
    }
    return &rt->shared[slot];
}

/* Listener thread of the child in `slot`. */
void hyb_status_set_gathering(int slot, apr_uint32_t n)
{
    volatile hyb_shared_slot_t *sh = hyb_status_slot(slot);

    if (sh) {
        sh->gathering = n;
    }
}

/* Child main thread, before the workers start: the word its queue keeps
 * its load in (NULL without the shared array). */
volatile apr_int32_t *hyb_status_load_word(int slot)
{
    volatile hyb_shared_slot_t *sh = hyb_status_slot(slot);

    return sh ? &sh->load : NULL;
}

/* Parent, when the child of `slot` is gone. */
void hyb_status_clear(int slot)
{
    volatile hyb_shared_slot_t *sh = hyb_status_slot(slot);

    if (sh) {
        sh->gathering = 0;
        sh->load = 0;
    }
}

/* Listener thread of the child in self_slot: the slot of the least loaded
 * other child of this generation that is accepting, and its demand (queue
 * load plus connections gathering a head, each of which will want a
 * worker) in *demand; -1 (and INT_MAX) when there is none.  One pass over
 * ServerLimit slots, a few reads each; a racy hint.  A child that lies
 * here can at worst make its busier siblings leave or hand new connections
 * to it, which it could take anyway (the parent never reads this array). */
int hyb_status_least_loaded_sibling(int self_slot, int *demand)
{
    hyb_retained_t *rt = hyb_srv.retained;
    ap_generation_t gen = rt->mpm->my_generation;
    int i, best = -1;

    *demand = INT_MAX;
    if (!rt->shared) {
        return best;
    }
    for (i = 0; i < rt->first_server_limit; i++) {
        process_score *ps = ap_get_scoreboard_process(i);
        volatile hyb_shared_slot_t *sh = &rt->shared[i];
        int d;
        if (i == self_slot || !ps->pid || ps->generation != gen
            || ps->quiescing || ps->not_accepting) {
            continue;
        }
        d = sh->load + (int)sh->gathering;
        if (d < *demand) {
            *demand = d;
            best = i;
        }
    }
    return best;
}

/* Total over live slots; optionally printed per process (HTML). */
static apr_uint32_t hyb_status_sum(request_rec *r, int html)
{
    hyb_retained_t *rt = hyb_srv.retained;
    apr_uint32_t total = 0;
    int i;

    for (i = 0; i < rt->first_server_limit; i++) {
        process_score *ps = ap_get_scoreboard_process(i);
        apr_uint32_t n = rt->shared[i].gathering;
        if (!ps->pid) {
            continue;
        }
        total += n;
        if (html && n) {
            ap_rprintf(r, "<dd>process %" APR_PID_T_FMT " (slot %d): %u</dd>\n",
                       ps->pid, i, n);
        }
    }
    return total;
}

static int hyb_status_hook(request_rec *r, int flags)
{
    if (!hyb_srv.retained || !hyb_srv.retained->shared) {
        return OK;
    }
    if (flags & AP_STATUS_SHORT) {
        ap_rprintf(r, "ConnsAsyncGathering: %u\n", hyb_status_sum(r, 0));
        return OK;
    }
    ap_rputs("<hr /><dl><dt>Connections gathering a request head "
             "(hybrid, no worker held):</dt>\n", r);
    ap_rprintf(r, "<dd>total: %u</dd>\n", hyb_status_sum(r, 0));
    hyb_status_sum(r, 1);
    ap_rputs("</dl>\n", r);
    return OK;
}

void hyb_status_register_hooks(void)
{
    APR_OPTIONAL_HOOK(ap, status_hook, hyb_status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
}
