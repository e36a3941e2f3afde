/* root-gateway: the one public REST entry -- authentication (API key or access JWT), the role
 * check of the permission table, per-key request and token limits, request ids and traceparent,
 * and a streaming proxy to ai-service (/v1/...) and api-gateway (/api/v1/..., /auth/...). See gw.h.
 * Readiness: 503 when PostgreSQL is down and the API-key cache is cold (nothing to authenticate
 * with); Redis down: 503 in fail-closed mode, reported but ready in fail-open mode. */
#include "eco_deps.h"
#include "gw.h"

#include <string.h>

static const char *pg_url, *redis_url, *redis_fail_mode, *ai_url, *api_url, *jwt_keys, *cors_origins;
static long db_workers, db_queue, redis_timeout_ms, upstream_timeout_ms, upstream_conns, cors_max_age_ms;
static long client_timeout_ms, max_conns_per_ip;

static const eco_cfg_spec_t specs[] = {
    ECO_DEPS_SPEC_POSTGRES(&pg_url),
    ECO_DEPS_SPEC_REDIS(&redis_url),
    ECO_RL_SPEC_FAIL_MODE(&redis_fail_mode),
    {"ECO_AI_SERVICE_URL", ECO_CFG_URL, "http://127.0.0.1:8001", 0, 0, NULL, "ai-service base URL (/v1/*)", &ai_url},
    {"ECO_API_GATEWAY_URL", ECO_CFG_URL, "http://127.0.0.1:3000", 0, 0, NULL,
     "api-gateway base URL (/api/v1/*, /auth/*)", &api_url},
    ECO_AUTH_SPEC_JWT_KEYS(&jwt_keys),
    ECO_AUTH_SPEC_JWT_ISSUER(&gw.issuer),
    ECO_AUTH_SPEC_JWT_AUDIENCE(&gw.audience),
    {"ECO_INTERNAL_SECRET", ECO_CFG_STR, "", 0, 0, NULL,
     "shared by root-gateway and its upstreams (>= 32 bytes): x-eco-* identity headers are sent and believed "
     "only with it; empty: none (root-gateway forwards Authorization instead)",
     &gw.internal_secret},
    ECO_KEYCACHE_SPEC_TTL(&gw.cache_ttl_ms),
    ECO_KEYCACHE_SPEC_STALE(&gw.cache_stale_ms),
    ECO_KEYCACHE_SPEC_MAX(&gw.cache_max),
    ECO_RL_SPEC_DEFAULT_RPM(&gw.default_rpm),
    ECO_RL_SPEC_DEFAULT_TPM(&gw.default_tpm),
    {"ECO_PUBLIC_RPM", ECO_CFG_INT, "120", 1, 1000000000, NULL,
     "requests per minute per client IP on the unauthenticated routes (/auth/signup|login|refresh)", &gw.public_rpm},
    ECO_RL_SPEC_DEFAULT_MAX_TOKENS(&gw.default_max_tokens),
    {"ECO_MAX_HEADER_BYTES", ECO_CFG_BYTES, "16k", 1024, 1048576, NULL, "largest request header block (431 above)",
     &gw.max_header_bytes},
    {"ECO_UPSTREAM_TIMEOUT_MS", ECO_CFG_MS, "120000", 100, 3600000, NULL,
     "upstream connect, first byte and gap between streamed chunks", &upstream_timeout_ms},
    {"ECO_UPSTREAM_MAX_CONNS", ECO_CFG_INT, "256", 1, 100000, NULL, "connections per upstream", &upstream_conns},
    {"ECO_CORS_ORIGINS", ECO_CFG_STR, "", 0, 0, NULL,
     "browser origins allowed to call the API: comma-separated scheme://host[:port], or *; empty: CORS off "
     "(preflights 405, no CORS headers)",
     &cors_origins},
    {"ECO_CORS_MAX_AGE_MS", ECO_CFG_MS, "600000", 0, 86400000, NULL,
     "how long browsers may cache a preflight answer (Access-Control-Max-Age, whole seconds)", &cors_max_age_ms},
    {"ECO_CLIENT_TIMEOUT_MS", ECO_CFG_MS, "10000", 100, 600000, NULL,
     "slow clients: a connection must send a whole request (headers and body) within this long of being ready "
     "for one, else it is closed (also the idle keep-alive timeout)",
     &client_timeout_ms},
    {"ECO_MAX_CONNS_PER_IP", ECO_CFG_INT, "0", 0, 1000000, NULL,
     "open connections per client IP; requests on connections beyond it get 429 and the connection closes "
     "(0 = no cap; behind a proxy every client shares its IP)",
     &max_conns_per_ip},
    ECO_DEPS_SPEC_DB_WORKERS(&db_workers),
    ECO_DEPS_SPEC_DB_QUEUE(&db_queue),
    ECO_DEPS_SPEC_REDIS_TIMEOUT(&redis_timeout_ms),
    ECO_DEPS_SPEC_REDIS_PREFIX(&gw.kv_prefix),
};

static eco_dep_state_t check_credentials(void *probe, char *detail, size_t len)
{
    char pg[128] = "";
    eco_dep_state_t st = eco_store_pg_ready_check(probe, pg, sizeof(pg));
    long cached = gw_cache_count();
    if (st == ECO_DEP_UP) {
        snprintf(detail, len, "postgres up; %ld cached keys", cached);
        return ECO_DEP_UP;
    }
    snprintf(detail, len, "postgres down (%s); %ld cached keys", pg, cached);
    return cached > 0 ? ECO_DEP_DEGRADED : ECO_DEP_DOWN;
}

static int settings_error(const char *var, const char *msg)
{
    fprintf(stderr, "%s: expected %s\n", var, msg);
    return 2;
}

int main(int argc, char **argv)
{
    eco_service_opts_t opts = {
        .name = "root-gateway", .default_http_port = 8000, .specs = specs, .nspecs = ECO_ARRAY_SIZE(specs)};
    eco_service_t *svc = eco_service_new(&opts, argc, argv);
    char err[256];
    if (eco_auth_jwt_keyring_parse(jwt_keys, &gw.keys, err, sizeof(err)) != 0)
        return settings_error("ECO_JWT_KEYS", err);
    if (gw.internal_secret[0] && strlen(gw.internal_secret) < ECO_AUTH_INTERNAL_SECRET_MIN)
        return settings_error("ECO_INTERNAL_SECRET", "at least 32 bytes");
    if (strlen(gw.kv_prefix) > 32)
        return settings_error("ECO_REDIS_KEY_PREFIX", "at most 32 characters");
    if (gw_cors_init(cors_origins, cors_max_age_ms, err, sizeof(err)) != 0)
        return settings_error("ECO_CORS_ORIGINS", err);
    if (!gw.internal_secret[0])
        eco_warn("ECO_INTERNAL_SECRET is empty: callers' identity is not passed upstream");
    gw.svc = svc;
    eco_service_set_client_timeout(svc, (uint64_t)client_timeout_ms);
    eco_service_set_max_conns_per_ip(svc, max_conns_per_ip);
    gw.fail_open = strcmp(redis_fail_mode, "open") == 0;
    eco_store_pool_opts_t po = {.name = "root-gateway",
                                .workers = (size_t)db_workers,
                                .queue_max = (size_t)db_queue,
                                .pg_url = pg_url,
                                .redis_url = redis_url,
                                .redis_timeout_ms = (int)redis_timeout_ms,
                                .pg_connect_timeout_ms = 1000,
                                .pg_statement_timeout_ms = 2000};
    if (eco_store_pool_new(&gw.pool, &po, err, sizeof(err)) != 0)
        return settings_error("ECO_REDIS_URL", err);
    char rl_prefix[64];
    snprintf(rl_prefix, sizeof(rl_prefix), "%srl:", gw.kv_prefix);
    eco_store_limiter_opts_t lo = {
        .pool = gw.pool, .spec = {rl_prefix, 60000, 1000}, .fail_open = gw.fail_open, .local_subjects = 16384};
    gw.limiter = eco_store_limiter_new(&lo);
    const char *urls[2] = {api_url, ai_url}, *vars[2] = {"ECO_API_GATEWAY_URL", "ECO_AI_SERVICE_URL"};
    for (int i = 0; i < 2; i++) {
        gw.up[i] = eco_http_upstream_new(svc, urls[i], (size_t)upstream_conns, (uint64_t)upstream_timeout_ms, err,
                                         sizeof(err));
        if (!gw.up[i])
            return settings_error(vars[i], err);
    }
    gw.m_auth = eco_metrics_counter("eco_gateway_auth_total", "Authentication decisions by credential kind and result.",
                                    "kind,result");
    gw.m_cache = eco_metrics_counter(
        "eco_gateway_key_cache_lookups_total",
        "API-key cache look-ups: hit, miss (read from PostgreSQL), stale (PostgreSQL down).", "result");
    gw.m_cache_entries =
        eco_metrics_gauge("eco_gateway_key_cache_entries", "Valid API keys in the in-process cache.", NULL);
    gw.m_limit = eco_metrics_counter("eco_gateway_ratelimit_decisions_total",
                                     "Rate-limit decisions: allowed, limited, revoked, fail_closed.", "result");
    gw.m_redis_errors = eco_metrics_counter("eco_gateway_ratelimit_redis_errors_total",
                                            "Rate-limit calls that could not reach Redis.", NULL);
    gw.m_backend = eco_metrics_gauge("eco_gateway_ratelimit_backend",
                                     "1 for the limiter that decided last: redis, or local (fail-open).", "backend");
    eco_metric_t *mode = eco_metrics_gauge("eco_gateway_redis_fail_open", "1 when ECO_REDIS_FAIL_MODE=open.", NULL);
    eco_metrics_set(mode, gw.fail_open ? 1.0 : 0.0);
    gw.m_upstream =
        eco_metrics_counter("eco_gateway_upstream_responses_total",
                            "Upstream responses by upstream and status class (or error/timeout).", "upstream,class");
    gw.m_tokens =
        eco_metrics_counter("eco_gateway_tokens_total",
                            "Model tokens reserved at admission, and refunded or overrun at reconciliation.", "kind");
    gw_cache_init();
    gw_routes_register();
    eco_ready_add("postgres", ECO_READY_REQUIRED, check_credentials, eco_deps_ready_postgres(NULL, 0, pg_url));
    eco_deps_ready_redis("redis", gw.fail_open ? ECO_READY_INFO : ECO_READY_REQUIRED, redis_url);
    int rc = eco_service_run(svc);
    eco_store_pool_free(gw.pool);
    eco_store_limiter_free(gw.limiter);
    eco_auth_keycache_free(gw.cache);
    eco_auth_jwt_keyring_wipe(&gw.keys);
    return rc;
}
