/* /auth routes: sign-up, login (access JWT + rotating refresh token), refresh with reuse detection,
 * logout, me. Runs on worker threads (see app.h). */
#include "app.h"

#include <openssl/sha.h>
#include <string.h>

#define PASSWORD_MAX 1024

/* ---------- input ---------- */

/* Borrowed string member; NULL (and a 400 on r) when missing, not a string, or out of bounds. */
static const char *str_member(areq_t *r, const char *name, size_t min, size_t max, size_t *len)
{
    json_t *v = json_object_get(r->body, name);
    if (!json_is_string(v)) {
        areq_error(r, 400, "invalid_parameter", name, "%s: expected a string", name);
        return NULL;
    }
    size_t n = json_string_length(v);
    if (n < min || n > max) {
        areq_error(r, 400, "invalid_parameter", name, "%s: expected %zu to %zu bytes", name, min, max);
        return NULL;
    }
    if (len)
        *len = n;
    return json_string_value(v);
}

static int email_ok(const char *e, size_t n)
{
    if (strlen(e) != n)
        return 0; /* embedded NUL */
    const char *at = strchr(e, '@');
    if (!at || at == e || strchr(at + 1, '@') || !at[1] || !strchr(at + 1, '.'))
        return 0;
    for (const char *p = e; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return 0;
    return 1;
}

static const char *email_member(areq_t *r)
{
    size_t n;
    const char *e = str_member(r, "email", 3, 320, &n);
    if (e && !email_ok(e, n)) {
        areq_error(r, 400, "invalid_parameter", "email", "email: expected an address like name@example.com");
        return NULL;
    }
    return e;
}

/* ---------- tokens ---------- */

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* Signs an access token for the user; 0 or a 500 on r. */
static int make_access(areq_t *r, const char *uid, eco_auth_role_t role, char *tok, size_t n)
{
    eco_auth_jwt_claims_t c = {.role = role};
    snprintf(c.sub, sizeof(c.sub), "%s", uid);
    snprintf(c.aud, sizeof(c.aud), "%s", app.audience);
    char jti[33];
    eco_random_hex_id(jti);
    snprintf(c.jti, sizeof(c.jti), "%s", jti);
    c.iat = (int64_t)eco_wall_time();
    c.exp = c.iat + app.access_ttl_s;
    if (app.keys.n == 0) {
        areq_error(r, 503, "sessions_unavailable", NULL, "sessions are not configured on this server (ECO_JWT_KEYS)");
        return -1;
    }
    if (eco_auth_jwt_sign(&app.keys, app.issuer, &c, tok, n) != 0) {
        areq_error(r, 500, "internal_error", NULL, "cannot sign the access token");
        return -1;
    }
    return 0;
}

static json_t *session_json(const char *access, const char *refresh, json_t *user)
{
    return json_pack("{s:s, s:s, s:I, s:s, s:I, s:o}", "access_token", access, "token_type", "Bearer", "expires_in",
                     (json_int_t)app.access_ttl_s, "refresh_token", refresh, "refresh_expires_in",
                     (json_int_t)app.refresh_ttl_s, "user", user);
}

static void ttl_text(char *out, size_t n)
{
    snprintf(out, n, "%ld", app.refresh_ttl_s);
}

/* ---------- failed-login limiter (Redis; the in-process twin while Redis is down) ---------- */

static void login_subjects(const char *email, const char *ip, char acct[80], char ipsub[96])
{
    char low[321];
    size_t n = 0;
    for (; email[n] && n < 320; n++)
        low[n] = (char)(email[n] >= 'A' && email[n] <= 'Z' ? email[n] + 32 : email[n]);
    uint8_t d[32];
    SHA256((const uint8_t *)low, n, d);
    char h[65];
    hex(d, 16, h);
    snprintf(acct, 80, "acct:%s", h);
    snprintf(ipsub, 96, "ip:%s", ip[0] ? ip : "unknown");
}

/* record = 0: is another attempt allowed? (429 on r when not). record = 1: count a failure. */
static int login_limit(eco_store_worker_t *w, areq_t *r, const char *acct, const char *ipsub, int record)
{
    const char *subj[2] = {acct, ipsub};
    long max[2] = {app.login_max_account, app.login_max_ip};
    long retry = 0;
    redisContext *c = kv_conn(w);
    for (int i = 0; i < 2; i++) {
        long lim[2] = {record ? 0 : max[i], 0}, cost[2] = {1, 0};
        eco_store_rl_result_t res;
        char err[160];
        if (c &&
            eco_store_rl_take(c, &app.login_spec, subj[i], NULL, lim, cost, !record, &res, err, sizeof(err)) != 0) {
            eco_store_worker_redis_broken(w);
            c = NULL;
        }
        if (!c)
            eco_store_rl_local_take(app.login_local, subj[i], lim, cost, !record, eco_now_ms(), &res);
        if (!res.allowed && res.retry_ms > retry)
            retry = res.retry_ms;
    }
    if (retry > 0) {
        r->retry_after_s = (retry + 999) / 1000;
        areq_error(r, 429, "too_many_login_attempts", NULL, "too many failed logins; retry in %ld s", r->retry_after_s);
        return -1;
    }
    return 0;
}

static void login_forget_account(eco_store_worker_t *w, const char *acct)
{
    redisContext *c = kv_conn(w);
    if (!c)
        return;
    redisReply *rep =
        redisCommand(c, "DEL %s{%s}:0 %s{%s}:1", app.login_spec.prefix, acct, app.login_spec.prefix, acct);
    if (!rep)
        eco_store_worker_redis_broken(w);
    else
        freeReplyObject(rep);
}

/* ---------- handlers ---------- */

void h_signup(eco_store_worker_t *w, areq_t *r)
{
    size_t plen;
    const char *email = email_member(r);
    const char *pw = email ? str_member(r, "password", (size_t)app.password_min, PASSWORD_MAX, &plen) : NULL;
    if (!pw)
        return;
    char phc[ECO_AUTH_PASSWORD_HASH_MAX];
    if (eco_auth_password_hash(pw, plen, &app.argon2, phc, sizeof(phc)) != 0) {
        areq_error(r, 500, "internal_error", NULL, "cannot hash the password");
        return;
    }
    PGconn *c = db_conn(w, r);
    if (!c)
        return;
    static const char sql[] =
        "WITH ins AS (INSERT INTO users (email, password_hash, role) VALUES ($1, $2, 'viewer') "
        "  ON CONFLICT DO NOTHING RETURNING id, email, role, created_at), "
        "aud AS (INSERT INTO governance_records (actor, action, target_type, target_id, outcome, request_id, detail) "
        "  SELECT 'user:' || id::text, 'user.signup', 'user', id::text, 'success', $3, jsonb_build_object('ip', "
        "$4::text) "
        "  FROM ins) "
        "SELECT id, email, role, created_at FROM ins";
    const char *vals[] = {email, phc, r->request_id, r->client_ip};
    PGresult *res;
    if (db_query(w, r, c, sql, 4, vals, &res, NULL) != 0)
        return;
    if (PQntuples(res) == 0)
        areq_error(r, 409, "email_taken", "email", "an account with this email already exists");
    else
        areq_json(r, 201, json_pack("{s:o}", "user", db_row(res, 0)));
    PQclear(res);
}

static void audit_login_failure(eco_store_worker_t *w, areq_t *r, PGconn *c, const char *user_id)
{
    static const char sql[] =
        "INSERT INTO governance_records (actor, action, target_type, target_id, outcome, request_id, detail) "
        "VALUES ('anonymous', 'session.login', 'user', $1, 'failure', $2, "
        "        jsonb_build_object('ip', $3::text, 'reason', 'invalid_credentials'))";
    const char *vals[] = {user_id, r->request_id, r->client_ip};
    db_query(w, r, c, sql, 3, vals, NULL, NULL);
}

void h_login(eco_store_worker_t *w, areq_t *r)
{
    size_t plen;
    const char *email = str_member(r, "email", 1, 320, NULL);
    const char *pw = email ? str_member(r, "password", 1, PASSWORD_MAX, &plen) : NULL;
    if (!pw)
        return;
    char acct[80], ipsub[96];
    login_subjects(email, r->client_ip, acct, ipsub);
    if (login_limit(w, r, acct, ipsub, 0) != 0)
        return;
    PGconn *c = db_conn(w, r);
    if (!c)
        return;
    const char *vals[] = {email};
    PGresult *res;
    if (db_query(w, r, c, "SELECT id, email, role, disabled, password_hash FROM users WHERE lower(email) = lower($1)",
                 1, vals, &res, NULL) != 0)
        return;
    /* The same work and the same answer whether the account is unknown, the password wrong or
     * the account disabled: the response does not tell which emails exist. */
    int ok = 0;
    char uid[37] = "";
    if (PQntuples(res) == 1) {
        snprintf(uid, sizeof(uid), "%s", PQgetvalue(res, 0, 0));
        ok = eco_auth_password_verify(PQgetvalue(res, 0, 4), pw, plen) == 0 && PQgetvalue(res, 0, 3)[0] == 'f';
    } else {
        eco_auth_password_verify_dummy(&app.argon2);
    }
    if (!ok) {
        PQclear(res);
        eco_metrics_inc(app.m_logins, "failure");
        login_limit(w, r, acct, ipsub, 1);
        audit_login_failure(w, r, c, uid[0] ? uid : NULL);
        areq_error(r, 401, "invalid_credentials", NULL, "email or password is incorrect");
        return;
    }
    eco_auth_role_t role = eco_auth_role_parse(PQgetvalue(res, 0, 2));
    json_t *user =
        json_pack("{s:s, s:s, s:s}", "id", uid, "email", PQgetvalue(res, 0, 1), "role", eco_auth_role_name(role));
    int rehash = eco_auth_password_needs_rehash(PQgetvalue(res, 0, 4), &app.argon2) == 1;
    PQclear(res);
    login_forget_account(w, acct);
    if (rehash) { /* cost parameters changed since this hash was made */
        char phc[ECO_AUTH_PASSWORD_HASH_MAX];
        if (eco_auth_password_hash(pw, plen, &app.argon2, phc, sizeof(phc)) == 0) {
            static const char upd[] =
                "WITH u AS (UPDATE users SET password_hash = $1 WHERE id = $2 RETURNING id) "
                "INSERT INTO governance_records (actor, action, target_type, target_id, outcome, request_id) "
                "SELECT 'system:api-gateway', 'user.password_rehash', 'user', id::text, 'success', $3 FROM u";
            const char *v2[] = {phc, uid, r->request_id};
            db_query(w, r, c, upd, 3, v2, NULL, NULL);
        }
    }
    char refresh[ECO_AUTH_REFRESH_LEN + 1], access[ECO_AUTH_JWT_MAX_LEN], ttl[24], actor[48];
    uint8_t sha[32];
    eco_auth_refresh_generate(refresh, sha);
    ttl_text(ttl, sizeof(ttl));
    snprintf(actor, sizeof(actor), "user:%s", uid);
    static const char sql[] =
        "WITH tok AS (INSERT INTO refresh_tokens (user_id, token_sha256, family_id, expires_at) "
        "  VALUES ($1, $2, gen_random_uuid(), now() + make_interval(secs => $3)) RETURNING id), "
        "aud AS (INSERT INTO governance_records (actor, action, target_type, target_id, outcome, request_id, detail) "
        "  SELECT $4, 'session.login', 'user', $1, 'success', $5, jsonb_build_object('ip', $6::text) FROM tok) "
        "SELECT id FROM tok";
    const char *v3[] = {uid, NULL, ttl, actor, r->request_id, r->client_ip};
    if (db_query_bin(w, r, c, sql, 6, v3, 1, sha, sizeof(sha), &res) != 0) {
        json_decref(user);
        return;
    }
    PQclear(res);
    if (make_access(r, uid, role, access, sizeof(access)) != 0) {
        json_decref(user);
        return;
    }
    eco_metrics_inc(app.m_logins, "success");
    areq_json(r, 200, session_json(access, refresh, user));
    explicit_bzero(refresh, sizeof(refresh));
}

static void rollback(eco_store_worker_t *w, PGconn *c)
{
    if (eco_store_pg_exec(c, "ROLLBACK", 0, NULL, NULL, NULL) == ECO_STORE_ECONN)
        eco_store_worker_pg_broken(w);
}

/* Revokes a whole rotation chain (token reuse, or a disabled account); audited. */
static int revoke_family(eco_store_worker_t *w, areq_t *r, PGconn *c, const char *family, const char *uid,
                         const char *action)
{
    static const char sql[] =
        "WITH rev AS (UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL "
        "  RETURNING id) "
        "INSERT INTO governance_records (actor, action, target_type, target_id, outcome, request_id, detail) "
        "VALUES ('anonymous', $2, 'user', $3, 'denied', $4, "
        "        jsonb_build_object('revoked_tokens', (SELECT count(*) FROM rev), 'ip', $5::text))";
    const char *vals[] = {family, action, uid, r->request_id, r->client_ip};
    return db_query(w, r, c, sql, 5, vals, NULL, NULL);
}

void h_refresh(eco_store_worker_t *w, areq_t *r)
{
    size_t n;
    const char *tok = str_member(r, "refresh_token", 1, 200, &n);
    if (!tok)
        return;
    if (!eco_auth_refresh_looks_valid(tok, n)) {
        areq_error(r, 401, "invalid_refresh_token", NULL, "the refresh token is not valid");
        return;
    }
    uint8_t sha[32];
    eco_auth_apikey_hash(tok, n, sha);
    PGconn *c = db_conn(w, r);
    if (!c || db_tx(w, r, c, "BEGIN") != 0)
        return;
    static const char find[] =
        "SELECT t.id, t.user_id, t.family_id, t.revoked_at IS NOT NULL, t.expires_at <= now(), "
        "  EXISTS (SELECT 1 FROM refresh_tokens ch WHERE ch.parent_id = t.id), u.role, u.disabled, u.email "
        "FROM refresh_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_sha256 = $1 FOR UPDATE OF t";
    const char *vals[] = {NULL};
    PGresult *res;
    if (db_query_bin(w, r, c, find, 1, vals, 0, sha, sizeof(sha), &res) != 0) {
        rollback(w, c);
        return;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        rollback(w, c);
        areq_error(r, 401, "invalid_refresh_token", NULL, "the refresh token is not valid");
        return;
    }
    char id[37], uid[37], family[37], email[321];
    snprintf(id, sizeof(id), "%s", PQgetvalue(res, 0, 0));
    snprintf(uid, sizeof(uid), "%s", PQgetvalue(res, 0, 1));
    snprintf(family, sizeof(family), "%s", PQgetvalue(res, 0, 2));
    snprintf(email, sizeof(email), "%s", PQgetvalue(res, 0, 8));
    int revoked = PQgetvalue(res, 0, 3)[0] == 't', expired = PQgetvalue(res, 0, 4)[0] == 't';
    int rotated = PQgetvalue(res, 0, 5)[0] == 't', disabled = PQgetvalue(res, 0, 7)[0] == 't';
    eco_auth_role_t role = eco_auth_role_parse(PQgetvalue(res, 0, 6));
    PQclear(res);

    if (rotated || revoked || disabled) {
        /* A rotated token presented again means two parties hold the chain: end it for both. */
        const char *action = rotated ? "session.reuse_detected" : "session.refresh";
        if (revoke_family(w, r, c, family, uid, action) != 0 || db_tx(w, r, c, "COMMIT") != 0) {
            rollback(w, c);
            return;
        }
        if (rotated)
            eco_warn("refresh token reuse: session chain revoked", ECO_KS("user_id", uid),
                     ECO_KS("request_id", r->request_id));
        areq_error(r, 401, rotated ? "refresh_token_reused" : "refresh_token_revoked", NULL,
                   rotated ? "this refresh token was already used; the session has been revoked"
                           : "this refresh token has been revoked");
        return;
    }
    if (expired) {
        rollback(w, c);
        areq_error(r, 401, "refresh_token_expired", NULL, "the refresh token has expired; log in again");
        return;
    }
    char refresh[ECO_AUTH_REFRESH_LEN + 1], access[ECO_AUTH_JWT_MAX_LEN], ttl[24], actor[48];
    uint8_t nsha[32];
    eco_auth_refresh_generate(refresh, nsha);
    ttl_text(ttl, sizeof(ttl));
    snprintf(actor, sizeof(actor), "user:%s", uid);
    static const char rotate[] =
        "WITH par AS (UPDATE refresh_tokens SET revoked_at = now() WHERE id = $1 RETURNING family_id, user_id), "
        "tok AS (INSERT INTO refresh_tokens (user_id, token_sha256, parent_id, family_id, expires_at) "
        "  SELECT user_id, $2, $1, family_id, now() + make_interval(secs => $3) FROM par RETURNING id), "
        "aud AS (INSERT INTO governance_records (actor, action, target_type, target_id, outcome, request_id, detail) "
        "  SELECT $4, 'session.refresh', 'user', user_id::text, 'success', $5, jsonb_build_object('ip', $6::text) "
        "  FROM par) "
        "SELECT id FROM tok";
    const char *v2[] = {id, NULL, ttl, actor, r->request_id, r->client_ip};
    if (db_query_bin(w, r, c, rotate, 6, v2, 1, nsha, sizeof(nsha), &res) != 0) {
        rollback(w, c);
        return;
    }
    PQclear(res);
    if (db_tx(w, r, c, "COMMIT") != 0 || make_access(r, uid, role, access, sizeof(access)) != 0)
        return;
    json_t *user = json_pack("{s:s, s:s, s:s}", "id", uid, "email", email, "role", eco_auth_role_name(role));
    areq_json(r, 200, session_json(access, refresh, user));
    explicit_bzero(refresh, sizeof(refresh));
}

void h_logout(eco_store_worker_t *w, areq_t *r)
{
    const char *tok = NULL;
    size_t n = 0;
    if (r->body && json_object_get(r->body, "refresh_token")) {
        tok = str_member(r, "refresh_token", 1, 200, &n);
        if (!tok)
            return;
        if (!eco_auth_refresh_looks_valid(tok, n)) {
            areq_error(r, 400, "invalid_parameter", "refresh_token", "refresh_token: not a refresh token");
            return;
        }
    }
    PGconn *c = db_conn(w, r);
    if (!c)
        return;
    char actor[56];
    areq_actor(r, actor, sizeof(actor));
    /* with a refresh token: that session's chain; without: every session of the user */
    static const char one[] =
        "WITH fam AS (SELECT family_id FROM refresh_tokens WHERE token_sha256 = $1 AND user_id = $2), "
        "rev AS (UPDATE refresh_tokens SET revoked_at = now() "
        "  WHERE family_id IN (SELECT family_id FROM fam) AND revoked_at IS NULL RETURNING id), "
        "aud AS (INSERT INTO governance_records (actor, action, target_type, target_id, outcome, request_id, detail) "
        "  SELECT $3, 'session.logout', 'user', $2::text, 'success', $4, "
        "         jsonb_build_object('revoked_tokens', (SELECT count(*) FROM rev))) "
        "SELECT count(*) FROM rev";
    static const char all[] =
        "WITH rev AS (UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL "
        "  RETURNING id), "
        "aud AS (INSERT INTO governance_records (actor, action, target_type, target_id, outcome, request_id, detail) "
        "  SELECT $2, 'session.logout', 'user', $1::text, 'success', $3, "
        "         jsonb_build_object('revoked_tokens', (SELECT count(*) FROM rev), 'all', true)) "
        "SELECT count(*) FROM rev";
    PGresult *res;
    int rc;
    if (tok) {
        uint8_t sha[32];
        eco_auth_apikey_hash(tok, n, sha);
        const char *vals[] = {NULL, r->id.user_id, actor, r->request_id};
        rc = db_query_bin(w, r, c, one, 4, vals, 0, sha, sizeof(sha), &res);
    } else {
        const char *vals[] = {r->id.user_id, actor, r->request_id};
        rc = db_query(w, r, c, all, 3, vals, &res, NULL);
    }
    if (rc != 0)
        return;
    long revoked = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    /* The access token itself: remembered as revoked until it would expire anyway. */
    int access_revoked = 0;
    if (r->id.kind == ECO_AUTH_KIND_JWT) {
        long long ms = ((long long)r->id.exp - (long long)eco_wall_time()) * 1000 + 60000;
        redisContext *kv = kv_conn(w);
        redisReply *rep = kv && ms > 0 ? redisCommand(kv, "SET %srevoked:{user:%s}:%s 1 PX %lld", app.kv_prefix,
                                                      r->id.user_id, r->id.jti, ms)
                                       : NULL;
        if (kv && ms > 0 && !rep)
            eco_store_worker_redis_broken(w);
        access_revoked = rep && rep->type == REDIS_REPLY_STATUS;
        if (rep)
            freeReplyObject(rep);
    }
    areq_json(r, 200,
              json_pack("{s:b, s:I, s:b}", "ok", 1, "revoked_sessions", (json_int_t)revoked, "access_token_revoked",
                        access_revoked));
}

void h_me(eco_store_worker_t *w, areq_t *r)
{
    PGconn *c = db_conn(w, r);
    if (!c)
        return;
    const char *vals[] = {r->id.user_id};
    PGresult *res;
    if (db_query(w, r, c, "SELECT id, email, role, disabled, created_at FROM users WHERE id = $1", 1, vals, &res,
                 NULL) != 0)
        return;
    if (PQntuples(res) != 1 || PQgetvalue(res, 0, 3)[0] == 't') {
        PQclear(res);
        areq_error(r, 401, "invalid_credentials", NULL, "the account no longer exists or is disabled");
        r->www_authenticate = 1;
        return;
    }
    json_t *auth = json_pack("{s:s, s:s}", "kind", r->id.kind == ECO_AUTH_KIND_API_KEY ? "api_key" : "jwt", "role",
                             eco_auth_role_name(r->id.role));
    if (r->id.kind == ECO_AUTH_KIND_API_KEY)
        json_object_set_new(auth, "key_id", json_string(r->id.key_id));
    else
        json_object_set_new(auth, "expires_at", json_integer(r->id.exp));
    areq_json(r, 200, json_pack("{s:o, s:o}", "user", db_row(res, 0), "auth", auth));
    PQclear(res);
}
