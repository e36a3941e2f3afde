/* The incremental stream parser: SSE (data: with or without the space, ":" comments, llama.cpp
 * "error:" fields, "event: error", [DONE]) and NDJSON framing, bounded lines, and dispatch of
 * each JSON payload to the engine family's hook. */
#include "engines_internal.h"

#include <string.h>

void eco_engine_stream_init(eco_engine_stream_t *s, const eco_engine_kind_t *k, const eco_engine_http_t *h,
                            int sglang_incremental, size_t max_line)
{
    memset(s, 0, sizeof(*s));
    s->kind = k;
    s->wire = h->wire;
    s->ndjson = h->ndjson;
    s->max_line = max_line ? max_line : ECO_ENGINE_MAX_LINE;
    s->cumulative = !sglang_incremental;
    /* Lines and events are checked against max_line before they grow; the buffers' own bound
     * is a backstop. */
    eco_buf_init(&s->line, s->max_line + 2);
    eco_buf_init(&s->data, s->max_line + 2);
    eco_buf_init(&s->acc, ECO_ENGINE_MAX_RESPONSE_BODY);
}

void eco_engine_stream_free(eco_engine_stream_t *s)
{
    eco_buf_free(&s->line);
    eco_buf_free(&s->data);
    eco_buf_free(&s->acc);
}

/* ---------- emitters ---------- */

int eco__emit_error(eco_engine_stream_t *s, const eco_engine_error_t *e, eco_engine_event_cb cb, void *data)
{
    if (s->over)
        return 0;
    s->over = 1;
    eco_engine_event_t ev = {.type = ECO_ENGINE_EV_ERROR, .error = e};
    int rc = cb(&ev, data);
    return rc ? rc : -1;
}

int eco__emit_delta(eco_engine_stream_t *s, const char *p, size_t n, eco_engine_event_cb cb, void *data)
{
    if (s->over || n == 0)
        return 0;
    s->deltas++;
    eco_engine_event_t ev = {.type = ECO_ENGINE_EV_DELTA, .text = p, .len = n};
    return cb(&ev, data);
}

int eco__emit_finish(eco_engine_stream_t *s, const char *engine_reason, eco_engine_event_cb cb, void *data)
{
    if (s->over)
        return 0;
    if (engine_reason && (strcmp(engine_reason, "abort") == 0 || strcmp(engine_reason, "unload") == 0)) {
        eco_engine_error_t e;
        eco_engine_error_set(&e, GRPC_STATUS_UNAVAILABLE, "engine_aborted", "the engine aborted the request (%s)",
                             engine_reason);
        return eco__emit_error(s, &e, cb, data);
    }
    char reason[24];
    eco_engine_finish_reason(engine_reason, reason, sizeof(reason));
    if (!reason[0])
        snprintf(reason, sizeof(reason), "stop");
    s->finished = 1;
    eco_engine_event_t ev = {.type = ECO_ENGINE_EV_FINISH, .finish_reason = reason};
    return cb(&ev, data);
}

int eco__emit_usage(eco_engine_stream_t *s, int has_p, uint32_t p, int has_c, uint32_t c, eco_engine_event_cb cb,
                    void *data)
{
    if (s->over || (!has_p && !has_c))
        return 0;
    eco_engine_event_t ev = {.type = ECO_ENGINE_EV_USAGE,
                             .has_prompt_tokens = has_p,
                             .prompt_tokens = p,
                             .has_completion_tokens = has_c,
                             .completion_tokens = c};
    return cb(&ev, data);
}

int eco__emit_end(eco_engine_stream_t *s, eco_engine_event_cb cb, void *data)
{
    if (s->over)
        return 0;
    s->over = 1;
    eco_engine_event_t ev = {.type = ECO_ENGINE_EV_END};
    return cb(&ev, data);
}

static int malformed(eco_engine_stream_t *s, const char *what, eco_engine_event_cb cb, void *data)
{
    eco_engine_error_t e;
    eco_engine_error_set(&e, GRPC_STATUS_INTERNAL, "malformed_response", "malformed engine stream: %s", what);
    return eco__emit_error(s, &e, cb, data);
}

/* ---------- payload dispatch ---------- */

static int payload(eco_engine_stream_t *s, const char *p, size_t n, int error_field, eco_engine_event_cb cb, void *data)
{
    if (n == 6 && memcmp(p, "[DONE]", 6) == 0) {
        if (!s->finished && s->deltas == 0) {
            /* "Done" with neither text nor a finish reason: nothing was generated, which no
             * healthy engine answers; an error lets the caller retry elsewhere. */
            eco_engine_error_t e;
            eco_engine_error_set(&e, GRPC_STATUS_UNAVAILABLE, "empty_stream",
                                 "the engine ended its stream without any output or finish reason");
            return eco__emit_error(s, &e, cb, data);
        }
        if (!s->finished && (!s->kind || s->kind->id != ECO_ENGINE_MII)) {
            /* OpenAI-style servers send a finish reason before [DONE]; without one the stream
             * was cut short (llama-cpp-python ends interrupted streams this way), and reporting
             * it as complete would present a truncated answer as a success. MII sends none. */
            eco_engine_error_t e;
            eco_engine_error_set(&e, GRPC_STATUS_UNAVAILABLE, "stream_cut",
                                 "the engine ended its stream ([DONE]) without a finish reason");
            return eco__emit_error(s, &e, cb, data);
        }
        return eco__emit_end(s, cb, data);
    }
    json_t *obj = eco__engine_json(p, n);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return malformed(s, "a data line is not a JSON object", cb, data);
    }
    int rc;
    s->events++;
    if (error_field || eco__json_is_error(obj)) {
        eco_engine_error_t e;
        eco__engine_error_json(s->kind, 200, obj, &e);
        rc = eco__emit_error(s, &e, cb, data);
    } else {
        switch (s->wire) {
        case ECO_ENGINE_WIRE_OAI_CHAT:
        case ECO_ENGINE_WIRE_OAI_COMPLETION:
            rc = eco__oai_event(s, obj, cb, data);
            break;
        case ECO_ENGINE_WIRE_TGI_GENERATE:
            rc = eco__tgi_event(s, obj, cb, data);
            break;
        case ECO_ENGINE_WIRE_OLLAMA_CHAT:
        case ECO_ENGINE_WIRE_OLLAMA_GENERATE:
            rc = eco__ollama_event(s, obj, cb, data);
            break;
        case ECO_ENGINE_WIRE_SGLANG_GENERATE:
            rc = eco__sglang_event(s, obj, cb, data);
            break;
        case ECO_ENGINE_WIRE_TRITON_GENERATE:
            rc = eco__triton_event(s, obj, cb, data);
            break;
        case ECO_ENGINE_WIRE_LLAMACPP_COMPLETION:
            rc = eco__llamacpp_event(s, obj, cb, data);
            break;
        default:
            rc = malformed(s, "not a streaming request", cb, data);
            break;
        }
    }
    json_decref(obj);
    return rc;
}

/* Dispatches the SSE event assembled so far (at a blank line, or at the end of the body). */
static int dispatch_event(eco_engine_stream_t *s, eco_engine_event_cb cb, void *data)
{
    if (!s->have_data)
        return 0;
    int err = s->error_event;
    s->have_data = 0;
    s->error_event = 0;
    size_t n = s->data.len;
    int rc = payload(s, s->data.base ? s->data.base : "", n, err, cb, data);
    eco_buf_reset(&s->data);
    return rc;
}

static int sse_line(eco_engine_stream_t *s, const char *p, size_t n, eco_engine_event_cb cb, void *data)
{
    if (n == 0)
        return dispatch_event(s, cb, data);
    if (p[0] == ':')
        return 0; /* comment / keep-alive */
    const char *colon = memchr(p, ':', n);
    size_t flen = colon ? (size_t)(colon - p) : n;
    const char *v = colon ? colon + 1 : p + n;
    size_t vlen = (size_t)(p + n - v);
    if (vlen && v[0] == ' ') {
        v++;
        vlen--;
    }
    int is_data = flen == 4 && memcmp(p, "data", 4) == 0;
    int is_error = flen == 5 && memcmp(p, "error", 5) == 0; /* llama.cpp */
    if (flen == 5 && memcmp(p, "event", 5) == 0) {
        if (vlen == 5 && memcmp(v, "error", 5) == 0)
            s->error_event = 1;
        return 0;
    }
    if (!is_data && !is_error)
        return 0; /* id:, retry: and unknown fields are ignored, as SSE says */
    if (s->data.len + vlen + 1 > s->max_line)
        return malformed(s, "an event exceeds the line limit", cb, data);
    if (s->have_data)
        eco_buf_addc(&s->data, '\n');
    eco_buf_add(&s->data, v, vlen);
    s->have_data = 1;
    if (is_error)
        s->error_event = 1;
    return 0;
}

static int line(eco_engine_stream_t *s, const char *p, size_t n, eco_engine_event_cb cb, void *data)
{
    if (n && p[n - 1] == '\r')
        n--;
    if (!s->ndjson)
        return sse_line(s, p, n, cb, data);
    while (n && (p[0] == ' ' || p[0] == '\t')) {
        p++;
        n--;
    }
    return n ? payload(s, p, n, 0, cb, data) : 0;
}

int eco_engine_stream_feed(eco_engine_stream_t *s, const char *p, size_t n, eco_engine_event_cb cb, void *data)
{
    while (n && !s->over) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (s->line.len + take > s->max_line) {
            eco_buf_reset(&s->line);
            return malformed(s, "a line exceeds the 1 MiB limit", cb, data);
        }
        int rc;
        if (!nl) {
            eco_buf_add(&s->line, p, take);
            return 0;
        }
        if (s->line.len) {
            eco_buf_add(&s->line, p, take);
            rc = line(s, s->line.base, s->line.len, cb, data);
            eco_buf_reset(&s->line);
        } else {
            rc = line(s, p, take, cb, data);
        }
        if (rc)
            return rc;
        p += take + 1;
        n -= take + 1;
    }
    return 0;
}

int eco_engine_stream_end(eco_engine_stream_t *s, eco_engine_event_cb cb, void *data)
{
    if (s->over)
        return 0;
    /* A last event whose lines were complete but that lacks the blank line still counts; an
     * unterminated last line does not (the body was cut inside it). */
    eco_buf_reset(&s->line);
    if (!s->ndjson) {
        int rc = dispatch_event(s, cb, data);
        if (rc || s->over)
            return rc;
    }
    if (s->finished || s->wire == ECO_ENGINE_WIRE_TRITON_GENERATE)
        return eco__emit_end(s, cb, data);
    eco_engine_error_t e;
    eco_engine_error_set(&e, GRPC_STATUS_UNAVAILABLE, "stream_cut",
                         "the engine's stream ended before it signalled completion");
    return eco__emit_error(s, &e, cb, data);
}
