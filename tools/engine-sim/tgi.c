/* Hugging Face TGI native API: /generate, /generate_stream, / (compat), /info, /health,
 * /tokenize, /metrics. SSE uses "data:" without a space, keep-alive comments, no [DONE];
 * once a stream has started, validation and overload errors arrive as events of a 200. */
#include "sim.h"

#include <string.h>

typedef struct {
    int details;
    int compat_list;         /* POST / non-streaming answers [response] */
    const char *full_prefix; /* return_full_text: the inputs (pool copy) */
    size_t full_len;
    int has_seed;
    long seed;
} tgi_ctx_t;

static void tgi_error(sim_job_t *j, sim_err_t err, int status, const char *msg)
{
    const char *type = err == SIM_ERR_OVERLOADED ? "overloaded"
                       : err == SIM_ERR_LOADING  ? "healthcheck"
                       : err == SIM_ERR_INTERNAL ? "generation"
                       : err == SIM_ERR_FAULT    ? (status == 429   ? "overloaded"
                                                    : status >= 500 ? "generation"
                                                                    : "validation")
                                                 : "validation";
    if (!status)
        status = err == SIM_ERR_OVERLOADED ? 429 : err == SIM_ERR_LOADING ? 503 : err == SIM_ERR_INTERNAL ? 500 : 422;
    if (!msg)
        msg = err == SIM_ERR_OVERLOADED ? "Model is overloaded"
              : err == SIM_ERR_LOADING  ? "unhealthy"
                                        : "Input validation error";
    eco_buf_t b;
    eco_buf_init(&b, 0);
    if (j->stream && (err == SIM_ERR_OVERLOADED || err == SIM_ERR_INVALID)) {
        eco_buf_adds(&b, "data:");
        sim_oai_error_body(SIM_TGI, &b, status, type, msg);
        eco_buf_adds(&b, "\n\n");
        eco_sse_t *w = eco_http_stream_start(j->call, "text/event-stream", 0, 0, NULL, NULL);
        eco_sse_raw(w, b.base, b.len);
        eco_sse_end(w);
    } else {
        sim_oai_error_body(SIM_TGI, &b, status, type, msg);
        eco_http_send(j->call, status, NULL, b.base, b.len);
    }
    eco_buf_free(&b);
}

static void add_token(eco_buf_t *b, const gen_piece_t *p)
{
    eco_buf_addf(b, "{\"id\":%u,", p->id);
    sim_kv_str(b, "text", p->p, p->len);
    eco_buf_adds(b, ",\"logprob\":-0.1,\"special\":false}");
}

static void add_generated_text(const sim_job_t *j, eco_buf_t *b)
{
    const tgi_ctx_t *c = j->ctx;
    if (!c->full_prefix) {
        eco_buf_add_json_str(b, j->seq[0].text, j->seq[0].tlen);
        return;
    }
    eco_buf_t t;
    eco_buf_init(&t, 0);
    eco_buf_add(&t, c->full_prefix, c->full_len);
    eco_buf_add(&t, j->seq[0].text, j->seq[0].tlen);
    eco_buf_add_json_str(b, eco_buf_cstr(&t), t.len);
    eco_buf_free(&t);
}

static const char *finish(const sim_job_t *j)
{
    return sim_finish(j, 0, "eos_token", "length");
}

static void add_seed(const sim_job_t *j, eco_buf_t *b)
{
    const tgi_ctx_t *c = j->ctx;
    if (c->has_seed)
        eco_buf_addf(b, "\"seed\":%ld", c->seed);
    else
        eco_buf_adds(b, "\"seed\":null");
}

static void s_token(sim_job_t *j, size_t i, eco_buf_t *b)
{
    const tgi_ctx_t *c = j->ctx;
    int last = i + 1 == j->seq[0].g.n;
    eco_buf_addf(b, "data:{\"index\":%zu,\"token\":", i + 1);
    add_token(b, sim_piece(j, 0, i));
    if (!last) {
        eco_buf_adds(b, ",\"generated_text\":null,\"details\":null}\n\n");
        return;
    }
    eco_buf_adds(b, ",\"generated_text\":");
    add_generated_text(j, b);
    if (c->details) {
        eco_buf_addf(b, ",\"details\":{\"finish_reason\":\"%s\",\"generated_tokens\":%ld,", finish(j),
                     sim_completion_tokens(j, 0));
        add_seed(j, b);
        eco_buf_addf(b, ",\"input_length\":%ld}}\n\n", j->seq[0].g.prompt_tokens);
    } else {
        eco_buf_adds(b, ",\"details\":null}\n\n");
    }
}

static void s_tail(sim_job_t *j, eco_buf_t *b)
{
    /* The last token's event carries the end; only an empty answer needs its own. */
    if (j->seq[0].g.n)
        return;
    const tgi_ctx_t *c = j->ctx;
    eco_buf_adds(b, "data:{\"index\":1,\"token\":{\"id\":0,\"text\":\"\",\"logprob\":0.0,\"special\":true},"
                    "\"generated_text\":");
    add_generated_text(j, b);
    if (c->details) {
        eco_buf_addf(b, ",\"details\":{\"finish_reason\":\"%s\",\"generated_tokens\":0,", finish(j));
        add_seed(j, b);
        eco_buf_addf(b, ",\"input_length\":%ld}}\n\n", j->seq[0].g.prompt_tokens);
    } else {
        eco_buf_adds(b, ",\"details\":null}\n\n");
    }
}

static void s_unary(sim_job_t *j, eco_buf_t *b)
{
    const tgi_ctx_t *c = j->ctx;
    if (c->compat_list)
        eco_buf_addc(b, '[');
    eco_buf_adds(b, "{\"generated_text\":");
    add_generated_text(j, b);
    if (c->details) {
        eco_buf_addf(b, ",\"details\":{\"finish_reason\":\"%s\",\"generated_tokens\":%ld,", finish(j),
                     sim_completion_tokens(j, 0));
        add_seed(j, b);
        eco_buf_adds(b, ",\"prefill\":[],\"tokens\":[");
        for (size_t i = 0; i < j->seq[0].sent; i++) {
            if (i)
                eco_buf_addc(b, ',');
            add_token(b, sim_piece(j, 0, i));
        }
        eco_buf_adds(b, "]}");
    }
    eco_buf_addc(b, '}');
    if (c->compat_list)
        eco_buf_addc(b, ']');
}

static void s_headers(sim_job_t *j)
{
    char v[32];
    eco_http_add_header(j->call, "x-compute-type", "1-engine-sim");
    if (j->stream) {
        eco_http_add_header(j->call, "x-accel-buffering", "no");
        return;
    }
    long total_ms = (long)(sim_elapsed_s(j) * 1000.0);
    long queue_ms = (long)((j->t_start_ns - j->t_arrive_ns) / 1000000u);
    long n = sim_completion_tokens(j, 0);
    snprintf(v, sizeof(v), "%.6f", sim_elapsed_s(j));
    eco_http_add_header(j->call, "x-compute-time", v);
    snprintf(v, sizeof(v), "%ld", total_ms);
    eco_http_add_header(j->call, "x-total-time", v);
    eco_http_add_header(j->call, "x-validation-time", "0");
    snprintf(v, sizeof(v), "%ld", queue_ms);
    eco_http_add_header(j->call, "x-queue-time", v);
    snprintf(v, sizeof(v), "%ld", total_ms - queue_ms);
    eco_http_add_header(j->call, "x-inference-time", v);
    snprintf(v, sizeof(v), "%ld", n ? (total_ms - queue_ms) / n : 0);
    eco_http_add_header(j->call, "x-time-per-token", v);
    snprintf(v, sizeof(v), "%ld", j->seq[0].g.prompt_tokens);
    eco_http_add_header(j->call, "x-prompt-tokens", v);
    snprintf(v, sizeof(v), "%ld", n);
    eco_http_add_header(j->call, "x-generated-tokens", v);
}

static const sim_proto_t TGI = {
    .stream_type = "text/event-stream",
    .headers = s_headers,
    .token = s_token,
    .tail = s_tail,
    .unary = s_unary,
    .error = tgi_error,
};

/* Type errors are the JSON extractor's 422s; range errors are TGI's validation messages. */
#define DESER(...)                                                                                                     \
    do {                                                                                                               \
        sim_job_fail(j, SIM_ERR_INVALID, 422,                                                                          \
                     "Failed to deserialize the JSON body into the target type: " __VA_ARGS__);                        \
        goto out;                                                                                                      \
    } while (0)
#define INVALID(...)                                                                                                   \
    do {                                                                                                               \
        sim_job_fail(j, SIM_ERR_INVALID, 422, "Input validation error: " __VA_ARGS__);                                 \
        goto out;                                                                                                      \
    } while (0)

static int generate(eco_http_call_t *call, int mode /* 0 /generate, 1 /generate_stream, 2 / */)
{
    sim_t *sim = call->data;
    sim_job_t *j = sim_job_new(sim, call, &TGI);
    if (!j)
        return 0;
    json_t *body = sim_job_json(j);
    if (!body)
        return 0;
    tgi_ctx_t *c = h2o_mem_alloc_pool(&call->req->pool, sizeof(*c));
    memset(c, 0, sizeof(*c));
    j->ctx = c;
    char err[256];
    const char *inputs;
    size_t ilen;
    int stream = mode == 1;
    if (sim_get_str(body, "inputs", &inputs, &ilen, err, sizeof(err)) != 1)
        DESER("missing field `inputs` or not a string");
    if (mode == 2 && sim_get_bool(body, "stream", &stream, err, sizeof(err)) < 0)
        DESER("stream: %s", err);
    json_t *params = json_object_get(body, "parameters");
    if (params && !json_is_null(params) && !json_is_object(params))
        DESER("parameters: invalid type, expected struct GenerateParameters");
    if (!params || json_is_null(params))
        params = json_object();
    else
        json_incref(params);
    long max_new = -1, top_k = 0, best_of = 1, top_n = 0, seed = 0;
    double temp = 1, top_p = 0.5, typical = 0.5, rep = 1, freq = 0;
    int has_temp, has_top_p, has_typical, has_rep, has_freq, has_top_k, has_max, has_best, has_top_n, dec = 0;
    int full = 0;
    if ((has_max = sim_get_int(params, "max_new_tokens", &max_new, err, sizeof(err))) < 0 ||
        (has_top_k = sim_get_int(params, "top_k", &top_k, err, sizeof(err))) < 0 ||
        (has_best = sim_get_int(params, "best_of", &best_of, err, sizeof(err))) < 0 ||
        (has_top_n = sim_get_int(params, "top_n_tokens", &top_n, err, sizeof(err))) < 0 ||
        (c->has_seed = sim_get_int(params, "seed", &seed, err, sizeof(err))) < 0 ||
        (has_temp = sim_get_num(params, "temperature", &temp, err, sizeof(err))) < 0 ||
        (has_top_p = sim_get_num(params, "top_p", &top_p, err, sizeof(err))) < 0 ||
        (has_typical = sim_get_num(params, "typical_p", &typical, err, sizeof(err))) < 0 ||
        (has_rep = sim_get_num(params, "repetition_penalty", &rep, err, sizeof(err))) < 0 ||
        (has_freq = sim_get_num(params, "frequency_penalty", &freq, err, sizeof(err))) < 0 ||
        sim_get_bool(params, "details", &c->details, err, sizeof(err)) < 0 ||
        sim_get_bool(params, "decoder_input_details", &dec, err, sizeof(err)) < 0 ||
        sim_get_bool(params, "return_full_text", &full, err, sizeof(err)) < 0) {
        json_decref(params);
        DESER("parameters: %s", err);
    }
    json_t *stop = json_object_get(params, "stop");
    size_t nstop = 0;
    if (stop && !json_is_null(stop)) {
        size_t i;
        json_t *s;
        int ok = json_is_array(stop);
        if (ok)
            json_array_foreach(stop, i, s) ok &= json_is_string(s);
        nstop = ok ? json_array_size(stop) : 0;
        if (!ok) {
            json_decref(params);
            DESER("parameters.stop: invalid type, expected a sequence of strings");
        }
    }
    json_decref(params);
    c->seed = seed;
    c->details = c->details || dec;
    j->stream = stream; /* from here on, a streaming request reports errors as events */
    c->compat_list = mode == 2 && !stream;
    if (ilen == 0)
        INVALID("`inputs` cannot be empty");
    if (has_temp == 1 && temp <= 0)
        INVALID("`temperature` must be strictly positive");
    if (has_rep == 1 && rep <= 0)
        INVALID("`repetition_penalty` must be strictly positive");
    if (has_freq == 1 && (freq < -2 || freq > 2))
        INVALID("`frequency_penalty` must be >= -2.0 and <= 2.0");
    if (has_top_p == 1 && (top_p <= 0 || top_p >= 1))
        INVALID("`top_p` must be > 0.0 and < 1.0");
    if (has_typical == 1 && (typical <= 0 || typical >= 1))
        INVALID("`typical_p` must be > 0.0 and < 1.0");
    if (has_top_k == 1 && top_k <= 0)
        INVALID("`top_k` must be strictly positive");
    if (has_max == 1 && max_new <= 0)
        INVALID("`max_new_tokens` must be strictly positive");
    if (nstop > 4)
        INVALID("`stop` supports up to 4 stop sequences. Given: %zu", nstop);
    if (has_best == 1 && (best_of <= 0 || best_of > 2))
        INVALID("`best_of` must be > 0 and <= 2. Given: %ld", best_of);
    if (stream && has_best == 1 && best_of != 1)
        INVALID("`best_of` != 1 is not allowed for this endpoint");
    if (stream && dec)
        INVALID("`decoder_input_details` == true is not supported when streaming tokens");
    if (has_top_n == 1 && (top_n < 0 || top_n > 5))
        INVALID("`top_n_tokens` must be >= 0 and <= 5. Given: %ld", top_n);
    long pt = gen_prompt_tokens(inputs, ilen);
    long limit = sim->o.max_model_len;
    if (pt >= limit)
        INVALID("`inputs` must have less than %ld tokens. Given: %ld", limit, pt);
    if (has_max == 1 && pt + max_new > limit)
        INVALID("`inputs` tokens + `max_new_tokens` must be <= %ld. Given: %ld `inputs` tokens and %ld "
                "`max_new_tokens`",
                limit, pt, max_new);
    if (full) {
        c->full_prefix = h2o_strdup(&call->req->pool, inputs, ilen).base;
        c->full_len = ilen;
    }
    sim_job_alloc_seqs(j, 1);
    sim_job_generate(j, 0, inputs, ilen, seed, has_max == 1 ? max_new : -1);
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

static int h_compat(eco_http_call_t *call)
{
    return generate(call, 2);
}

static int h_info(eco_http_call_t *call)
{
    sim_t *sim = call->data;
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco_buf_adds(&b, "{");
    sim_kv_str(&b, "model_id", sim->o.model, (size_t)-1);
    eco_buf_addf(&b,
                 ",\"model_sha\":null,\"model_pipeline_tag\":\"text-generation\",\"max_concurrent_requests\":%ld,"
                 "\"max_best_of\":2,\"max_stop_sequences\":4,\"max_input_tokens\":%ld,\"max_total_tokens\":%ld,"
                 "\"validation_workers\":2,\"max_client_batch_size\":4,\"router\":\"text-generation-router\","
                 "\"version\":\"3.3.6-dev0\",\"sha\":null,\"docker_label\":null}",
                 sim->o.max_concurrency ? sim->o.max_concurrency + sim->o.queue_size : 128, sim->o.max_model_len - 1,
                 sim->o.max_model_len);
    eco_http_send(call, 200, NULL, b.base, b.len);
    eco_buf_free(&b);
    return 0;
}

static int h_health(eco_http_call_t *call)
{
    if (sim_ready(call->data))
        sim_send(call, 200, "text/plain; charset=utf-8", "");
    else
        sim_send(call, 503, NULL, "{\"error\":\"unhealthy\",\"error_type\":\"healthcheck\"}");
    return 0;
}

static int h_tokenize(eco_http_call_t *call)
{
    char err[256];
    json_t *body = eco_http_json_parse(call->req->entity.base, call->req->entity.len, err, sizeof(err));
    const char *in;
    size_t len;
    if (!body || sim_get_str(body, "inputs", &in, &len, err, sizeof(err)) != 1) {
        eco_buf_t e;
        eco_buf_init(&e, 0);
        sim_oai_error_body(SIM_TGI, &e, 422, "validation", body ? "`inputs` must be a string" : err);
        eco_http_send(call, 422, NULL, e.base, e.len);
        eco_buf_free(&e);
        json_decref(body);
        return 0;
    }
    /* One "token" per whitespace-separated word, with its byte offsets. */
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco_buf_addc(&b, '[');
    size_t i = 0, n = 0;
    while (i < len) {
        while (i < len && (in[i] == ' ' || in[i] == '\n' || in[i] == '\t' || in[i] == '\r'))
            i++;
        size_t s = i;
        while (i < len && !(in[i] == ' ' || in[i] == '\n' || in[i] == '\t' || in[i] == '\r'))
            i++;
        if (i == s)
            break;
        eco_buf_addf(&b, "%s{\"id\":%u,", n++ ? "," : "", (unsigned)(gen_fnv1a(in + s, i - s, GEN_FNV_OFFSET) % 32000));
        sim_kv_str(&b, "text", in + s, i - s);
        eco_buf_addf(&b, ",\"start\":%zu,\"stop\":%zu}", s, i);
    }
    eco_buf_addc(&b, ']');
    eco_http_send(call, 200, NULL, b.base, b.len);
    eco_buf_free(&b);
    json_decref(body);
    return 0;
}

void sim_routes_tgi(sim_t *sim)
{
    eco_service_t *svc = sim->svc;
    eco_service_route(svc, "POST", "/generate", h_generate, sim);
    eco_service_route(svc, "POST", "/generate_stream", h_generate_stream, sim);
    eco_service_route(svc, "POST", "/", h_compat, sim);
    eco_service_route(svc, "GET", "/info", h_info, sim);
    eco_service_route(svc, "GET", "/health", h_health, sim);
    eco_service_route(svc, "GET", "/ping", h_health, sim);
    eco_service_route(svc, "POST", "/tokenize", h_tokenize, sim);
    eco_service_route(svc, "GET", "/metrics", sim_h_metrics, sim);
}
