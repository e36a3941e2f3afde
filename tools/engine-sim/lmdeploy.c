/* LMDeploy api_server native routes: POST /generate (SSE deltas ending in [DONE]),
 * POST /v1/encode, GET /health (JSON status since v0.14), /is_sleeping, /metrics.
 * Errors use the flat {message,type,code,param,object:"error"} shape. */
#include "sim.h"

#include <string.h>

static void add_obj(const sim_job_t *j, eco_buf_t *b, size_t from, size_t upto, int final)
{
    const sim_seq_t *q = &j->seq[0];
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
    eco_buf_addf(b, "],\"meta_info\":{\"prompt_tokens\":%ld,\"completion_tokens\":%zu,\"finish_reason\":",
                 q->g.prompt_tokens, upto);
    if (final)
        eco_buf_addf(b, "{\"type\":\"%s\"}", sim_finish(j, 0, "stop", "length"));
    else
        eco_buf_adds(b, "null");
    eco_buf_adds(b, ",\"output_token_logprobs\":null}}");
}

static void s_token(sim_job_t *j, size_t i, eco_buf_t *b)
{
    eco_buf_adds(b, "data: ");
    add_obj(j, b, i, i + 1, i + 1 == j->seq[0].g.n);
    eco_buf_adds(b, "\n\n");
}

static void s_tail(sim_job_t *j, eco_buf_t *b)
{
    if (j->seq[0].g.n == 0) {
        eco_buf_adds(b, "data: ");
        add_obj(j, b, 0, 0, 1);
        eco_buf_adds(b, "\n\n");
    }
    eco_buf_adds(b, "data: [DONE]\n\n");
}

static void s_unary(sim_job_t *j, eco_buf_t *b)
{
    add_obj(j, b, 0, j->seq[0].sent, 1);
}

static const sim_proto_t LMDEPLOY = {
    .stream_type = "text/event-stream",
    .token = s_token,
    .tail = s_tail,
    .unary = s_unary,
    .error = sim_oai_error,
};

static int h_generate(eco_http_call_t *call)
{
    sim_t *sim = call->data;
    sim_job_t *j = sim_job_new(sim, call, &LMDEPLOY);
    if (!j)
        return 0;
    json_t *body = sim_job_json(j);
    if (!body)
        return 0;
    char err[256];
    const char *prompt;
    size_t plen;
    long max_tokens = 128, top_k = 40, seed = 0;
    double temp = 0.7, top_p = 0.9;
    int stream = 0, rp, has_ids = json_is_array(json_object_get(body, "input_ids"));
    if ((rp = sim_get_str(body, "prompt", &prompt, &plen, err, sizeof(err))) < 0 ||
        sim_get_int(body, "max_tokens", &max_tokens, err, sizeof(err)) < 0 ||
        sim_get_int(body, "top_k", &top_k, err, sizeof(err)) < 0 ||
        sim_get_int(body, "seed", &seed, err, sizeof(err)) < 0 ||
        sim_get_num(body, "temperature", &temp, err, sizeof(err)) < 0 ||
        sim_get_num(body, "top_p", &top_p, err, sizeof(err)) < 0 ||
        sim_get_bool(body, "stream", &stream, err, sizeof(err)) < 0) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "%s", err);
        goto out;
    }
    j->stream = stream;
    if ((rp == 1) == has_ids) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "Exactly one of `prompt` or `input_ids` must be given");
        goto out;
    }
    if (has_ids) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "engine-sim does not take input_ids; send prompt");
        goto out;
    }
    if (temp < 0 || temp > 2) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "The temperature `%g` must be in [0, 2]", temp);
        goto out;
    }
    if (top_p <= 0 || top_p > 1) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "The top_p `%g` must be in (0, 1]", top_p);
        goto out;
    }
    if (max_tokens <= 0) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "The max_tokens `%ld` must be a positive integer.", max_tokens);
        goto out;
    }
    if (sim_check_context(j, gen_prompt_tokens(prompt, plen), max_tokens) != 0)
        goto out;
    sim_job_alloc_seqs(j, 1);
    sim_job_generate(j, 0, prompt, plen, seed, max_tokens);
    sim_job_submit(j);
out:
    json_decref(body);
    return 0;
}

static void add_ids(eco_buf_t *b, const char *s, size_t n, long *count)
{
    /* BOS, then one id per whitespace-separated word. */
    eco_buf_adds(b, "[1");
    long c = 1;
    size_t i = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r'))
            i++;
        size_t st = i;
        while (i < n && !(s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r'))
            i++;
        if (i > st) {
            eco_buf_addf(b, ",%u", (unsigned)(gen_fnv1a(s + st, i - st, GEN_FNV_OFFSET) % 32000) + 3);
            c++;
        }
    }
    eco_buf_addc(b, ']');
    *count = c;
}

static int h_encode(eco_http_call_t *call)
{
    char err[256];
    json_t *body = eco_http_json_parse(call->req->entity.base, call->req->entity.len, err, sizeof(err));
    json_t *in = body ? json_object_get(body, "input") : NULL;
    eco_buf_t b;
    eco_buf_init(&b, 0);
    if (!json_is_string(in) && !json_is_array(in)) {
        sim_oai_error_body(SIM_LMDEPLOY, &b, 400, NULL, body ? "`input` must be a string or a list of strings" : err);
        eco_http_send(call, 400, NULL, b.base, b.len);
    } else if (json_is_string(in)) {
        long n;
        eco_buf_adds(&b, "{\"input_ids\":");
        add_ids(&b, json_string_value(in), json_string_length(in), &n);
        eco_buf_addf(&b, ",\"length\":%ld}", n);
        eco_http_send(call, 200, NULL, b.base, b.len);
    } else {
        eco_buf_t lens;
        eco_buf_init(&lens, 0);
        eco_buf_adds(&b, "{\"input_ids\":[");
        size_t i;
        json_t *s;
        json_array_foreach(in, i, s)
        {
            long n = 0;
            if (i)
                eco_buf_addc(&b, ',');
            if (json_is_string(s))
                add_ids(&b, json_string_value(s), json_string_length(s), &n);
            else
                eco_buf_adds(&b, "[]");
            eco_buf_addf(&lens, "%s%ld", i ? "," : "", n);
        }
        eco_buf_adds(&b, "],\"length\":[");
        eco_buf_add(&b, lens.base ? lens.base : "", lens.len);
        eco_buf_adds(&b, "]}");
        eco_buf_free(&lens);
        eco_http_send(call, 200, NULL, b.base, b.len);
    }
    eco_buf_free(&b);
    json_decref(body);
    return 0;
}

static int h_health(eco_http_call_t *call)
{
    if (sim_ready(call->data))
        sim_send(call, 200, NULL, "{\"status\":\"healthy\"}");
    else
        sim_send(call, 503, NULL, "{\"status\":\"unhealthy\"}");
    return 0;
}

static int h_sleeping(eco_http_call_t *call)
{
    sim_send(call, 200, NULL, "{\"is_sleeping\":false}");
    return 0;
}

void sim_routes_lmdeploy(sim_t *sim)
{
    eco_service_t *svc = sim->svc;
    eco_service_route(svc, "POST", "/generate", h_generate, sim);
    eco_service_route(svc, "POST", "/v1/encode", h_encode, sim);
    eco_service_route(svc, "GET", "/health", h_health, sim);
    eco_service_route(svc, "GET", "/is_sleeping", h_sleeping, sim);
    eco_service_route(svc, "GET", "/metrics", sim_h_metrics, sim);
}
