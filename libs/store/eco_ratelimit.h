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

#endif
