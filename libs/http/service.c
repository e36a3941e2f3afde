/* The service runtime: settings, h2o bootstrap, request dispatch, built-in endpoints, drain. */
#include "conn_limit.h"
#include "eco_http.h"
#include "router.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_TIMEOUTS 64

struct eco_service {
    eco_service_opts_t opts;
    eco_service_config_t cfg;
    char default_port[8];
    eco_cfg_spec_t *specs;
    h2o_globalconf_t conf;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_socket_t *listener;
    h2o_socket_t *sigsock;
    int sigfd;
    eco__router_t router;
    long inflight;     /* HTTP requests not yet finished (loop thread only) */
    long connections;  /* open client connections (loop thread only) */
    atomic_long holds; /* other work that delays exit */
    eco_service_drain_cb drain_cb;
    eco_service_reload_cb reload_cb;
    void *reload_data;
    void *drain_data;
    struct {
        eco_service_blocking_fn fn;
        void *data;
    } blocking[4];
    size_t nblocking;
    uint64_t drain_deadline_ms;
    int drain_announced;
    h2o_multithread_receiver_t receiver;
    struct {
        uint64_t ms;
        h2o_timeout_t t;
    } timeouts[MAX_TIMEOUTS];
    size_t ntimeouts;
    eco__connlimit_t *connlimit; /* NULL = no per-IP cap */
    eco_metric_t *m_requests, *m_duration, *m_inflight, *m_connections, *m_conn_rejected;
};

typedef struct {
    h2o_handler_t super;
    eco_service_t *svc;
} root_handler_t;

typedef struct {
    h2o_multithread_message_t super;
    eco_service_task_fn fn;
    void *data;
} task_msg_t;

/* ---------- settings ---------- */

eco_service_t *eco_service_new(const eco_service_opts_t *opts, int argc, char **argv)
{
    eco_service_t *svc = eco_calloc(1, sizeof(*svc));
    svc->opts = *opts;
    snprintf(svc->default_port, sizeof(svc->default_port), "%d", opts->default_http_port);
    eco_service_config_t *c = &svc->cfg;
    const eco_cfg_spec_t common[] = {
        {"ECO_HTTP_PORT", ECO_CFG_PORT, svc->default_port, 0, 0, NULL, "HTTP listen port", &c->http_port},
        {"ECO_BIND_ADDR", ECO_CFG_STR, "0.0.0.0", 0, 0, NULL, "listen address (IPv4)", &c->bind_addr},
        {"ECO_LOG_LEVEL", ECO_CFG_ENUM, "info", 0, 0, "debug|info|warn|error", "log level", &c->log_level},
        {"ECO_SHUTDOWN_GRACE_MS", ECO_CFG_MS, "10000", 0, 600000, NULL,
         "on SIGTERM: time allowed for in-flight work to finish", &c->shutdown_grace_ms},
        {"ECO_DEBUG_ENDPOINTS", ECO_CFG_BOOL, "0", 0, 0, NULL, "serve /debug/* routes (tests only)",
         &c->debug_endpoints},
        {"ECO_MAX_BODY_BYTES", ECO_CFG_BYTES, "1m", 1024, 1L << 30, NULL, "largest request body accepted (413 above)",
         &c->max_body_bytes},
        {"ECO_READY_INTERVAL_MS", ECO_CFG_MS, "1000", 50, 60000, NULL, "how often readiness checks run",
         &c->ready_interval_ms},
    };
    size_t n = ECO_ARRAY_SIZE(common) + opts->nspecs;
    svc->specs = eco_calloc(n, sizeof(eco_cfg_spec_t));
    memcpy(svc->specs, common, sizeof(common));
    if (opts->nspecs)
        memcpy(svc->specs + ECO_ARRAY_SIZE(common), opts->specs, opts->nspecs * sizeof(eco_cfg_spec_t));
    eco_config_load_or_exit(svc->specs, n, argc, argv);
    struct in_addr a;
    if (inet_pton(AF_INET, c->bind_addr, &a) != 1) {
        fprintf(stderr, "ECO_BIND_ADDR: expected an IPv4 address, got \"%.80s\"\n", c->bind_addr);
        exit(2);
    }
    if (opts->http_port > 0)
        c->http_port = opts->http_port;
    eco_log_init(opts->name, c->log_level);
    eco_metrics_set_build_info(opts->name, ECO_VERSION);
    svc->sigfd = eco_lifecycle_init();

    h2o_config_init(&svc->conf);
    /* h2o's own limit sits above ours so that we answer the 413 in our own shape. */
    svc->conf.max_request_entity_size = (size_t)c->max_body_bytes * 2 + 65536;
    svc->conf.http2.graceful_shutdown_timeout = 1000;
    h2o_hostconf_t *host = h2o_config_register_host(&svc->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
    extern int eco__service_dispatch(h2o_handler_t * self, h2o_req_t * req);
    root_handler_t *h = (root_handler_t *)h2o_create_handler(pc, sizeof(root_handler_t));
    h->super.on_req = eco__service_dispatch;
    h->svc = svc;
    h2o_context_init(&svc->ctx, h2o_evloop_create(), &svc->conf);
    svc->accept_ctx.ctx = &svc->ctx;
    svc->accept_ctx.hosts = svc->conf.hosts;

    svc->m_requests = eco_metrics_counter("eco_requests_total", "HTTP requests by route template, method and status.",
                                          "route,method,code");
    svc->m_duration = eco_metrics_histogram("eco_request_duration_seconds", "HTTP request duration by route template.",
                                            "route", NULL, 0);
    svc->m_inflight = eco_metrics_gauge("eco_http_inflight_requests", "HTTP requests in progress.", NULL);
    svc->m_connections = eco_metrics_gauge("eco_http_connections", "Open HTTP client connections.", NULL);
    return svc;
}

const eco_service_config_t *eco_service_config(const eco_service_t *svc)
{
    return &svc->cfg;
}

h2o_context_t *eco_service_h2o(eco_service_t *svc)
{
    return &svc->ctx;
}

h2o_loop_t *eco_service_loop(eco_service_t *svc)
{
    return svc->ctx.loop;
}

void eco_service_route(eco_service_t *svc, const char *method, const char *pattern, eco_http_handler_fn fn, void *data)
{
    if (eco__router_add(&svc->router, method, pattern, fn, data) != 0)
        eco_fatal("cannot add route %s %s", method, pattern);
}

void eco_service_on_reload(eco_service_t *svc, eco_service_reload_cb cb, void *data)
{
    svc->reload_cb = cb;
    svc->reload_data = data;
}

void eco_service_set_client_timeout(eco_service_t *svc, uint64_t ms)
{
    /* the context copied the configured values into its timeout lists at creation; no
     * connection is linked to them before eco_service_run */
    svc->conf.http1.req_timeout = ms;
    svc->conf.http2.idle_timeout = ms;
    svc->ctx.http1.req_timeout.timeout = ms;
    svc->ctx.http2.idle_timeout.timeout = ms;
}

void eco_service_set_max_conns_per_ip(eco_service_t *svc, long max)
{
    ECO_BUG_ON(svc->listener != NULL); /* before eco_service_run */
    eco__connlimit_free(svc->connlimit);
    svc->connlimit = max > 0 ? eco__connlimit_new(max) : NULL;
    if (svc->connlimit && !svc->m_conn_rejected)
        svc->m_conn_rejected = eco_metrics_counter(
            "eco_http_conn_limit_rejections_total",
            "Requests answered 429 (and their connection closed) because the peer IP had too many connections open.",
            NULL);
}

void eco_service_on_drain(eco_service_t *svc, eco_service_drain_cb cb, void *data)
{
    svc->drain_cb = cb;
    svc->drain_data = data;
}

typedef struct {
    eco_service_t *svc;
    eco_service_blocking_fn fn;
    void *data;
} blocking_job_t;

static void *run_blocking(void *arg)
{
    blocking_job_t *j = arg;
    j->fn(j->data, j->svc->cfg.shutdown_grace_ms);
    eco_service_release(j->svc);
    free(j);
    return NULL;
}

void eco_service_on_drain_blocking(eco_service_t *svc, eco_service_blocking_fn fn, void *data)
{
    ECO_BUG_ON(svc->nblocking >= ECO_ARRAY_SIZE(svc->blocking));
    svc->blocking[svc->nblocking].fn = fn;
    svc->blocking[svc->nblocking].data = data;
    svc->nblocking++;
}

void eco_service_hold(eco_service_t *svc)
{
    atomic_fetch_add(&svc->holds, 1);
}

void eco_service_release(eco_service_t *svc)
{
    atomic_fetch_sub(&svc->holds, 1);
    eco_service_post(svc, NULL, NULL); /* wake the loop so the drain re-checks */
}

static void on_task_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    while (!h2o_linklist_is_empty(messages)) {
        task_msg_t *m = H2O_STRUCT_FROM_MEMBER(task_msg_t, super.link, messages->next);
        h2o_linklist_unlink(&m->super.link);
        if (m->fn)
            m->fn(m->data);
        free(m);
    }
}

void eco_service_post(eco_service_t *svc, eco_service_task_fn fn, void *data)
{
    task_msg_t *m = eco_calloc(1, sizeof(*m));
    m->fn = fn;
    m->data = data;
    h2o_multithread_send_message(&svc->receiver, &m->super);
}

/* ---------- per-request bookkeeping ---------- */

static const char *route_label(const eco_http_call_t *call)
{
    if (call->route)
        return call->route->pattern;
    h2o_iovec_t p = call->req->path_normalized;
    static const char *const builtins[] = {"/health", "/ready", "/metrics", "/debug/sleep"};
    for (size_t i = 0; i < ECO_ARRAY_SIZE(builtins); i++)
        if (h2o_memis(p.base, p.len, builtins[i], strlen(builtins[i])))
            return builtins[i];
    return "unmatched";
}

static void on_call_dispose(void *p)
{
    eco_http_call_t *call = p;
    eco_service_t *svc = call->svc;
    h2o_req_t *req = call->req;
    svc->inflight--;
    double secs = (double)(eco_now_ns() - call->start_ns) / 1e9;
    int status = req->res.status ? req->res.status : 499;
    char code[8];
    snprintf(code, sizeof(code), "%d", status);
    char method[16];
    snprintf(method, sizeof(method), "%.*s", (int)(req->method.len < 15 ? req->method.len : 15), req->method.base);
    const char *route = route_label(call);
    eco_metrics_inc(svc->m_requests, route, method, code);
    eco_metrics_observe(svc->m_duration, secs, route);
    int quiet = !call->route && strcmp(route, "unmatched") != 0;
    eco_log(quiet ? ECO_LOG_DEBUG : ECO_LOG_INFO, "request", ECO_KS("request_id", call->request_id),
            ECO_KS("trace_id", call->trace_id), ECO_KS("method", method), ECO_KS("route", route),
            ECO_KSN("path", req->path_normalized.base, req->path_normalized.len), ECO_KI("status", status),
            ECO_KD("dur_ms", secs * 1000.0));
}

static int valid_request_id(h2o_iovec_t v)
{
    if (v.len == 0 || v.len > 64)
        return 0;
    for (size_t i = 0; i < v.len; i++) {
        char c = v.base[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.'))
            return 0;
    }
    return 1;
}

static int is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* Accepts a W3C traceparent "00-<32 hex>-<16 hex>-<2 hex>" and keeps its trace id. */
static void take_traceparent(eco_http_call_t *call, h2o_iovec_t v)
{
    if (v.len != 55 || v.base[2] != '-' || v.base[35] != '-' || v.base[52] != '-')
        return;
    if (!is_lower_hex(v.base, 2) || !is_lower_hex(v.base + 3, 32) || !is_lower_hex(v.base + 36, 16) ||
        !is_lower_hex(v.base + 53, 2))
        return;
    memcpy(call->traceparent, v.base, 55);
    call->traceparent[55] = '\0';
    memcpy(call->trace_id, v.base + 3, 32);
    call->trace_id[32] = '\0';
}

static h2o_iovec_t find_header(h2o_req_t *req, const char *name)
{
    ssize_t i = h2o_find_header_by_str(&req->headers, name, strlen(name), -1);
    return i < 0 ? h2o_iovec_init(NULL, 0) : req->headers.entries[i].value;
}

/* ---------- built-in endpoints ---------- */

static void send_health(eco_http_call_t *call)
{
    eco_http_send(call, 200, NULL, H2O_STRLIT("{\"status\":\"ok\"}"));
}

static void send_ready(eco_http_call_t *call)
{
    eco_buf_t b;
    eco_buf_init(&b, 16384);
    int status = eco_ready_render_json(&b);
    eco_http_send(call, status, NULL, b.base, b.len);
    eco_buf_free(&b);
}

static void send_metrics(eco_http_call_t *call)
{
    eco_service_t *svc = call->svc;
    eco_metrics_set(svc->m_inflight, (double)svc->inflight);
    eco_metrics_set(svc->m_connections, (double)svc->connections);
    eco_buf_t b;
    eco_buf_init(&b, 16u << 20);
    eco_metrics_render(&b);
    eco_http_send(call, 200, ECO_METRICS_CONTENT_TYPE, b.base, b.len);
    eco_buf_free(&b);
}

static h2o_timeout_t *timeout_for(eco_service_t *svc, uint64_t ms)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < svc->ntimeouts; i++) {
        if (svc->timeouts[i].ms == ms)
            return &svc->timeouts[i].t;
        if (svc->timeouts[i].ms > ms && (best == SIZE_MAX || svc->timeouts[i].ms < svc->timeouts[best].ms))
            best = i;
    }
    if (svc->ntimeouts < MAX_TIMEOUTS) {
        size_t i = svc->ntimeouts++;
        svc->timeouts[i].ms = ms;
        h2o_timeout_init(svc->ctx.loop, &svc->timeouts[i].t, ms);
        return &svc->timeouts[i].t;
    }
    if (best == SIZE_MAX)
        for (size_t i = 0; i < svc->ntimeouts; i++)
            if (best == SIZE_MAX || svc->timeouts[i].ms > svc->timeouts[best].ms)
                best = i;
    return &svc->timeouts[best].t;
}

static void on_timer_fire(h2o_timeout_entry_t *entry)
{
    eco_timer_t *t = H2O_STRUCT_FROM_MEMBER(eco_timer_t, entry, entry);
    t->cb(t);
}

void eco_timer_start(eco_service_t *svc, eco_timer_t *t, uint64_t ms, eco_timer_cb cb)
{
    eco_timer_stop(t);
    t->cb = cb;
    t->entry.cb = on_timer_fire;
    h2o_timeout_link(svc->ctx.loop, timeout_for(svc, ms), &t->entry);
}

void eco_timer_stop(eco_timer_t *t)
{
    if (h2o_timeout_is_linked(&t->entry))
        h2o_timeout_unlink(&t->entry);
}

int eco_timer_active(eco_timer_t *t)
{
    return h2o_timeout_is_linked(&t->entry);
}

typedef struct {
    eco_timer_t timer;
    eco_http_call_t *call;
    long ms;
} sleep_t;

static void on_sleep_done(eco_timer_t *t)
{
    sleep_t *s = ECO_CONTAINER_OF(t, sleep_t, timer);
    char body[64];
    int n = snprintf(body, sizeof(body), "{\"slept_ms\":%ld}", s->ms);
    eco_http_send(s->call, 200, NULL, body, (size_t)n);
}

static void on_sleep_dispose(void *p)
{
    eco_timer_stop(&((sleep_t *)p)->timer);
}

/* GET /debug/sleep?ms=N: answers after N ms (proves the drain in tests). */
static void debug_sleep(eco_http_call_t *call)
{
    h2o_req_t *req = call->req;
    long ms = -1;
    if (req->query_at != SIZE_MAX) {
        const char *q = req->path.base + req->query_at + 1;
        size_t qlen = req->path.len - req->query_at - 1;
        if (qlen > 3 && qlen < 12 && memcmp(q, "ms=", 3) == 0) {
            char tmp[12];
            memcpy(tmp, q + 3, qlen - 3);
            tmp[qlen - 3] = '\0';
            char *end;
            ms = strtol(tmp, &end, 10);
            if (*end)
                ms = -1;
        }
    }
    if (ms < 0 || ms > 60000) {
        eco_http_send_error(call, 400, "invalid_parameter", "ms", "ms: expected milliseconds in 0-60000");
        return;
    }
    sleep_t *s = h2o_mem_alloc_shared(&req->pool, sizeof(*s), on_sleep_dispose);
    memset(s, 0, sizeof(*s));
    s->call = call;
    s->ms = ms;
    eco_timer_start(call->svc, &s->timer, (uint64_t)ms, on_sleep_done);
}

/* ---------- dispatch ---------- */

int eco__service_dispatch(h2o_handler_t *self, h2o_req_t *req);

static void on_conn_close_limited(void *data);

/* The request arrived on a connection accepted beyond its peer's limit. */
static int over_conn_limit(h2o_req_t *req)
{
    h2o_conn_t *conn = req->conn;
    h2o_socket_t *sock = conn && conn->callbacks->get_socket ? conn->callbacks->get_socket(conn) : NULL;
    return sock && sock->on_close.cb == on_conn_close_limited && ((eco__conn_t *)sock->on_close.data)->over;
}

int eco__service_dispatch(h2o_handler_t *self, h2o_req_t *req)
{
    eco_service_t *svc = ((root_handler_t *)self)->svc;
    eco_http_call_t *call = h2o_mem_alloc_shared(&req->pool, sizeof(*call), on_call_dispose);
    memset(call, 0, sizeof(*call));
    call->req = req;
    call->svc = svc;
    call->start_ns = eco_now_ns();
    svc->inflight++;

    h2o_iovec_t rid = find_header(req, "x-request-id");
    if (valid_request_id(rid)) {
        memcpy(call->request_id, rid.base, rid.len);
        call->request_id[rid.len] = '\0';
    } else {
        eco_random_hex_id(call->request_id);
    }
    take_traceparent(call, find_header(req, "traceparent"));
    if (!call->trace_id[0])
        eco_random_hex_id(call->trace_id);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, call->request_id,
                          strlen(call->request_id));

    h2o_iovec_t path = req->path_normalized;
    call->openai_errors = path.len >= 4 && memcmp(path.base, "/v1/", 4) == 0;
    int is_get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));

    if (svc->connlimit && over_conn_limit(req)) {
        req->http1_is_persistent = 0;
        eco_metrics_inc(svc->m_conn_rejected);
        eco_http_add_header(call, "retry-after", "1");
        eco_http_send_error(call, 429, "too_many_connections", NULL,
                            "too many connections from this address; reuse or close connections");
        return 0;
    }

    if (req->entity.base && req->entity.len > (size_t)svc->cfg.max_body_bytes) {
        req->http1_is_persistent = 0; /* close after the answer, so the client reads it rather than a reset */
        eco_http_send_error(call, 413, "request_too_large", NULL,
                            "request body of %zu bytes exceeds the limit of %ld bytes", req->entity.len,
                            svc->cfg.max_body_bytes);
        return 0;
    }
    if (svc->opts.no_builtins)
        goto routes;
    if (is_get && h2o_memis(path.base, path.len, H2O_STRLIT("/health"))) {
        send_health(call);
        return 0;
    }
    if (is_get && h2o_memis(path.base, path.len, H2O_STRLIT("/ready"))) {
        send_ready(call);
        return 0;
    }
    if (is_get && h2o_memis(path.base, path.len, H2O_STRLIT("/metrics"))) {
        send_metrics(call);
        return 0;
    }
    if (svc->cfg.debug_endpoints && is_get && h2o_memis(path.base, path.len, H2O_STRLIT("/debug/sleep"))) {
        debug_sleep(call);
        return 0;
    }

routes:;
    int path_matched;
    char allow[128];
    const eco_http_route_t *rt = eco__router_match(&svc->router, req->method.base, req->method.len, path.base, path.len,
                                                   call->params, &call->nparams, &path_matched, allow, sizeof(allow));
    if (!rt) {
        if (path_matched) {
            eco_http_add_header(call, "allow", allow);
            eco_http_send_error(call, 405, "method_not_allowed", NULL, "method %.*s is not allowed here; allowed: %s",
                                (int)(req->method.len > 16 ? 16 : req->method.len), req->method.base, allow);
        } else {
            eco_http_send_error(call, 404, "not_found", NULL, "no route for this path");
        }
        return 0;
    }
    call->route = rt;
    call->data = rt->data;
    return rt->fn(call);
}

/* ---------- sockets, signals, run loop ---------- */

static void on_conn_close(void *data)
{
    ((eco_service_t *)data)->connections--;
}

static void on_conn_close_limited(void *data)
{
    eco__conn_t *c = data;
    c->svc->connections--;
    eco__connlimit_close(c);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    eco_service_t *svc = listener->data;
    if (err)
        return;
    h2o_socket_t *sock;
    /* Accept a bounded batch per wake-up, as h2o's own server does. */
    for (int i = 0; i < 16 && (sock = h2o_evloop_socket_accept(listener)) != NULL; i++) {
        svc->connections++;
        if (svc->connlimit) {
            sock->on_close.cb = on_conn_close_limited;
            sock->on_close.data = eco__connlimit_open(svc->connlimit, svc, sock);
        } else {
            sock->on_close.cb = on_conn_close;
            sock->on_close.data = svc;
        }
        h2o_accept(&svc->accept_ctx, sock);
    }
}

static void begin_drain(eco_service_t *svc, int sig)
{
    if (eco_lifecycle_draining())
        return;
    eco_lifecycle_set_draining();
    svc->drain_deadline_ms = eco_now_ms() + (uint64_t)svc->cfg.shutdown_grace_ms;
    eco_info("draining", ECO_KI("signal", sig), ECO_KI("inflight", svc->inflight),
             ECO_KI("grace_ms", svc->cfg.shutdown_grace_ms));
    if (svc->drain_cb)
        svc->drain_cb(svc, svc->drain_data);
    for (size_t i = 0; i < svc->nblocking; i++) {
        blocking_job_t *j = eco_calloc(1, sizeof(*j));
        j->svc = svc;
        j->fn = svc->blocking[i].fn;
        j->data = svc->blocking[i].data;
        eco_service_hold(svc);
        pthread_t t;
        if (pthread_create(&t, NULL, run_blocking, j) != 0)
            eco_fatal("cannot start drain thread");
        pthread_detach(t);
    }
}

static void on_signal(h2o_socket_t *sock, const char *err)
{
    eco_service_t *svc = sock->data;
    int sig;
    while ((sig = eco_lifecycle_read_signal(svc->sigfd)) != 0) {
        if (sig == SIGHUP && svc->reload_cb)
            svc->reload_cb(svc, svc->reload_data);
        else if (sig == SIGHUP)
            eco_info("SIGHUP received; nothing to reload in this service");
        else
            begin_drain(svc, sig);
    }
}

static int listen_on(eco_service_t *svc)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)svc->cfg.http_port)};
    inet_pton(AF_INET, svc->cfg.bind_addr, &addr.sin_addr);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, SOMAXCONN) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    svc->listener = h2o_evloop_socket_create(svc->ctx.loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    svc->listener->data = svc;
    h2o_socket_read_start(svc->listener, on_accept);
    return 0;
}

/* glibc keeps freed memory in its per-thread arenas: after a burst (thousands of streams at
 * once) a service would hold its peak for good. Returning free pages every 30 s costs little. */
static void *trim_main(void *arg)
{
    pthread_setname_np(pthread_self(), "mem-trim");
    for (;;) {
        sleep(30);
        malloc_trim(0);
    }
    return NULL;
}

int eco_service_run(eco_service_t *svc)
{
    pthread_t trim;
    if (pthread_create(&trim, NULL, trim_main, NULL) == 0)
        pthread_detach(trim);
    h2o_multithread_register_receiver(svc->ctx.queue, &svc->receiver, on_task_messages);
    svc->sigsock = h2o_evloop_socket_create(svc->ctx.loop, svc->sigfd, H2O_SOCKET_FLAG_DONT_READ);
    svc->sigsock->data = svc;
    h2o_socket_read_start(svc->sigsock, on_signal);

    int rc = listen_on(svc);
    if (rc != 0) {
        eco_error("cannot listen", ECO_KS("addr", svc->cfg.bind_addr), ECO_KI("port", svc->cfg.http_port),
                  ECO_KS("error", strerror(-rc)));
        return 1;
    }
    eco_ready_start(svc->cfg.ready_interval_ms);
    eco_info("listening", ECO_KS("addr", svc->cfg.bind_addr), ECO_KI("port", svc->cfg.http_port),
             ECO_KS("version", ECO_VERSION));

    int closing = 0;
    uint64_t close_deadline = 0;
    for (;;) {
        int draining = eco_lifecycle_draining();
        h2o_evloop_run(svc->ctx.loop, draining ? 10 : INT32_MAX);
        if (!eco_lifecycle_draining())
            continue;
        uint64_t now = eco_now_ms();
        int idle = svc->inflight == 0 && atomic_load(&svc->holds) == 0;
        if (!closing && (idle || now >= svc->drain_deadline_ms)) {
            if (!idle)
                eco_warn("grace period over; abandoning in-flight work", ECO_KI("inflight", svc->inflight),
                         ECO_KI("holds", atomic_load(&svc->holds)));
            closing = 1;
            h2o_socket_read_stop(svc->listener);
            h2o_socket_close(svc->listener);
            svc->listener = NULL;
            h2o_context_request_shutdown(&svc->ctx);
            close_deadline = now + 1500 < svc->drain_deadline_ms ? now + 1500 : svc->drain_deadline_ms;
        }
        if (closing && (svc->connections == 0 || now >= close_deadline))
            break;
    }
    eco_ready_stop();
    eco_info("stopped", ECO_KI("open_connections", svc->connections));
    return 0;
}
