/*
 * eco_keycache: the in-process cache of API-key look-ups, shared by every service that accepts
 * API keys (root-gateway for REST, ai-service for gRPC).
 *
 * Keyed by the SHA-256 of the presented secret (the secret itself is never kept). An entry is
 * either a valid key (its identity, limits and expiry) or a negative entry (no such valid key:
 * unknown, revoked, expired or owner disabled), so garbage keys do not reach PostgreSQL on every
 * request either. Entries are fresh for ttl_ms: a revoked key stops working within it. While
 * PostgreSQL is down, a valid entry fetched less than stale_ms ago still authenticates
 * (eco_auth_keycache_get_stale); nothing else does.
 *
 * Bounded: a table of the next power of two >= 2 * max_keys slots with short linear probe runs;
 * when a run is full, its least recently fetched entry is replaced. Entries are overwritten,
 * never removed, so runs stay intact.
 *
 * Pure logic (no I/O, no clock: callers pass the time), thread-safe (one mutex; every call is a
 * few hundred nanoseconds), callable from any thread.
 */
#ifndef ECO_KEYCACHE_H
#define ECO_KEYCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "eco_auth.h"

/* The cache's settings, the same in every service that accepts API keys. */
#define ECO_KEYCACHE_SPEC_TTL(out)                                                                                     \
    {                                                                                                                  \
        "ECO_KEY_CACHE_TTL_MS", ECO_CFG_MS, "5000", 0, 3600000, NULL,                                                  \
            "API keys are re-read from PostgreSQL after this long (a revoked key stops working within it)", (out)      \
    }
#define ECO_KEYCACHE_SPEC_STALE(out)                                                                                   \
    {                                                                                                                  \
        "ECO_KEY_CACHE_STALE_MS", ECO_CFG_MS, "300000", 0, 86400000, NULL,                                             \
            "while PostgreSQL is down, keys seen within this long still authenticate", (out)                           \
    }
#define ECO_KEYCACHE_SPEC_MAX(out)                                                                                     \
    {                                                                                                                  \
        "ECO_KEY_CACHE_MAX", ECO_CFG_INT, "10000", 16, 10000000, NULL, "API keys held in the in-process cache", (out)  \
    }

/* What a look-up of a valid key yields. */
typedef struct {
    eco_auth_identity_t id; /* kind ECO_AUTH_KIND_API_KEY, role (capped by the owner's), user_id, key_id */
    long rpm, tpm;          /* the key's own limits; 0 = the service's default */
    int64_t expires_s;      /* the key's expiry (seconds since the epoch), 0 = never */
} eco_auth_key_t;

typedef struct eco_auth_keycache eco_auth_keycache_t;

typedef struct {
    long ttl_ms;     /* entries are fresh this long (0: every request looks the key up) */
    long stale_ms;   /* valid entries may stand in for PostgreSQL this long after their fetch */
    size_t max_keys; /* sizes the table (see above), >= 1 */
} eco_auth_keycache_opts_t;

/* Creates a cache. Aborts on OOM. Caller frees with eco_auth_keycache_free. */
eco_auth_keycache_t *eco_auth_keycache_new(const eco_auth_keycache_opts_t *opts);
void eco_auth_keycache_free(eco_auth_keycache_t *c);

typedef enum {
    ECO_AUTH_KEYCACHE_MISS = 0,    /* not cached, or older than ttl_ms: look the key up */
    ECO_AUTH_KEYCACHE_VALID = 1,   /* a fresh valid entry: *out filled */
    ECO_AUTH_KEYCACHE_INVALID = 2, /* a fresh negative entry, or a valid one whose key expired since */
} eco_auth_keycache_result_t;

/* The fresh answer for sha, if any. now_ms: the monotonic clock of the puts (eco_now_ms);
 * now_s: wall-clock seconds, for the key's own expiry. out may be NULL. */
eco_auth_keycache_result_t eco_auth_keycache_get(eco_auth_keycache_t *c, const uint8_t sha[32], uint64_t now_ms,
                                                 int64_t now_s, eco_auth_key_t *out);

/* Records the answer of a look-up made at now_ms: key (copied) for a valid key, NULL for a
 * negative entry. Replaces any entry for sha. */
void eco_auth_keycache_put(eco_auth_keycache_t *c, const uint8_t sha[32], const eco_auth_key_t *key, uint64_t now_ms);

/* PostgreSQL could not answer: 1 with *out filled when sha has a valid entry fetched less than
 * stale_ms before now_ms whose key has not expired at now_s, else 0. */
int eco_auth_keycache_get_stale(eco_auth_keycache_t *c, const uint8_t sha[32], uint64_t now_ms, int64_t now_s,
                                eco_auth_key_t *out);

/* Valid entries fetched less than stale_ms before now_ms (those that could still authenticate
 * during an outage): for readiness and metrics. */
size_t eco_auth_keycache_count(eco_auth_keycache_t *c, uint64_t now_ms);

#endif
