/* PostgreSQL and Redis inside a job, rows as JSON, and the API-key look-up. */
#include "app.h"
#include "eco_apikey.h"

#include <string.h>

#define OID_BOOL        16
#define OID_INT8        20
#define OID_INT4        23
#define OID_INT2        21
#define OID_JSON        114
#define OID_TIMESTAMPTZ 1184
#define OID_JSONB       3802

PGconn *db_conn(eco_store_worker_t *w, areq_t *r)
{
    char err[160];
    PGconn *c = eco_store_worker_pg(w, err, sizeof(err));
    if (!c) {
        eco_warn("database unavailable", ECO_KS("error", err), ECO_KS("request_id", r->request_id));
        areq_error(r, 503, "database_unavailable", NULL, "the database is unavailable; retry shortly");
        r->retry_after_s = 1;
    }
    return c;
}

static int failed(eco_store_worker_t *w, areq_t *r, int rc, const eco_store_pg_error_t *e, int caller_handles)
{
    if (rc == ECO_STORE_ECONN) {
        eco_store_worker_pg_broken(w);
        eco_warn("database connection lost", ECO_KS("error", e->message), ECO_KS("request_id", r->request_id));
        areq_error(r, 503, "database_unavailable", NULL, "the database is unavailable; retry shortly");
        r->retry_after_s = 1;
    } else if (!caller_handles) {
        eco_error("query failed", ECO_KS("error", e->message), ECO_KS("sqlstate", e->sqlstate),
                  ECO_KS("request_id", r->request_id));
        areq_error(r, 500, "internal_error", NULL, "internal error (request %s)", r->request_id);
    }
    return rc;
}

int db_query(eco_store_worker_t *w, areq_t *r, PGconn *c, const char *sql, int n, const char *const *vals,
             PGresult **res, eco_store_pg_error_t *e)
{
    eco_store_pg_error_t local;
    eco_store_pg_error_t *err = e ? e : &local;
    int rc = eco_store_pg_exec(c, sql, n, vals, res, err);
    return rc ? failed(w, r, rc, err, e != NULL) : 0;
}

int db_query_bin(eco_store_worker_t *w, areq_t *r, PGconn *c, const char *sql, int n, const char *const *vals, int bin,
                 const uint8_t *bytes, size_t blen, PGresult **res)
{
    const char *v[16];
    int lens[16] = {0}, fmts[16] = {0};
    ECO_BUG_ON(n > 16 || bin >= n);
    for (int i = 0; i < n; i++)
        v[i] = vals[i];
    v[bin] = (const char *)bytes;
    lens[bin] = (int)blen;
    fmts[bin] = 1;
    eco_store_pg_error_t e;
    int rc = eco_store_pg_query(c, sql, n, v, lens, fmts, res, &e);
    return rc ? failed(w, r, rc, &e, 0) : 0;
}

int db_tx(eco_store_worker_t *w, areq_t *r, PGconn *c, const char *what)
{
    eco_store_pg_error_t e;
    int rc = eco_store_pg_exec(c, what, 0, NULL, NULL, &e);
    return rc ? failed(w, r, rc, &e, 0) : 0;
}

/* "2024-05-01 10:11:12.345+00" -> "2024-05-01T10:11:12.345+00:00" */
static json_t *rfc3339(const char *s)
{
    char out[48];
    size_t n = strlen(s);
    if (n < 19 || n + 4 >= sizeof(out))
        return json_string(s);
    memcpy(out, s, n + 1);
    out[10] = 'T';
    const char *tz = strpbrk(out + 19, "+-");
    if (tz && strlen(tz) == 3)
        strcat(out, ":00");
    return json_string(out);
}

json_t *db_row(PGresult *res, int row)
{
    json_t *o = json_object();
    for (int i = 0; i < PQnfields(res); i++) {
        const char *name = PQfname(res, i);
        json_t *v;
        if (PQgetisnull(res, row, i)) {
            v = json_null();
        } else {
            const char *s = PQgetvalue(res, row, i);
            switch (PQftype(res, i)) {
            case OID_BOOL:
                v = json_boolean(s[0] == 't');
                break;
            case OID_INT2:
            case OID_INT4:
            case OID_INT8:
                v = json_integer(strtoll(s, NULL, 10));
                break;
            case OID_TIMESTAMPTZ:
                v = rfc3339(s);
                break;
            case OID_JSON:
            case OID_JSONB:
                v = json_loads(s, 0, NULL);
                break;
            default:
                v = json_string(s);
            }
            if (!v)
                v = json_null();
        }
        json_object_set_new(o, name, v);
    }
    return o;
}

redisContext *kv_conn(eco_store_worker_t *w)
{
    char err[160];
    redisContext *c = eco_store_worker_redis(w, err, sizeof(err));
    if (!c)
        eco_debug("redis unavailable", ECO_KS("error", err));
    return c;
}

int app_lookup_key(eco_store_worker_t *w, areq_t *r, const char *secret, eco_auth_identity_t *id)
{
    PGconn *c = db_conn(w, r);
    if (!c)
        return ECO_STORE_ECONN;
    uint8_t sha[32];
    eco_auth_apikey_hash(secret, strlen(secret), sha);
    /* effective role: the lower of the key's and its owner's (an owner demoted after creating
     * the key does not keep the old role through it) */
    static const char sql[] =
        "SELECT k.id, k.owner_id, "
        "  CASE WHEN k.role = 'admin' AND u.role = 'admin' THEN 'admin' "
        "       WHEN k.role IN ('admin', 'developer') AND u.role IN ('admin', 'developer') THEN 'developer' "
        "       ELSE 'viewer' END "
        "FROM api_keys k JOIN users u ON u.id = k.owner_id "
        "WHERE k.secret_sha256 = $1 AND k.revoked_at IS NULL AND NOT u.disabled "
        "  AND (k.expires_at IS NULL OR k.expires_at > now())";
    PGresult *res;
    const char *vals[1] = {NULL};
    if (db_query_bin(w, r, c, sql, 1, vals, 0, sha, sizeof(sha), &res) != 0)
        return ECO_STORE_ECONN;
    int found = PQntuples(res) == 1;
    if (found) {
        memset(id, 0, sizeof(*id));
        id->kind = ECO_AUTH_KIND_API_KEY;
        snprintf(id->key_id, sizeof(id->key_id), "%s", PQgetvalue(res, 0, 0));
        snprintf(id->user_id, sizeof(id->user_id), "%s", PQgetvalue(res, 0, 1));
        id->role = eco_auth_role_parse(PQgetvalue(res, 0, 2));
    }
    PQclear(res);
    return found ? 0 : ECO_AUTH_EMISMATCH;
}

void db_forget_keys(eco_store_worker_t *w, PGconn *c, const char *where_sql, const char *param)
{
    /* Best effort: the Redis entries expire within the key-cache TTL anyway. */
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT encode(secret_sha256, 'hex') FROM api_keys WHERE %s", where_sql);
    const char *vals[] = {param};
    PGresult *res = PQexecParams(c, sql, 1, NULL, vals, NULL, NULL, 0);
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
        int n = PQntuples(res);
        const char **hex = eco_calloc(n ? (size_t)n : 1, sizeof(char *));
        for (int i = 0; i < n; i++)
            hex[i] = PQgetvalue(res, i, 0);
        eco_store_apikey_forget(w, app.kv_prefix, hex, (size_t)n);
        free(hex);
    }
    PQclear(res);
}
