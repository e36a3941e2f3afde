/* job-poller: moves jobs between PostgreSQL and Kafka. This stage: the outbox relay (relay.c),
 * the job event consumer (consume.c, apply.c) with dead-lettering and Redis notifications
 * (notify.c), their metrics (metrics.c), and the readiness contract (PostgreSQL and Kafka
 * required; Redis reported). Not yet: the sweeper of stale and expired jobs.
 * Shutdown (SIGTERM): readiness 503 at once; the consumer finishes the event in hand, commits it
 * and leaves the group; the relay finishes its batch; the producer is flushed; exit 0. */
#include "eco_deps.h"
#include "eco_http.h"
#include "poller.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static poller_t poller;
static pthread_t relay_thread, consume_thread;
static atomic_int drained;
static long redis_timeout_ms;

static const eco_cfg_spec_t specs[] = {
    ECO_DEPS_SPEC_POSTGRES(&poller.s.pg_url),
    ECO_DEPS_SPEC_REDIS(&poller.s.redis_url),
    ECO_DEPS_SPEC_KAFKA(&poller.s.brokers),
    ECO_DEPS_SPEC_REDIS_TIMEOUT(&redis_timeout_ms),
    ECO_DEPS_SPEC_REDIS_PREFIX(&poller.s.redis_prefix),
    {"ECO_OUTBOX_POLL_MS", ECO_CFG_MS, "500", 10, 60000, NULL,
     "how often the outbox relay looks for pending rows when the last batch was not full", &poller.s.outbox_poll_ms},
    {"ECO_OUTBOX_BATCH", ECO_CFG_INT, "100", 1, 10000, NULL,
     "outbox rows claimed (FOR UPDATE SKIP LOCKED) and published per transaction", &poller.s.outbox_batch},
    {"ECO_KAFKA_DELIVERY_TIMEOUT_MS", ECO_CFG_MS, "30000", 1000, 300000, NULL,
     "how long a produced message (outbox row, dead letter) may wait for Kafka's acknowledgement before it counts "
     "as failed and is retried",
     &poller.s.delivery_timeout_ms},
    {"ECO_KAFKA_GROUP", ECO_CFG_STR, "eco-job-poller", 0, 0, NULL, "consumer group of the job event consumer",
     &poller.s.group},
    {"ECO_KAFKA_EVENTS_TOPIC", ECO_CFG_STR, "eco.jobs.events", 0, 0, NULL, "topic of the job events consumed",
     &poller.s.events_topic},
    {"ECO_KAFKA_DLQ_TOPIC", ECO_CFG_STR, "eco.jobs.dlq", 0, 0, NULL,
     "dead-letter topic for job events that cannot be applied (reason in the eco-dlq-reason header)",
     &poller.s.dlq_topic},
    {"ECO_KAFKA_STATS_INTERVAL_MS", ECO_CFG_MS, "5000", 100, 600000, NULL,
     "how often librdkafka statistics refresh eco_kafka_consumer_lag", &poller.s.stats_interval_ms},
};

static int settings_error(const char *var, const char *msg)
{
    fprintf(stderr, "%s: expected %s\n", var, msg);
    return 2;
}

/* Drain (own thread): stop both workers, wait for them, flush what is still queued. */
static void drain(void *data, long grace_ms)
{
    poller_t *p = data;
    uint64_t deadline = eco_now_ms() + (uint64_t)grace_ms;
    poller_request_stop(p);
    pthread_join(consume_thread, NULL);
    pthread_join(relay_thread, NULL);
    uint64_t now = eco_now_ms();
    long left = now < deadline ? (long)(deadline - now) : 0;
    if (eco_store_kafka_producer_flush(p->producer, (int)(left > 2000 ? 2000 : left)) != 0)
        eco_warn("kafka producer: messages still queued at shutdown");
    atomic_store(&drained, 1);
}

int main(int argc, char **argv)
{
    eco_service_opts_t opts = {
        .name = "job-poller", .default_http_port = 8003, .specs = specs, .nspecs = ECO_ARRAY_SIZE(specs)};
    eco_service_t *svc = eco_service_new(&opts, argc, argv);
    poller_t *p = &poller;
    if (!eco_is_token(p->s.events_topic, strlen(p->s.events_topic), 249))
        return settings_error("ECO_KAFKA_EVENTS_TOPIC", "a Kafka topic name ([A-Za-z0-9._-], 1-249 characters)");
    if (!eco_is_token(p->s.dlq_topic, strlen(p->s.dlq_topic), 249))
        return settings_error("ECO_KAFKA_DLQ_TOPIC", "a Kafka topic name ([A-Za-z0-9._-], 1-249 characters)");
    if (!eco_is_token(p->s.group, strlen(p->s.group), 255))
        return settings_error("ECO_KAFKA_GROUP", "a consumer group name ([A-Za-z0-9._-], 1-255 characters)");
    if (strlen(p->s.redis_prefix) > 32)
        return settings_error("ECO_REDIS_KEY_PREFIX", "at most 32 characters");
    p->s.redis_timeout_ms = redis_timeout_ms;

    char err[256];
    eco_store_pool_opts_t po = {.name = "job-poller-notify",
                                .workers = 1,
                                .queue_max = 1024,
                                .redis_url = p->s.redis_url,
                                .redis_timeout_ms = (int)redis_timeout_ms,
                                .backoff_ms = 1000};
    if (eco_store_pool_new(&p->redis, &po, err, sizeof(err)) != 0)
        return settings_error("ECO_REDIS_URL", err);
    eco_store_kafka_producer_opts_t prod = {.client_id = "eco-job-poller",
                                            .message_timeout_ms = (int)p->s.delivery_timeout_ms,
                                            .dr_cb = poller_on_delivery};
    if (eco_store_kafka_producer_new(&p->producer, p->s.brokers, &prod, err, sizeof(err)) != 0)
        return settings_error("ECO_KAFKA_BROKERS", err);
    if (poller_consumer_new(p, err, sizeof(err)) != 0)
        return settings_error("ECO_KAFKA_BROKERS", err);
    poller_metrics_init(p);

    eco_deps_ready_postgres("postgres", ECO_READY_REQUIRED, p->s.pg_url);
    eco_deps_ready_kafka("kafka", ECO_READY_REQUIRED, p->s.brokers);
    eco_deps_ready_redis("redis", ECO_READY_INFO, p->s.redis_url);

    if (pthread_create(&relay_thread, NULL, poller_relay_main, p) != 0 ||
        pthread_create(&consume_thread, NULL, poller_consume_main, p) != 0)
        eco_fatal("cannot start the job-poller threads");
    eco_service_on_drain_blocking(svc, drain, p);
    int rc = eco_service_run(svc);
    if (!atomic_load(&drained)) /* the grace period ended first: the workers may still run */
        return rc;
    eco_store_pool_free(p->redis);
    eco_store_kafka_producer_close(p->producer, 1000);
    return rc;
}
