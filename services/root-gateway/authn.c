/* Authentication at the edge: API keys (SHA-256 look-up in PostgreSQL on a miss, then the shared
 * in-process cache of libs/auth for ECO_KEY_CACHE_TTL_MS, served stale for at most
 * ECO_KEY_CACHE_STALE_MS while PostgreSQL is down) and access JWTs (verified locally; revocation
 * checked by the rate-limit script). The Bearer checks, the cache and the look-up are the ones
 * ai-service's gRPC API uses too. */
#include "gw.h"

#include <stdatomic.h>
#include <string.h>

atomic_long gw_key_cache_entries; /* read by the readiness checker thread */
static eco_timer_t sweep_timer;

static void sweep(eco_timer_t *t)
{
    long n = (long)eco_auth_keycache_count(gw.cache, eco_now_ms());
    atomic_store(&gw_key_cache_entries, n);
    eco_metrics_set(gw.m_cache_entries, (double)n);
    eco_timer_start(gw.svc, t, 1000, sweep);
}

void gw_cache_init(void)
{
    eco_auth_keycache_opts_t o = {
        .ttl_ms = gw.cache_ttl_ms, .stale_ms = gw.cache_stale_ms, .max_keys = (size_t)gw.cache_max};
    gw.cache = eco_auth_keycache_new(&o);
    eco_timer_start(gw.svc, &sweep_timer, 1000, sweep);
}

long gw_cache_count(void)
{
    return atomic_load(&gw_key_cache_entries);
}

/* ---------- the look-up job ---------- */

static void lookup_done(void *data);

static void lookup_job(eco_store_worker_t *w, void *data)
{
    gw_req_t *g = data;
    char err[160] = "";
    g->lookup_rc = eco_store_apikey_resolve(w, gw.cache, gw.kv_prefix, gw.cache_ttl_ms, g->key_sha, &g->key,
                                            &g->lookup_stale, err, sizeof(err));
    if (g->lookup_rc == ECO_STORE_EQUERY)
        eco_error("key look-up failed", ECO_KS("error", err), ECO_KS("request_id", g->request_id));
    eco_service_post(gw.svc, lookup_done, g);
}

static void use_key(gw_req_t *g, const eco_auth_key_t *k)
{
    g->id = k->id;
    g->rpm = k->rpm ? k->rpm : gw.default_rpm;
    g->tpm = k->tpm ? k->tpm : gw.default_tpm;
    snprintf(g->subject, sizeof(g->subject), "key:%s", k->id.key_id);
}

static void lookup_done(void *data)
{
    gw_req_t *g = data;
    g->job_out = 0;
    if (!g->call) {
        gw_finish(g);
        return;
    }
    if (g->lookup_rc == 0) {
        eco_metrics_inc(gw.m_cache, g->lookup_stale ? "stale" : "miss");
        use_key(g, &g->key);
        gw_after_auth(g);
        return;
    }
    if (g->lookup_rc == ECO_AUTH_EMISMATCH) {
        eco_metrics_inc(gw.m_cache, "miss");
        eco_metrics_inc(gw.m_auth, "api_key", "invalid");
        gw_fail(g, 401, "invalid_api_key", "the API key is not valid (unknown, revoked or expired)");
        return;
    }
    eco_metrics_inc(gw.m_auth, "api_key", "unavailable");
    gw_fail(g, 503, "auth_unavailable", "cannot verify the API key right now; retry shortly");
}

/* ---------- entry point ---------- */

int gw_authenticate(gw_req_t *g)
{
    h2o_iovec_t a = eco_http_header(g->call, "authorization");
    eco_auth_bearer_t b;
    if (eco_auth_bearer_parse(a.base, a.len, &gw.keys, gw.issuer, gw.audience, (int64_t)eco_wall_time(), &b) != 0) {
        if (b.err == ECO_AUTH_EMISSING || b.err == ECO_AUTH_ESCHEME)
            eco_metrics_inc(gw.m_auth, "none", b.err == ECO_AUTH_EMISSING ? "missing" : "invalid");
        else
            eco_metrics_inc(gw.m_auth, "jwt", b.err == ECO_AUTH_EEXPIRED ? "expired" : "invalid");
        gw_fail(g, 401, b.code, "%s", b.message);
        return -1;
    }
    if (b.kind == ECO_AUTH_KIND_API_KEY) {
        memcpy(g->key_sha, b.key_sha, 32);
        eco_auth_key_t k;
        switch (eco_auth_keycache_get(gw.cache, g->key_sha, eco_now_ms(), (int64_t)eco_wall_time(), &k)) {
        case ECO_AUTH_KEYCACHE_VALID:
            eco_metrics_inc(gw.m_cache, "hit");
            use_key(g, &k);
            return 1;
        case ECO_AUTH_KEYCACHE_INVALID:
            eco_metrics_inc(gw.m_cache, "hit");
            eco_metrics_inc(gw.m_auth, "api_key", "invalid");
            gw_fail(g, 401, "invalid_api_key", "the API key is not valid (unknown, revoked or expired)");
            return -1;
        case ECO_AUTH_KEYCACHE_MISS:
            break;
        }
        g->stage = ST_LOOKUP;
        g->job_out = 1;
        if (eco_store_pool_submit(gw.pool, lookup_job, g) != 0) {
            g->job_out = 0;
            gw_fail(g, 503, "overloaded", "too many requests waiting for authentication; retry shortly");
            return -1;
        }
        return 0;
    }
    g->id = b.id;
    g->rpm = gw.default_rpm;
    g->tpm = gw.default_tpm;
    snprintf(g->subject, sizeof(g->subject), "user:%s", g->id.user_id);
    eco_auth_revoked_key(gw.kv_prefix, &g->id, g->revoked_key, sizeof(g->revoked_key));
    return 1;
}
