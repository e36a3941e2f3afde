/* OpenAI-compatible /v1/embeddings and /v1/models, per engine. */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

#define MAX_INPUTS 2048
#define MAX_DIM    16384

static const sim_proto_t EMB = {.error = sim_oai_error};

static void add_base64_floats(eco_buf_t *b, const float *v, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)v; /* little-endian float32, as OpenAI sends them */
    size_t len = n * sizeof(float);
    eco_buf_addc(b, '"');
    for (size_t i = 0; i < len; i += 3) {
        unsigned x = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < len ? p[i + 2] : 0);
        char out[4] = {tbl[(x >> 18) & 63], tbl[(x >> 12) & 63], i + 1 < len ? tbl[(x >> 6) & 63] : '=',
                       i + 2 < len ? tbl[x & 63] : '='};
        eco_buf_add(b, out, 4);
    }
    eco_buf_addc(b, '"');
}

/* The text an input stands for: a string, or token ids rendered as decimal words. */
static int input_text(json_t *in, eco_buf_t *out)
{
    if (json_is_string(in)) {
        eco_buf_add(out, json_string_value(in), json_string_length(in));
        return 0;
    }
    if (!json_is_array(in))
        return -1;
    size_t i;
    json_t *t;
    json_array_foreach(in, i, t)
    {
        if (!json_is_integer(t))
            return -1;
        eco_buf_addf(out, "%s%lld", i ? " " : "", (long long)json_integer_value(t));
    }
    return 0;
}

static int h_embeddings(eco_http_call_t *call)
{
    sim_t *sim = call->data;
    sim_job_t *j = sim_job_new(sim, call, &EMB);
    if (!j)
        return 0;
    if (sim->o.kind == SIM_LMDEPLOY) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "Unsupported by turbomind.");
        return 0;
    }
    json_t *body = sim_job_json(j);
    if (!body)
        return 0;
    char err[256];
    const char *model, *fmt = "float";
    size_t mlen;
    long dim = sim->o.embedding_dim;
    int r = sim_get_str(body, "model", &model, &mlen, err, sizeof(err));
    eco_buf_t b, text;
    eco_buf_init(&b, 0);
    eco_buf_init(&text, 0);
    if (r < 0 || sim_get_int(body, "dimensions", &dim, err, sizeof(err)) < 0 ||
        sim_get_str(body, "encoding_format", &fmt, NULL, err, sizeof(err)) < 0) {
        sim_job_fail(j, SIM_ERR_INVALID, 0, "%s", err);
        goto out;
    }
    if (r == 0 && (sim->o.kind == SIM_OPENAI || sim->o.kind == SIM_OLLAMA)) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "you must provide a model parameter");
        goto out;
    }
    if (r == 1 && (sim->o.kind == SIM_VLLM || sim->o.kind == SIM_OPENAI || sim->o.kind == SIM_OLLAMA) &&
        !sim_model_is(sim, model, mlen)) {
        sim_job_fail(j, SIM_ERR_NOT_FOUND, 0, "The model `%.*s` does not exist.", (int)mlen, model);
        goto out;
    }
    if (dim < 1 || dim > MAX_DIM) {
        sim_job_fail(j, SIM_ERR_INVALID, 0, "dimensions must be in 1-%d, got %ld", MAX_DIM, dim);
        goto out;
    }
    int b64 = strcmp(fmt, "base64") == 0;
    if (!b64 && strcmp(fmt, "float") != 0) {
        sim_job_fail(j, SIM_ERR_INVALID, 0, "encoding_format must be \"float\" or \"base64\"");
        goto out;
    }
    json_t *input = json_object_get(body, "input");
    size_t n = 1;
    int list = json_is_array(input) && json_array_size(input) > 0 &&
               (json_is_string(json_array_get(input, 0)) || json_is_array(json_array_get(input, 0)));
    if (list)
        n = json_array_size(input);
    if (!input || (json_is_array(input) && json_array_size(input) == 0) || n > MAX_INPUTS) {
        sim_job_fail(j, SIM_ERR_INVALID, 0, "`input` must be a string, a list of 1-%d strings, or token ids",
                     MAX_INPUTS);
        goto out;
    }
    float *vec = eco_malloc(sizeof(float) * (size_t)dim);
    long tokens = 0;
    if (sim->o.kind == SIM_VLLM) {
        char id[48];
        sim_make_id(id, sizeof(id), "embd-");
        eco_buf_addf(&b, "{\"id\":\"%s\",\"object\":\"list\",\"created\":%ld,\"model\":", id, j->created);
    } else {
        eco_buf_adds(&b, "{\"object\":\"list\",\"model\":");
    }
    eco_buf_add_json_str(&b, sim->o.model, (size_t)-1);
    eco_buf_adds(&b, ",\"data\":[");
    for (size_t i = 0; i < n; i++) {
        eco_buf_reset(&text);
        if (input_text(list ? json_array_get(input, i) : input, &text) != 0) {
            free(vec);
            sim_job_fail(j, SIM_ERR_INVALID, 0, "input[%zu] must be a string or a list of token ids", i);
            goto out;
        }
        tokens += gen_prompt_tokens(text.base ? text.base : "", text.len);
        gen_embed(text.base ? text.base : "", text.len, vec, (size_t)dim);
        eco_buf_addf(&b, "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":", i ? "," : "", i);
        if (b64)
            add_base64_floats(&b, vec, (size_t)dim);
        else
            sim_add_floats(&b, vec, (size_t)dim);
        eco_buf_addc(&b, '}');
    }
    free(vec);
    eco_buf_addf(&b, "],\"usage\":{\"prompt_tokens\":%ld,\"total_tokens\":%ld}}", tokens, tokens);
    sim_job_reply(j, NULL, b.base, b.len);
out:
    eco_buf_free(&b);
    eco_buf_free(&text);
    json_decref(body);
    return 0;
}

static void model_card(sim_t *sim, eco_buf_t *b)
{
    static long created;
    if (!created)
        created = (long)eco_wall_time();
    const char *m = sim->o.model;
    eco_buf_adds(b, "{");
    sim_kv_str(b, "id", m, (size_t)-1);
    eco_buf_adds(b, ",\"object\":\"model\",");
    switch (sim->o.kind) {
    case SIM_VLLM:
    case SIM_LMDEPLOY:
        eco_buf_addf(b, "\"created\":%ld,\"owned_by\":\"%s\",", created, sim->o.kind == SIM_VLLM ? "vllm" : "lmdeploy");
        sim_kv_str(b, "root", m, (size_t)-1);
        eco_buf_addf(b, ",\"parent\":null,\"max_model_len\":%ld,\"permission\":[]}", sim->o.max_model_len);
        return;
    case SIM_TGI:
        eco_buf_adds(b, "\"created\":0,");
        sim_kv_str(b, "owned_by", m, (size_t)-1);
        eco_buf_adds(b, "}");
        return;
    case SIM_SGLANG:
        eco_buf_addf(b, "\"created\":%ld,\"owned_by\":\"sglang\",", created);
        sim_kv_str(b, "root", m, (size_t)-1);
        eco_buf_addf(b, ",\"max_model_len\":%ld}", sim->o.max_model_len);
        return;
    case SIM_LLAMACPP:
        eco_buf_addf(b, "\"created\":%ld,\"owned_by\":\"llamacpp\",\"meta\":", created);
        if (sim_loading_left_ms(sim) > 0)
            eco_buf_adds(b, "null}");
        else
            eco_buf_addf(b,
                         "{\"vocab_type\":2,\"n_vocab\":%d,\"n_ctx_train\":%ld,\"n_embd\":%ld,\"n_params\":1000000,"
                         "\"size\":4000000}}",
                         GEN_VOCAB_SIZE, sim->o.max_model_len, sim->o.embedding_dim);
        return;
    case SIM_OLLAMA:
        eco_buf_addf(b, "\"created\":%ld,\"owned_by\":\"library\"}", created);
        return;
    case SIM_TRTLLM:
        eco_buf_addf(b, "\"created\":%ld,\"owned_by\":\"tensorrt_llm\"}", created);
        return;
    case SIM_MII:
        eco_buf_addf(b, "\"created\":%ld,\"owned_by\":\"deepspeed-mii\"}", created);
        return;
    default:
        eco_buf_addf(b, "\"created\":%ld,\"owned_by\":\"engine-sim\"}", created);
        return;
    }
}

static int h_models(eco_http_call_t *call)
{
    sim_t *sim = call->data;
    /* llama.cpp answers the model list while loading (meta null); the others only once loaded. */
    eco_buf_t b;
    eco_buf_init(&b, 0);
    if (sim_loading_left_ms(sim) > 0 && sim->o.kind != SIM_LLAMACPP && sim->o.kind != SIM_OLLAMA) {
        sim_oai_error_body(sim->o.kind, &b, 503, NULL, "The model is loading; the engine is not ready.");
        eco_http_send(call, 503, NULL, b.base, b.len);
        eco_buf_free(&b);
        return 0;
    }
    eco_buf_adds(&b, "{\"object\":\"list\",\"data\":[");
    model_card(sim, &b);
    eco_buf_adds(&b, "]}");
    eco_http_send(call, 200, NULL, b.base, b.len);
    eco_buf_free(&b);
    return 0;
}

static int h_model_one(eco_http_call_t *call)
{
    sim_t *sim = call->data;
    h2o_iovec_t m = eco_http_param(call, "model");
    eco_buf_t b;
    eco_buf_init(&b, 0);
    if (!sim_model_is(sim, m.base, m.len)) {
        char msg[300];
        snprintf(msg, sizeof(msg), "model \"%.*s\" not found", (int)(m.len > 200 ? 200 : m.len), m.base);
        sim_oai_error_body(sim->o.kind, &b, 404, NULL, msg);
        eco_http_send(call, 404, NULL, b.base, b.len);
    } else {
        model_card(sim, &b);
        eco_http_send(call, 200, NULL, b.base, b.len);
    }
    eco_buf_free(&b);
    return 0;
}

void sim_oai_embeddings_routes(sim_t *sim)
{
    eco_service_t *svc = sim->svc;
    sim_kind_t k = sim->o.kind;
    if (k == SIM_VLLM || k == SIM_OPENAI || k == SIM_SGLANG || k == SIM_LLAMACPP || k == SIM_OLLAMA ||
        k == SIM_LMDEPLOY)
        eco_service_route(svc, "POST", "/v1/embeddings", h_embeddings, sim);
    eco_service_route(svc, "GET", "/v1/models", h_models, sim);
    if (k == SIM_LLAMACPP)
        eco_service_route(svc, "GET", "/models", h_models, sim);
    if (k == SIM_OLLAMA)
        eco_service_route(svc, "GET", "/v1/models/{model}", h_model_one, sim);
}
