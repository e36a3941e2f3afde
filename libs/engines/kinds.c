/* Engine kinds and their health semantics (reference/engines.md §0). */
#include "eco_engines.h"

#include <string.h>

static const eco_engine_kind_t kinds[] = {
    {"vllm", "/health", 503, 0},      {"tgi", "/health", 503, 0},         {"ollama", "/", 0, 1},
    {"sglang", "/health", 503, 0},    {"trtllm", "/health", 503, 0},      {"triton", "/v2/health/ready", 400, 0},
    {"mii", "/health", 503, 0},       {"lmdeploy", "/health", 503, 0},    {"llamacpp", "/health", 503, 0},
    {"openai", "/v1/models", 503, 0},
};

const eco_engine_kind_t *eco_engine_kind(const char *name)
{
    for (size_t i = 0; i < ECO_ARRAY_SIZE(kinds); i++)
        if (strcmp(kinds[i].name, name) == 0)
            return &kinds[i];
    return NULL;
}
