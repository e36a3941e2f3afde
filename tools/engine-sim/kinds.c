/* Health, version and metrics endpoints of the engines that serve only the OpenAI API:
 * vLLM, trtllm-serve and a plain OpenAI-compatible server. */
#include "sim.h"

#include <string.h>

static int h_health_empty(eco_http_call_t *call)
{
    /* vLLM and trtllm-serve: 200 with an empty body, 503 when not ready. */
    sim_t *sim = call->data;
    if (sim_ready(sim))
        sim_send(call, 200, "text/plain; charset=utf-8", "");
    else if (sim->o.kind == SIM_TRTLLM)
        sim_send(call, 503, "text/plain; charset=utf-8",
                 "LLM is unavailable. Please check the server logs for more details.");
    else
        sim_send(call, 503, "text/plain; charset=utf-8", "");
    return 0;
}

static int h_health_generate(eco_http_call_t *call)
{
    if (sim_ready(call->data))
        sim_send(call, 200, "text/plain; charset=utf-8", "Generation health check OK");
    else
        sim_send(call, 500, "text/plain; charset=utf-8", "Generation health check failed");
    return 0;
}

static int h_version(eco_http_call_t *call)
{
    sim_t *sim = call->data;
    sim_send(call, 200, NULL, sim->o.kind == SIM_TRTLLM ? "{\"version\":\"1.1.0\"}" : "{\"version\":\"0.11.0\"}");
    return 0;
}

static int h_load(eco_http_call_t *call)
{
    sim_t *sim = call->data;
    char body[64];
    snprintf(body, sizeof(body), "{\"server_load\":%ld}", sim->running + sim->waiting);
    sim_send(call, 200, NULL, body);
    return 0;
}

/* trtllm-serve /metrics: JSON iteration stats (camelCase), not Prometheus. */
static int h_trtllm_json_metrics(eco_http_call_t *call)
{
    sim_t *sim = call->data;
    static long iter;
    long max_blocks = sim->o.kv_cache_tokens / 32;
    long used = (sim->kv_tokens + 31) / 32;
    if (used > max_blocks)
        used = max_blocks;
    char body[512];
    snprintf(body, sizeof(body),
             "[{\"iter\":%ld,\"iterLatencyMS\":%ld,\"numActiveRequests\":%ld,\"numQueuedRequests\":%ld,"
             "\"maxNumActiveRequests\":%ld,\"gpuMemUsage\":0,\"kvCacheStats\":{\"maxNumBlocks\":%ld,"
             "\"freeNumBlocks\":%ld,\"usedNumBlocks\":%ld,\"tokensPerBlock\":32,\"cacheHitRate\":0.0}}]",
             ++iter, sim->o.itl_ms, sim->running, sim->waiting, sim->o.max_concurrency, max_blocks, max_blocks - used,
             used);
    sim_send(call, 200, NULL, body);
    return 0;
}

void sim_routes_vllmish(sim_t *sim)
{
    eco_service_t *svc = sim->svc;
    switch (sim->o.kind) {
    case SIM_VLLM:
        eco_service_route(svc, "GET", "/health", h_health_empty, sim);
        eco_service_route(svc, "GET", "/ping", h_health_empty, sim);
        eco_service_route(svc, "POST", "/ping", h_health_empty, sim);
        eco_service_route(svc, "GET", "/version", h_version, sim);
        eco_service_route(svc, "GET", "/load", h_load, sim);
        eco_service_route(svc, "GET", "/metrics", sim_h_metrics, sim);
        break;
    case SIM_TRTLLM:
        eco_service_route(svc, "GET", "/health", h_health_empty, sim);
        eco_service_route(svc, "GET", "/health_generate", h_health_generate, sim);
        eco_service_route(svc, "GET", "/version", h_version, sim);
        eco_service_route(svc, "GET", "/metrics", h_trtllm_json_metrics, sim);
        eco_service_route(svc, "GET", "/prometheus/metrics", sim_h_metrics, sim);
        break;
    case SIM_OPENAI:
        eco_service_route(svc, "GET", "/health", h_health_empty, sim);
        eco_service_route(svc, "GET", "/metrics", sim_h_metrics, sim);
        break;
    default:
        break;
    }
}
