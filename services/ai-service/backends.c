/* Backend monitor: grpc.health.v1 Check and eco.ai.v1 GetLoad against every adapter, on its own
 * thread, results in atomics read by the loop thread. */
#include "backends.h"

#include "eco/ai/v1/inference.pb-c.h"
#include "eco_metrics.h"
#include "grpc/health/v1/health.pb-c.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROBE_TIMEOUT_MS 500
#define MAX_BACKENDS     (REG_MAX_MODELS * REG_MAX_BACKENDS)

struct backends {
    backend_t v[MAX_BACKENDS];
    atomic_size_t n;
    eco_cb_opts_t cb_opts;
    long interval_ms;
    pthread_t thread;
    int started;
    atomic_int stop;
    atomic_long rounds; /* completed probe rounds */
    eco_metric_t *m_inflight, *m_circuit, *m_opens;
};

static void add(backends_t *b, const char *address)
{
    if (backends_find(b, address))
        return;
    size_t n = atomic_load(&b->n);
    if (n == MAX_BACKENDS)
        eco_fatal("too many distinct backend addresses");
    backend_t *e = &b->v[n];
    e->address = eco_strdup(address);
    e->ch = eco_rpc_channel_create(address, &(eco_rpc_channel_opts_t){.keepalive_ms = 30000});
    eco_cb_init(&e->cb, &b->cb_opts);
    e->cb_reported = -1;
    atomic_store(&b->n, n + 1); /* published after the entry is complete */
}

backends_t *backends_new(const registry_t *reg, const eco_cb_opts_t *cb_opts, long interval_ms)
{
    backends_t *b = eco_calloc(1, sizeof(*b));
    b->cb_opts = *cb_opts;
    b->interval_ms = interval_ms > 0 ? interval_ms : 1000;
    b->m_inflight = eco_metrics_gauge("eco_ai_backend_inflight", "Requests in flight per backend.", "backend");
    b->m_circuit = eco_metrics_gauge("eco_ai_circuit_state",
                                     "Circuit breaker per backend: 0 closed, 1 open, 2 half-open.", "backend");
    b->m_opens = eco_metrics_counter("eco_ai_circuit_opens_total", "Times a backend's circuit opened.", "backend");
    backends_add_registry(b, reg);
    return b;
}

void backends_add_registry(backends_t *b, const registry_t *reg)
{
    for (size_t m = 0; m < reg->nmodels; m++)
        for (size_t k = 0; k < reg->models[m].nbackends; k++)
            add(b, reg->models[m].backends[k].address);
}

backend_t *backends_find(backends_t *b, const char *address)
{
    size_t n = atomic_load(&b->n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(b->v[i].address, address) == 0)
            return &b->v[i];
    return NULL;
}

static int check_health(backend_t *e)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "";
    eco_rpc_call_opts_t opts = {.timeout_ms = PROBE_TIMEOUT_MS};
    ProtobufCMessage *resp = NULL;
    int rc = eco_rpc_client_unary(e->ch, &grpc__health__v1__health__descriptor, "Check", &req.base, &opts, &resp, NULL);
    int ok = rc == 0 && ((Grpc__Health__V1__HealthCheckResponse *)resp)->status ==
                            GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    return ok;
}

static void get_load(backend_t *e)
{
    Eco__Ai__V1__GetLoadRequest req = ECO__AI__V1__GET_LOAD_REQUEST__INIT;
    eco_rpc_call_opts_t opts = {.timeout_ms = PROBE_TIMEOUT_MS};
    ProtobufCMessage *resp = NULL;
    if (eco_rpc_client_unary(e->ch, &eco__ai__v1__inference__descriptor, "GetLoad", &req.base, &opts, &resp, NULL) != 0)
        return;
    const Eco__Ai__V1__LoadReport *l = (const Eco__Ai__V1__LoadReport *)resp;
    atomic_store(&e->queue_depth, l->queue_depth + l->waiting);
    atomic_store(&e->max_concurrency, l->max_concurrency);
    atomic_store(&e->continuation, l->capabilities ? l->capabilities->continuation : 0);
    protobuf_c_message_free_unpacked(resp, NULL);
}

static void probe_all(backends_t *b)
{
    size_t n = atomic_load(&b->n);
    for (size_t i = 0; i < n && !atomic_load(&b->stop); i++) {
        backend_t *e = &b->v[i];
        int ok = check_health(e);
        if (ok)
            get_load(e);
        atomic_store(&e->healthy, ok);
        atomic_store(&e->probed, 1);
    }
    atomic_fetch_add(&b->rounds, 1);
}

void backends_wait_probed(backends_t *b, long timeout_ms)
{
    for (long waited = 0; atomic_load(&b->rounds) == 0 && waited < timeout_ms; waited += 10)
        usleep(10000);
}

static void *monitor(void *arg)
{
    backends_t *b = arg;
    pthread_setname_np(pthread_self(), "ai-monitor");
    while (!atomic_load(&b->stop)) {
        probe_all(b);
        for (long slept = 0; slept < b->interval_ms && !atomic_load(&b->stop); slept += 20)
            usleep(20000);
    }
    return NULL;
}

void backends_start(backends_t *b)
{
    if (pthread_create(&b->thread, NULL, monitor, b) != 0)
        eco_fatal("cannot start the backend monitor");
    b->started = 1;
}

void backends_free(backends_t *b)
{
    if (!b)
        return;
    atomic_store(&b->stop, 1);
    if (b->started)
        pthread_join(b->thread, NULL);
    size_t n = atomic_load(&b->n);
    for (size_t i = 0; i < n; i++) {
        eco_rpc_channel_destroy(b->v[i].ch);
        free(b->v[i].address);
    }
    free(b);
}

int backends_healthy(backends_t *b, const char *address)
{
    backend_t *e = backends_find(b, address);
    return e && atomic_load(&e->probed) && atomic_load(&e->healthy);
}

void backends_export(backends_t *b, uint64_t now_ms)
{
    size_t n = atomic_load(&b->n);
    for (size_t i = 0; i < n; i++) {
        backend_t *e = &b->v[i];
        eco_metrics_set(b->m_inflight, (double)e->inflight, e->address);
        int st = (int)eco_cb_state(&e->cb, now_ms);
        eco_metrics_set(b->m_circuit, (double)st, e->address);
        if (st == ECO_CB_OPEN && e->cb_reported != ECO_CB_OPEN)
            eco_metrics_inc(b->m_opens, e->address);
        if (st != e->cb_reported && e->cb_reported >= 0)
            eco_info("circuit state", ECO_KS("backend", e->address), ECO_KS("state", eco_cb_state_name(st)));
        e->cb_reported = st;
    }
}
