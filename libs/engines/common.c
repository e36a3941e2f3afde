/* Helpers shared by the engine families: JSON reading and writing, results, finish reasons,
 * the ChatML template and token estimates. */
#include "engines_internal.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

/* ---------- JSON reading ---------- */

json_t *eco__engine_json(const char *p, size_t n)
{
    json_error_t err;
    if (!p || n == 0)
        return NULL;
    return json_loadb(p, n, JSON_DECODE_ANY, &err);
}

json_t *eco__json_get(json_t *obj, const char *key)
{
    return json_is_object(obj) ? json_object_get(obj, key) : NULL;
}

const char *eco__json_str(json_t *obj, const char *key, size_t *len)
{
    json_t *v = eco__json_get(obj, key);
    if (!json_is_string(v))
        return NULL;
    if (len)
        *len = json_string_length(v);
    return json_string_value(v);
}

int eco__json_num(json_t *obj, const char *key, double *out)
{
    json_t *v = eco__json_get(obj, key);
    if (!json_is_number(v))
        return 0;
    *out = json_number_value(v);
    return 1;
}

int eco__json_u32(json_t *obj, const char *key, uint32_t *out)
{
    double d;
    if (!eco__json_num(obj, key, &d) || !(d >= 0) || d > 4294967295.0 || floor(d) != d)
        return 0;
    *out = (uint32_t)d;
    return 1;
}

int eco__json_is_error(json_t *root)
{
    if (!json_is_object(root))
        return 0;
    json_t *err = json_object_get(root, "error");
    if (err && !json_is_null(err) && !json_is_false(err))
        return 1;
    const char *obj = eco__json_str(root, "object", NULL);
    return obj && strcmp(obj, "error") == 0;
}

/* ---------- JSON writing ---------- */

void eco__json_key(eco_buf_t *b, int *first, const char *key)
{
    if (!*first)
        eco_buf_addc(b, ',');
    *first = 0;
    eco_buf_add_json_str(b, key, (size_t)-1);
    eco_buf_addc(b, ':');
}

void eco__json_kv_str(eco_buf_t *b, int *first, const char *key, const char *s)
{
    eco__json_key(b, first, key);
    eco_buf_add_json_str(b, s ? s : "", (size_t)-1);
}

void eco__json_kv_num(eco_buf_t *b, int *first, const char *key, double v)
{
    eco__json_key(b, first, key);
    eco_buf_add_json_double(b, v);
}

void eco__json_kv_int(eco_buf_t *b, int *first, const char *key, long long v)
{
    eco__json_key(b, first, key);
    eco_buf_addf(b, "%lld", v);
}

void eco__json_kv_raw(eco_buf_t *b, int *first, const char *key, const char *raw)
{
    eco__json_key(b, first, key);
    eco_buf_adds(b, raw);
}

void eco__json_str_array(eco_buf_t *b, const char *const *v, size_t n)
{
    eco_buf_addc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            eco_buf_addc(b, ',');
        eco_buf_add_json_str(b, v[i] ? v[i] : "", (size_t)-1);
    }
    eco_buf_addc(b, ']');
}

void eco__json_messages(eco_buf_t *b, const eco_engine_msg_t *m, size_t n)
{
    eco_buf_addc(b, '[');
    for (size_t i = 0; i < n; i++) {
        eco_buf_adds(b, i ? ",{\"role\":" : "{\"role\":");
        eco_buf_add_json_str(b, m[i].role ? m[i].role : "", (size_t)-1);
        eco_buf_adds(b, ",\"content\":");
        eco_buf_add_json_str(b, m[i].content ? m[i].content : "", (size_t)-1);
        eco_buf_addc(b, '}');
    }
    eco_buf_addc(b, ']');
}

int eco__last_is_assistant(const eco_engine_gen_req_t *r)
{
    return r->nmessages > 0 && r->messages[r->nmessages - 1].role &&
           strcmp(r->messages[r->nmessages - 1].role, "assistant") == 0;
}

void eco__http_start(eco_engine_http_t *h, eco_engine_wire_t wire, const char *fmt, ...)
{
    memset(h, 0, sizeof(*h));
    h->wire = wire;
    h->method = "POST";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->path, sizeof(h->path), fmt, ap);
    va_end(ap);
    eco_buf_init(&h->body, ECO_ENGINE_MAX_REQUEST_BODY);
}

int eco__http_check(eco_engine_http_t *h, eco_engine_error_t *e)
{
    if (eco_buf_ok(&h->body))
        return 0;
    eco_engine_error_set(e, GRPC_STATUS_INVALID_ARGUMENT, "request_too_large",
                         "the native request would exceed %u bytes", ECO_ENGINE_MAX_REQUEST_BODY);
    eco_engine_http_free(h);
    return -1;
}

void eco_engine_http_free(eco_engine_http_t *h)
{
    eco_buf_free(&h->body);
}

/* ---------- results ---------- */

void eco_engine_result_init(eco_engine_result_t *r)
{
    memset(r, 0, sizeof(*r));
    eco_buf_init(&r->text, ECO_ENGINE_MAX_RESPONSE_BODY);
}

void eco_engine_result_free(eco_engine_result_t *r)
{
    eco_buf_free(&r->text);
}

void eco__result_finish(eco_engine_result_t *r, const char *reason)
{
    eco_engine_finish_reason(reason, r->finish_reason, sizeof(r->finish_reason));
}

void eco__malformed(eco_engine_error_t *e, const char *what)
{
    eco_engine_error_set(e, GRPC_STATUS_INTERNAL, "malformed_response", "malformed engine answer: %s", what);
}

void eco_engine_finish_reason(const char *engine_reason, char *out, size_t n)
{
    static const char *const stop[] = {"stop", "eos",      "eos_token", "stop_sequence",
                                       "word", "end_turn", "load" /* Ollama: an empty prompt only loaded the model */};
    static const char *const length[] = {"length", "limit", "max_tokens", "max_length"};
    if (!n)
        return;
    out[0] = '\0';
    if (!engine_reason || !*engine_reason)
        return;
    for (size_t i = 0; i < ECO_ARRAY_SIZE(stop); i++)
        if (strcmp(engine_reason, stop[i]) == 0) {
            snprintf(out, n, "stop");
            return;
        }
    for (size_t i = 0; i < ECO_ARRAY_SIZE(length); i++)
        if (strcmp(engine_reason, length[i]) == 0) {
            snprintf(out, n, "length");
            return;
        }
    /* Anything else (tool_calls, content_filter, ...) keeps its name, made label-safe. */
    size_t j = 0;
    for (const char *p = engine_reason; *p && j + 1 < n; p++) {
        char c = *p;
        out[j++] = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ? c
                   : (c >= 'A' && c <= 'Z')                                     ? (char)(c - 'A' + 'a')
                                                                                : '_';
    }
    out[j] = '\0';
}

uint32_t eco_engine_estimate_tokens(size_t bytes)
{
    if (bytes == 0)
        return 0;
    size_t t = (bytes + 3) / 4;
    return t > UINT32_MAX ? UINT32_MAX : (uint32_t)t;
}

void eco_engine_render_chatml(const eco_engine_msg_t *msgs, size_t n, eco_buf_t *out)
{
    for (size_t i = 0; i < n; i++) {
        const char *role = msgs[i].role ? msgs[i].role : "";
        eco_buf_adds(out, "<|im_start|>");
        eco_buf_adds(out, role);
        eco_buf_addc(out, '\n');
        eco_buf_adds(out, msgs[i].content ? msgs[i].content : "");
        if (i + 1 == n && strcmp(role, "assistant") == 0)
            return; /* left open: the model continues it */
        eco_buf_adds(out, "<|im_end|>\n");
    }
    eco_buf_adds(out, "<|im_start|>assistant\n");
}

void eco_engine_usage_header(eco_engine_result_t *r, const char *name, size_t name_len, const char *value,
                             size_t value_len)
{
    uint32_t *dst;
    int *has;
    if (name_len == 15 && memcmp(name, "x-prompt-tokens", 15) == 0) {
        dst = &r->prompt_tokens;
        has = &r->has_prompt_tokens;
    } else if (name_len == 18 && memcmp(name, "x-generated-tokens", 18) == 0) {
        dst = &r->completion_tokens;
        has = &r->has_completion_tokens;
    } else {
        return;
    }
    uint64_t v = 0;
    if (value_len == 0 || value_len > 10)
        return;
    for (size_t i = 0; i < value_len; i++) {
        if (value[i] < '0' || value[i] > '9')
            return;
        v = v * 10 + (uint64_t)(value[i] - '0');
    }
    if (v > UINT32_MAX)
        return;
    *dst = (uint32_t)v;
    *has = 1;
}
