/* ai-service: the shared context and the inference job (front-end independent).
 *
 * Threads. All routing state (backend in-flight counts, circuit breakers, queues, jobs) lives
 * on the h2o loop thread. REST handlers run there; gRPC handlers post their calls there; the
 * asynchronous gRPC client posts every adapter event there; the backend monitor thread only
 * writes the atomics of backend_t. */
#ifndef AI_H
#define AI_H

#include "backends.h"
#include "eco/ai/v1/inference.pb-c.h"
#include "eco_http.h"
#include "eco_metrics.h"
#include "eco_resilience.h"
#include "eco_rpc.h"
#include "registry.h"

typedef struct {
    long request_timeout_ms; /* default deadline of a request */
    long ttft_timeout_ms;    /* first token (or unary answer) per attempt */
    long stall_ms;           /* longest gap between stream chunks */
    long retry_max_attempts; /* attempts per request, the first included */
    long retry_base_ms, retry_max_backoff_ms;
    long retry_budget_percent;
    long backend_max_inflight;
    long queue_max;
    long breaker_failures, breaker_error_percent, breaker_cooldown_ms;
    long health_interval_ms;
    int prefix_affinity;
} ai_settings_t;

typedef struct {
    char model[128];
    eco_pq_t pq;
} ai_queue_t;

typedef struct ai {
    eco_service_t *svc;
    ai_settings_t s;
    const char *internal_secret; /* root-gateway's identity headers are believed with it */
    registry_t *reg;             /* current registry (SIGHUP swaps it on the loop thread) */
    long long created;           /* registry load time: the OpenAI `created` of every model */
    backends_t *bk;
    eco_rpc_async_t *rpc;
    eco_retry_budget_t budget;
    uint64_t rng;
    ai_queue_t queues[REG_MAX_MODELS];
    size_t nqueues;
    eco_metric_t *m_requests, *m_pauses, *m_retries, *m_failovers, *m_queue_depth, *m_shed, *m_ttft, *m_itl, *m_tokens,
        *m_overhead, *m_queue_wait;
} ai_t;

/* ---------- jobs ---------- */

typedef enum { JOB_UNARY = 0, JOB_STREAM = 1, JOB_EMBED = 2 } job_mode_t;

typedef struct {
    int http;              /* HTTP status for REST */
    grpc_status_code grpc; /* status for gRPC */
    const char *code;      /* OpenAI-style error code */
    const char *param;     /* the field at fault, or NULL */
    char message[384];
    long retry_after_s; /* > 0: Retry-After */
    int partial;        /* output had been sent already */
} job_error_t;

typedef struct job job_t;

/* How a job reports, on the loop thread. After on_done/on_error nothing more is called. */
typedef struct {
    /* Streams: the first output is coming (send headers / role delta). */
    void (*on_start)(job_t *j, void *data);
    /* Streams: new text. Returns 1 when the sink is full: the job stops reading until
     * job_resume. */
    int (*on_delta)(job_t *j, const char *text, size_t len, void *data);
    /* Unary and embeddings: the answer (borrowed). */
    void (*on_result)(job_t *j, const ProtobufCMessage *resp, void *data);
    /* Streams: the end (usage true across failovers). */
    void (*on_done)(job_t *j, const char *finish_reason, const Eco__Ai__V1__Usage *usage, void *data);
    void (*on_error)(job_t *j, const job_error_t *e, void *data);
} job_sink_t;

typedef struct {
    job_mode_t mode;
    const reg_model_t *model;                 /* resolved by the caller */
    const Eco__Ai__V1__GenerateRequest *gen;  /* JOB_UNARY/STREAM; borrowed until the end */
    const Eco__Ai__V1__EmbeddingRequest *emb; /* JOB_EMBED; borrowed */
    int priority;                             /* ECO_PRIO_* */
    long timeout_ms;                          /* 0 = the default */
    const char *request_id;                   /* copied */
    const char *traceparent;                  /* copied; may be NULL */
    const char *session;                      /* session-affinity key, may be NULL; copied */
    const char *api;                          /* "rest" or "grpc": the requests metric label (static) */
} job_spec_t;

/* Starts a job; the sink is called later (never from inside this call). */
job_t *job_start(ai_t *ai, const job_spec_t *spec, const job_sink_t *sink, void *data);
/* The client went away: stop and report on_error (CANCELLED) later. */
void job_cancel(job_t *j);
/* The client went away and nobody listens: stop, never call the sink again. */
void job_detach(job_t *j);
/* The sink has room again (after on_delta returned 1). */
void job_resume(job_t *j);

/* The registry id of the model that answers (a fallback may differ from the requested). */
const char *job_model_id(const job_t *j);
/* Microseconds spent outside the engine so far (total minus time waiting on adapters). */
long job_overhead_us(const job_t *j);

/* ---------- routing (route.c) ---------- */

/* Picks a backend of m for a new attempt: healthy, breaker not open, not in skip[], with
 * continuation when asked, under its concurrency limit; lowest tier first, power of two
 * choices on in-flight plus reported queue depth. NULL when none; *busy has ROUTE_FULL when
 * some backend was left out only because it was at its limit, ROUTE_COOLING when one asked to
 * be left alone (retry-after). */
enum { ROUTE_FULL = 1, ROUTE_COOLING = 2 };
backend_t *route_pick(ai_t *ai, const reg_model_t *m, backend_t *const *skip, size_t nskip, int need_continuation,
                      uint64_t affinity, int *busy);
/* The affinity key of a request: its session (x-eco-session) if any, else with
 * ECO_PREFIX_AFFINITY the hash of its leading messages (all but the last), else 0 (none). */
uint64_t route_affinity(const ai_t *ai, const char *session, const Eco__Ai__V1__GenerateRequest *gen);
unsigned route_limit(const ai_t *ai, const backend_t *b);
/* Readiness check (data = ai_t): UP when every model has a healthy backend, DEGRADED when some
 * model has none, DOWN when no model has any. */
eco_dep_state_t route_check_models(void *data, char *detail, size_t len);

/* ---------- admission (admit.c) ---------- */

typedef struct {
    eco_pq_item_t item;
    void (*wake)(eco_pq_item_t *it); /* a backend became free: try again */
} admit_wait_t;

/* Queues w for model id. Returns 0 (queued), or -1 when the queue is full of requests of at
 * least the same priority. A lower-priority request that had to make room is woken with
 * its shed flag set through shed(). */
int admit_enqueue(ai_t *ai, const char *model, admit_wait_t *w, int prio, void (*shed)(eco_pq_item_t *it));
void admit_remove(ai_t *ai, const char *model, admit_wait_t *w);
/* Capacity was freed: wakes the oldest waiter of the highest priority of every queue. */
void admit_kick(ai_t *ai);

#endif
