/* gather.c - what head gathering needs outside the listener loop: its
 * directives, the head timeout of each server (mod_reqtimeout's header
 * stage, or Timeout), the check a worker makes before parking a keep-alive
 * connection, and the input filter that ends a head that timed out.
 *
 * The listener (listener.c) holds a connection until hyb_hs_scan says its
 * request head (or TLS record) is complete; this file decides for how long.
 *
 * Threads: the directive setters and hyb_gather_post_config run in the
 * parent's main thread during configuration; hyb_head_timeout and
 * hyb_head_deadline are read-only afterwards (listener thread); the rest
 * runs on the worker that owns the connection.
 */
#include "hyb.h"

#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include <sys/socket.h>
#include <errno.h>
#include <apr_strings.h>

/* Bytes a worker peeks to see whether the next request head is complete
 * before it parks a keep-alive connection; bigger heads are left to the
 * listener, which looks at up to HybridGatherMaxHead. */
#define HYB_WORKER_PEEK 4096
#define HYB_GATHER_MAX_CAP (64 * 1024)

static ap_filter_rec_t *hyb_nowait_filter;

/* ---- directives ------------------------------------------------------------ */

const char *hyb_set_gather(cmd_parms *cmd, void *d, int on)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    (void)d;
    if (err) {
        return err;
    }
    hyb_srv.gather = on;
    return NULL;
}

static const char *hyb_parse_range(cmd_parms *cmd, const char *arg, long lo,
                                   long hi, long *out)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char *end;
    long v;

    if (err) {
        return err;
    }
    v = strtol(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || v < lo || v > hi) {
        return apr_psprintf(cmd->pool, "%s must be an integer from %ld to %ld, "
                            "not '%s'", cmd->cmd->name, lo, hi, arg);
    }
    *out = v;
    return NULL;
}

const char *hyb_set_gather_max(cmd_parms *cmd, void *d, const char *arg)
{
    long v;
    const char *err = hyb_parse_range(cmd, arg, 1024, 1024 * 1024, &v);

    (void)d;
    if (!err) {
        hyb_srv.gather_max = (apr_size_t)v;
    }
    return err;
}

const char *hyb_set_gather_per_ip(cmd_parms *cmd, void *d, const char *arg)
{
    long v;
    const char *err = hyb_parse_range(cmd, arg, 0, 1000000, &v);

    (void)d;
    if (!err) {
        hyb_srv.gather_per_ip = (int)v;
    }
    return err;
}

/* ---- head timeouts -------------------------------------------------------- */

/* mod_reqtimeout's header stage as written in one server's configuration. */
typedef struct hyb_rrt_t {
    int set;                    /* a header= parameter was given */
    int timeout, max_timeout, min_rate;     /* seconds, seconds, bytes/s */
} hyb_rrt_t;

typedef struct hyb_gather_conf_t {
    hyb_rrt_t rrt;              /* as written in this server's scope */
    hyb_head_timeout_t head;    /* effective, computed at post_config */
} hyb_gather_conf_t;

void *hyb_gather_create_server_config(apr_pool_t *p, server_rec *s)
{
    (void)s;
    return apr_pcalloc(p, sizeof(hyb_gather_conf_t));
}

static hyb_gather_conf_t *hyb_gather_conf(server_rec *s)
{
    return ap_get_module_config(s->module_config, &mpm_hybrid_module);
}

/* "header=T[-MAX][,MinRate=R]"; other stages and malformed values are left
 * to mod_reqtimeout, which rejects them at configtest. */
static void hyb_rrt_parse_word(const char *w, hyb_rrt_t *out)
{
    const char *rate;

    if (strncasecmp(w, "header=", 7) != 0) {
        return;
    }
    w += 7;
    memset(out, 0, sizeof(*out));
    out->set = 1;
    out->timeout = atoi(w);
    if ((rate = ap_strcasestr(w, ",minrate=")) != NULL) {
        const char *dash = strchr(w, '-');
        if (dash && dash < rate) {
            out->max_timeout = atoi(dash + 1);
        }
        out->min_rate = atoi(rate + 9);
    }
}

static void hyb_rrt_parse_args(apr_pool_t *p, const char *args, hyb_rrt_t *out)
{
    while (*args) {
        char *w = ap_getword_conf(p, &args);
        if (*w) {
            hyb_rrt_parse_word(w, out);
        }
    }
}

/* The server_rec a <VirtualHost> section of the configuration tree made. */
static server_rec *hyb_vhost_of(const ap_directive_t *sect, server_rec *main_s)
{
    server_rec *s;

    for (s = main_s->next; s; s = s->next) {
        if ((int)s->defn_line_number == sect->line_num && s->defn_name
            && sect->filename && strcmp(s->defn_name, sect->filename) == 0) {
            return s;
        }
    }
    return NULL;
}

/* Read RequestReadTimeout's header= values from the parsed configuration
 * (mod_reqtimeout keeps its own settings private): top-level ones belong to
 * the main server, those inside <VirtualHost> to that vhost. */
static void hyb_read_rrt(apr_pool_t *p, server_rec *main_s)
{
    const ap_directive_t *d, *v;

    for (d = ap_conftree; d; d = d->next) {
        if (!strcasecmp(d->directive, "RequestReadTimeout")) {
            hyb_rrt_parse_args(p, d->args, &hyb_gather_conf(main_s)->rrt);
        }
        else if (!strcasecmp(d->directive, "<VirtualHost")) {
            server_rec *s = hyb_vhost_of(d, main_s);
            for (v = d->first_child; s && v; v = v->next) {
                if (!strcasecmp(v->directive, "RequestReadTimeout")) {
                    hyb_rrt_parse_args(p, v->args, &hyb_gather_conf(s)->rrt);
                }
            }
        }
    }
}

/* mod_reqtimeout's header stage when it is loaded (its defaults, 20-40 s
 * at 500 bytes/s, when nothing is configured), else the server's Timeout. */
static void hyb_head_timeout_of(server_rec *s, const hyb_rrt_t *rrt,
                                int reqtimeout, hyb_head_timeout_t *out)
{
    static const hyb_rrt_t dflt = { 1, 20, 40, 500 };

    if (reqtimeout && !rrt->set) {
        rrt = &dflt;
    }
    memset(out, 0, sizeof(*out));
    if (!reqtimeout || rrt->timeout <= 0) {
        out->timeout = s->timeout;
        return;
    }
    out->timeout = apr_time_from_sec(rrt->timeout);
    out->max_timeout = apr_time_from_sec(rrt->max_timeout);
    if (rrt->min_rate > 0) {
        out->per_byte = APR_USEC_PER_SEC / rrt->min_rate;
    }
}

static apr_size_t hyb_default_gather_max(server_rec *s)
{
    apr_size_t n = (apr_size_t)s->limit_req_line + 2
                   + (apr_size_t)s->limit_req_fields
                     * ((apr_size_t)s->limit_req_fieldsize + 2) + 2;

    if (s->limit_req_fields == 0 || n > HYB_GATHER_MAX_CAP) {
        n = HYB_GATHER_MAX_CAP;
    }
    return n < HYB_HS_MAX_RECORD + 5 ? HYB_HS_MAX_RECORD + 5 : n;
}

/* Parent, post_config: effective head timeouts of every server, and the
 * gathering limit when HybridGatherMaxHead is not set. */
void hyb_gather_post_config(apr_pool_t *p, server_rec *main_s)
{
    int reqtimeout = ap_find_linked_module("mod_reqtimeout.c") != NULL;
    const hyb_rrt_t *main_rrt;
    server_rec *s;

    hyb_read_rrt(p, main_s);
    main_rrt = &hyb_gather_conf(main_s)->rrt;
    for (s = main_s; s; s = s->next) {
        hyb_gather_conf_t *gc = hyb_gather_conf(s);
        hyb_head_timeout_of(s, gc->rrt.set ? &gc->rrt : main_rrt, reqtimeout,
                            &gc->head);
    }
    if (!hyb_srv.gather_max) {
        hyb_srv.gather_max = hyb_default_gather_max(main_s);
    }
}

/* Listener thread (read-only data). */
const hyb_head_timeout_t *hyb_head_timeout(server_rec *s)
{
    return &hyb_gather_conf(s)->head;
}

/* When a head that started at `start` and has `bytes` so far times out:
 * mod_reqtimeout's MinRate rule (each byte received extends the timeout,
 * up to max_timeout when one is set). */
apr_time_t hyb_head_deadline(const hyb_head_timeout_t *t, apr_time_t start,
                             apr_uint32_t bytes)
{
    apr_interval_time_t d = t->timeout;

    if (t->per_byte > 0) {
        d += (apr_interval_time_t)bytes * t->per_byte;
        if (t->max_timeout > 0 && d > t->max_timeout) {
            d = t->max_timeout;
        }
    }
    return start + d;
}

/* ---- worker side ---------------------------------------------------------- */

/* Worker, before parking a keep-alive connection: how the listener gathers
 * its next request.  HTTP/1.x heads on plain connections, whole TLS records
 * on TLS ones (their content is opaque); other protocols (h2c) are not
 * gathered (HYB_HS_AUTO). */
hyb_hs_mode_e hyb_gather_mode_after(conn_rec *c, int tls)
{
    if (!hyb_srv.gather) {
        return HYB_HS_AUTO;
    }
    if (tls) {
        return HYB_HS_RECORD;
    }
    return strcmp(ap_get_protocol(c), AP_PROTOCOL_HTTP1) == 0 ? HYB_HS_HTTP
                                                               : HYB_HS_AUTO;
}

/* Worker: 1 when the next request can be served without waiting (a whole
 * head, EOF or an error); 0 when nothing came yet and -1 when part of a head
 * did: then the connection waits in the listener.  Without gathering, any
 * readable byte is enough. */
int hyb_head_ready(int fd, hyb_hs_mode_e mode)
{
    unsigned char buf[HYB_WORKER_PEEK];
    hyb_hs_t hs;
    ssize_t n;

    if (mode == HYB_HS_AUTO) {
        return hyb_sock_readable(fd);
    }
    n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
    if (n <= 0) {
        return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK
                          && errno != EINTR);
    }
    hyb_hs_init(&hs, mode);
    return hyb_hs_scan(&hs, buf, (size_t)n, sizeof(buf)) == HYB_HS_DONE ? 1 : -1;
}

/* 1 when the brigade holds a line feed (a whole line for AP_MODE_GETLINE). */
static int hyb_has_lf(apr_bucket_brigade *bb)
{
    apr_bucket *b;

    for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
         b = APR_BUCKET_NEXT(b)) {
        const char *data;
        apr_size_t len;
        if (APR_BUCKET_IS_METADATA(b)) {
            return 1;           /* EOS and the like end the line too */
        }
        if (apr_bucket_read(b, &data, &len, APR_NONBLOCK_READ) != APR_SUCCESS
            || memchr(data, '\n', len)) {
            return 1;
        }
    }
    return 0;
}

/* The no-wait filter: sits right above the core's network filter on a
 * connection whose head timed out in the listener.  Every read becomes
 * non-blocking, and a read that would have to wait becomes APR_TIMEUP, so
 * the core (and mod_reqtimeout, mod_ssl) handle the timeout exactly as if
 * their own read had timed out, without a worker waiting again.  That
 * includes non-blocking callers and half lines: mod_reqtimeout reads lines
 * without blocking and then waits in its own poll, which must not start. */
static apr_status_t hyb_nowait_in(ap_filter_t *f, apr_bucket_brigade *bb,
                                  ap_input_mode_t mode, apr_read_type_e block,
                                  apr_off_t readbytes)
{
    apr_status_t rv = ap_get_brigade(f->next, bb, mode, APR_NONBLOCK_READ,
                                     readbytes);

    (void)block;
    if (APR_STATUS_IS_EAGAIN(rv)
        || (rv == APR_SUCCESS && (APR_BRIGADE_EMPTY(bb)
                                  || (mode == AP_MODE_GETLINE && !hyb_has_lf(bb))))) {
        ap_log_cerror(APLOG_MARK, APLOG_DEBUG, 0, f->c,
                      "hybrid: request head not complete within its timeout");
        apr_brigade_cleanup(bb);
        return APR_TIMEUP;
    }
    return rv;
}

/* Worker: before the connection runs after a head timeout. */
void hyb_gather_add_nowait(hyb_conn_t *hc)
{
    hc->head_expired = 0;
    if (!hc->expired_f) {
        hc->expired_f = ap_add_input_filter_handle(hyb_nowait_filter, NULL,
                                                   NULL, hc->c);
    }
}

/* Worker: the head has been read (post_read_request); the body and later
 * requests are read normally. */
void hyb_gather_remove_nowait(hyb_conn_t *hc)
{
    if (hc->expired_f) {
        ap_remove_input_filter(hc->expired_f);
        hc->expired_f = NULL;
    }
}

void hyb_gather_register_hooks(void)
{
    hyb_nowait_filter = ap_register_input_filter("HYBRID_HEAD_NOWAIT",
                                                 hyb_nowait_in, NULL,
                                                 AP_FTYPE_NETWORK - 1);
}
