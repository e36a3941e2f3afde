/* Hugging Face TGI native API (engines.md §3): POST /generate and /generate_stream with
 * {"inputs", "parameters"}. details:true is what brings the finish reason and token counts;
 * the stream uses "data:" without a space, ":" keep-alives, and no [DONE]: the last event
 * carries generated_text and details. */
#include "engines_internal.h"

#include <string.h>

int eco__tgi_build(const eco_engine_gen_req_t *r, eco_engine_http_t *h, eco_engine_error_t *e)
{
    eco__http_start(h, ECO_ENGINE_WIRE_TGI_GENERATE, r->stream ? "/generate_stream" : "/generate");
    h->stream = r->stream;
    eco_buf_t *b = &h->body;
    int first = 1;
    eco_buf_addc(b, '{');
    eco__json_kv_str(b, &first, "inputs", r->prompt);
    eco__json_key(b, &first, "parameters");
    int pf = 1;
    eco_buf_addc(b, '{');
    eco__json_kv_raw(b, &pf, "details", "true");
    if (r->has_max_tokens)
        eco__json_kv_int(b, &pf, "max_new_tokens", r->max_tokens);
    /* TGI rejects temperature 0: greedy is do_sample:false. */
    if (r->has_temperature) {
        if (r->temperature > 0) {
            eco__json_kv_num(b, &pf, "temperature", r->temperature);
            eco__json_kv_raw(b, &pf, "do_sample", "true");
        } else {
            eco__json_kv_raw(b, &pf, "do_sample", "false");
        }
    }
    if (r->has_top_p && r->top_p > 0 && r->top_p < 1.0) /* (0, 1) exclusive; 1 = off */
        eco__json_kv_num(b, &pf, "top_p", r->top_p);
    if (r->nstop) {
        eco__json_key(b, &pf, "stop");
        eco__json_str_array(b, r->stop, r->nstop);
    }
    if (r->has_seed)
        eco__json_kv_int(b, &pf, "seed", r->seed);
    /* The native API has no presence penalty (the Messages API maps it to repetition_penalty). */
    if (r->has_frequency_penalty)
        eco__json_kv_num(b, &pf, "frequency_penalty", r->frequency_penalty);
    eco_buf_adds(b, "}}");
    return eco__http_check(h, e);
}

int eco__tgi_parse(json_t *root, eco_engine_result_t *r, eco_engine_error_t *e)
{
    if (json_is_array(root)) /* POST / answers a one-element list */
        root = json_array_get(root, 0);
    size_t n;
    const char *text = eco__json_str(root, "generated_text", &n);
    if (!text) {
        eco__malformed(e, "no generated_text");
        return -1;
    }
    eco_buf_add(&r->text, text, n);
    json_t *details = eco__json_get(root, "details");
    eco__result_finish(r, eco__json_str(details, "finish_reason", NULL));
    r->has_completion_tokens = eco__json_u32(details, "generated_tokens", &r->completion_tokens);
    return 0;
}

int eco__tgi_event(eco_engine_stream_t *s, json_t *obj, eco_engine_event_cb cb, void *data)
{
    int rc;
    json_t *token = eco__json_get(obj, "token");
    size_t n = 0;
    const char *t = eco__json_str(token, "text", &n);
    if (t && !json_is_true(eco__json_get(token, "special")) && (rc = eco__emit_delta(s, t, n, cb, data)))
        return rc;
    json_t *details = eco__json_get(obj, "details");
    json_t *gen = eco__json_get(obj, "generated_text");
    if ((!details || json_is_null(details)) && (!gen || json_is_null(gen)))
        return 0;
    if ((rc = eco__emit_finish(s, eco__json_str(details, "finish_reason", NULL), cb, data)))
        return rc;
    uint32_t p = 0, c = 0;
    int hp = eco__json_u32(details, "input_length", &p), hc = eco__json_u32(details, "generated_tokens", &c);
    if ((rc = eco__emit_usage(s, hp, p, hc, c, cb, data)))
        return rc;
    return eco__emit_end(s, cb, data); /* the last event: nothing follows */
}
