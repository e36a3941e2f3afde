/* The event consumer: reads eco.jobs.events in the consumer group, applies each JobEvent to
 * PostgreSQL (apply.c), dead-letters what cannot be applied (malformed payloads, unknown jobs)
 * to eco.jobs.dlq with the reason in a header, notifies the owner of a final status, and only
 * then commits the message's offset. An event whose apply failed for a passing reason
 * (PostgreSQL down) is retried in place; stopping while it fails leaves its offset uncommitted,
 * so the group delivers it again. */
#include "poller.h"

#include <stdlib.h>
#include <string.h>

#define POLL_MS         200
#define RETRY_MS        500
#define ERROR_LOG_EVERY 5000
#define DLQ_RETRY_MS    1000
#define HDR_REASON      "eco-dlq-reason"
#define HDR_SOURCE      "eco-dlq-source"

static void on_stats(void *data, const char *json, size_t len)
{
    poller_metrics_lag_from_stats(data, json, len);
}

/* Dead-letters the message (same key and value) and waits for Kafka's acknowledgement; retried
 * until acknowledged or stopping. 0 when acknowledged. */
static int dead_letter(poller_t *p, const eco_store_kafka_msg_t *m, const char *reason)
{
    char source[300];
    snprintf(source, sizeof(source), "%s/%d/%lld", m->topic, (int)m->partition, (long long)m->offset);
    eco_store_kafka_header_t h[] = {{HDR_REASON, reason, strlen(reason)}, {HDR_SOURCE, source, strlen(source)}};
    for (;;) {
        char err[256];
        int rc = poller_produce_sync(p, p->s.dlq_topic, m->key, m->key_len, m->value, m->value_len, h,
                                     ECO_ARRAY_SIZE(h), p->s.delivery_timeout_ms + 5000, err, sizeof(err));
        if (rc == 0) {
            eco_warn("job event dead-lettered", ECO_KS("topic", p->s.dlq_topic), ECO_KS("reason", reason),
                     ECO_KS("source", source));
            return 0;
        }
        eco_warn("dead-lettering a job event failed; retrying", ECO_KS("error", err), ECO_KS("source", source));
        if (poller_sleep(p, DLQ_RETRY_MS))
            return -1;
    }
}

/* Applies ev, retrying while PostgreSQL fails. Returns 0 with *out set, or -1 when stopping. */
static int apply_with_retry(poller_t *p, PGconn **c, const Eco__Jobs__V1__JobEvent *ev, apply_outcome_t *out,
                            apply_result_t *res)
{
    for (;;) {
        if (!*c && !(*c = poller_pg_connect(p, "event-consumer")))
            return -1;
        *out = apply_event(*c, ev, res);
        if (*out != APPLY_RETRY)
            return 0;
        eco_metrics_inc(p->m.apply_retries);
        eco_warn("applying a job event failed; retrying", ECO_KS("job_id", ev->job_id), ECO_KS("reason", res->reason));
        if (PQstatus(*c) != CONNECTION_OK || PQtransactionStatus(*c) != PQTRANS_IDLE) {
            PQfinish(*c);
            *c = NULL;
        }
        if (poller_sleep(p, RETRY_MS))
            return -1;
    }
}

/* Handles one message. Returns 1 when its offset may be committed, 0 when it must not be. */
static int handle(poller_t *p, PGconn **c, const eco_store_kafka_msg_t *m)
{
    char why[256];
    Eco__Jobs__V1__JobEvent *ev = eco__jobs__v1__job_event__unpack(
        NULL, m->value_len, m->value ? (const uint8_t *)m->value : (const uint8_t *)"");
    if (!ev || apply_validate(ev, why, sizeof(why)) != 0) {
        if (!ev)
            snprintf(why, sizeof(why), "payload is not an eco.jobs.v1.JobEvent");
        const char *type = ev ? poller_event_type_name(ev->type) : "unknown";
        char reason[300];
        snprintf(reason, sizeof(reason), "malformed: %s", why);
        if (ev)
            eco__jobs__v1__job_event__free_unpacked(ev, NULL);
        if (dead_letter(p, m, reason) != 0)
            return 0;
        eco_metrics_inc(p->m.events, type, "malformed");
        return 1;
    }
    const char *type = poller_event_type_name(ev->type);
    apply_outcome_t out;
    apply_result_t res;
    int commit = 1;
    if (apply_with_retry(p, c, ev, &out, &res) != 0) {
        commit = 0;
    } else {
        switch (out) {
        case APPLY_APPLIED:
            eco_metrics_inc(p->m.events, type, "applied");
            eco_info("job event applied", ECO_KS("job_id", ev->job_id), ECO_KI("seq", (long long)ev->seq),
                     ECO_KS("type", type), ECO_KS("status", res.status));
            if (res.final) {
                eco_metrics_inc(p->m.finished, res.status);
                poller_notify(p, res.owner_id, ev->job_id, res.status, ev->seq);
            }
            break;
        case APPLY_DUPLICATE:
            eco_metrics_inc(p->m.events, type, "duplicate");
            eco_info("job event already applied", ECO_KS("job_id", ev->job_id), ECO_KI("seq", (long long)ev->seq));
            break;
        case APPLY_REJECTED:
            eco_metrics_inc(p->m.events, type, "rejected");
            eco_warn("job event rejected", ECO_KS("job_id", ev->job_id), ECO_KI("seq", (long long)ev->seq),
                     ECO_KS("type", type), ECO_KS("reason", res.reason));
            break;
        case APPLY_UNKNOWN_JOB:
            if (dead_letter(p, m, "unknown_job") != 0)
                commit = 0;
            else
                eco_metrics_inc(p->m.events, type, "dlq");
            break;
        case APPLY_RETRY:
            commit = 0;
            break;
        }
    }
    eco__jobs__v1__job_event__free_unpacked(ev, NULL);
    return commit;
}

int poller_consumer_new(poller_t *p, char *err, size_t errlen)
{
    const char *topics[] = {p->s.events_topic};
    eco_store_kafka_consumer_opts_t o = {.client_id = "eco-job-poller",
                                         .stats_interval_ms = (int)p->s.stats_interval_ms,
                                         .stats_cb = on_stats,
                                         .stats_cb_data = p,
                                         .allow_auto_create_topics = 1};
    return eco_store_kafka_consumer_new_opts(&p->consumer, p->s.brokers, p->s.group, topics, 1, &o, err, errlen);
}

void *poller_consume_main(void *arg)
{
    poller_t *p = arg;
    eco_store_kafka_consumer_t *cons = p->consumer;
    char err[256];
    eco_info("event consumer started", ECO_KS("topic", p->s.events_topic), ECO_KS("group", p->s.group));
    PGconn *c = NULL;
    uint64_t next_error_log = 0;
    while (!atomic_load(&p->stop)) {
        eco_store_kafka_msg_t m;
        int rc = eco_store_kafka_consumer_poll(cons, POLL_MS, &m, err, sizeof(err));
        if (rc < 0 && eco_now_ms() >= next_error_log) {
            eco_warn("event consumer", ECO_KS("error", err));
            next_error_log = eco_now_ms() + ERROR_LOG_EVERY;
        }
        if (rc <= 0)
            continue;
        /* The event in hand is finished even when a drain begins meanwhile. */
        if (handle(p, &c, &m) && eco_store_kafka_consumer_commit(cons, &m, err, sizeof(err)) != 0)
            eco_warn("committing a job event offset failed (it will be delivered again)", ECO_KS("error", err));
        eco_store_kafka_msg_release(&m);
    }
    eco_store_kafka_consumer_close(cons); /* leaves the group: the next member takes over at once */
    p->consumer = NULL;
    if (c)
        PQfinish(c);
    eco_info("event consumer stopped");
    return NULL;
}
