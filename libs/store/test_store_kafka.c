/* Integration tests for the Kafka side of eco_store, against a real broker.
 * Needs ECO_TEST_KAFKA_BROKERS (host:port; the broker must auto-create topics, as the local
 * deploy/local/kafka configuration does). Each test uses its own topic and group. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eco_store.h"

#define WAIT_MS 30000 /* bound for anything that waits on the broker */

static const char *brokers(void)
{
    const char *b = getenv("ECO_TEST_KAFKA_BROKERS");
    if (!b || !*b)
        fail_msg("ECO_TEST_KAFKA_BROKERS is not set: this test needs a real Kafka broker (e.g. 127.0.0.1:59092; "
                 "deploy/local/kafka/kafka.sh starts one)");
    return b;
}

static void unique_name(char *out, size_t n, const char *prefix)
{
    unsigned char r[6];
    eco_random_bytes(r, sizeof(r));
    snprintf(out, n, "%s.%02x%02x%02x%02x%02x%02x", prefix, r[0], r[1], r[2], r[3], r[4], r[5]);
}

static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || getsockname(fd, (struct sockaddr *)&a, &len))
        fail_msg("cannot find a free port");
    close(fd);
    return ntohs(a.sin_port);
}

static int silent_listener(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len))
        fail_msg("cannot open a listener");
    *port = ntohs(a.sin_port);
    return fd;
}

/* ---------- probes ---------- */

static void test_ping_up(void **state)
{
    (void)state;
    char err[256] = "";
    int rc = eco_store_kafka_ping(brokers(), 5000, err, sizeof(err));
    if (rc != 0)
        fail_msg("ping failed: %d %s", rc, err);
    /* a reused probe answers each run quickly */
    eco_store_kafka_probe_t *p;
    assert_int_equal(eco_store_kafka_probe_new(&p, brokers(), 2000, err, sizeof(err)), 0);
    for (int i = 0; i < 5; i++) {
        uint64_t t0 = eco_now_ms();
        if (eco_store_kafka_probe_run(p, err, sizeof(err)) != 0)
            fail_msg("probe run %d: %s", i, err);
        assert_true(eco_now_ms() - t0 < 2000);
    }
    char detail[160] = "";
    assert_int_equal(eco_store_kafka_ready_check(p, detail, sizeof(detail)), ECO_DEP_UP);
    assert_non_null(strstr(detail, "ok"));
    eco_store_kafka_probe_free(p);
}

static void test_ping_closed_port_is_down(void **state)
{
    (void)state;
    char b[64], err[256] = "";
    snprintf(b, sizeof(b), "127.0.0.1:%d", closed_port());
    uint64_t t0 = eco_now_ms();
    int rc = eco_store_kafka_ping(b, 1000, err, sizeof(err));
    uint64_t dt = eco_now_ms() - t0;
    assert_true(rc < 0);
    assert_int_equal(rc, ECO_STORE_ECONN);
    /* the timeout plus creating and destroying the client */
    if (dt > 1500)
        fail_msg("a 1000 ms ping took %llu ms", (unsigned long long)dt);
    assert_non_null(strstr(err, "metadata"));

    eco_store_kafka_probe_t *p;
    char detail[160] = "";
    assert_int_equal(eco_store_kafka_probe_new(&p, b, 1000, err, sizeof(err)), 0);
    for (int i = 0; i < 2; i++) {
        t0 = eco_now_ms();
        assert_int_equal(eco_store_kafka_ready_check(p, detail, sizeof(detail)), ECO_DEP_DOWN);
        assert_true(eco_now_ms() - t0 < 1300);
        assert_true(strlen(detail) > 0);
    }
    eco_store_kafka_probe_free(p);
}

static void test_ping_hung_server_times_out(void **state)
{
    (void)state;
    int port, fd = silent_listener(&port);
    char b[64], err[256] = "";
    snprintf(b, sizeof(b), "127.0.0.1:%d", port);
    eco_store_kafka_probe_t *p;
    assert_int_equal(eco_store_kafka_probe_new(&p, b, 1000, err, sizeof(err)), 0);
    uint64_t t0 = eco_now_ms();
    int rc = eco_store_kafka_probe_run(p, err, sizeof(err));
    uint64_t dt = eco_now_ms() - t0;
    eco_store_kafka_probe_free(p);
    close(fd);
    assert_true(rc < 0);
    if (dt < 900 || dt > 1300)
        fail_msg("a 1000 ms probe took %llu ms", (unsigned long long)dt);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    char err[256];
    eco_store_kafka_probe_t *p = (void *)1;
    assert_int_equal(eco_store_kafka_probe_new(&p, "", 1000, err, sizeof(err)), ECO_EINVAL);
    assert_null(p);
    assert_int_equal(eco_store_kafka_probe_new(&p, "127.0.0.1:1", 0, err, sizeof(err)), ECO_EINVAL);
    eco_store_kafka_consumer_t *c = (void *)1;
    const char *topics[] = {"t"};
    assert_int_equal(eco_store_kafka_consumer_new(&c, "127.0.0.1:1", "", topics, 1, err, sizeof(err)), ECO_EINVAL);
    assert_null(c);
    assert_int_equal(eco_store_kafka_consumer_new(&c, "127.0.0.1:1", "g", topics, 0, err, sizeof(err)), ECO_EINVAL);
    eco_store_kafka_consumer_opts_t no_cb = {.stats_interval_ms = 100};
    assert_int_equal(eco_store_kafka_consumer_new_opts(&c, "127.0.0.1:1", "g", topics, 1, &no_cb, err, sizeof(err)),
                     ECO_EINVAL);
    assert_null(c);
    eco_store_kafka_producer_t *pr;
    eco_store_kafka_producer_opts_t bad = {.message_timeout_ms = -1};
    assert_int_equal(eco_store_kafka_producer_new(&pr, "127.0.0.1:1", &bad, err, sizeof(err)), ECO_EINVAL);
    assert_int_equal(eco_store_kafka_producer_new(&pr, "127.0.0.1:1", NULL, err, sizeof(err)), 0);
    assert_int_equal(eco_store_kafka_produce(pr, "", "k", 1, "v", 1, NULL, 0, NULL, err, sizeof(err)), ECO_EINVAL);
    assert_int_equal(eco_store_kafka_produce(pr, "t", NULL, 3, "v", 1, NULL, 0, NULL, err, sizeof(err)), ECO_EINVAL);
    assert_int_equal(eco_store_kafka_produce(pr, "t", "k", 1, "v", 1, NULL, 2, NULL, err, sizeof(err)), ECO_EINVAL);
    assert_int_equal(eco_store_kafka_producer_close(pr, 0), 0);
}

/* ---------- produce -> consume ---------- */

#define NKEYS   4
#define PER_KEY 5
#define NMSG    (NKEYS * PER_KEY)

typedef struct {
    int reports;
    int ok;
    int seen[NMSG];
    int bad_status;
} dr_state_t;

static void on_delivery(void *data, int status, const char *errstr, void *msg_opaque, int32_t partition, int64_t offset)
{
    dr_state_t *s = data;
    s->reports++;
    intptr_t i = (intptr_t)msg_opaque;
    if (status == 0 && offset >= 0 && partition >= 0 && i >= 0 && i < NMSG) {
        s->ok++;
        s->seen[i]++;
    } else {
        s->bad_status = status;
    }
}

static void assert_idempotent(eco_store_kafka_producer_t *p)
{
    const rd_kafka_conf_t *conf = rd_kafka_conf(eco_store_kafka_producer_handle(p));
    char v[32];
    size_t n = sizeof(v);
    assert_int_equal(rd_kafka_conf_get(conf, "enable.idempotence", v, &n), RD_KAFKA_CONF_OK);
    assert_string_equal(v, "true");
    n = sizeof(v);
    /* idempotence implies acks=all (-1) */
    assert_int_equal(rd_kafka_conf_get(conf, "acks", v, &n), RD_KAFKA_CONF_OK);
    assert_string_equal(v, "-1");
}

/* Polls until a message arrives or WAIT_MS passes; fails the test on timeout. */
static void poll_one(eco_store_kafka_consumer_t *c, eco_store_kafka_msg_t *m)
{
    uint64_t deadline = eco_now_ms() + WAIT_MS;
    char err[256];
    while (eco_now_ms() < deadline) {
        int rc = eco_store_kafka_consumer_poll(c, 500, m, err, sizeof(err));
        if (rc == 1)
            return;
        /* the topic may not be in the consumer's metadata yet right after creation */
        if (rc < 0)
            fprintf(stderr, "consumer: %s (retrying)\n", err);
    }
    fail_msg("no message within %d ms", WAIT_MS);
}

static eco_store_kafka_consumer_t *consumer(const char *group, const char *topic)
{
    eco_store_kafka_consumer_t *c;
    char err[256];
    const char *topics[] = {topic};
    if (eco_store_kafka_consumer_new(&c, brokers(), group, topics, 1, err, sizeof(err)) != 0)
        fail_msg("consumer: %s", err);
    return c;
}

static void produce_one(eco_store_kafka_producer_t *p, const char *topic, const char *key, const char *value)
{
    char err[256];
    if (eco_store_kafka_produce(p, topic, key, strlen(key), value, strlen(value), NULL, 0, NULL, err, sizeof(err)))
        fail_msg("produce: %s", err);
    if (eco_store_kafka_producer_flush(p, WAIT_MS) != 0)
        fail_msg("flush timed out");
}

/* ---------- consumer statistics ---------- */

typedef struct {
    int calls;
    int has_topic; /* the subscribed topic appears in a statistics document */
    char topic[64];
} stats_state_t;

static void on_stats(void *data, const char *json, size_t len)
{
    stats_state_t *st = data;
    st->calls++;
    char needle[80];
    snprintf(needle, sizeof(needle), "\"%s\"", st->topic);
    if (memmem(json, len, needle, strlen(needle)) && memmem(json, len, "\"consumer_lag\"", 14))
        st->has_topic = 1;
}

/* statistics.interval.ms: the callback runs on the polling thread with librdkafka's JSON, which
 * names the subscribed topic's partitions and their consumer_lag once assigned. */
static void test_consumer_statistics(void **state)
{
    (void)state;
    stats_state_t st = {0};
    char group[64], err[256] = "";
    unique_name(st.topic, sizeof(st.topic), "eco.test.stats");
    unique_name(group, sizeof(group), "eco-test-stats");
    eco_store_kafka_producer_t *p;
    assert_int_equal(eco_store_kafka_producer_new(&p, brokers(), NULL, err, sizeof(err)), 0);
    produce_one(p, st.topic, "k", "v"); /* creates the topic */
    const char *topics[] = {st.topic};
    eco_store_kafka_consumer_opts_t o = {.stats_interval_ms = 100, .stats_cb = on_stats, .stats_cb_data = &st};
    eco_store_kafka_consumer_t *c;
    if (eco_store_kafka_consumer_new_opts(&c, brokers(), group, topics, 1, &o, err, sizeof(err)) != 0)
        fail_msg("consumer: %s", err);
    eco_store_kafka_msg_t m;
    poll_one(c, &m);
    assert_int_equal(eco_store_kafka_consumer_commit(c, &m, err, sizeof(err)), 0);
    eco_store_kafka_msg_release(&m);
    uint64_t deadline = eco_now_ms() + WAIT_MS;
    while (!st.has_topic && eco_now_ms() < deadline)
        if (eco_store_kafka_consumer_poll(c, 100, &m, err, sizeof(err)) == 1)
            eco_store_kafka_msg_release(&m);
    assert_true(st.calls > 0);
    assert_true(st.has_topic);
    eco_store_kafka_consumer_close(c);
    assert_int_equal(eco_store_kafka_producer_close(p, WAIT_MS), 0);
}

static void test_produce_consume_roundtrip(void **state)
{
    (void)state;
    char topic[64], group[64], err[256] = "";
    unique_name(topic, sizeof(topic), "eco.test.jobs");
    unique_name(group, sizeof(group), "eco-test-group");

    dr_state_t dr = {0};
    eco_store_kafka_producer_opts_t opts = {.dr_cb = on_delivery, .dr_cb_data = &dr};
    eco_store_kafka_producer_t *p;
    assert_int_equal(eco_store_kafka_producer_new(&p, brokers(), &opts, err, sizeof(err)), 0);
    assert_idempotent(p);
    for (int i = 0; i < NMSG; i++) {
        char key[16], value[64], rid[40];
        snprintf(key, sizeof(key), "job-%d", i % NKEYS);
        snprintf(value, sizeof(value), "{\"key\":%d,\"seq\":%d}", i % NKEYS, i / NKEYS);
        snprintf(rid, sizeof(rid), "req-%d", i);
        eco_store_kafka_header_t h[] = {{"request_id", rid, strlen(rid)}, {"type", "requested", 9}};
        if (eco_store_kafka_produce(p, topic, key, strlen(key), value, strlen(value), h, 2, (void *)(intptr_t)i, err,
                                    sizeof(err)) != 0)
            fail_msg("produce %d: %s", i, err);
    }
    assert_int_equal(eco_store_kafka_producer_flush(p, WAIT_MS), 0);
    /* exactly one successful delivery report per message */
    assert_int_equal(dr.reports, NMSG);
    assert_int_equal(dr.ok, NMSG);
    for (int i = 0; i < NMSG; i++)
        assert_int_equal(dr.seen[i], 1);
    uint64_t delivered, failed;
    eco_store_kafka_producer_stats(p, &delivered, &failed);
    assert_int_equal(delivered, NMSG);
    assert_int_equal(failed, 0);

    eco_store_kafka_consumer_t *c = consumer(group, topic);
    int next_seq[NKEYS] = {0}, got = 0;
    while (got < NMSG) {
        eco_store_kafka_msg_t m;
        poll_one(c, &m);
        assert_string_equal(m.topic, topic);
        assert_true(m.offset >= 0);
        assert_true(m.timestamp_ms > 0);
        int k, seq;
        char value[64];
        snprintf(value, sizeof(value), "%.*s", (int)m.value_len, (const char *)m.value);
        if (sscanf(value, "{\"key\":%d,\"seq\":%d}", &k, &seq) != 2 || k < 0 || k >= NKEYS)
            fail_msg("unexpected value %s", value);
        char key[16];
        snprintf(key, sizeof(key), "job-%d", k);
        assert_int_equal(m.key_len, strlen(key));
        assert_memory_equal(m.key, key, m.key_len);
        /* per-key order survives (same key, same partition, idempotent ordered retries) */
        assert_int_equal(seq, next_seq[k]);
        next_seq[k]++;
        const void *hv;
        size_t hl;
        assert_int_equal(eco_store_kafka_msg_header(&m, "request_id", &hv, &hl), 0);
        char rid[40];
        snprintf(rid, sizeof(rid), "req-%d", seq * NKEYS + k);
        assert_int_equal(hl, strlen(rid));
        assert_memory_equal(hv, rid, hl);
        assert_int_equal(eco_store_kafka_msg_header(&m, "missing", &hv, &hl), ECO_EINVAL);
        if (eco_store_kafka_consumer_commit(c, &m, err, sizeof(err)) != 0)
            fail_msg("commit: %s", err);
        eco_store_kafka_msg_release(&m);
        assert_null(m.priv);
        got++;
    }
    eco_store_kafka_consumer_close(c);

    /* committed offsets hold: a new member of the group sees only what comes after */
    produce_one(p, topic, "job-0", "after-commit");
    uint64_t t0 = eco_now_ms();
    c = consumer(group, topic);
    eco_store_kafka_msg_t m;
    poll_one(c, &m);
    /* the previous member left the group on close: no wait for its session to expire (45 s) */
    if (eco_now_ms() - t0 > 10000)
        fail_msg("rejoining the group took %llu ms", (unsigned long long)(eco_now_ms() - t0));
    assert_int_equal(m.value_len, strlen("after-commit"));
    assert_memory_equal(m.value, "after-commit", m.value_len);
    /* not committed: closing hands it to the next member again (at-least-once) */
    eco_store_kafka_msg_release(&m);
    eco_store_kafka_consumer_close(c);
    c = consumer(group, topic);
    poll_one(c, &m);
    assert_memory_equal(m.value, "after-commit", m.value_len);
    assert_int_equal(eco_store_kafka_consumer_commit(c, &m, err, sizeof(err)), 0);
    eco_store_kafka_msg_release(&m);
    eco_store_kafka_consumer_close(c);
    assert_int_equal(eco_store_kafka_producer_close(p, WAIT_MS), 0);
}

static void test_close_reports_undeliverable_messages(void **state)
{
    (void)state;
    char b[64], err[256] = "";
    snprintf(b, sizeof(b), "127.0.0.1:%d", closed_port());
    dr_state_t dr = {0};
    eco_store_kafka_producer_opts_t opts = {.dr_cb = on_delivery, .dr_cb_data = &dr, .message_timeout_ms = 60000};
    eco_store_kafka_producer_t *p;
    assert_int_equal(eco_store_kafka_producer_new(&p, b, &opts, err, sizeof(err)), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(eco_store_kafka_produce(p, "eco.test.nowhere", "k", 1, "v", 1, NULL, 0, (void *)(intptr_t)i,
                                                 err, sizeof(err)),
                         0);
    uint64_t t0 = eco_now_ms();
    assert_int_equal(eco_store_kafka_producer_close(p, 500), ECO_ETIMEDOUT);
    assert_true(eco_now_ms() - t0 < 3000);
    /* every message still got exactly one (failed) report */
    assert_int_equal(dr.reports, 3);
    assert_int_equal(dr.ok, 0);
    assert_true(dr.bad_status < 0);
}

int main(void)
{
    eco_log_init("test_store_kafka", getenv("ECO_LOG_LEVEL") ? getenv("ECO_LOG_LEVEL") : "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ping_up),
        cmocka_unit_test(test_ping_closed_port_is_down),
        cmocka_unit_test(test_ping_hung_server_times_out),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_produce_consume_roundtrip),
        cmocka_unit_test(test_consumer_statistics),
        cmocka_unit_test(test_close_reports_undeliverable_messages),
    };
    return cmocka_run_group_tests_name("store_kafka", tests, NULL, NULL);
}
