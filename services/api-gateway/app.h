/* api-gateway internals: settings, the per-request job (areq_t) and the handler contract.
 *
 * Threading: an HTTP handler on the loop thread checks what it can without I/O (identity
 * headers, JWT signature, role, body shape), copies the request into an areq_t and queues a job
 * on the store pool. The job runs on a worker thread with that worker's own PostgreSQL and Redis
 * connections (blocking libpq, hiredis, argon2id), fills the response, and posts it back to the
 * loop, which sends it if the client is still there. Handlers never touch h2o objects. */
#ifndef API_APP_H
#define API_APP_H

#include "eco_auth.h"
#include "eco_http.h"
#include "eco_pool.h"
#include "eco_ratelimit.h"
#include "eco_store.h"

typedef struct {
    eco_service_t *svc;
    eco_store_pool_t *pool;
    eco_auth_jwt_keyring_t keys;
    const char *internal_secret; /* "" = identity headers are never accepted */
    const char *issuer, *audience;
    const char *kv_prefix; /* Redis key prefix shared with root-gateway ("eco:") */
    eco_auth_argon2_params_t argon2;
    long access_ttl_s, refresh_ttl_s;
    long password_min;
    long login_max_account, login_max_ip;
    eco_store_rl_spec_t login_spec;    /* failed-login windows */
    eco_store_rl_local_t *login_local; /* used while Redis is down */
    eco_store_rl_spec_t usage_spec;    /* the gateway's request/token windows (read for /usage) */
    long default_rpm, default_tpm;
    eco_metric_t *m_jobs_rejected, *m_logins;
} app_t;

extern app_t app;

typedef struct areq areq_t;
/* Runs on a worker thread; fills the response with areq_json / areq_error. */
typedef void (*app_handler_fn)(eco_store_worker_t *w, areq_t *r);

enum {
    APP_BODY = 1u << 0,          /* needs a JSON object body (400 otherwise) */
    APP_BODY_OPTIONAL = 1u << 1, /* a JSON object body if there is one */
    APP_ID_OR_SLUG = 1u << 2,    /* {id} may also be a slug (a DNS-1123 label that is not a uuid) */
};

typedef struct {
    const char *method, *pattern;
    app_handler_fn fn;
    unsigned flags;
    const eco_auth_rule_t *rule; /* filled at registration from the permission table */
} app_route_t;

struct areq {
    const app_route_t *route;
    eco_http_weak_t *call; /* loop thread only */
    json_t *body;          /* the JSON object body, or NULL */
    char id_param[64];     /* the {id} segment: a canonical uuid (or a slug with APP_ID_OR_SLUG) */
    int id_is_slug;        /* id_param holds a slug */
    char query[512];       /* the raw query string without '?' */
    char request_id[65];
    char client_ip[64];
    char credential[ECO_AUTH_JWT_MAX_LEN + 1]; /* an API key to look up on the worker, or "" */
    eco_auth_identity_t id;                    /* the caller (kind NONE on public routes) */
    int trusted;                               /* id came from root-gateway's headers */
    /* response */
    int status;
    json_t *resp;
    char code[48], param[32], msg[256];
    long retry_after_s;
    int www_authenticate;
};

void areq_json(areq_t *r, int status, json_t *body); /* takes the reference */
__attribute__((format(printf, 5, 6))) void areq_error(areq_t *r, int status, const char *code, const char *param,
                                                      const char *fmt, ...);
/* "user:<uuid>" or "api_key:<uuid>" for audit rows. */
void areq_actor(const areq_t *r, char *out, size_t n);
/* A query-string parameter, decoded into out: 1 when present, 0 when absent, -1 (with a 400 on r)
 * when it holds anything but letters, digits and "-_.:@" or does not fit. */
int areq_query(areq_t *r, const char *name, char *out, size_t n);
/* limit (1-1000, default 100) and offset (0-1000000) from the query string as decimal text;
 * -1 with a 400 on r when either is malformed. */
int areq_page(areq_t *r, char limit[16], char offset[16]);

/* ---- PostgreSQL inside a job: failures set a 503/500 on r ---- */

/* Drops the Redis-level cache entries of the API keys matching where_sql ("id = $1",
 * "owner_id = $1"), after a write that changes what their look-up would answer. */
void db_forget_keys(eco_store_worker_t *w, PGconn *c, const char *where_sql, const char *param);
PGconn *db_conn(eco_store_worker_t *w, areq_t *r);
/* Parameterised query (text params; NULL = SQL NULL). 0, or negative with r's error set unless
 * the caller asked to see SQL errors (e != NULL, then only connection failures set r). */
int db_query(eco_store_worker_t *w, areq_t *r, PGconn *c, const char *sql, int n, const char *const *vals,
             PGresult **res, eco_store_pg_error_t *e);
/* The same with one binary bytea parameter at index bin (the others text). */
int db_query_bin(eco_store_worker_t *w, areq_t *r, PGconn *c, const char *sql, int n, const char *const *vals, int bin,
                 const uint8_t *bytes, size_t blen, PGresult **res);
int db_tx(eco_store_worker_t *w, areq_t *r, PGconn *c, const char *what); /* BEGIN/COMMIT/ROLLBACK */
/* The row as a JSON object (types from the column OIDs; timestamps in RFC 3339). */
json_t *db_row(PGresult *res, int row);

/* ---- Redis inside a job ---- */
redisContext *kv_conn(eco_store_worker_t *w); /* NULL when Redis is unavailable */

/* ---- handlers (routes.c lists them) ---- */
void h_signup(eco_store_worker_t *w, areq_t *r);
void h_login(eco_store_worker_t *w, areq_t *r);
void h_refresh(eco_store_worker_t *w, areq_t *r);
void h_logout(eco_store_worker_t *w, areq_t *r);
void h_me(eco_store_worker_t *w, areq_t *r);
void h_keys_create(eco_store_worker_t *w, areq_t *r);
void h_keys_list(eco_store_worker_t *w, areq_t *r);
void h_keys_revoke(eco_store_worker_t *w, areq_t *r);
void h_keys_rotate(eco_store_worker_t *w, areq_t *r);
void h_keys_usage(eco_store_worker_t *w, areq_t *r);
void h_users_list(eco_store_worker_t *w, areq_t *r);
void h_users_patch(eco_store_worker_t *w, areq_t *r);
void h_audit_list(eco_store_worker_t *w, areq_t *r);
void h_platforms_list(eco_store_worker_t *w, areq_t *r);
void h_platforms_get(eco_store_worker_t *w, areq_t *r);
void h_platforms_create(eco_store_worker_t *w, areq_t *r);
void h_platforms_patch(eco_store_worker_t *w, areq_t *r);
void h_platforms_delete(eco_store_worker_t *w, areq_t *r);
void h_yaml_validate(eco_store_worker_t *w, areq_t *r);
void h_yaml_generate(eco_store_worker_t *w, areq_t *r);

/* Looks up an API key by secret (on the worker): fills id (effective role: the lower of the
 * key's and its owner's) and returns 0, or ECO_AUTH_EMISMATCH (unknown, revoked, expired,
 * owner disabled), or negative with r's error set (database down). */
int app_lookup_key(eco_store_worker_t *w, areq_t *r, const char *secret, eco_auth_identity_t *id);

/* Registers every route of routes.c (each must have a row in the permission table). */
void app_register_routes(void);

#endif
