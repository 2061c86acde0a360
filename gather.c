/* gather.c - what head gathering needs outside the listener loop: each
 * server's own view of the configuration it depends on
 * (mod_reqtimeout's header and handshake stages, Timeout, SSLEngine; one
 * struct per server, vhosts included), which server and gathering mode a
 * new connection gets, the check a worker makes before parking a
 * keep-alive connection, and the input filter that ends a head that timed
 * out.
 *
 * The listener (lgather.c) holds a connection until hyb_hs_scan says its
 * request head (or TLS record) is complete; this file decides for how long.
 *
 * Threads: the config create/merge functions and
 * hyb_gather_post_config run in the parent's main thread during
 * configuration; hyb_head_timing, hyb_gather_base_server,
 * hyb_gather_first_mode and hyb_gather_listener_mode only read afterwards
 * (listener thread); the rest runs on the worker that owns the
 * connection.  The arithmetic is in headtime.c.
 */
#include "hyb.h"
#include "sock.h"

#include "http_protocol.h"
#include "http_request.h"
#include "http_ssl.h"
#include "http_vhost.h"
#include "util_filter.h"

#include <apr_strings.h>

/* Bytes a worker peeks to see whether the next request head is complete
 * before it parks a keep-alive connection; bigger heads are left to the
 * listener, which looks at up to HybridGatherMaxHead. */
#define HYB_WORKER_PEEK 4096
#define HYB_GATHER_MAX_CAP (64 * 1024)

static ap_filter_rec_t *hyb_nowait_filter;

/* ---- head timeouts -------------------------------------------------------- */

/* What a server's SSLEngine says about its connections' first bytes. */
typedef enum {
    HYB_SSL_UNSET = 0,          /* not written in this scope */
    HYB_SSL_PLAIN,              /* off, optional, or mod_ssl not loaded */
    HYB_SSL_TLS,                /* on */
    HYB_SSL_UNKNOWN             /* an address list: either */
} hyb_ssl_e;

/* Each server has its own (the merge function gives every <VirtualHost>
 * one); filled at post_config from the configuration tree. */
typedef struct hyb_gather_conf_t {
    hyb_rrt_t rrt;              /* as written in this scope, then merged */
    hyb_ssl_e ssl;              /* as written, then effective */
    int cert;                   /* SSLCertificateFile written (or inherited) */
    hyb_head_timeout_t head;    /* header stage, effective */
    hyb_head_timeout_t hello;   /* handshake stage (a ClientHello), effective */
    hyb_hs_limits_t limits;     /* LimitRequestLine/FieldSize/Fields, for
                                 * the scanner (set at post_config) */
} hyb_gather_conf_t;

void *hyb_gather_create_server_config(apr_pool_t *p, server_rec *s)
{
    (void)s;
    return apr_pcalloc(p, sizeof(hyb_gather_conf_t));
}

/* Every <VirtualHost> gets a struct of its own (the module sets
 * AP_MODULE_FLAG_ALWAYS_MERGE, so this runs for every vhost): nothing a
 * vhost says is ever written into the main server's.  What it inherits is
 * resolved at post_config, once the configuration tree has been read. */
void *hyb_gather_merge_server_config(apr_pool_t *p, void *base, void *add)
{
    (void)base;
    return apr_pmemdup(p, add, sizeof(hyb_gather_conf_t));
}

static hyb_gather_conf_t *hyb_gather_conf(server_rec *s)
{
    return ap_get_module_config(s->module_config, &mpm_hybrid_module);
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

static hyb_ssl_e hyb_ssl_engine(const char *args)
{
    if (!strcasecmp(args, "on")) {
        return HYB_SSL_TLS;
    }
    if (!strcasecmp(args, "off") || !strcasecmp(args, "optional")) {
        return HYB_SSL_PLAIN;
    }
    return HYB_SSL_UNKNOWN;
}

/* One directive of a server's scope that gathering cares about. */
static void hyb_read_directive(apr_pool_t *p, const ap_directive_t *d,
                               hyb_gather_conf_t *gc)
{
    if (!strcasecmp(d->directive, "RequestReadTimeout")) {
        hyb_rrt_parse_args(p, d->args, &gc->rrt);
    }
    else if (!strcasecmp(d->directive, "SSLEngine")) {
        gc->ssl = hyb_ssl_engine(d->args);
    }
    else if (!strcasecmp(d->directive, "SSLCertificateFile")) {
        gc->cert = 1;
    }
}

/* Read RequestReadTimeout, SSLEngine and SSLCertificateFile from the parsed
 * configuration (these modules keep their settings private): top-level
 * ones belong to the main server, those inside <VirtualHost> to that
 * vhost's own struct. */
static void hyb_read_conftree(apr_pool_t *p, server_rec *main_s)
{
    const ap_directive_t *d, *v;

    for (d = ap_conftree; d; d = d->next) {
        if (strcasecmp(d->directive, "<VirtualHost")) {
            hyb_read_directive(p, d, hyb_gather_conf(main_s));
            continue;
        }
        server_rec *s = hyb_vhost_of(d, main_s);
        for (v = d->first_child; s && v; v = v->next) {
            hyb_read_directive(p, v, hyb_gather_conf(s));
        }
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

/* SSLEngine as mod_ssl resolves it (ssl_config_server_merge, then
 * ssl_init_Module): a vhost inherits the main server's when it writes
 * none; still unset, it is on for a server whose protocol is https (Listen
 * ... https) and that has a certificate, else off.  Without mod_ssl, off. */
static hyb_ssl_e hyb_ssl_effective(server_rec *s, hyb_gather_conf_t *gc,
                                   hyb_ssl_e main_written, int main_cert,
                                   int ssl_loaded)
{
    hyb_ssl_e v = gc->ssl;
    const char *proto = ap_get_server_protocol(s);

    if (v == HYB_SSL_UNSET && s->is_virtual) {
        v = main_written;
    }
    if (!ssl_loaded) {
        return HYB_SSL_PLAIN;
    }
    if (v == HYB_SSL_UNSET && proto && !strcmp(proto, "https")
        && (gc->cert || main_cert)) {
        return HYB_SSL_TLS;
    }
    return v == HYB_SSL_UNSET ? HYB_SSL_PLAIN : v;
}

/* Parent, post_config: effective head timings and SSLEngine of every
 * server, and the gathering limit when HybridGatherMaxHead is not set. */
void hyb_gather_post_config(apr_pool_t *p, server_rec *main_s)
{
    int reqtimeout = ap_find_linked_module("mod_reqtimeout.c") != NULL;
    int ssl = ap_find_linked_module("mod_ssl.c") != NULL;
    hyb_gather_conf_t *main_gc = hyb_gather_conf(main_s);
    hyb_ssl_e main_ssl;
    server_rec *s;

    hyb_read_conftree(p, main_s);
    main_ssl = main_gc->ssl;
    for (s = main_s; s; s = s->next) {
        hyb_gather_conf_t *gc = hyb_gather_conf(s);
        if (s != main_s) {
            hyb_rrt_merge(&main_gc->rrt, &gc->rrt, &gc->rrt);
        }
        hyb_head_timeout_from(&gc->rrt, 0, reqtimeout, s->timeout, &gc->head);
        hyb_head_timeout_from(&gc->rrt, 1, reqtimeout, s->timeout, &gc->hello);
        gc->ssl = hyb_ssl_effective(s, gc, main_ssl, main_gc->cert, ssl);
        gc->limits.line_max = (uint32_t)s->limit_req_line;
        gc->limits.field_max = (uint32_t)s->limit_req_fieldsize;
        gc->limits.fields_max = (uint32_t)s->limit_req_fields;
    }
    if (!hyb_srv.gather_max) {
        hyb_srv.gather_max = hyb_default_gather_max(main_s);
    }
}

/* Listener or worker thread (read-only data): the request limits the core
 * reads a head of a connection of server s with (its base server: the
 * core switches to a name-based vhost only after the head). */
const hyb_hs_limits_t *hyb_head_limits(server_rec *s)
{
    return &hyb_gather_conf(s ? s : ap_server_conf)->limits;
}

/* Listener thread (read-only data): how long a head (tls = 0) or a
 * ClientHello (tls = 1) of a connection of server s may take. */
const hyb_head_timeout_t *hyb_head_timing(server_rec *s, int tls)
{
    hyb_gather_conf_t *gc = hyb_gather_conf(s);

    return tls ? &gc->hello : &gc->head;
}

/* Listener thread, for a new connection: the server the core will give it
 * (ap_update_vhost_given_ip, asked with a scratch conn_rec, as the worker
 * will do for the real one), so that gathering follows that server's
 * SSLEngine and timeouts.  The local address is the one the worker reads
 * (apr_socket_addr_get caches it in the socket). */
server_rec *hyb_gather_base_server(apr_socket_t *sock)
{
    conn_rec c;
    apr_sockaddr_t *sa;

    if (apr_socket_addr_get(&sa, APR_LOCAL, sock) != APR_SUCCESS) {
        return NULL;
    }
    memset(&c, 0, sizeof(c));
    c.local_addr = sa;
    c.base_server = ap_server_conf;
    ap_update_vhost_given_ip(&c);
    return c.base_server;
}

/* How a new connection of server s is gathered: a TLS record where its
 * SSLEngine is on, else an HTTP head. */
hyb_hs_mode_e hyb_gather_first_mode(server_rec *s)
{
    switch (hyb_gather_conf(s)->ssl) {
    case HYB_SSL_TLS:
        return HYB_HS_RECORD;
    case HYB_SSL_UNKNOWN:
        return HYB_HS_AUTO;
    default:
        return HYB_HS_HTTP;
    }
}

/* Can a connection on lr reach the vhost address a?  2 when every
 * connection on lr does (the main server is then out of reach). */
static int hyb_addr_serves(const server_addr_rec *a, const ap_listen_rec *lr)
{
    int lr_any = apr_sockaddr_is_wildcard(lr->bind_addr);

    if (a->host_port && a->host_port != lr->bind_addr->port) {
        return 0;
    }
    if (apr_sockaddr_is_wildcard(a->host_addr)) {
        return 2;
    }
    if (!lr_any && apr_sockaddr_equal(a->host_addr, lr->bind_addr)) {
        return 2;
    }
    return lr_any;      /* some local addresses of a wildcard listener */
}

/* Listener thread, at start: what the first bytes on this listening socket
 * are, from the SSLEngine of the servers it can reach: TLS records only,
 * HTTP only, or either (the first byte decides).  Used for a connection
 * whose own server cannot be found (hyb_gather_base_server decides
 * otherwise).  Deciding per listener
 * keeps a stray 0x16 byte on a plain port a (bad) HTTP request, answered
 * at once like the core does, and a plain request on a TLS port handed
 * over at once to mod_ssl. */
hyb_hs_mode_e hyb_gather_listener_mode(const ap_listen_rec *lr)
{
    int seen[HYB_SSL_UNKNOWN + 1] = { 0 }, all_caught = 0;
    server_rec *s;
    server_addr_rec *a;

    for (s = ap_server_conf->next; s; s = s->next) {
        for (a = s->addrs; a; a = a->next) {
            int how = hyb_addr_serves(a, lr);
            if (how) {
                seen[hyb_gather_conf(s)->ssl] = 1;
                all_caught |= (how == 2);
            }
        }
    }
    if (!all_caught) {
        seen[hyb_gather_conf(ap_server_conf)->ssl] = 1;
    }
    if (seen[HYB_SSL_UNKNOWN] || (seen[HYB_SSL_TLS] && seen[HYB_SSL_PLAIN])) {
        return HYB_HS_AUTO;
    }
    return seen[HYB_SSL_TLS] ? HYB_HS_RECORD : HYB_HS_HTTP;
}

/* ---- worker side ---------------------------------------------------------- */

/* Worker, before parking a keep-alive connection: how the listener
 * gathers its next request.  HTTP/1.x heads on plain
 * connections only.  Not on TLS connections: the TLS library may already
 * hold the start of the next record, so the socket's bytes need not begin
 * at a record boundary and a record scan could wait for bytes that never
 * come.  Not on other protocols either (h2c frames are not heads).
 * HYB_HS_AUTO means: any readable byte sends a worker, as
 * without gathering. */
hyb_hs_mode_e hyb_gather_mode_after(conn_rec *c)
{
    if (!hyb_srv.gather || ap_ssl_conn_is_ssl(c)) {
        return HYB_HS_AUTO;
    }
    return strcmp(ap_get_protocol(c), AP_PROTOCOL_HTTP1) == 0 ? HYB_HS_HTTP
                                                               : HYB_HS_AUTO;
}

/* Worker: 1 when the next request can be served without waiting (a whole
 * head, EOF or an error, also after part of a head: the core then answers
 * as under event); 0 when nothing came yet and -1 when part of a head did
 * and more may come: then the connection waits in the listener.  Without
 * gathering, any readable byte is enough. */
int hyb_head_ready(int fd, hyb_hs_mode_e mode, server_rec *s)
{
    unsigned char buf[HYB_WORKER_PEEK];
    apr_uint32_t seen = 0;
    hyb_hs_t hs;

    if (mode == HYB_HS_AUTO) {
        return hyb_sock_readable(fd);
    }
    hyb_hs_init(&hs, mode);
    hyb_hs_set_limits(&hs, hyb_head_limits(s));
    switch (hyb_sock_peek_head(fd, &hs, buf, sizeof(buf), sizeof(buf),
                               &seen)) {
    case HYB_SOCK_NOTHING:
        return 0;
    case HYB_SOCK_GONE:
    case HYB_SOCK_WHOLE:
        return 1;
    default:
        return hyb_sock_closed(fd) ? 1 : -1;
    }
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
    hc->go.head_expired = 0;
    if (!hc->w.expired_f) {
        hc->w.expired_f = ap_add_input_filter_handle(hyb_nowait_filter, NULL,
                                                   NULL, hc->c);
    }
}

/* Worker: the head has been read (post_read_request); the body and later
 * requests are read normally. */
void hyb_gather_remove_nowait(hyb_conn_t *hc)
{
    if (hc->w.expired_f) {
        ap_remove_input_filter(hc->w.expired_f);
        hc->w.expired_f = NULL;
    }
}

void hyb_gather_register_hooks(void)
{
    hyb_nowait_filter = ap_register_input_filter("HYBRID_HEAD_NOWAIT",
                                                 hyb_nowait_in, NULL,
                                                 AP_FTYPE_NETWORK - 1);
}
