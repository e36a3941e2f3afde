/* The adapters ai-service routes to: one entry (and one gRPC channel) per distinct address,
 * watched by a monitor thread (grpc.health.v1 Check + GetLoad every interval). */
#ifndef AI_BACKENDS_H
#define AI_BACKENDS_H

#include "eco_core.h"
#include "eco_resilience.h"
#include "eco_rpc.h"
#include "registry.h"

#include <stdatomic.h>

typedef struct {
    char *address;
    eco_rpc_channel_t *ch;
    /* written by the monitor thread */
    atomic_int probed;           /* at least one probe finished */
    atomic_int healthy;          /* last health check SERVING */
    atomic_int continuation;     /* capabilities: continues a trailing assistant message */
    atomic_uint queue_depth;     /* adapter-reported queue + engine waiting */
    atomic_uint max_concurrency; /* adapter-side limit, 0 = none */
    /* loop thread only */
    eco_cb_t cb;
    unsigned inflight;
    uint64_t not_before_ms; /* honours a retry-after */
    int cb_reported;        /* last circuit state exported */
} backend_t;

typedef struct backends backends_t;

/* One entry per distinct address of reg (borrowed only during the call). */
backends_t *backends_new(const registry_t *reg, const eco_cb_opts_t *cb_opts, long interval_ms);
/* Adds the addresses of a new registry that are not known yet (after a reload). Loop thread. */
void backends_add_registry(backends_t *b, const registry_t *reg);
/* Starts the monitor thread. */
void backends_start(backends_t *b);
void backends_free(backends_t *b);

backend_t *backends_find(backends_t *b, const char *address);
/* Waits (at most timeout_ms) until the monitor has probed every backend once. Any thread. */
void backends_wait_probed(backends_t *b, long timeout_ms);

/* Latest probe result for an adapter address: 1 healthy, 0 not (or never probed). Any thread. */
int backends_healthy(backends_t *b, const char *address);

/* Exports in-flight and circuit state of every backend (metrics collection hook). */
void backends_export(backends_t *b, uint64_t now_ms);

#endif
