/* DeepSpeed-MII: the RESTful gateway (POST /mii/{deployment}, GET /healthz, no streaming,
 * Flask-style errors), the api_server (POST /generate {"text":[..]}, SSE ending in [DONE]) and the
 * OpenAI server's GET /health (its /v1 routes are in openai.c). */
#include "sim.h"

#include <string.h>

typedef struct {
    int api_server;       /* POST /generate shape, else the REST gateway's list */
    const char **prompts; /* return_full_text prefixes (pool), or NULL */
    size_t *prompt_lens;
} mii_ctx_t;

static void rest_error(sim_job_t *j, sim_err_t err, int status, const char *msg)
{
    const mii_ctx_t *c = j->ctx;
    int api = c ? c->api_server : j->call->route && strcmp(j->call->route->pattern, "/generate") == 0;
    if (api) {
        sim_oai_error(j, err, status, msg);
        return;
    }
    /* flask-restful: bad generate kwargs (and any other invalid request) surface as a bare 500. */
    if (err == SIM_ERR_INVALID)
        status = 500;
    else if (!status)
        status = err == SIM_ERR_LOADING || err == SIM_ERR_OVERLOADED ? 503 : err == SIM_ERR_NOT_FOUND ? 404 : 500;
    if (!msg || err == SIM_ERR_INVALID)
        msg = status == 404 ? "The requested URL was not found on the server." : "Internal Server Error";
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco_buf_adds(&b, "{");
    sim_kv_str(&b, "message", msg, (size_t)-1);
    eco_buf_adds(&b, "}");
    eco_http_send(j->call, status, NULL, b.base, b.len);
    eco_buf_free(&b);
}

static void s_token(sim_job_t *j, size_t i, eco_buf_t *b)
{
    const gen_piece_t *p = sim_piece(j, 0, i);
    eco_buf_adds(b, "data: {\"text\":[");
    eco_buf_add_json_str(b, p->p, p->len);
    eco_buf_adds(b, "]}\n\n");
}

static void s_tail(sim_job_t *j, eco_buf_t *b)
{
    eco_buf_adds(b, "data: [DONE]\n\n");
}

static void s_unary(sim_job_t *j, eco_buf_t *b)
{
    const mii_ctx_t *c = j->ctx;
    if (c->api_server) {
        eco_buf_adds(b, "{\"text\":[");
        for (size_t s = 0; s < j->nseq; s++) {
            if (s)
                eco_buf_addc(b, ',');
            eco_buf_add_json_str(b, j->seq[s].text, j->seq[s].tlen);
        }
        eco_buf_adds(b, "]}");
        return;
    }
    eco_buf_addc(b, '[');
    for (size_t s = 0; s < j->nseq; s++) {
        const sim_seq_t *q = &j->seq[s];
        eco_buf_adds(b, s ? ",{\"generated_text\":" : "{\"generated_text\":");
        if (c->prompts) {
            eco_buf_t t;
            eco_buf_init(&t, 0);
            eco_buf_add(&t, c->prompts[s], c->prompt_lens[s]);
            eco_buf_add(&t, q->text, q->tlen);
            eco_buf_add_json_str(b, eco_buf_cstr(&t), t.len);
            eco_buf_free(&t);
        } else {
            eco_buf_add_json_str(b, q->text, q->tlen);
        }
        eco_buf_addf(b, ",\"prompt_length\":%ld,\"generated_length\":%zu,\"finish_reason\":\"%s\"}", q->g.prompt_tokens,
                     q->sent, sim_finish(j, s, "stop", "length"));
    }
    eco_buf_addc(b, ']');
}

static const sim_proto_t MII = {
    .stream_type = "text/event-stream",
    .token = s_token,
    .tail = s_tail,
    .unary = s_unary,
    .error = rest_error,
};

static int generate(eco_http_call_t *call, int api_server)
{
    sim_t *sim = call->data;
    sim_job_t *j = sim_job_new(sim, call, &MII);
    if (!j)
        return 0;
    mii_ctx_t *c = h2o_mem_alloc_pool(&call->req->pool, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->api_server = api_server;
    j->ctx = c;
    if (!api_server) {
        h2o_iovec_t d = eco_http_param(call, "deployment");
        if (!sim_model_is(sim, d.base, d.len)) {
            sim_job_fail(j, SIM_ERR_NOT_FOUND, 404, NULL);
            return 0;
        }
    }
    json_t *body = sim_job_json(j);
    if (!body)
        return 0;
    char err[256];
    const char *pkey = api_server ? "prompt" : "prompts";
    json_t *prompts = json_object_get(body, pkey);
    int list = json_is_array(prompts);
    size_t n = list ? json_array_size(prompts) : 1;
    long max_new = api_server ? 128 : 256, max_length = -1, seed = 0;
    double temp = 1, top_p = 0.9;
    int stream = 0, full = 0, has_temp, has_top_p;
    if ((!list && !json_is_string(prompts)) || n == 0 || n > 64) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "`%s` must be a string or a list of 1-64 strings", pkey);
        goto out;
    }
    if (sim_get_int(body, api_server ? "max_tokens" : "max_new_tokens", &max_new, err, sizeof(err)) < 0 ||
        sim_get_int(body, "max_length", &max_length, err, sizeof(err)) < 0 ||
        sim_get_int(body, "seed", &seed, err, sizeof(err)) < 0 ||
        (has_temp = sim_get_num(body, "temperature", &temp, err, sizeof(err))) < 0 ||
        (has_top_p = sim_get_num(body, "top_p", &top_p, err, sizeof(err))) < 0 ||
        sim_get_bool(body, "stream", &stream, err, sizeof(err)) < 0 ||
        sim_get_bool(body, "return_full_text", &full, err, sizeof(err)) < 0) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "%s", err);
        goto out;
    }
    if ((has_temp == 1 && temp <= 0) || (has_top_p == 1 && (top_p <= 0 || top_p > 1)) || max_new < 0) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "temperature must be > 0 and top_p in (0, 1]");
        goto out;
    }
    if (stream && (!api_server || n > 1)) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "streaming is served by the api_server for one prompt only");
        goto out;
    }
    j->stream = stream;
    sim_job_alloc_seqs(j, n);
    if (full && !api_server) {
        c->prompts = h2o_mem_alloc_pool(&call->req->pool, sizeof(char *) * n);
        c->prompt_lens = h2o_mem_alloc_pool(&call->req->pool, sizeof(size_t) * n);
    }
    for (size_t i = 0; i < n; i++) {
        json_t *p = list ? json_array_get(prompts, i) : prompts;
        if (!json_is_string(p)) {
            sim_job_fail(j, SIM_ERR_INVALID, 400, "`%s` must hold strings", pkey);
            goto out;
        }
        const char *s = json_string_value(p);
        size_t len = json_string_length(p);
        long pt = gen_prompt_tokens(s, len), cap = max_new;
        if (max_length >= 0 && max_length - pt < cap)
            cap = max_length - pt < 0 ? 0 : max_length - pt;
        if (pt > sim->o.max_model_len) {
            sim_job_fail(j, SIM_ERR_INVALID, 400, "prompt of %ld tokens exceeds the model maximum %ld", pt,
                         sim->o.max_model_len);
            goto out;
        }
        if (c->prompts) {
            c->prompts[i] = h2o_strdup(&call->req->pool, s, len).base;
            c->prompt_lens[i] = len;
        }
        sim_job_generate(j, i, s, len, seed, cap);
    }
    sim_job_submit(j);
out:
    json_decref(body);
    return 0;
}

static int h_rest(eco_http_call_t *call)
{
    return generate(call, 0);
}

static int h_api_generate(eco_http_call_t *call)
{
    return generate(call, 1);
}

static int h_healthz(eco_http_call_t *call)
{
    if (sim_ready(call->data))
        sim_send(call, 200, "text/plain; charset=utf-8", "ok");
    else
        sim_send(call, 503, "text/plain; charset=utf-8", "loading");
    return 0;
}

static int h_health(eco_http_call_t *call)
{
    if (sim_ready(call->data))
        sim_send(call, 200, NULL, "{\"status\":\"ok\"}");
    else
        sim_send(call, 503, NULL, "{\"status\":\"loading\"}");
    return 0;
}

void sim_routes_mii(sim_t *sim)
{
    eco_service_t *svc = sim->svc;
    eco_service_route(svc, "POST", "/mii/{deployment}", h_rest, sim);
    eco_service_route(svc, "GET", "/healthz", h_healthz, sim);
    eco_service_route(svc, "POST", "/generate", h_api_generate, sim);
    eco_service_route(svc, "GET", "/health", h_health, sim);
}
