/*
 * eco_apikey: API-key look-ups in PostgreSQL for the services that accept API keys (root-gateway
 * for REST, ai-service for gRPC), in front of the shared in-process cache (eco_keycache.h).
 * Blocking: call from a job on an eco_pool worker, never from an event loop.
 */
#ifndef ECO_APIKEY_H
#define ECO_APIKEY_H

#include <stddef.h>
#include <stdint.h>

#include "eco_keycache.h"
#include "eco_pool.h"

/* Looks the key up by the SHA-256 of its secret: it must be neither revoked nor expired and its
 * owner not disabled; its role is the lower of the key's and the owner's current one. Refreshes
 * last_used_at at most once a minute. A connection that died while idle is replaced once.
 * Returns 0 with *out filled, ECO_AUTH_EMISMATCH when there is no such valid key, or
 * ECO_STORE_ECONN / ECO_STORE_EQUERY when PostgreSQL did not answer (reason in err). */
int eco_store_apikey_lookup(eco_store_worker_t *w, const uint8_t sha[32], eco_auth_key_t *out, char *err,
                            size_t errlen);

/* The look-up of a key the in-process cache had no fresh answer for. First the shared Redis
 * level (key "<prefix>apikey:<hex sha>", written by any service that looked the key up, expiring
 * after ttl_ms, deleted by api-gateway when the key or its owner changes), then PostgreSQL, whose
 * answer is written to both levels (a negative entry for no key). An answer read from Redis keeps
 * its original fetch time, so a revoked key stops working within ttl_ms across both levels.
 * Redis unavailable: PostgreSQL alone. PostgreSQL unavailable: a valid in-process entry within
 * the cache's stale window (*stale = 1). prefix may be "" (no Redis level when the worker has no
 * Redis). Returns 0 with *out filled, ECO_AUTH_EMISMATCH (no such valid key), or
 * ECO_STORE_ECONN / ECO_STORE_EQUERY (cannot tell now; reason in err). */
int eco_store_apikey_resolve(eco_store_worker_t *w, eco_auth_keycache_t *cache, const char *prefix, long ttl_ms,
                             const uint8_t sha[32], eco_auth_key_t *out, int *stale, char *err, size_t errlen);

/* Deletes the Redis-level entries of these keys (SHA-256 as 64 hex characters each): after a
 * revocation, rotation or an owner change, so no service reads the old answer from Redis. A Redis
 * failure is logged; the entries then expire on their own within the TTL. */
void eco_store_apikey_forget(eco_store_worker_t *w, const char *prefix, const char *const *sha_hex, size_t n);

#endif
