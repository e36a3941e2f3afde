/*
 * eco_deps: the settings and readiness checks for the platform's data dependencies, shared by
 * every service that uses them (one definition of ECO_POSTGRES_URL, ECO_REDIS_URL, ECO_KAFKA_BROKERS).
 */
#ifndef ECO_DEPS_H
#define ECO_DEPS_H

#include "eco_core.h"

#define ECO_DEPS_SPEC_POSTGRES(out)                                                                                    \
    {"ECO_POSTGRES_URL", ECO_CFG_URL, "postgresql://eco@127.0.0.1:5432/eco", 0, 0, NULL, "PostgreSQL connection URL", \
     (out)}
#define ECO_DEPS_SPEC_REDIS(out)                                                                                       \
    {"ECO_REDIS_URL", ECO_CFG_URL, "redis://127.0.0.1:6379", 0, 0, NULL, "Redis URL (redis://[:password@]host:port[/db])", (out)}
#define ECO_DEPS_SPEC_KAFKA(out)                                                                                       \
    {"ECO_KAFKA_BROKERS", ECO_CFG_STR, "127.0.0.1:9092", 0, 0, NULL, "Kafka bootstrap brokers (host:port,...)", (out)}

/* Readiness checks (eco_ready_check_fn); data is the URL / broker list, borrowed for the
 * process lifetime. Each keeps one connection per checker thread and is bounded to ~1 s. */
eco_dep_state_t eco_deps_check_postgres(void *url, char *detail, size_t len);
eco_dep_state_t eco_deps_check_redis(void *url, char *detail, size_t len);
eco_dep_state_t eco_deps_check_kafka(void *brokers, char *detail, size_t len);

#endif
