/*
 * eco_deps: the settings and readiness checks for the platform's data dependencies, shared by
 * every service that uses them (one definition of ECO_POSTGRES_URL, ECO_REDIS_URL, ECO_KAFKA_BROKERS).
 */
#ifndef ECO_DEPS_H
#define ECO_DEPS_H

#include "eco_core.h"

#define ECO_DEPS_SPEC_POSTGRES(out)                                                                                    \
    {                                                                                                                  \
        "ECO_POSTGRES_URL", ECO_CFG_URL, "postgresql://eco@127.0.0.1:5432/eco", 0, 0, NULL,                            \
            "PostgreSQL connection URL", (out)                                                                         \
    }
#define ECO_DEPS_SPEC_REDIS(out)                                                                                       \
    {                                                                                                                  \
        "ECO_REDIS_URL", ECO_CFG_URL, "redis://127.0.0.1:6379", 0, 0, NULL,                                            \
            "Redis URL (redis://[:password@]host:port[/db])", (out)                                                    \
    }
#define ECO_DEPS_SPEC_KAFKA(out)                                                                                       \
    {                                                                                                                  \
        "ECO_KAFKA_BROKERS", ECO_CFG_STR, "127.0.0.1:9092", 0, 0, NULL, "Kafka bootstrap brokers (host:port,...)",     \
            (out)                                                                                                      \
    }

/* Settings of the worker pool and the Redis client that both gateways read (same names, bounds
 * and defaults everywhere). */
#define ECO_DEPS_SPEC_DB_WORKERS(out)                                                                                  \
    {                                                                                                                  \
        "ECO_DB_WORKERS", ECO_CFG_INT, "4", 1, 64, NULL,                                                               \
            "worker threads for blocking PostgreSQL, Redis (and argon2id) work, each with its own connections", (out)  \
    }
#define ECO_DEPS_SPEC_DB_QUEUE(out)                                                                                    \
    {                                                                                                                  \
        "ECO_DB_QUEUE_MAX", ECO_CFG_INT, "1024", 1, 1000000, NULL, "jobs waiting for a worker before 503", (out)       \
    }
#define ECO_DEPS_SPEC_REDIS_TIMEOUT(out)                                                                               \
    {                                                                                                                  \
        "ECO_REDIS_TIMEOUT_MS", ECO_CFG_MS, "250", 10, 60000, NULL, "Redis connect and command timeout", (out)         \
    }
#define ECO_DEPS_SPEC_REDIS_PREFIX(out)                                                                                \
    {                                                                                                                  \
        "ECO_REDIS_KEY_PREFIX", ECO_CFG_STR, "eco:", 0, 0, NULL,                                                       \
            "prefix of every Redis key (the same in every service: limits and revocations are shared)", (out)          \
    }

/* Registers a readiness check named `name` for the dependency, backed by an eco_store probe
 * (one connection kept by the checker thread, each run bounded to ECO_DEPS_PROBE_TIMEOUT_MS).
 * A URL that does not parse is a settings error: one line naming the variable, exit 2.
 * Returns the probe (owned by the readiness registry for the process lifetime). */
#define ECO_DEPS_PROBE_TIMEOUT_MS 1000
struct eco_store_pg_probe *eco_deps_ready_postgres(const char *name, eco_ready_kind_t kind, const char *url);
struct eco_store_redis_probe *eco_deps_ready_redis(const char *name, eco_ready_kind_t kind, const char *url);
struct eco_store_kafka_probe *eco_deps_ready_kafka(const char *name, eco_ready_kind_t kind, const char *brokers);

#endif
