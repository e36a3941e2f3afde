/* Backend health for ai-service: probes every adapter of the registry with grpc.health.v1. */
#ifndef AI_BACKENDS_H
#define AI_BACKENDS_H

#include "eco_core.h"
#include "registry.h"

typedef struct backends backends_t;

/* One channel per distinct adapter address. reg is borrowed for the object's life. */
backends_t *backends_new(const registry_t *reg);
void backends_free(backends_t *b);

/* Readiness check (eco_ready_check_fn, data = backends_t): probes every backend, then
 * UP when every model has a healthy backend, DEGRADED when some model has none, DOWN when no
 * model has any. */
eco_dep_state_t backends_check_models(void *data, char *detail, size_t len);

/* Latest probe result for an adapter address: 1 healthy, 0 not (or never probed). Any thread. */
int backends_healthy(const backends_t *b, const char *address);

#endif
