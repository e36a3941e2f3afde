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

int eco_store_apikey_resolve(eco_store_worker_t *w, eco_auth_keycache_t *cache, const uint8_t sha[32],
                             eco_auth_key_t *out, int *stale, char *err, size_t errlen)
{
    *stale = 0;
    int rc = eco_store_apikey_lookup(w, sha, out, err, errlen);
    if (rc == 0 || rc == ECO_AUTH_EMISMATCH) {
        eco_auth_keycache_put(cache, sha, rc == 0 ? out : NULL, eco_now_ms());
        return rc;
    }
    /* PostgreSQL is unavailable: a recently known key still gets in, for at most the stale window */
    if (eco_auth_keycache_get_stale(cache, sha, eco_now_ms(), (int64_t)eco_wall_time(), out)) {
        *stale = 1;
        return 0;
    }
    return rc;
}
