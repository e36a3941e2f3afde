/* The harness shared by the stream-parser fuzz targets (fuzz_sse.c, fuzz_ndjson.c): a target
 * defines DIALECTS[] ({kind, chat, incremental}) and includes this file. Input: byte 0 picks
 * the dialect, byte 1 the read size, the rest is the body. The parser must never crash, leak,
 * exceed the line bound or emit events after the end, and must give the same result however
 * the body is split into reads. */
#ifndef ECO_ENGINES_FUZZ_STREAM_H
#define ECO_ENGINES_FUZZ_STREAM_H

#include <stdint.h>
#include <string.h>

#include "eco_engines.h"

typedef struct {
    eco_buf_t text;
    char finish[24];
    int ends, errors, after;
    int status;
} out_t;

static int on_ev(const eco_engine_event_t *ev, void *data)
{
    out_t *o = data;
    if (o->ends || o->errors)
        o->after++;
    if (ev->type == ECO_ENGINE_EV_DELTA) {
        if (ev->len == 0)
            __builtin_trap();
        eco_buf_add(&o->text, ev->text, ev->len);
    } else if (ev->type == ECO_ENGINE_EV_FINISH) {
        snprintf(o->finish, sizeof(o->finish), "%s", ev->finish_reason);
    } else if (ev->type == ECO_ENGINE_EV_END) {
        o->ends++;
    } else if (ev->type == ECO_ENGINE_EV_ERROR) {
        o->errors++;
        o->status = ev->error->status;
    }
    return 0;
}

static void run(int d, const char *body, size_t n, size_t step, out_t *o)
{
    memset(o, 0, sizeof(*o));
    eco_buf_init(&o->text, 0);
    const eco_engine_kind_t *k = eco_engine_kind(DIALECTS[d].kind);
    eco_engine_msg_t m = {"user", "x"};
    eco_engine_gen_req_t r = {.stream = 1, .default_max_tokens = 8};
    if (DIALECTS[d].chat) {
        r.messages = &m;
        r.nmessages = 1;
    } else {
        r.prompt = "x";
    }
    eco_engine_http_t h;
    eco_engine_error_t e;
    if (eco_engine_build_generate(k, &r, &h, &e) != 0)
        __builtin_trap();
    eco_engine_stream_t s;
    eco_engine_stream_init(&s, k, &h, DIALECTS[d].incremental, 4096);
    for (size_t i = 0; i < n; i += step) {
        eco_engine_stream_feed(&s, body + i, n - i < step ? n - i : step, on_ev, o);
        if (s.line.len > 4096 || s.data.len > 4096)
            __builtin_trap();
    }
    eco_engine_stream_end(&s, on_ev, o);
    if (o->after || o->ends + o->errors != 1)
        __builtin_trap(); /* exactly one END or ERROR, nothing after it */
    eco_engine_stream_free(&s);
    eco_engine_http_free(&h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int d = data[0] % (int)(sizeof(DIALECTS) / sizeof(DIALECTS[0]));
    size_t step = (size_t)data[1] % 97 + 1;
    const char *body = (const char *)data + 2;
    size_t n = size - 2;
    out_t whole, parts;
    run(d, body, n, n ? n : 1, &whole);
    run(d, body, n, step, &parts);
    if (whole.text.len != parts.text.len ||
        (whole.text.len && memcmp(whole.text.base, parts.text.base, whole.text.len)) ||
        strcmp(whole.finish, parts.finish) != 0 || whole.ends != parts.ends || whole.status != parts.status)
        __builtin_trap();
    eco_buf_free(&whole.text);
    eco_buf_free(&parts.text);
    return 0;
}

#endif
