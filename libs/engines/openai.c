/* The OpenAI wire format as each engine speaks it (engines.md §1): /v1/chat/completions and
 * /v1/completions for vLLM, trtllm-serve, DeepSpeed-MII, LMDeploy and plain OpenAI servers,
 * plus the chat routes of TGI, SGLang and llama.cpp; /v1/embeddings. */
#include "engines_internal.h"

#include <string.h>

static int include_usage_ok(const eco_engine_kind_t *k)
{
    return k->id != ECO_ENGINE_MII; /* its server has no stream_options and never sends usage */
}

int eco__oai_build(const eco_engine_kind_t *k, const eco_engine_gen_req_t *r, int chat, eco_engine_http_t *h,
                   eco_engine_error_t *e)
{
    eco__http_start(h, chat ? ECO_ENGINE_WIRE_OAI_CHAT : ECO_ENGINE_WIRE_OAI_COMPLETION,
                    chat ? "/v1/chat/completions" : "/v1/completions");
    h->stream = r->stream;
    eco_buf_t *b = &h->body;
    int first = 1;
    eco_buf_addc(b, '{');
    if (r->model && *r->model)
        eco__json_kv_str(b, &first, "model", r->model);
    if (chat) {
        eco__json_key(b, &first, "messages");
        eco__json_messages(b, r->messages, r->nmessages);
        /* vLLM renders a trailing assistant message open when asked; llama.cpp prefills it by
         * default. The generic builder has already refused kinds that cannot. */
        if (eco__last_is_assistant(r) && k->id == ECO_ENGINE_VLLM) {
            eco__json_kv_raw(b, &first, "continue_final_message", "true");
            eco__json_kv_raw(b, &first, "add_generation_prompt", "false");
        }
    } else {
        eco__json_kv_str(b, &first, "prompt", r->prompt);
    }
    eco__json_kv_raw(b, &first, "stream", r->stream ? "true" : "false");
    if (r->stream && include_usage_ok(k))
        eco__json_kv_raw(b, &first, "stream_options", "{\"include_usage\":true}");
    if (r->has_max_tokens)
        eco__json_kv_int(b, &first, "max_tokens", r->max_tokens);
    if (r->has_temperature)
        eco__json_kv_num(b, &first, "temperature", r->temperature);
    /* TGI validates top_p as an open interval (0, 1): 1.0 means "off", so leave it out. */
    if (r->has_top_p && !(k->id == ECO_ENGINE_TGI && r->top_p >= 1.0))
        eco__json_kv_num(b, &first, "top_p", r->top_p);
    if (r->nstop) {
        eco__json_key(b, &first, "stop");
        eco__json_str_array(b, r->stop, r->nstop);
    }
    if (r->has_seed && k->caps.seed)
        eco__json_kv_int(b, &first, "seed", r->seed);
    if (k->caps.penalties) {
        if (r->has_presence_penalty)
            eco__json_kv_num(b, &first, "presence_penalty", r->presence_penalty);
        if (r->has_frequency_penalty)
            eco__json_kv_num(b, &first, "frequency_penalty", r->frequency_penalty);
    }
    eco_buf_addc(b, '}');
    return eco__http_check(h, e);
}

static void take_usage(json_t *usage, eco_engine_result_t *r)
{
    if (!json_is_object(usage))
        return;
    r->has_prompt_tokens = eco__json_u32(usage, "prompt_tokens", &r->prompt_tokens);
    r->has_completion_tokens = eco__json_u32(usage, "completion_tokens", &r->completion_tokens);
}

int eco__oai_parse(eco_engine_wire_t wire, json_t *root, eco_engine_result_t *r, eco_engine_error_t *e)
{
    json_t *choices = eco__json_get(root, "choices");
    json_t *c0 = json_array_get(choices, 0);
    if (!json_is_object(c0)) {
        eco__malformed(e, "no choices[0]");
        return -1;
    }
    json_t *text;
    if (wire == ECO_ENGINE_WIRE_OAI_CHAT) {
        json_t *msg = eco__json_get(c0, "message");
        if (!json_is_object(msg)) {
            eco__malformed(e, "choices[0].message is not an object");
            return -1;
        }
        text = eco__json_get(msg, "content");
    } else {
        text = eco__json_get(c0, "text");
    }
    if (text && !json_is_null(text) && !json_is_string(text)) {
        eco__malformed(e, "the answer text is not a string");
        return -1;
    }
    if (json_is_string(text))
        eco_buf_add(&r->text, json_string_value(text), json_string_length(text));
    const char *fr = eco__json_str(c0, "finish_reason", NULL);
    if (fr && (strcmp(fr, "abort") == 0)) {
        eco_engine_error_set(e, GRPC_STATUS_UNAVAILABLE, "engine_aborted", "the engine aborted the request");
        return -1;
    }
    eco__result_finish(r, fr);
    take_usage(eco__json_get(root, "usage"), r);
    const char *model = eco__json_str(root, "model", NULL);
    if (model)
        snprintf(r->model, sizeof(r->model), "%s", model);
    return 0;
}

int eco__oai_event(eco_engine_stream_t *s, json_t *obj, eco_engine_event_cb cb, void *data)
{
    int rc = 0;
    json_t *c0 = json_array_get(eco__json_get(obj, "choices"), 0);
    if (json_is_object(c0)) {
        const char *t;
        size_t n = 0;
        if (s->wire == ECO_ENGINE_WIRE_OAI_CHAT)
            t = eco__json_str(eco__json_get(c0, "delta"), "content", &n);
        else
            t = eco__json_str(c0, "text", &n);
        if (t && (rc = eco__emit_delta(s, t, n, cb, data)))
            return rc;
        const char *fr = eco__json_str(c0, "finish_reason", NULL);
        if (fr && (rc = eco__emit_finish(s, fr, cb, data)))
            return rc;
    }
    json_t *usage = eco__json_get(obj, "usage");
    if (json_is_object(usage)) {
        uint32_t p = 0, c = 0;
        int hp = eco__json_u32(usage, "prompt_tokens", &p), hc = eco__json_u32(usage, "completion_tokens", &c);
        rc = eco__emit_usage(s, hp, p, hc, c, cb, data);
    }
    return rc;
}
