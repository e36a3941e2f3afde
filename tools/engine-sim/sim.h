/*
 * engine-sim internals: the simulator state, one generation job per request, the protocol
 * hooks each engine family implements, fault specs and statistics.
 *
 * Flow of a generation request: the engine handler creates a job (sim_job_new: counts it,
 * applies loading and injected status faults), parses its body into one or more sequences
 * (sim_job_set_text), then sim_job_submit admits it (run, queue, or the engine's overload
 * answer). The job then produces one token per tick (--ttft-ms before the first, --itl-ms
 * between), through the engine's sim_proto_t hooks, streamed or as one body at the end.
 * Everything runs on the service's loop thread.
 */
#ifndef ENGINE_SIM_H
#define ENGINE_SIM_H

#include "eco_http.h"
#include "gen.h"

typedef enum {
    SIM_VLLM,
    SIM_TGI,
    SIM_OLLAMA,
    SIM_SGLANG,
    SIM_TRTLLM,
    SIM_TRITON,
    SIM_MII,
    SIM_LMDEPLOY,
    SIM_LLAMACPP,
    SIM_OPENAI,
    SIM_NKINDS
} sim_kind_t;

const char *sim_kind_name(sim_kind_t k);

/* Injected faults; -1 (or 0 for status) = off. */
typedef struct {
    int status;           /* answer with this HTTP status in the engine's error shape */
    long retry_after_s;   /* Retry-After on 429/503 (and whenever set explicitly) */
    long cut_after;       /* close the connection abruptly after N tokens */
    long stall_after;     /* stop sending after N tokens, keep the connection */
    long malformed_after; /* emit one malformed frame after N tokens (unary: a truncated body) */
    long slow_after;      /* tokens from which slow_ms replaces the inter-token latency */
    long slow_ms;
    long ttft_ms, itl_ms; /* per-request latency overrides */
} sim_fault_t;

void sim_fault_clear(sim_fault_t *f);
/* Parses "key=value[,;]key=value..." into f (keys as in --help). 0, or -1 with a message in err. */
int sim_fault_parse(sim_fault_t *f, const char *spec, size_t len, char *err, size_t errlen);
/* Overlays the keys set in top onto f. */
void sim_fault_merge(sim_fault_t *f, const sim_fault_t *top);
int sim_fault_any(const sim_fault_t *f);

typedef struct {
    sim_kind_t kind;
    const char *model;
    long ttft_ms, itl_ms;
    gen_cfg_t gen;
    long embedding_dim;
    long max_concurrency; /* running slots; 0 = unlimited */
    long queue_size;      /* waiting beyond the slots */
    long max_model_len;
    long kv_cache_tokens;
    long load_ms;
    int never_ready;
    long keepalive_ms; /* TGI SSE keep-alive comments */
    int incremental;   /* SGLang --incremental-streaming-output */
    long watch_ms;     /* how often idle connections are checked for a vanished client */
    sim_fault_t fault; /* from flags */
    long fault_every;  /* flag faults hit every Nth generation request */
} sim_opts_t;

/* Latency histogram (seconds) or size histogram, fixed buckets. */
#define SIM_HIST_MAX_BUCKETS 20
typedef struct {
    const double *bounds;
    size_t nb;
    uint64_t counts[SIM_HIST_MAX_BUCKETS];
    uint64_t count;
    double sum;
} sim_hist_t;
void sim_hist_observe(sim_hist_t *h, double v);

typedef struct {
    uint64_t requests, cancelled, rejected, completed, failed, faults;
    long max_in_flight, max_running;
    uint64_t prompt_tokens, generation_tokens;
    uint64_t finished_stop, finished_length, finished_abort;
    sim_hist_t ttft, itl, e2e, queue, tpot, gen_tokens, prompt_len;
    uint64_t decode_steps;
    double prompt_seconds, decode_seconds;
} sim_stats_t;

typedef struct sim sim_t;
typedef struct sim_job sim_job_t;

struct sim {
    sim_opts_t o;
    eco_service_t *svc;
    uint64_t ready_at_ms;
    long running, waiting;
    long kv_tokens;
    uint64_t gen_seq;      /* generation requests seen, for --fault-every */
    h2o_linklist_t queue;  /* sim_job_t.qlink, FIFO */
    h2o_linklist_t active; /* sim_job_t.alink: queued and running */
    eco_timer_t kick, watch;
    sim_stats_t st;
    double last_use; /* wall time of the last generation (Ollama /api/ps) */
    eco_metric_t *m_requests, *m_cancelled, *m_rejected, *m_faults;
};

/* 1 when loaded and not draining (health endpoints answer "ready"). */
int sim_ready(const sim_t *sim);
/* Milliseconds of loading left (0 when loaded; LONG_MAX with --never-ready). */
long sim_loading_left_ms(const sim_t *sim);

typedef enum {
    SIM_ERR_INVALID,    /* request validation */
    SIM_ERR_NOT_FOUND,  /* unknown model */
    SIM_ERR_OVERLOADED, /* running + queued full */
    SIM_ERR_LOADING,    /* not loaded yet / never ready */
    SIM_ERR_FAULT,      /* injected status */
    SIM_ERR_INTERNAL,
} sim_err_t;

/* What an engine family plugs into the job. Frame hooks append complete frames to out. */
typedef struct {
    const char *stream_type;                               /* stream Content-Type */
    int ndjson;                                            /* frames end with "\n", not "\n\n" */
    void (*headers)(sim_job_t *j);                         /* extra response headers (may be NULL) */
    void (*head)(sim_job_t *j, eco_buf_t *out);            /* before the first token (may be NULL) */
    void (*token)(sim_job_t *j, size_t i, eco_buf_t *out); /* token i of sequence 0 */
    void (*tail)(sim_job_t *j, eco_buf_t *out);            /* last frames and terminator */
    void (*unary)(sim_job_t *j, eco_buf_t *out);           /* the complete body */
    /* The engine's error answer; status 0 / msg NULL = the engine's default for err. */
    void (*error)(sim_job_t *j, sim_err_t err, int status, const char *msg);
} sim_proto_t;

typedef struct {
    gen_out_t g;
    char *text; /* the emitted text so far (request pool), NUL-terminated */
    size_t tlen;
    size_t sent; /* tokens emitted so far */
} sim_seq_t;

enum { SIM_JOB_NEW, SIM_JOB_QUEUED, SIM_JOB_RUNNING, SIM_JOB_DONE };

struct sim_job {
    sim_t *sim;
    eco_http_call_t *call;
    const sim_proto_t *proto;
    void *ctx; /* engine-specific request state */
    sim_seq_t *seq;
    size_t nseq;
    int stream;
    int state;
    sim_fault_t f;
    long ttft_ms, itl_ms;
    size_t step, nsteps;
    eco_sse_t *w;
    int w_busy, blocked, stalled, malformed_done;
    eco_timer_t timer, keepalive;
    h2o_linklist_t qlink, alink;
    uint64_t t_arrive_ns, t_start_ns, t_first_ns, t_last_ns;
    long kv_held;
    char id[48];  /* response id ("chatcmpl-<hex>" etc.), set by the engine */
    long created; /* unix seconds at arrival */
    double wall_start;
};

/* Creates the job for a generation/embedding request (request pool). Answers and returns NULL
 * when the request must fail before parsing: bad x-sim-fault header, loading, injected status. */
sim_job_t *sim_job_new(sim_t *sim, eco_http_call_t *call, const sim_proto_t *proto);
/* Parses the body as a JSON object; on failure answers with the engine's 400 and returns NULL. */
json_t *sim_job_json(sim_job_t *j);
/* Allocates nseq output sequences (batched prompts; streams use exactly one). */
void sim_job_alloc_seqs(sim_job_t *j, size_t nseq);
/* Runs the generator for sequence i over the canonical text T. */
void sim_job_generate(sim_job_t *j, size_t i, const char *text, size_t len, int64_t seed, long max_tokens);
/* Sets up the job queues and the disconnect watch (once, before serving). */
void sim_jobs_init(sim_t *sim);
/* Admits the job: starts it, queues it, or answers with the engine's overload error. */
void sim_job_submit(sim_job_t *j);
/* Answers with the engine's error and ends the job. */
void sim_job_fail(sim_job_t *j, sim_err_t err, int status, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Sends a complete, non-generation response for a job (embeddings): status 200, body copied. */
void sim_job_reply(sim_job_t *j, const char *content_type, const char *body, size_t len);

/* Sequence helpers for the frame hooks. */
static inline const gen_piece_t *sim_piece(const sim_job_t *j, size_t seq, size_t i)
{
    return &j->seq[seq].g.pieces[i];
}
const char *sim_finish(const sim_job_t *j, size_t seq, const char *stop, const char *length);
long sim_completion_tokens(const sim_job_t *j, size_t seq);
double sim_elapsed_s(const sim_job_t *j);

/* ---- shared helpers (util.c) ---- */

/* Looks up an optional typed field. Returns 1 found (and sets *out), 0 absent or null,
 * -1 wrong type (message in err). */
int sim_get_str(json_t *obj, const char *key, const char **out, size_t *len, char *err, size_t errlen);
int sim_get_int(json_t *obj, const char *key, long *out, char *err, size_t errlen);
int sim_get_num(json_t *obj, const char *key, double *out, char *err, size_t errlen);
int sim_get_bool(json_t *obj, const char *key, int *out, char *err, size_t errlen);
/* Flattens an OpenAI-style content (string or parts) into out; 0 or -1 with err. */
int sim_content_text(json_t *content, eco_buf_t *out, char *err, size_t errlen);
/* Renders messages [{role, content}] into ChatML (gen_chat_render). 0 or -1 with err. */
int sim_messages_render(json_t *messages, eco_buf_t *out, char *err, size_t errlen);
/* Appends a JSON array of floats. */
void sim_add_floats(eco_buf_t *b, const float *v, size_t n);
/* Appends an embedding of text as a JSON array (dim floats). */
void sim_add_embedding(eco_buf_t *b, const char *text, size_t len, size_t dim);
/* Appends a key whose value is the JSON string s[0..n). */
void sim_kv_str(eco_buf_t *b, const char *key, const char *s, size_t n);
/* Writes an RFC 3339 UTC timestamp with nanoseconds into out[40]. */
void sim_rfc3339(double t, char out[64]);
/* A random hex id with a prefix into out. */
void sim_make_id(char *out, size_t len, const char *prefix);
/* Compares a requested model name with the served one. */
int sim_model_is(const sim_t *sim, const char *name, size_t len);
/* Sends a fixed response (status, content type, body literal). */
void sim_send(eco_http_call_t *call, int status, const char *ctype, const char *body);

/* ---- OpenAI-compatible error shapes (oai_errors.c), reused by native routes of the same engine ---- */

/* Appends the engine's error body (code: TGI error_type / OpenAI code / llama.cpp type; may be NULL). */
void sim_oai_error_body(sim_kind_t kind, eco_buf_t *b, int status, const char *code, const char *msg);
/* sim_proto_t.error for the /v1 routes of every kind. */
void sim_oai_error(sim_job_t *j, sim_err_t err, int status, const char *msg);
/* Answers the engine's context-length error and returns -1 when prompt + max_tokens does not fit
 * --max-model-len (max_tokens <= 0: prompt only); else 0. */
int sim_check_context(sim_job_t *j, long prompt_tokens, long max_tokens);

/* ---- routes (one function per engine family) ---- */
void sim_routes_common(sim_t *sim);         /* /sim/stats, /sim/reset, /sim/metrics */
void sim_routes_openai(sim_t *sim);         /* /v1/... for every kind that has them */
void sim_oai_embeddings_routes(sim_t *sim); /* /v1/embeddings, /v1/models (called by sim_routes_openai) */
void sim_routes_vllmish(sim_t *sim);        /* health/version/metrics of vllm, trtllm, openai */
void sim_routes_tgi(sim_t *sim);
void sim_routes_ollama(sim_t *sim);
void sim_routes_sglang(sim_t *sim);
void sim_routes_triton(sim_t *sim);
void sim_routes_mii(sim_t *sim);
void sim_routes_lmdeploy(sim_t *sim);
void sim_routes_llamacpp(sim_t *sim);

/* ---- stats and metrics (stats.c, metrics.c) ---- */
void sim_stats_init(sim_t *sim);
void sim_stats_render_json(sim_t *sim, eco_buf_t *out);
void sim_stats_reset(sim_t *sim);
double sim_kv_usage(const sim_t *sim);
/* Appends the engine's Prometheus families (by kind). */
void sim_metrics_render(sim_t *sim, eco_buf_t *out);
/* GET handler serving sim_metrics_render + the eco registry. */
int sim_h_metrics(eco_http_call_t *call);

#endif
