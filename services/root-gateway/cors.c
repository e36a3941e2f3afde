/* CORS for browser callers (ECO_CORS_ORIGINS; empty = off). Preflights (OPTIONS with Origin and
 * Access-Control-Request-Method) are answered here without credentials: 204 with the methods the
 * path serves, the request headers we accept and a max-age for an allowed origin; 403 without any
 * CORS header otherwise. Actual requests from an allowed origin get Access-Control-Allow-Origin
 * and the exposed headers; others get none (the browser then withholds the answer). Every answer
 * carries Vary: Origin so shared caches keep origins apart. Credentials are bearer tokens, never
 * cookies, so Access-Control-Allow-Credentials is never sent. */
#include "gw.h"

#include <ctype.h>
#include <string.h>

#define MAX_ORIGINS    32
#define MAX_ORIGIN_LEN 253

static struct {
    int on, any;
    size_t n;
    char origins[MAX_ORIGINS][MAX_ORIGIN_LEN + 1];
    char max_age[24];
} cors;

/* Request headers a browser may send (Authorization is never covered by a "*"). */
static const char *const allowed_headers[] = {"authorization",  "content-type", "accept",        "x-request-id",
                                              "traceparent",    "tracestate",   "last-event-id", "openai-organization",
                                              "openai-project", "openai-beta"};

static const char exposed[] = "x-request-id, retry-after, x-ratelimit-limit-requests, x-ratelimit-remaining-requests, "
                              "x-ratelimit-reset-requests, x-ratelimit-limit-tokens, x-ratelimit-remaining-tokens, "
                              "x-ratelimit-reset-tokens";

/* "http(s)://host[:port]" with a lower-case host of letters, digits, '.' and '-'; no path. */
static int origin_ok(const char *s, size_t n)
{
    size_t p = n >= 8 && strncmp(s, "https://", 8) == 0 ? 8 : n >= 7 && strncmp(s, "http://", 7) == 0 ? 7 : 0;
    if (!p || p == n || n > MAX_ORIGIN_LEN)
        return 0;
    size_t host = p;
    while (p < n && (islower((unsigned char)s[p]) || isdigit((unsigned char)s[p]) || s[p] == '.' || s[p] == '-'))
        p++;
    if (p == host)
        return 0;
    if (p < n && s[p] == ':') {
        size_t d = ++p;
        while (p < n && isdigit((unsigned char)s[p]))
            p++;
        if (p == d || p - d > 5)
            return 0;
    }
    return p == n;
}

int gw_cors_init(const char *list, long max_age_ms, char *err, size_t errlen)
{
    memset(&cors, 0, sizeof(cors));
    snprintf(cors.max_age, sizeof(cors.max_age), "%ld", max_age_ms / 1000);
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        while (n && p[n - 1] == ' ')
            n--;
        if (n == 0)
            break;
        if (n == 1 && p[0] == '*') {
            cors.any = 1;
        } else if (!origin_ok(p, n)) {
            snprintf(err, errlen,
                     "a comma-separated list of origins like https://app.example.com[:port] or *, got \"%.*s\"",
                     (int)(n > 80 ? 80 : n), p);
            return ECO_EINVAL;
        } else if (cors.n == MAX_ORIGINS) {
            snprintf(err, errlen, "at most %d origins", MAX_ORIGINS);
            return ECO_EINVAL;
        } else {
            memcpy(cors.origins[cors.n++], p, n);
        }
        p += strcspn(p, ",");
    }
    cors.on = cors.any || cors.n > 0;
    return 0;
}

/* The request's Origin when it is allowed, else {NULL, 0}. */
static h2o_iovec_t allowed_origin(eco_http_call_t *call)
{
    h2o_iovec_t o = eco_http_header(call, "origin");
    if (!o.base || !origin_ok(o.base, o.len))
        return h2o_iovec_init(NULL, 0);
    if (cors.any)
        return o;
    for (size_t i = 0; i < cors.n; i++)
        if (strlen(cors.origins[i]) == o.len && strncasecmp(cors.origins[i], o.base, o.len) == 0)
            return o;
    return h2o_iovec_init(NULL, 0);
}

static void add_allow_origin(eco_http_call_t *call, h2o_iovec_t origin)
{
    char v[MAX_ORIGIN_LEN + 1];
    snprintf(v, sizeof(v), "%.*s", (int)origin.len, origin.base);
    eco_http_add_header(call, "access-control-allow-origin", cors.any ? "*" : v);
}

void gw_cors_apply(eco_http_call_t *call)
{
    if (!cors.on)
        return;
    eco_http_add_header(call, "vary", "Origin");
    h2o_iovec_t origin = allowed_origin(call);
    if (!origin.base)
        return;
    add_allow_origin(call, origin);
    eco_http_add_header(call, "access-control-expose-headers", exposed);
}

static int header_allowed(const char *h, size_t n)
{
    for (size_t i = 0; i < ECO_ARRAY_SIZE(allowed_headers); i++)
        if (strlen(allowed_headers[i]) == n && strncasecmp(allowed_headers[i], h, n) == 0)
            return 1;
    return n > 12 && strncasecmp(h, "x-stainless-", 12) == 0; /* the OpenAI SDKs' telemetry headers */
}

/* The requested headers we accept, lower-cased, into out (at most cap bytes). */
static void accepted_headers(h2o_iovec_t req, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; req.base && i < req.len;) {
        while (i < req.len && (req.base[i] == ' ' || req.base[i] == ','))
            i++;
        size_t s = i;
        while (i < req.len && req.base[i] != ',' && req.base[i] != ' ')
            i++;
        size_t n = i - s;
        if (n == 0 || !header_allowed(req.base + s, n) || used + n + 3 > cap)
            continue;
        if (used) {
            memcpy(out + used, ", ", 2);
            used += 2;
        }
        for (size_t k = 0; k < n; k++)
            out[used++] = (char)tolower((unsigned char)req.base[s + k]);
        out[used] = '\0';
    }
}

/* "GET, POST" of the rules for this pattern (OPTIONS added when plain is set). */
static void methods_for(const char *pattern, char *out, size_t cap, int plain)
{
    size_t n, used = 0;
    const eco_auth_rule_t *rules = eco_auth_rules(&n);
    out[0] = '\0';
    for (size_t i = 0; i < n && used + 16 < cap; i++)
        if (strcmp(rules[i].pattern, pattern) == 0)
            used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? ", " : "", rules[i].method);
    if (plain && used + 16 < cap)
        snprintf(out + used, cap - used, "%sOPTIONS", used ? ", " : "");
}

static int method_listed(const char *methods, h2o_iovec_t m)
{
    for (const char *p = methods; *p;) {
        size_t n = strcspn(p, ",");
        if (n == m.len && memcmp(p, m.base, n) == 0)
            return 1;
        p += n;
        while (*p == ',' || *p == ' ')
            p++;
    }
    return 0;
}

static void send_empty(eco_http_call_t *call, int status)
{
    h2o_req_t *req = call->req;
    req->res.status = status;
    req->res.reason = eco_http_reason(status);
    h2o_send_inline(req, "", 0);
}

static int on_options(eco_http_call_t *call)
{
    const char *pattern = call->data;
    char methods[96];
    h2o_iovec_t origin = eco_http_header(call, "origin");
    h2o_iovec_t want = eco_http_header(call, "access-control-request-method");
    if (!origin.base || !want.base) { /* a plain OPTIONS: what does this path serve? */
        methods_for(pattern, methods, sizeof(methods), 1);
        eco_http_add_header(call, "allow", methods);
        send_empty(call, 204);
        return 0;
    }
    eco_http_add_header(call, "vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers");
    methods_for(pattern, methods, sizeof(methods), 0);
    h2o_iovec_t ok = allowed_origin(call);
    if (!ok.base) {
        eco_http_send_error(call, 403, "cors_origin_not_allowed", NULL, "origin %.*s may not call this API",
                            (int)(origin.len > 100 ? 100 : origin.len), origin.base);
        return 0;
    }
    if (!method_listed(methods, want)) {
        eco_http_send_error(call, 403, "cors_method_not_allowed", NULL, "%.*s is not served here; allowed: %s",
                            (int)(want.len > 16 ? 16 : want.len), want.base, methods);
        return 0;
    }
    char headers[512];
    accepted_headers(eco_http_header(call, "access-control-request-headers"), headers, sizeof(headers));
    add_allow_origin(call, ok);
    eco_http_add_header(call, "access-control-allow-methods", methods);
    if (headers[0])
        eco_http_add_header(call, "access-control-allow-headers", headers);
    eco_http_add_header(call, "access-control-max-age", cors.max_age);
    send_empty(call, 204);
    return 0;
}

void gw_cors_register(void)
{
    if (!cors.on)
        return; /* OPTIONS stays a 405 */
    size_t n;
    const eco_auth_rule_t *rules = eco_auth_rules(&n);
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < i && strcmp(rules[j].pattern, rules[i].pattern) != 0)
            j++;
        if (j == i) /* the first rule of each path */
            eco_service_route(gw.svc, "OPTIONS", rules[i].pattern, on_options, (void *)rules[i].pattern);
    }
}
