/* The outbox relay: claims pending outbox rows in id order (FOR UPDATE SKIP LOCKED, so replicas
 * share the work without publishing a row twice at once), produces each to its topic with its key
 * and headers, waits for the delivery reports, and in the same transaction marks the
 * acknowledged rows published and records the failure of the others (attempts, last_error). A
 * row is marked only after Kafka acknowledged it: a crash in between publishes it again
 * (at-least-once; consumers apply by (job_id, seq)). */
#include "poller.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS      32
#define BACKLOG_EVERY_MS 1000
#define REPORT_MARGIN_MS 5000

static const char *const SQL_CLAIM = "SELECT id, topic, key, payload, headers::text FROM outbox "
                                     "WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED";
static const char *const SQL_PUBLISHED = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])";
static const char *const SQL_FAILED = "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1";
static const char *const SQL_BACKLOG = "SELECT count(*) FROM outbox WHERE published_at IS NULL";

static int simple(PGconn *c, const char *sql)
{
    eco_store_pg_error_t e;
    int rc = eco_store_pg_exec(c, sql, 0, NULL, NULL, &e);
    if (rc)
        eco_warn("outbox relay: statement failed", ECO_KS("sql", sql), ECO_KS("sqlstate", e.sqlstate),
                 ECO_KS("error", e.message));
    return rc;
}

/* Kafka headers from the row's headers object: string values only (borrowed from root). */
static size_t row_headers(json_t *root, eco_store_kafka_header_t *h, size_t max)
{
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v)
    {
        if (n >= max)
            break;
        if (!json_is_string(v))
            continue;
        h[n++] = (eco_store_kafka_header_t){k, json_string_value(v), json_string_length(v)};
    }
    return n;
}

/* One batch. Returns the number of rows claimed (>= 0) with *failures set, or a negative code
 * when PostgreSQL failed (ECO_STORE_ECONN: reconnect). */
static int relay_batch(poller_t *p, PGconn *c, int *failures)
{
    *failures = 0;
    int rc = simple(c, "BEGIN");
    if (rc)
        return rc;
    char limit[24];
    snprintf(limit, sizeof(limit), "%ld", p->s.outbox_batch);
    const char *params[] = {limit};
    PGresult *res = NULL;
    eco_store_pg_error_t e = {0};
    rc = eco_store_pg_exec(c, SQL_CLAIM, 1, params, &res, &e);
    if (rc) {
        eco_warn("outbox relay: claiming rows failed", ECO_KS("sqlstate", e.sqlstate), ECO_KS("error", e.message));
        if (rc != ECO_STORE_ECONN)
            simple(c, "ROLLBACK");
        return rc;
    }
    int n = PQntuples(res);
    if (n == 0) {
        PQclear(res);
        rc = simple(c, "COMMIT");
        return rc ? rc : 0;
    }
    poller_delivery_t **d = eco_calloc((size_t)n, sizeof(*d));
    int *status = eco_calloc((size_t)n, sizeof(*status));
    char(*errs)[160] = eco_calloc((size_t)n, sizeof(*errs));
    for (int i = 0; i < n; i++) {
        const char *topic = PQgetvalue(res, i, 1);
        const char *key = PQgetisnull(res, i, 2) ? NULL : PQgetvalue(res, i, 2);
        size_t vlen = 0;
        unsigned char *value = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 3), &vlen);
        if (!value)
            eco_fatal("out of memory decoding an outbox payload");
        json_t *hroot = json_loads(PQgetvalue(res, i, 4), 0, NULL);
        eco_store_kafka_header_t h[MAX_HEADERS];
        size_t nh = hroot ? row_headers(hroot, h, MAX_HEADERS) : 0;
        d[i] = eco_calloc(1, sizeof(*d[i]));
        atomic_init(&d[i]->state, DELIVERY_PENDING);
        status[i] = eco_store_kafka_produce(p->producer, topic, key, key ? strlen(key) : 0, value, vlen, h, nh, d[i],
                                            errs[i], sizeof(errs[i]));
        if (status[i] != 0) { /* not queued: no report will come */
            free(d[i]);
            d[i] = NULL;
        }
        PQfreemem(value);
        json_decref(hroot);
    }
    poller_wait_deliveries(p, d, (size_t)n, eco_now_ms() + (uint64_t)p->s.delivery_timeout_ms + REPORT_MARGIN_MS,
                           status, errs);
    /* wait_deliveries overwrote status only for queued messages; the others kept their codes */

    eco_buf_t ids;
    eco_buf_init(&ids, 0);
    eco_buf_addc(&ids, '{');
    int ok = 0;
    for (int i = 0; i < n; i++) {
        if (status[i] != 0)
            continue;
        eco_buf_addf(&ids, "%s%s", ok ? "," : "", PQgetvalue(res, i, 0));
        ok++;
    }
    eco_buf_addc(&ids, '}');
    rc = 0;
    if (ok) {
        const char *pp[] = {eco_buf_cstr(&ids)};
        rc = eco_store_pg_exec(c, SQL_PUBLISHED, 1, pp, NULL, &e);
    }
    for (int i = 0; rc == 0 && i < n; i++) {
        if (status[i] == 0)
            continue;
        (*failures)++;
        eco_warn("outbox row not published", ECO_KS("id", PQgetvalue(res, i, 0)),
                 ECO_KS("topic", PQgetvalue(res, i, 1)), ECO_KS("error", errs[i]));
        const char *pp[] = {PQgetvalue(res, i, 0), errs[i][0] ? errs[i] : "publish failed"};
        rc = eco_store_pg_exec(c, SQL_FAILED, 2, pp, NULL, &e);
    }
    if (rc == 0)
        rc = simple(c, "COMMIT");
    else if (rc != ECO_STORE_ECONN)
        simple(c, "ROLLBACK");
    if (rc) {
        /* Delivered rows stay pending and will be published again (at-least-once). */
        eco_warn("outbox relay: recording the batch failed", ECO_KS("sqlstate", e.sqlstate), ECO_KS("error", e.message),
                 ECO_KI("delivered", ok));
    } else {
        eco_metrics_add(p->m.published, (double)ok);
        eco_metrics_add(p->m.publish_errors, (double)*failures);
        if (ok)
            eco_debug("outbox rows published", ECO_KI("rows", ok));
    }
    eco_buf_free(&ids);
    free(d);
    free(status);
    free(errs);
    PQclear(res);
    return rc ? rc : n;
}

static int refresh_backlog(poller_t *p, PGconn *c)
{
    PGresult *res = NULL;
    eco_store_pg_error_t e;
    int rc = eco_store_pg_exec(c, SQL_BACKLOG, 0, NULL, &res, &e);
    if (rc)
        return rc;
    eco_metrics_set(p->m.backlog, strtod(PQgetvalue(res, 0, 0), NULL));
    PQclear(res);
    return 0;
}

void *poller_relay_main(void *arg)
{
    poller_t *p = arg;
    PGconn *c = NULL;
    uint64_t next_backlog = 0;
    eco_info("outbox relay started", ECO_KI("batch", p->s.outbox_batch), ECO_KI("poll_ms", p->s.outbox_poll_ms));
    while (!atomic_load(&p->stop)) {
        if (!c && !(c = poller_pg_connect(p, "outbox-relay")))
            break;
        int failures = 0;
        int n = relay_batch(p, c, &failures);
        if (n >= 0 && (n > 0 || eco_now_ms() >= next_backlog)) {
            if (refresh_backlog(p, c) == ECO_STORE_ECONN)
                n = ECO_STORE_ECONN;
            next_backlog = eco_now_ms() + BACKLOG_EVERY_MS;
        }
        if (n == ECO_STORE_ECONN) {
            PQfinish(c);
            c = NULL;
        }
        /* A full batch without failures: more may be waiting, go on at once. */
        if (n < p->s.outbox_batch || failures || n < 0)
            poller_sleep(p, p->s.outbox_poll_ms);
    }
    if (c)
        PQfinish(c);
    eco_info("outbox relay stopped");
    return NULL;
}
