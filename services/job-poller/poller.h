/* job-poller internals: settings, the shared producer, metrics, and the two worker threads
 * (outbox relay, event consumer). Threading: each worker thread owns its own PostgreSQL
 * connection; the Kafka producer is shared (librdkafka is thread-safe) and its delivery reports
 * land in per-message poller_delivery_t records, whichever thread serves them. */
#ifndef JOB_POLLER_H
#define JOB_POLLER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "eco/jobs/v1/jobs.pb-c.h"
#include "eco_core.h"
#include "eco_metrics.h"
#include "eco_pool.h"
#include "eco_store.h"

typedef struct {
    const char *pg_url, *redis_url, *brokers;
    const char *group;        /* consumer group of the event consumer */
    const char *events_topic; /* eco.jobs.events */
    const char *dlq_topic;    /* eco.jobs.dlq */
    const char *redis_prefix; /* notifications go to <prefix>jobs:<owner_id> */
    long outbox_poll_ms, outbox_batch, delivery_timeout_ms, stats_interval_ms, redis_timeout_ms;
} poller_settings_t;

typedef struct {
    eco_metric_t *lag;            /* eco_kafka_consumer_lag{topic,partition,group} */
    eco_metric_t *finished;       /* eco_jobs_finished_total{status} */
    eco_metric_t *events;         /* eco_job_events_total{type,outcome} */
    eco_metric_t *published;      /* eco_outbox_published_total */
    eco_metric_t *backlog;        /* eco_outbox_backlog */
    eco_metric_t *publish_errors; /* eco_outbox_publish_errors_total */
    eco_metric_t *notifications;  /* eco_job_notifications_total{outcome} */
    eco_metric_t *apply_retries;  /* eco_job_apply_retries_total */
} poller_metrics_t;

/* One produced message's delivery report. Heap-allocated: a waiter that gives up abandons it
 * and the report, when it comes, frees it (state: DELIVERY_PENDING -> DONE or ABANDONED). */
enum { DELIVERY_PENDING = 0, DELIVERY_DONE, DELIVERY_ABANDONED };
typedef struct {
    atomic_int state;
    int status; /* 0 = written to all in-sync replicas */
    char err[160];
} poller_delivery_t;

typedef struct poller {
    poller_settings_t s;
    poller_metrics_t m;
    eco_store_kafka_producer_t *producer;
    eco_store_kafka_consumer_t *consumer; /* used by the consumer thread only */
    eco_store_pool_t *redis;              /* one worker: notifications never block applying */
    atomic_int stop;                      /* set when draining starts */
} poller_t;

/* metrics.c: registers every family and the series whose labels are known (zero values). */
void poller_metrics_init(poller_t *p);
/* Updates eco_kafka_consumer_lag from one librdkafka statistics document (consumer thread). */
void poller_metrics_lag_from_stats(poller_t *p, const char *json, size_t len);
/* The label of a JobEventType ("started"); "unknown" for values outside the enum. Static. */
const char *poller_event_type_name(int type);

/* produce.c: the producer's delivery-report callback (cb_data unused, msg_opaque a
 * poller_delivery_t). */
void poller_on_delivery(void *cb_data, int status, const char *errstr, void *msg_opaque, int32_t partition,
                        int64_t offset);
/* Waits, serving delivery reports, until each of d[0..n) has its report or deadline_ms (monotonic)
 * passes; those still pending are abandoned (and marked failed) and every d[i] is then set to
 * NULL or is the caller's to free. */
void poller_wait_deliveries(poller_t *p, poller_delivery_t **d, size_t n, uint64_t deadline_ms, int *status,
                            char (*errs)[160]);
/* Produces one message and waits (serving delivery reports) until its report arrives or
 * timeout_ms passes. 0 when acknowledged; otherwise a negative code with the reason in err. */
int poller_produce_sync(poller_t *p, const char *topic, const void *key, size_t key_len, const void *value,
                        size_t value_len, const eco_store_kafka_header_t *headers, size_t nheaders, long timeout_ms,
                        char *err, size_t errlen);
/* worker.c: sleeps up to ms, returning early (1) when stopping. */
int poller_sleep(poller_t *p, long ms);
/* Sets p->stop and wakes the sleepers. */
void poller_request_stop(poller_t *p);
/* A PostgreSQL connection for a worker thread, retried until it connects (returns it) or the
 * poller stops (NULL). */
PGconn *poller_pg_connect(poller_t *p, const char *who);

/* relay.c / consume.c: thread bodies (arg: poller_t *). They return when p->stop is set; the
 * consumer then commits what it applied, closes its consumer (leaving the group). */
void *poller_relay_main(void *arg);
/* Creates p->consumer (subscribed to the events topic in the group). 0 or a negative code. */
int poller_consumer_new(poller_t *p, char *err, size_t errlen);
void *poller_consume_main(void *arg);

/* apply.c: applying one decoded event. */
typedef enum {
    APPLY_APPLIED = 0, /* recorded (and the job's status changed, if the event changes it) */
    APPLY_DUPLICATE,   /* (job_id, seq) was recorded before: nothing done */
    APPLY_REJECTED,    /* the state machine (or a table constraint) refused it: nothing done */
    APPLY_UNKNOWN_JOB, /* no such job */
    APPLY_RETRY,       /* PostgreSQL failed (connection, timeout): apply again later */
} apply_outcome_t;

typedef struct {
    char status[16];   /* the job's new status when it changed ("" otherwise) */
    int final;         /* the new status is a final one */
    char owner_id[40]; /* the job's owner */
    char reason[400];  /* why it was rejected or must be retried */
} apply_result_t;

/* Checks an event before it goes near the database: job_id a UUID, a known type, seq within
 * bigint. 0, or ECO_EINVAL with the reason in why. */
int apply_validate(const Eco__Jobs__V1__JobEvent *ev, char *why, size_t whylen);
/* Applies a validated event in one transaction on conn. */
apply_outcome_t apply_event(PGconn *conn, const Eco__Jobs__V1__JobEvent *ev, apply_result_t *res);

/* notify.c: queues a notification of the job's new status (never blocks on Redis). */
void poller_notify(poller_t *p, const char *owner_id, const char *job_id, const char *status, uint64_t seq);

#endif
