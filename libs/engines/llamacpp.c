/* llama.cpp llama-server native completion (engines.md §9): POST /completion {"prompt",
 * "n_predict", ...}; the stream has no [DONE]: the last event has "stop":true, stop_type and
 * the counts; mid-stream errors arrive in an SSE "error:" field (handled by the framing). */
#include "engines_internal.h"

#include <string.h>

int eco__llamacpp_build(const eco_engine_gen_req_t *r, eco_engine_http_t *h, eco_engine_error_t *e)
{
    eco__http_start(h, ECO_ENGINE_WIRE_LLAMACPP_COMPLETION, "/completion");
    h->stream = r->stream;
    eco_buf_t *b = &h->body;
    int first = 1;
    eco_buf_addc(b, '{');
    eco__json_kv_str(b, &first, "prompt", r->prompt);
    eco__json_kv_raw(b, &first, "stream", r->stream ? "true" : "false");
    if (r->has_max_tokens)
        eco__json_kv_int(b, &first, "n_predict", r->max_tokens);
    if (r->has_temperature)
        eco__json_kv_num(b, &first, "temperature", r->temperature);
    if (r->has_top_p)
        eco__json_kv_num(b, &first, "top_p", r->top_p);
    if (r->has_seed)
        eco__json_kv_int(b, &first, "seed", r->seed);
    if (r->nstop) {
        eco__json_key(b, &first, "stop");
        eco__json_str_array(b, r->stop, r->nstop);
    }
    if (r->has_presence_penalty)
        eco__json_kv_num(b, &first, "presence_penalty", r->presence_penalty);
    if (r->has_frequency_penalty)
        eco__json_kv_num(b, &first, "frequency_penalty", r->frequency_penalty);
    eco__json_kv_raw(b, &first, "cache_prompt", "true");
    eco_buf_addc(b, '}');
    return eco__http_check(h, e);
}

/* stop_type: eos/word -> stop, limit -> length; "none" (stopped otherwise) counts as stop. */
static const char *stop_type(json_t *obj)
{
    const char *t = eco__json_str(obj, "stop_type", NULL);
    return !t || strcmp(t, "none") == 0 ? "stop" : t;
}

static void counts(json_t *obj, int *hp, uint32_t *p, int *hc, uint32_t *c)
{
    json_t *timings = eco__json_get(obj, "timings");
    *hp = eco__json_u32(obj, "tokens_evaluated", p) || eco__json_u32(timings, "prompt_n", p);
    *hc = eco__json_u32(obj, "tokens_predicted", c) || eco__json_u32(timings, "predicted_n", c);
}

int eco__llamacpp_parse(json_t *root, eco_engine_result_t *r, eco_engine_error_t *e)
{
    size_t n;
    const char *text = eco__json_str(root, "content", &n);
    if (!text) {
        eco__malformed(e, "no content");
        return -1;
    }
    eco_buf_add(&r->text, text, n);
    eco__result_finish(r, stop_type(root));
    counts(root, &r->has_prompt_tokens, &r->prompt_tokens, &r->has_completion_tokens, &r->completion_tokens);
    const char *model = eco__json_str(root, "model", NULL);
    if (model)
        snprintf(r->model, sizeof(r->model), "%s", model);
    return 0;
}

int eco__llamacpp_event(eco_engine_stream_t *s, json_t *obj, eco_engine_event_cb cb, void *data)
{
    int rc;
    size_t n = 0;
    const char *t = eco__json_str(obj, "content", &n);
    if (t && (rc = eco__emit_delta(s, t, n, cb, data)))
        return rc;
    if (!json_is_true(eco__json_get(obj, "stop")))
        return 0;
    if ((rc = eco__emit_finish(s, stop_type(obj), cb, data)))
        return rc;
    int hp, hc;
    uint32_t p = 0, c = 0;
    counts(obj, &hp, &p, &hc, &c);
    if ((rc = eco__emit_usage(s, hp, p, hc, c, cb, data)))
        return rc;
    return eco__emit_end(s, cb, data);
}
