/*
 * eco_engines: what the platform knows about each inference engine kind (reference/engines.md)
 * and the translation between our inference API and each engine's native HTTP API:
 *   - the kind table: health semantics, discovery and metrics paths, capabilities;
 *   - request builders (method, path, JSON body) for generation and embeddings;
 *   - parsers for complete answers, error bodies (mapped to gRPC status codes), model lists,
 *     engine info and Prometheus load metrics;
 *   - an incremental stream parser (SSE and NDJSON framing, one dialect per engine family)
 *     that turns engine bytes into deltas, a finish reason, usage, an end or an error.
 * Everything here is pure (no I/O, no globals that change) and bounded; one file per engine
 * family (openai.c, tgi.c, ollama.c, sglang.c, triton.c, llamacpp.c) behind this interface.
 */
#ifndef ECO_ENGINES_H
#define ECO_ENGINES_H

#include <grpc/status.h>
#include <stddef.h>
#include <stdint.h>

#include "eco_core.h"

/* Every supported kind, as an ECO_CFG_ENUM choice list. */
#define ECO_ENGINE_KINDS "vllm|tgi|ollama|sglang|trtllm|triton|mii|lmdeploy|llamacpp|openai"

/* Bounds. */
#define ECO_ENGINE_MAX_LINE          (1u << 20)  /* one SSE/NDJSON line; longer is a protocol error */
#define ECO_ENGINE_MAX_REQUEST_BODY  (16u << 20) /* a native request body we build */
#define ECO_ENGINE_MAX_RESPONSE_BODY (16u << 20) /* a complete (unary) answer we parse */
#define ECO_ENGINE_MAX_MODELS        16          /* models remembered from a model list */
#define ECO_ENGINE_MAX_EMBEDDINGS    2048        /* vectors per embedding answer */
#define ECO_ENGINE_MAX_EMBEDDING_DIM 65536

typedef enum {
    ECO_ENGINE_VLLM,
    ECO_ENGINE_TGI,
    ECO_ENGINE_OLLAMA,
    ECO_ENGINE_SGLANG,
    ECO_ENGINE_TRTLLM,
    ECO_ENGINE_TRITON,
    ECO_ENGINE_MII,
    ECO_ENGINE_LMDEPLOY,
    ECO_ENGINE_LLAMACPP,
    ECO_ENGINE_OPENAI,
    ECO_ENGINE_NKINDS
} eco_engine_id_t;

/* What an engine kind can do through its adapter (eco.ai.v1.Capabilities). */
typedef struct {
    int streaming;
    int embeddings;   /* native embeddings endpoint (TGI: only with a TEI server configured) */
    int chat;         /* accepts role-tagged messages */
    int completion;   /* accepts a raw prompt */
    int continuation; /* continues a trailing assistant message */
    int seed;
    int penalties;
    unsigned max_stop_sequences;
    int usage; /* reports token counts (else they are estimated) */
    /* NULL: the engine applies the model's chat template. "chatml": the engine has only a
     * raw-prompt API and the adapter renders messages as ChatML (eco_engine_render_chatml). */
    const char *chat_template;
} eco_engine_caps_t;

typedef struct {
    const char *name;
    eco_engine_id_t id;
    const char *health_path;   /* GET this for readiness */
    int not_ready_status;      /* the status the engine answers while loading (Triton: 400), besides refusing */
    int always_up;             /* Ollama: always 200, models load lazily */
    const char *models_path;   /* GET: the served models; NULL = none (Triton: the model is in the path) */
    const char *info_path;     /* GET: version and limits; NULL = none */
    const char *metrics_path;  /* GET: Prometheus text; NULL = the engine has none (Ollama, MII, OpenAI) */
    const char *default_model; /* served model when nothing is configured or discovered, or NULL */
    eco_engine_caps_t caps;
} eco_engine_kind_t;

/* The kind's description, or NULL for an unknown name. Borrowed, static. */
const eco_engine_kind_t *eco_engine_kind(const char *name);

/* ---------- generation requests ---------- */

typedef struct {
    const char *role; /* NUL-terminated, borrowed */
    const char *content;
} eco_engine_msg_t;

/* A generation request in engine-neutral form (eco.ai.v1.GenerateRequest). Borrowed strings. */
typedef struct {
    const char *model; /* the engine's model name; "" or NULL = leave it out where the engine allows */
    const eco_engine_msg_t *messages;
    size_t nmessages; /* > 0: chat; else prompt */
    const char *prompt;
    int has_max_tokens;
    uint32_t max_tokens;
    int has_temperature;
    double temperature;
    int has_top_p;
    double top_p;
    const char *const *stop;
    size_t nstop;
    int has_seed;
    int64_t seed;
    int has_presence_penalty;
    double presence_penalty;
    int has_frequency_penalty;
    double frequency_penalty;
    int stream;
    uint32_t default_max_tokens; /* for engines that require a length (Triton) when none is given */
    const char *request_id;      /* forwarded where the engine takes one (vLLM); may be NULL */
} eco_engine_gen_req_t;

/* The wire dialect of a native request: picks the response and stream parsers. */
typedef enum {
    ECO_ENGINE_WIRE_OAI_CHAT,            /* /v1/chat/completions */
    ECO_ENGINE_WIRE_OAI_COMPLETION,      /* /v1/completions */
    ECO_ENGINE_WIRE_TGI_GENERATE,        /* TGI /generate, /generate_stream */
    ECO_ENGINE_WIRE_OLLAMA_CHAT,         /* /api/chat */
    ECO_ENGINE_WIRE_OLLAMA_GENERATE,     /* /api/generate */
    ECO_ENGINE_WIRE_SGLANG_GENERATE,     /* SGLang /generate */
    ECO_ENGINE_WIRE_TRITON_GENERATE,     /* /v2/models/{m}/generate[_stream] */
    ECO_ENGINE_WIRE_LLAMACPP_COMPLETION, /* llama.cpp /completion */
    ECO_ENGINE_WIRE_OAI_EMBEDDINGS,      /* /v1/embeddings */
    ECO_ENGINE_WIRE_OLLAMA_EMBED,        /* /api/embed */
    ECO_ENGINE_WIRE_LLAMACPP_EMBEDDING,  /* llama.cpp /embedding */
    ECO_ENGINE_WIRE_TEI_EMBED,           /* text-embeddings-inference /embed */
} eco_engine_wire_t;

/* A native HTTP request. Caller frees with eco_engine_http_free. */
typedef struct {
    eco_engine_wire_t wire;
    const char *method; /* static */
    char path[512];
    eco_buf_t body; /* JSON */
    int stream;     /* the answer is a stream (SSE or NDJSON) */
    int ndjson;     /* stream framing: newline-delimited JSON instead of SSE */
} eco_engine_http_t;

void eco_engine_http_free(eco_engine_http_t *h);

/* ---------- errors ---------- */

/* Why a call failed, as the adapter reports it (gRPC status + details + trailing metadata). */
typedef struct {
    grpc_status_code status;
    const char *reason; /* static token: "context_length_exceeded", "overloaded", "engine_loading", ... */
    int http_status;    /* the engine's status (or the one named inside a mid-stream error); 0 = none */
    int loading;        /* the engine is loading the model */
    long retry_after_s; /* from the engine's Retry-After; -1 = none (filled by the caller) */
    char code[64];      /* the engine's own code or type ("context_length_exceeded", "overloaded", ...) */
    char message[512];  /* the engine's message (printable ASCII, truncated) */
} eco_engine_error_t;

/* Sets e from a non-2xx answer (or an error object found in a 200 stream: http_status 200).
 * Accepts every error shape of engines.md: {"error":{message,type,code:int|str,...}},
 * flat {object:"error",message,type,code}, {"error":"..","error_type":".."}, {"message":..},
 * {"detail":..} and plain text. Status mapping: context-length and other 400/413/422 ->
 * INVALID_ARGUMENT, 404 or "model not found" -> NOT_FOUND, 429 or overload -> RESOURCE_EXHAUSTED,
 * 503 or loading -> UNAVAILABLE (loading = 1), 501 -> UNIMPLEMENTED, 401/403 (the adapter's
 * credentials) and 502 -> UNAVAILABLE, 408/504 -> DEADLINE_EXCEEDED, 499 -> CANCELLED, other
 * 5xx -> INTERNAL. */
void eco_engine_error_from_http(const eco_engine_kind_t *k, int http_status, const char *body, size_t len,
                                eco_engine_error_t *e);
/* Sets e to an error of the adapter's own (transport, timeout, protocol): status, reason
 * token and message (printf). */
__attribute__((format(printf, 4, 5))) void eco_engine_error_set(eco_engine_error_t *e, grpc_status_code status,
                                                                const char *reason, const char *fmt, ...);
/* Writes the gRPC status details: "<what>: <message> [<kind> HTTP <status>, <code>]". */
void eco_engine_error_details(const eco_engine_error_t *e, const char *kind, char *out, size_t n);

/* ---------- complete answers ---------- */

typedef struct {
    eco_buf_t text;         /* caller frees with eco_engine_result_free */
    char finish_reason[24]; /* OpenAI vocabulary ("stop", "length", ...); "" = not reported */
    int has_prompt_tokens, has_completion_tokens;
    uint32_t prompt_tokens, completion_tokens;
    char model[256];          /* the model that answered, "" = not reported */
    uint32_t inferred_tokens; /* Triton: output tokens counted from per-token fields; 0 = unknown */
} eco_engine_result_t;

void eco_engine_result_init(eco_engine_result_t *r);
void eco_engine_result_free(eco_engine_result_t *r);

/* Builds the native generation request for kind k. Returns 0, or -1 with e set (INVALID_ARGUMENT
 * for a request the engine cannot express, UNIMPLEMENTED for an unsupported feature such as a
 * trailing assistant message without continuation support). On success the caller frees out. */
int eco_engine_build_generate(const eco_engine_kind_t *k, const eco_engine_gen_req_t *req, eco_engine_http_t *out,
                              eco_engine_error_t *e);

/* Parses a 2xx complete answer of dialect `wire` into r (initialised by the caller). Returns 0,
 * or -1 with e set (INTERNAL "malformed_response" for a body that is not the expected shape,
 * or the engine's error when the body is an error object). */
int eco_engine_parse_generate(const eco_engine_kind_t *k, eco_engine_wire_t wire, const char *body, size_t len,
                              eco_engine_result_t *r, eco_engine_error_t *e);
/* Token counts some engines send as response headers (TGI x-prompt-tokens / x-generated-tokens).
 * name is lower-case. */
void eco_engine_usage_header(eco_engine_result_t *r, const char *name, size_t name_len, const char *value,
                             size_t value_len);

/* A rough token count for engines that report none: about four bytes per token. */
uint32_t eco_engine_estimate_tokens(size_t bytes);

/* Canonical ChatML rendering for raw-prompt engines: for each message
 * "<|im_start|>" role "\n" content "<|im_end|>\n", then "<|im_start|>assistant\n"; a trailing
 * assistant message is left open (no "<|im_end|>", no new turn) so the model continues it. */
void eco_engine_render_chatml(const eco_engine_msg_t *msgs, size_t n, eco_buf_t *out);

/* Maps an engine's finish vocabulary to OpenAI's: stop/eos/eos_token/stop_sequence/word -> stop,
 * length/limit/max_tokens -> length; others unchanged (truncated to the buffer). */
void eco_engine_finish_reason(const char *engine_reason, char *out, size_t n);

/* ---------- embeddings ---------- */

typedef struct {
    const char *model; /* "" or NULL = leave out */
    const char *const *input;
    size_t ninput;
    uint32_t dimensions; /* 0 = native */
} eco_engine_embed_req_t;

typedef struct {
    float *values; /* owned by the parent eco_engine_embeddings_t */
    size_t n;
    uint32_t index;
} eco_engine_vector_t;

typedef struct {
    eco_engine_vector_t *v;
    size_t n;
    int has_prompt_tokens;
    uint32_t prompt_tokens;
    char model[256];
} eco_engine_embeddings_t;

void eco_engine_embeddings_free(eco_engine_embeddings_t *r);

/* Builds the native embeddings request. tei: send it to a text-embeddings-inference server
 * (/embed) instead of the engine. -1 with e set (UNIMPLEMENTED) when the kind has none, or
 * INVALID_ARGUMENT when it cannot honour `dimensions`. */
int eco_engine_build_embed(const eco_engine_kind_t *k, int tei, const eco_engine_embed_req_t *req,
                           eco_engine_http_t *out, eco_engine_error_t *e);
/* Parses an embeddings answer; vectors are ordered by index. 0, or -1 with e set. */
int eco_engine_parse_embeddings(const eco_engine_kind_t *k, eco_engine_wire_t wire, const char *body, size_t len,
                                eco_engine_embeddings_t *out, eco_engine_error_t *e);

/* ---------- discovery and load ---------- */

typedef struct {
    size_t n;
    char ids[ECO_ENGINE_MAX_MODELS][256];
    uint32_t context_length; /* first card's max_model_len / n_ctx_train; 0 = unknown */
} eco_engine_models_t;

/* Parses the answer of k->models_path. 0, or -1 for an unexpected shape. */
int eco_engine_parse_models(const eco_engine_kind_t *k, const char *body, size_t len, eco_engine_models_t *out);

typedef struct {
    char version[64];        /* "" = unknown */
    uint32_t context_length; /* 0 = unknown */
    uint32_t slots;          /* parallel sequences (llama.cpp total_slots, TGI max_concurrent_requests) */
    int incremental_stream;  /* SGLang --incremental-streaming-output: stream text is a delta */
} eco_engine_info_t;

/* Parses the answer of k->info_path. 0, or -1 for an unexpected shape. */
int eco_engine_parse_info(const eco_engine_kind_t *k, const char *body, size_t len, eco_engine_info_t *out);

typedef struct {
    int has_running, has_waiting, has_kv, has_max;
    double running, waiting;
    double kv_cache_usage; /* 0..1 */
    double max_running;    /* engine-reported batch capacity (Triton request_type="max") */
} eco_engine_load_t;

/* Reads the kind's load gauges from Prometheus text (engines.md §10; vLLM's KV gauge under both
 * the new and the old name, series summed across labels such as engine or dp_rank). Returns 0
 * when at least one gauge was found, -1 otherwise. */
int eco_engine_parse_load(const eco_engine_kind_t *k, const char *text, size_t len, eco_engine_load_t *out);
/* The kind's load score (lower is better): queue + running/capacity + KV usage, per §10.
 * capacity <= 0 uses the engine's reported maximum or 1. */
double eco_engine_load_score(const eco_engine_load_t *l, double capacity);

/* Sums the samples of one Prometheus metric whose labels contain `label` ("k=\"v\"", or NULL for
 * all). Returns the number of samples found (0: *out untouched). Bounded by len; pure. */
size_t eco_prom_sum(const char *text, size_t len, const char *name, const char *label, double *out);

/* ---------- stream parser ---------- */

typedef enum {
    ECO_ENGINE_EV_DELTA,  /* text: the next piece of output (never empty) */
    ECO_ENGINE_EV_FINISH, /* finish_reason: the engine finished generating */
    ECO_ENGINE_EV_USAGE,  /* token counts (either may be missing) */
    ECO_ENGINE_EV_END,    /* the stream is complete: send the last chunk */
    ECO_ENGINE_EV_ERROR,  /* error: the stream failed; nothing follows */
} eco_engine_ev_type_t;

typedef struct {
    eco_engine_ev_type_t type;
    const char *text; /* DELTA, borrowed for the callback */
    size_t len;
    const char *finish_reason; /* FINISH, OpenAI vocabulary */
    int has_prompt_tokens, has_completion_tokens;
    uint32_t prompt_tokens, completion_tokens; /* USAGE */
    const eco_engine_error_t *error;           /* ERROR */
} eco_engine_event_t;

/* Returns 0 to go on, non-zero to stop feeding (the value is returned by feed/end). */
typedef int (*eco_engine_event_cb)(const eco_engine_event_t *ev, void *data);

typedef struct {
    const eco_engine_kind_t *kind;
    eco_engine_wire_t wire;
    int ndjson;
    size_t max_line;
    eco_buf_t line; /* the partial line */
    eco_buf_t data; /* SSE: the data of the event being assembled */
    int have_data;
    int error_event; /* SSE: the event came in an "error:" field or "event: error" */
    eco_buf_t acc;   /* SGLang cumulative text seen so far */
    int cumulative;  /* SGLang: text is cumulative (the default) */
    int finished;    /* a finish reason was seen */
    int over;        /* END or ERROR was emitted */
    uint32_t events; /* data events (Triton: one token each) */
    uint32_t deltas; /* text deltas emitted */
} eco_engine_stream_t;

/* Prepares a parser for the stream of a request built by eco_engine_build_generate.
 * sglang_incremental: the SGLang server streams text deltas instead of cumulative text.
 * max_line 0 = ECO_ENGINE_MAX_LINE. Free with eco_engine_stream_free. */
void eco_engine_stream_init(eco_engine_stream_t *s, const eco_engine_kind_t *k, const eco_engine_http_t *h,
                            int sglang_incremental, size_t max_line);
void eco_engine_stream_free(eco_engine_stream_t *s);
/* Feeds body bytes; events are delivered in order through cb. Returns 0, or the callback's
 * non-zero value. After END or ERROR the rest is ignored. */
int eco_engine_stream_feed(eco_engine_stream_t *s, const char *p, size_t n, eco_engine_event_cb cb, void *data);
/* The body ended cleanly: emits END when the engine signalled completion (a finish reason, a
 * terminator, Ollama done:true; Triton: the end of the body itself), else ERROR UNAVAILABLE
 * "stream_cut". A complete stream that merely lacks [DONE] is a success. */
int eco_engine_stream_end(eco_engine_stream_t *s, eco_engine_event_cb cb, void *data);

#endif
