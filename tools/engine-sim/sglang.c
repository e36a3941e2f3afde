/* SGLang native API: /generate (text cumulative in streams unless
 * --incremental-streaming-output), /encode, /health[_generate], /get_model_info,
 * /get_server_info, /get_load, /metrics. Native errors are {"error":{"message":..}}. */
#include "sim.h"

#include <string.h>

typedef struct {
    const char *rid; /* pool copy or NULL */
    int list;        /* "text" was a list: answer a list */
} sg_ctx_t;

static void sg_error(sim_job_t *j, sim_err_t err, int status, const char *msg)
{
    if (!status)
        status = err == SIM_ERR_OVERLOADED || err == SIM_ERR_LOADING ? 503 : err == SIM_ERR_INTERNAL ? 500 : 400;
    if (!msg)
        msg = err == SIM_ERR_OVERLOADED ? "The request queue is full."
              : err == SIM_ERR_LOADING  ? "Server is starting"
                                        : "Bad request";
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco_buf_adds(&b, "{\"error\":{");
    sim_kv_str(&b, "message", msg, (size_t)-1);
    eco_buf_adds(&b, "}}");
    eco_http_send(j->call, status, NULL, b.base, b.len);
    eco_buf_free(&b);
}

/* One response object for sequence s; upto = tokens included; from = first token of a delta. */
static void add_obj(const sim_job_t *j, eco_buf_t *b, size_t s, size_t from, size_t upto, int final)
{
    const sg_ctx_t *c = j->ctx;
    const sim_seq_t *q = &j->seq[s];
    eco_buf_t t;
    eco_buf_init(&t, 0);
    for (size_t i = from; i < upto; i++)
        eco_buf_add(&t, q->g.pieces[i].p, q->g.pieces[i].len);
    eco_buf_adds(b, "{");
    sim_kv_str(b, "text", t.base ? t.base : "", t.len);
    eco_buf_free(&t);
    eco_buf_adds(b, ",\"output_ids\":[");
    for (size_t i = from; i < upto; i++)
        eco_buf_addf(b, "%s%u", i > from ? "," : "", q->g.pieces[i].id);
    eco_buf_adds(b, "],\"meta_info\":{\"id\":");
    if (c->rid)
        eco_buf_add_json_str(b, c->rid, (size_t)-1);
    else
        eco_buf_addf(b, "\"%s\"", j->id);
    eco_buf_adds(b, ",\"finish_reason\":");
    if (!final)
        eco_buf_adds(b, "null");
    else if (q->g.finish_length)
        eco_buf_addf(b, "{\"type\":\"length\",\"length\":%zu}", upto);
    else
        eco_buf_adds(b, "{\"type\":\"stop\",\"matched\":2}");
    eco_buf_addf(b,
                 ",\"prompt_tokens\":%ld,\"completion_tokens\":%zu,\"cached_tokens\":0,\"e2e_latency\":%.6f,"
                 "\"weight_version\":\"default\"}}",
                 q->g.prompt_tokens, upto, sim_elapsed_s(j));
}

static void s_token(sim_job_t *j, size_t i, eco_buf_t *b)
{
    int final = i + 1 == j->seq[0].g.n;
    eco_buf_adds(b, "data: ");
    add_obj(j, b, 0, j->sim->o.incremental ? i : 0, i + 1, final);
    eco_buf_adds(b, "\n\n");
}

static void s_tail(sim_job_t *j, eco_buf_t *b)
{
    if (j->seq[0].g.n == 0) {
        eco_buf_adds(b, "data: ");
        add_obj(j, b, 0, 0, 0, 1);
        eco_buf_adds(b, "\n\n");
    }
    eco_buf_adds(b, "data: [DONE]\n\n");
}

static void s_unary(sim_job_t *j, eco_buf_t *b)
{
    const sg_ctx_t *c = j->ctx;
    if (c->list)
        eco_buf_addc(b, '[');
    for (size_t s = 0; s < j->nseq; s++) {
        if (s)
            eco_buf_addc(b, ',');
        add_obj(j, b, s, 0, j->seq[s].sent, 1);
    }
    if (c->list)
        eco_buf_addc(b, ']');
}

static const sim_proto_t SGLANG = {
    .stream_type = "text/event-stream",
    .token = s_token,
    .tail = s_tail,
    .unary = s_unary,
    .error = sg_error,
};

static int h_generate(eco_http_call_t *call)
{
    sim_t *sim = call->data;
    sim_job_t *j = sim_job_new(sim, call, &SGLANG);
    if (!j)
        return 0;
    json_t *body = sim_job_json(j);
    if (!body)
        return 0;
    sg_ctx_t *c = h2o_mem_alloc_pool(&call->req->pool, sizeof(*c));
    memset(c, 0, sizeof(*c));
    j->ctx = c;
    sim_make_id(j->id, sizeof(j->id), "");
    char err[256];
    int stream = 0;
    const char *rid;
    size_t rlen;
    if (sim_get_bool(body, "stream", &stream, err, sizeof(err)) < 0 ||
        sim_get_str(body, "rid", &rid, &rlen, err, sizeof(err)) < 0) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "%s", err);
        goto out;
    }
    if (json_is_string(json_object_get(body, "rid")))
        c->rid = h2o_strdup(&call->req->pool, rid, rlen).base;
    j->stream = stream;
    json_t *text = json_object_get(body, "text");
    if (!text || json_is_null(text)) {
        sim_job_fail(j, SIM_ERR_INVALID, 400,
                     json_object_get(body, "input_ids") ? "engine-sim does not take input_ids; send text"
                                                        : "Either text, input_ids or input_embeds should be provided.");
        goto out;
    }
    size_t n = 1;
    if (json_is_array(text)) {
        c->list = 1;
        n = json_array_size(text);
    }
    if (n == 0 || n > 64 || (!json_is_string(text) && !json_is_array(text))) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "text must be a string or a list of 1-64 strings");
        goto out;
    }
    if (stream && c->list) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "engine-sim cannot stream a batch of prompts");
        goto out;
    }
    json_t *sp = json_object_get(body, "sampling_params");
    if (sp && !json_is_null(sp) && !json_is_object(sp)) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "sampling_params must be an object");
        goto out;
    }
    long max_new = 128, seed = 0, top_k = -1;
    double temp = 1, top_p = 1, min_p = 0;
    if (sp && json_is_object(sp)) {
        if (sim_get_int(sp, "max_new_tokens", &max_new, err, sizeof(err)) < 0 ||
            sim_get_int(sp, "sampling_seed", &seed, err, sizeof(err)) < 0 ||
            sim_get_int(sp, "top_k", &top_k, err, sizeof(err)) < 0 ||
            sim_get_num(sp, "temperature", &temp, err, sizeof(err)) < 0 ||
            sim_get_num(sp, "top_p", &top_p, err, sizeof(err)) < 0 ||
            sim_get_num(sp, "min_p", &min_p, err, sizeof(err)) < 0) {
            sim_job_fail(j, SIM_ERR_INVALID, 400, "%s", err);
            goto out;
        }
    }
    if (temp < 0) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "temperature must be non-negative, got %g.", temp);
        goto out;
    }
    if (top_p <= 0 || top_p > 1) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "top_p must be in (0, 1], got %g.", top_p);
        goto out;
    }
    if (min_p < 0 || min_p > 1) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "min_p must be in [0, 1], got %g.", min_p);
        goto out;
    }
    if (top_k < -1 || top_k == 0) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "top_k must be -1 (disable), or at least 1, got %ld.", top_k);
        goto out;
    }
    if (max_new < 0) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "max_new_tokens must be at least 0, got %ld.", max_new);
        goto out;
    }
    sim_job_alloc_seqs(j, n);
    for (size_t i = 0; i < n; i++) {
        json_t *t = c->list ? json_array_get(text, i) : text;
        if (!json_is_string(t)) {
            sim_job_fail(j, SIM_ERR_INVALID, 400, "text must be a string or a list of strings");
            goto out;
        }
        long pt = gen_prompt_tokens(json_string_value(t), json_string_length(t));
        if (pt > sim->o.max_model_len) {
            sim_job_fail(j, SIM_ERR_INVALID, 400,
                         "Input length (%ld tokens) exceeds the maximum allowed length (%ld tokens). Use a shorter "
                         "input or enable --allow-auto-truncate.",
                         pt, sim->o.max_model_len);
            goto out;
        }
        sim_job_generate(j, i, json_string_value(t), json_string_length(t), seed, max_new);
    }
    sim_job_submit(j);
out:
    json_decref(body);
    return 0;
}

static const sim_proto_t ENCODE = {.error = sg_error};

static int h_encode(eco_http_call_t *call)
{
    sim_t *sim = call->data;
    sim_job_t *j = sim_job_new(sim, call, &ENCODE);
    if (!j)
        return 0;
    json_t *body = sim_job_json(j);
    if (!body)
        return 0;
    json_t *text = json_object_get(body, "text");
    int list = json_is_array(text);
    size_t n = list ? json_array_size(text) : 1;
    eco_buf_t b;
    eco_buf_init(&b, 0);
    if (!json_is_string(text) && !(list && n > 0 && n <= 2048)) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "text must be a string or a list of strings");
        goto out;
    }
    if (list)
        eco_buf_addc(&b, '[');
    for (size_t i = 0; i < n; i++) {
        json_t *t = list ? json_array_get(text, i) : text;
        if (!json_is_string(t)) {
            sim_job_fail(j, SIM_ERR_INVALID, 400, "text must be a string or a list of strings");
            goto out;
        }
        eco_buf_adds(&b, i ? ",{\"embedding\":" : "{\"embedding\":");
        sim_add_embedding(&b, json_string_value(t), json_string_length(t), (size_t)sim->o.embedding_dim);
        eco_buf_addf(&b, ",\"meta_info\":{\"prompt_tokens\":%ld}}",
                     gen_prompt_tokens(json_string_value(t), json_string_length(t)));
    }
    if (list)
        eco_buf_addc(&b, ']');
    sim_job_reply(j, NULL, b.base, b.len);
out:
    eco_buf_free(&b);
    json_decref(body);
    return 0;
}

static int h_health(eco_http_call_t *call)
{
    sim_send(call, sim_ready(call->data) ? 200 : 503, "text/plain; charset=utf-8", "");
    return 0;
}

static int h_model_info(eco_http_call_t *call)
{
    sim_t *sim = call->data;
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco_buf_adds(&b, "{");
    sim_kv_str(&b, "model_path", sim->o.model, (size_t)-1);
    eco_buf_adds(&b, ",");
    sim_kv_str(&b, "tokenizer_path", sim->o.model, (size_t)-1);
    eco_buf_adds(&b, ",\"is_generation\":true,\"preferred_sampling_params\":null,\"weight_version\":\"default\"}");
    eco_http_send(call, 200, NULL, b.base, b.len);
    eco_buf_free(&b);
    return 0;
}

static int h_server_info(eco_http_call_t *call)
{
    sim_t *sim = call->data;
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco_buf_adds(&b, "{");
    sim_kv_str(&b, "model_path", sim->o.model, (size_t)-1);
    eco_buf_addf(&b,
                 ",\"context_length\":%ld,\"max_running_requests\":%ld,\"max_total_num_tokens\":%ld,"
                 "\"incremental_streaming_output\":%s,\"version\":\"0.5.0\"}",
                 sim->o.max_model_len, sim->o.max_concurrency, sim->o.kv_cache_tokens,
                 sim->o.incremental ? "true" : "false");
    eco_http_send(call, 200, NULL, b.base, b.len);
    eco_buf_free(&b);
    return 0;
}

static int h_get_load(eco_http_call_t *call)
{
    sim_t *sim = call->data;
    char body[160];
    snprintf(body, sizeof(body), "[{\"dp_rank\":0,\"num_reqs\":%ld,\"num_waiting_reqs\":%ld,\"num_tokens\":%ld}]",
             sim->running + sim->waiting, sim->waiting, sim->kv_tokens);
    sim_send(call, 200, NULL, body);
    return 0;
}

void sim_routes_sglang(sim_t *sim)
{
    eco_service_t *svc = sim->svc;
    eco_service_route(svc, "POST", "/generate", h_generate, sim);
    eco_service_route(svc, "PUT", "/generate", h_generate, sim);
    eco_service_route(svc, "POST", "/encode", h_encode, sim);
    eco_service_route(svc, "GET", "/health", h_health, sim);
    eco_service_route(svc, "GET", "/health_generate", h_health, sim);
    eco_service_route(svc, "GET", "/get_model_info", h_model_info, sim);
    eco_service_route(svc, "GET", "/get_server_info", h_server_info, sim);
    eco_service_route(svc, "GET", "/get_load", h_get_load, sim);
    eco_service_route(svc, "GET", "/metrics", sim_h_metrics, sim);
}
