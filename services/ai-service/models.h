/* The model listing routes of ai-service. */
#ifndef AI_MODELS_H
#define AI_MODELS_H

#include "backends.h"
#include "eco_http.h"
#include "registry.h"

typedef struct {
    registry_t *const *registry; /* the current registry (swapped by a reload) */
    backends_t *backends;
    long long created; /* registry load time, the OpenAI `created` of every model */
} models_ctx_t;

void models_init(models_ctx_t *ctx, registry_t *const *reg, backends_t *b);
int models_list(eco_http_call_t *call); /* GET /v1/models, data = models_ctx_t */
int models_get(eco_http_call_t *call);  /* GET /v1/models/{model} */

#endif
