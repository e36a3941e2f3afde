/* Triton Inference Server + TensorRT-LLM ensemble, generate extension:
 * /v2/models/{m}[/versions/{v}]/generate (one JSON object) and .../generate_stream (SSE, one
 * event per token, no [DONE]); readiness answers 400 when not ready; errors {"error":".."}.
 * Top-level keys are input tensors: unknown ones are rejected as Triton does. */
#include "sim.h"

#include <string.h>

static const char *const INPUTS[] = {
    "text_input",
    "max_tokens",
    "bad_words",
    "stop_words",
    "end_id",
    "pad_id",
    "top_k",
    "top_p",
    "temperature",
    "length_penalty",
    "repetition_penalty",
    "min_length",
    "min_tokens",
    "presence_penalty",
    "frequency_penalty",
    "random_seed",
    "seed",
    "return_log_probs",
    "return_context_logits",
    "return_generation_logits",
    "beam_width",
    "stream",
    "prompt_embedding_table",
    "prompt_vocab_size",
    "embedding_bias_words",
    "embedding_bias_weights",
    "num_draft_tokens",
    "use_draft_logits",
    "exclude_input_in_output",
    "id",
    "parameters",
    "lora_task_id",
};

typedef struct {
    const char *prompt; /* pool copy when the prompt is echoed */
    size_t prompt_len;
} tr_ctx_t;

static void tr_error(sim_job_t *j, sim_err_t err, int status, const char *msg)
{
    if (!status)
        status = err == SIM_ERR_LOADING ? 503 : err == SIM_ERR_INTERNAL ? 500 : 400;
    if (!msg)
        msg = err == SIM_ERR_OVERLOADED ? "Exceeds maximum queue size"
              : err == SIM_ERR_LOADING  ? "Request for unknown model: model is not ready"
                                        : "Bad request";
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco_buf_adds(&b, "{");
    sim_kv_str(&b, "error", msg, (size_t)-1);
    eco_buf_adds(&b, "}");
    eco_http_send(j->call, status, NULL, b.base, b.len);
    eco_buf_free(&b);
}

static void add_obj(const sim_job_t *j, eco_buf_t *b, const char *text, size_t len, size_t ntok, int echo)
{
    const tr_ctx_t *c = j->ctx;
    eco_buf_adds(b, "{");
    sim_kv_str(b, "model_name", j->sim->o.model, (size_t)-1);
    eco_buf_adds(b, ",\"model_version\":\"1\",\"text_output\":");
    if (echo && c->prompt) {
        eco_buf_t t;
        eco_buf_init(&t, 0);
        eco_buf_add(&t, c->prompt, c->prompt_len);
        eco_buf_add(&t, text, len);
        eco_buf_add_json_str(b, eco_buf_cstr(&t), t.len);
        eco_buf_free(&t);
    } else {
        eco_buf_add_json_str(b, text, len);
    }
    eco_buf_adds(b, ",\"batch_index\":0,\"context_logits\":0.0,\"cum_log_probs\":0.0,\"generation_logits\":0.0,"
                    "\"output_log_probs\":[");
    for (size_t i = 0; i < ntok; i++)
        eco_buf_adds(b, i ? ",0.0" : "0.0");
    eco_buf_adds(b, "]}");
}

static void s_token(sim_job_t *j, size_t i, eco_buf_t *b)
{
    const gen_piece_t *p = sim_piece(j, 0, i);
    eco_buf_adds(b, "data: ");
    add_obj(j, b, p->p, p->len, 1, i == 0);
    eco_buf_adds(b, "\n\n");
}

static void s_tail(sim_job_t *j, eco_buf_t *b)
{
    if (j->seq[0].g.n)
        return; /* the body simply ends */
    eco_buf_adds(b, "data: ");
    add_obj(j, b, "", 0, 0, 1);
    eco_buf_adds(b, "\n\n");
}

static void s_unary(sim_job_t *j, eco_buf_t *b)
{
    add_obj(j, b, j->seq[0].text, j->seq[0].tlen, j->seq[0].sent, 1);
}

static const sim_proto_t TRITON = {
    .stream_type = "text/event-stream",
    .token = s_token,
    .tail = s_tail,
    .unary = s_unary,
    .error = tr_error,
};

static int known_model(eco_http_call_t *call)
{
    h2o_iovec_t m = eco_http_param(call, "model");
    return sim_model_is(call->data, m.base, m.len);
}

static int generate(eco_http_call_t *call, int stream_ep)
{
    sim_t *sim = call->data;
    sim_job_t *j = sim_job_new(sim, call, &TRITON);
    if (!j)
        return 0;
    h2o_iovec_t m = eco_http_param(call, "model");
    if (!known_model(call)) {
        sim_job_fail(j, SIM_ERR_NOT_FOUND, 400, "Request for unknown model: '%.*s' is not found",
                     (int)(m.len > 200 ? 200 : m.len), m.base);
        return 0;
    }
    json_t *body = sim_job_json(j);
    if (!body)
        return 0;
    tr_ctx_t *c = h2o_mem_alloc_pool(&call->req->pool, sizeof(*c));
    memset(c, 0, sizeof(*c));
    j->ctx = c;
    char err[256];
    const char *key;
    json_t *val;
    json_object_foreach(body, key, val)
    {
        size_t k;
        for (k = 0; k < ECO_ARRAY_SIZE(INPUTS); k++)
            if (strcmp(key, INPUTS[k]) == 0)
                break;
        if (k == ECO_ARRAY_SIZE(INPUTS)) {
            sim_job_fail(j, SIM_ERR_INVALID, 400,
                         "[request id: <id_unknown>] unexpected inference input '%.60s' for "
                         "model '%s'",
                         key, sim->o.model);
            goto out;
        }
    }
    /* Sampling fields may also sit inside "parameters"; top level wins. */
    json_t *params = json_object_get(body, "parameters");
    json_t *src[2] = {body, json_is_object(params) ? params : NULL};
    const char *text;
    size_t tlen;
    long max_tokens = -1, seed = 0;
    int stream = 0, has_max = 0, exclude = 1;
    if (sim_get_str(body, "text_input", &text, &tlen, err, sizeof(err)) != 1) {
        sim_job_fail(j, SIM_ERR_INVALID, 400,
                     "[request id: <id_unknown>] expected 'text_input' (a string) for model '%s'", sim->o.model);
        goto out;
    }
    for (int s = 1; s >= 0; s--) {
        if (!src[s])
            continue;
        int r;
        if ((r = sim_get_int(src[s], "max_tokens", &max_tokens, err, sizeof(err))) < 0 ||
            sim_get_int(src[s], "random_seed", &seed, err, sizeof(err)) < 0 ||
            sim_get_int(src[s], "seed", &seed, err, sizeof(err)) < 0 ||
            sim_get_bool(src[s], "stream", &stream, err, sizeof(err)) < 0 ||
            sim_get_bool(src[s], "exclude_input_in_output", &exclude, err, sizeof(err)) < 0) {
            sim_job_fail(j, SIM_ERR_INVALID, 400, "[request id: <id_unknown>] %s", err);
            goto out;
        }
        has_max |= r == 1;
    }
    if (!has_max) {
        sim_job_fail(j, SIM_ERR_INVALID, 400,
                     "[request id: <id_unknown>] expected 'max_tokens' for model '%s': missing required input",
                     sim->o.model);
        goto out;
    }
    if (max_tokens < 0) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "[request id: <id_unknown>] max_tokens must be >= 0");
        goto out;
    }
    if (stream && !stream_ep) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "generate does not support models with decoupled transaction policy");
        goto out;
    }
    j->stream = stream_ep;
    if (!exclude) {
        c->prompt = h2o_strdup(&call->req->pool, text, tlen).base;
        c->prompt_len = tlen;
    }
    long pt = gen_prompt_tokens(text, tlen);
    if (pt + max_tokens > sim->o.max_model_len) {
        sim_job_fail(j, SIM_ERR_INVALID, 400,
                     "[request id: <id_unknown>] the number of input tokens (%ld) plus max_tokens (%ld) exceeds the "
                     "maximum sequence length (%ld)",
                     pt, max_tokens, sim->o.max_model_len);
        goto out;
    }
    sim_job_alloc_seqs(j, 1);
    sim_job_generate(j, 0, text, tlen, seed, max_tokens);
    sim_job_submit(j);
out:
    json_decref(body);
    return 0;
}

static int h_generate(eco_http_call_t *call)
{
    return generate(call, 0);
}

static int h_generate_stream(eco_http_call_t *call)
{
    return generate(call, 1);
}

static int h_live(eco_http_call_t *call)
{
    sim_send(call, eco_lifecycle_draining() ? 400 : 200, "text/plain", "");
    return 0;
}

static int h_ready(eco_http_call_t *call)
{
    sim_send(call, sim_ready(call->data) ? 200 : 400, "text/plain", "");
    return 0;
}

static int h_model_ready(eco_http_call_t *call)
{
    sim_send(call, known_model(call) && sim_ready(call->data) ? 200 : 400, "text/plain", "");
    return 0;
}

static int h_server_meta(eco_http_call_t *call)
{
    sim_send(call, 200, NULL,
             "{\"name\":\"triton\",\"version\":\"2.59.0\",\"extensions\":[\"classification\",\"sequence\","
             "\"model_repository\",\"schedule_policy\",\"model_configuration\",\"system_shared_memory\","
             "\"statistics\",\"trace\",\"logging\",\"generate\"]}");
    return 0;
}

static int h_model_meta(eco_http_call_t *call)
{
    sim_t *sim = call->data;
    h2o_iovec_t m = eco_http_param(call, "model");
    eco_buf_t b;
    eco_buf_init(&b, 0);
    if (!known_model(call)) {
        eco_buf_adds(&b, "{\"error\":");
        char msg[300];
        snprintf(msg, sizeof(msg), "Request for unknown model: '%.*s' is not found", (int)(m.len > 200 ? 200 : m.len),
                 m.base);
        eco_buf_add_json_str(&b, msg, (size_t)-1);
        eco_buf_adds(&b, "}");
        eco_http_send(call, 400, NULL, b.base, b.len);
    } else {
        eco_buf_adds(&b, "{");
        sim_kv_str(&b, "name", sim->o.model, (size_t)-1);
        eco_buf_adds(&b, ",\"versions\":[\"1\"],\"platform\":\"ensemble\",\"inputs\":["
                         "{\"name\":\"text_input\",\"datatype\":\"BYTES\",\"shape\":[-1]},"
                         "{\"name\":\"max_tokens\",\"datatype\":\"INT32\",\"shape\":[-1]}],\"outputs\":["
                         "{\"name\":\"text_output\",\"datatype\":\"BYTES\",\"shape\":[-1]}]}");
        eco_http_send(call, 200, NULL, b.base, b.len);
    }
    eco_buf_free(&b);
    return 0;
}

void sim_routes_triton(sim_t *sim)
{
    eco_service_t *svc = sim->svc;
    eco_service_route(svc, "POST", "/v2/models/{model}/generate", h_generate, sim);
    eco_service_route(svc, "POST", "/v2/models/{model}/generate_stream", h_generate_stream, sim);
    eco_service_route(svc, "POST", "/v2/models/{model}/versions/{version}/generate", h_generate, sim);
    eco_service_route(svc, "POST", "/v2/models/{model}/versions/{version}/generate_stream", h_generate_stream, sim);
    eco_service_route(svc, "GET", "/v2/health/live", h_live, sim);
    eco_service_route(svc, "GET", "/v2/health/ready", h_ready, sim);
    eco_service_route(svc, "GET", "/v2/models/{model}/ready", h_model_ready, sim);
    eco_service_route(svc, "GET", "/v2/models/{model}/versions/{version}/ready", h_model_ready, sim);
    eco_service_route(svc, "GET", "/v2", h_server_meta, sim);
    eco_service_route(svc, "GET", "/v2/models/{model}", h_model_meta, sim);
    eco_service_route(svc, "GET", "/metrics", sim_h_metrics, sim);
}
