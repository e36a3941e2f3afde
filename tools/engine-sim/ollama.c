/* Ollama native API: /api/generate, /api/chat (NDJSON streaming by default, done:true last),
 * /api/embed, /api/embeddings, /api/tags, /api/ps, /api/show, /api/version and GET|HEAD /.
 * Errors are {"error":"msg"}; durations are nanoseconds; models load lazily. */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int chat;
    long load_ms;
} ol_ctx_t;

static void ol_error(sim_job_t *j, sim_err_t err, int status, const char *msg)
{
    if (!status)
        status = err == SIM_ERR_NOT_FOUND                              ? 404
                 : err == SIM_ERR_OVERLOADED || err == SIM_ERR_LOADING ? 503
                 : err == SIM_ERR_INTERNAL                             ? 500
                                                                       : 400;
    if (!msg)
        msg = err == SIM_ERR_OVERLOADED ? "server busy, please try again.  maximum pending requests exceeded"
              : err == SIM_ERR_LOADING  ? "model is loading"
                                        : "bad request";
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco_buf_adds(&b, "{");
    sim_kv_str(&b, "error", msg, (size_t)-1);
    eco_buf_adds(&b, "}");
    eco_http_send(j->call, status, NULL, b.base, b.len);
    eco_buf_free(&b);
}

static void line_head(const sim_job_t *j, eco_buf_t *b)
{
    char ts[64];
    sim_rfc3339(eco_wall_time(), ts);
    eco_buf_adds(b, "{");
    sim_kv_str(b, "model", j->sim->o.model, (size_t)-1);
    eco_buf_addf(b, ",\"created_at\":\"%s\",", ts);
}

static void add_piece(const sim_job_t *j, eco_buf_t *b, const char *text, size_t len)
{
    const ol_ctx_t *c = j->ctx;
    if (c->chat) {
        eco_buf_adds(b, "\"message\":{\"role\":\"assistant\",");
        sim_kv_str(b, "content", text, len);
        eco_buf_adds(b, "}");
    } else {
        sim_kv_str(b, "response", text, len);
    }
}

static void add_final_stats(const sim_job_t *j, eco_buf_t *b)
{
    const ol_ctx_t *c = j->ctx;
    uint64_t now = eco_now_ns();
    uint64_t total = now - j->t_arrive_ns;
    uint64_t first = j->t_first_ns ? j->t_first_ns : now;
    uint64_t prompt_ns = first > j->t_start_ns ? first - j->t_start_ns : 0;
    uint64_t eval_ns = now > first ? now - first : 0;
    eco_buf_addf(b,
                 ",\"done\":true,\"done_reason\":\"%s\",\"total_duration\":%llu,\"load_duration\":%llu,"
                 "\"prompt_eval_count\":%ld,\"prompt_eval_duration\":%llu,\"eval_count\":%ld,\"eval_duration\":%llu}",
                 sim_finish(j, 0, "stop", "length"), (unsigned long long)total,
                 (unsigned long long)c->load_ms * 1000000ull, j->seq[0].g.prompt_tokens, (unsigned long long)prompt_ns,
                 sim_completion_tokens(j, 0), (unsigned long long)eval_ns);
}

static void s_token(sim_job_t *j, size_t i, eco_buf_t *b)
{
    const gen_piece_t *p = sim_piece(j, 0, i);
    line_head(j, b);
    add_piece(j, b, p->p, p->len);
    eco_buf_adds(b, ",\"done\":false}\n");
}

static void s_tail(sim_job_t *j, eco_buf_t *b)
{
    line_head(j, b);
    add_piece(j, b, "", 0);
    add_final_stats(j, b);
    eco_buf_addc(b, '\n');
}

static void s_unary(sim_job_t *j, eco_buf_t *b)
{
    line_head(j, b);
    add_piece(j, b, j->seq[0].text, j->seq[0].tlen);
    add_final_stats(j, b);
}

static const sim_proto_t OLLAMA = {
    .stream_type = "application/x-ndjson",
    .ndjson = 1,
    .token = s_token,
    .tail = s_tail,
    .unary = s_unary,
    .error = ol_error,
};

/* The answer to an empty prompt or message list: the model is loaded, nothing generated. */
static void send_load(sim_job_t *j, int chat)
{
    eco_buf_t b;
    eco_buf_init(&b, 0);
    line_head(j, &b);
    if (chat)
        eco_buf_adds(&b, "\"message\":{\"role\":\"assistant\",\"content\":\"\"},");
    else
        eco_buf_adds(&b, "\"response\":\"\",");
    eco_buf_adds(&b, "\"done\":true,\"done_reason\":\"load\"}");
    if (j->stream)
        eco_buf_addc(&b, '\n');
    sim_job_reply(j, j->stream ? "application/x-ndjson" : NULL, b.base, b.len);
    eco_buf_free(&b);
}

/* model: required, and must be the served one. 0, or -1 after answering. */
static int check_model(sim_job_t *j, json_t *body)
{
    const char *model;
    size_t mlen;
    char err[200];
    int r = sim_get_str(body, "model", &model, &mlen, err, sizeof(err));
    if (r < 0) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "%s", err);
        return -1;
    }
    if (r == 0 || mlen == 0) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "model is required");
        return -1;
    }
    if (!sim_model_is(j->sim, model, mlen)) {
        sim_job_fail(j, SIM_ERR_NOT_FOUND, 404, "model \"%.*s\" not found, try pulling it first", (int)mlen, model);
        return -1;
    }
    return 0;
}

static int generate(eco_http_call_t *call, int chat)
{
    sim_t *sim = call->data;
    sim_job_t *j = sim_job_new(sim, call, &OLLAMA);
    if (!j)
        return 0;
    long load_ms = sim_loading_left_ms(sim);
    json_t *body = sim_job_json(j);
    if (!body)
        return 0;
    ol_ctx_t *c = h2o_mem_alloc_pool(&call->req->pool, sizeof(*c));
    c->chat = chat;
    c->load_ms = load_ms;
    j->ctx = c;
    eco_buf_t text;
    eco_buf_init(&text, 0);
    char err[256];
    int stream = 1, raw = 0;
    long num_predict = -1, seed = 0;
    if (check_model(j, body) != 0)
        goto out;
    if (sim_get_bool(body, "stream", &stream, err, sizeof(err)) < 0 ||
        sim_get_bool(body, "raw", &raw, err, sizeof(err)) < 0) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "%s", err);
        goto out;
    }
    j->stream = stream;
    json_t *opts = json_object_get(body, "options");
    if (opts && !json_is_null(opts)) {
        if (!json_is_object(opts)) {
            sim_job_fail(j, SIM_ERR_INVALID, 400, "json: cannot unmarshal options into map[string]any");
            goto out;
        }
        if (sim_get_int(opts, "num_predict", &num_predict, err, sizeof(err)) < 0 ||
            sim_get_int(opts, "seed", &seed, err, sizeof(err)) < 0) {
            sim_job_fail(j, SIM_ERR_INVALID, 400, "option %s", err);
            goto out;
        }
    }
    if (chat) {
        json_t *msgs = json_object_get(body, "messages");
        if (!msgs || json_is_null(msgs) || (json_is_array(msgs) && json_array_size(msgs) == 0)) {
            send_load(j, 1);
            goto out;
        }
        if (sim_messages_render(msgs, &text, err, sizeof(err)) != 0) {
            sim_job_fail(j, SIM_ERR_INVALID, 400, "%s", err);
            goto out;
        }
    } else {
        const char *prompt, *system = NULL;
        size_t plen = 0, slen = 0;
        if (sim_get_str(body, "prompt", &prompt, &plen, err, sizeof(err)) < 0 ||
            sim_get_str(body, "system", &system, &slen, err, sizeof(err)) < 0) {
            sim_job_fail(j, SIM_ERR_INVALID, 400, "%s", err);
            goto out;
        }
        if (plen == 0) {
            send_load(j, 0);
            goto out;
        }
        if (raw) {
            eco_buf_add(&text, prompt, plen);
        } else { /* the model's template: system + user turn, as ChatML */
            gen_msg_t m[2];
            size_t n = 0;
            if (slen)
                m[n++] = (gen_msg_t){"system", 6, system, slen};
            m[n++] = (gen_msg_t){"user", 4, prompt, plen};
            gen_chat_render(m, n, &text);
        }
    }
    /* Ollama truncates long prompts silently unless truncate:false; the sim just counts them. */
    sim_job_alloc_seqs(j, 1);
    sim_job_generate(j, 0, eco_buf_cstr(&text), text.len, seed, num_predict < 0 ? -1 : num_predict);
    sim_job_submit(j);
out:
    eco_buf_free(&text);
    json_decref(body);
    return 0;
}

static int h_generate(eco_http_call_t *call)
{
    return generate(call, 0);
}

static int h_chat(eco_http_call_t *call)
{
    return generate(call, 1);
}

static const sim_proto_t EMBED = {.error = ol_error};

static int embed(eco_http_call_t *call, int legacy)
{
    sim_t *sim = call->data;
    sim_job_t *j = sim_job_new(sim, call, &EMBED);
    if (!j)
        return 0;
    json_t *body = sim_job_json(j);
    if (!body)
        return 0;
    eco_buf_t b;
    eco_buf_init(&b, 0);
    char err[256];
    long dim = sim->o.embedding_dim;
    if (check_model(j, body) != 0)
        goto out;
    json_t *input = json_object_get(body, legacy ? "prompt" : "input");
    if (!legacy && sim_get_int(body, "dimensions", &dim, err, sizeof(err)) < 0) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "%s", err);
        goto out;
    }
    if (dim < 1 || dim > 16384) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "dimensions must be in 1-16384");
        goto out;
    }
    if (legacy) {
        if (!json_is_string(input)) {
            sim_job_fail(j, SIM_ERR_INVALID, 400, "prompt must be a string");
            goto out;
        }
        eco_buf_adds(&b, "{\"embedding\":");
        sim_add_embedding(&b, json_string_value(input), json_string_length(input), (size_t)dim);
        eco_buf_adds(&b, "}");
        sim_job_reply(j, NULL, b.base, b.len);
        goto out;
    }
    size_t n = json_is_array(input) ? json_array_size(input) : 1;
    if (!input || (!json_is_string(input) && !json_is_array(input)) || n > 2048) {
        sim_job_fail(j, SIM_ERR_INVALID, 400, "invalid input type");
        goto out;
    }
    long tokens = 0;
    eco_buf_adds(&b, "{");
    sim_kv_str(&b, "model", sim->o.model, (size_t)-1);
    eco_buf_adds(&b, ",\"embeddings\":[");
    for (size_t i = 0; i < (json_is_array(input) ? n : 1); i++) {
        json_t *s = json_is_array(input) ? json_array_get(input, i) : input;
        if (!json_is_string(s)) {
            sim_job_fail(j, SIM_ERR_INVALID, 400, "invalid input type");
            goto out;
        }
        if (i)
            eco_buf_addc(&b, ',');
        sim_add_embedding(&b, json_string_value(s), json_string_length(s), (size_t)dim);
        tokens += gen_prompt_tokens(json_string_value(s), json_string_length(s));
    }
    eco_buf_addf(&b, "],\"total_duration\":%llu,\"load_duration\":0,\"prompt_eval_count\":%ld}",
                 (unsigned long long)(eco_now_ns() - j->t_arrive_ns), tokens);
    sim_job_reply(j, NULL, b.base, b.len);
out:
    eco_buf_free(&b);
    json_decref(body);
    return 0;
}

static int h_embed(eco_http_call_t *call)
{
    return embed(call, 0);
}

static int h_embeddings(eco_http_call_t *call)
{
    return embed(call, 1);
}

static void add_details(eco_buf_t *b)
{
    eco_buf_adds(b,
                 "\"details\":{\"parent_model\":\"\",\"format\":\"gguf\",\"family\":\"llama\",\"families\":[\"llama\"],"
                 "\"parameter_size\":\"1M\",\"quantization_level\":\"Q4_0\"}");
}

static void add_model_entry(sim_t *sim, eco_buf_t *b, int ps)
{
    char digest[65];
    uint64_t h = gen_fnv1a(sim->o.model, strlen(sim->o.model), GEN_FNV_OFFSET);
    for (int i = 0; i < 4; i++)
        snprintf(digest + 16 * i, 17, "%016llx", (unsigned long long)(h = gen_next(&h)));
    char ts[64];
    eco_buf_adds(b, "{");
    sim_kv_str(b, "name", sim->o.model, (size_t)-1);
    eco_buf_addc(b, ',');
    sim_kv_str(b, "model", sim->o.model, (size_t)-1);
    if (ps) {
        sim_rfc3339(sim->last_use + 300, ts);
        eco_buf_addf(b, ",\"size\":4000000,\"digest\":\"%s\",", digest);
        add_details(b);
        eco_buf_addf(b, ",\"expires_at\":\"%s\",\"size_vram\":4000000,\"context_length\":%ld}", ts,
                     sim->o.max_model_len);
    } else {
        sim_rfc3339(eco_wall_time() - 86400, ts);
        eco_buf_addf(b, ",\"modified_at\":\"%s\",\"size\":4000000,\"digest\":\"%s\",", ts, digest);
        add_details(b);
        eco_buf_adds(b, "}");
    }
}

static int h_tags(eco_http_call_t *call)
{
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco_buf_adds(&b, "{\"models\":[");
    add_model_entry(call->data, &b, 0);
    eco_buf_adds(&b, "]}");
    eco_http_send(call, 200, NULL, b.base, b.len);
    eco_buf_free(&b);
    return 0;
}

static int h_ps(eco_http_call_t *call)
{
    sim_t *sim = call->data;
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco_buf_adds(&b, "{\"models\":[");
    /* Loaded models only: used within the default keep_alive of 5 minutes. */
    if (sim->last_use > 0 && eco_wall_time() - sim->last_use < 300)
        add_model_entry(sim, &b, 1);
    eco_buf_adds(&b, "]}");
    eco_http_send(call, 200, NULL, b.base, b.len);
    eco_buf_free(&b);
    return 0;
}

static int h_show(eco_http_call_t *call)
{
    sim_t *sim = call->data;
    char err[256];
    json_t *body = eco_http_json_parse(call->req->entity.base, call->req->entity.len, err, sizeof(err));
    const char *model = NULL;
    size_t mlen = 0;
    if (body && sim_get_str(body, "model", &model, &mlen, err, sizeof(err)) != 1)
        sim_get_str(body, "name", &model, &mlen, err, sizeof(err));
    eco_buf_t b;
    eco_buf_init(&b, 0);
    if (!model || !sim_model_is(sim, model, mlen)) {
        eco_buf_adds(&b, "{");
        snprintf(err, sizeof(err), "model '%.*s' not found", (int)(mlen > 200 ? 200 : mlen), model ? model : "");
        sim_kv_str(&b, "error", err, (size_t)-1);
        eco_buf_adds(&b, "}");
        eco_http_send(call, 404, NULL, b.base, b.len);
    } else {
        eco_buf_adds(&b, "{\"modelfile\":\"# engine-sim\",\"parameters\":\"\",\"template\":\"{{ .Prompt }}\",");
        add_details(&b);
        eco_buf_addf(&b,
                     ",\"model_info\":{\"general.architecture\":\"llama\",\"general.parameter_count\":1000000,"
                     "\"llama.context_length\":%ld,\"llama.embedding_length\":%ld},"
                     "\"capabilities\":[\"completion\",\"embedding\"]}",
                     sim->o.max_model_len, sim->o.embedding_dim);
        eco_http_send(call, 200, NULL, b.base, b.len);
    }
    eco_buf_free(&b);
    json_decref(body);
    return 0;
}

static int h_version(eco_http_call_t *call)
{
    sim_send(call, 200, NULL, "{\"version\":\"0.33.0\"}");
    return 0;
}

static int h_root(eco_http_call_t *call)
{
    sim_t *sim = call->data;
    /* Ollama is up as soon as it listens; only --never-ready (a broken server) says otherwise. */
    if (sim->o.never_ready || eco_lifecycle_draining())
        sim_send(call, 503, "text/plain; charset=utf-8", "Ollama is not ready");
    else
        sim_send(call, 200, "text/plain; charset=utf-8", "Ollama is running");
    return 0;
}

void sim_routes_ollama(sim_t *sim)
{
    eco_service_t *svc = sim->svc;
    eco_service_route(svc, "GET", "/", h_root, sim);
    eco_service_route(svc, "HEAD", "/", h_root, sim);
    eco_service_route(svc, "POST", "/api/generate", h_generate, sim);
    eco_service_route(svc, "POST", "/api/chat", h_chat, sim);
    eco_service_route(svc, "POST", "/api/embed", h_embed, sim);
    eco_service_route(svc, "POST", "/api/embeddings", h_embeddings, sim);
    eco_service_route(svc, "GET", "/api/tags", h_tags, sim);
    eco_service_route(svc, "GET", "/api/ps", h_ps, sim);
    eco_service_route(svc, "POST", "/api/show", h_show, sim);
    eco_service_route(svc, "GET", "/api/version", h_version, sim);
}
