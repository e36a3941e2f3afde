/* ai-service: OpenAI-compatible REST and the eco.ai.v1.Inference gRPC API in front of the
 * engine adapters: model registry (ECO_MODELS_FILE, reloaded on SIGHUP), routing, retries,
 * mid-stream failover, circuit breakers and admission control. */
#include "ai.h"
#include "eco_auth.h"
#include "eco_deps.h"
#include "eco_keycache.h"
#include "eco_ratelimit.h"
#include "grpc_auth.h"
#include "models.h"
#include "rest.h"
#include "rpc_api.h"

#include <stdlib.h>

static const char *models_file, *kafka;
static int grpc_port;
static ai_t ai;
static grpc_auth_settings_t auth;

static const eco_cfg_spec_t specs[] = {
    {"ECO_GRPC_PORT", ECO_CFG_PORT, "50051", 0, 0, NULL, "gRPC listen port (eco.ai.v1.Inference)", &grpc_port},
    {"ECO_MODELS_FILE", ECO_CFG_STR, "deploy/local/models.yaml", 0, 0, NULL, "model registry (YAML); SIGHUP reloads it",
     &models_file},
    {"ECO_REQUEST_TIMEOUT_MS", ECO_CFG_MS, "120000", 100, 3600000, NULL,
     "default request deadline (header x-eco-timeout-ms may shorten it)", &ai.s.request_timeout_ms},
    {"ECO_TTFT_TIMEOUT_MS", ECO_CFG_MS, "30000", 10, 3600000, NULL,
     "first streamed token per attempt; later the request moves to another backend", &ai.s.ttft_timeout_ms},
    {"ECO_STREAM_STALL_MS", ECO_CFG_MS, "10000", 10, 3600000, NULL,
     "longest gap between streamed tokens before failing over", &ai.s.stall_ms},
    {"ECO_RETRY_MAX_ATTEMPTS", ECO_CFG_INT, "3", 1, 10, NULL, "attempts per request (first included)",
     &ai.s.retry_max_attempts},
    {"ECO_RETRY_BASE_MS", ECO_CFG_MS, "25", 0, 60000, NULL, "retry backoff base (exponential, equal jitter)",
     &ai.s.retry_base_ms},
    {"ECO_RETRY_MAX_BACKOFF_MS", ECO_CFG_MS, "2000", 0, 60000, NULL, "retry backoff cap", &ai.s.retry_max_backoff_ms},
    {"ECO_RETRY_BUDGET_PERCENT", ECO_CFG_INT, "20", 0, 100, NULL,
     "retries allowed as a percentage of requests (10 s window, plus 10)", &ai.s.retry_budget_percent},
    {"ECO_BACKEND_MAX_INFLIGHT", ECO_CFG_INT, "64", 1, 100000, NULL,
     "requests in flight per backend (lower if the adapter reports a lower limit)", &ai.s.backend_max_inflight},
    {"ECO_QUEUE_MAX", ECO_CFG_INT, "256", 0, 100000, NULL, "requests waiting per model when every backend is full",
     &ai.s.queue_max},
    {"ECO_BREAKER_FAILURES", ECO_CFG_INT, "5", 1, 1000, NULL, "consecutive failures that open a backend's circuit",
     &ai.s.breaker_failures},
    {"ECO_BREAKER_ERROR_PERCENT", ECO_CFG_INT, "50", 0, 100, NULL,
     "error rate over 10 s (at least 20 results) that opens a circuit; 0 = off", &ai.s.breaker_error_percent},
    {"ECO_BREAKER_COOLDOWN_MS", ECO_CFG_MS, "5000", 10, 600000, NULL, "open circuit -> half-open probe after this",
     &ai.s.breaker_cooldown_ms},
    {"ECO_HEALTH_INTERVAL_MS", ECO_CFG_MS, "1000", 50, 600000, NULL, "backend health and load polling interval",
     &ai.s.health_interval_ms},
    {"ECO_PREFIX_AFFINITY", ECO_CFG_BOOL, "false", 0, 0, NULL,
     "route requests sharing their leading messages to the same backend (KV-cache reuse); x-eco-session always "
     "pins a session",
     &ai.s.prefix_affinity},
    {"ECO_INTERNAL_SECRET", ECO_CFG_STR, "", 0, 0, NULL,
     "shared with root-gateway (>= 32 bytes): x-eco-* identity headers are believed only with it", &ai.internal_secret},
    ECO_DEPS_SPEC_KAFKA(&kafka),
    /* credentials and limits of gRPC callers (grpc_auth.h), as root-gateway enforces them for REST */
    {"ECO_GRPC_AUTH", ECO_CFG_ENUM, "required", 0, 0, "required|off",
     "gRPC eco.ai.v1.Inference callers: required = authorization metadata \"Bearer\" + API key or access token, "
     "checked with root-gateway's roles and limits; off = anyone, for local development and tests behind a "
     "trusted network only",
     &auth.mode},
    ECO_DEPS_SPEC_POSTGRES(&auth.pg_url),
    ECO_DEPS_SPEC_REDIS(&auth.redis_url),
    ECO_RL_SPEC_FAIL_MODE(&auth.redis_fail_mode),
    ECO_AUTH_SPEC_JWT_KEYS(&auth.jwt_keys),
    ECO_AUTH_SPEC_JWT_ISSUER(&auth.issuer),
    ECO_AUTH_SPEC_JWT_AUDIENCE(&auth.audience),
    ECO_KEYCACHE_SPEC_TTL(&auth.cache_ttl_ms),
    ECO_KEYCACHE_SPEC_STALE(&auth.cache_stale_ms),
    ECO_KEYCACHE_SPEC_MAX(&auth.cache_max),
    ECO_RL_SPEC_DEFAULT_RPM(&auth.default_rpm),
    ECO_RL_SPEC_DEFAULT_TPM(&auth.default_tpm),
    ECO_RL_SPEC_DEFAULT_MAX_TOKENS(&auth.default_max_tokens),
    ECO_DEPS_SPEC_DB_WORKERS(&auth.db_workers),
    ECO_DEPS_SPEC_DB_QUEUE(&auth.db_queue),
    ECO_DEPS_SPEC_REDIS_TIMEOUT(&auth.redis_timeout_ms),
    ECO_DEPS_SPEC_REDIS_PREFIX(&auth.kv_prefix),
};

static void post_to_loop(void *data, void (*fn)(void *), void *arg)
{
    eco_service_post(data, fn, arg);
}

static void on_reload(eco_service_t *svc, void *data)
{
    char err[512];
    registry_t *reg = registry_load(models_file, err, sizeof(err));
    if (!reg) {
        eco_error("registry reload failed; keeping the current one", ECO_KS("file", models_file), ECO_KS("error", err));
        return;
    }
    backends_add_registry(ai.bk, reg);
    /* Requests in flight keep pointers into the old registry: it is kept (reloads are rare). */
    ai.reg = reg;
    eco_info("registry reloaded", ECO_KS("file", models_file), ECO_KI("models", (long)reg->nmodels));
}

static void collect(void *data)
{
    backends_export(ai.bk, eco_now_ms());
}

static void init_metrics(void)
{
    ai.m_requests =
        eco_metrics_counter("eco_ai_requests_total",
                            "Inference requests by model that answered, API and status (HTTP code).", "model,api,code");
    ai.m_pauses = eco_metrics_counter("eco_ai_stream_pauses_total",
                                      "Streams paused because the client read slower than the engine wrote.", NULL);
    ai.m_retries = eco_metrics_counter("eco_ai_retries_total", "Retries before any output, by cause.", "cause");
    ai.m_failovers =
        eco_metrics_counter("eco_ai_failovers_total", "Mid-stream failovers with continuation, by cause.", "cause");
    ai.m_queue_depth = eco_metrics_gauge("eco_ai_queue_depth", "Requests waiting for a backend, per model.", "model");
    ai.m_shed = eco_metrics_counter("eco_ai_shed_total", "Requests refused 429 by admission control.", "model");
    ai.m_queue_wait =
        eco_metrics_histogram("eco_ai_queue_wait_seconds", "Time waiting for a backend.", "model", NULL, 0);
    ai.m_ttft = eco_metrics_histogram("eco_ai_ttft_seconds", "Time to the first streamed token.", "model", NULL, 0);
    ai.m_itl = eco_metrics_histogram("eco_ai_inter_token_seconds", "Gap between streamed tokens.", "model", NULL, 0);
    ai.m_tokens = eco_metrics_counter("eco_ai_tokens_total", "Tokens by direction (prompt, completion).", "direction");
    static const double us[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1};
    ai.m_overhead = eco_metrics_histogram("eco_ai_overhead_seconds", "Time spent outside the engine per request.",
                                          "kind", us, ECO_ARRAY_SIZE(us));
    eco_metrics_on_collect(collect, NULL);
}

int main(int argc, char **argv)
{
    eco_service_opts_t opts = {
        .name = "ai-service", .default_http_port = 8001, .specs = specs, .nspecs = ECO_ARRAY_SIZE(specs)};
    eco_service_t *svc = eco_service_new(&opts, argc, argv);
    char err[512];
    registry_t *reg = registry_load(models_file, err, sizeof(err));
    if (!reg) {
        fprintf(stderr, "ECO_MODELS_FILE: %s\n", err);
        return 2;
    }
    if (ai.internal_secret[0] && strlen(ai.internal_secret) < ECO_AUTH_INTERNAL_SECRET_MIN) {
        fprintf(stderr, "ECO_INTERNAL_SECRET: at least %d bytes\n", ECO_AUTH_INTERNAL_SECRET_MIN);
        return 2;
    }
    int arc = grpc_auth_init(svc, &auth);
    if (arc != 0)
        return arc;
    ai.svc = svc;
    ai.reg = reg;
    eco_random_bytes(&ai.rng, sizeof(ai.rng));
    eco_retry_budget_init(&ai.budget, (double)ai.s.retry_budget_percent / 100.0, 10, 10000);
    init_metrics();
    eco_cb_opts_t cb = {.consecutive_failures = (int)ai.s.breaker_failures,
                        .error_rate = (double)ai.s.breaker_error_percent / 100.0,
                        .cooldown_ms = ai.s.breaker_cooldown_ms};
    ai.bk = backends_new(reg, &cb, ai.s.health_interval_ms);
    backends_start(ai.bk);
    ai.rpc = eco_rpc_async_new(post_to_loop, svc);

    eco_ready_add("models", ECO_READY_REQUIRED, route_check_models, &ai);
    eco_deps_ready_kafka("kafka", ECO_READY_INFO, kafka);
    static models_ctx_t models;
    models_init(&models, &ai.reg, ai.bk);
    ai.created = models.created;
    eco_service_route(svc, "GET", "/v1/models", models_list, &models);
    eco_service_route(svc, "GET", "/v1/models/{model}", models_get, &models);
    rest_routes(svc, &ai);
    eco_service_on_reload(svc, on_reload, NULL);

    eco_rpc_server_t *rpc = eco_rpc_server_for_service(eco_service_config(svc)->bind_addr, grpc_port, NULL);
    rpc_api_register(rpc, &ai);
    if (eco_rpc_server_start(rpc) < 0)
        return 1; /* logged */
    eco_service_on_drain_blocking(svc, eco_rpc_drain, rpc);
    int rc = eco_service_run(svc);
    eco_rpc_server_destroy(rpc);
    eco_rpc_async_free(ai.rpc, 1000);
    grpc_auth_shutdown();
    backends_free(ai.bk);
    registry_free(ai.reg);
    return rc;
}
