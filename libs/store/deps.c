/* Readiness registration for PostgreSQL, Redis and Kafka on top of the store probes. */
#include "eco_deps.h"
#include "eco_store.h"

#include <stdlib.h>

static void settings_error(const char *var, const char *err)
{
    fprintf(stderr, "%s: expected a valid address (%s)\n", var, err);
    exit(2);
}

eco_store_pg_probe_t *eco_deps_ready_postgres(const char *name, eco_ready_kind_t kind, const char *url)
{
    eco_store_pg_probe_t *p;
    char err[256];
    if (eco_store_pg_probe_new(&p, url, ECO_DEPS_PROBE_TIMEOUT_MS, err, sizeof(err)) != 0)
        settings_error("ECO_POSTGRES_URL", err);
    if (name)
        eco_ready_add(name, kind, eco_store_pg_ready_check, p);
    return p;
}

eco_store_redis_probe_t *eco_deps_ready_redis(const char *name, eco_ready_kind_t kind, const char *url)
{
    eco_store_redis_probe_t *p;
    char err[256];
    if (eco_store_redis_probe_new(&p, url, ECO_DEPS_PROBE_TIMEOUT_MS, err, sizeof(err)) != 0)
        settings_error("ECO_REDIS_URL", err);
    if (name)
        eco_ready_add(name, kind, eco_store_redis_ready_check, p);
    return p;
}

eco_store_kafka_probe_t *eco_deps_ready_kafka(const char *name, eco_ready_kind_t kind, const char *brokers)
{
    eco_store_kafka_probe_t *p;
    char err[256];
    if (eco_store_kafka_probe_new(&p, brokers, ECO_DEPS_PROBE_TIMEOUT_MS, err, sizeof(err)) != 0)
        settings_error("ECO_KAFKA_BROKERS", err);
    if (name)
        eco_ready_add(name, kind, eco_store_kafka_ready_check, p);
    return p;
}
