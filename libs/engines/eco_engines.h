/*
 * eco_engines: what the platform knows about each inference engine kind (reference/engines.md):
 * names, health semantics and, as adapters grow, one file per kind behind one interface.
 */
#ifndef ECO_ENGINES_H
#define ECO_ENGINES_H

#include "eco_core.h"

/* Every supported kind, as an ECO_CFG_ENUM choice list. */
#define ECO_ENGINE_KINDS "vllm|tgi|ollama|sglang|trtllm|triton|mii|lmdeploy|llamacpp|openai"

typedef struct {
    const char *name;
    const char *health_path;  /* GET this for readiness */
    int not_ready_status;     /* the status the engine answers while loading (Triton: 400), besides refusing */
    int always_up;            /* Ollama: always 200, models load lazily */
} eco_engine_kind_t;

/* The kind's description, or NULL for an unknown name. Borrowed, static. */
const eco_engine_kind_t *eco_engine_kind(const char *name);

#endif
