/* API-key look-ups (eco_apikey.h). */
#include "eco_apikey.h"
#include "eco_store.h"
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int eco_store_apikey_lookup(eco_store_worker_t *w, const uint8_t sha[32], eco_auth_key_t *out, char *err, size_t errlen)
{
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
    const char *vals[] = {(const char *)sha};
    int lens[] = {32}, fmts[] = {1};
    PGconn *c = eco_store_worker_pg(w, err, errlen);
    int rc = ECO_STORE_ECONN;
    for (int attempt = 0; c && attempt < 2; attempt++) {
        PGresult *res;
        eco_store_pg_error_t e;
        rc = eco_store_pg_query(c, sql, 1, vals, lens, fmts, &res, &e);
        if (rc == ECO_STORE_ECONN) { /* a connection that died while idle: one fresh attempt */
            eco__store_seterr(err, errlen, "%s", e.message);
            eco_store_worker_pg_broken(w);
            c = eco_store_worker_pg(w, err, errlen);
            continue;
        }
        if (rc) {
            eco__store_seterr(err, errlen, "key look-up failed: %s", e.message);
            return rc;
        }
        if (PQntuples(res) != 1) {
            PQclear(res);
            return ECO_AUTH_EMISMATCH;
        }
        memset(out, 0, sizeof(*out));
        out->id.kind = ECO_AUTH_KIND_API_KEY;
        snprintf(out->id.key_id, sizeof(out->id.key_id), "%s", PQgetvalue(res, 0, 0));
        snprintf(out->id.user_id, sizeof(out->id.user_id), "%s", PQgetvalue(res, 0, 1));
        out->id.role = eco_auth_role_parse(PQgetvalue(res, 0, 2));
        out->rpm = strtol(PQgetvalue(res, 0, 3), NULL, 10);
        out->tpm = strtol(PQgetvalue(res, 0, 4), NULL, 10);
        out->expires_s = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
        PQclear(res);
        return 0;
    }
    return ECO_STORE_ECONN;
}

static void redis_key(const char *prefix, const uint8_t sha[32], char *out, size_t n)
{
    int w = snprintf(out, n, "%sapikey:", prefix);
    for (int i = 0; i < 32 && (size_t)w + 2 < n; i++, w += 2)
        snprintf(out + w, n - (size_t)w, "%02x", sha[i]);
}

/* "1|<fetched wall ms>|key_id|user_id|role|rpm|tpm|expires_s" or "0|<fetched wall ms>". */
static int redis_get(redisContext *rc, const char *key, eco_auth_key_t *out, int *valid, int64_t *fetched_wall_ms)
{
    redisReply *r = redisCommand(rc, "GET %s", key);
    if (!r || r->type != REDIS_REPLY_STRING) {
        if (r)
            freeReplyObject(r);
        return -1;
    }
    char kid[40] = "", uid[40] = "", role[16] = "";
    long long fetched = 0, exp = 0;
    long rpm = 0, tpm = 0;
    int v = -1, n = sscanf(r->str, "%d|%lld|%39[^|]|%39[^|]|%15[^|]|%ld|%ld|%lld", &v, &fetched, kid, uid, role, &rpm,
                           &tpm, &exp);
    freeReplyObject(r);
    if (v == 0 && n >= 2) {
        *valid = 0;
    } else if (v == 1 && n == 8 && eco_auth_is_uuid(kid, strlen(kid)) && eco_auth_is_uuid(uid, strlen(uid))) {
        *valid = 1;
        memset(out, 0, sizeof(*out));
        out->id.kind = ECO_AUTH_KIND_API_KEY;
        memcpy(out->id.key_id, kid, sizeof(out->id.key_id) < sizeof(kid) ? sizeof(out->id.key_id) : sizeof(kid));
        memcpy(out->id.user_id, uid, sizeof(out->id.user_id) < sizeof(uid) ? sizeof(out->id.user_id) : sizeof(uid));
        out->id.role = eco_auth_role_parse(role);
        out->rpm = rpm;
        out->tpm = tpm;
        out->expires_s = exp;
    } else {
        return -1; /* not ours or damaged: ask PostgreSQL */
    }
    *fetched_wall_ms = fetched;
    return 0;
}

static void redis_put(redisContext *rc, const char *key, const eco_auth_key_t *k, long ttl_ms)
{
    char val[192];
    int64_t now = (int64_t)(eco_wall_time() * 1000.0);
    if (k)
        snprintf(val, sizeof(val), "1|%lld|%s|%s|%s|%ld|%ld|%lld", (long long)now, k->id.key_id, k->id.user_id,
                 eco_auth_role_name(k->id.role), k->rpm, k->tpm, (long long)k->expires_s);
    else
        snprintf(val, sizeof(val), "0|%lld", (long long)now);
    redisReply *r = redisCommand(rc, "SET %s %s PX %ld", key, val, ttl_ms);
    if (r)
        freeReplyObject(r);
}

int eco_store_apikey_resolve(eco_store_worker_t *w, eco_auth_keycache_t *cache, const char *prefix, long ttl_ms,
                             const uint8_t sha[32], eco_auth_key_t *out, int *stale, char *err, size_t errlen)
{
    *stale = 0;
    char key[128], rerr[160];
    redis_key(prefix ? prefix : "", sha, key, sizeof(key));
    redisContext *rc = ttl_ms > 0 ? eco_store_worker_redis(w, rerr, sizeof(rerr)) : NULL;
    if (rc) {
        int valid;
        int64_t fetched;
        if (redis_get(rc, key, out, &valid, &fetched) == 0) {
            int64_t age = (int64_t)(eco_wall_time() * 1000.0) - fetched;
            if (age >= 0 && age < ttl_ms) {
                uint64_t now = eco_now_ms();
                uint64_t at = now > (uint64_t)age ? now - (uint64_t)age : 0;
                eco_auth_keycache_put(cache, sha, valid ? out : NULL, at);
                return valid ? 0 : ECO_AUTH_EMISMATCH;
            }
        } else if (rc->err) {
            eco_store_worker_redis_broken(w);
            rc = NULL;
        }
    }
    int rc_pg = eco_store_apikey_lookup(w, sha, out, err, errlen);
    if (rc_pg == 0 || rc_pg == ECO_AUTH_EMISMATCH) {
        eco_auth_keycache_put(cache, sha, rc_pg == 0 ? out : NULL, eco_now_ms());
        if (rc)
            redis_put(rc, key, rc_pg == 0 ? out : NULL, ttl_ms);
        return rc_pg;
    }
    /* PostgreSQL is unavailable: a recently known key still gets in, for at most the stale window */
    if (eco_auth_keycache_get_stale(cache, sha, eco_now_ms(), (int64_t)eco_wall_time(), out)) {
        *stale = 1;
        return 0;
    }
    return rc_pg;
}

void eco_store_apikey_forget(eco_store_worker_t *w, const char *prefix, const char *const *sha_hex, size_t n)
{
    if (n == 0)
        return;
    char err[160];
    redisContext *rc = eco_store_worker_redis(w, err, sizeof(err));
    for (size_t i = 0; rc && i < n; i++) {
        redisReply *r = redisCommand(rc, "DEL %sapikey:%s", prefix ? prefix : "", sha_hex[i]);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            eco_warn("cannot drop a cached API key from Redis; it expires within the key-cache TTL",
                     ECO_KS("error", r ? r->str : rc->errstr));
            if (r)
                freeReplyObject(r);
            if (rc->err)
                eco_store_worker_redis_broken(w);
            return;
        }
        freeReplyObject(r);
    }
    if (!rc)
        eco_warn("cannot drop cached API keys from Redis; they expire within the key-cache TTL", ECO_KS("error", err));
}
