/* SGLang native API (engines.md §5): POST /generate {"text", "sampling_params"}; the stream's
 * "text" is cumulative unless the server runs with --incremental-streaming-output, so deltas
 * are what is new since the previous event; meta_info carries finish_reason and counts. */
#include "engines_internal.h"

#include <string.h>

int eco__sglang_build(const eco_engine_gen_req_t *r, eco_engine_http_t *h, eco_engine_error_t *e)
{
    eco__http_start(h, ECO_ENGINE_WIRE_SGLANG_GENERATE, "/generate");
    h->stream = r->stream;
    eco_buf_t *b = &h->body;
    int first = 1;
    eco_buf_addc(b, '{');
    eco__json_kv_str(b, &first, "text", r->prompt);
    eco__json_kv_raw(b, &first, "stream", r->stream ? "true" : "false");
    eco__json_key(b, &first, "sampling_params");
    int sf = 1;
    eco_buf_addc(b, '{');
    if (r->has_max_tokens)
        eco__json_kv_int(b, &sf, "max_new_tokens", r->max_tokens);
    if (r->has_temperature)
        eco__json_kv_num(b, &sf, "temperature", r->temperature);
    if (r->has_top_p)
        eco__json_kv_num(b, &sf, "top_p", r->top_p);
    if (r->nstop) {
        eco__json_key(b, &sf, "stop");
        eco__json_str_array(b, r->stop, r->nstop);
    }
    if (r->has_seed) /* the native name of the sampling seed (verify per SGLang version) */
        eco__json_kv_int(b, &sf, "sampling_seed", r->seed);
    if (r->has_presence_penalty)
        eco__json_kv_num(b, &sf, "presence_penalty", r->presence_penalty);
    if (r->has_frequency_penalty)
        eco__json_kv_num(b, &sf, "frequency_penalty", r->frequency_penalty);
    eco_buf_adds(b, "}}");
    return eco__http_check(h, e);
}

static const char *finish_type(json_t *meta)
{
    json_t *fr = eco__json_get(meta, "finish_reason");
    if (json_is_string(fr))
        return json_string_value(fr);
    return eco__json_str(fr, "type", NULL);
}

int eco__sglang_parse(json_t *root, eco_engine_result_t *r, eco_engine_error_t *e)
{
    if (json_is_array(root))
        root = json_array_get(root, 0);
    size_t n;
    const char *text = eco__json_str(root, "text", &n);
    if (!text) {
        eco__malformed(e, "no text");
        return -1;
    }
    json_t *meta = eco__json_get(root, "meta_info");
    const char *fr = finish_type(meta);
    if (fr && strcmp(fr, "abort") == 0) {
        const char *msg = eco__json_str(eco__json_get(meta, "finish_reason"), "message", NULL);
        eco_engine_error_set(e, GRPC_STATUS_UNAVAILABLE, "engine_aborted", "the engine aborted the request%s%s",
                             msg ? ": " : "", msg ? msg : "");
        return -1;
    }
    eco_buf_add(&r->text, text, n);
    eco__result_finish(r, fr);
    r->has_prompt_tokens = eco__json_u32(meta, "prompt_tokens", &r->prompt_tokens);
    r->has_completion_tokens = eco__json_u32(meta, "completion_tokens", &r->completion_tokens);
    return 0;
}

int eco__sglang_event(eco_engine_stream_t *s, json_t *obj, eco_engine_event_cb cb, void *data)
{
    int rc;
    size_t n = 0;
    const char *t = eco__json_str(obj, "text", &n);
    if (t) {
        if (!s->cumulative) {
            if ((rc = eco__emit_delta(s, t, n, cb, data)))
                return rc;
        } else {
            if (n < s->acc.len || (s->acc.len && memcmp(t, s->acc.base, s->acc.len) != 0)) {
                eco_engine_error_t e;
                eco_engine_error_set(&e, GRPC_STATUS_INTERNAL, "malformed_response",
                                     "malformed engine stream: SGLang text is not cumulative "
                                     "(is the server running with --incremental-streaming-output?)");
                return eco__emit_error(s, &e, cb, data);
            }
            size_t old = s->acc.len;
            eco_buf_add(&s->acc, t + old, n - old); /* the prefix is already there */
            if (!eco_buf_ok(&s->acc)) {
                eco_engine_error_t e;
                eco_engine_error_set(&e, GRPC_STATUS_RESOURCE_EXHAUSTED, "response_too_large",
                                     "the answer exceeds %u bytes", ECO_ENGINE_MAX_RESPONSE_BODY);
                return eco__emit_error(s, &e, cb, data);
            }
            if ((rc = eco__emit_delta(s, t + old, n - old, cb, data)))
                return rc;
        }
    }
    json_t *meta = eco__json_get(obj, "meta_info");
    const char *fr = finish_type(meta);
    if (!fr)
        return 0;
    if ((rc = eco__emit_finish(s, fr, cb, data)))
        return rc;
    uint32_t p = 0, c = 0;
    int hp = eco__json_u32(meta, "prompt_tokens", &p), hc = eco__json_u32(meta, "completion_tokens", &c);
    return eco__emit_usage(s, hp, p, hc, c, cb, data);
}
