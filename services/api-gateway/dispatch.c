/* From an HTTP request to a worker job and back: identity (root-gateway's headers, or a Bearer
 * token of our own), the role check against the permission table, body parsing, the job hand-off
 * and the response on the loop thread. */
#include "app.h"

#include <ctype.h>
#include <string.h>

app_t app;

/* ---------- responses ---------- */

void areq_json(areq_t *r, int status, json_t *body)
{
    if (r->resp)
        json_decref(r->resp);
    r->status = status;
    r->resp = body;
    r->code[0] = '\0';
}

void areq_error(areq_t *r, int status, const char *code, const char *param, const char *fmt, ...)
{
    if (r->resp) {
        json_decref(r->resp);
        r->resp = NULL;
    }
    r->status = status;
    snprintf(r->code, sizeof(r->code), "%s", code);
    snprintf(r->param, sizeof(r->param), "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
    va_end(ap);
}

void areq_actor(const areq_t *r, char *out, size_t n)
{
    if (r->id.kind == ECO_AUTH_KIND_API_KEY)
        snprintf(out, n, "api_key:%s", r->id.key_id);
    else if (r->id.kind == ECO_AUTH_KIND_JWT)
        snprintf(out, n, "user:%s", r->id.user_id);
    else
        snprintf(out, n, "anonymous");
}

static int hexv(int c)
{
    return isdigit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}

int areq_query(areq_t *r, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    const char *p = r->query;
    while (*p) {
        const char *end = p + strcspn(p, "&");
        if ((size_t)(end - p) > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t o = 0;
            for (const char *s = p + nl + 1; s < end; s++) {
                int c = (unsigned char)*s;
                if (c == '%' && s + 2 < end && hexv(s[1]) >= 0 && hexv(s[2]) >= 0) {
                    c = hexv(s[1]) * 16 + hexv(s[2]);
                    s += 2;
                } else if (c == '+') {
                    c = ' ';
                }
                if (!(isalnum(c) || strchr("-_.:@", c)) || o + 1 >= n) {
                    areq_error(r, 400, "invalid_parameter", name, "%s: unexpected characters or too long", name);
                    return -1;
                }
                out[o++] = (char)c;
            }
            out[o] = '\0';
            return 1;
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

int areq_page(areq_t *r, char limit[16], char offset[16])
{
    static const struct {
        const char *name;
        long lo, hi, def;
    } p[2] = {{"limit", 1, 1000, 100}, {"offset", 0, 1000000, 0}};
    char *out[2] = {limit, offset};
    for (int i = 0; i < 2; i++) {
        char buf[16];
        long v = p[i].def;
        int rc = areq_query(r, p[i].name, buf, sizeof(buf));
        if (rc < 0)
            return -1;
        if (rc) {
            char *end;
            v = strtol(buf, &end, 10);
            if (!buf[0] || *end || v < p[i].lo || v > p[i].hi) {
                areq_error(r, 400, "invalid_parameter", p[i].name, "%s: expected %ld to %ld", p[i].name, p[i].lo,
                           p[i].hi);
                return -1;
            }
        }
        snprintf(out[i], 16, "%ld", v);
    }
    return 0;
}

/* A slug: a DNS-1123 label (lower-case letters, digits, inner '-', at most 63). */
static int is_slug(const char *s, size_t n)
{
    if (n < 1 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

static void areq_free(areq_t *r)
{
    if (r->body)
        json_decref(r->body);
    if (r->resp)
        json_decref(r->resp);
    eco_http_weak_free(r->call);
    explicit_bzero(r->credential, sizeof(r->credential));
    free(r);
}

/* Loop thread: the job is done. */
static void on_done(void *data)
{
    areq_t *r = data;
    eco_http_call_t *call = eco_http_weak_get(r->call);
    if (call) {
        if (r->retry_after_s > 0) {
            char v[24];
            snprintf(v, sizeof(v), "%ld", r->retry_after_s);
            eco_http_add_header(call, "retry-after", v);
        }
        if (r->www_authenticate)
            eco_http_add_header(call, "www-authenticate", "Bearer realm=\"eco-base\"");
        eco_http_add_header(call, "cache-control", "no-store");
        if (!r->code[0] && !r->resp)
            areq_error(r, 500, "internal_error", NULL, "no response");
        if (r->code[0]) {
            eco_http_send_error(call, r->status ? r->status : 500, r->code, r->param[0] ? r->param : NULL, "%s",
                                r->msg);
        } else {
            json_t *resp = r->resp;
            r->resp = NULL;
            eco_http_send_json(call, r->status, resp);
        }
    }
    areq_free(r);
}

/* ---------- the job ---------- */

static void run_job(eco_store_worker_t *w, void *data)
{
    areq_t *r = data;
    int ok = 1;
    if (r->credential[0]) {
        /* an API key presented directly (not through root-gateway) */
        int rc = app_lookup_key(w, r, r->credential, &r->id);
        if (rc == ECO_AUTH_EMISMATCH) {
            areq_error(r, 401, "invalid_api_key", NULL, "the API key is not valid (unknown, revoked or expired)");
            r->www_authenticate = 1;
        }
        ok = rc == 0;
    } else if (r->id.kind == ECO_AUTH_KIND_JWT && !r->trusted) {
        /* a JWT presented directly: it may have been revoked by a logout */
        redisContext *c = kv_conn(w);
        if (!c) {
            areq_error(r, 503, "auth_unavailable", NULL, "cannot check the token's revocation right now");
            r->retry_after_s = 1;
            ok = 0;
        } else {
            redisReply *rep = redisCommand(c, "EXISTS %srevoked:{user:%s}:%s", app.kv_prefix, r->id.user_id, r->id.jti);
            if (!rep) {
                eco_store_worker_redis_broken(w);
                areq_error(r, 503, "auth_unavailable", NULL, "cannot check the token's revocation right now");
                ok = 0;
            } else {
                if (rep->type == REDIS_REPLY_INTEGER && rep->integer == 1) {
                    areq_error(r, 401, "token_revoked", NULL, "this access token was revoked (logged out)");
                    r->www_authenticate = 1;
                    ok = 0;
                }
                freeReplyObject(rep);
            }
        }
    }
    if (ok && !eco_auth_rule_allows(r->route->rule, r->id.role)) {
        areq_error(r, 403, "insufficient_role", NULL, "role %s may not %s %s", eco_auth_role_name(r->id.role),
                   r->route->method, r->route->pattern);
        ok = 0;
    }
    if (ok)
        r->route->fn(w, r);
    eco_service_post(app.svc, on_done, r);
}

/* ---------- the HTTP handler ---------- */

static int is_identity_header(const h2o_header_t *h)
{
    size_t pl = strlen(ECO_AUTH_HDR_PREFIX);
    return h->name->len >= pl && strncasecmp(h->name->base, ECO_AUTH_HDR_PREFIX, pl) == 0;
}

static eco_auth_str_t hdr(eco_http_call_t *call, const char *name)
{
    h2o_iovec_t v = eco_http_header(call, name);
    return (eco_auth_str_t){v.base, v.len};
}

/* Identity from root-gateway's headers: 1 = taken (or none sent), 0 = answered with an error. */
static int take_forwarded_identity(eco_http_call_t *call, areq_t *r)
{
    int any = 0;
    for (size_t i = 0; i < call->req->headers.size; i++)
        any |= is_identity_header(&call->req->headers.entries[i]);
    if (!any)
        return 1;
    eco_auth_str_t secret = hdr(call, ECO_AUTH_HDR_SECRET);
    if (!app.internal_secret[0] || !secret.p ||
        !eco_auth_secret_equal(secret.p, secret.len, app.internal_secret, strlen(app.internal_secret))) {
        eco_warn("identity headers without a valid internal secret", ECO_KS("request_id", call->request_id));
        eco_http_send_error(call, 401, "untrusted_identity_headers", NULL,
                            "x-eco-* identity headers are accepted only from root-gateway");
        return 0;
    }
    r->trusted = 1;
    h2o_iovec_t fwd = eco_http_header(call, "x-forwarded-for");
    if (fwd.base && fwd.len < sizeof(r->client_ip)) {
        size_t n = strcspn(fwd.base, ", ");
        if (n > fwd.len)
            n = fwd.len;
        memcpy(r->client_ip, fwd.base, n);
        r->client_ip[n] = '\0';
    }
    if (!eco_http_header(call, ECO_AUTH_HDR_KIND).base)
        return 1; /* a public route forwarded without a caller */
    if (eco_auth_identity_parse(hdr(call, ECO_AUTH_HDR_KIND), hdr(call, ECO_AUTH_HDR_USER),
                                hdr(call, ECO_AUTH_HDR_ROLE), hdr(call, ECO_AUTH_HDR_KEY), hdr(call, ECO_AUTH_HDR_JTI),
                                hdr(call, ECO_AUTH_HDR_EXP), &r->id) != 0) {
        eco_http_send_error(call, 400, "invalid_identity_headers", NULL, "malformed x-eco-* identity headers");
        return 0;
    }
    return 1;
}

static void send_401(eco_http_call_t *call, const char *code, const char *msg)
{
    eco_http_add_header(call, "www-authenticate", "Bearer realm=\"eco-base\"");
    eco_http_send_error(call, 401, code, NULL, "%s", msg);
}

/* A Bearer credential of our own: a JWT is checked here (no I/O), an API key on the worker.
 * 1 = go on, 0 = answered. */
static int take_bearer(eco_http_call_t *call, areq_t *r)
{
    h2o_iovec_t a = eco_http_header(call, "authorization");
    if (!a.base) {
        send_401(call, "missing_credentials", "this route needs Authorization: Bearer <API key or access token>");
        return 0;
    }
    if (a.len < 8 || strncasecmp(a.base, "Bearer ", 7) != 0) {
        send_401(call, "invalid_credentials", "expected Authorization: Bearer <API key or access token>");
        return 0;
    }
    const char *t = a.base + 7;
    size_t n = a.len - 7;
    if (eco_auth_apikey_looks_valid(t, n)) {
        memcpy(r->credential, t, n);
        r->credential[n] = '\0';
        return 1;
    }
    eco_auth_jwt_claims_t c;
    int rc = eco_auth_jwt_verify(&app.keys, t, n, app.issuer, app.audience, (int64_t)eco_wall_time(), 30, &c);
    if (rc != 0 || !eco_auth_is_uuid(c.sub, strlen(c.sub))) {
        send_401(call, rc ? eco_auth_code(rc) : "invalid_token", "the access token is not valid");
        return 0;
    }
    r->id.kind = ECO_AUTH_KIND_JWT;
    r->id.role = c.role;
    memcpy(r->id.user_id, c.sub, 37);
    snprintf(r->id.jti, sizeof(r->id.jti), "%s", c.jti);
    r->id.exp = c.exp;
    return 1;
}

static int on_request(eco_http_call_t *call)
{
    const app_route_t *rt = call->data;
    areq_t *r = eco_calloc(1, sizeof(*r));
    r->route = rt;
    snprintf(r->request_id, sizeof(r->request_id), "%s", call->request_id);
    eco_http_peer_ip(call, r->client_ip, sizeof(r->client_ip));
    if (!take_forwarded_identity(call, r))
        goto answered;
    int public = (rt->rule->flags & ECO_RULE_PUBLIC) != 0;
    if (!public && !r->trusted && !take_bearer(call, r))
        goto answered;
    if (!public && r->trusted && r->id.kind == ECO_AUTH_KIND_NONE) {
        send_401(call, "missing_credentials", "this route needs a caller");
        goto answered;
    }
    if (!public && !r->credential[0] && !eco_auth_rule_allows(rt->rule, r->id.role)) {
        eco_http_send_error(call, 403, "insufficient_role", NULL, "role %s may not %s %s",
                            eco_auth_role_name(r->id.role), rt->method, rt->pattern);
        goto answered;
    }
    h2o_iovec_t id = eco_http_param(call, "id");
    if (id.base) {
        if (eco_auth_is_uuid(id.base, id.len)) {
            memcpy(r->id_param, id.base, 36);
        } else if ((rt->flags & APP_ID_OR_SLUG) && is_slug(id.base, id.len)) {
            memcpy(r->id_param, id.base, id.len);
            r->id_is_slug = 1;
        } else {
            eco_http_send_error(call, 400, "invalid_parameter", "id", "id: expected a lower-case UUID%s",
                                (rt->flags & APP_ID_OR_SLUG) ? " or a slug" : "");
            goto answered;
        }
    }
    h2o_req_t *req = call->req;
    if (req->query_at != SIZE_MAX) {
        size_t qlen = req->path.len - req->query_at - 1;
        if (qlen >= sizeof(r->query)) {
            eco_http_send_error(call, 414, "query_too_long", NULL, "query string longer than %zu bytes",
                                sizeof(r->query) - 1);
            goto answered;
        }
        memcpy(r->query, req->path.base + req->query_at + 1, qlen);
    }
    if ((rt->flags & APP_BODY) || ((rt->flags & APP_BODY_OPTIONAL) && req->entity.base && req->entity.len)) {
        r->body = eco_http_json_body(call);
        if (!r->body)
            goto answered;
    }
    r->call = eco_http_weak_new(call);
    int rc = eco_store_pool_submit(app.pool, run_job, r);
    if (rc != 0) {
        eco_metrics_inc(app.m_jobs_rejected);
        eco_http_add_header(call, "retry-after", "1");
        eco_http_send_error(call, 503, "overloaded", NULL, "too many requests in progress; retry shortly");
        goto answered;
    }
    return 0;
answered:
    areq_free(r);
    return 0;
}

/* ---------- routes ---------- */

static app_route_t routes[] = {
    {"POST", "/auth/signup", h_signup, APP_BODY},
    {"POST", "/auth/login", h_login, APP_BODY},
    {"POST", "/auth/refresh", h_refresh, APP_BODY},
    {"POST", "/auth/logout", h_logout, APP_BODY_OPTIONAL},
    {"GET", "/auth/me", h_me, 0},
    {"GET", "/api/v1/keys", h_keys_list, 0},
    {"POST", "/api/v1/keys", h_keys_create, APP_BODY},
    {"DELETE", "/api/v1/keys/{id}", h_keys_revoke, 0},
    {"POST", "/api/v1/keys/{id}/rotate", h_keys_rotate, 0},
    {"GET", "/api/v1/keys/{id}/usage", h_keys_usage, 0},
    {"GET", "/api/v1/users", h_users_list, 0},
    {"PATCH", "/api/v1/users/{id}", h_users_patch, APP_BODY},
    {"GET", "/api/v1/audit", h_audit_list, 0},
    {"GET", "/api/v1/platforms", h_platforms_list, 0},
    {"POST", "/api/v1/platforms", h_platforms_create, APP_BODY},
    {"GET", "/api/v1/platforms/{id}", h_platforms_get, APP_ID_OR_SLUG},
    {"PATCH", "/api/v1/platforms/{id}", h_platforms_patch, APP_BODY | APP_ID_OR_SLUG},
    {"DELETE", "/api/v1/platforms/{id}", h_platforms_delete, APP_ID_OR_SLUG},
    {"POST", "/api/v1/yaml/validate", h_yaml_validate, APP_BODY},
    {"POST", "/api/v1/yaml/generate", h_yaml_generate, APP_BODY},
};

void app_register_routes(void)
{
    for (size_t i = 0; i < ECO_ARRAY_SIZE(routes); i++) {
        routes[i].rule = eco_auth_rule_find(routes[i].method, routes[i].pattern);
        if (!routes[i].rule) /* every route has a row in the one permission table */
            eco_fatal("route %s %s has no row in the permission table", routes[i].method, routes[i].pattern);
        eco_service_route(app.svc, routes[i].method, routes[i].pattern, on_request, &routes[i]);
    }
}
