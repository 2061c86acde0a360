/* status.c - what hybrid adds to mod_status: the number of connections
 * gathering a request head, which the scoreboard has no field for.
 *
 * Owns a small shared-memory array (one counter per process slot), created
 * once by the parent and kept across restarts in the retained data, and the
 * mod_status hook that prints it: a "ConnsAsyncGathering" key in ?auto
 * (after the standard keys, which are unchanged) and a per-process line in
 * the HTML page.
 *
 * Threads: hyb_status_init runs in the parent during configuration; each
 * counter is written by its child's listener thread (hyb_status_set_...)
 * and zeroed by the parent when it reaps that child; the hook, on any
 * worker of any child, only reads.
 */
#include "hyb.h"

#include "http_protocol.h"
#include "mod_status.h"

#include <apr_shm.h>
#include <apr_optional_hooks.h>

/* Parent, post_config: once per server lifetime (the array is sized for the
 * first ServerLimit, which restarts cannot change). */
apr_status_t hyb_status_init(hyb_retained_t *r)
{
    apr_size_t size = r->first_server_limit * sizeof(apr_uint32_t);
    apr_shm_t *shm;
    apr_status_t rv;

    if (r->gathering) {
        return APR_SUCCESS;
    }
    rv = apr_shm_create(&shm, size, NULL, ap_pglobal);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    r->gathering = apr_shm_baseaddr_get(shm);
    memset((void *)r->gathering, 0, size);
    return APR_SUCCESS;
}

/* Listener thread of the child in `slot`. */
void hyb_status_set_gathering(int slot, apr_uint32_t n)
{
    volatile apr_uint32_t *g = hyb_srv.retained->gathering;

    if (g && slot >= 0 && slot < hyb_srv.retained->first_server_limit) {
        g[slot] = n;
    }
}

/* Parent, when the child of `slot` is gone. */
void hyb_status_clear(int slot)
{
    hyb_status_set_gathering(slot, 0);
}

/* Total over live slots; optionally printed per process (HTML). */
static apr_uint32_t hyb_status_sum(request_rec *r, int html)
{
    hyb_retained_t *rt = hyb_srv.retained;
    apr_uint32_t total = 0;
    int i;

    for (i = 0; i < rt->first_server_limit; i++) {
        process_score *ps = ap_get_scoreboard_process(i);
        apr_uint32_t n = rt->gathering[i];
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
    if (!hyb_srv.retained || !hyb_srv.retained->gathering) {
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
