/* Credentials and limits of gRPC callers (grpc_auth.h): the checks root-gateway makes for REST,
 * through the same libraries, with gRPC status codes. */
#include "grpc_auth.h"
#include "eco_apikey.h"
#include "eco_deps.h"
#include "eco_keycache.h"
#include "eco_pool.h"
#include "eco_store.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static struct {
    int enabled;
    eco_service_t *svc;
    eco_store_pool_t *pool;
    eco_auth_keycache_t *cache;
    eco_store_limiter_t *limiter;
    eco_auth_jwt_keyring_t keys;
    const char *issuer, *audience, *kv_prefix;
    long cache_ttl_ms;
    long default_rpm, default_tpm, default_max_tokens;
    eco_metric_t *m_auth, *m_cache, *m_limit, *m_redis_errors;
} ga = {.enabled = 1, .default_max_tokens = 1024};

static int settings_error(const char *var, const char *msg)
{
    fprintf(stderr, "%s: expected %s\n", var, msg);
    return 2;
}

int grpc_auth_init(eco_service_t *svc, const grpc_auth_settings_t *s)
{
    ga.enabled = strcmp(s->mode, "off") != 0;
    ga.default_max_tokens = s->default_max_tokens;
    if (!ga.enabled) {
        eco_warn("ECO_GRPC_AUTH=off: the gRPC API accepts every caller without credentials or limits "
                 "(local development and tests behind a trusted network only)");
        return 0;
    }
    char err[256];
    if (eco_auth_jwt_keyring_parse(s->jwt_keys, &ga.keys, err, sizeof(err)) != 0)
        return settings_error("ECO_JWT_KEYS", err);
    if (strlen(s->kv_prefix) > 32)
        return settings_error("ECO_REDIS_KEY_PREFIX", "at most 32 characters");
    if (ga.keys.n == 0)
        eco_warn("ECO_JWT_KEYS is empty: gRPC callers can authenticate with API keys only");
    ga.svc = svc;
    ga.issuer = s->issuer;
    ga.audience = s->audience;
    ga.kv_prefix = s->kv_prefix;
    ga.cache_ttl_ms = s->cache_ttl_ms;
    ga.default_rpm = s->default_rpm;
    ga.default_tpm = s->default_tpm;
    eco_store_pool_opts_t po = {.name = "ai-service-auth",
                                .workers = (size_t)s->db_workers,
                                .queue_max = (size_t)s->db_queue,
                                .pg_url = s->pg_url,
                                .redis_url = s->redis_url,
                                .redis_timeout_ms = (int)s->redis_timeout_ms,
                                .pg_connect_timeout_ms = 1000,
                                .pg_statement_timeout_ms = 2000};
    if (eco_store_pool_new(&ga.pool, &po, err, sizeof(err)) != 0)
        return settings_error("ECO_REDIS_URL", err);
    /* the same Redis keys as root-gateway's: one caller, one set of limits */
    char rl_prefix[64];
    snprintf(rl_prefix, sizeof(rl_prefix), "%srl:", s->kv_prefix);
    eco_store_limiter_opts_t lo = {.pool = ga.pool,
                                   .spec = {rl_prefix, 60000, 1000},
                                   .fail_open = strcmp(s->redis_fail_mode, "open") == 0,
                                   .local_subjects = 16384};
    ga.limiter = eco_store_limiter_new(&lo);
    eco_auth_keycache_opts_t co = {
        .ttl_ms = s->cache_ttl_ms, .stale_ms = s->cache_stale_ms, .max_keys = (size_t)s->cache_max};
    ga.cache = eco_auth_keycache_new(&co);
    ga.m_auth = eco_metrics_counter("eco_ai_grpc_auth_total",
                                    "gRPC authentication decisions by credential kind and result.", "kind,result");
    ga.m_cache = eco_metrics_counter("eco_ai_grpc_key_cache_lookups_total",
                                     "gRPC API-key cache look-ups: hit, miss (read from PostgreSQL), stale "
                                     "(PostgreSQL down).",
                                     "result");
    ga.m_limit = eco_metrics_counter("eco_ai_grpc_ratelimit_decisions_total",
                                     "gRPC rate-limit decisions: allowed, limited, revoked, fail_closed.", "result");
    ga.m_redis_errors = eco_metrics_counter("eco_ai_grpc_ratelimit_redis_errors_total",
                                            "gRPC rate-limit calls that could not reach Redis.", NULL);
    /* reported, never a reason to leave the load balancer: REST and cached keys still work */
    eco_deps_ready_postgres("postgres", ECO_READY_INFO, s->pg_url);
    eco_deps_ready_redis("redis", ECO_READY_INFO, s->redis_url);
    return 0;
}

int grpc_auth_enabled(void)
{
    return ga.enabled;
}

long grpc_auth_default_max_tokens(void)
{
    return ga.default_max_tokens;
}

void grpc_auth_shutdown(void)
{
    if (!ga.pool)
        return;
    eco_store_pool_free(ga.pool);
    ga.pool = NULL;
    eco_store_limiter_free(ga.limiter);
    eco_auth_keycache_free(ga.cache);
    eco_auth_jwt_keyring_wipe(&ga.keys);
}

/* ---------- decisions ---------- */

__attribute__((format(printf, 5, 6))) static void refuse(grpc_auth_t *a, grpc_status_code st, const char *code,
                                                         long retry_after_s, const char *fmt, ...)
{
    a->status = st;
    a->code = code;
    a->retry_after_s = retry_after_s;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->message, sizeof(a->message), fmt, ap);
    va_end(ap);
}

static const char *kind_label(const grpc_auth_t *a)
{
    return a->id.kind == ECO_AUTH_KIND_API_KEY ? "api_key" : a->id.kind == ECO_AUTH_KIND_JWT ? "jwt" : "none";
}

static void use_key(grpc_auth_t *a, const eco_auth_key_t *k)
{
    a->id = k->id;
    a->rpm = k->rpm ? k->rpm : ga.default_rpm;
    a->tpm = k->tpm ? k->tpm : ga.default_tpm;
    snprintf(a->subject, sizeof(a->subject), "key:%s", k->id.key_id);
}

/* 1 when the role may call the method; else the refusal is set. */
static int role_allowed(grpc_auth_t *a)
{
    if (eco_auth_rule_allows(a->rule, a->id.role))
        return 1;
    eco_metrics_inc(ga.m_auth, kind_label(a), "forbidden");
    refuse(a, GRPC_STATUS_PERMISSION_DENIED, "insufficient_role", 0, "role %s may not call %s (as %s %s)",
           eco_auth_role_name(a->id.role), eco_rpc_call_method(a->call), a->rule->method, a->rule->pattern);
    return 0;
}

static void add_num(eco_rpc_call_t *call, const char *name, long v)
{
    char s[24];
    snprintf(s, sizeof(s), "%ld", v < 0 ? 0 : v);
    eco_rpc_call_add_initial_md(call, name, s, 0);
}

/* The x-ratelimit-* headers root-gateway sends, as response metadata. */
static void limit_metadata(grpc_auth_t *a)
{
    const eco_store_rl_result_t *rl = &a->lim.rl;
    add_num(a->call, "x-ratelimit-limit-requests", a->rpm);
    add_num(a->call, "x-ratelimit-remaining-requests", a->rpm - rl->used[0]);
    add_num(a->call, "x-ratelimit-reset-requests", (rl->reset_ms[0] + 999) / 1000);
    if (a->rule->flags & ECO_RULE_INFERENCE) {
        add_num(a->call, "x-ratelimit-limit-tokens", a->tpm);
        add_num(a->call, "x-ratelimit-remaining-tokens", a->tpm - rl->used[1]);
        add_num(a->call, "x-ratelimit-reset-tokens", (rl->reset_ms[1] + 999) / 1000);
    }
}

/* On a pool worker: the key look-up (cache miss), the role, then the limits. */
static void admit_job(eco_store_worker_t *w, void *data)
{
    grpc_auth_t *a = data;
    char err[160] = "";
    const char *rid = eco_rpc_call_md(a->call, "x-request-id");
    if (a->need_lookup) {
        eco_auth_key_t k;
        int stale = 0;
        int rc = eco_store_apikey_resolve(w, ga.cache, ga.kv_prefix, ga.cache_ttl_ms, a->key_sha, &k, &stale, err,
                                          sizeof(err));
        if (rc == ECO_AUTH_EMISMATCH) {
            eco_metrics_inc(ga.m_cache, "miss");
            eco_metrics_inc(ga.m_auth, "api_key", "invalid");
            refuse(a, GRPC_STATUS_UNAUTHENTICATED, "invalid_api_key", 0,
                   "the API key is not valid (unknown, revoked or expired)");
            goto out;
        }
        if (rc != 0) {
            if (rc == ECO_STORE_EQUERY)
                eco_error("key look-up failed", ECO_KS("error", err), ECO_KS("request_id", rid ? rid : ""));
            eco_metrics_inc(ga.m_auth, "api_key", "unavailable");
            refuse(a, GRPC_STATUS_UNAVAILABLE, "auth_unavailable", 1,
                   "cannot verify the API key right now (credential store unavailable); retry shortly");
            goto out;
        }
        eco_metrics_inc(ga.m_cache, stale ? "stale" : "miss");
        use_key(a, &k);
        if (!role_allowed(a))
            goto out;
    }
    eco_metrics_inc(ga.m_auth, kind_label(a), "ok");
    long lim[2] = {a->rpm, a->tpm}, cost[2] = {1, a->reserve};
    int rc = eco_store_limiter_take(ga.limiter, w, a->subject, a->revoked_key[0] ? a->revoked_key : NULL, lim, cost,
                                    &a->lim, err, sizeof(err));
    if (a->lim.redis_error) {
        eco_metrics_inc(ga.m_redis_errors);
        eco_warn("rate limiter: Redis unavailable", ECO_KS("error", err), ECO_KS("request_id", rid ? rid : ""));
    }
    if (rc != 0) {
        eco_metrics_inc(ga.m_limit, "fail_closed");
        refuse(a, GRPC_STATUS_UNAVAILABLE, "rate_limiter_unavailable", 1,
               "limits cannot be enforced right now; retry shortly");
        goto out;
    }
    const eco_store_rl_result_t *rl = &a->lim.rl;
    eco_metrics_inc(ga.m_limit, rl->revoked ? "revoked" : rl->allowed ? "allowed" : "limited");
    if (rl->revoked) {
        eco_metrics_inc(ga.m_auth, "jwt", "revoked");
        refuse(a, GRPC_STATUS_UNAUTHENTICATED, "token_revoked", 0, "this access token was revoked (logged out)");
    } else if (!rl->allowed) {
        long s = (rl->retry_ms + 999) / 1000;
        if (rl->too_large)
            refuse(a, GRPC_STATUS_RESOURCE_EXHAUSTED, "tokens_exceed_limit", s,
                   "this request reserves %ld tokens, more than the limit of %ld per minute", a->reserve, a->tpm);
        else
            refuse(a, GRPC_STATUS_RESOURCE_EXHAUSTED, "rate_limited", s, "rate limit exceeded; retry in %ld s", s);
    } else {
        a->admitted = 1;
    }
    limit_metadata(a);
out:
    eco_service_post(ga.svc, a->done, a->data);
}

void grpc_auth_start(grpc_auth_t *a, eco_rpc_call_t *call, long reserve, void (*done)(void *), void *data)
{
    a->status = GRPC_STATUS_OK;
    a->call = call;
    a->reserve = reserve;
    a->done = done;
    a->data = data;
    a->rule = eco_auth_grpc_rule(eco_rpc_call_method(call));
    ECO_BUG_ON(!a->rule); /* rpc_api registers only methods with a row */
    const char *v = eco_rpc_call_md(call, "authorization");
    eco_auth_bearer_t b;
    if (eco_auth_bearer_parse(v, v ? strlen(v) : 0, &ga.keys, ga.issuer, ga.audience, (int64_t)eco_wall_time(), &b) !=
        0) {
        if (b.err == ECO_AUTH_EMISSING || b.err == ECO_AUTH_ESCHEME)
            eco_metrics_inc(ga.m_auth, "none", b.err == ECO_AUTH_EMISSING ? "missing" : "invalid");
        else
            eco_metrics_inc(ga.m_auth, "jwt", b.err == ECO_AUTH_EEXPIRED ? "expired" : "invalid");
        if (b.err == ECO_AUTH_EMISSING)
            refuse(a, GRPC_STATUS_UNAUTHENTICATED, b.code, 0,
                   "send metadata authorization: Bearer <API key or access token>");
        else if (b.err == ECO_AUTH_ESCHEME)
            refuse(a, GRPC_STATUS_UNAUTHENTICATED, b.code, 0,
                   "expected metadata authorization: Bearer <API key (eco_sk_...) or access token>");
        else
            refuse(a, GRPC_STATUS_UNAUTHENTICATED, b.code, 0, "%s", b.message);
        eco_service_post(ga.svc, done, data);
        return;
    }
    if (b.kind == ECO_AUTH_KIND_API_KEY) {
        memcpy(a->key_sha, b.key_sha, 32);
        eco_auth_key_t k;
        switch (eco_auth_keycache_get(ga.cache, a->key_sha, eco_now_ms(), (int64_t)eco_wall_time(), &k)) {
        case ECO_AUTH_KEYCACHE_VALID:
            eco_metrics_inc(ga.m_cache, "hit");
            use_key(a, &k);
            break;
        case ECO_AUTH_KEYCACHE_INVALID:
            eco_metrics_inc(ga.m_cache, "hit");
            eco_metrics_inc(ga.m_auth, "api_key", "invalid");
            refuse(a, GRPC_STATUS_UNAUTHENTICATED, "invalid_api_key", 0,
                   "the API key is not valid (unknown, revoked or expired)");
            eco_service_post(ga.svc, done, data);
            return;
        case ECO_AUTH_KEYCACHE_MISS:
            a->need_lookup = 1;
            a->id.kind = ECO_AUTH_KIND_API_KEY;
            break;
        }
    } else {
        a->id = b.id;
        a->rpm = ga.default_rpm;
        a->tpm = ga.default_tpm;
        snprintf(a->subject, sizeof(a->subject), "user:%s", a->id.user_id);
        eco_auth_revoked_key(ga.kv_prefix, &a->id, a->revoked_key, sizeof(a->revoked_key));
    }
    if (!a->need_lookup && !role_allowed(a)) {
        eco_service_post(ga.svc, done, data);
        return;
    }
    if (eco_store_pool_submit(ga.pool, admit_job, a) != 0) {
        refuse(a, GRPC_STATUS_UNAVAILABLE, "overloaded", 1,
               "too many requests waiting for authentication; retry shortly");
        eco_service_post(ga.svc, done, data);
    }
}

void grpc_auth_settle(grpc_auth_t *a, long actual)
{
    if (!a->admitted || a->reserve <= 0)
        return;
    if (actual < 0)
        actual = 0;
    long delta = actual - a->reserve;
    a->reserve = 0;
    eco_store_limiter_adjust(ga.limiter, &a->lim, a->subject, 1, delta);
}

size_t grpc_auth_trailers(const grpc_auth_t *a, eco_rpc_md_t md[2], char buf[24])
{
    size_t n = 0;
    if (a->retry_after_s > 0) {
        snprintf(buf, 24, "%ld", a->retry_after_s);
        md[n++] = (eco_rpc_md_t){"retry-after", buf, 0};
    }
    if (a->code)
        md[n++] = (eco_rpc_md_t){"eco-error-code", a->code, 0};
    return n;
}
