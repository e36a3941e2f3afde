/* The bootstrap admin and developer keys created from the command line. */
#include "bootstrap.h"

#include "eco_auth.h"
#include "eco_store.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

static PGconn *connect_or_log(const char *url)
{
    PGconn *c = NULL;
    char err[256];
    if (eco_store_pg_connect(url, 5000, 10000, &c, err, sizeof(err)) != 0) {
        eco_error("cannot connect to PostgreSQL", ECO_KS("error", err));
        return NULL;
    }
    return c;
}

int bootstrap_admin(const bootstrap_opts_t *o)
{
    if (!o->email[0])
        return 0;
    char phc[ECO_AUTH_PASSWORD_HASH_MAX];
    eco_auth_argon2_params_t p = {.m_cost_kib = o->argon2_m_kib, .t_cost = o->argon2_t, .parallelism = 1};
    if (eco_auth_password_hash(o->password, strlen(o->password), &p, phc, sizeof(phc)) != 0) {
        eco_error("cannot hash the bootstrap admin password");
        return ECO_EINVAL;
    }
    PGconn *c = connect_or_log(o->pg_url);
    if (!c)
        return ECO_EIO;
    /* One statement: the user and its audit row, only when no active admin exists. */
    static const char sql[] = "WITH ins AS (INSERT INTO users (email, password_hash, role) SELECT $1, $2, 'admin' "
                              "  WHERE NOT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND NOT disabled) "
                              "  ON CONFLICT DO NOTHING RETURNING id), "
                              "aud AS (INSERT INTO governance_records (actor, action, target_type, target_id, outcome) "
                              "  SELECT 'system:bootstrap', 'user.create', 'user', id::text, 'success' FROM ins) "
                              "SELECT count(*) FROM ins";
    const char *vals[] = {o->email, phc};
    PGresult *r = NULL;
    eco_store_pg_error_t e;
    int rc = eco_store_pg_exec(c, sql, 2, vals, &r, &e);
    if (rc != 0) {
        eco_error("bootstrap admin failed", ECO_KS("error", e.message), ECO_KS("sqlstate", e.sqlstate));
    } else {
        int created = strcmp(PQgetvalue(r, 0, 0), "1") == 0;
        eco_info(created ? "bootstrap admin created" : "an admin exists; bootstrap skipped", ECO_KS("email", o->email));
        PQclear(r);
    }
    PQfinish(c);
    return rc;
}

int bootstrap_create_key(const char *pg_url, const char *owner_email, const char *name, const char *out_path)
{
    char secret[ECO_AUTH_APIKEY_LEN + 1], prefix[ECO_AUTH_APIKEY_PREFIX_LEN + 1];
    uint8_t sha[32];
    eco_auth_apikey_generate(secret, prefix, sha);
    PGconn *c = connect_or_log(pg_url);
    if (!c)
        return ECO_EIO;
    static const char sql[] =
        "WITH owner AS (SELECT id, role FROM users WHERE lower(email) = lower($1) AND NOT disabled), "
        "ins AS (INSERT INTO api_keys (owner_id, name, prefix, secret_sha256, role) "
        "  SELECT id, $2, $3, $4, role FROM owner RETURNING id), "
        "aud AS (INSERT INTO governance_records (actor, action, target_type, target_id, outcome) "
        "  SELECT 'system:cli', 'api_key.create', 'api_key', id::text, 'success' FROM ins) "
        "SELECT id FROM ins";
    const char *vals[] = {owner_email, name, prefix, (const char *)sha};
    const int lens[] = {0, 0, 0, sizeof(sha)};
    const int fmts[] = {0, 0, 0, 1};
    PGresult *r = NULL;
    eco_store_pg_error_t e;
    int rc = eco_store_pg_query(c, sql, 4, vals, lens, fmts, &r, &e);
    PQfinish(c);
    if (rc != 0) {
        eco_error("cannot create the API key", ECO_KS("error", e.message));
        return rc;
    }
    int found = PQntuples(r) == 1;
    PQclear(r);
    if (!found) {
        eco_error("no active user with that email", ECO_KS("email", owner_email));
        return ECO_EINVAL;
    }
    FILE *f = out_path ? fopen(out_path, "w") : stdout;
    if (!f) {
        eco_error("cannot write the key file", ECO_KS("path", out_path));
        return ECO_EIO;
    }
    fprintf(f, "%s\n", secret);
    if (out_path)
        fclose(f);
    eco_info("API key created", ECO_KS("prefix", prefix), ECO_KS("owner", owner_email));
    return 0;
}
