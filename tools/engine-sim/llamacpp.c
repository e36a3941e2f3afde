/* llama.cpp llama-server native routes: /completion (alias /completions; SSE without [DONE],
 * the last event has "stop":true), /embedding(s), /tokenize, /health (503 while loading),
 * /props, /slots, /metrics. Errors: {"error":{"code","message","type"}}. */
#include "sim.h"

#include <string.h>

typedef struct {
    long n_predict;
    long seed;
    double temperature;
} lc_ctx_t;

static void add_settings(const sim_job_t *j, eco_buf_t *b)
{
    const lc_ctx_t *c = j->ctx;
    eco_buf_addf(b, "\"generation_settings\":{\"n_predict\":%ld,\"seed\":%ld,\"temperature\":", c->n_predict, c->seed);
    eco_buf_add_json_double(b, c->temperature);
    eco_buf_addf(b, ",\"top_k\":40,\"top_p\":0.95,\"min_p\":0.05,\"n_ctx\":%ld}", j->sim->o.max_model_len);
}

static void add_timings(const sim_job_t *j, eco_buf_t *b)
{
    double total_ms = sim_elapsed_s(j) * 1000.0;
    long n = sim_completion_tokens(j, 0);
    eco_buf_addf(b,
                 "\"timings\":{\"prompt_n\":%ld,\"prompt_ms\":%.3f,\"prompt_per_token_ms\":0.0,"
                 "\"prompt_per_second\":0.0,\"predicted_n\":%ld,\"predicted_ms\":%.3f,\"predicted_per_token_ms\":%.3f,"
                 "\"predicted_per_second\":%.3f}",
                 j->seq[0].g.prompt_tokens, (double)j->ttft_ms, n, total_ms, n ? total_ms / (double)n : 0.0,
                 total_ms > 0 ? (double)n * 1000.0 / total_ms : 0.0);
}

/* The final object: full content (unary) or empty content (the stream's last event). */
static void add_final(const sim_job_t *j, eco_buf_t *b, const char *content, size_t len)
{
    const sim_seq_t *q = &j->seq[0];
    eco_buf_adds(b, "{\"index\":0,");
    sim_kv_str(b, "content", content, len);
    eco_buf_adds(b, ",\"tokens\":[],\"id_slot\":0,\"stop\":true,");
    sim_kv_str(b, "model", j->sim->o.model, (size_t)-1);
    eco_buf_addf(b, ",\"tokens_predicted\":%zu,\"tokens_evaluated\":%ld,", q->sent, q->g.prompt_tokens);
    add_settings(j, b);
    eco_buf_addf(b,
                 ",\"has_new_line\":false,\"truncated\":false,\"stop_type\":\"%s\",\"stopping_word\":\"\","
                 "\"tokens_cached\":%ld,",
                 sim_finish(j, 0, "eos", "limit"), q->g.prompt_tokens + (long)q->sent);
    add_timings(j, b);
    eco_buf_addc(b, '}');
}

static void s_token(sim_job_t *j, size_t i, eco_buf_t *b)
{
    const gen_piece_t *p = sim_piece(j, 0, i);
    eco_buf_adds(b, "data: {\"index\":0,");
    sim_kv_str(b, "content", p->p, p->len);
    eco_buf_addf(b,
                 ",\"tokens\":[],\"stop\":false,\"id_slot\":-1,\"tokens_predicted\":%zu,\"tokens_evaluated\":%ld}\n\n",
                 i + 1, j->seq[0].g.prompt_tokens);
}

static void s_tail(sim_job_t *j, eco_buf_t *b)
{
    eco_buf_adds(b, "data: ");
    add_final(j, b, "", 0);
    eco_buf_adds(b, "\n\n");
}

static void s_unary(sim_job_t *j, eco_buf_t *b)
{
    add_final(j, b, j->seq[0].text, j->seq[0].tlen);
}

static const sim_proto_t LLAMACPP = {
    .stream_type = "text/event-stream",
    .token = s_token,
    .tail = s_tail,
    .unary = s_unary,
    .error = sim_oai_error,
};

static int h_completion(eco_http_call_t *call)
{
    sim_t *sim = call->data;
    sim_job_t *j = sim_job_new(sim, call, &LLAMACPP);
    if (!j)
        return 0;
    json_t *body = sim_job_json(j);
    if (!body)
        return 0;
    lc_ctx_t *c = h2o_mem_alloc_pool(&call->req->pool, sizeof(*c));
    c->n_predict = -1;
    c->seed = -1;
    c->temperature = 0.8;
    j->ctx = c;
    char err[256];
    const char *prompt;
    size_t plen;
    int stream = 0, r;
    if ((r = sim_get_str(body, "prompt", &prompt, &plen, err, sizeof(err))) != 1) {
        sim_job_fail(j, SIM_ERR_INVALID, 400,
                     r < 0 || json_object_get(body, "prompt") ? "engine-sim: \"prompt\" must be a string"
                                                              : "\"prompt\" must be provided");
        goto out;
    }
    if (sim_get_int(body, "n_predict", &c->n_predict, err, sizeof(err)) < 0 ||
        sim_get_int(body, "max_tokens", &c->n_predict, err, sizeof(err)) < 0 ||
        sim_get_int(body, "seed", &c->seed, err, sizeof(err)) < 0 ||
        sim_get_num(body, "temperature", &c->temperature, err, sizeof(err)) < 0 ||
        sim_get_bool(body, "stream", &stream, err, sizeof(err)) < 0) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "%s", err);
        goto out;
    }
    j->stream = stream;
    long n_predict = c->n_predict < 0 ? -1 : c->n_predict;
    if (sim_check_context(j, gen_prompt_tokens(prompt, plen), 0) != 0)
        goto out;
    sim_job_alloc_seqs(j, 1);
    sim_job_generate(j, 0, prompt, plen, c->seed < 0 ? 0 : c->seed, n_predict);
    sim_job_submit(j);
out:
    json_decref(body);
    return 0;
}

static const sim_proto_t EMBED = {.error = sim_oai_error};

static int h_embedding(eco_http_call_t *call)
{
    sim_t *sim = call->data;
    sim_job_t *j = sim_job_new(sim, call, &EMBED);
    if (!j)
        return 0;
    json_t *body = sim_job_json(j);
    if (!body)
        return 0;
    json_t *in = json_object_get(body, "content");
    if (!in)
        in = json_object_get(body, "input");
    int list = json_is_array(in);
    size_t n = list ? json_array_size(in) : 1;
    eco_buf_t b;
    eco_buf_init(&b, 0);
    if ((!list && !json_is_string(in)) || n == 0 || n > 2048) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "\"content\" must be a string or a list of strings");
        goto out;
    }
    eco_buf_addc(&b, '[');
    for (size_t i = 0; i < n; i++) {
        json_t *s = list ? json_array_get(in, i) : in;
        if (!json_is_string(s)) {
            sim_job_fail(j, SIM_ERR_INVALID, 400, "\"content\" must be a string or a list of strings");
            goto out;
        }
        /* Pooled models answer one vector per input, nested as [[...]]. */
        eco_buf_addf(&b, "%s{\"index\":%zu,\"embedding\":[", i ? "," : "", i);
        sim_add_embedding(&b, json_string_value(s), json_string_length(s), (size_t)sim->o.embedding_dim);
        eco_buf_adds(&b, "]}");
    }
    eco_buf_addc(&b, ']');
    sim_job_reply(j, NULL, b.base, b.len);
out:
    eco_buf_free(&b);
    json_decref(body);
    return 0;
}

static int send_loading(eco_http_call_t *call)
{
    sim_send(call, 503, NULL,
             "{\"error\":{\"code\":503,\"message\":\"Loading model\",\"type\":\"unavailable_error\"}}");
    return 0;
}

static int h_health(eco_http_call_t *call)
{
    if (!sim_ready(call->data))
        return send_loading(call);
    sim_send(call, 200, NULL, "{\"status\":\"ok\"}");
    return 0;
}

static int h_props(eco_http_call_t *call)
{
    sim_t *sim = call->data;
    if (sim_loading_left_ms(sim) > 0)
        return send_loading(call);
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco_buf_addf(&b,
                 "{\"default_generation_settings\":{\"n_ctx\":%ld,\"params\":{\"n_predict\":-1,\"seed\":-1}},"
                 "\"total_slots\":%ld,\"model_path\":",
                 sim->o.max_model_len, sim->o.max_concurrency ? sim->o.max_concurrency : 1);
    eco_buf_add_json_str(&b, sim->o.model, (size_t)-1);
    eco_buf_adds(&b, ",\"build_info\":\"b6000-engine-sim\",\"is_sleeping\":false,\"chat_template\":\"\"}");
    eco_http_send(call, 200, NULL, b.base, b.len);
    eco_buf_free(&b);
    return 0;
}

static int h_slots(eco_http_call_t *call)
{
    sim_t *sim = call->data;
    if (sim_loading_left_ms(sim) > 0)
        return send_loading(call);
    long total = sim->o.max_concurrency ? sim->o.max_concurrency : 1;
    h2o_req_t *req = call->req;
    int fail_on_no_slot =
        req->query_at != SIZE_MAX && h2o_strstr(req->path.base + req->query_at, req->path.len - req->query_at,
                                                H2O_STRLIT("fail_on_no_slot=1")) != SIZE_MAX;
    if (fail_on_no_slot && sim->o.max_concurrency && sim->running >= sim->o.max_concurrency) {
        sim_send(call, 503, NULL,
                 "{\"error\":{\"code\":503,\"message\":\"no slot available\",\"type\":\"unavailable_error\"}}");
        return 0;
    }
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco_buf_addc(&b, '[');
    for (long i = 0; i < total && i < 64; i++)
        eco_buf_addf(&b, "%s{\"id\":%ld,\"n_ctx\":%ld,\"is_processing\":%s}", i ? "," : "", i, sim->o.max_model_len,
                     i < sim->running ? "true" : "false");
    eco_buf_addc(&b, ']');
    eco_http_send(call, 200, NULL, b.base, b.len);
    eco_buf_free(&b);
    return 0;
}

static int h_tokenize(eco_http_call_t *call)
{
    char err[256];
    json_t *body = eco_http_json_parse(call->req->entity.base, call->req->entity.len, err, sizeof(err));
    const char *s;
    size_t n;
    if (!body || sim_get_str(body, "content", &s, &n, err, sizeof(err)) != 1) {
        sim_send(call, 400, NULL,
                 "{\"error\":{\"code\":400,\"message\":\"\\\"content\\\" must be a "
                 "string\",\"type\":\"invalid_request_error\"}}");
        json_decref(body);
        return 0;
    }
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco_buf_adds(&b, "{\"tokens\":[");
    size_t i = 0, k = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r'))
            i++;
        size_t st = i;
        while (i < n && !(s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r'))
            i++;
        if (i > st)
            eco_buf_addf(&b, "%s%u", k++ ? "," : "", (unsigned)(gen_fnv1a(s + st, i - st, GEN_FNV_OFFSET) % 32000));
    }
    eco_buf_adds(&b, "]}");
    eco_http_send(call, 200, NULL, b.base, b.len);
    eco_buf_free(&b);
    json_decref(body);
    return 0;
}

void sim_routes_llamacpp(sim_t *sim)
{
    eco_service_t *svc = sim->svc;
    eco_service_route(svc, "POST", "/completion", h_completion, sim);
    eco_service_route(svc, "POST", "/completions", h_completion, sim);
    eco_service_route(svc, "POST", "/embedding", h_embedding, sim);
    eco_service_route(svc, "POST", "/embeddings", h_embedding, sim);
    eco_service_route(svc, "POST", "/tokenize", h_tokenize, sim);
    eco_service_route(svc, "GET", "/health", h_health, sim);
    eco_service_route(svc, "GET", "/v1/health", h_health, sim);
    eco_service_route(svc, "GET", "/props", h_props, sim);
    eco_service_route(svc, "GET", "/slots", h_slots, sim);
    eco_service_route(svc, "GET", "/metrics", sim_h_metrics, sim);
}
