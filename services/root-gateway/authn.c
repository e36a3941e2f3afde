/* Authentication at the edge: API keys (SHA-256 look-up in PostgreSQL on a miss, then an
 * in-process cache for ECO_KEY_CACHE_TTL_MS, served stale for at most ECO_KEY_CACHE_STALE_MS
 * while PostgreSQL is down) and access JWTs (verified locally; revocation checked by the
 * rate-limit script). The cache is touched on the loop thread only. */
#include "gw.h"

#include <stdatomic.h>
#include <string.h>

typedef struct {
    uint8_t sha[32];
    int used;
    int valid; /* 0: a negative entry (unknown/revoked key) */
    uint64_t fetched_ms;
    int64_t expires_s; /* the key's own expiry, 0 = none */
    eco_auth_identity_t id;
    long rpm, tpm;
} entry_t;

static entry_t *cache;
static size_t cache_cap;
atomic_long gw_key_cache_entries; /* read by the readiness checker thread */
static eco_timer_t sweep_timer;

static void sweep(eco_timer_t *t)
{
    uint64_t now = eco_now_ms();
    long n = 0;
    for (size_t i = 0; i < cache_cap; i++)
        n += cache[i].used && cache[i].valid && now - cache[i].fetched_ms < (uint64_t)gw.cache_stale_ms;
    atomic_store(&gw_key_cache_entries, n);
    eco_metrics_set(gw.m_cache_entries, (double)n);
    eco_timer_start(gw.svc, t, 1000, sweep);
}

void gw_cache_init(void)
{
    cache_cap = 16;
    while (cache_cap < (size_t)gw.cache_max * 2)
        cache_cap <<= 1;
    cache = eco_calloc(cache_cap, sizeof(entry_t));
    eco_timer_start(gw.svc, &sweep_timer, 1000, sweep);
}

long gw_cache_count(void)
{
    return atomic_load(&gw_key_cache_entries);
}

static size_t slot_of(const uint8_t sha[32])
{
    uint64_t h;
    memcpy(&h, sha, sizeof(h));
    return (size_t)h & (cache_cap - 1);
}

static entry_t *cache_find(const uint8_t sha[32])
{
    size_t i = slot_of(sha);
    for (int p = 0; p < 8; p++, i = (i + 1) & (cache_cap - 1)) {
        if (!cache[i].used)
            return NULL;
        if (memcmp(cache[i].sha, sha, 32) == 0)
            return &cache[i];
    }
    return NULL;
}

/* The key's slot, a free one, or the oldest of the probe run (entries are only overwritten,
 * never removed, so probe runs stay intact). */
static entry_t *cache_slot(const uint8_t sha[32])
{
    size_t i = slot_of(sha);
    entry_t *victim = NULL;
    for (int p = 0; p < 8; p++, i = (i + 1) & (cache_cap - 1)) {
        entry_t *e = &cache[i];
        if (!e->used || memcmp(e->sha, sha, 32) == 0)
            return e;
        if (!victim || e->fetched_ms < victim->fetched_ms)
            victim = e;
    }
    return victim;
}

/* ---------- the look-up job ---------- */

static void lookup_done(void *data);

static void lookup_job(eco_store_worker_t *w, void *data)
{
    gw_req_t *g = data;
    char err[160];
    g->lookup_rc = ECO_STORE_ECONN;
    PGconn *c = eco_store_worker_pg(w, err, sizeof(err));
    for (int attempt = 0; c && attempt < 2; attempt++) {
        /* the owner's current role caps the key's; last_used_at is refreshed at most once a minute */
        static const char sql[] =
            "WITH k AS (SELECT k.id, k.owner_id, "
            "  CASE WHEN k.role = 'admin' AND u.role = 'admin' THEN 'admin' "
            "       WHEN k.role IN ('admin', 'developer') AND u.role IN ('admin', 'developer') THEN 'developer' "
            "       ELSE 'viewer' END AS role, "
            "  coalesce(k.rpm_limit, 0), coalesce(k.tpm_limit, 0), "
            "  coalesce(floor(extract(epoch FROM k.expires_at))::bigint, 0) "
            "  FROM api_keys k JOIN users u ON u.id = k.owner_id "
            "  WHERE k.secret_sha256 = $1 AND k.revoked_at IS NULL AND NOT u.disabled "
            "    AND (k.expires_at IS NULL OR k.expires_at > now())), "
            "touch AS (UPDATE api_keys SET last_used_at = now() WHERE id IN (SELECT id FROM k) "
            "  AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')) "
            "SELECT * FROM k";
        const char *vals[] = {(const char *)g->key_sha};
        int lens[] = {32}, fmts[] = {1};
        PGresult *res;
        eco_store_pg_error_t e;
        int rc = eco_store_pg_query(c, sql, 1, vals, lens, fmts, &res, &e);
        if (rc == ECO_STORE_ECONN) { /* a connection that died while idle: one fresh attempt */
            eco_store_worker_pg_broken(w);
            c = eco_store_worker_pg(w, err, sizeof(err));
            continue;
        }
        if (rc) {
            eco_error("key look-up failed", ECO_KS("error", e.message), ECO_KS("request_id", g->request_id));
            break;
        }
        if (PQntuples(res) == 1) {
            g->id.kind = ECO_AUTH_KIND_API_KEY;
            snprintf(g->id.key_id, sizeof(g->id.key_id), "%s", PQgetvalue(res, 0, 0));
            snprintf(g->id.user_id, sizeof(g->id.user_id), "%s", PQgetvalue(res, 0, 1));
            g->id.role = eco_auth_role_parse(PQgetvalue(res, 0, 2));
            g->rpm = strtol(PQgetvalue(res, 0, 3), NULL, 10);
            g->tpm = strtol(PQgetvalue(res, 0, 4), NULL, 10);
            g->key_expires = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
            g->lookup_rc = 0;
        } else {
            g->lookup_rc = ECO_AUTH_EMISMATCH;
        }
        PQclear(res);
        break;
    }
    eco_service_post(gw.svc, lookup_done, g);
}

static void use_entry(gw_req_t *g, const entry_t *e)
{
    g->id = e->id;
    g->rpm = e->rpm ? e->rpm : gw.default_rpm;
    g->tpm = e->tpm ? e->tpm : gw.default_tpm;
    snprintf(g->subject, sizeof(g->subject), "key:%s", e->id.key_id);
}

static void lookup_done(void *data)
{
    gw_req_t *g = data;
    g->job_out = 0;
    if (!g->call) {
        gw_finish(g);
        return;
    }
    if (g->lookup_rc == 0 || g->lookup_rc == ECO_AUTH_EMISMATCH) {
        entry_t *e = cache_slot(g->key_sha);
        memset(e, 0, sizeof(*e));
        memcpy(e->sha, g->key_sha, 32);
        e->used = 1;
        e->valid = g->lookup_rc == 0;
        e->fetched_ms = eco_now_ms();
        e->expires_s = g->key_expires;
        e->id = g->id;
        e->rpm = g->rpm;
        e->tpm = g->tpm;
        eco_metrics_inc(gw.m_cache, "miss");
        if (!e->valid) {
            eco_metrics_inc(gw.m_auth, "api_key", "invalid");
            gw_fail(g, 401, "invalid_api_key", "the API key is not valid (unknown, revoked or expired)");
            return;
        }
        use_entry(g, e);
        gw_after_auth(g);
        return;
    }
    /* PostgreSQL is unavailable: a recently known key still gets in, for at most the stale window */
    entry_t *e = cache_find(g->key_sha);
    if (e && e->valid && eco_now_ms() - e->fetched_ms < (uint64_t)gw.cache_stale_ms &&
        (!e->expires_s || e->expires_s > (int64_t)eco_wall_time())) {
        eco_metrics_inc(gw.m_cache, "stale");
        use_entry(g, e);
        gw_after_auth(g);
        return;
    }
    eco_metrics_inc(gw.m_auth, "api_key", "unavailable");
    gw_fail(g, 503, "auth_unavailable", "cannot verify the API key right now; retry shortly");
}

/* ---------- entry point ---------- */

int gw_authenticate(gw_req_t *g)
{
    h2o_iovec_t a = eco_http_header(g->call, "authorization");
    if (!a.base) {
        eco_metrics_inc(gw.m_auth, "none", "missing");
        gw_fail(g, 401, "missing_credentials", "send Authorization: Bearer <API key or access token>");
        return -1;
    }
    if (a.len < 8 || a.len > ECO_AUTH_JWT_MAX_LEN + 7 || strncasecmp(a.base, "Bearer ", 7) != 0) {
        eco_metrics_inc(gw.m_auth, "none", "invalid");
        gw_fail(g, 401, "invalid_credentials", "expected Authorization: Bearer <API key or access token>");
        return -1;
    }
    const char *t = a.base + 7;
    size_t n = a.len - 7;
    if (eco_auth_apikey_looks_valid(t, n)) {
        eco_auth_apikey_hash(t, n, g->key_sha);
        entry_t *e = cache_find(g->key_sha);
        uint64_t now = eco_now_ms();
        if (e && now - e->fetched_ms < (uint64_t)gw.cache_ttl_ms) {
            eco_metrics_inc(gw.m_cache, "hit");
            if (!e->valid || (e->expires_s && e->expires_s <= (int64_t)eco_wall_time())) {
                eco_metrics_inc(gw.m_auth, "api_key", "invalid");
                gw_fail(g, 401, "invalid_api_key", "the API key is not valid (unknown, revoked or expired)");
                return -1;
            }
            use_entry(g, e);
            return 1;
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
    if (!memchr(t, '.', n)) {
        eco_metrics_inc(gw.m_auth, "none", "invalid");
        gw_fail(g, 401, "invalid_credentials", "the credential is neither an API key nor an access token");
        return -1;
    }
    eco_auth_jwt_claims_t c;
    int rc = eco_auth_jwt_verify(&gw.keys, t, n, gw.issuer, gw.audience, (int64_t)eco_wall_time(), 30, &c);
    if (rc == 0 && !eco_auth_is_uuid(c.sub, strlen(c.sub)))
        rc = ECO_AUTH_EMALFORMED;
    if (rc != 0) {
        eco_metrics_inc(gw.m_auth, "jwt", rc == ECO_AUTH_EEXPIRED ? "expired" : "invalid");
        gw_fail(g, 401, eco_auth_code(rc), "the access token is not valid (%s)", eco_auth_code(rc));
        return -1;
    }
    g->id.kind = ECO_AUTH_KIND_JWT;
    g->id.role = c.role;
    memcpy(g->id.user_id, c.sub, 37);
    snprintf(g->id.jti, sizeof(g->id.jti), "%s", c.jti);
    g->id.exp = c.exp;
    g->rpm = gw.default_rpm;
    g->tpm = gw.default_tpm;
    snprintf(g->subject, sizeof(g->subject), "user:%s", g->id.user_id);
    snprintf(g->revoked_key, sizeof(g->revoked_key), "%srevoked:{user:%s}:%s", gw.kv_prefix, g->id.user_id, c.jti);
    return 1;
}
