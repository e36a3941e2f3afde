/* Readiness checks for PostgreSQL, Redis and Kafka. Each runs on its own checker thread and
 * keeps one connection per thread, reconnecting when it breaks. */
#include "eco_deps.h"

#include <hiredis.h>
#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <stdlib.h>
#include <string.h>

/* Copies the first line of a libpq message (no trailing newline). */
static void first_line(char *out, size_t len, const char *msg)
{
    snprintf(out, len, "%s", msg ? msg : "");
    char *nl = strchr(out, '\n');
    if (nl)
        *nl = '\0';
}

eco_dep_state_t eco_deps_check_postgres(void *url, char *detail, size_t len)
{
    static __thread PGconn *conn;
    if (conn && PQstatus(conn) != CONNECTION_OK) {
        PQfinish(conn);
        conn = NULL;
    }
    if (!conn) {
        const char *keys[] = {"dbname", "connect_timeout", "options", "application_name", NULL};
        const char *vals[] = {url, "1", "-c statement_timeout=1000", "eco-readiness", NULL};
        conn = PQconnectdbParams(keys, vals, 1);
        if (PQstatus(conn) != CONNECTION_OK) {
            first_line(detail, len, PQerrorMessage(conn));
            PQfinish(conn);
            conn = NULL;
            return ECO_DEP_DOWN;
        }
    }
    PGresult *r = PQexec(conn, "SELECT 1");
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        first_line(detail, len, PQerrorMessage(conn));
    else
        snprintf(detail, len, "SELECT 1 ok");
    PQclear(r);
    if (!ok) {
        PQfinish(conn);
        conn = NULL;
    }
    return ok ? ECO_DEP_UP : ECO_DEP_DOWN;
}

/* Parses redis://[[user]:password@]host[:port][/db]. Returns 0 or -1. */
static int parse_redis_url(const char *url, char *host, size_t hlen, int *port, char *pass, size_t plen, int *db)
{
    if (strncmp(url, "redis://", 8) != 0)
        return -1;
    const char *p = url + 8;
    pass[0] = '\0';
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon)
            snprintf(pass, plen, "%.*s", (int)(at - colon - 1), colon + 1);
        p = at + 1;
    }
    size_t n = strcspn(p, ":/");
    if (n == 0 || n >= hlen)
        return -1;
    memcpy(host, p, n);
    host[n] = '\0';
    p += n;
    *port = 6379;
    *db = 0;
    if (*p == ':') {
        *port = atoi(p + 1);
        p += 1 + strspn(p + 1, "0123456789");
    }
    if (*p == '/')
        *db = atoi(p + 1);
    return *port > 0 && *port < 65536 ? 0 : -1;
}

eco_dep_state_t eco_deps_check_redis(void *url, char *detail, size_t len)
{
    static __thread redisContext *c;
    char host[256], pass[256];
    int port, db;
    if (parse_redis_url(url, host, sizeof(host), &port, pass, sizeof(pass), &db) != 0) {
        snprintf(detail, len, "invalid redis URL");
        return ECO_DEP_DOWN;
    }
    if (!c) {
        struct timeval tv = {0, 500000};
        c = redisConnectWithTimeout(host, port, tv);
        if (!c || c->err) {
            snprintf(detail, len, "%s", c ? c->errstr : "cannot allocate redis context");
            redisFree(c);
            c = NULL;
            return ECO_DEP_DOWN;
        }
        struct timeval rw = {1, 0};
        redisSetTimeout(c, rw);
        if (pass[0]) {
            redisReply *r = redisCommand(c, "AUTH %s", pass);
            freeReplyObject(r);
        }
    }
    redisReply *r = redisCommand(c, "PING");
    int ok = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    if (ok)
        snprintf(detail, len, "PONG");
    else
        snprintf(detail, len, "%s", c->err ? c->errstr : (r && r->type == REDIS_REPLY_ERROR ? r->str : "no PONG"));
    freeReplyObject(r);
    if (!ok) {
        redisFree(c);
        c = NULL;
    }
    return ok ? ECO_DEP_UP : ECO_DEP_DOWN;
}

static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    eco_debug("librdkafka", ECO_KS("facility", fac), ECO_KS("message", buf));
}

eco_dep_state_t eco_deps_check_kafka(void *brokers, char *detail, size_t len)
{
    static __thread rd_kafka_t *rk;
    if (!rk) {
        char err[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "reconnect.backoff.ms", "100", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "reconnect.backoff.max.ms", "1000", err, sizeof(err)) != RD_KAFKA_CONF_OK ||
            rd_kafka_conf_set(conf, "socket.connection.setup.timeout.ms", "1000", err, sizeof(err)) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            snprintf(detail, len, "%s", err);
            return ECO_DEP_DOWN;
        }
        rd_kafka_conf_set_log_cb(conf, kafka_log);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        if (!rk) {
            rd_kafka_conf_destroy(conf);
            snprintf(detail, len, "%s", err);
            return ECO_DEP_DOWN;
        }
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, NULL, &md, 1000);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(detail, len, "metadata: %s", rd_kafka_err2str(e));
        return ECO_DEP_DOWN;
    }
    snprintf(detail, len, "%d broker(s)", md->broker_cnt);
    int up = md->broker_cnt > 0;
    rd_kafka_metadata_destroy(md);
    return up ? ECO_DEP_UP : ECO_DEP_DOWN;
}
