/* root-gateway: the one public REST entry (authentication, limits, routing, streaming proxy).
 * This stage: the skeleton with the readiness contract:
 *   - 503 when PostgreSQL is down and the API-key cache is cold (nothing to authenticate with);
 *   - Redis down: 503 in fail-closed mode, reported but ready in fail-open mode. */
#include "eco_deps.h"
#include "eco_http.h"
#include "eco_store.h"

#include <stdatomic.h>
#include <string.h>

static const char *pg_url, *redis_url, *redis_fail_mode, *ai_url, *api_url;

static const eco_cfg_spec_t specs[] = {
    ECO_DEPS_SPEC_POSTGRES(&pg_url),
    ECO_DEPS_SPEC_REDIS(&redis_url),
    {"ECO_REDIS_FAIL_MODE", ECO_CFG_ENUM, "closed", 0, 0, "closed|open",
     "when Redis is down: closed = 503 (limits cannot be enforced), open = local limiter", &redis_fail_mode},
    {"ECO_AI_SERVICE_URL", ECO_CFG_URL, "http://127.0.0.1:8001", 0, 0, NULL, "ai-service base URL (/v1/*)", &ai_url},
    {"ECO_API_GATEWAY_URL", ECO_CFG_URL, "http://127.0.0.1:3000", 0, 0, NULL,
     "api-gateway base URL (/api/v1/*, /auth/*)", &api_url},
};

/* Number of API keys held in the in-process cache: with a warm cache the gateway can still
 * authenticate known callers while PostgreSQL is down. */
static atomic_long key_cache_entries;

static eco_dep_state_t check_credentials(void *probe, char *detail, size_t len)
{
    char pg[128] = "";
    eco_dep_state_t st = eco_store_pg_ready_check(probe, pg, sizeof(pg));
    long cached = atomic_load(&key_cache_entries);
    if (st == ECO_DEP_UP) {
        snprintf(detail, len, "postgres up; %ld cached keys", cached);
        return ECO_DEP_UP;
    }
    snprintf(detail, len, "postgres down (%s); %ld cached keys", pg, cached);
    return cached > 0 ? ECO_DEP_DEGRADED : ECO_DEP_DOWN;
}

int main(int argc, char **argv)
{
    eco_service_opts_t opts = {.name = "root-gateway", .default_http_port = 8000, .specs = specs,
                               .nspecs = ECO_ARRAY_SIZE(specs)};
    eco_service_t *svc = eco_service_new(&opts, argc, argv);
    eco_ready_add("postgres", ECO_READY_REQUIRED, check_credentials, eco_deps_ready_postgres(NULL, 0, pg_url));
    eco_deps_ready_redis("redis", strcmp(redis_fail_mode, "closed") == 0 ? ECO_READY_REQUIRED : ECO_READY_INFO,
                         redis_url);
    return eco_service_run(svc);
}
