/* Triton Inference Server + TensorRT-LLM, generate extension (engines.md §6b):
 * POST /v2/models/{model}/generate and /generate_stream with {"text_input", "max_tokens", ...}.
 * Raw text only: chat is rendered as ChatML (eco_engine_render_chatml), which also continues a
 * trailing assistant message. No finish reason and no token counts; the stream has no
 * terminator (the body ends) and one event per token. */
#include "engines_internal.h"

#include <string.h>

/* Appends s percent-encoded for one path segment. */
static void path_segment(char *out, size_t cap, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t j = strlen(out);
    for (; *s && j + 4 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~') {
            out[j++] = (char)c;
        } else {
            out[j++] = '%';
            out[j++] = hex[c >> 4];
            out[j++] = hex[c & 15];
        }
    }
    out[j] = '\0';
}

int eco__triton_build(const eco_engine_gen_req_t *r, eco_engine_http_t *h, eco_engine_error_t *e)
{
    if (!r->has_max_tokens && !r->default_max_tokens) {
        eco_engine_error_set(e, GRPC_STATUS_INVALID_ARGUMENT, "invalid_request",
                             "Triton needs max_tokens (none given and no default configured)");
        return -1;
    }
    eco__http_start(h, ECO_ENGINE_WIRE_TRITON_GENERATE, "/v2/models/");
    path_segment(h->path, sizeof(h->path), r->model && *r->model ? r->model : "ensemble");
    snprintf(h->path + strlen(h->path), sizeof(h->path) - strlen(h->path), "%s",
             r->stream ? "/generate_stream" : "/generate");
    h->stream = r->stream;
    eco_buf_t *b = &h->body;
    int first = 1;
    eco_buf_addc(b, '{');
    eco__json_key(b, &first, "text_input");
    if (r->nmessages) {
        eco_buf_t t;
        eco_buf_init(&t, ECO_ENGINE_MAX_REQUEST_BODY);
        eco_engine_render_chatml(r->messages, r->nmessages, &t);
        eco_buf_add_json_str(b, t.base ? t.base : "", t.len);
        if (!eco_buf_ok(&t))
            b->overflow = 1;
        eco_buf_free(&t);
    } else {
        eco_buf_add_json_str(b, r->prompt ? r->prompt : "", (size_t)-1);
    }
    eco__json_kv_int(b, &first, "max_tokens", r->has_max_tokens ? r->max_tokens : r->default_max_tokens);
    if (r->stream)
        eco__json_kv_raw(b, &first, "stream", "true");
    /* Answer only the new text, whatever the model config's default. */
    eco__json_kv_raw(b, &first, "exclude_input_in_output", "true");
    if (r->has_temperature) {
        if (r->temperature > 0)
            eco__json_kv_num(b, &first, "temperature", r->temperature);
        else
            eco__json_kv_int(b, &first, "top_k", 1); /* greedy */
    }
    if (r->has_top_p)
        eco__json_kv_num(b, &first, "top_p", r->top_p);
    if (r->has_seed)
        eco__json_kv_int(b, &first, "seed", r->seed);
    if (r->nstop) {
        eco__json_key(b, &first, "stop_words");
        eco__json_str_array(b, r->stop, r->nstop);
    }
    if (r->has_presence_penalty)
        eco__json_kv_num(b, &first, "presence_penalty", r->presence_penalty);
    if (r->has_frequency_penalty)
        eco__json_kv_num(b, &first, "frequency_penalty", r->frequency_penalty);
    eco_buf_addc(b, '}');
    return eco__http_check(h, e);
}

int eco__triton_parse(json_t *root, eco_engine_result_t *r, eco_engine_error_t *e)
{
    size_t n;
    const char *text = eco__json_str(root, "text_output", &n);
    if (!text) {
        eco__malformed(e, "no text_output");
        return -1;
    }
    eco_buf_add(&r->text, text, n);
    /* One log-prob per generated token, when the model returns them. */
    json_t *lp = eco__json_get(root, "output_log_probs");
    if (json_is_array(lp))
        r->inferred_tokens = (uint32_t)json_array_size(lp);
    const char *model = eco__json_str(root, "model_name", NULL);
    if (model)
        snprintf(r->model, sizeof(r->model), "%s", model);
    return 0;
}

int eco__triton_event(eco_engine_stream_t *s, json_t *obj, eco_engine_event_cb cb, void *data)
{
    size_t n = 0;
    const char *t = eco__json_str(obj, "text_output", &n);
    return t ? eco__emit_delta(s, t, n, cb, data) : 0;
}
