/* The model listing routes of ai-service. */
#ifndef AI_MODELS_H
#define AI_MODELS_H

#include "backends.h"
#include "eco_http.h"
#include "registry.h"

typedef struct {
    const registry_t *registry;
    const backends_t *backends;
    long long created; /* registry load time, the OpenAI `created` of every model */
} models_ctx_t;

void models_init(models_ctx_t *ctx, const registry_t *reg, const backends_t *b);
int models_list(eco_http_call_t *call); /* GET /v1/models, data = models_ctx_t */
int models_get(eco_http_call_t *call);  /* GET /v1/models/{model} */

#endif
