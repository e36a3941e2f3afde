/* The OpenAI-compatible routes as each engine serves them: /v1/chat/completions and
 * /v1/completions (vLLM, TGI, Ollama, SGLang, trtllm-serve, MII, LMDeploy, llama.cpp and
 * OpenAI itself), with each engine's defaults, validation, stream framing and quirks.
 * Embeddings and model lists are in oai_misc.c. */
#include "sim.h"

#include <string.h>

typedef struct {
    int chat;
    int include_usage;
    int echo;
    const char *prompt; /* pool copy, for echo */
    size_t prompt_len;
} oai_ctx_t;

/* Finish reason on the last content chunk (vLLM style) or in a separate empty-delta chunk. */
static int finish_separate(sim_kind_t k)
{
    return k == SIM_OPENAI || k == SIM_OLLAMA || k == SIM_LLAMACPP;
}

static const char *data_prefix(const sim_job_t *j)
{
    return j->sim->o.kind == SIM_TGI ? "data:" : "data: ";
}

static void add_usage(const sim_job_t *j, eco_buf_t *b)
{
    long p = 0, c = 0;
    for (size_t i = 0; i < j->nseq; i++) {
        p += j->seq[i].g.prompt_tokens;
        c += sim_completion_tokens(j, i);
    }
    eco_buf_addf(b, "{\"prompt_tokens\":%ld,\"completion_tokens\":%ld,\"total_tokens\":%ld", p, c, p + c);
    if (j->sim->o.kind == SIM_OPENAI || j->sim->o.kind == SIM_LLAMACPP)
        eco_buf_adds(b, ",\"prompt_tokens_details\":{\"cached_tokens\":0}");
    else if (j->sim->o.kind == SIM_VLLM)
        eco_buf_adds(b, ",\"prompt_tokens_details\":null");
    eco_buf_addc(b, '}');
}

static void add_timings(const sim_job_t *j, eco_buf_t *b)
{
    double total_ms = sim_elapsed_s(j) * 1000.0;
    long n = sim_completion_tokens(j, 0);
    eco_buf_addf(b,
                 ",\"timings\":{\"prompt_n\":%ld,\"prompt_ms\":%.3f,\"predicted_n\":%ld,\"predicted_ms\":%.3f,"
                 "\"predicted_per_second\":%.3f}",
                 j->seq[0].g.prompt_tokens, (double)j->ttft_ms, n, total_ms,
                 total_ms > 0 ? (double)n * 1000.0 / total_ms : 0.0);
}

static void obj_head(const sim_job_t *j, eco_buf_t *b, const char *object)
{
    eco_buf_adds(b, "{");
    sim_kv_str(b, "id", j->id, (size_t)-1);
    eco_buf_addf(b, ",\"object\":\"%s\",\"created\":%ld,", object, j->created);
    sim_kv_str(b, "model", j->sim->o.model, (size_t)-1);
    if (j->sim->o.kind == SIM_TGI)
        eco_buf_adds(b, ",\"system_fingerprint\":\"3.3.6-native\"");
    else if (j->sim->o.kind == SIM_OLLAMA)
        eco_buf_adds(b, ",\"system_fingerprint\":\"fp_ollama\"");
    else if (j->sim->o.kind == SIM_OPENAI)
        eco_buf_adds(b, ",\"system_fingerprint\":\"fp_engine_sim\"");
    eco_buf_adds(b, ",\"choices\":[");
}

/* ---------- streaming frames ---------- */

static void chunk_begin(const sim_job_t *j, eco_buf_t *b)
{
    const oai_ctx_t *c = j->ctx;
    eco_buf_adds(b, data_prefix(j));
    obj_head(j, b, c->chat ? "chat.completion.chunk" : "text_completion");
}

static void chunk_end(const sim_job_t *j, eco_buf_t *b)
{
    const oai_ctx_t *c = j->ctx;
    eco_buf_adds(b, "]");
    if (c->include_usage)
        eco_buf_adds(b, ",\"usage\":null");
    eco_buf_adds(b, "}\n\n");
}

/* One choice of a chunk: delta (chat) or text (completions). role: add "role":"assistant". */
static void chunk_choice(const sim_job_t *j, eco_buf_t *b, int role, const char *text, size_t len, const char *finish)
{
    const oai_ctx_t *c = j->ctx;
    eco_buf_adds(b, "{\"index\":0,");
    if (c->chat) {
        eco_buf_adds(b, "\"delta\":{");
        if (role)
            eco_buf_adds(b, "\"role\":\"assistant\"");
        if (text) {
            if (role)
                eco_buf_addc(b, ',');
            sim_kv_str(b, "content", text, len);
        }
        eco_buf_adds(b, "},");
    } else {
        sim_kv_str(b, "text", text ? text : "", text ? len : 0);
        eco_buf_addc(b, ',');
    }
    eco_buf_adds(b, "\"logprobs\":null,\"finish_reason\":");
    if (finish)
        eco_buf_addf(b, "\"%s\"", finish);
    else
        eco_buf_adds(b, "null");
    if (j->sim->o.kind == SIM_VLLM)
        eco_buf_adds(b, ",\"stop_reason\":null");
    eco_buf_addc(b, '}');
}

static void s_head(sim_job_t *j, eco_buf_t *b)
{
    const oai_ctx_t *c = j->ctx;
    sim_kind_t k = j->sim->o.kind;
    if (c->chat && k != SIM_TGI) {
        chunk_begin(j, b);
        chunk_choice(j, b, 1, k == SIM_LLAMACPP ? NULL : "", 0, NULL);
        chunk_end(j, b);
    }
    if (!c->chat && c->echo) {
        chunk_begin(j, b);
        chunk_choice(j, b, 0, c->prompt, c->prompt_len, NULL);
        chunk_end(j, b);
    }
}

static void s_token(sim_job_t *j, size_t i, eco_buf_t *b)
{
    const gen_piece_t *p = sim_piece(j, 0, i);
    int last = i + 1 == j->seq[0].g.n && !finish_separate(j->sim->o.kind);
    int role = j->sim->o.kind == SIM_TGI || j->sim->o.kind == SIM_OLLAMA;
    chunk_begin(j, b);
    chunk_choice(j, b, role && ((oai_ctx_t *)j->ctx)->chat, p->p, p->len,
                 last ? sim_finish(j, 0, "stop", "length") : NULL);
    chunk_end(j, b);
}

static void s_tail(sim_job_t *j, eco_buf_t *b)
{
    const oai_ctx_t *c = j->ctx;
    sim_kind_t k = j->sim->o.kind;
    if (finish_separate(k) || j->seq[0].g.n == 0) {
        chunk_begin(j, b);
        if (k == SIM_OLLAMA && c->chat)
            chunk_choice(j, b, 1, "", 0, sim_finish(j, 0, "stop", "length"));
        else
            chunk_choice(j, b, 0, c->chat ? NULL : "", 0, sim_finish(j, 0, "stop", "length"));
        eco_buf_adds(b, "]");
        if (c->include_usage)
            eco_buf_adds(b, ",\"usage\":null");
        if (k == SIM_LLAMACPP)
            add_timings(j, b);
        eco_buf_adds(b, "}\n\n");
    }
    if (c->include_usage) {
        eco_buf_adds(b, data_prefix(j));
        obj_head(j, b, c->chat ? "chat.completion.chunk" : "text_completion");
        eco_buf_adds(b, "],\"usage\":");
        add_usage(j, b);
        eco_buf_adds(b, "}\n\n");
    }
    eco_buf_adds(b, k == SIM_TGI ? "data:[DONE]\n\n" : "data: [DONE]\n\n");
}

/* ---------- complete answers ---------- */

static void s_unary(sim_job_t *j, eco_buf_t *b)
{
    const oai_ctx_t *c = j->ctx;
    sim_kind_t k = j->sim->o.kind;
    obj_head(j, b, c->chat ? "chat.completion" : "text_completion");
    for (size_t i = 0; i < j->nseq; i++) {
        const sim_seq_t *q = &j->seq[i];
        eco_buf_addf(b, "%s{\"index\":%zu,", i ? "," : "", i);
        if (c->chat) {
            eco_buf_adds(b, "\"message\":{\"role\":\"assistant\",");
            sim_kv_str(b, "content", q->text, q->tlen);
            if (k == SIM_VLLM)
                eco_buf_adds(b, ",\"tool_calls\":[],\"reasoning_content\":null");
            else if (k == SIM_OPENAI)
                eco_buf_adds(b, ",\"refusal\":null,\"annotations\":[]");
            eco_buf_adds(b, "},");
        } else {
            eco_buf_adds(b, "\"text\":");
            if (c->echo) {
                eco_buf_t t;
                eco_buf_init(&t, 0);
                eco_buf_add(&t, c->prompt, c->prompt_len);
                eco_buf_add(&t, q->text, q->tlen);
                eco_buf_add_json_str(b, t.base ? t.base : "", t.len);
                eco_buf_free(&t);
            } else {
                eco_buf_add_json_str(b, q->text, q->tlen);
            }
            eco_buf_addc(b, ',');
        }
        eco_buf_addf(b, "\"logprobs\":null,\"finish_reason\":\"%s\"", sim_finish(j, i, "stop", "length"));
        if (k == SIM_VLLM)
            eco_buf_adds(b, ",\"stop_reason\":null");
        eco_buf_addc(b, '}');
    }
    eco_buf_adds(b, "],\"usage\":");
    add_usage(j, b);
    if (k == SIM_LLAMACPP)
        add_timings(j, b);
    eco_buf_addc(b, '}');
}

static const sim_proto_t OAI = {
    .stream_type = "text/event-stream",
    .head = s_head,
    .token = s_token,
    .tail = s_tail,
    .unary = s_unary,
    .error = sim_oai_error,
};

/* ---------- request parsing ---------- */

typedef struct {
    int stream;
    long max_tokens; /* -1: none */
    int64_t seed;
} oai_params_t;

static int model_checked(sim_kind_t k)
{
    return k == SIM_VLLM || k == SIM_OPENAI || k == SIM_OLLAMA || k == SIM_LMDEPLOY || k == SIM_MII;
}

static long default_max_tokens(sim_kind_t k, int chat)
{
    if (k == SIM_MII)
        return 128;
    if (chat || k == SIM_LLAMACPP || k == SIM_OLLAMA)
        return -1;
    return k == SIM_TGI ? 100 : 16;
}

/* Validates the fields every OpenAI route shares. 0, or -1 after answering. */
static int parse_common(sim_job_t *j, json_t *body, int chat, oai_params_t *p)
{
    sim_t *sim = j->sim;
    sim_kind_t k = sim->o.kind;
    oai_ctx_t *c = j->ctx;
    char err[256];
    const char *model;
    size_t mlen;
    long n;
    double num;
    int r = sim_get_str(body, "model", &model, &mlen, err, sizeof(err));
    if (r < 0)
        goto invalid;
    if (r == 0 && (k == SIM_OPENAI || k == SIM_OLLAMA)) {
        sim_job_fail(j, SIM_ERR_INVALID, 400,
                     k == SIM_OLLAMA ? "model is required" : "you must provide a model parameter");
        return -1;
    }
    if (r == 1 && model_checked(k) && !sim_model_is(sim, model, mlen)) {
        if (k == SIM_OLLAMA)
            sim_job_fail(j, SIM_ERR_NOT_FOUND, 0, "model \"%.*s\" not found, try pulling it first", (int)mlen, model);
        else if (k == SIM_MII)
            sim_job_fail(j, SIM_ERR_NOT_FOUND, 0, "Model %.*s not found. Available model: %s", (int)mlen, model,
                         sim->o.model);
        else
            sim_job_fail(j, SIM_ERR_NOT_FOUND, 0, "The model `%.*s` does not exist.", (int)mlen, model);
        return -1;
    }
    p->stream = 0;
    if (sim_get_bool(body, "stream", &p->stream, err, sizeof(err)) < 0)
        goto invalid;
    json_t *so = json_object_get(body, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) {
            snprintf(err, sizeof(err), "`stream_options` must be an object");
            goto invalid;
        }
        if (!p->stream && k == SIM_VLLM) {
            snprintf(err, sizeof(err), "Stream options can only be defined when `stream=True`.");
            goto invalid;
        }
        if (sim_get_bool(so, "include_usage", &c->include_usage, err, sizeof(err)) < 0)
            goto invalid;
        if (k == SIM_MII || !p->stream)
            c->include_usage = 0;
    }
    p->max_tokens = default_max_tokens(k, chat);
    long mt;
    r = sim_get_int(body, "max_tokens", &mt, err, sizeof(err));
    if (r < 0)
        goto invalid;
    if (r == 0 && chat && k != SIM_OLLAMA && k != SIM_MII) {
        r = sim_get_int(body, "max_completion_tokens", &mt, err, sizeof(err));
        if (r < 0)
            goto invalid;
    }
    if (r == 1) {
        if (mt < 1 && !(k == SIM_LLAMACPP && mt == -1)) {
            snprintf(err, sizeof(err), "max_tokens must be at least 1, got %ld.", mt);
            goto invalid;
        }
        p->max_tokens = mt;
    }
    long seed = 0;
    if (sim_get_int(body, "seed", &seed, err, sizeof(err)) < 0)
        goto invalid;
    p->seed = seed;
    r = sim_get_num(body, "temperature", &num, err, sizeof(err));
    if (r < 0)
        goto invalid;
    if (r == 1 && (num < 0 || (k == SIM_OPENAI && num > 2))) {
        snprintf(err, sizeof(err), "temperature must be %s, got %g.", k == SIM_OPENAI ? "in [0, 2]" : "non-negative",
                 num);
        goto invalid;
    }
    r = sim_get_num(body, "top_p", &num, err, sizeof(err));
    if (r < 0)
        goto invalid;
    if (r == 1 && (num <= 0 || num > 1 || (k == SIM_TGI && num >= 1))) {
        if (k == SIM_TGI)
            snprintf(err, sizeof(err), "Input validation error: `top_p` must be > 0.0 and < 1.0");
        else
            snprintf(err, sizeof(err), "top_p must be in (0, 1], got %g.", num);
        goto invalid;
    }
    r = sim_get_int(body, "n", &n, err, sizeof(err));
    if (r < 0)
        goto invalid;
    if (r == 1 && n != 1 && k != SIM_TGI) {
        snprintf(err, sizeof(err), "engine-sim serves n=1 only, got n=%ld", n);
        goto invalid;
    }
    json_t *stop = json_object_get(body, "stop");
    if (stop && !json_is_null(stop) && !json_is_string(stop)) {
        size_t i;
        json_t *s;
        if (!json_is_array(stop)) {
            snprintf(err, sizeof(err), "`stop` must be a string or an array of strings");
            goto invalid;
        }
        json_array_foreach(stop, i, s) if (!json_is_string(s))
        {
            snprintf(err, sizeof(err), "`stop` must be a string or an array of strings");
            goto invalid;
        }
        if (json_array_size(stop) > 4 && (k == SIM_OPENAI || k == SIM_TGI)) {
            if (k == SIM_TGI)
                snprintf(err, sizeof(err), "Input validation error: `stop` supports up to 4 stop sequences. Given: %zu",
                         json_array_size(stop));
            else
                snprintf(err, sizeof(err), "`stop` holds %zu sequences; at most 4", json_array_size(stop));
            goto invalid;
        }
    }
    j->stream = p->stream;
    return 0;
invalid:
    sim_job_fail(j, SIM_ERR_INVALID, 0, "%s", err);
    return -1;
}

static oai_ctx_t *ctx_new(sim_job_t *j, int chat)
{
    oai_ctx_t *c = h2o_mem_alloc_pool(&j->call->req->pool, sizeof(*c));
    memset(c, 0, sizeof(*c));
    c->chat = chat;
    j->ctx = c;
    if (j->sim->o.kind == SIM_TGI)
        j->id[0] = '\0'; /* TGI answers with an empty id */
    else
        sim_make_id(j->id, sizeof(j->id), chat ? "chatcmpl-" : "cmpl-");
    return c;
}

static int h_chat(eco_http_call_t *call)
{
    sim_job_t *j = sim_job_new(call->data, call, &OAI);
    if (!j)
        return 0;
    json_t *body = sim_job_json(j);
    if (!body)
        return 0;
    ctx_new(j, 1);
    oai_params_t p;
    eco_buf_t text;
    eco_buf_init(&text, 0);
    char err[256];
    if (parse_common(j, body, 1, &p) != 0)
        goto out;
    if (sim_messages_render(json_object_get(body, "messages"), &text, err, sizeof(err)) != 0) {
        sim_job_fail(j, SIM_ERR_INVALID, 0, "%s", err);
        goto out;
    }
    if (sim_check_context(j, gen_prompt_tokens(text.base, text.len), p.max_tokens) != 0)
        goto out;
    sim_job_alloc_seqs(j, 1);
    sim_job_generate(j, 0, eco_buf_cstr(&text), text.len, p.seed, p.max_tokens);
    sim_job_submit(j);
out:
    eco_buf_free(&text);
    json_decref(body);
    return 0;
}

#define MAX_BATCH 64

static int h_completions(eco_http_call_t *call)
{
    sim_job_t *j = sim_job_new(call->data, call, &OAI);
    if (!j)
        return 0;
    json_t *body = sim_job_json(j);
    if (!body)
        return 0;
    oai_ctx_t *c = ctx_new(j, 0);
    oai_params_t p;
    char err[256];
    if (parse_common(j, body, 0, &p) != 0)
        goto out;
    if (sim_get_bool(body, "echo", &c->echo, err, sizeof(err)) < 0) {
        sim_job_fail(j, SIM_ERR_INVALID, 0, "%s", err);
        goto out;
    }
    json_t *prompt = json_object_get(body, "prompt");
    json_t *one[1] = {prompt};
    json_t **prompts = one;
    size_t n = 1;
    if (json_is_array(prompt)) {
        n = json_array_size(prompt);
        if (n == 0 || n > MAX_BATCH) {
            sim_job_fail(j, SIM_ERR_INVALID, 0, "`prompt` must hold 1-%d prompts", MAX_BATCH);
            goto out;
        }
        prompts = h2o_mem_alloc_pool(&call->req->pool, sizeof(json_t *) * n);
        for (size_t i = 0; i < n; i++)
            prompts[i] = json_array_get(prompt, i);
    }
    for (size_t i = 0; i < n; i++) {
        if (!json_is_string(prompts[i])) {
            sim_job_fail(j, SIM_ERR_INVALID, 0,
                         "`prompt` must be a string or a list of strings (engine-sim does not take token ids)");
            goto out;
        }
    }
    if (n > 1 && (p.stream || c->echo)) {
        sim_job_fail(j, SIM_ERR_INVALID, 0, "engine-sim cannot stream or echo a batch of prompts");
        goto out;
    }
    sim_job_alloc_seqs(j, n);
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(prompts[i]);
        size_t len = json_string_length(prompts[i]);
        if (sim_check_context(j, gen_prompt_tokens(s, len), p.max_tokens) != 0)
            goto out;
        sim_job_generate(j, i, s, len, p.seed, p.max_tokens);
    }
    if (c->echo) {
        c->prompt_len = json_string_length(prompts[0]);
        c->prompt = h2o_strdup(&call->req->pool, json_string_value(prompts[0]), c->prompt_len).base;
    }
    sim_job_submit(j);
out:
    json_decref(body);
    return 0;
}

void sim_routes_openai(sim_t *sim)
{
    eco_service_t *svc = sim->svc;
    if (sim->o.kind == SIM_TRITON)
        return;
    eco_service_route(svc, "POST", "/v1/chat/completions", h_chat, sim);
    eco_service_route(svc, "POST", "/v1/completions", h_completions, sim);
    if (sim->o.kind == SIM_LLAMACPP) {
        eco_service_route(svc, "POST", "/chat/completions", h_chat, sim);
    }
    sim_oai_embeddings_routes(sim);
}
