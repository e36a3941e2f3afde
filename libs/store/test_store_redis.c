/* Integration tests for the Redis side of eco_store, against a real server.
 * Needs ECO_TEST_REDIS_URL (redis://[[user]:password@]host:port[/db]); the connection must be
 * allowed CLIENT LIST/KILL and ACL SETUSER/DELUSER (a temporary user tests authentication). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eco_store.h"

static const char *server_url(void)
{
    const char *u = getenv("ECO_TEST_REDIS_URL");
    if (!u || !*u)
        fail_msg("ECO_TEST_REDIS_URL is not set: this test needs a real Redis server (e.g. redis://127.0.0.1:56379)");
    return u;
}

/* A plain hiredis connection to the test server, for inspecting what the probe did. */
static redisContext *admin(void)
{
    eco_store_redis_url_t u;
    char err[256];
    if (eco_store_redis_url_parse(server_url(), &u, err, sizeof(err)) != 0)
        fail_msg("ECO_TEST_REDIS_URL: %s", err);
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout(u.host, u.port, tv);
    if (!c || c->err)
        fail_msg("cannot connect to the test server: %s", c ? c->errstr : "no memory");
    redisSetTimeout(c, tv);
    if (u.password[0]) {
        redisReply *r =
            u.user[0] ? redisCommand(c, "AUTH %s %s", u.user, u.password) : redisCommand(c, "AUTH %s", u.password);
        if (!r || r->type == REDIS_REPLY_ERROR)
            fail_msg("AUTH to the test server failed");
        freeReplyObject(r);
    }
    return c;
}

static redisReply *cmd_ok(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (!r || r->type == REDIS_REPLY_ERROR)
        fail_msg("command %s failed: %s", fmt, r ? r->str : c->errstr);
    return r;
}

/* Ids of the connections the probe named, and the db of the last one. */
static int probe_clients(redisContext *c, long long *ids, int max, int *db)
{
    redisReply *r = cmd_ok(c, "CLIENT LIST");
    int n = 0;
    char *save = NULL;
    for (char *line = strtok_r(r->str, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (!strstr(line, " name=eco-store-probe "))
            continue;
        const char *id = strstr(line, "id="), *d = strstr(line, " db=");
        if (n < max && id)
            ids[n] = strtoll(id + 3, NULL, 10);
        if (d && db)
            *db = atoi(d + 4);
        n++;
    }
    freeReplyObject(r);
    return n;
}

static void kill_probe_clients(redisContext *c)
{
    long long ids[16];
    int n = probe_clients(c, ids, 16, NULL);
    for (int i = 0; i < n && i < 16; i++)
        freeReplyObject(cmd_ok(c, "CLIENT KILL ID %lld", ids[i]));
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

/* ---------- URL parsing (no server) ---------- */

static void test_url_parse(void **state)
{
    (void)state;
    eco_store_redis_url_t u;
    char err[256];
    assert_int_equal(eco_store_redis_url_parse("redis://localhost", &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "localhost");
    assert_int_equal(u.port, 6379);
    assert_int_equal(u.db, 0);
    assert_string_equal(u.password, "");
    assert_int_equal(eco_store_redis_url_parse("redis://10.0.0.5:7000/3", &u, err, sizeof(err)), 0);
    assert_string_equal(u.host, "10.0.0.5");
    assert_int_equal(u.port, 7000);
    assert_int_equal(u.db, 3);
    assert_int_equal(
        eco_store_redis_url_parse("redis://:p%40ss%3Aw%2Frd@redis.eco-base.svc:6380/", &u, err, sizeof(err)), 0);
    assert_string_equal(u.user, "");
    assert_string_equal(u.password, "p@ss:w/rd");
    assert_string_equal(u.host, "redis.eco-base.svc");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 0);
    assert_int_equal(eco_store_redis_url_parse("redis://app:pw@[::1]:6390/15", &u, err, sizeof(err)), 0);
    assert_string_equal(u.user, "app");
    assert_string_equal(u.password, "pw");
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 6390);
    assert_int_equal(u.db, 15);
    /* a password may contain '@' when encoded, and the last '@' ends the credentials */
    assert_int_equal(eco_store_redis_url_parse("redis://:a@b@host", &u, err, sizeof(err)), 0);
    assert_string_equal(u.password, "a@b");
    assert_string_equal(u.host, "host");

    static const char *bad[] = {
        "",
        "http://host:6379",
        "rediss://host:6379",
        "redis://",
        "redis://:6379",
        "redis://host:0",
        "redis://host:65536",
        "redis://host:12ab",
        "redis://host:/",
        "redis://host/abc",
        "redis://host/-1",
        "redis://host/1/2",
        "redis://host?db=1",
        "redis://user@host",
        "redis://:pw%zz@host",
        "redis://:pw%00x@host",
        "redis://[::1:6379",
        "redis://ho st:6379",
    };
    for (size_t i = 0; i < ECO_ARRAY_SIZE(bad); i++) {
        err[0] = '\0';
        if (eco_store_redis_url_parse(bad[i], &u, err, sizeof(err)) != ECO_EINVAL)
            fail_msg("accepted bad URL \"%s\"", bad[i]);
        assert_true(strlen(err) > 0);
        assert_string_equal(u.password, "");
    }
    assert_int_equal(eco_store_redis_url_parse(NULL, &u, err, sizeof(err)), ECO_EINVAL);
    /* errors never echo credentials */
    assert_int_equal(eco_store_redis_url_parse("redis://:s3cret%zz@host", &u, err, sizeof(err)), ECO_EINVAL);
    assert_null(strstr(err, "s3cret"));
}

/* ---------- probes against the server ---------- */

static void test_ping_up(void **state)
{
    (void)state;
    char err[256] = "";
    uint64_t t0 = eco_now_ms();
    int rc = eco_store_redis_ping(server_url(), 2000, err, sizeof(err));
    if (rc != 0)
        fail_msg("ping failed: %d %s", rc, err);
    assert_true(eco_now_ms() - t0 < 2000);
}

static void test_probe_keeps_and_repairs_its_connection(void **state)
{
    (void)state;
    redisContext *a = admin();
    kill_probe_clients(a);
    eco_store_redis_probe_t *p;
    char err[256] = "";
    assert_int_equal(eco_store_redis_probe_new(&p, server_url(), 2000, err, sizeof(err)), 0);
    for (int i = 0; i < 5; i++)
        if (eco_store_redis_probe_run(p, err, sizeof(err)) != 0)
            fail_msg("probe run %d failed: %s", i, err);
    long long ids[4];
    assert_int_equal(probe_clients(a, ids, 4, NULL), 1);
    long long first = ids[0];

    /* the server drops the connection: the next run reconnects and still reports up */
    kill_probe_clients(a);
    if (eco_store_redis_probe_run(p, err, sizeof(err)) != 0)
        fail_msg("probe after CLIENT KILL: %s", err);
    assert_int_equal(probe_clients(a, ids, 4, NULL), 1);
    assert_true(ids[0] != first);

    char detail[160] = "";
    assert_int_equal(eco_store_redis_ready_check(p, detail, sizeof(detail)), ECO_DEP_UP);
    assert_non_null(strstr(detail, "ok"));
    eco_store_redis_probe_free(p);
    usleep(100 * 1000);
    assert_int_equal(probe_clients(a, ids, 4, NULL), 0);
    redisFree(a);
}

/* The same server, with different credentials and database. */
static void url_with(char *out, size_t n, const char *userinfo, int db)
{
    eco_store_redis_url_t u;
    char err[256];
    if (eco_store_redis_url_parse(server_url(), &u, err, sizeof(err)) != 0)
        fail_msg("ECO_TEST_REDIS_URL: %s", err);
    int v6 = strchr(u.host, ':') != NULL;
    snprintf(out, n, "redis://%s%s%s%s%s:%d/%d", userinfo ? userinfo : "", userinfo ? "@" : "", v6 ? "[" : "", u.host,
             v6 ? "]" : "", u.port, db);
}

static void test_probe_selects_database(void **state)
{
    (void)state;
    redisContext *a = admin();
    kill_probe_clients(a);
    eco_store_redis_url_t base;
    char err[256] = "", url[512];
    assert_int_equal(eco_store_redis_url_parse(server_url(), &base, err, sizeof(err)), 0);
    /* keep the credentials of the test URL */
    char userinfo[512] = "";
    const char *at = strrchr(server_url(), '@');
    if (at)
        snprintf(userinfo, sizeof(userinfo), "%.*s", (int)(at - server_url() - 8), server_url() + 8);
    url_with(url, sizeof(url), at ? userinfo : NULL, 3);
    eco_store_redis_probe_t *p;
    assert_int_equal(eco_store_redis_probe_new(&p, url, 2000, err, sizeof(err)), 0);
    if (eco_store_redis_probe_run(p, err, sizeof(err)) != 0)
        fail_msg("probe with /3: %s", err);
    long long ids[4];
    int db = -1;
    assert_int_equal(probe_clients(a, ids, 4, &db), 1);
    assert_int_equal(db, 3);
    eco_store_redis_probe_free(p);

    url_with(url, sizeof(url), at ? userinfo : NULL, 999999);
    assert_int_equal(eco_store_redis_ping(url, 2000, err, sizeof(err)), ECO_STORE_EQUERY);
    assert_non_null(strstr(err, "SELECT"));
    redisFree(a);
}

static void test_authentication(void **state)
{
    (void)state;
    redisContext *a = admin();
    char user[40], url[512], err[256] = "";
    unsigned char rnd[4];
    eco_random_bytes(rnd, sizeof(rnd));
    snprintf(user, sizeof(user), "eco_test_%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
    /* password "p@ss:w/rd%" exercises the percent-decoding */
    freeReplyObject(cmd_ok(a, "ACL SETUSER %s on >p@ss:w/rd%% ~* &* +@all", user));

    char userinfo[128];
    snprintf(userinfo, sizeof(userinfo), "%s:p%%40ss%%3Aw%%2Frd%%25", user);
    url_with(url, sizeof(url), userinfo, 0);
    int rc = eco_store_redis_ping(url, 2000, err, sizeof(err));
    if (rc != 0)
        fail_msg("ping as %s failed: %d %s", user, rc, err);

    /* a wrong password is reported as such, without the password */
    snprintf(userinfo, sizeof(userinfo), "%s:wrong-s3cretpw", user);
    url_with(url, sizeof(url), userinfo, 0);
    assert_int_equal(eco_store_redis_ping(url, 2000, err, sizeof(err)), ECO_STORE_EAUTH);
    assert_non_null(strstr(err, "AUTH"));
    assert_null(strstr(err, "s3cretpw"));
    /* the same with a bare password (default user) */
    url_with(url, sizeof(url), ":wrong-s3cretpw", 0);
    assert_int_equal(eco_store_redis_ping(url, 2000, err, sizeof(err)), ECO_STORE_EAUTH);
    assert_null(strstr(err, "s3cretpw"));

    freeReplyObject(cmd_ok(a, "ACL DELUSER %s", user));
    redisFree(a);
}

static void test_ping_closed_port_is_down(void **state)
{
    (void)state;
    char url[96], err[256] = "";
    snprintf(url, sizeof(url), "redis://:s3cretpw@127.0.0.1:%d", closed_port());
    uint64_t t0 = eco_now_ms();
    int rc = eco_store_redis_ping(url, 1000, err, sizeof(err));
    uint64_t dt = eco_now_ms() - t0;
    assert_int_equal(rc, ECO_STORE_ECONN);
    assert_true(dt < 1300);
    assert_non_null(strstr(err, "connect"));
    assert_null(strstr(err, "s3cretpw"));

    eco_store_redis_probe_t *p;
    char detail[160] = "";
    assert_int_equal(eco_store_redis_probe_new(&p, url, 1000, err, sizeof(err)), 0);
    assert_int_equal(eco_store_redis_ready_check(p, detail, sizeof(detail)), ECO_DEP_DOWN);
    assert_true(strlen(detail) > 0);
    eco_store_redis_probe_free(p);
}

static void test_ping_hung_server_times_out(void **state)
{
    (void)state;
    int port, fd = silent_listener(&port);
    char url[96], err[256] = "";
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", port);
    uint64_t t0 = eco_now_ms();
    int rc = eco_store_redis_ping(url, 500, err, sizeof(err));
    uint64_t dt = eco_now_ms() - t0;
    close(fd);
    assert_int_equal(rc, ECO_ETIMEDOUT);
    if (dt < 450 || dt > 900)
        fail_msg("a 500 ms probe took %llu ms", (unsigned long long)dt);
    assert_non_null(strstr(err, "timed out"));
}

static void test_probe_new_rejects_bad_input(void **state)
{
    (void)state;
    eco_store_redis_probe_t *p = (void *)1;
    char err[256];
    assert_int_equal(eco_store_redis_probe_new(&p, "rediss://h:1", 1000, err, sizeof(err)), ECO_EINVAL);
    assert_null(p);
    assert_int_equal(eco_store_redis_probe_new(&p, "redis://h:1", 0, err, sizeof(err)), ECO_EINVAL);
    assert_null(p);
}

int main(void)
{
    /* hiredis writes with write(2); services get this from eco_lifecycle_init */
    signal(SIGPIPE, SIG_IGN);
    eco_log_init("test_store_redis", getenv("ECO_LOG_LEVEL") ? getenv("ECO_LOG_LEVEL") : "warn");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_parse),
        cmocka_unit_test(test_ping_up),
        cmocka_unit_test(test_probe_keeps_and_repairs_its_connection),
        cmocka_unit_test(test_probe_selects_database),
        cmocka_unit_test(test_authentication),
        cmocka_unit_test(test_ping_closed_port_is_down),
        cmocka_unit_test(test_ping_hung_server_times_out),
        cmocka_unit_test(test_probe_new_rejects_bad_input),
    };
    return cmocka_run_group_tests_name("store_redis", tests, NULL, NULL);
}
