/* /api/v1/keys: create (the secret is shown once), list, revoke, rotate, usage. A caller manages
 * its own keys; admins may revoke, rotate and read the usage of anyone's. Runs on workers. */
#include "app.h"

#include <string.h>

#define KEY_COLUMNS                                                                                                    \
    "id, name, prefix, role, rpm_limit, tpm_limit, expires_at, revoked_at, last_used_at, created_at, owner_id"

/* Optional positive integer member in [1, max]; -1 on a 400 (set on r), 0 when absent. */
static int opt_int(areq_t *r, const char *name, long max, long *out)
{
    json_t *v = json_object_get(r->body, name);
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > max) {
        areq_error(r, 400, "invalid_parameter", name, "%s: expected an integer from 1 to %ld", name, max);
        return -1;
    }
    *out = (long)json_integer_value(v);
    return 0;
}

static int name_ok(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < ' ' || *p == 0x7f)
            return 0;
    return 1;
}

void h_keys_create(eco_store_worker_t *w, areq_t *r)
{
    static const char *allowed[] = {"name", "role", "rpm_limit", "tpm_limit", "expires_in_days"};
    const char *k;
    json_t *v;
    json_object_foreach(r->body, k, v)
    {
        size_t i = 0;
        while (i < ECO_ARRAY_SIZE(allowed) && strcmp(allowed[i], k) != 0)
            i++;
        if (i == ECO_ARRAY_SIZE(allowed)) {
            areq_error(r, 400, "unknown_parameter", NULL, "unknown field \"%.40s\"", k);
            return;
        }
    }
    json_t *jn = json_object_get(r->body, "name");
    if (!json_is_string(jn) || json_string_length(jn) < 1 || json_string_length(jn) > 200 ||
        !name_ok(json_string_value(jn), json_string_length(jn))) {
        areq_error(r, 400, "invalid_parameter", "name", "name: expected 1 to 200 printable characters");
        return;
    }
    eco_auth_role_t role = r->id.role;
    json_t *jr = json_object_get(r->body, "role");
    if (jr) {
        role = eco_auth_role_parse(json_is_string(jr) ? json_string_value(jr) : NULL);
        if (role == ECO_ROLE_NONE) {
            areq_error(r, 400, "invalid_parameter", "role", "role: expected viewer, developer or admin");
            return;
        }
        if (role > r->id.role) {
            areq_error(r, 403, "role_above_caller", "role", "a key cannot have a higher role than its creator (%s)",
                       eco_auth_role_name(r->id.role));
            return;
        }
    }
    long rpm, tpm, days;
    if (opt_int(r, "rpm_limit", 1000000000L, &rpm) || opt_int(r, "tpm_limit", 1000000000L, &tpm) ||
        opt_int(r, "expires_in_days", 3650, &days))
        return;
    PGconn *c = db_conn(w, r);
    if (!c)
        return;
    char secret[ECO_AUTH_APIKEY_LEN + 1], prefix[ECO_AUTH_APIKEY_PREFIX_LEN + 1], srpm[24], stpm[24], sdays[24],
        actor[56];
    uint8_t sha[32];
    eco_auth_apikey_generate(secret, prefix, sha);
    snprintf(srpm, sizeof(srpm), "%ld", rpm);
    snprintf(stpm, sizeof(stpm), "%ld", tpm);
    snprintf(sdays, sizeof(sdays), "%ld", days);
    areq_actor(r, actor, sizeof(actor));
    static const char sql[] =
        "WITH ins AS (INSERT INTO api_keys (owner_id, name, prefix, secret_sha256, role, rpm_limit, tpm_limit, "
        "  expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, "
        "  CASE WHEN $8::int IS NULL THEN NULL ELSE now() + make_interval(days => $8::int) END) "
        "  RETURNING " KEY_COLUMNS "), "
        "aud AS (INSERT INTO governance_records (actor, action, target_type, target_id, outcome, request_id, detail) "
        "  SELECT $9, 'api_key.create', 'api_key', id::text, 'success', $10, "
        "         jsonb_build_object('name', name, 'role', role, 'owner', owner_id) FROM ins) "
        "SELECT " KEY_COLUMNS " FROM ins";
    const char *vals[] = {
        r->id.user_id,     json_string_value(jn), prefix, NULL,         eco_auth_role_name(role), rpm ? srpm : NULL,
        tpm ? stpm : NULL, days ? sdays : NULL,   actor,  r->request_id};
    PGresult *res;
    if (db_query_bin(w, r, c, sql, 10, vals, 3, sha, sizeof(sha), &res) != 0)
        return;
    json_t *key = db_row(res, 0);
    PQclear(res);
    json_object_set_new(key, "secret", json_string(secret));
    explicit_bzero(secret, sizeof(secret));
    areq_json(r, 201, key);
}

void h_keys_list(eco_store_worker_t *w, areq_t *r)
{
    PGconn *c = db_conn(w, r);
    if (!c)
        return;
    const char *vals[] = {r->id.user_id};
    PGresult *res;
    if (db_query(w, r, c,
                 "SELECT " KEY_COLUMNS " FROM api_keys WHERE owner_id = $1 ORDER BY created_at DESC LIMIT 1000", 1,
                 vals, &res, NULL) != 0)
        return;
    json_t *arr = json_array();
    for (int i = 0; i < PQntuples(res); i++)
        json_array_append_new(arr, db_row(res, i));
    areq_json(r, 200, json_pack("{s:o, s:i}", "keys", arr, "total", PQntuples(res)));
    PQclear(res);
}

static const char *is_admin(const areq_t *r)
{
    return r->id.role == ECO_ROLE_ADMIN ? "true" : "false";
}

void h_keys_revoke(eco_store_worker_t *w, areq_t *r)
{
    PGconn *c = db_conn(w, r);
    if (!c)
        return;
    char actor[56];
    areq_actor(r, actor, sizeof(actor));
    static const char sql[] =
        "WITH tgt AS (SELECT id FROM api_keys WHERE id = $1 AND (owner_id = $2 OR $3::bool)), "
        "upd AS (UPDATE api_keys SET revoked_at = now() WHERE id IN (SELECT id FROM tgt) AND revoked_at IS NULL "
        "  RETURNING id), "
        "aud AS (INSERT INTO governance_records (actor, action, target_type, target_id, outcome, request_id) "
        "  SELECT $4, 'api_key.revoke', 'api_key', id::text, 'success', $5 FROM upd) "
        "SELECT k.id, k.revoked_at FROM api_keys k JOIN tgt ON tgt.id = k.id";
    const char *vals[] = {r->id_param, r->id.user_id, is_admin(r), actor, r->request_id};
    PGresult *res;
    if (db_query(w, r, c, sql, 5, vals, &res, NULL) != 0)
        return;
    /* The snapshot the final SELECT sees predates the UPDATE: report revoked_at as now when
     * this call revoked it. */
    if (PQntuples(res) == 0) {
        areq_error(r, 404, "not_found", "id", "no such API key");
    } else {
        db_forget_keys(w, c, "id = $1", r->id_param);
        areq_json(r, 200, json_pack("{s:s, s:b}", "id", r->id_param, "revoked", 1));
    }
    PQclear(res);
}

void h_keys_rotate(eco_store_worker_t *w, areq_t *r)
{
    PGconn *c = db_conn(w, r);
    if (!c)
        return;
    char secret[ECO_AUTH_APIKEY_LEN + 1], prefix[ECO_AUTH_APIKEY_PREFIX_LEN + 1], actor[56];
    uint8_t sha[32];
    eco_auth_apikey_generate(secret, prefix, sha);
    areq_actor(r, actor, sizeof(actor));
    static const char sql[] =
        "WITH tgt AS (SELECT id, revoked_at IS NOT NULL OR coalesce(expires_at <= now(), false) AS dead "
        "  FROM api_keys WHERE id = $1 AND (owner_id = $2 OR $3::bool)), "
        "upd AS (UPDATE api_keys SET secret_sha256 = $4, prefix = $5 "
        "  WHERE id IN (SELECT id FROM tgt WHERE NOT dead) RETURNING " KEY_COLUMNS "), "
        "aud AS (INSERT INTO governance_records (actor, action, target_type, target_id, outcome, request_id) "
        "  SELECT $6, 'api_key.rotate', 'api_key', id::text, 'success', $7 FROM upd) "
        "SELECT (SELECT count(*) FROM tgt), " KEY_COLUMNS " FROM (SELECT 1) one LEFT JOIN upd ON true";
    const char *vals[] = {r->id_param, r->id.user_id, is_admin(r), NULL, prefix, actor, r->request_id};
    PGresult *res;
    db_forget_keys(w, c, "id = $1", r->id_param); /* the old secret's entry (a harmless miss if refused below) */
    if (db_query_bin(w, r, c, sql, 7, vals, 3, sha, sizeof(sha), &res) != 0)
        return;
    if (PQgetvalue(res, 0, 0)[0] == '0') {
        areq_error(r, 404, "not_found", "id", "no such API key");
    } else if (PQgetisnull(res, 0, 1)) {
        areq_error(r, 409, "key_revoked", "id", "a revoked or expired key cannot be rotated");
    } else {
        json_t *key = db_row(res, 0);
        json_object_del(key, "count");
        json_object_set_new(key, "secret", json_string(secret));
        areq_json(r, 200, key);
    }
    explicit_bzero(secret, sizeof(secret));
    PQclear(res);
}

void h_keys_usage(eco_store_worker_t *w, areq_t *r)
{
    PGconn *c = db_conn(w, r);
    if (!c)
        return;
    const char *vals[] = {r->id_param, r->id.user_id, is_admin(r)};
    PGresult *res;
    if (db_query(w, r, c,
                 "SELECT id, rpm_limit, tpm_limit, last_used_at, revoked_at FROM api_keys "
                 "WHERE id = $1 AND (owner_id = $2 OR $3::bool)",
                 3, vals, &res, NULL) != 0)
        return;
    if (PQntuples(res) == 0) {
        PQclear(res);
        areq_error(r, 404, "not_found", "id", "no such API key");
        return;
    }
    json_t *row = db_row(res, 0);
    PQclear(res);
    redisContext *kv = kv_conn(w);
    char subject[80], err[160];
    snprintf(subject, sizeof(subject), "key:%s", r->id_param);
    long zero[2] = {0, 0};
    eco_store_rl_result_t u;
    if (!kv || eco_store_rl_take(kv, &app.usage_spec, subject, NULL, zero, zero, 1, &u, err, sizeof(err)) != 0) {
        if (kv)
            eco_store_worker_redis_broken(w);
        json_decref(row);
        areq_error(r, 503, "usage_unavailable", NULL, "usage counters are unavailable (Redis down)");
        r->retry_after_s = 1;
        return;
    }
    json_t *rpm = json_object_get(row, "rpm_limit"), *tpm = json_object_get(row, "tpm_limit");
    json_t *limits =
        json_pack("{s:I, s:I}", "requests", json_is_integer(rpm) ? json_integer_value(rpm) : app.default_rpm, "tokens",
                  json_is_integer(tpm) ? json_integer_value(tpm) : app.default_tpm);
    areq_json(r, 200,
              json_pack("{s:s, s:I, s:I, s:I, s:o, s:O, s:O}", "id", r->id_param, "window_seconds",
                        (json_int_t)(app.usage_spec.window_ms / 1000), "requests", (json_int_t)u.used[0], "tokens",
                        (json_int_t)u.used[1], "limits", limits, "last_used_at", json_object_get(row, "last_used_at"),
                        "revoked_at", json_object_get(row, "revoked_at")));
    json_decref(row);
}
