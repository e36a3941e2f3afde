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

/* The look-up of a key the cache had no fresh answer for: asks PostgreSQL and records the answer
 * in cache (a negative entry for no key); when PostgreSQL cannot answer, falls back to a valid
 * entry within the cache's stale window (*stale = 1). Returns 0 with *out filled,
 * ECO_AUTH_EMISMATCH (no such valid key), or ECO_STORE_ECONN / ECO_STORE_EQUERY (cannot tell
 * now; reason in err). */
int eco_store_apikey_resolve(eco_store_worker_t *w, eco_auth_keycache_t *cache, const uint8_t sha[32],
                             eco_auth_key_t *out, int *stale, char *err, size_t errlen);

#endif
