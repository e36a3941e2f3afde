/*
 * engine-adapter internals. One process serves eco.ai.v1.Inference for one engine instance.
 *
 * Threads: gRPC handlers run on the rpc worker threads; they only convert the request and post
 * a job to the h2o loop thread (eco_service_post). Everything that touches the engine (upstream
 * HTTP, timers, the job queue, stream parsing) runs on the loop thread; answers go back through
 * the thread-safe eco_rpc_* calls. The engine's state (health, models, load) is written by the
 * loop thread and the readiness checker under `a->lock` and read by the info handlers.
 */
#ifndef ENGINE_ADAPTER_H
#define ENGINE_ADAPTER_H

#include <pthread.h>
#include <stdatomic.h>

#include "eco/ai/v1/inference.pb-c.h"
#include "eco_engines.h"
#include "eco_http.h"
#include "eco_rpc.h"

typedef struct {
    const char *kind_name;
    const char *engine_url;
    const char *model;
    long connect_timeout_ms, first_byte_timeout_ms, idle_timeout_ms;
    long max_conns, max_queue;
    const char *metrics_url;
    long scrape_interval_ms;
    const char *tei_url;
    long default_max_tokens;
    const char *forward_md;
    int grpc_port;
} adapter_cfg_t;

#define ADAPTER_MAX_FORWARD 8

/* The engine's health as probed by the readiness checker. */
typedef enum { ENGINE_UNKNOWN = 0, ENGINE_UP, ENGINE_LOADING, ENGINE_DOWN } engine_health_t;

typedef struct adapter {
    adapter_cfg_t cfg;
    const eco_engine_kind_t *kind;
    eco_service_t *svc;
    eco_rpc_server_t *rpc;
    char health_url[1024];
    uint64_t started_ms;

    /* loop thread only */
    eco_http_upstream_t *up;  /* generation traffic, ECO_ENGINE_MAX_CONNS connections */
    eco_http_upstream_t *ctl; /* discovery and metrics */
    eco_http_upstream_t *mup; /* metrics at another origin (ECO_ENGINE_METRICS_URL), or NULL */
    eco_http_upstream_t *tei; /* embeddings server next to TGI, or NULL */
    char metrics_path[512];
    char forward_keys[ADAPTER_MAX_FORWARD][64]; /* request metadata passed on as HTTP headers */
    size_t nforward;
    h2o_linklist_t queue;        /* job_t.qlink waiting for a connection slot */
    atomic_long running, queued; /* upstream requests in flight, jobs waiting (read by GetLoad) */
    eco_timer_t scrape_timer;
    int scrape_busy;
    uint64_t next_discovery_ms;
    int sglang_incremental;

    /* shared state, under lock */
    pthread_mutex_t lock;
    engine_health_t health;
    char health_detail[160];
    eco_engine_models_t models;
    int models_known;
    eco_engine_info_t info;
    eco_engine_load_t load;
    int64_t scraped_at_ms; /* unix ms of the last good scrape, 0 = never */
    uint32_t embedding_dim;
    atomic_long inflight; /* jobs accepted and not yet answered (queued + running) */

    /* metrics */
    eco_metric_t *m_requests, *m_upstream, *m_ttft, *m_tokens, *m_cuts, *m_inflight, *m_pauses;
} adapter_t;

extern adapter_t g_adapter;

/* engine.c: readiness probe, discovery and metrics scraping. */
void engine_init(adapter_t *a);
eco_dep_state_t engine_check(void *data, char *detail, size_t len);
/* The served model: ECO_ENGINE_MODEL, else the first discovered, else the kind's default; copied
 * into out (may be ""). */
void engine_model(adapter_t *a, char *out, size_t n);
/* 1 for kinds that refuse a request without the exact model name (Ollama, OpenAI, MII). */
int engine_needs_model(const eco_engine_kind_t *k);

/* calls.c: the generation and embedding handlers. */
void calls_register(adapter_t *a);
/* Parses ECO_ENGINE_FORWARD_METADATA; exits 2 on a bad key. */
void calls_forward_init(adapter_t *a);

/* info.c: ListModels, HealthCheck, GetLoad. */
void info_register(adapter_t *a);
void info_fill_caps(adapter_t *a, Eco__Ai__V1__Capabilities *caps);

/* job.c: one upstream request per call, run on the loop thread. */
typedef enum { JOB_GENERATE, JOB_STREAM, JOB_EMBED } job_kind_t;
typedef struct job job_t;
job_t *job_new(adapter_t *a, job_kind_t kind, eco_rpc_call_t *call, const ProtobufCMessage *req);
/* Hands the job to the loop thread (from the handler's worker thread). */
void job_submit(job_t *j);
const char *job_kind_name(job_kind_t k);

#endif
