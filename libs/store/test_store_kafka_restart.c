/* The Kafka readiness probe across a broker crash, a restart and a graceful stop.
 * Starts its own single-node broker with deploy/local/kafka/kafka.sh (or ECO_TEST_KAFKA_SCRIPT)
 * on free loopback ports, so it needs java and the Kafka jars (make deps) and runs from the
 * repository root. Requirement checked: a stopped broker is reported down within 2 s, a
 * restarted one up again within a few seconds of accepting connections. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eco_store.h"

#define PROBE_TIMEOUT_MS 1000
#define DOWN_WITHIN_MS   2000
#define UP_WITHIN_MS     5000
#define START_WAIT_MS    90000

typedef struct {
    char dir[64];
    char brokers[32];
    char port[8], cport[8];
    pid_t pid;
    eco_store_kafka_probe_t *probe;
} broker_t;

static const char *script(void)
{
    const char *s = getenv("ECO_TEST_KAFKA_SCRIPT");
    if (!s || !*s)
        s = "deploy/local/kafka/kafka.sh";
    if (access(s, R_OK) != 0)
        fail_msg("%s not found: run from the repository root or set ECO_TEST_KAFKA_SCRIPT", s);
    return s;
}

/* A port below Linux's ephemeral range (32768+) that binds now, so no outgoing connection of
 * the many the broker and the probes open can take it between the check and the broker's bind;
 * successive calls never repeat. */
static int free_port(void)
{
    static int next;
    if (!next)
        next = 21000 + (int)(getpid() * 7919 % 11000);
    for (int tries = 0; tries < 11000; tries++) {
        int p = next;
        next = 21000 + (next + 1 - 21000) % 11000;
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {
            .sin_family = AF_INET, .sin_port = htons((uint16_t)p), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        if (fd >= 0)
            close(fd);
        if (ok)
            return p;
    }
    fail_msg("cannot find a free port");
    return 0;
}

static int port_accepts(const char *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Runs `bash kafka.sh cmd dir port cport` with output appended to dir/broker.log. */
static pid_t spawn(broker_t *b, const char *cmd)
{
    char log[96];
    snprintf(log, sizeof(log), "%s/broker.log", b->dir);
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("bash", "bash", script(), cmd, b->dir, b->port, b->cport, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Waits for pid up to timeout_ms; returns its wait status or -1 on timeout. */
static int wait_for(pid_t pid, int timeout_ms)
{
    uint64_t deadline = eco_now_ms() + (uint64_t)timeout_ms;
    int st;
    while (eco_now_ms() < deadline) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return st;
        usleep(20 * 1000);
    }
    return -1;
}

static void stop(broker_t *b, int sig)
{
    if (b->pid <= 0)
        return;
    kill(b->pid, sig);
    if (wait_for(b->pid, 30000) < 0) {
        kill(b->pid, SIGKILL);
        wait_for(b->pid, 10000);
    }
    b->pid = 0;
}

/* Starts the broker while probing every 250 ms, as a readiness checker keeps doing through an
 * outage (so librdkafka's reconnect backoff has grown by then). Returns the time from the port
 * first accepting connections to the probe first reporting up. */
static uint64_t start_and_measure(broker_t *b)
{
    b->pid = spawn(b, "start");
    uint64_t deadline = eco_now_ms() + START_WAIT_MS, opened = 0;
    char err[256] = "";
    for (;;) {
        if (!opened && port_accepts(b->port))
            opened = eco_now_ms();
        uint64_t r0 = eco_now_ms();
        int rc = eco_store_kafka_probe_run(b->probe, err, sizeof(err));
        uint64_t now = eco_now_ms();
        if (now - r0 > PROBE_TIMEOUT_MS + 300)
            fail_msg("one probe run took %llu ms (timeout %d)", (unsigned long long)(now - r0), PROBE_TIMEOUT_MS);
        if (rc == 0)
            return now - (opened ? opened : r0);
        if (now > deadline || waitpid(b->pid, NULL, WNOHANG) == b->pid)
            fail_msg("broker not up on %s (%s; see %s/broker.log)", b->port, err, b->dir);
        usleep(250 * 1000);
    }
}

/* Runs the probe every 250 ms, the way a readiness checker would, until it reports want_up.
 * Returns the time it took; fails after max_ms. */
static uint64_t probe_until(broker_t *b, int want_up, int max_ms)
{
    uint64_t t0 = eco_now_ms();
    char err[256] = "";
    for (;;) {
        uint64_t r0 = eco_now_ms();
        int rc = eco_store_kafka_probe_run(b->probe, err, sizeof(err));
        uint64_t took = eco_now_ms() - r0;
        if (took > PROBE_TIMEOUT_MS + 300)
            fail_msg("one probe run took %llu ms (timeout %d)", (unsigned long long)took, PROBE_TIMEOUT_MS);
        if ((rc == 0) == want_up)
            return eco_now_ms() - t0;
        if (eco_now_ms() - t0 > (uint64_t)max_ms)
            fail_msg("probe still %s after %d ms (%s)", want_up ? "down" : "up", max_ms, err);
        usleep(250 * 1000);
    }
}

static int setup(void **state)
{
    broker_t *b = eco_calloc(1, sizeof(*b));
    snprintf(b->dir, sizeof(b->dir), "/tmp/eco-kafka-test-XXXXXX");
    if (!mkdtemp(b->dir))
        return -1;
    int p = free_port(), cp;
    do
        cp = free_port();
    while (cp == p);
    snprintf(b->port, sizeof(b->port), "%d", p);
    snprintf(b->cport, sizeof(b->cport), "%d", cp);
    snprintf(b->brokers, sizeof(b->brokers), "127.0.0.1:%d", p);
    *state = b;
    return 0;
}

static int teardown(void **state)
{
    broker_t *b = *state;
    stop(b, SIGKILL);
    eco_store_kafka_probe_free(b->probe);
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", b->dir);
    free(b);
    return 0;
}

static void test_probe_follows_broker_restarts(void **state)
{
    broker_t *b = *state;
    pid_t fmt = spawn(b, "format");
    int st = wait_for(fmt, 60000);
    if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fail_msg("kafka.sh format failed (java and the Kafka jars are needed: make deps); see %s/broker.log", b->dir);
    char err[256] = "";
    assert_int_equal(eco_store_kafka_probe_new(&b->probe, b->brokers, PROBE_TIMEOUT_MS, err, sizeof(err)), 0);
    /* before the broker exists: down, within the timeout */
    probe_until(b, 0, 0);

    uint64_t up = start_and_measure(b);
    printf("# first start: up %llu ms after the port opened\n", (unsigned long long)up);

    /* crash: SIGKILL, the kernel closes the broker's sockets */
    stop(b, SIGKILL);
    uint64_t down = probe_until(b, 0, 10000);
    printf("# SIGKILL: down after %llu ms\n", (unsigned long long)down);
    if (down > DOWN_WITHIN_MS)
        fail_msg("killed broker reported down after %llu ms (limit %d)", (unsigned long long)down, DOWN_WITHIN_MS);
    /* and stays down while it is gone (these failures also grow librdkafka's reconnect backoff) */
    for (int i = 0; i < 5; i++)
        assert_true(eco_store_kafka_probe_run(b->probe, err, sizeof(err)) < 0);

    /* restart on the same data directory and port, probing all along */
    up = start_and_measure(b);
    printf("# restart: up %llu ms after the port opened\n", (unsigned long long)up);
    if (up > UP_WITHIN_MS)
        fail_msg("restarted broker reported up after %llu ms (limit %d)", (unsigned long long)up, UP_WITHIN_MS);

    /* graceful stop: SIGTERM, controlled shutdown, exit */
    stop(b, SIGTERM);
    down = probe_until(b, 0, 10000);
    printf("# SIGTERM: down %llu ms after the process exited\n", (unsigned long long)down);
    if (down > DOWN_WITHIN_MS)
        fail_msg("stopped broker reported down after %llu ms (limit %d)", (unsigned long long)down, DOWN_WITHIN_MS);

    /* the readiness adapter says the same */
    char detail[160] = "";
    assert_int_equal(eco_store_kafka_ready_check(b->probe, detail, sizeof(detail)), ECO_DEP_DOWN);
    start_and_measure(b);
    assert_int_equal(eco_store_kafka_ready_check(b->probe, detail, sizeof(detail)), ECO_DEP_UP);
}

int main(void)
{
    eco_log_init("test_store_kafka_restart", getenv("ECO_LOG_LEVEL") ? getenv("ECO_LOG_LEVEL") : "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_probe_follows_broker_restarts, setup, teardown),
    };
    return cmocka_run_group_tests_name("store_kafka_restart", tests, NULL, NULL);
}
