/* Ollama native API (engines.md §4): /api/chat (messages keep their roles) and /api/generate
 * with raw:true for plain prompts; options.num_predict is the length limit; streams are NDJSON
 * whose last line has done:true, done_reason and the token counts. */
#include "engines_internal.h"

#include <string.h>

int eco__ollama_build(const eco_engine_gen_req_t *r, eco_engine_http_t *h, eco_engine_error_t *e)
{
    int chat = r->nmessages > 0;
    eco__http_start(h, chat ? ECO_ENGINE_WIRE_OLLAMA_CHAT : ECO_ENGINE_WIRE_OLLAMA_GENERATE,
                    chat ? "/api/chat" : "/api/generate");
    h->stream = r->stream;
    h->ndjson = 1;
    eco_buf_t *b = &h->body;
    int first = 1;
    eco_buf_addc(b, '{');
    eco__json_kv_str(b, &first, "model", r->model ? r->model : "");
    if (chat) {
        eco__json_key(b, &first, "messages");
        eco__json_messages(b, r->messages, r->nmessages);
    } else {
        eco__json_kv_str(b, &first, "prompt", r->prompt);
        /* A completion continues the text as given: no template around it. */
        eco__json_kv_raw(b, &first, "raw", "true");
    }
    eco__json_kv_raw(b, &first, "stream", r->stream ? "true" : "false"); /* streaming is Ollama's default */
    eco__json_key(b, &first, "options");
    int of = 1;
    eco_buf_addc(b, '{');
    if (r->has_max_tokens)
        eco__json_kv_int(b, &of, "num_predict", r->max_tokens);
    if (r->has_temperature)
        eco__json_kv_num(b, &of, "temperature", r->temperature);
    if (r->has_top_p)
        eco__json_kv_num(b, &of, "top_p", r->top_p);
    if (r->has_seed)
        eco__json_kv_int(b, &of, "seed", r->seed);
    if (r->nstop) {
        eco__json_key(b, &of, "stop");
        eco__json_str_array(b, r->stop, r->nstop);
    }
    if (r->has_presence_penalty)
        eco__json_kv_num(b, &of, "presence_penalty", r->presence_penalty);
    if (r->has_frequency_penalty)
        eco__json_kv_num(b, &of, "frequency_penalty", r->frequency_penalty);
    eco_buf_adds(b, "}}");
    return eco__http_check(h, e);
}

static const char *piece(json_t *obj, size_t *n)
{
    const char *t = eco__json_str(eco__json_get(obj, "message"), "content", n);
    return t ? t : eco__json_str(obj, "response", n);
}

int eco__ollama_parse(json_t *root, eco_engine_result_t *r, eco_engine_error_t *e)
{
    size_t n = 0;
    const char *t = piece(root, &n);
    if (!t || !json_is_true(eco__json_get(root, "done"))) {
        eco__malformed(e, "no response text or not done");
        return -1;
    }
    eco_buf_add(&r->text, t, n);
    eco__result_finish(r, eco__json_str(root, "done_reason", NULL));
    /* omitempty: a missing count is 0 (e.g. a fully cached prompt). */
    eco__json_u32(root, "prompt_eval_count", &r->prompt_tokens);
    eco__json_u32(root, "eval_count", &r->completion_tokens);
    r->has_prompt_tokens = r->has_completion_tokens = 1;
    const char *model = eco__json_str(root, "model", NULL);
    if (model)
        snprintf(r->model, sizeof(r->model), "%s", model);
    return 0;
}

int eco__ollama_event(eco_engine_stream_t *s, json_t *obj, eco_engine_event_cb cb, void *data)
{
    int rc;
    size_t n = 0;
    const char *t = piece(obj, &n);
    if (t && (rc = eco__emit_delta(s, t, n, cb, data)))
        return rc;
    if (!json_is_true(eco__json_get(obj, "done")))
        return 0;
    if ((rc = eco__emit_finish(s, eco__json_str(obj, "done_reason", NULL), cb, data)))
        return rc;
    uint32_t p = 0, c = 0;
    eco__json_u32(obj, "prompt_eval_count", &p);
    eco__json_u32(obj, "eval_count", &c);
    if ((rc = eco__emit_usage(s, 1, p, 1, c, cb, data)))
        return rc;
    return eco__emit_end(s, cb, data);
}
