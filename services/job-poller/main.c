/* job-poller: moves jobs between PostgreSQL and Kafka (outbox relay, event consumer, sweeper).
 * This stage: the skeleton with the readiness contract (PostgreSQL and Kafka required; Redis
 * reported). */
#include "eco_deps.h"
#include "eco_http.h"

static const char *pg_url, *redis_url, *kafka;

static const eco_cfg_spec_t specs[] = {
    ECO_DEPS_SPEC_POSTGRES(&pg_url),
    ECO_DEPS_SPEC_REDIS(&redis_url),
    ECO_DEPS_SPEC_KAFKA(&kafka),
};

int main(int argc, char **argv)
{
    eco_service_opts_t opts = {
        .name = "job-poller", .default_http_port = 8003, .specs = specs, .nspecs = ECO_ARRAY_SIZE(specs)};
    eco_service_t *svc = eco_service_new(&opts, argc, argv);
    eco_deps_ready_postgres("postgres", ECO_READY_REQUIRED, pg_url);
    eco_deps_ready_kafka("kafka", ECO_READY_REQUIRED, kafka);
    eco_deps_ready_redis("redis", ECO_READY_INFO, redis_url);
    return eco_service_run(svc);
}
