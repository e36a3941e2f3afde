/* job-poller metrics: families and their known series registered at start-up, and the consumer
 * lag gauge fed from librdkafka's statistics JSON. */
#include "poller.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static const char *const event_types[] = {"unspecified", "queued", "started",   "progress",
                                          "succeeded",   "failed", "cancelled", "expired"};
static const char *const outcomes[] = {"applied", "duplicate", "rejected", "dlq", "malformed"};
static const char *const final_states[] = {"succeeded", "failed", "cancelled", "expired"};

const char *poller_event_type_name(int type)
{
    return type >= 1 && type < (int)ECO_ARRAY_SIZE(event_types) ? event_types[type] : "unknown";
}

void poller_metrics_init(poller_t *p)
{
    poller_metrics_t *m = &p->m;
    m->lag = eco_metrics_gauge("eco_kafka_consumer_lag",
                               "Messages of a partition not yet consumed by the group (high watermark minus the "
                               "committed or stored offset), from librdkafka statistics.",
                               "topic,partition,group");
    m->finished =
        eco_metrics_counter("eco_jobs_finished_total", "Jobs that reached a final state, by that state.", "status");
    m->events = eco_metrics_counter("eco_job_events_total",
                                    "Job events consumed, by event type and outcome (applied, duplicate, rejected "
                                    "by the state machine, dlq: unknown job, malformed).",
                                    "type,outcome");
    m->published =
        eco_metrics_counter("eco_outbox_published_total",
                            "Outbox rows published to Kafka (delivery acknowledged) and marked published.", NULL);
    m->backlog = eco_metrics_gauge("eco_outbox_backlog", "Outbox rows not yet published.", NULL);
    m->publish_errors = eco_metrics_counter("eco_outbox_publish_errors_total",
                                            "Outbox rows whose publication failed (left pending for a retry).", NULL);
    m->notifications = eco_metrics_counter("eco_job_notifications_total",
                                           "Job status notifications to Redis pub/sub by outcome (sent, error, "
                                           "dropped: the notification queue was full).",
                                           "outcome");
    m->apply_retries = eco_metrics_counter(
        "eco_job_apply_retries_total",
        "Job events applied again because PostgreSQL failed (the offset is committed only after applying).", NULL);

    for (size_t i = 0; i < ECO_ARRAY_SIZE(final_states); i++)
        eco_metrics_add(m->finished, 0, final_states[i]);
    for (size_t t = 1; t < ECO_ARRAY_SIZE(event_types); t++)
        for (size_t o = 0; o < ECO_ARRAY_SIZE(outcomes); o++)
            eco_metrics_add(m->events, 0, event_types[t], outcomes[o]);
    eco_metrics_add(m->events, 0, "unknown", "malformed");
    eco_metrics_add(m->published, 0);
    eco_metrics_set(m->backlog, 0);
    eco_metrics_add(m->publish_errors, 0);
    eco_metrics_add(m->notifications, 0, "sent");
    eco_metrics_add(m->notifications, 0, "error");
    eco_metrics_add(m->notifications, 0, "dropped");
    eco_metrics_add(m->apply_retries, 0);
}

/* librdkafka statistics: {"topics":{"<topic>":{"partitions":{"<n>":{"consumer_lag":N,...}}}}}.
 * Partition "-1" is librdkafka's internal unassigned partition; a lag of -1 means unknown (not
 * assigned here, or nothing committed yet). A partition whose lag became unknown after being
 * reported (revoked in a rebalance) is set to 0, so that summing over replicas does not count it
 * twice. */
#define MAX_TRACKED 256
static struct {
    char topic[128];
    char partition[12];
} tracked[MAX_TRACKED];
static size_t ntracked;

static int is_tracked(const char *topic, const char *partition)
{
    for (size_t i = 0; i < ntracked; i++)
        if (strcmp(tracked[i].topic, topic) == 0 && strcmp(tracked[i].partition, partition) == 0)
            return 1;
    return 0;
}

static void track(const char *topic, const char *partition)
{
    if (ntracked >= MAX_TRACKED || is_tracked(topic, partition))
        return;
    snprintf(tracked[ntracked].topic, sizeof(tracked[ntracked].topic), "%s", topic);
    snprintf(tracked[ntracked].partition, sizeof(tracked[ntracked].partition), "%s", partition);
    ntracked++;
}

void poller_metrics_lag_from_stats(poller_t *p, const char *json, size_t len)
{
    json_error_t e;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &e);
    if (!root) {
        eco_warn("unreadable kafka statistics", ECO_KS("error", e.text));
        return;
    }
    json_t *topics = json_object_get(root, "topics");
    const char *topic;
    json_t *t;
    int seen[MAX_TRACKED] = {0};
    json_object_foreach(topics, topic, t)
    {
        if (strlen(topic) >= sizeof(tracked[0].topic))
            continue;
        const char *part;
        json_t *pt;
        json_object_foreach(json_object_get(t, "partitions"), part, pt)
        {
            if (strcmp(part, "-1") == 0 || strlen(part) >= sizeof(tracked[0].partition))
                continue;
            json_t *lag = json_object_get(pt, "consumer_lag");
            if (!json_is_integer(lag) || json_integer_value(lag) < 0)
                continue;
            track(topic, part);
            for (size_t i = 0; i < ntracked; i++)
                if (strcmp(tracked[i].topic, topic) == 0 && strcmp(tracked[i].partition, part) == 0)
                    seen[i] = 1;
            eco_metrics_set(p->m.lag, (double)json_integer_value(lag), topic, part, p->s.group);
        }
    }
    for (size_t i = 0; i < ntracked; i++)
        if (!seen[i])
            eco_metrics_set(p->m.lag, 0, tracked[i].topic, tracked[i].partition, p->s.group);
    json_decref(root);
}
