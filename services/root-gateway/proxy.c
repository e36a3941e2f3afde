/* The proxy stage: the request goes upstream with the caller's identity (trusted upstream only
 * with ECO_INTERNAL_SECRET), request id and traceparent; the response comes back streamed chunk
 * by chunk, reading from upstream only as fast as the client takes it (pause/resume). Upstream
 * 5xx bodies are replaced by our own error (they may describe internals). The bytes are watched
 * for the usage figure that settles the token reservation. */
#include "gw.h"

#include <string.h>

#define OUT_MAX    (4u << 20)   /* bytes buffered towards a slow client */
#define HIGH_WATER (256u << 10) /* pause upstream above this */

/* ---------- request ---------- */

static int skip_request_header(const h2o_iovec_t *name)
{
    static const char *const drop[] = {"host",
                                       "connection",
                                       "keep-alive",
                                       "proxy-connection",
                                       "proxy-authorization",
                                       "te",
                                       "trailer",
                                       "transfer-encoding",
                                       "upgrade",
                                       "content-length",
                                       "expect",
                                       "x-request-id",
                                       "traceparent",
                                       "x-forwarded-for",
                                       "x-forwarded-proto",
                                       "http2-settings",
                                       "accept-encoding"}; /* identity bodies: usage must be readable */
    for (size_t i = 0; i < ECO_ARRAY_SIZE(drop); i++)
        if (h2o_memis(name->base, name->len, drop[i], strlen(drop[i])))
            return 1;
    size_t pl = strlen(ECO_AUTH_HDR_PREFIX);
    if (name->len >= pl && strncasecmp(name->base, ECO_AUTH_HDR_PREFIX, pl) == 0)
        return 1; /* nobody but us sets identity headers */
    /* with a shared secret the identity travels in our headers and the credential stays here */
    return gw.internal_secret[0] && h2o_memis(name->base, name->len, H2O_STRLIT("authorization"));
}

static int clean_value(h2o_iovec_t v)
{
    for (size_t i = 0; i < v.len; i++)
        if (v.base[i] == '\r' || v.base[i] == '\n' || v.base[i] == '\0')
            return 0;
    return 1;
}

/* Percent-encodes what is not safe on a request line (the normalized path is decoded). */
static void add_encoded(eco_buf_t *b, const char *s, size_t n, const char *keep)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr(keep, c))
            eco_buf_addc(b, (char)c);
        else
            eco_buf_addf(b, "%%%02X", c);
    }
}

static const eco_http_client_cbs_t cbs;

void gw_proxy_start(gw_req_t *g)
{
    eco_http_call_t *call = g->call;
    h2o_req_t *req = call->req;
    g->stage = ST_PROXY;
    eco_buf_t path, hdrs;
    eco_buf_init(&path, 64u << 10);
    eco_buf_init(&hdrs, 256u << 10);
    add_encoded(&path, req->path_normalized.base, req->path_normalized.len, "/-._~!$&'()*+,;=:@");
    if (req->query_at != SIZE_MAX) {
        eco_buf_addc(&path, '?');
        add_encoded(&path, req->path.base + req->query_at + 1, req->path.len - req->query_at - 1,
                    "/-._~!$&'()*+,;=:@?%");
    }
    for (size_t i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (skip_request_header(h->name) || !clean_value(h->value))
            continue;
        eco_buf_addf(&hdrs, "%.*s: %.*s\r\n", (int)h->name->len, h->name->base, (int)h->value.len, h->value.base);
    }
    eco_buf_addf(&hdrs, "x-request-id: %s\r\nx-forwarded-for: %s\r\nx-forwarded-proto: http\r\n", call->request_id,
                 g->client_ip);
    if (call->traceparent[0]) {
        eco_buf_addf(&hdrs, "traceparent: %s\r\n", call->traceparent);
    } else {
        char span[33];
        eco_random_hex_id(span);
        eco_buf_addf(&hdrs, "traceparent: 00-%s-%.16s-01\r\n", call->trace_id, span);
    }
    if (gw.internal_secret[0])
        eco_auth_identity_headers(&g->id, gw.internal_secret, &hdrs);
    if (!eco_buf_ok(&path) || !eco_buf_ok(&hdrs)) {
        eco_buf_free(&path);
        eco_buf_free(&hdrs);
        gw_fail(g, 431, "headers_too_large", "request line or headers too large");
        return;
    }
    char method[16];
    snprintf(method, sizeof(method), "%.*s", (int)(req->method.len < 15 ? req->method.len : 15), req->method.base);
    g->up = eco_http_client_start(gw.up[g->rule->upstream], method, eco_buf_cstr(&path), eco_buf_cstr(&hdrs),
                                  req->entity.base, req->entity.base ? req->entity.len : 0, &cbs, g);
    eco_buf_free(&path);
    eco_buf_free(&hdrs);
}

void gw_proxy_abort(gw_req_t *g)
{
    if (g->up) {
        eco_http_client_cancel(g->up);
        g->up = NULL;
    }
}

/* ---------- usage ---------- */

static long usage_of(json_t *j)
{
    json_t *u = json_object_get(j, "usage");
    json_t *t = json_object_get(u, "total_tokens");
    if (json_is_integer(t))
        return (long)json_integer_value(t);
    json_t *p = json_object_get(u, "prompt_tokens"), *c = json_object_get(u, "completion_tokens");
    if (json_is_integer(p))
        return (long)(json_integer_value(p) + (json_is_integer(c) ? json_integer_value(c) : 0));
    return -1;
}

static void sse_line(gw_req_t *g, const char *s, size_t n)
{
    if (n && s[n - 1] == '\r')
        n--;
    if (n < 5 || memcmp(s, "data:", 5) != 0)
        return;
    s += 5, n -= 5;
    if (n && *s == ' ')
        s++, n--;
    if (n == 6 && memcmp(s, "[DONE]", 6) == 0)
        return;
    g->chunks++;
    if (!memmem(s, n, "\"usage\"", 7))
        return;
    json_t *j = json_loadb(s, n, 0, NULL);
    long u = j ? usage_of(j) : -1;
    if (u >= 0)
        g->usage_total = u;
    if (j)
        json_decref(j);
}

static void watch(gw_req_t *g, const char *p, size_t n)
{
    if (g->tee_json) {
        eco_buf_add(&g->tee, p, n);
        return;
    }
    if (!g->is_sse)
        return;
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        eco_buf_add(&g->line, p, take);
        if (!nl)
            return;
        if (eco_buf_ok(&g->line))
            sse_line(g, g->line.base ? g->line.base : "", g->line.len);
        eco_buf_reset(&g->line);
        g->line.overflow = 0;
        p += take + 1;
        n -= take + 1;
    }
}

long gw_proxy_actual(const gw_req_t *g);
long gw_proxy_actual(const gw_req_t *g)
{
    if (g->status < 200 || g->status >= 300)
        return 0; /* nothing was generated for the caller */
    if (g->usage_total >= 0)
        return g->usage_total;
    if (g->is_sse)
        return g->prompt_estimate + g->chunks; /* cut short: about a token per event */
    return g->reserve;                         /* unknown: keep the reservation */
}

/* ---------- response ---------- */

static int skip_response_header(const h2o_iovec_t *name)
{
    static const char *const drop[] = {
        "connection", "keep-alive",   "transfer-encoding", "content-length", "upgrade", "te",
        "trailer",    "x-request-id", "cache-control",     "content-type",   "server",  "date"};
    for (size_t i = 0; i < ECO_ARRAY_SIZE(drop); i++)
        if (h2o_memis(name->base, name->len, drop[i], strlen(drop[i])))
            return 1;
    if (h2o_memis(name->base, name->len, H2O_STRLIT("x-eco-overhead-us")))
        return 0; /* ai-service's time outside the engine: for the client, not identity */
    return (name->len >= 12 && strncasecmp(name->base, "x-ratelimit-", 12) == 0) ||
           (name->len >= 15 && strncasecmp(name->base, "access-control-", 15) == 0) || /* CORS is ours */
           (name->len >= 6 && strncasecmp(name->base, ECO_AUTH_HDR_PREFIX, 6) == 0);
}

static void flush_held(gw_req_t *g)
{
    while (g->out && g->held.len) {
        size_t n = g->held.len < OUT_MAX / 2 ? g->held.len : OUT_MAX / 2;
        if (eco_sse_raw(g->out, g->held.base, n) != 0)
            return; /* no room yet: the next callback retries */
        memmove(g->held.base, g->held.base + n, g->held.len - n);
        g->held.len -= n;
    }
}

static void on_out(eco_sse_t *sse, int stopped, void *data)
{
    gw_req_t *g = data;
    if (stopped) { /* the client went away; the anchor's dispose settles the rest */
        g->out = NULL;
        gw_proxy_abort(g);
        return;
    }
    flush_held(g);
    if (g->held.len)
        return;
    if (g->upstream_eos) {
        eco_sse_end(g->out);
    } else if (g->paused && g->up) {
        g->paused = 0;
        eco_http_client_resume(g->up);
    }
}

static void on_body(eco_http_client_req_t *r, const char *err, const char *chunk, size_t len, int eos, void *data)
{
    gw_req_t *g = data;
    if (err) {
        g->up = NULL;
        eco_warn("upstream body broke", ECO_KS("error", err), ECO_KS("request_id", g->request_id));
        if (g->out)
            eco_sse_abort(g->out);
        return;
    }
    if (len) {
        watch(g, chunk, len);
        if (g->held.len || !g->out || eco_sse_raw(g->out, chunk, len) != 0) {
            /* no room (or a chunk larger than the writer's bound): keep it, and hand over what
             * fits now, so that a send is in flight and its completion calls on_out again */
            eco_buf_add(&g->held, chunk, len);
            flush_held(g);
        }
        if (g->out && !g->paused && !eos && (g->held.len || eco_sse_pending(g->out) >= HIGH_WATER)) {
            g->paused = 1;
            eco_http_client_pause(r);
        }
    }
    if (eos) {
        g->up = NULL;
        g->upstream_eos = 1;
        if (g->tee_json && eco_buf_ok(&g->tee) && g->tee.len) {
            json_t *j = json_loadb(g->tee.base, g->tee.len, 0, NULL);
            if (j) {
                g->usage_total = usage_of(j);
                json_decref(j);
            }
        }
        if (g->out && !g->held.len)
            eco_sse_end(g->out);
    }
}

static void on_head(eco_http_client_req_t *r, const char *err, int status, const h2o_header_t *headers, size_t nheaders,
                    void *data)
{
    gw_req_t *g = data;
    const char *upname = g->rule->upstream == ECO_UPSTREAM_AI ? "ai-service" : "api-gateway";
    if (err) {
        g->up = NULL;
        int timeout = strstr(err, "timeout") != NULL;
        eco_metrics_inc(gw.m_upstream, upname, timeout ? "timeout" : "error");
        eco_warn("upstream request failed", ECO_KS("upstream", upname), ECO_KS("error", err),
                 ECO_KS("request_id", g->request_id));
        gw_fail(g, timeout ? 504 : 502, timeout ? "upstream_timeout" : "upstream_unavailable",
                "the %s service did not answer", upname);
        return;
    }
    char cls[16];
    snprintf(cls, sizeof(cls), "%dxx", status / 100);
    eco_metrics_inc(gw.m_upstream, upname, cls);
    eco_http_call_t *call = g->call;
    h2o_req_t *req = call->req;
    if (status >= 500) { /* never pass on a body that may describe internals */
        eco_http_client_cancel(r);
        g->up = NULL;
        for (size_t i = 0; i < nheaders; i++)
            if (h2o_memis(headers[i].name->base, headers[i].name->len, H2O_STRLIT("retry-after")))
                h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("retry-after"), 0, NULL,
                                      h2o_strdup(&req->pool, headers[i].value.base, headers[i].value.len).base,
                                      headers[i].value.len);
        eco_http_send_error(call, status == 503 || status == 504 ? status : 502, "upstream_error", NULL,
                            "the %s service failed (status %d)", upname, status);
        g->stage = ST_DONE;
        return;
    }
    g->status = status;
    const char *ctype = "application/octet-stream";
    for (size_t i = 0; i < nheaders; i++) {
        const h2o_iovec_t *n = headers[i].name;
        h2o_iovec_t v = h2o_strdup(&req->pool, headers[i].value.base, headers[i].value.len);
        if (h2o_memis(n->base, n->len, H2O_STRLIT("content-type"))) {
            ctype = v.base;
            g->is_sse = v.len >= 17 && strncasecmp(v.base, "text/event-stream", 17) == 0;
        }
        if (skip_response_header(n) || !clean_value(v))
            continue;
        h2o_iovec_t name = h2o_strdup(&req->pool, n->base, n->len);
        h2o_add_header_by_str(&req->pool, &req->res.headers, name.base, name.len, 0, NULL, v.base, v.len);
    }
    g->tee_json = (g->rule->flags & ECO_RULE_INFERENCE) && !g->is_sse;
    /* Streams (SSE) send their head at once; other bodies go out as they come (chunked on
     * HTTP/1.1: the writer's filters are set up before the length could be known). The status
     * is set before the first send writes the head. */
    g->out = eco_http_stream_start(call, ctype, OUT_MAX, g->is_sse && status == 200, on_out, g);
    req->res.status = status;
    req->res.reason = eco_http_reason(status);
}

static const eco_http_client_cbs_t cbs = {.on_head = on_head, .on_body = on_body};
