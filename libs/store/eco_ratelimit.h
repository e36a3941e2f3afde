/*
 * eco_ratelimit: sliding-window limits on two dimensions at once (requests and tokens), shared by
 * every gateway replica through Redis, with an in-process twin for when Redis is down.
 *
 * Model: the window (e.g. 60 s) is cut into buckets (e.g. 1 s). A subject's usage is the sum of
 * its buckets inside the window. take() admits a request when, for both dimensions, usage + cost
 * <= limit, and then records the costs in the current bucket -- all inside one Lua script, so
 * concurrent gateways see one order and exactly `limit` requests get in. Refused requests record
 * nothing and learn when enough usage leaves the window (Retry-After). Time is Redis's own clock
 * (TIME), so replicas with skewed clocks agree. A reservation (e.g. max_tokens) is reconciled
 * afterwards with adjust(), in the bucket it was recorded in.
 *
 * Keys: "<prefix>{<subject>}:0" and ":1" (hashes bucket-id -> amount, expiring with the window).
 * The {subject} hash tag keeps a subject's keys in one cluster slot.
 */
#ifndef ECO_RATELIMIT_H
#define ECO_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include <hiredis.h>

#include "eco_core.h"
#include "eco_pool.h"

#define ECO_RL_MAX_SUBJECT 128
#define ECO_RL_MAX_BUCKETS 120

typedef struct {
    const char *prefix; /* "eco:rl:" */
    long window_ms;     /* 60000 */
    long bucket_ms;     /* 1000; window_ms / bucket_ms <= ECO_RL_MAX_BUCKETS */
} eco_store_rl_spec_t;

typedef struct {
    int allowed;      /* 1: admitted and costs recorded (unless dry) */
    int revoked;      /* the revocation key exists: nothing recorded, allowed = 0 */
    int too_large;    /* a cost exceeds its limit on its own: it can never fit */
    long used[2];     /* usage in the window, after this request when allowed */
    long retry_ms;    /* refused: time until enough usage leaves the window */
    long reset_ms[2]; /* time until the oldest recorded usage leaves the window (0 if none) */
    int64_t bucket;   /* the bucket the costs were recorded in (for adjust) */
} eco_store_rl_result_t;

/* Checks and (unless dry) records cost[d] against limit[d] (0 = unlimited) for d = 0, 1.
 * revoked_key (optional, may be NULL): when that key exists the call reports revoked.
 * Returns 0 with *out filled, ECO_STORE_ECONN when the connection failed (drop it),
 * ECO_STORE_EQUERY/EPROTO on an error reply. */
int eco_store_rl_take(redisContext *c, const eco_store_rl_spec_t *spec, const char *subject, const char *revoked_key,
                      const long limit[2], const long cost[2], int dry, eco_store_rl_result_t *out, char *err,
                      size_t errlen);

/* Adds delta (negative: a refund, clamped at 0) to dimension dim of the bucket a take() used.
 * A bucket that already left the window is left alone. Same returns as take. */
int eco_store_rl_adjust(redisContext *c, const eco_store_rl_spec_t *spec, const char *subject, int dim, int64_t bucket,
                        long delta, char *err, size_t errlen);

/* ---- in-process limiter with the same semantics (one replica's view) ---- */

typedef struct eco_store_rl_local eco_store_rl_local_t;

/* max_subjects: the table holds at most that many subjects (least recently used ones are
 * forgotten beyond it). Thread-safe. */
eco_store_rl_local_t *eco_store_rl_local_new(const eco_store_rl_spec_t *spec, size_t max_subjects);
void eco_store_rl_local_free(eco_store_rl_local_t *l);
/* As eco_store_rl_take, at time now_ms (any monotonic millisecond clock). Never fails. */
void eco_store_rl_local_take(eco_store_rl_local_t *l, const char *subject, const long limit[2], const long cost[2],
                             int dry, uint64_t now_ms, eco_store_rl_result_t *out);
void eco_store_rl_local_adjust(eco_store_rl_local_t *l, const char *subject, int dim, int64_t bucket, long delta,
                               uint64_t now_ms);

/* ---- a service's limiter: Redis through an eco_pool worker, with the twin for fail-open ----
 * What root-gateway (REST) and ai-service (gRPC) both enforce, on the same keys: a caller's
 * limits are shared by both entry points and every replica. */

typedef struct eco_store_limiter eco_store_limiter_t;

/* The limits' settings, the same in every service that enforces them. */
#define ECO_RL_SPEC_FAIL_MODE(out)                                                                                     \
    {                                                                                                                  \
        "ECO_REDIS_FAIL_MODE", ECO_CFG_ENUM, "closed", 0, 0, "closed|open",                                            \
            "when Redis is down: closed = 503 (limits cannot be enforced), open = local limiter", (out)                \
    }
#define ECO_RL_SPEC_DEFAULT_RPM(out)                                                                                   \
    {                                                                                                                  \
        "ECO_DEFAULT_RPM", ECO_CFG_INT, "600", 1, 1000000000, NULL,                                                    \
            "requests per minute of keys and users without their own limit", (out)                                     \
    }
#define ECO_RL_SPEC_DEFAULT_TPM(out)                                                                                   \
    {                                                                                                                  \
        "ECO_DEFAULT_TPM", ECO_CFG_INT, "200000", 1, 1000000000, NULL,                                                 \
            "tokens per minute of keys and users without their own limit", (out)                                       \
    }
#define ECO_RL_SPEC_DEFAULT_MAX_TOKENS(out)                                                                            \
    {                                                                                                                  \
        "ECO_DEFAULT_MAX_TOKENS", ECO_CFG_INT, "1024", 1, 10000000, NULL,                                              \
            "completion tokens reserved when an inference request gives no max_tokens", (out)                          \
    }

typedef struct {
    eco_store_pool_t *pool;   /* runs the reconciliation jobs; borrowed for the limiter's life */
    eco_store_rl_spec_t spec; /* prefix copied (at most 64 bytes) */
    int fail_open;            /* Redis unreachable: 0 = no decision (the caller refuses), 1 = the twin decides */
    size_t local_subjects;    /* the twin's table; 0 = 16384 */
} eco_store_limiter_opts_t;

/* One admission. */
typedef struct {
    eco_store_rl_result_t rl;
    int remote;      /* Redis decided (else the in-process twin) */
    int redis_error; /* Redis could not be asked (ECO_STORE_E* code), 0 when it answered */
} eco_store_limit_t;

/* Aborts on OOM or a bad spec. Caller frees with eco_store_limiter_free (after the pool). */
eco_store_limiter_t *eco_store_limiter_new(const eco_store_limiter_opts_t *opts);
void eco_store_limiter_free(eco_store_limiter_t *l);

/* Inside a job on worker w: eco_store_rl_take on the worker's Redis connection (dropped when it
 * broke). When Redis cannot answer, out->redis_error is set (reason in err) and, in fail-open
 * mode, the twin decides (a revoked token cannot be recognised there). Returns 0 when *out holds
 * a decision, else the Redis error (fail-closed: refuse, limits cannot be enforced). */
int eco_store_limiter_take(eco_store_limiter_t *l, eco_store_worker_t *w, const char *subject, const char *revoked_key,
                           const long limit[2], const long cost[2], eco_store_limit_t *out, char *err, size_t errlen);

/* Settles a reservation that take recorded: adds delta (negative: a refund) to dimension dim of
 * the bucket it used, in Redis through a pool job (fire and forget: logged and lost when Redis or
 * the queue fails) or in the twin, wherever take decided. Any thread; never blocks. */
void eco_store_limiter_adjust(eco_store_limiter_t *l, const eco_store_limit_t *t, const char *subject, int dim,
                              long delta);

#endif
