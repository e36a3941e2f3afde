/* Integration tests for the PostgreSQL helpers and probe of eco_store, against a real server.
 * Needs ECO_TEST_POSTGRES_URL (a role allowed to CREATE DATABASE; each test works in its own
 * throwaway database). The migrations runner is tested in test_store_migrate.c. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "test_pg_fixture.h"

/* A TCP port on 127.0.0.1 with nothing listening. */
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

/* A listener that completes TCP handshakes (kernel backlog) but never answers. */
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

/* ---------- query helper and connect ---------- */

static void test_query_helper(void **state)
{
    fixture_t *f = fixture(state);
    PGconn *c = f->conn;
    eco_store_pg_error_t e;
    PGresult *r;
    /* parameters are never interpolated: a quote is just data */
    const char *params[] = {"it's'; DROP TABLE x; --", NULL};
    assert_int_equal(eco_store_pg_exec(c, "SELECT $1::text, $2::text IS NULL", 2, params, &r, &e), 0);
    assert_string_equal(PQgetvalue(r, 0, 0), params[0]);
    assert_string_equal(PQgetvalue(r, 0, 1), "t");
    PQclear(r);

    assert_int_equal(eco_store_pg_exec(c, "SELEC 1", 0, NULL, &r, &e), ECO_STORE_EQUERY);
    assert_null(r);
    assert_string_equal(e.sqlstate, "42601");
    assert_true(strlen(e.message) > 0);
    assert_int_equal(eco_store_pg_exec(c, "SELECT 1", -1, NULL, NULL, &e), ECO_EINVAL);
    assert_int_equal(eco_store_pg_exec(c, "SELECT $1", 1, NULL, NULL, &e), ECO_EINVAL);
    assert_int_equal(eco_store_pg_exec(c, "SELECT 1", ECO_STORE_PG_MAX_PARAMS + 1, params, NULL, &e), ECO_EINVAL);
    int fmt[] = {1};
    assert_int_equal(eco_store_pg_query(c, "SELECT $1::bytea", 1, params, NULL, fmt, NULL, &e), ECO_EINVAL);
    /* e is optional */
    assert_int_equal(eco_store_pg_exec(c, "SELEC 1", 0, NULL, NULL, NULL), ECO_STORE_EQUERY);

    /* retryable classification */
    eco_store_pg_error_t ser = {.sqlstate = "40001"}, dl = {.sqlstate = "40P01"}, uv = {.sqlstate = "23505"};
    assert_true(eco_store_pg_retryable(&ser));
    assert_true(eco_store_pg_retryable(&dl));
    assert_false(eco_store_pg_retryable(&uv));

    /* a connection killed by the server reports ECO_STORE_ECONN */
    PGconn *victim = connect_or_fail(f->url);
    char pid[16];
    snprintf(pid, sizeof(pid), "%d", PQbackendPID(victim));
    const char *pp[] = {pid};
    char *ok = query_value(c, "SELECT pg_terminate_backend($1::int)", 1, pp);
    assert_string_equal(ok, "t");
    free(ok);
    usleep(100 * 1000);
    assert_int_equal(eco_store_pg_exec(victim, "SELECT 1", 0, NULL, NULL, &e), ECO_STORE_ECONN);
    PQfinish(victim);
}

static void test_connect_statement_timeout(void **state)
{
    fixture_t *f = fixture(state);
    PGconn *c;
    char err[256] = "";
    assert_int_equal(eco_store_pg_connect(f->url, 5000, 200, &c, err, sizeof(err)), 0);
    eco_store_pg_error_t e;
    uint64_t t0 = eco_now_ms();
    assert_int_equal(eco_store_pg_exec(c, "SELECT pg_sleep(3)", 0, NULL, NULL, &e), ECO_STORE_EQUERY);
    uint64_t dt = eco_now_ms() - t0;
    assert_string_equal(e.sqlstate, "57014");
    assert_true(dt < 1500);
    /* the defaults are applied, and settings in the URL win over them */
    char *app = query_value(c, "SELECT current_setting('application_name')", 0, NULL);
    assert_string_equal(app, "eco-base");
    free(app);
    PQfinish(c);
    char *url = conninfo_for(f->name, "eco_custom_app");
    assert_int_equal(eco_store_pg_connect(url, 5000, 0, &c, err, sizeof(err)), 0);
    app = query_value(c, "SELECT current_setting('application_name')", 0, NULL);
    assert_string_equal(app, "eco_custom_app");
    free(app);
    PQfinish(c);
    free(url);
    /* an unparsable URL is rejected without echoing it (it may hold a password) */
    assert_int_equal(eco_store_pg_connect("postgresql://u:s3cretpw%zz@h/db", 1000, 0, &c, err, sizeof(err)),
                     ECO_EINVAL);
    assert_null(c);
    assert_null(strstr(err, "s3cretpw"));
}

/* ---------- probes ---------- */

static void test_ping_up(void **state)
{
    (void)state;
    char err[256] = "";
    uint64_t t0 = eco_now_ms();
    int rc = eco_store_pg_ping(server_url(), 2000, err, sizeof(err));
    if (rc != 0)
        fail_msg("ping failed: %d %s", rc, err);
    assert_true(eco_now_ms() - t0 < 2000);
}

static void test_ping_closed_port_is_down(void **state)
{
    (void)state;
    char url[160], err[256] = "";
    snprintf(url, sizeof(url), "postgresql://eco:s3cretpw@127.0.0.1:%d/eco", closed_port());
    uint64_t t0 = eco_now_ms();
    int rc = eco_store_pg_ping(url, 1000, err, sizeof(err));
    uint64_t dt = eco_now_ms() - t0;
    assert_true(rc < 0);
    assert_int_equal(rc, ECO_STORE_ECONN);
    assert_true(dt < 1300);
    assert_true(strlen(err) > 0);
    assert_null(strstr(err, "s3cretpw"));
}

static void test_ping_hung_server_times_out(void **state)
{
    (void)state;
    int port, fd = silent_listener(&port);
    char url[160], err[256] = "";
    snprintf(url, sizeof(url), "postgresql://eco@127.0.0.1:%d/eco", port);
    uint64_t t0 = eco_now_ms();
    int rc = eco_store_pg_ping(url, 500, err, sizeof(err));
    uint64_t dt = eco_now_ms() - t0;
    close(fd);
    assert_int_equal(rc, ECO_ETIMEDOUT);
    if (dt < 450 || dt > 900)
        fail_msg("a 500 ms probe took %llu ms", (unsigned long long)dt);
    expect_contains(err, "timed out");
}

static long probe_backends(PGconn *c, const char *app)
{
    const char *p[] = {app};
    return query_long(c, "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", 1, p);
}

static void test_probe_keeps_and_repairs_its_connection(void **state)
{
    fixture_t *f = fixture(state);
    char app[48], err[256] = "";
    snprintf(app, sizeof(app), "%s_probe", f->name);
    char *url = conninfo_for(f->name, app);
    eco_store_pg_probe_t *p;
    assert_int_equal(eco_store_pg_probe_new(&p, url, 2000, err, sizeof(err)), 0);
    for (int i = 0; i < 5; i++)
        if (eco_store_pg_probe_run(p, err, sizeof(err)) != 0)
            fail_msg("probe run %d failed: %s", i, err);
    /* five runs, one connection */
    assert_int_equal(probe_backends(f->conn, app), 1);
    const char *ap[] = {app};
    char *pid1 = query_value(f->conn, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", 1, ap);

    /* the server drops it: the next run reconnects and still reports up */
    char *t = query_value(f->conn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
                          1, ap);
    assert_string_equal(t, "t");
    free(t);
    usleep(100 * 1000);
    if (eco_store_pg_probe_run(p, err, sizeof(err)) != 0)
        fail_msg("probe after the backend was killed: %s", err);
    assert_int_equal(probe_backends(f->conn, app), 1);
    char *pid2 = query_value(f->conn, "SELECT pid FROM pg_stat_activity WHERE application_name = $1", 1, ap);
    assert_string_not_equal(pid1, pid2);

    /* the readiness adapter */
    char detail[160] = "";
    assert_int_equal(eco_store_pg_ready_check(p, detail, sizeof(detail)), ECO_DEP_UP);
    expect_contains(detail, "ok");
    eco_store_pg_probe_free(p);
    usleep(100 * 1000);
    assert_int_equal(probe_backends(f->conn, app), 0);

    char down[160];
    snprintf(down, sizeof(down), "postgresql://eco@127.0.0.1:%d/eco", closed_port());
    assert_int_equal(eco_store_pg_probe_new(&p, down, 1000, err, sizeof(err)), 0);
    assert_int_equal(eco_store_pg_ready_check(p, detail, sizeof(detail)), ECO_DEP_DOWN);
    assert_true(strlen(detail) > 0);
    eco_store_pg_probe_free(p);

    assert_int_equal(eco_store_pg_probe_new(&p, "postgresql://u:pw%zz@h/db", 1000, err, sizeof(err)), ECO_EINVAL);
    assert_null(p);
    assert_int_equal(eco_store_pg_probe_new(&p, url, 0, err, sizeof(err)), ECO_EINVAL);
    free(pid1);
    free(pid2);
    free(url);
}

int main(void)
{
    eco_log_init("store_pg", getenv("ECO_LOG_LEVEL") ? getenv("ECO_LOG_LEVEL") : "warn");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_query_helper, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_statement_timeout, setup, teardown),
        cmocka_unit_test(test_ping_up),
        cmocka_unit_test(test_ping_closed_port_is_down),
        cmocka_unit_test(test_ping_hung_server_times_out),
        cmocka_unit_test_setup_teardown(test_probe_keeps_and_repairs_its_connection, setup, teardown),
    };
    return cmocka_run_group_tests_name("store_pg", tests, NULL, NULL);
}
