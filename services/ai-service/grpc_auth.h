/* ai-service: credentials and limits of eco.ai.v1.Inference callers (ECO_GRPC_AUTH=required).
 *
 * The same rules as root-gateway's REST API, through the same libraries: "authorization: Bearer
 * <API key or access token>" metadata (libs/auth bearer checks), API keys looked up in PostgreSQL
 * behind the shared key cache (libs/auth keycache, libs/store apikey), the role checked against
 * the permission table row of the equivalent REST route (eco_auth_grpc_rule), then the per-key
 * (or per-user) request and token limits in Redis (libs/store limiter), on the same Redis keys as
 * root-gateway's: a caller's limits hold across REST and gRPC. grpc.health.v1 needs nothing.
 *
 * Threads: grpc_auth_start runs on the gRPC worker thread and does no I/O (header checks, a JWT's
 * HMAC, a cache read). The PostgreSQL look-up (cache miss) and the Redis script run in one job on
 * the worker pool (libs/store eco_pool.h). The decision always arrives on the loop thread
 * (eco_service_post), never from inside grpc_auth_start.
 *
 * Refusals: UNAUTHENTICATED (missing or invalid credential, revoked token), PERMISSION_DENIED
 * (role), RESOURCE_EXHAUSTED (limit; retry-after trailer), UNAVAILABLE (PostgreSQL down and the
 * key not cached, Redis down in fail-closed mode, queue full; retry-after trailer). The
 * eco-error-code trailer carries the same machine-readable code as the REST error body. */
#ifndef AI_GRPC_AUTH_H
#define AI_GRPC_AUTH_H

#include "eco_auth.h"
#include "eco_http.h"
#include "eco_ratelimit.h"
#include "eco_rpc.h"

typedef struct {
    const char *mode; /* ECO_GRPC_AUTH: "required" | "off" */
    const char *pg_url, *redis_url, *redis_fail_mode, *kv_prefix;
    const char *jwt_keys, *issuer, *audience;
    long cache_ttl_ms, cache_stale_ms, cache_max;
    long default_rpm, default_tpm, default_max_tokens;
    long db_workers, db_queue, redis_timeout_ms;
} grpc_auth_settings_t;

/* One call's admission; lives in the caller's per-call state, borrowed by the module from
 * grpc_auth_start until `done` runs. */
typedef struct {
    /* the decision (valid in `done`) */
    grpc_status_code status; /* GRPC_STATUS_OK: admitted */
    const char *code;        /* refusals: eco-error-code ("invalid_api_key", "rate_limited", ...); static */
    char message[192];
    long retry_after_s; /* > 0: the retry-after trailer */
    eco_auth_identity_t id;
    /* internal */
    const eco_auth_rule_t *rule;
    eco_rpc_call_t *call;
    int need_lookup, admitted;
    uint8_t key_sha[32];
    long rpm, tpm, reserve;
    char subject[80], revoked_key[128];
    eco_store_limit_t lim;
    void (*done)(void *data);
    void *data;
} grpc_auth_t;

/* Reads the settings (after eco_service_new). Returns 0, or 2 after printing one line naming the
 * bad variable (the caller exits with it). With ECO_GRPC_AUTH=off nothing else is set up. */
int grpc_auth_init(eco_service_t *svc, const grpc_auth_settings_t *s);
/* 1 unless ECO_GRPC_AUTH=off. [any thread] */
int grpc_auth_enabled(void);
/* Stops the worker pool (running and queued jobs finish first; their decisions are posted). */
void grpc_auth_shutdown(void);

/* [gRPC worker] Decides whether `call` may proceed; reserve = the model tokens it may spend
 * (0 for calls that spend none). done(data) runs later on the loop thread with a->status set. */
void grpc_auth_start(grpc_auth_t *a, eco_rpc_call_t *call, long reserve, void (*done)(void *), void *data);

/* [loop] The call ended having spent `actual` tokens: the reservation is reconciled (no-op when
 * nothing was reserved). Call once. */
void grpc_auth_settle(grpc_auth_t *a, long actual);

/* [loop] The trailing metadata of a refusal (retry-after, eco-error-code) into md[0..2), using
 * buf for the number. Returns the count. */
size_t grpc_auth_trailers(const grpc_auth_t *a, eco_rpc_md_t md[2], char buf[24]);

/* The completion tokens reserved when a request gives no max_tokens (ECO_DEFAULT_MAX_TOKENS). */
long grpc_auth_default_max_tokens(void);

#endif
