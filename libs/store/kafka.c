/* Kafka (librdkafka 2.0): readiness probe, idempotent producer, manual-commit consumer. */
#include "eco_store.h"
#include "store_internal.h"

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KAFKA_MAX_TOPIC_LEN      249
#define KAFKA_MAX_HEADERS        64
#define KAFKA_MAX_SUBSCRIBE      64
#define KAFKA_QUEUE_FULL_WAIT_MS 1000

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, char *err, size_t errlen)
{
    char e[256];
    if (rd_kafka_conf_set(conf, k, v, e, sizeof(e)) != RD_KAFKA_CONF_OK) {
        eco__store_seterr(err, errlen, "kafka setting %s: %s", k, e);
        return ECO_EINVAL;
    }
    return 0;
}

/* Sets pairs {key, value, ..., NULL}; stops at the first bad one. */
static int conf_set_all(rd_kafka_conf_t *conf, const char *const *kv, char *err, size_t errlen)
{
    for (; kv[0]; kv += 2) {
        int rc = conf_set(conf, kv[0], kv[1], err, errlen);
        if (rc)
            return rc;
    }
    return 0;
}

/* librdkafka logs from its own threads; eco_log writes each line with one write(2). */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    eco_log_level_t l = level <= 3 ? ECO_LOG_WARN : level <= 5 ? ECO_LOG_INFO : ECO_LOG_DEBUG;
    eco_log(l, "kafka", ECO_KS("client", rd_kafka_name(rk)), ECO_KS("facility", fac), ECO_KS("detail", buf));
}

/* The probe reports its own state; broker connection failures while down are not news. */
static void quiet_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    eco_debug("kafka", ECO_KS("client", rd_kafka_name(rk)), ECO_KS("facility", fac), ECO_KS("detail", buf));
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char buf[256];
        rd_kafka_fatal_error(rk, buf, sizeof(buf));
        eco_error("kafka fatal error", ECO_KS("client", rd_kafka_name(rk)), ECO_KS("error", buf));
        return;
    }
    eco_warn("kafka error", ECO_KS("client", rd_kafka_name(rk)), ECO_KS("error", reason));
}

/* 0 for NO_ERROR, else a negative eco code (never 0). */
static int map_err(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return 0;
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
        return ECO_ETIMEDOUT;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__RESOLVE:
        return ECO_STORE_ECONN;
    case RD_KAFKA_RESP_ERR__FATAL:
        return ECO_STORE_EFATAL;
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        return ECO_ENOSPC;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        return ECO_EINVAL;
    default:
        return ECO_STORE_EQUERY;
    }
}

/* rd_kafka_new takes the conf only on success. */
static rd_kafka_t *new_handle(rd_kafka_type_t type, rd_kafka_conf_t *conf, char *err, size_t errlen)
{
    char e[256];
    rd_kafka_t *rk = rd_kafka_new(type, conf, e, sizeof(e));
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        eco__store_seterr(err, errlen, "creating the kafka client failed: %s", e);
    }
    return rk;
}

static int check_brokers(const char *brokers, char *err, size_t errlen)
{
    if (!brokers || !*brokers || strlen(brokers) > 4096) {
        eco__store_seterr(err, errlen, "missing or too long kafka broker list");
        return ECO_EINVAL;
    }
    return 0;
}

/* ---------- probe ---------- */

struct eco_store_kafka_probe {
    rd_kafka_t *rk;
    int timeout_ms;
};

int eco_store_kafka_probe_new(eco_store_kafka_probe_t **out, const char *brokers, int timeout_ms, char *err,
                              size_t errlen)
{
    *out = NULL;
    int rc = check_brokers(brokers, err, errlen);
    if (rc)
        return rc;
    if (timeout_ms <= 0) {
        eco__store_seterr(err, errlen, "invalid timeout");
        return ECO_EINVAL;
    }
    /* Each run's Metadata request makes librdkafka connect on demand, so a restarted broker is
     * seen on the next run (measured: within about 1 s of its port opening, also after a minute
     * down); the reconnect backoff cap (default 10 s) only bounds the worst case. Connection
     * setup and request timeouts follow the probe's own budget. */
    char tmo[16];
    snprintf(tmo, sizeof(tmo), "%d", timeout_ms < 1000 ? 1000 : timeout_ms);
    const char *kv[] = {"bootstrap.servers",
                        brokers,
                        "client.id",
                        "eco-store-probe",
                        "reconnect.backoff.ms",
                        "100",
                        "reconnect.backoff.max.ms",
                        "1000",
                        "socket.connection.setup.timeout.ms",
                        tmo,
                        "socket.timeout.ms",
                        tmo,
                        "log.connection.close",
                        "false",
                        NULL};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rc = conf_set_all(conf, kv, err, errlen);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    rd_kafka_conf_set_log_cb(conf, quiet_log_cb);
    rd_kafka_t *rk = new_handle(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!rk)
        return ECO_EINVAL;
    eco_store_kafka_probe_t *p = eco_calloc(1, sizeof(*p));
    p->rk = rk;
    p->timeout_ms = timeout_ms;
    *out = p;
    return 0;
}

int eco_store_kafka_probe_run(eco_store_kafka_probe_t *p, char *err, size_t errlen)
{
    /* all_topics=0 with no topic handle asks for brokers only: a real round trip, no cache. */
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(p->rk, 0, NULL, &md, p->timeout_ms);
    /* Serve queued error events so they do not pile up in a handle nobody polls. */
    rd_kafka_poll(p->rk, 0);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        eco__store_seterr(err, errlen, "metadata request failed: %s", rd_kafka_err2str(e));
        int rc = map_err(e);
        return rc == ECO_EINVAL || rc == ECO_STORE_EQUERY ? ECO_STORE_ECONN : rc;
    }
    int brokers = md->broker_cnt;
    rd_kafka_metadata_destroy(md);
    if (brokers <= 0) {
        eco__store_seterr(err, errlen, "metadata lists no brokers");
        return ECO_STORE_EPROTO;
    }
    return 0;
}

void eco_store_kafka_probe_free(eco_store_kafka_probe_t *p)
{
    if (!p)
        return;
    rd_kafka_destroy(p->rk);
    free(p);
}

eco_dep_state_t eco_store_kafka_ready_check(void *probe, char *detail, size_t detail_len)
{
    uint64_t t0 = eco_now_ms();
    if (eco_store_kafka_probe_run(probe, detail, detail_len) != 0)
        return ECO_DEP_DOWN;
    eco__store_seterr(detail, detail_len, "ok in %llu ms", (unsigned long long)(eco_now_ms() - t0));
    return ECO_DEP_UP;
}

int eco_store_kafka_ping(const char *brokers, int timeout_ms, char *err, size_t errlen)
{
    eco_store_kafka_probe_t *p;
    int rc = eco_store_kafka_probe_new(&p, brokers, timeout_ms, err, errlen);
    if (rc)
        return rc;
    rc = eco_store_kafka_probe_run(p, err, errlen);
    eco_store_kafka_probe_free(p);
    return rc;
}

/* ---------- producer ---------- */

struct eco_store_kafka_producer {
    rd_kafka_t *rk;
    eco_store_kafka_dr_cb dr_cb;
    void *dr_cb_data;
    atomic_uint_fast64_t delivered, failed;
};

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    eco_store_kafka_producer_t *p = opaque;
    if (m->err)
        atomic_fetch_add(&p->failed, 1);
    else
        atomic_fetch_add(&p->delivered, 1);
    if (p->dr_cb)
        p->dr_cb(p->dr_cb_data, map_err(m->err), m->err ? rd_kafka_err2str(m->err) : NULL, m->_private, m->partition,
                 m->offset);
}

int eco_store_kafka_producer_new(eco_store_kafka_producer_t **out, const char *brokers,
                                 const eco_store_kafka_producer_opts_t *opts, char *err, size_t errlen)
{
    *out = NULL;
    int rc = check_brokers(brokers, err, errlen);
    if (rc)
        return rc;
    eco_store_kafka_producer_opts_t o = opts ? *opts : (eco_store_kafka_producer_opts_t){0};
    if (o.message_timeout_ms < 0 || o.linger_ms < 0) {
        eco__store_seterr(err, errlen, "invalid producer options");
        return ECO_EINVAL;
    }
    char mto[16], linger[16];
    snprintf(mto, sizeof(mto), "%d", o.message_timeout_ms ? o.message_timeout_ms : 30000);
    snprintf(linger, sizeof(linger), "%d", o.linger_ms ? o.linger_ms : 5);
    const char *kv[] = {"bootstrap.servers",
                        brokers,
                        "client.id",
                        o.client_id ? o.client_id : "eco-base",
                        "enable.idempotence",
                        "true",
                        "compression.type",
                        "lz4",
                        "linger.ms",
                        linger,
                        "message.timeout.ms",
                        mto,
                        "reconnect.backoff.max.ms",
                        "1000",
                        "log.connection.close",
                        "false",
                        NULL};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rc = conf_set_all(conf, kv, err, errlen);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    eco_store_kafka_producer_t *p = eco_calloc(1, sizeof(*p));
    p->dr_cb = o.dr_cb;
    p->dr_cb_data = o.dr_cb_data;
    atomic_init(&p->delivered, 0);
    atomic_init(&p->failed, 0);
    rd_kafka_conf_set_opaque(conf, p);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    p->rk = new_handle(RD_KAFKA_PRODUCER, conf, err, errlen);
    if (!p->rk) {
        free(p);
        return ECO_EINVAL;
    }
    *out = p;
    return 0;
}

int eco_store_kafka_produce(eco_store_kafka_producer_t *p, const char *topic, const void *key, size_t key_len,
                            const void *value, size_t value_len, const eco_store_kafka_header_t *headers,
                            size_t nheaders, void *msg_opaque, char *err, size_t errlen)
{
    if (!topic || !*topic || strlen(topic) > KAFKA_MAX_TOPIC_LEN || (key_len && !key) || (value_len && !value) ||
        (nheaders && !headers) || nheaders > KAFKA_MAX_HEADERS) {
        eco__store_seterr(err, errlen, "invalid message arguments");
        return ECO_EINVAL;
    }
    char fatal[256];
    if (rd_kafka_fatal_error(p->rk, fatal, sizeof(fatal)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        eco__store_seterr(err, errlen, "producer failed fatally (%s); create a new one", fatal);
        return ECO_STORE_EFATAL;
    }
    uint64_t deadline = eco_now_ms() + KAFKA_QUEUE_FULL_WAIT_MS;
    rd_kafka_resp_err_t e;
    for (;;) {
        if (nheaders) {
            rd_kafka_headers_t *h = rd_kafka_headers_new(nheaders);
            for (size_t i = 0; i < nheaders; i++)
                rd_kafka_header_add(h, headers[i].name, -1, headers[i].value, (ssize_t)headers[i].len);
            e = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
                                  RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
            if (e != RD_KAFKA_RESP_ERR_NO_ERROR) /* librdkafka owns the headers only on success */
                rd_kafka_headers_destroy(h);
        } else {
            e = rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key_len),
                                  RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
        }
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || eco__store_remaining_ms(deadline) == 0)
            break;
        rd_kafka_poll(p->rk, 50); /* delivery reports free room in the queue */
    }
    rd_kafka_poll(p->rk, 0);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        eco__store_seterr(err, errlen, "produce to %s failed: %s", topic, rd_kafka_err2str(e));
        return map_err(e);
    }
    return 0;
}

int eco_store_kafka_producer_poll(eco_store_kafka_producer_t *p, int timeout_ms)
{
    return rd_kafka_poll(p->rk, timeout_ms < 0 ? 0 : timeout_ms);
}

int eco_store_kafka_producer_flush(eco_store_kafka_producer_t *p, int timeout_ms)
{
    return rd_kafka_flush(p->rk, timeout_ms < 0 ? 0 : timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : ECO_ETIMEDOUT;
}

int eco_store_kafka_producer_close(eco_store_kafka_producer_t *p, int timeout_ms)
{
    if (!p)
        return 0;
    int rc = 0;
    if (rd_kafka_flush(p->rk, timeout_ms < 0 ? 0 : timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        eco_warn("kafka producer closing with undelivered messages", ECO_KI("messages", rd_kafka_outq_len(p->rk)));
        /* Fail them explicitly so every message still gets exactly one delivery report. */
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(p->rk, 1000);
        rc = ECO_ETIMEDOUT;
    }
    rd_kafka_destroy(p->rk);
    free(p);
    return rc;
}

void eco_store_kafka_producer_stats(const eco_store_kafka_producer_t *p, uint64_t *delivered, uint64_t *failed)
{
    if (delivered)
        *delivered = atomic_load(&((eco_store_kafka_producer_t *)p)->delivered);
    if (failed)
        *failed = atomic_load(&((eco_store_kafka_producer_t *)p)->failed);
}

struct rd_kafka_s *eco_store_kafka_producer_handle(eco_store_kafka_producer_t *p)
{
    return p->rk;
}

/* ---------- consumer ---------- */

struct eco_store_kafka_consumer {
    rd_kafka_t *rk;
    eco_store_kafka_stats_cb stats_cb;
    void *stats_cb_data;
};

/* Served from rd_kafka_consumer_poll (the main queue is forwarded to the consumer queue). */
static int consumer_stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    eco_store_kafka_consumer_t *c = opaque;
    if (c->stats_cb)
        c->stats_cb(c->stats_cb_data, json, len);
    return 0; /* librdkafka frees json */
}

int eco_store_kafka_consumer_new(eco_store_kafka_consumer_t **out, const char *brokers, const char *group,
                                 const char *const *topics, size_t ntopics, char *err, size_t errlen)
{
    return eco_store_kafka_consumer_new_opts(out, brokers, group, topics, ntopics, NULL, err, errlen);
}

int eco_store_kafka_consumer_new_opts(eco_store_kafka_consumer_t **out, const char *brokers, const char *group,
                                      const char *const *topics, size_t ntopics,
                                      const eco_store_kafka_consumer_opts_t *opts, char *err, size_t errlen)
{
    *out = NULL;
    eco_store_kafka_consumer_opts_t o = opts ? *opts : (eco_store_kafka_consumer_opts_t){0};
    if (o.stats_interval_ms < 0 || (o.stats_interval_ms > 0 && !o.stats_cb)) {
        eco__store_seterr(err, errlen, "invalid consumer options");
        return ECO_EINVAL;
    }
    int rc = check_brokers(brokers, err, errlen);
    if (rc)
        return rc;
    if (!group || !*group || !topics || ntopics == 0 || ntopics > KAFKA_MAX_SUBSCRIBE) {
        eco__store_seterr(err, errlen, "a consumer needs a group and 1-%d topics", KAFKA_MAX_SUBSCRIBE);
        return ECO_EINVAL;
    }
    for (size_t i = 0; i < ntopics; i++)
        if (!topics[i] || !*topics[i] || strlen(topics[i]) > KAFKA_MAX_TOPIC_LEN) {
            eco__store_seterr(err, errlen, "invalid topic name");
            return ECO_EINVAL;
        }
    char stats_ms[16];
    snprintf(stats_ms, sizeof(stats_ms), "%d", o.stats_interval_ms);
    const char *kv[] = {"bootstrap.servers", brokers, "group.id", group, "client.id",
                        o.client_id ? o.client_id : "eco-base", "statistics.interval.ms", stats_ms,
                        "allow.auto.create.topics", o.allow_auto_create_topics ? "true" : "false", "enable.auto.commit",
                        "false", "enable.auto.offset.store", "false", "auto.offset.reset", "earliest",
                        /* Eager, not cooperative-sticky: librdkafka 2.0.2's cooperative close never
                         * sends LeaveGroup (the next member waits session.timeout.ms, 45 s; seen
                         * against Kafka 4.3), and has close-time crash/hang bugs (#4312, #4528). */
                        "partition.assignment.strategy", "roundrobin", "reconnect.backoff.max.ms", "1000",
                        "log.connection.close", "false", NULL};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rc = conf_set_all(conf, kv, err, errlen);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return rc;
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    eco_store_kafka_consumer_t *c = eco_calloc(1, sizeof(*c));
    c->stats_cb = o.stats_cb;
    c->stats_cb_data = o.stats_cb_data;
    rd_kafka_conf_set_opaque(conf, c);
    if (o.stats_interval_ms > 0)
        rd_kafka_conf_set_stats_cb(conf, consumer_stats_cb);
    rd_kafka_t *rk = new_handle(RD_KAFKA_CONSUMER, conf, err, errlen);
    if (!rk) {
        free(c);
        return ECO_EINVAL;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)ntopics);
    for (size_t i = 0; i < ntopics; i++)
        rd_kafka_topic_partition_list_add(list, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        eco__store_seterr(err, errlen, "subscribe failed: %s", rd_kafka_err2str(e));
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        free(c);
        return map_err(e);
    }
    c->rk = rk;
    *out = c;
    return 0;
}

int eco_store_kafka_consumer_poll(eco_store_kafka_consumer_t *c, int timeout_ms, eco_store_kafka_msg_t *msg, char *err,
                                  size_t errlen)
{
    memset(msg, 0, sizeof(*msg));
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, timeout_ms < 0 ? 0 : timeout_ms);
    if (!m)
        return 0;
    if (m->err) {
        int rc = 0;
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eco__store_seterr(err, errlen, "consumer error: %s", rd_kafka_message_errstr(m));
            rc = map_err(m->err);
        }
        rd_kafka_message_destroy(m);
        return rc;
    }
    rd_kafka_timestamp_type_t tstype;
    msg->topic = rd_kafka_topic_name(m->rkt);
    msg->partition = m->partition;
    msg->offset = m->offset;
    msg->key = m->key;
    msg->key_len = m->key_len;
    msg->value = m->payload;
    msg->value_len = m->len;
    msg->timestamp_ms = rd_kafka_message_timestamp(m, &tstype);
    msg->priv = m;
    return 1;
}

int eco_store_kafka_consumer_commit(eco_store_kafka_consumer_t *c, const eco_store_kafka_msg_t *msg, char *err,
                                    size_t errlen)
{
    if (!msg || !msg->priv) {
        eco__store_seterr(err, errlen, "no message to commit");
        return ECO_EINVAL;
    }
    rd_kafka_resp_err_t e = rd_kafka_commit_message(c->rk, msg->priv, 0);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        eco__store_seterr(err, errlen, "commit failed: %s", rd_kafka_err2str(e));
        return map_err(e);
    }
    return 0;
}

int eco_store_kafka_msg_header(const eco_store_kafka_msg_t *msg, const char *name, const void **value, size_t *len)
{
    rd_kafka_headers_t *h = NULL;
    if (!msg || !msg->priv || !name || rd_kafka_message_headers(msg->priv, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return ECO_EINVAL;
    return rd_kafka_header_get_last(h, name, value, len) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : ECO_EINVAL;
}

void eco_store_kafka_msg_release(eco_store_kafka_msg_t *msg)
{
    if (msg && msg->priv)
        rd_kafka_message_destroy(msg->priv);
    if (msg)
        memset(msg, 0, sizeof(*msg));
}

void eco_store_kafka_consumer_close(eco_store_kafka_consumer_t *c)
{
    if (!c)
        return;
    rd_kafka_resp_err_t e = rd_kafka_consumer_close(c->rk);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        eco_warn("kafka consumer close failed", ECO_KS("error", rd_kafka_err2str(e)));
    rd_kafka_destroy(c->rk);
    free(c);
}
