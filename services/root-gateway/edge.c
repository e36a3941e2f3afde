/* The request path of root-gateway: routing by the permission table, the stages of gw.h, and
 * the anchor that ties a gw_req_t to its h2o request. */
#include "gw.h"

#include <string.h>

gw_t gw;

typedef struct {
    gw_req_t *g;
} anchor_t;

static void detach(gw_req_t *g)
{
    if (g->anchor)
        ((anchor_t *)g->anchor)->g = NULL;
    g->anchor = NULL;
}

/* The h2o request is being disposed (answered, or the client went away). */
static void on_anchor_dispose(void *p)
{
    gw_req_t *g = ((anchor_t *)p)->g;
    if (!g)
        return;
    g->call = NULL;
    g->anchor = NULL;
    g->out = NULL; /* lives in the request pool */
    if (g->job_out)
        return; /* the job's completion finishes it */
    if (g->stage == ST_PROXY)
        gw_proxy_abort(g);
    gw_finish(g);
}

void gw_finish(gw_req_t *g)
{
    detach(g);
    if (g->up) {
        eco_http_client_cancel(g->up);
        g->up = NULL;
    }
    if (g->reserve > 0 && g->lim.rl.allowed) {
        extern long gw_proxy_actual(const gw_req_t *g);
        gw_reconcile(g, gw_proxy_actual(g));
    }
    eco_buf_free(&g->held);
    eco_buf_free(&g->tee);
    eco_buf_free(&g->line);
    free(g);
}

void gw_fail(gw_req_t *g, int status, const char *code, const char *fmt, ...)
{
    if (!g->call) {
        gw_finish(g);
        return;
    }
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (status == 401)
        eco_http_add_header(g->call, "www-authenticate", "Bearer realm=\"eco-base\"");
    if (status == 503)
        eco_http_add_header(g->call, "retry-after", "1");
    g->stage = ST_DONE;
    eco_http_send_error(g->call, status, code, NULL, "%s", msg); /* the anchor's dispose frees g */
}

void gw_after_auth(gw_req_t *g)
{
    const char *kind = g->id.kind == ECO_AUTH_KIND_API_KEY ? "api_key"
                       : g->id.kind == ECO_AUTH_KIND_JWT   ? "jwt"
                                                           : "none";
    if (!eco_auth_rule_allows(g->rule, g->id.role)) {
        eco_metrics_inc(gw.m_auth, kind, "forbidden");
        gw_fail(g, 403, "insufficient_role", "role %s may not %s %s", eco_auth_role_name(g->id.role), g->rule->method,
                g->rule->pattern);
        return;
    }
    eco_metrics_inc(gw.m_auth, kind, "ok");
    gw_limit_start(g);
}

void gw_after_limit(gw_req_t *g)
{
    gw_limit_headers(g);
    if (g->lim.rl.revoked) {
        eco_metrics_inc(gw.m_auth, "jwt", "revoked");
        gw_fail(g, 401, "token_revoked", "this access token was revoked (logged out)");
        return;
    }
    if (!g->lim.rl.allowed) {
        char v[24];
        snprintf(v, sizeof(v), "%ld", (g->lim.rl.retry_ms + 999) / 1000);
        eco_http_add_header(g->call, "retry-after", v);
        if (g->lim.rl.too_large)
            gw_fail(g, 429, "tokens_exceed_limit",
                    "this request reserves %ld tokens, more than the limit of %ld per minute", g->reserve, g->tpm);
        else
            gw_fail(g, 429, "rate_limited", "rate limit exceeded; retry in %s s", v);
        return;
    }
    gw_proxy_start(g);
}

/* Bytes of request header names and values. */
static size_t header_bytes(h2o_req_t *req)
{
    size_t n = req->path.len + req->authority.len;
    for (size_t i = 0; i < req->headers.size; i++)
        n += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    return n;
}

static int on_request(eco_http_call_t *call)
{
    gw_req_t *g = eco_calloc(1, sizeof(*g));
    g->call = call;
    g->rule = call->data;
    g->usage_total = -1;
    anchor_t *a = h2o_mem_alloc_shared(&call->req->pool, sizeof(*a), on_anchor_dispose);
    a->g = g;
    g->anchor = a;
    snprintf(g->request_id, sizeof(g->request_id), "%s", call->request_id);
    eco_http_peer_ip(call, g->client_ip, sizeof(g->client_ip));
    eco_buf_init(&g->held, 0);
    eco_buf_init(&g->tee, 1u << 20);
    eco_buf_init(&g->line, 64u << 10);
    gw_cors_apply(call);
    if (header_bytes(call->req) > (size_t)gw.max_header_bytes) {
        call->req->http1_is_persistent = 0;
        gw_fail(g, 431, "headers_too_large", "request headers exceed %ld bytes", gw.max_header_bytes);
        return 0;
    }
    if (g->rule->flags & ECO_RULE_PUBLIC) {
        snprintf(g->subject, sizeof(g->subject), "ip:%s", g->client_ip);
        g->rpm = gw.public_rpm;
        gw_after_auth(g);
        return 0;
    }
    if (gw_authenticate(g) == 1)
        gw_after_auth(g);
    return 0;
}

void gw_routes_register(void)
{
    size_t n;
    const eco_auth_rule_t *rules = eco_auth_rules(&n);
    for (size_t i = 0; i < n; i++)
        eco_service_route(gw.svc, rules[i].method, rules[i].pattern, on_request, (void *)&rules[i]);
    gw_cors_register();
}
