/* GenerateCompletion, StreamCompletion and GenerateEmbedding: validate the request, translate
 * it into the engine's native request (libs/engines) on the rpc worker thread, and hand the
 * job to the loop thread. */
#include "job.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MESSAGES 4096

void calls_forward_init(adapter_t *a)
{
    const char *p = a->cfg.forward_md;
    while (p && *p) {
        size_t n = strcspn(p, ",");
        size_t s = 0;
        while (s < n && p[s] == ' ')
            s++;
        size_t e = n;
        while (e > s && p[e - 1] == ' ')
            e--;
        if (e > s) {
            int ok = e - s < sizeof(a->forward_keys[0]) && a->nforward < ADAPTER_MAX_FORWARD;
            for (size_t i = s; i < e && ok; i++)
                ok = (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-' || p[i] == '_';
            if (!ok || (e - s == 12 && memcmp(p + s, "x-request-id", 12) == 0)) {
                fprintf(stderr,
                        "ECO_ENGINE_FORWARD_METADATA: expected up to %d lower-case metadata keys (not x-request-id), "
                        "got \"%.100s\"\n",
                        ADAPTER_MAX_FORWARD, a->cfg.forward_md);
                exit(2);
            }
            memcpy(a->forward_keys[a->nforward], p + s, e - s);
            a->forward_keys[a->nforward++][e - s] = '\0';
        }
        p += n + (p[n] == ',');
    }
}

/* The configured request metadata, as header lines (values with control bytes are dropped). */
static void collect_forward(job_t *j)
{
    adapter_t *a = j->a;
    size_t used = 0;
    for (size_t i = 0; i < a->nforward; i++) {
        const char *v = eco_rpc_call_md(j->call, a->forward_keys[i]);
        if (!v)
            continue;
        int clean = 1;
        for (const char *c = v; *c && clean; c++)
            clean = (unsigned char)*c >= 0x20 && *c != 0x7f;
        int n = clean ? snprintf(j->forward + used, sizeof(j->forward) - used, "%s: %s\r\n", a->forward_keys[i], v) : 0;
        if (n < 0 || used + (size_t)n >= sizeof(j->forward)) {
            j->forward[used] = '\0'; /* does not fit: leave it out */
            continue;
        }
        used += (size_t)n;
    }
}

__attribute__((format(printf, 4, 5))) static void reject(job_t *j, grpc_status_code st, const char *reason,
                                                         const char *fmt, ...)
{
    eco_engine_error_t e;
    eco_engine_error_set(&e, st, reason, "%s", "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof(e.message), fmt, ap);
    va_end(ap);
    job_fail(j, &e);
}

/* The request's model, or the engine's served model. 0, or -1 after rejecting. */
static int pick_model(job_t *j, const char *asked)
{
    adapter_t *a = j->a;
    if (asked && *asked) {
        if (strlen(asked) >= sizeof(j->model)) {
            reject(j, GRPC_STATUS_INVALID_ARGUMENT, "invalid_request", "model names are at most %zu bytes",
                   sizeof(j->model) - 1);
            return -1;
        }
        snprintf(j->model, sizeof(j->model), "%s", asked);
        return 0;
    }
    engine_model(a, j->model, sizeof(j->model));
    if (!j->model[0] && engine_needs_model(a->kind)) {
        pthread_mutex_lock(&a->lock);
        int loading = a->health == ENGINE_LOADING;
        pthread_mutex_unlock(&a->lock);
        eco_engine_error_t e;
        eco_engine_error_set(&e, GRPC_STATUS_UNAVAILABLE, loading ? "engine_loading" : "engine_unavailable",
                             "the engine's model is not known yet (not discovered%s; set ECO_ENGINE_MODEL)",
                             loading ? " while the engine loads" : "");
        e.loading = loading;
        job_fail(j, &e);
        return -1;
    }
    return 0;
}

static void generate(eco_rpc_call_t *call, const ProtobufCMessage *msg, adapter_t *a, job_kind_t kind)
{
    const Eco__Ai__V1__GenerateRequest *g = (const Eco__Ai__V1__GenerateRequest *)msg;
    const eco_engine_caps_t *caps = &a->kind->caps;
    job_t *j = job_new(a, kind, call, msg);
    int has_prompt = g->prompt && *g->prompt;
    if (!g->n_messages && !has_prompt) {
        reject(j, GRPC_STATUS_INVALID_ARGUMENT, "invalid_request", "give messages or a prompt");
        return;
    }
    if (g->n_messages && has_prompt) {
        reject(j, GRPC_STATUS_INVALID_ARGUMENT, "invalid_request", "give messages or a prompt, not both");
        return;
    }
    if (g->n_messages > MAX_MESSAGES) {
        reject(j, GRPC_STATUS_INVALID_ARGUMENT, "invalid_request", "at most %d messages", MAX_MESSAGES);
        return;
    }
    if (g->n_stop > caps->max_stop_sequences) {
        reject(j, GRPC_STATUS_INVALID_ARGUMENT, "invalid_request", "%s takes at most %u stop sequences", a->kind->name,
               caps->max_stop_sequences);
        return;
    }
    if (g->_max_tokens_case && g->max_tokens == 0) {
        reject(j, GRPC_STATUS_INVALID_ARGUMENT, "invalid_request", "max_tokens must be at least 1");
        return;
    }
    if (pick_model(j, g->model) != 0)
        return;
    eco_engine_msg_t *msgs = g->n_messages ? eco_calloc(g->n_messages, sizeof(*msgs)) : NULL;
    for (size_t i = 0; i < g->n_messages; i++) {
        msgs[i].role = g->messages[i]->role;
        msgs[i].content = g->messages[i]->content;
        j->prompt_bytes += strlen(msgs[i].content ? msgs[i].content : "");
    }
    if (has_prompt)
        j->prompt_bytes = strlen(g->prompt);
    eco_engine_gen_req_t r = {
        .model = j->model,
        .messages = msgs,
        .nmessages = g->n_messages,
        .prompt = has_prompt ? g->prompt : NULL,
        .has_max_tokens = g->_max_tokens_case != 0,
        .max_tokens = g->max_tokens,
        .has_temperature = g->_temperature_case != 0,
        .temperature = g->temperature,
        .has_top_p = g->_top_p_case != 0,
        .top_p = g->top_p,
        .stop = (const char *const *)g->stop,
        .nstop = g->n_stop,
        .has_seed = g->_seed_case != 0,
        .seed = g->seed,
        .has_presence_penalty = g->_presence_penalty_case != 0,
        .presence_penalty = g->presence_penalty,
        .has_frequency_penalty = g->_frequency_penalty_case != 0,
        .frequency_penalty = g->frequency_penalty,
        .stream = kind == JOB_STREAM,
        .default_max_tokens = (uint32_t)a->cfg.default_max_tokens,
        .request_id = g->request_id,
    };
    eco_engine_error_t e;
    int rc = eco_engine_build_generate(a->kind, &r, &j->http, &e);
    free(msgs);
    if (rc != 0) {
        job_fail(j, &e);
        return;
    }
    job_set_request_id(j, g->request_id);
    collect_forward(j);
    j->up = a->up;
    j->max_tokens = r.has_max_tokens ? r.max_tokens : a->kind->id == ECO_ENGINE_TRITON ? r.default_max_tokens : 0;
    job_submit(j);
}

static void h_generate(eco_rpc_call_t *call, const ProtobufCMessage *req, void *data)
{
    generate(call, req, data, JOB_GENERATE);
}

static void h_stream(eco_rpc_call_t *call, const ProtobufCMessage *req, void *data)
{
    generate(call, req, data, JOB_STREAM);
}

static void h_embed(eco_rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    adapter_t *a = data;
    const Eco__Ai__V1__EmbeddingRequest *er = (const Eco__Ai__V1__EmbeddingRequest *)msg;
    job_t *j = job_new(a, JOB_EMBED, call, msg);
    if (er->n_input == 0) {
        reject(j, GRPC_STATUS_INVALID_ARGUMENT, "invalid_request", "give at least one input");
        return;
    }
    int tei = a->tei != NULL;
    if (!tei && !a->kind->caps.embeddings) {
        if (a->kind->id == ECO_ENGINE_TGI)
            reject(j, GRPC_STATUS_UNIMPLEMENTED, "unimplemented",
                   "tgi serves no embeddings (configure a TEI server: ECO_ENGINE_TEI_URL)");
        else
            reject(j, GRPC_STATUS_UNIMPLEMENTED, "unimplemented", "%s serves no embeddings through this adapter",
                   a->kind->name);
        return;
    }
    if (pick_model(j, er->model) != 0)
        return;
    for (size_t i = 0; i < er->n_input; i++)
        j->prompt_bytes += strlen(er->input[i]);
    eco_engine_embed_req_t r = {.model = j->model,
                                .input = (const char *const *)er->input,
                                .ninput = er->n_input,
                                .dimensions = er->dimensions};
    eco_engine_error_t e;
    if (eco_engine_build_embed(a->kind, tei, &r, &j->http, &e) != 0) {
        job_fail(j, &e);
        return;
    }
    job_set_request_id(j, er->request_id);
    collect_forward(j);
    j->up = tei ? a->tei : a->up;
    job_submit(j);
}

void calls_register(adapter_t *a)
{
    const ProtobufCServiceDescriptor *svc = &eco__ai__v1__inference__descriptor;
    if (eco_rpc_server_add_method(a->rpc, svc, "GenerateCompletion", ECO_RPC_UNARY, h_generate, a) != 0 ||
        eco_rpc_server_add_method(a->rpc, svc, "StreamCompletion", ECO_RPC_SERVER_STREAMING, h_stream, a) != 0 ||
        eco_rpc_server_add_method(a->rpc, svc, "GenerateEmbedding", ECO_RPC_UNARY, h_embed, a) != 0)
        eco_fatal("cannot register the inference methods");
}
