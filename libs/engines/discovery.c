/* What adapters learn from an engine besides generating: its models, version and limits, and
 * its load from Prometheus gauges (engines.md §10). */
#include "engines_internal.h"

#include <string.h>

static void copy_id(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s);
}

int eco_engine_parse_models(const eco_engine_kind_t *k, const char *body, size_t len, eco_engine_models_t *out)
{
    memset(out, 0, sizeof(*out));
    json_t *root = eco__engine_json(body, len);
    json_t *list = eco__json_get(root, k->id == ECO_ENGINE_OLLAMA ? "models" : "data");
    if (!json_is_array(list)) {
        json_decref(root);
        return -1;
    }
    size_t i;
    json_t *card;
    json_array_foreach(list, i, card)
    {
        const char *id = eco__json_str(card, k->id == ECO_ENGINE_OLLAMA ? "name" : "id", NULL);
        if (!id || !*id || out->n >= ECO_ENGINE_MAX_MODELS)
            continue;
        copy_id(out->ids[out->n], sizeof(out->ids[0]), id);
        if (out->n++ == 0) {
            uint32_t ctx = 0;
            if (eco__json_u32(card, "max_model_len", &ctx) ||
                eco__json_u32(eco__json_get(card, "meta"), "n_ctx_train", &ctx) ||
                eco__json_u32(card, "context_length", &ctx))
                out->context_length = ctx;
        }
    }
    json_decref(root);
    return 0;
}

int eco_engine_parse_info(const eco_engine_kind_t *k, const char *body, size_t len, eco_engine_info_t *out)
{
    memset(out, 0, sizeof(*out));
    json_t *root = eco__engine_json(body, len);
    if (!json_is_object(root)) {
        json_decref(root);
        return -1;
    }
    const char *v = eco__json_str(root, k->id == ECO_ENGINE_LLAMACPP ? "build_info" : "version", NULL);
    if (v)
        snprintf(out->version, sizeof(out->version), "%s", v);
    switch (k->id) {
    case ECO_ENGINE_TGI:
        eco__json_u32(root, "max_total_tokens", &out->context_length);
        eco__json_u32(root, "max_concurrent_requests", &out->slots);
        break;
    case ECO_ENGINE_SGLANG:
        eco__json_u32(root, "context_length", &out->context_length);
        eco__json_u32(root, "max_running_requests", &out->slots);
        out->incremental_stream = json_is_true(eco__json_get(root, "incremental_streaming_output"));
        break;
    case ECO_ENGINE_LLAMACPP:
        eco__json_u32(eco__json_get(root, "default_generation_settings"), "n_ctx", &out->context_length);
        eco__json_u32(root, "total_slots", &out->slots);
        break;
    default:
        break;
    }
    json_decref(root);
    return 0;
}

/* The mean of a gauge's series (a percentage over data-parallel ranks). */
static int mean(const char *t, size_t n, const char *name, const char *label, double *out)
{
    double sum;
    size_t c = eco_prom_sum(t, n, name, label, &sum);
    if (!c)
        return 0;
    *out = sum / (double)c;
    return 1;
}

static int sum(const char *t, size_t n, const char *name, const char *label, double *out)
{
    return eco_prom_sum(t, n, name, label, out) > 0;
}

int eco_engine_parse_load(const eco_engine_kind_t *k, const char *t, size_t n, eco_engine_load_t *l)
{
    memset(l, 0, sizeof(*l));
    switch (k->id) {
    case ECO_ENGINE_VLLM:
        l->has_running = sum(t, n, "vllm:num_requests_running", NULL, &l->running);
        l->has_waiting = sum(t, n, "vllm:num_requests_waiting", NULL, &l->waiting);
        l->has_kv = mean(t, n, "vllm:kv_cache_usage_perc", NULL, &l->kv_cache_usage) ||
                    mean(t, n, "vllm:gpu_cache_usage_perc", NULL, &l->kv_cache_usage);
        break;
    case ECO_ENGINE_TGI:
        l->has_running = sum(t, n, "tgi_batch_current_size", NULL, &l->running);
        l->has_waiting = sum(t, n, "tgi_queue_size", NULL, &l->waiting);
        break;
    case ECO_ENGINE_SGLANG:
        l->has_running = sum(t, n, "sglang:num_running_reqs", NULL, &l->running);
        l->has_waiting = sum(t, n, "sglang:num_queue_reqs", NULL, &l->waiting);
        l->has_kv = mean(t, n, "sglang:token_usage", NULL, &l->kv_cache_usage);
        break;
    case ECO_ENGINE_TRTLLM:
        l->has_running = sum(t, n, "trtllm_num_requests_running", NULL, &l->running);
        l->has_waiting = sum(t, n, "trtllm_num_requests_waiting", NULL, &l->waiting);
        l->has_kv = mean(t, n, "trtllm_kv_cache_utilization", NULL, &l->kv_cache_usage);
        break;
    case ECO_ENGINE_TRITON:
        l->has_running = sum(t, n, "nv_trt_llm_request_metrics", "request_type=\"active\"", &l->running);
        l->has_waiting = sum(t, n, "nv_trt_llm_request_metrics", "request_type=\"waiting\"", &l->waiting) ||
                         sum(t, n, "nv_inference_pending_request_count", NULL, &l->waiting);
        l->has_max = sum(t, n, "nv_trt_llm_request_metrics", "request_type=\"max\"", &l->max_running);
        l->has_kv =
            mean(t, n, "nv_trt_llm_kv_cache_block_metrics", "kv_cache_block_type=\"fraction\"", &l->kv_cache_usage);
        break;
    case ECO_ENGINE_LMDEPLOY:
        l->has_running = sum(t, n, "lmdeploy:num_requests_running", NULL, &l->running);
        l->has_waiting = sum(t, n, "lmdeploy:num_requests_waiting", NULL, &l->waiting);
        l->has_kv = mean(t, n, "lmdeploy:gpu_cache_usage_perc", NULL, &l->kv_cache_usage);
        break;
    case ECO_ENGINE_LLAMACPP:
        l->has_running = sum(t, n, "llamacpp:requests_processing", NULL, &l->running);
        l->has_waiting = sum(t, n, "llamacpp:requests_deferred", NULL, &l->waiting);
        break;
    default:
        return -1;
    }
    if (l->has_kv)
        l->kv_cache_usage = l->kv_cache_usage < 0 ? 0 : l->kv_cache_usage > 1 ? 1 : l->kv_cache_usage;
    return l->has_running || l->has_waiting || l->has_kv ? 0 : -1;
}

double eco_engine_load_score(const eco_engine_load_t *l, double capacity)
{
    /* Unknown batch capacity: vLLM's default max_num_seqs, so running requests weigh little
     * next to queued ones. */
    double cap = capacity > 0 ? capacity : l->has_max && l->max_running > 0 ? l->max_running : 256;
    return (l->has_waiting ? l->waiting : 0) + (l->has_running ? l->running / cap : 0) +
           (l->has_kv ? l->kv_cache_usage : 0);
}
