/* root-gateway internals. One request goes through these stages, on the loop thread except for
 * the two worker jobs (PostgreSQL key look-up on a cache miss, the Redis rate-limit script):
 *
 *   route (the permission table)  ->  authenticate (API key: cache, else look-up job; JWT: local)
 *   ->  role check  ->  limits (Redis job; fail-open: local twin)  ->  proxy (streamed, with
 *   backpressure)  ->  reconcile the token reservation (Redis job, fire and forget)
 *
 * A gw_req_t carries a request through the stages. It is tied to the h2o request by an anchor
 * in the request pool: when the client goes away, the anchor's dispose cancels the upstream and
 * settles the reservation; while a job is out, the job owns the gw_req_t and finishes it. */
#ifndef GW_H
#define GW_H

#include "eco_apikey.h"
#include "eco_auth.h"
#include "eco_http.h"
#include "eco_keycache.h"
#include "eco_pool.h"
#include "eco_ratelimit.h"
#include "eco_store.h"

typedef struct {
    eco_service_t *svc;
    eco_store_pool_t *pool;
    eco_http_upstream_t *up[2]; /* indexed by eco_auth_upstream_t */
    eco_auth_jwt_keyring_t keys;
    const char *issuer, *audience, *internal_secret, *kv_prefix;
    int fail_open;
    long cache_ttl_ms, cache_stale_ms, cache_max;
    eco_auth_keycache_t *cache; /* API keys (libs/auth, shared with ai-service's gRPC API) */
    long default_rpm, default_tpm, public_rpm, default_max_tokens;
    long max_header_bytes;
    eco_store_limiter_t *limiter; /* Redis, or the local twin in fail-open mode */
    eco_metric_t *m_auth, *m_cache, *m_cache_entries, *m_limit, *m_redis_errors, *m_upstream, *m_tokens, *m_backend;
} gw_t;

extern gw_t gw;

typedef enum { ST_START, ST_LOOKUP, ST_LIMIT, ST_PROXY, ST_DONE } gw_stage_t;

typedef struct gw_req gw_req_t;
struct gw_req {
    eco_http_call_t *call; /* NULL once the client is gone */
    void *anchor;
    gw_stage_t stage;
    int job_out; /* a worker job holds this request */
    const eco_auth_rule_t *rule;
    eco_auth_identity_t id;
    long rpm, tpm;
    char subject[80];
    char revoked_key[128];
    char client_ip[64];
    char request_id[65];
    uint8_t key_sha[32];
    /* look-up job result */
    int lookup_rc;    /* 0 found, ECO_AUTH_EMISMATCH unknown, other: database failure */
    int lookup_stale; /* found: served from the cache while PostgreSQL is down */
    eco_auth_key_t key;
    /* limits */
    long reserve, prompt_estimate;
    int rl_rc; /* 0 = decided (by Redis, or the local twin in fail-open mode) */
    eco_store_limit_t lim;
    /* proxy */
    eco_http_client_req_t *up;
    eco_sse_t *out;
    eco_buf_t held; /* upstream bytes waiting for room downstream */
    int upstream_eos, paused, is_sse, tee_json, status;
    eco_buf_t tee;    /* inference JSON body (bounded) for usage */
    eco_buf_t line;   /* current SSE line (bounded) */
    long usage_total; /* -1 = not seen */
    long chunks;      /* SSE data events relayed */
};

/* edge.c */
void gw_routes_register(void);
void gw_fail(gw_req_t *g, int status, const char *code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void gw_after_auth(gw_req_t *g);  /* role check, then limits */
void gw_after_limit(gw_req_t *g); /* headers, 429/503, then proxy */
void gw_finish(gw_req_t *g);      /* settle the reservation and free */

/* authn.c */
/* Authenticates from the Authorization header: 1 = identity ready, 0 = a job was queued (the
 * stage continues in its completion), -1 = answered (401/503). */
int gw_authenticate(gw_req_t *g);
void gw_cache_init(void);
long gw_cache_count(void);

/* limits.c */
void gw_limit_start(gw_req_t *g);
void gw_limit_headers(gw_req_t *g);
/* Settles a reservation: actual tokens used (reserve - actual is refunded). */
void gw_reconcile(gw_req_t *g, long actual);

/* cors.c */
/* Parses ECO_CORS_ORIGINS ("" = CORS off); ECO_EINVAL with err filled on a bad entry. */
int gw_cors_init(const char *origins, long max_age_ms, char *err, size_t errlen);
void gw_cors_register(void);               /* OPTIONS (preflight) routes, when CORS is on */
void gw_cors_apply(eco_http_call_t *call); /* Vary and allow-origin headers of an actual request */

/* proxy.c */
void gw_proxy_start(gw_req_t *g);
void gw_proxy_abort(gw_req_t *g); /* the client went away */

#endif
