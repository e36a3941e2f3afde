/* ListModels, HealthCheck and GetLoad: what this backend serves, whether its engine is ready,
 * and how loaded it is, for ai-service's routing. Answered on the rpc worker threads from the
 * state the loop thread and the readiness checker keep. */
#include "adapter.h"

#include <stdlib.h>
#include <string.h>

static Eco__Ai__V1__EngineKind engine_enum(eco_engine_id_t id)
{
    static const Eco__Ai__V1__EngineKind map[ECO_ENGINE_NKINDS] = {
        [ECO_ENGINE_VLLM] = ECO__AI__V1__ENGINE_KIND__ENGINE_KIND_VLLM,
        [ECO_ENGINE_TGI] = ECO__AI__V1__ENGINE_KIND__ENGINE_KIND_TGI,
        [ECO_ENGINE_OLLAMA] = ECO__AI__V1__ENGINE_KIND__ENGINE_KIND_OLLAMA,
        [ECO_ENGINE_SGLANG] = ECO__AI__V1__ENGINE_KIND__ENGINE_KIND_SGLANG,
        [ECO_ENGINE_TRTLLM] = ECO__AI__V1__ENGINE_KIND__ENGINE_KIND_TRTLLM,
        [ECO_ENGINE_TRITON] = ECO__AI__V1__ENGINE_KIND__ENGINE_KIND_TRITON,
        [ECO_ENGINE_MII] = ECO__AI__V1__ENGINE_KIND__ENGINE_KIND_DEEPSPEED_MII,
        [ECO_ENGINE_LMDEPLOY] = ECO__AI__V1__ENGINE_KIND__ENGINE_KIND_LMDEPLOY,
        [ECO_ENGINE_LLAMACPP] = ECO__AI__V1__ENGINE_KIND__ENGINE_KIND_LLAMA_CPP,
        [ECO_ENGINE_OPENAI] = ECO__AI__V1__ENGINE_KIND__ENGINE_KIND_OPENAI,
    };
    return map[id];
}

/* Caller holds a->lock. */
static void fill_caps_locked(adapter_t *a, Eco__Ai__V1__Capabilities *c)
{
    const eco_engine_caps_t *k = &a->kind->caps;
    c->streaming = k->streaming;
    c->embeddings = k->embeddings || a->tei != NULL;
    c->chat = k->chat;
    c->completion = k->completion;
    c->continuation = k->continuation;
    c->context_length = a->models.context_length ? a->models.context_length : a->info.context_length;
    c->max_output_tokens = 0;
    c->embedding_dimensions = a->embedding_dim;
    c->seed = k->seed;
    c->penalties = k->penalties;
    c->max_stop_sequences = k->max_stop_sequences;
    c->engine = engine_enum(a->kind->id);
    c->usage = k->usage;
}

void info_fill_caps(adapter_t *a, Eco__Ai__V1__Capabilities *caps)
{
    pthread_mutex_lock(&a->lock);
    fill_caps_locked(a, caps);
    pthread_mutex_unlock(&a->lock);
}

/* The served models: ECO_ENGINE_MODEL first, then what the engine lists. */
static size_t model_ids(adapter_t *a, char ids[][256], size_t cap)
{
    size_t n = 0;
    char served[256];
    engine_model(a, served, sizeof(served));
    if (served[0])
        snprintf(ids[n++], 256, "%s", served);
    pthread_mutex_lock(&a->lock);
    for (size_t i = 0; a->models_known && i < a->models.n && n < cap; i++)
        if (strcmp(a->models.ids[i], served) != 0)
            snprintf(ids[n++], 256, "%s", a->models.ids[i]);
    pthread_mutex_unlock(&a->lock);
    return n;
}

static void h_list_models(eco_rpc_call_t *call, const ProtobufCMessage *req, void *data)
{
    adapter_t *a = data;
    char ids[ECO_ENGINE_MAX_MODELS + 1][256];
    size_t n = model_ids(a, ids, ECO_ENGINE_MAX_MODELS + 1);
    Eco__Ai__V1__Capabilities caps = ECO__AI__V1__CAPABILITIES__INIT;
    info_fill_caps(a, &caps);
    Eco__Ai__V1__ModelInfo infos[ECO_ENGINE_MAX_MODELS + 1], *ptrs[ECO_ENGINE_MAX_MODELS + 1];
    for (size_t i = 0; i < n; i++) {
        eco__ai__v1__model_info__init(&infos[i]);
        infos[i].id = ids[i];
        infos[i].owned_by = (char *)a->kind->name;
        infos[i].capabilities = &caps;
        ptrs[i] = &infos[i];
    }
    Eco__Ai__V1__ListModelsResponse resp = ECO__AI__V1__LIST_MODELS_RESPONSE__INIT;
    resp.n_models = n;
    resp.models = ptrs;
    resp.default_model = n ? ids[0] : "";
    eco_rpc_call_respond(call, &resp.base, NULL, 0);
}

static void h_health(eco_rpc_call_t *call, const ProtobufCMessage *req, void *data)
{
    adapter_t *a = data;
    Eco__Ai__V1__HealthCheckResponse resp = ECO__AI__V1__HEALTH_CHECK_RESPONSE__INIT;
    char detail[160], version[64];
    pthread_mutex_lock(&a->lock);
    engine_health_t h = a->health;
    snprintf(detail, sizeof(detail), "%s", a->health != ENGINE_UNKNOWN ? a->health_detail : "not checked yet");
    snprintf(version, sizeof(version), "%s", a->info.version);
    pthread_mutex_unlock(&a->lock);
    if (eco_lifecycle_draining()) {
        resp.status = ECO__AI__V1__HEALTH_CHECK_RESPONSE__STATUS__STATUS_NOT_SERVING;
        snprintf(detail, sizeof(detail), "draining");
    } else {
        resp.status = h == ENGINE_UP        ? ECO__AI__V1__HEALTH_CHECK_RESPONSE__STATUS__STATUS_SERVING
                      : h == ENGINE_LOADING ? ECO__AI__V1__HEALTH_CHECK_RESPONSE__STATUS__STATUS_LOADING
                                            : ECO__AI__V1__HEALTH_CHECK_RESPONSE__STATUS__STATUS_NOT_SERVING;
    }
    resp.message = detail;
    resp.engine = engine_enum(a->kind->id);
    resp.version = version;
    resp.uptime_seconds = (eco_now_ms() - a->started_ms) / 1000u;
    eco_rpc_call_respond(call, &resp.base, NULL, 0);
}

static void h_get_load(eco_rpc_call_t *call, const ProtobufCMessage *req, void *data)
{
    adapter_t *a = data;
    Eco__Ai__V1__LoadReport r = ECO__AI__V1__LOAD_REPORT__INIT;
    Eco__Ai__V1__Capabilities caps = ECO__AI__V1__CAPABILITIES__INIT;
    char ids[ECO_ENGINE_MAX_MODELS + 1][256];
    char *idp[ECO_ENGINE_MAX_MODELS + 1];
    size_t n = model_ids(a, ids, ECO_ENGINE_MAX_MODELS + 1);
    for (size_t i = 0; i < n; i++)
        idp[i] = ids[i];
    long running = atomic_load(&a->running), queued = atomic_load(&a->queued);
    pthread_mutex_lock(&a->lock);
    fill_caps_locked(a, &caps);
    eco_engine_load_t l = a->load;
    int64_t scraped = a->scraped_at_ms;
    engine_health_t h = a->health;
    uint32_t slots = a->info.slots;
    pthread_mutex_unlock(&a->lock);
    /* Engine gauges count when fresh (three scrape intervals); else the adapter's own view. */
    int64_t now_ms = (int64_t)(eco_wall_time() * 1000.0);
    int fresh = scraped && now_ms - scraped <= 3 * a->cfg.scrape_interval_ms + 1000;
    r.in_flight = (uint32_t)running;
    r.queue_depth = (uint32_t)queued;
    r.running = fresh && l.has_running ? (uint32_t)l.running : 0;
    r.waiting = fresh && l.has_waiting ? (uint32_t)l.waiting : 0;
    r.kv_cache_usage = fresh && l.has_kv ? l.kv_cache_usage : -1;
    r.capabilities = &caps;
    r.ready = h == ENGINE_UP && !eco_lifecycle_draining();
    r.max_concurrency = (uint32_t)a->cfg.max_conns;
    r.load_score = fresh ? eco_engine_load_score(&l, slots) + (double)queued : (double)(running + queued);
    r.scraped_at = scraped;
    r.n_models = n;
    r.models = idp;
    eco_rpc_call_respond(call, &r.base, NULL, 0);
}

void info_register(adapter_t *a)
{
    const ProtobufCServiceDescriptor *svc = &eco__ai__v1__inference__descriptor;
    if (eco_rpc_server_add_method(a->rpc, svc, "ListModels", ECO_RPC_UNARY, h_list_models, a) != 0 ||
        eco_rpc_server_add_method(a->rpc, svc, "HealthCheck", ECO_RPC_UNARY, h_health, a) != 0 ||
        eco_rpc_server_add_method(a->rpc, svc, "GetLoad", ECO_RPC_UNARY, h_get_load, a) != 0)
        eco_fatal("cannot register the info methods");
}
