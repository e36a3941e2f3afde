/* PostgreSQL: bounded connect, parameterised queries with SQLSTATE, and the readiness probe. */
#include "eco_store.h"
#include "store_internal.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct eco_store_pg_probe {
    char *url;
    int timeout_ms;
    PGconn *conn; /* kept between runs; NULL after a failure */
};

static void notice_to_log(void *arg, const char *message)
{
    char line[256];
    eco__store_first_line(line, sizeof(line), message);
    eco_debug("postgres notice", ECO_KS("notice", line));
}

/* PQconninfoParse's own message may quote part of the URL (which can hold a password). */
static int check_url(const char *url, char *err, size_t errlen)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &perr);
    if (!opts) {
        if (perr)
            PQfreemem(perr);
        eco__store_seterr(err, errlen, "invalid PostgreSQL URL or conninfo string");
        return ECO_EINVAL;
    }
    PQconninfoFree(opts);
    return 0;
}

int eco_store_pg_connect(const char *url, int timeout_ms, long statement_timeout_ms, PGconn **out, char *err,
                         size_t errlen)
{
    *out = NULL;
    if (!url || timeout_ms <= 0 || statement_timeout_ms < 0) {
        eco__store_seterr(err, errlen, "invalid arguments");
        return ECO_EINVAL;
    }
    int rc = check_url(url, err, errlen);
    if (rc)
        return rc;

    uint64_t deadline = eco_now_ms() + (uint64_t)timeout_ms;
    /* Defaults first and the URL after it, so settings in the URL win. */
    const char *kw[] = {"application_name", "keepalives",       "keepalives_idle", "keepalives_interval",
                        "keepalives_count", "tcp_user_timeout", "dbname",          NULL};
    const char *val[] = {"eco-base", "1", "15", "5", "3", "30000", url, NULL};
    PGconn *c = PQconnectStartParams(kw, val, 1);
    if (!c)
        eco_fatal("out of memory starting a PostgreSQL connection");

    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    if (PQstatus(c) == CONNECTION_BAD)
        st = PGRES_POLLING_FAILED;
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED) {
            char line[200];
            eco__store_first_line(line, sizeof(line), PQerrorMessage(c));
            eco__store_seterr(err, errlen, "connect failed: %s", line);
            PQfinish(c);
            return ECO_STORE_ECONN;
        }
        if (st == PGRES_POLLING_READING || st == PGRES_POLLING_WRITING) {
            /* The socket can change between steps (next host, SSL retry): ask every time. */
            int w = eco__store_wait_fd(PQsocket(c), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
            if (w <= 0) {
                eco__store_seterr(err, errlen, w == 0 ? "connect timed out after %d ms" : "connect failed: poll error",
                                  timeout_ms);
                PQfinish(c);
                return w == 0 ? ECO_ETIMEDOUT : ECO_EIO;
            }
        }
        st = PQconnectPoll(c);
    }
    PQsetNoticeProcessor(c, notice_to_log, NULL);

    if (statement_timeout_ms > 0) {
        char ms[24];
        snprintf(ms, sizeof(ms), "%ld", statement_timeout_ms);
        const char *params[] = {ms};
        eco_store_pg_error_t e;
        rc = eco_store_pg_exec(c, "SELECT set_config('statement_timeout', $1, false)", 1, params, NULL, &e);
        if (rc) {
            eco__store_seterr(err, errlen, "setting statement_timeout failed: %s", e.message);
            PQfinish(c);
            return rc;
        }
    }
    *out = c;
    return 0;
}

static void fill_error(eco_store_pg_error_t *e, const PGresult *r, PGconn *conn)
{
    if (!e)
        return;
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(e->sqlstate, sizeof(e->sqlstate), "%s", s ? s : "");
    s = r ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : NULL;
    snprintf(e->constraint, sizeof(e->constraint), "%s", s ? s : "");
    s = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!s && r && PQresultStatus(r) != PGRES_FATAL_ERROR && PQresultStatus(r) != PGRES_NONFATAL_ERROR)
        s = PQresStatus(PQresultStatus(r));
    if (!s)
        s = PQerrorMessage(conn);
    eco__store_first_line(e->message, sizeof(e->message), s);
}

int eco_store_pg_query(PGconn *conn, const char *sql, int nparams, const char *const *values, const int *lengths,
                       const int *formats, PGresult **res, eco_store_pg_error_t *e)
{
    if (res)
        *res = NULL;
    if (e)
        memset(e, 0, sizeof(*e));
    if (!conn || !sql || nparams < 0 || nparams > ECO_STORE_PG_MAX_PARAMS || (nparams > 0 && !values)) {
        if (e)
            snprintf(e->message, sizeof(e->message), "invalid arguments");
        return ECO_EINVAL;
    }
    if (formats)
        for (int i = 0; i < nparams; i++)
            if (formats[i] && values[i] && (!lengths || lengths[i] < 0)) {
                if (e)
                    snprintf(e->message, sizeof(e->message), "binary parameter $%d needs a length", i + 1);
                return ECO_EINVAL;
            }
    PGresult *r = PQexecParams(conn, sql, nparams, NULL, values, lengths, formats, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (res)
            *res = r;
        else
            PQclear(r);
        return 0;
    }
    fill_error(e, r, conn);
    PQclear(r);
    return PQstatus(conn) == CONNECTION_BAD ? ECO_STORE_ECONN : ECO_STORE_EQUERY;
}

int eco_store_pg_retryable(const eco_store_pg_error_t *e)
{
    return e && (!strcmp(e->sqlstate, "40001") || !strcmp(e->sqlstate, "40P01"));
}

/* ---------- probe ---------- */

/* SELECT 1 bounded by deadline; on any failure the connection must be dropped. */
static int select_one(PGconn *c, uint64_t deadline, char *err, size_t errlen)
{
    char line[200];
    if (PQstatus(c) != CONNECTION_OK || !PQsendQuery(c, "SELECT 1")) {
        eco__store_first_line(line, sizeof(line), PQerrorMessage(c));
        eco__store_seterr(err, errlen, "query failed: %s", line);
        return ECO_STORE_ECONN;
    }
    int rc = 0, rows = 0;
    for (;;) {
        while (PQisBusy(c)) {
            int w = eco__store_wait_fd(PQsocket(c), POLLIN, deadline);
            if (w <= 0) {
                eco__store_seterr(err, errlen, w == 0 ? "SELECT 1 timed out" : "poll error");
                return w == 0 ? ECO_ETIMEDOUT : ECO_EIO;
            }
            if (!PQconsumeInput(c)) {
                eco__store_first_line(line, sizeof(line), PQerrorMessage(c));
                eco__store_seterr(err, errlen, "query failed: %s", line);
                return ECO_STORE_ECONN;
            }
        }
        PGresult *r = PQgetResult(c);
        if (!r)
            break;
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !strcmp(PQgetvalue(r, 0, 0), "1")) {
            rows++;
        } else if (rc == 0) {
            const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
            eco__store_first_line(line, sizeof(line), m ? m : PQresStatus(PQresultStatus(r)));
            eco__store_seterr(err, errlen, "SELECT 1 failed: %s", line);
            rc = ECO_STORE_EQUERY;
        }
        PQclear(r);
    }
    if (rc == 0 && rows != 1) {
        eco__store_seterr(err, errlen, "SELECT 1 returned no row");
        rc = ECO_STORE_EPROTO;
    }
    return rc;
}

int eco_store_pg_probe_new(eco_store_pg_probe_t **out, const char *url, int timeout_ms, char *err, size_t errlen)
{
    *out = NULL;
    if (!url || timeout_ms <= 0) {
        eco__store_seterr(err, errlen, "invalid arguments");
        return ECO_EINVAL;
    }
    int rc = check_url(url, err, errlen);
    if (rc)
        return rc;
    eco_store_pg_probe_t *p = eco_calloc(1, sizeof(*p));
    p->url = eco_strdup(url);
    p->timeout_ms = timeout_ms;
    *out = p;
    return 0;
}

int eco_store_pg_probe_run(eco_store_pg_probe_t *p, char *err, size_t errlen)
{
    uint64_t deadline = eco_now_ms() + (uint64_t)p->timeout_ms;
    if (p->conn) {
        int rc = select_one(p->conn, deadline, err, errlen);
        if (rc == 0)
            return 0;
        PQfinish(p->conn);
        p->conn = NULL;
        /* A hung server used the whole budget; a dropped connection gets one fresh attempt. */
        if (rc == ECO_ETIMEDOUT || eco__store_remaining_ms(deadline) == 0)
            return rc;
    }
    int left = eco__store_remaining_ms(deadline);
    PGconn *c;
    int rc = eco_store_pg_connect(p->url, left > 0 ? left : 1, 0, &c, err, errlen);
    if (rc)
        return rc;
    rc = select_one(c, deadline, err, errlen);
    if (rc) {
        PQfinish(c);
        return rc;
    }
    p->conn = c;
    return 0;
}

void eco_store_pg_probe_free(eco_store_pg_probe_t *p)
{
    if (!p)
        return;
    if (p->conn)
        PQfinish(p->conn);
    free(p->url);
    free(p);
}

eco_dep_state_t eco_store_pg_ready_check(void *probe, char *detail, size_t detail_len)
{
    uint64_t t0 = eco_now_ms();
    if (eco_store_pg_probe_run(probe, detail, detail_len) != 0)
        return ECO_DEP_DOWN;
    eco__store_seterr(detail, detail_len, "ok in %llu ms", (unsigned long long)(eco_now_ms() - t0));
    return ECO_DEP_UP;
}

int eco_store_pg_ping(const char *url, int timeout_ms, char *err, size_t errlen)
{
    eco_store_pg_probe_t *p;
    int rc = eco_store_pg_probe_new(&p, url, timeout_ms, err, errlen);
    if (rc)
        return rc;
    rc = eco_store_pg_probe_run(p, err, errlen);
    eco_store_pg_probe_free(p);
    return rc;
}
