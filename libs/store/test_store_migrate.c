/* Integration tests for the migrations runner and the api-gateway schema, against a real
 * PostgreSQL server. Needs ECO_TEST_POSTGRES_URL (a role allowed to CREATE DATABASE; each test
 * works in its own throwaway database) and runs from the repository root (or set
 * ECO_TEST_MIGRATIONS_DIR to services/api-gateway/migrations). */
#include <pthread.h>
#include <sys/stat.h>

#include "test_pg_fixture.h"

static const char *schema_dir(void)
{
    const char *d = getenv("ECO_TEST_MIGRATIONS_DIR");
    if (!d || !*d)
        d = "services/api-gateway/migrations";
    struct stat st;
    if (stat(d, &st) != 0 || !S_ISDIR(st.st_mode))
        fail_msg("migrations directory %s not found: run from the repository root or set ECO_TEST_MIGRATIONS_DIR", d);
    return d;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    if (!fp || fputs(text, fp) < 0 || fclose(fp) != 0)
        fail_msg("cannot write %s", path);
}

static long count_migrations(PGconn *c)
{
    return query_long(c, "SELECT count(*) FROM schema_migrations", 0, NULL);
}

static int table_exists(PGconn *c, const char *name)
{
    const char *params[] = {name};
    char *v = query_value(c, "SELECT to_regclass($1) IS NOT NULL", 1, params);
    int yes = !strcmp(v, "t");
    free(v);
    return yes;
}

/* ---------- migrations ---------- */

static const char *const all_tables[] = {
    "users",      "api_keys", "refresh_tokens", "platforms",          "ai_jobs",
    "job_events", "outbox",   "yaml_documents", "governance_records", "schema_migrations"};

static void test_migrate_schema_applies(void **state)
{
    fixture_t *f = fixture(state);
    char err[512] = "";
    int rc = eco_store_migrate(f->url, schema_dir(), err, sizeof(err));
    if (rc != 0)
        fail_msg("migrate failed (%d): %s", rc, err);
    for (size_t i = 0; i < ECO_ARRAY_SIZE(all_tables); i++)
        if (!table_exists(f->conn, all_tables[i]))
            fail_msg("table %s missing after migrate", all_tables[i]);
    assert_true(count_migrations(f->conn) >= 4);
    /* every row: version, the name from the file, a SHA-256 hex checksum */
    assert_int_equal(query_long(f->conn,
                                "SELECT count(*) FROM schema_migrations WHERE checksum ~ '^[0-9a-f]{64}$' "
                                "AND name <> '' AND applied_at <= now()",
                                0, NULL),
                     count_migrations(f->conn));
    char *name = query_value(f->conn, "SELECT name FROM schema_migrations WHERE version = 1", 0, NULL);
    assert_string_equal(name, "init");
    free(name);
}

static void test_migrate_reapply_is_noop(void **state)
{
    fixture_t *f = fixture(state);
    char err[512] = "";
    int applied = -1;
    assert_int_equal(eco_store_migrate_conn(f->conn, schema_dir(), &applied, err, sizeof(err)), 0);
    assert_true(applied >= 4);
    long n = count_migrations(f->conn);
    assert_int_equal(applied, n);
    char *before = query_value(f->conn,
                               "SELECT string_agg(version || ':' || applied_at, ',' ORDER BY version) "
                               "FROM schema_migrations",
                               0, NULL);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(eco_store_migrate_conn(f->conn, schema_dir(), &applied, err, sizeof(err)), 0);
        assert_int_equal(applied, 0);
    }
    assert_int_equal(eco_store_migrate(f->url, schema_dir(), err, sizeof(err)), 0);
    char *after = query_value(f->conn,
                              "SELECT string_agg(version || ':' || applied_at, ',' ORDER BY version) "
                              "FROM schema_migrations",
                              0, NULL);
    assert_string_equal(before, after);
    assert_int_equal(count_migrations(f->conn), n);
    /* the connection is left idle and the advisory lock released */
    assert_int_equal(PQtransactionStatus(f->conn), PQTRANS_IDLE);
    assert_int_equal(query_long(f->conn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'", 0, NULL), 0);
    free(before);
    free(after);
}

typedef struct {
    const char *url;
    const char *dir;
    pthread_barrier_t *start;
    int rc;
    int applied;
    char err[512];
} migrate_arg_t;

static void *migrate_thread(void *p)
{
    migrate_arg_t *a = p;
    PGconn *c;
    a->rc = eco_store_pg_connect(a->url, 5000, 0, &c, a->err, sizeof(a->err));
    pthread_barrier_wait(a->start);
    if (a->rc == 0) {
        a->rc = eco_store_migrate_conn(c, a->dir, &a->applied, a->err, sizeof(a->err));
        PQfinish(c);
    }
    return NULL;
}

static void run_concurrently(const char *url, const char *dir, migrate_arg_t *args, int n)
{
    pthread_t th[8];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) {
        args[i] = (migrate_arg_t){.url = url, .dir = dir, .start = &start};
        pthread_create(&th[i], NULL, migrate_thread, &args[i]);
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
}

static void test_migrate_concurrent(void **state)
{
    fixture_t *f = fixture(state);
    /* A slow first migration keeps the runs overlapping; without the lock the second run would
     * fail on "relation t1 already exists" or record version 1 twice. */
    write_file(f->dir, "0001_slow.sql", "CREATE TABLE t1 (id int);\nSELECT pg_sleep(0.5);\n");
    write_file(f->dir, "0002_next.sql", "CREATE TABLE t2 (id int);\nINSERT INTO t1 VALUES (1);\n");
    migrate_arg_t a[2];
    run_concurrently(f->url, f->dir, a, 2);
    for (int i = 0; i < 2; i++)
        if (a[i].rc != 0)
            fail_msg("run %d failed (%d): %s", i, a[i].rc, a[i].err);
    assert_int_equal(a[0].applied + a[1].applied, 2);
    assert_true(a[0].applied == 0 || a[1].applied == 0);
    assert_int_equal(count_migrations(f->conn), 2);
    assert_int_equal(query_long(f->conn, "SELECT count(*) FROM t1", 0, NULL), 1);

    /* the real schema from two threads */
    migrate_arg_t b[2];
    char *url2 = NULL;
    PGconn *admin = connect_or_fail(server_url());
    char sql[96];
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s_b", f->name);
    exec_ok(admin, sql);
    char name2[48];
    snprintf(name2, sizeof(name2), "%s_b", f->name);
    url2 = conninfo_for(name2, NULL);
    run_concurrently(url2, schema_dir(), b, 2);
    for (int i = 0; i < 2; i++)
        if (b[i].rc != 0)
            fail_msg("schema run %d failed (%d): %s", i, b[i].rc, b[i].err);
    assert_true(b[0].applied + b[1].applied >= 4);
    assert_true(b[0].applied == 0 || b[1].applied == 0);
    PGconn *c2 = connect_or_fail(url2);
    assert_int_equal(count_migrations(c2), b[0].applied + b[1].applied);
    PQfinish(c2);
    snprintf(sql, sizeof(sql), "DROP DATABASE %s_b WITH (FORCE)", f->name);
    exec_ok(admin, sql);
    PQfinish(admin);
    free(url2);
}

static void test_migrate_changed_checksum_rejected(void **state)
{
    fixture_t *f = fixture(state);
    char err[512] = "";
    write_file(f->dir, "0001_a.sql", "CREATE TABLE t1 (id int);\n");
    write_file(f->dir, "0002_b.sql", "CREATE TABLE t2 (id int);\n");
    assert_int_equal(eco_store_migrate(f->url, f->dir, err, sizeof(err)), 0);
    assert_int_equal(count_migrations(f->conn), 2);

    /* edit an applied file and add a new one: nothing at all is applied */
    write_file(f->dir, "0001_a.sql", "CREATE TABLE t1 (id int, extra text);\n");
    write_file(f->dir, "0003_c.sql", "CREATE TABLE t3 (id int);\n");
    int rc = eco_store_migrate(f->url, f->dir, err, sizeof(err));
    assert_int_equal(rc, ECO_STORE_EMIGRATE);
    expect_contains(err, "0001_a.sql");
    expect_contains(err, "changed");
    assert_false(table_exists(f->conn, "t3"));
    assert_int_equal(count_migrations(f->conn), 2);

    /* restoring the file lets the new migration through */
    write_file(f->dir, "0001_a.sql", "CREATE TABLE t1 (id int);\n");
    assert_int_equal(eco_store_migrate(f->url, f->dir, err, sizeof(err)), 0);
    assert_true(table_exists(f->conn, "t3"));
    assert_int_equal(count_migrations(f->conn), 3);
}

static void test_migrate_out_of_order_rejected(void **state)
{
    fixture_t *f = fixture(state);
    char err[512] = "";
    write_file(f->dir, "0001_a.sql", "CREATE TABLE t1 (id int);\n");
    write_file(f->dir, "0003_c.sql", "CREATE TABLE t3 (id int);\n");
    assert_int_equal(eco_store_migrate(f->url, f->dir, err, sizeof(err)), 0);
    write_file(f->dir, "0002_b.sql", "CREATE TABLE t2 (id int);\n");
    assert_int_equal(eco_store_migrate(f->url, f->dir, err, sizeof(err)), ECO_STORE_EMIGRATE);
    expect_contains(err, "0002_b.sql");
    assert_false(table_exists(f->conn, "t2"));
}

static void test_migrate_failure_rolls_back(void **state)
{
    fixture_t *f = fixture(state);
    char err[512] = "";
    write_file(f->dir, "0001_a.sql", "CREATE TABLE t1 (id int);\n");
    write_file(f->dir, "0002_b.sql", "CREATE TABLE t2 (id int);\n\nSELEC 1;\n");
    write_file(f->dir, "0003_c.sql", "CREATE TABLE t3 (id int);\n");
    int rc = eco_store_migrate(f->url, f->dir, err, sizeof(err));
    assert_int_equal(rc, ECO_STORE_EQUERY);
    expect_contains(err, "0002_b.sql");
    expect_contains(err, "line 3");
    expect_contains(err, "42601");
    /* 0001 stays applied; 0002's table is rolled back with it; 0003 never ran */
    assert_true(table_exists(f->conn, "t1"));
    assert_false(table_exists(f->conn, "t2"));
    assert_false(table_exists(f->conn, "t3"));
    assert_int_equal(count_migrations(f->conn), 1);
    assert_int_equal(query_long(f->conn, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'", 0, NULL), 0);
    /* the fixed file applies (a failed migration's checksum was never recorded) */
    write_file(f->dir, "0002_b.sql", "CREATE TABLE t2 (id int);\n\nSELECT 1;\n");
    assert_int_equal(eco_store_migrate(f->url, f->dir, err, sizeof(err)), 0);
    assert_int_equal(count_migrations(f->conn), 3);
}

static void test_migrate_rejects_transaction_control(void **state)
{
    fixture_t *f = fixture(state);
    char err[512] = "";
    write_file(f->dir, "0001_a.sql", "CREATE TABLE t1 (id int);\nCOMMIT;\n");
    assert_int_equal(eco_store_migrate(f->url, f->dir, err, sizeof(err)), ECO_STORE_EMIGRATE);
    expect_contains(err, "0001_a.sql");
    expect_contains(err, "transaction");
    assert_int_equal(count_migrations(f->conn), 0);
}

static void test_migrate_bad_directories(void **state)
{
    fixture_t *f = fixture(state);
    char err[512] = "";
    assert_int_equal(eco_store_migrate(f->url, "/nonexistent/eco-migrations", err, sizeof(err)), ECO_EINVAL);
    expect_contains(err, "/nonexistent/eco-migrations");

    write_file(f->dir, "README.md", "not a migration\n");
    write_file(f->dir, "001_short.sql", "SELECT 1;\n");
    assert_int_equal(eco_store_migrate(f->url, f->dir, err, sizeof(err)), ECO_STORE_EMIGRATE);
    expect_contains(err, "001_short.sql");

    char path[256];
    snprintf(path, sizeof(path), "%s/001_short.sql", f->dir);
    unlink(path);
    write_file(f->dir, "0001_a.sql", "SELECT 1;\n");
    write_file(f->dir, "00001_b.sql", "SELECT 1;\n");
    assert_int_equal(eco_store_migrate(f->url, f->dir, err, sizeof(err)), ECO_STORE_EMIGRATE);
    expect_contains(err, "same version");

    snprintf(path, sizeof(path), "%s/00001_b.sql", f->dir);
    unlink(path);
    write_file(f->dir, "0002_has space.sql", "SELECT 1;\n");
    assert_int_equal(eco_store_migrate(f->url, f->dir, err, sizeof(err)), ECO_STORE_EMIGRATE);
    snprintf(path, sizeof(path), "%s/0002_has space.sql", f->dir);
    unlink(path);
    /* only README.md and 0001_a.sql remain: the README is ignored */
    assert_int_equal(eco_store_migrate(f->url, f->dir, err, sizeof(err)), 0);
    assert_int_equal(count_migrations(f->conn), 1);
    /* a connection inside a transaction is refused */
    exec_ok(f->conn, "BEGIN");
    assert_int_equal(eco_store_migrate_conn(f->conn, f->dir, NULL, err, sizeof(err)), ECO_EINVAL);
    exec_ok(f->conn, "ROLLBACK");
}

/* ---------- the schema's rules ---------- */

static void expect_sql_error(PGconn *c, const char *sql, int n, const char *const *params, const char *sqlstate,
                             const char *constraint)
{
    eco_store_pg_error_t e;
    int rc = eco_store_pg_exec(c, sql, n, params, NULL, &e);
    if (rc != ECO_STORE_EQUERY)
        fail_msg("%s: expected a server error, got %d", sql, rc);
    if (strcmp(e.sqlstate, sqlstate) != 0)
        fail_msg("%s: SQLSTATE %s (%s), expected %s", sql, e.sqlstate, e.message, sqlstate);
    if (constraint && strcmp(e.constraint, constraint) != 0)
        fail_msg("%s: constraint \"%s\", expected %s", sql, e.constraint, constraint);
}

static void test_schema_rules(void **state)
{
    fixture_t *f = fixture(state);
    char err[512] = "";
    assert_int_equal(eco_store_migrate(f->url, schema_dir(), err, sizeof(err)), 0);
    PGconn *c = f->conn;

    const char *u1[] = {"Alice@Example.com", "$argon2id$v=19$m=65536,t=3,p=1$x$y", "admin"};
    char *uid =
        query_value(c, "INSERT INTO users (email, password_hash, role) VALUES ($1, $2, $3) RETURNING id", 3, u1);
    assert_int_equal(strlen(uid), 36);
    /* emails are unique regardless of case; the error carries no row values */
    const char *u2[] = {"alice@example.COM", "$argon2id$x"};
    eco_store_pg_error_t e;
    assert_int_equal(eco_store_pg_exec(c, "INSERT INTO users (email, password_hash) VALUES ($1, $2)", 2, u2, NULL, &e),
                     ECO_STORE_EQUERY);
    assert_string_equal(e.sqlstate, "23505");
    assert_string_equal(e.constraint, "users_email_lower_key");
    assert_null(strstr(e.message, "alice"));
    const char *u3[] = {"bob@example.com", "$argon2id$x", "root"};
    expect_sql_error(c, "INSERT INTO users (email, password_hash, role) VALUES ($1, $2, $3)", 3, u3, "23514", NULL);
    /* default role for self sign-up */
    const char *u4[] = {"carol@example.com", "$argon2id$x"};
    char *role = query_value(c, "INSERT INTO users (email, password_hash) VALUES ($1, $2) RETURNING role", 2, u4);
    assert_string_equal(role, "viewer");
    free(role);

    /* API keys: the secret's SHA-256 as a binary parameter, looked up the same way */
    unsigned char digest[32];
    eco_random_bytes(digest, sizeof(digest));
    const char *k[] = {uid, "ci", "eco_ab12", (const char *)digest, "developer"};
    int klen[] = {0, 0, 0, 32, 0};
    int kfmt[] = {0, 0, 0, 1, 0};
    assert_int_equal(eco_store_pg_query(c,
                                        "INSERT INTO api_keys (owner_id, name, prefix, secret_sha256, role) "
                                        "VALUES ($1, $2, $3, $4, $5)",
                                        5, k, klen, kfmt, NULL, &e),
                     0);
    const char *look[] = {(const char *)digest};
    int llen[] = {32}, lfmt[] = {1};
    PGresult *r;
    assert_int_equal(eco_store_pg_query(c, "SELECT role, rpm_limit FROM api_keys WHERE secret_sha256 = $1", 1, look,
                                        llen, lfmt, &r, &e),
                     0);
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, 0), "developer");
    assert_true(PQgetisnull(r, 0, 1));
    PQclear(r);
    expect_sql_error(c,
                     "INSERT INTO api_keys (owner_id, name, prefix, secret_sha256, role) VALUES ($1, 'x', 'eco_x', "
                     "'\\x00', 'viewer')",
                     1, (const char *[]){uid}, "23514", NULL);

    /* refresh tokens: a token rotates at most once */
    char *t1 = query_value(c,
                           "INSERT INTO refresh_tokens (user_id, token_sha256, family_id, expires_at) "
                           "VALUES ($1, sha256('a'), gen_random_uuid(), now() + interval '1 day') RETURNING id",
                           1, (const char *[]){uid});
    const char *rot[] = {uid, t1};
    exec_ok(c, "SELECT 1");
    assert_int_equal(eco_store_pg_exec(c,
                                       "INSERT INTO refresh_tokens (user_id, token_sha256, parent_id, family_id, "
                                       "expires_at) SELECT $1, sha256('b'), id, family_id, expires_at FROM "
                                       "refresh_tokens WHERE id = $2",
                                       2, rot, NULL, &e),
                     0);
    expect_sql_error(c,
                     "INSERT INTO refresh_tokens (user_id, token_sha256, parent_id, family_id, expires_at) "
                     "SELECT $1, sha256('c'), id, family_id, expires_at FROM refresh_tokens WHERE id = $2",
                     2, rot, "23505", "refresh_tokens_parent_key");
    /* sweeping the (expired) parent keeps its rotated child */
    const char *t1p[] = {t1};
    assert_int_equal(eco_store_pg_exec(c, "DELETE FROM refresh_tokens WHERE id = $1", 1, t1p, NULL, &e), 0);
    assert_int_equal(query_long(c,
                                "SELECT count(*) FROM refresh_tokens WHERE parent_id IS NULL AND "
                                "token_sha256 = sha256('b')",
                                0, NULL),
                     1);
    free(t1);

    /* the job state machine */
    const char *j[] = {uid, "llama-3-8b", "{\"messages\":[]}"};
    char *job = query_value(c, "INSERT INTO ai_jobs (owner_id, model, request) VALUES ($1, $2, $3) RETURNING id", 3, j);
    const char *jid[] = {job};
    char *st = query_value(c, "SELECT status || '/' || priority FROM ai_jobs WHERE id = $1", 1, jid);
    assert_string_equal(st, "queued/normal");
    free(st);
    expect_sql_error(c, "UPDATE ai_jobs SET status = 'succeeded', finished_at = now(), result = '{}' WHERE id = $1", 1,
                     jid, "23514", "ai_jobs_status_transition");
    expect_sql_error(c, "UPDATE ai_jobs SET status = 'bogus' WHERE id = $1", 1, jid, "23514", NULL);
    /* a final state needs finished_at */
    expect_sql_error(c, "UPDATE ai_jobs SET status = 'cancelled' WHERE id = $1", 1, jid, "23514",
                     "ai_jobs_finished_when_final");
    exec_ok(c, "SELECT 1");
    assert_int_equal(eco_store_pg_exec(c,
                                       "UPDATE ai_jobs SET status = 'running', started_at = now(), "
                                       "attempts = attempts + 1 WHERE id = $1",
                                       1, jid, NULL, &e),
                     0);
    assert_int_equal(eco_store_pg_exec(c,
                                       "UPDATE ai_jobs SET status = 'succeeded', finished_at = now(), "
                                       "result = '{\"text\":\"hi\"}' WHERE id = $1",
                                       1, jid, NULL, &e),
                     0);
    expect_sql_error(c, "UPDATE ai_jobs SET status = 'failed' WHERE id = $1", 1, jid, "23514",
                     "ai_jobs_status_transition");
    /* non-status updates of a finished job are allowed, and touch updated_at */
    assert_int_equal(eco_store_pg_exec(c, "UPDATE ai_jobs SET error = NULL WHERE id = $1", 1, jid, NULL, &e), 0);

    /* job events apply idempotently */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(eco_store_pg_exec(c,
                                           "INSERT INTO job_events (job_id, seq, type, payload) VALUES "
                                           "($1, 1, 'started', '{}') ON CONFLICT (job_id, seq) DO NOTHING",
                                           1, jid, &r, &e),
                         0);
        assert_string_equal(PQcmdTuples(r), i == 0 ? "1" : "0");
        PQclear(r);
    }

    /* outbox rows start unpublished */
    const char *ob[] = {"eco.jobs.requested.normal", job, "\\x0a0b"};
    assert_int_equal(
        eco_store_pg_exec(c, "INSERT INTO outbox (topic, key, payload) VALUES ($1, $2, $3)", 3, ob, NULL, &e), 0);
    assert_int_equal(query_long(c, "SELECT count(*) FROM outbox WHERE published_at IS NULL", 0, NULL), 1);

    /* platforms: slug rules and unique urn */
    const char *p1[] = {"my-platform", "My platform", "eco-base://platform/module/my-platform",
                        "urn:eco-base:platform:module:my-platform:1"};
    assert_int_equal(
        eco_store_pg_exec(c, "INSERT INTO platforms (slug, name, uri, urn) VALUES ($1, $2, $3, $4)", 4, p1, NULL, &e),
        0);
    const char *p2[] = {"Bad_Slug", "x", "eco-base://x", "urn:eco-base:x"};
    expect_sql_error(c, "INSERT INTO platforms (slug, name, uri, urn) VALUES ($1, $2, $3, $4)", 4, p2, "23514", NULL);

    /* the audit trail is append-only */
    exec_ok(c, "INSERT INTO governance_records (actor, action, target_type, target_id, outcome) "
               "VALUES ('system:test', 'user.create', 'user', 'x', 'success')");
    expect_sql_error(c, "UPDATE governance_records SET outcome = 'failure'", 0, NULL, "42501",
                     "governance_records_append_only");
    expect_sql_error(c, "DELETE FROM governance_records", 0, NULL, "42501", "governance_records_append_only");
    free(job);
    free(uid);
}

int main(void)
{
    eco_log_init("store_migrate", getenv("ECO_LOG_LEVEL") ? getenv("ECO_LOG_LEVEL") : "warn");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_migrate_schema_applies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_reapply_is_noop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_changed_checksum_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_out_of_order_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_failure_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_rejects_transaction_control, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_bad_directories, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_rules, setup, teardown),
    };
    return cmocka_run_group_tests_name("store_migrate", tests, NULL, NULL);
}
