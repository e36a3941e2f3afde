/* Shared internals of libs/engines: JSON helpers and the per-family hooks. */
#ifndef ECO_ENGINES_INTERNAL_H
#define ECO_ENGINES_INTERNAL_H

#include <jansson.h>

#include "eco_engines.h"

/* ---- JSON reading (common.c) ---- */

/* Parses a bounded buffer; NULL when it is not JSON. Caller decrefs. */
json_t *eco__engine_json(const char *p, size_t n);
/* A string member or NULL (absent, null or another type). */
const char *eco__json_str(json_t *obj, const char *key, size_t *len);
/* A non-negative integral number member (integer, or a real with no fraction). 1 found, 0 not. */
int eco__json_u32(json_t *obj, const char *key, uint32_t *out);
/* A number member. 1 found, 0 not. */
int eco__json_num(json_t *obj, const char *key, double *out);
/* obj[key] if obj is an object, else NULL (never an error). */
json_t *eco__json_get(json_t *obj, const char *key);
/* 1 when root is an error object of any engine shape ({"error":non-null} or {"object":"error"}). */
int eco__json_is_error(json_t *root);
/* Fills e from a parsed error object (every shape) answered with http_status (200: mid-stream). */
void eco__engine_error_json(const eco_engine_kind_t *k, int http_status, json_t *root, eco_engine_error_t *e);

/* ---- JSON writing (common.c) ---- */

/* Appends ,"key": (or "key": when *first), the key escaped. */
void eco__json_key(eco_buf_t *b, int *first, const char *key);
void eco__json_kv_str(eco_buf_t *b, int *first, const char *key, const char *s);
void eco__json_kv_num(eco_buf_t *b, int *first, const char *key, double v);
void eco__json_kv_int(eco_buf_t *b, int *first, const char *key, long long v);
void eco__json_kv_raw(eco_buf_t *b, int *first, const char *key, const char *raw);
/* ["a","b"] */
void eco__json_str_array(eco_buf_t *b, const char *const *v, size_t n);
/* [{"role":..,"content":..},...] */
void eco__json_messages(eco_buf_t *b, const eco_engine_msg_t *m, size_t n);
/* 1 when the last message is the assistant's (a continuation request). */
int eco__last_is_assistant(const eco_engine_gen_req_t *r);
/* Starts a request: wire, method POST, path (printf), body initialised with the bound. */
__attribute__((format(printf, 3, 4))) void eco__http_start(eco_engine_http_t *h, eco_engine_wire_t wire,
                                                           const char *fmt, ...);
/* -1 with e set when the body outgrew its bound, else 0. */
int eco__http_check(eco_engine_http_t *h, eco_engine_error_t *e);
/* Sets r->finish_reason from an engine reason (eco_engine_finish_reason). */
void eco__result_finish(eco_engine_result_t *r, const char *reason);
/* Malformed-answer error. */
void eco__malformed(eco_engine_error_t *e, const char *what);

/* ---- per-family builders and parsers ---- */

int eco__oai_build(const eco_engine_kind_t *k, const eco_engine_gen_req_t *r, int chat, eco_engine_http_t *h,
                   eco_engine_error_t *e);
int eco__oai_parse(eco_engine_wire_t wire, json_t *root, eco_engine_result_t *r, eco_engine_error_t *e);
int eco__tgi_build(const eco_engine_gen_req_t *r, eco_engine_http_t *h, eco_engine_error_t *e);
int eco__tgi_parse(json_t *root, eco_engine_result_t *r, eco_engine_error_t *e);
int eco__ollama_build(const eco_engine_gen_req_t *r, eco_engine_http_t *h, eco_engine_error_t *e);
int eco__ollama_parse(json_t *root, eco_engine_result_t *r, eco_engine_error_t *e);
int eco__sglang_build(const eco_engine_gen_req_t *r, eco_engine_http_t *h, eco_engine_error_t *e);
int eco__sglang_parse(json_t *root, eco_engine_result_t *r, eco_engine_error_t *e);
int eco__triton_build(const eco_engine_gen_req_t *r, eco_engine_http_t *h, eco_engine_error_t *e);
int eco__triton_parse(json_t *root, eco_engine_result_t *r, eco_engine_error_t *e);
int eco__llamacpp_build(const eco_engine_gen_req_t *r, eco_engine_http_t *h, eco_engine_error_t *e);
int eco__llamacpp_parse(json_t *root, eco_engine_result_t *r, eco_engine_error_t *e);

/* Stream hooks: one parsed (non-error) JSON payload of the family's stream. They emit events
 * through eco__emit_* and return 0, the callback's non-zero value, or -1 after emitting an
 * error event. */
int eco__oai_event(eco_engine_stream_t *s, json_t *obj, eco_engine_event_cb cb, void *data);
int eco__tgi_event(eco_engine_stream_t *s, json_t *obj, eco_engine_event_cb cb, void *data);
int eco__ollama_event(eco_engine_stream_t *s, json_t *obj, eco_engine_event_cb cb, void *data);
int eco__sglang_event(eco_engine_stream_t *s, json_t *obj, eco_engine_event_cb cb, void *data);
int eco__triton_event(eco_engine_stream_t *s, json_t *obj, eco_engine_event_cb cb, void *data);
int eco__llamacpp_event(eco_engine_stream_t *s, json_t *obj, eco_engine_event_cb cb, void *data);

/* Event emitters (stream.c): they keep the parser's state (finished/over) consistent. */
int eco__emit_delta(eco_engine_stream_t *s, const char *p, size_t n, eco_engine_event_cb cb, void *data);
/* A finish reason in the engine's vocabulary; "abort"/"unload" become an error. */
int eco__emit_finish(eco_engine_stream_t *s, const char *engine_reason, eco_engine_event_cb cb, void *data);
int eco__emit_usage(eco_engine_stream_t *s, int has_p, uint32_t p, int has_c, uint32_t c, eco_engine_event_cb cb,
                    void *data);
int eco__emit_end(eco_engine_stream_t *s, eco_engine_event_cb cb, void *data);
int eco__emit_error(eco_engine_stream_t *s, const eco_engine_error_t *e, eco_engine_event_cb cb, void *data);

#endif
