/* Test-only fixture for the PostgreSQL tests (test_store_pg.c, test_store_migrate.c): reads
 * ECO_TEST_POSTGRES_URL and gives each test its own throwaway database. Not part of any library. */
#ifndef ECO_TEST_PG_FIXTURE_H
#define ECO_TEST_PG_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eco_store.h"

static inline const char *server_url(void)
{
    const char *u = getenv("ECO_TEST_POSTGRES_URL");
    if (!u || !*u)
        fail_msg("ECO_TEST_POSTGRES_URL is not set: this test needs a real PostgreSQL server "
                 "(e.g. postgresql://eco@127.0.0.1:55432/postgres, a role with CREATEDB)");
    return u;
}

static inline void add_kv(eco_buf_t *b, const char *k, const char *v)
{
    eco_buf_addf(b, "%s%s='", b->len ? " " : "", k);
    for (const char *p = v; *p; p++) {
        if (*p == '\'' || *p == '\\')
            eco_buf_addc(b, '\\');
        eco_buf_addc(b, *p);
    }
    eco_buf_addc(b, '\'');
}

/* The server URL rewritten as a conninfo string, with dbname and/or application_name replaced.
 * Caller frees. */
static inline char *conninfo_for(const char *dbname, const char *appname)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(server_url(), &perr);
    if (!opts)
        fail_msg("ECO_TEST_POSTGRES_URL does not parse");
    eco_buf_t b = ECO_BUF_INIT;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val || (dbname && !strcmp(o->keyword, "dbname")) ||
            (appname && !strcmp(o->keyword, "application_name")))
            continue;
        add_kv(&b, o->keyword, o->val);
    }
    PQconninfoFree(opts);
    if (dbname)
        add_kv(&b, "dbname", dbname);
    if (appname)
        add_kv(&b, "application_name", appname);
    return eco_buf_detach(&b, NULL);
}

static inline PGconn *connect_or_fail(const char *url)
{
    PGconn *c;
    char err[256] = "";
    if (eco_store_pg_connect(url, 5000, 30000, &c, err, sizeof(err)) != 0)
        fail_msg("cannot connect to the test server: %s", err);
    return c;
}

static inline void exec_ok(PGconn *c, const char *sql)
{
    eco_store_pg_error_t e;
    if (eco_store_pg_exec(c, sql, 0, NULL, NULL, &e) != 0)
        fail_msg("%s: %s (%s)", sql, e.message, e.sqlstate);
}

/* One value of a one-row query; caller frees. */
static inline char *query_value(PGconn *c, const char *sql, int n, const char *const *params)
{
    PGresult *r;
    eco_store_pg_error_t e;
    if (eco_store_pg_exec(c, sql, n, params, &r, &e) != 0)
        fail_msg("%s: %s (%s)", sql, e.message, e.sqlstate);
    if (PQntuples(r) != 1)
        fail_msg("%s: %d rows", sql, PQntuples(r));
    char *v = eco_strdup(PQgetisnull(r, 0, 0) ? "<null>" : PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static inline long query_long(PGconn *c, const char *sql, int n, const char *const *params)
{
    char *v = query_value(c, sql, n, params);
    long x = strtol(v, NULL, 10);
    free(v);
    return x;
}

/* A fresh database per test, dropped afterwards. */
typedef struct {
    char name[40];
    char *url; /* conninfo of the test database */
    PGconn *conn;
    char dir[64]; /* scratch migrations directory */
} fixture_t;

/* Without a server URL the setup leaves *state NULL and each test fails in fixture() with the
 * reason (a failed setup is reported by cmocka as an error, not as a failed test). */
static inline int setup(void **state)
{
    *state = NULL;
    const char *u = getenv("ECO_TEST_POSTGRES_URL");
    if (!u || !*u)
        return 0;
    fixture_t *f = eco_calloc(1, sizeof(*f));
    unsigned char rnd[6];
    eco_random_bytes(rnd, sizeof(rnd));
    snprintf(f->name, sizeof(f->name), "eco_test_%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
             rnd[5]);
    PGconn *admin = connect_or_fail(server_url());
    char sql[96];
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", f->name); /* generated hex name: safe identifier */
    exec_ok(admin, sql);
    PQfinish(admin);
    f->url = conninfo_for(f->name, NULL);
    f->conn = connect_or_fail(f->url);
    snprintf(f->dir, sizeof(f->dir), "/tmp/eco-migrations-XXXXXX");
    if (!mkdtemp(f->dir))
        fail_msg("mkdtemp failed");
    *state = f;
    return 0;
}

static inline int teardown(void **state)
{
    fixture_t *f = *state;
    if (!f)
        return 0;
    if (f->conn)
        PQfinish(f->conn);
    PGconn *admin = connect_or_fail(server_url());
    char sql[112];
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", f->name);
    exec_ok(admin, sql);
    PQfinish(admin);
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", f->dir);
    free(f->url);
    free(f);
    return 0;
}

static inline fixture_t *fixture(void **state)
{
    if (!*state)
        server_url(); /* fails the test with the reason */
    return *state;
}

static inline void expect_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle))
        fail_msg("\"%s\" does not mention \"%s\"", haystack, needle);
}

#endif
