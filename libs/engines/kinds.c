/* Engine kinds: health semantics, discovery and metrics endpoints, and what the adapter can do
 * with each (reference/engines.md §0 and §10). */
#include "eco_engines.h"

#include <string.h>

/* caps: {streaming, embeddings, chat, completion, continuation, seed, penalties,
 *        max_stop_sequences, usage, chat_template} */

static const eco_engine_kind_t kinds[] = {
    /* vLLM: OpenAI routes; continue_final_message continues a trailing assistant message. */
    {"vllm",
     ECO_ENGINE_VLLM,
     "/health",
     503,
     0,
     "/v1/models",
     "/version",
     "/metrics",
     NULL,
     {1, 1, 1, 1, 1, 1, 1, 16, 1, NULL}},
    /* TGI: the Messages API for chat, native /generate(_stream) for prompts; no embeddings (TEI). */
    {"tgi",
     ECO_ENGINE_TGI,
     "/health",
     503,
     0,
     "/v1/models",
     "/info",
     "/metrics",
     "tgi",
     {1, 0, 1, 1, 0, 1, 1, 4, 1, NULL}},
    /* Ollama: /api/chat and /api/generate (raw), NDJSON; always up, loads lazily; no metrics. */
    {"ollama",
     ECO_ENGINE_OLLAMA,
     "/",
     0,
     1,
     "/api/tags",
     "/api/version",
     NULL,
     NULL,
     {1, 1, 1, 1, 0, 1, 1, 16, 1, NULL}},
    /* SGLang: OpenAI chat, native /generate (cumulative stream text) for prompts. */
    {"sglang",
     ECO_ENGINE_SGLANG,
     "/health",
     503,
     0,
     "/v1/models",
     "/get_server_info",
     "/metrics",
     NULL,
     {1, 0, 1, 1, 0, 1, 1, 16, 1, NULL}},
    /* trtllm-serve: OpenAI routes; Prometheus text only under /prometheus/metrics. */
    {"trtllm",
     ECO_ENGINE_TRTLLM,
     "/health",
     503,
     0,
     "/v1/models",
     "/version",
     "/prometheus/metrics",
     NULL,
     {1, 0, 1, 1, 0, 1, 1, 16, 1, NULL}},
    /* Triton generate extension: raw text only, so chat is rendered here as ChatML (which also
     * makes continuation possible); no finish reason and no token counts. */
    {"triton",
     ECO_ENGINE_TRITON,
     "/v2/health/ready",
     400,
     0,
     NULL,
     "/v2",
     "/metrics",
     "ensemble",
     {1, 0, 1, 1, 1, 1, 1, 16, 0, "chatml"}},
    /* DeepSpeed-MII OpenAI server: honours only the first stop string, approximate usage. */
    {"mii", ECO_ENGINE_MII, "/health", 503, 0, "/v1/models", NULL, NULL, NULL, {1, 0, 1, 1, 0, 0, 0, 1, 0, NULL}},
    /* LMDeploy: OpenAI routes (its /v1/embeddings is "Unsupported by turbomind"). */
    {"lmdeploy",
     ECO_ENGINE_LMDEPLOY,
     "/health",
     503,
     0,
     "/v1/models",
     NULL,
     "/metrics",
     NULL,
     {1, 0, 1, 1, 0, 1, 0, 16, 1, NULL}},
    /* llama.cpp: OpenAI chat (prefills a trailing assistant message), native /completion. */
    {"llamacpp",
     ECO_ENGINE_LLAMACPP,
     "/health",
     503,
     0,
     "/v1/models",
     "/props",
     "/metrics",
     NULL,
     {1, 1, 1, 1, 1, 1, 1, 16, 1, NULL}},
    /* Any other OpenAI-compatible server: standard fields only. */
    {"openai",
     ECO_ENGINE_OPENAI,
     "/v1/models",
     503,
     0,
     "/v1/models",
     NULL,
     NULL,
     NULL,
     {1, 1, 1, 1, 0, 1, 1, 4, 1, NULL}},
};

const eco_engine_kind_t *eco_engine_kind(const char *name)
{
    for (size_t i = 0; i < ECO_ARRAY_SIZE(kinds); i++)
        if (strcmp(kinds[i].name, name) == 0)
            return &kinds[i];
    return NULL;
}
