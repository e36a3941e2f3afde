/*
 * eco_store: PostgreSQL, Redis and Kafka for eco-base services.
 *   - dependency probes for readiness checks (blocking, bounded by a timeout, persistent
 *     connection or handle reused between runs, reconnecting when it breaks),
 *   - the PostgreSQL migrations runner (`api-gateway --migrate`),
 *   - blocking PostgreSQL helpers: bounded connect, parameterised queries with SQLSTATE,
 *   - a Kafka idempotent producer and a manual-commit consumer.
 *
 * Error convention: 0 on success, a negative code (ECO_E* from eco_core.h or ECO_STORE_E*
 * below) on failure, with a short reason written to `err` (at most errlen - 1 bytes, always
 * NUL-terminated when errlen > 0). Reasons never contain passwords or connection URLs.
 *
 * The blocking calls here suit start-up, tools, background threads and the readiness checker;
 * request paths on an event loop need the asynchronous clients (not in this header yet).
 * hiredis writes with write(2): a process using the Redis probe must ignore SIGPIPE
 * (eco_lifecycle_init() does).
 */
#ifndef ECO_STORE_H
#define ECO_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "eco_core.h"

/* ---------- error codes ---------- */

enum {
    ECO_STORE_ECONN = -1101,    /* cannot connect, or the connection broke */
    ECO_STORE_EQUERY = -1102,   /* the server rejected a command (SQLSTATE / reply in err) */
    ECO_STORE_EPROTO = -1103,   /* unexpected reply from the server */
    ECO_STORE_EAUTH = -1104,    /* authentication rejected */
    ECO_STORE_EMIGRATE = -1105, /* migrations directory or history is inconsistent */
    ECO_STORE_EFATAL = -1106,   /* Kafka fatal error: destroy the producer and create a new one */
};

/* A static description of a code (ECO_E* or ECO_STORE_E*). */
const char *eco_store_strerror(int code);

/* ---------- readiness probes ----------
 * A probe owns one connection (PostgreSQL, Redis) or one client handle (Kafka) that it reuses
 * across runs, so a check every second does not reconnect every second. A run that finds the
 * connection broken drops it and reconnects within the same timeout. A probe is not
 * thread-safe: give each checker thread its own. run() returns 0 when the dependency answered
 * within the probe's timeout, else a negative code with the reason in err. */

typedef struct eco_store_pg_probe eco_store_pg_probe_t;
typedef struct eco_store_redis_probe eco_store_redis_probe_t;
typedef struct eco_store_kafka_probe eco_store_kafka_probe_t;

/* url: a libpq URL or conninfo string (copied). timeout_ms bounds each run (connect + SELECT 1).
 * Fails with ECO_EINVAL when the URL does not parse. On success *out is freed with
 * eco_store_pg_probe_free(). Host names are resolved with getaddrinfo, which the timeout does
 * not bound. */
int eco_store_pg_probe_new(eco_store_pg_probe_t **out, const char *url, int timeout_ms, char *err, size_t errlen);
int eco_store_pg_probe_run(eco_store_pg_probe_t *p, char *err, size_t errlen);
void eco_store_pg_probe_free(eco_store_pg_probe_t *p);

/* url: redis://[[user]:password@]host[:port][/db] (copied; user and password percent-decoded).
 * Each run connects if needed (AUTH, SELECT, CLIENT SETNAME eco-store-probe) and sends PING. */
int eco_store_redis_probe_new(eco_store_redis_probe_t **out, const char *url, int timeout_ms, char *err, size_t errlen);
int eco_store_redis_probe_run(eco_store_redis_probe_t *p, char *err, size_t errlen);
void eco_store_redis_probe_free(eco_store_redis_probe_t *p);

/* brokers: "host:port[,host:port...]" (copied). One librdkafka handle lives as long as the
 * probe; each run is a Metadata request bounded by timeout_ms. A stopped broker is reported
 * down within timeout_ms, a restarted one up on the first run after it accepts connections
 * (test_store_kafka_restart checks both). */
int eco_store_kafka_probe_new(eco_store_kafka_probe_t **out, const char *brokers, int timeout_ms, char *err,
                              size_t errlen);
int eco_store_kafka_probe_run(eco_store_kafka_probe_t *p, char *err, size_t errlen);
void eco_store_kafka_probe_free(eco_store_kafka_probe_t *p);

/* Adapters for eco_ready_add(): data is a probe created above (borrowed; it must outlive
 * eco_ready_stop()). They return ECO_DEP_UP or ECO_DEP_DOWN and put the reason in detail. */
eco_dep_state_t eco_store_pg_ready_check(void *probe, char *detail, size_t detail_len);
eco_dep_state_t eco_store_redis_ready_check(void *probe, char *detail, size_t detail_len);
eco_dep_state_t eco_store_kafka_ready_check(void *probe, char *detail, size_t detail_len);

/* One-shot pings: create a probe, run it once, free it. For tools and tests; a service keeps a
 * probe instead (the Kafka one-shot also pays for creating and destroying a client). */
int eco_store_pg_ping(const char *url, int timeout_ms, char *err, size_t errlen);
int eco_store_redis_ping(const char *url, int timeout_ms, char *err, size_t errlen);
int eco_store_kafka_ping(const char *brokers, int timeout_ms, char *err, size_t errlen);

/* ---------- Redis URL ---------- */

typedef struct {
    char host[256];
    int port;           /* default 6379 */
    int db;             /* default 0 */
    char user[128];     /* "" = none (AUTH password) */
    char password[256]; /* "" = no AUTH */
} eco_store_redis_url_t;

/* Parses redis://[[user]:password@]host[:port][/db]; IPv6 hosts in brackets. rediss:// (TLS)
 * is rejected: hiredis 0.14 has no TLS. Returns 0 or ECO_EINVAL with the reason in err. */
int eco_store_redis_url_parse(const char *url, eco_store_redis_url_t *out, char *err, size_t errlen);

/* ---------- PostgreSQL ---------- */

/* Connects with a deadline of timeout_ms (nonblocking connect, so sub-second bounds hold) and,
 * when statement_timeout_ms > 0, sets the session's statement_timeout. Adds TCP keepalives and
 * application_name=eco-base unless the URL sets them. On success *out is the caller's (PQfinish). */
int eco_store_pg_connect(const char *url, int timeout_ms, long statement_timeout_ms, PGconn **out, char *err,
                         size_t errlen);

/* A server error, copied out of the PGresult. message is the primary message only: the DETAIL
 * line, which can echo row values, is left out. */
typedef struct {
    char sqlstate[6];    /* "23505"; "" when the failure did not come from the server */
    char constraint[64]; /* constraint name for integrity violations, else "" */
    char message[256];
} eco_store_pg_error_t;

#define ECO_STORE_PG_MAX_PARAMS 1024

/* Runs one parameterised statement ($1..$n) with PQexecParams. values[i] NULL is SQL NULL.
 * lengths and formats may be NULL (all text); formats[i] = 1 passes values[i] as binary of
 * lengths[i] bytes (bytea). Results come back in text format.
 * Returns 0 when the statement succeeded; *res (if res is not NULL) is then the caller's
 * (PQclear), otherwise the result is cleared here. Returns ECO_STORE_EQUERY when the server
 * rejected it, ECO_STORE_ECONN when the connection is broken (reconnect), ECO_EINVAL on bad
 * arguments; e (optional) describes the failure and *res is NULL. */
int eco_store_pg_query(PGconn *conn, const char *sql, int nparams, const char *const *values, const int *lengths,
                       const int *formats, PGresult **res, eco_store_pg_error_t *e);

/* eco_store_pg_query with text parameters only. */
static inline int eco_store_pg_exec(PGconn *conn, const char *sql, int nparams, const char *const *values,
                                    PGresult **res, eco_store_pg_error_t *e)
{
    return eco_store_pg_query(conn, sql, nparams, values, NULL, NULL, res, e);
}

/* 1 when the error is worth retrying in a new transaction (40001 serialization failure,
 * 40P01 deadlock), else 0. */
int eco_store_pg_retryable(const eco_store_pg_error_t *e);

/* ---------- migrations ----------
 * Applies dir/NNNN_name.sql (NNNN: 4 or more digits; name: [A-Za-z0-9_-]) in version order.
 * Other file names ending in .sql are an error; files not ending in .sql are ignored.
 * Under a session advisory lock (ECO_STORE_MIGRATE_LOCK_KEY; waits at most 120 s), it creates
 * schema_migrations(version, name, checksum, applied_at) if missing, then checks the history:
 * an applied migration whose file changed (SHA-256 differs) fails with ECO_STORE_EMIGRATE naming
 * the file, and so does a new file numbered below the latest applied version. Only then does it
 * apply each pending file in its own transaction together with its schema_migrations row.
 * Files must not contain transaction control (BEGIN/COMMIT); a file that ends the transaction is
 * reported. Applied versions missing from dir are logged as a warning (a newer release ran).
 * Limits: 1000 files, 4 MiB per file. */
#define ECO_STORE_MIGRATE_LOCK_KEY 0x65636f6d69677231LL /* "ecomigr1" */

int eco_store_migrate(const char *url, const char *dir, char *err, size_t errlen);

/* The same on an open connection (idle, not in a transaction); *applied (optional) receives the
 * number of migrations applied by this call. The connection stays open and unlocked. */
int eco_store_migrate_conn(PGconn *conn, const char *dir, int *applied, char *err, size_t errlen);

/* ---------- Kafka ---------- */

/* Threading: a producer may be shared by threads (librdkafka is thread-safe; use one per
 * process); its delivery reports run on whichever thread calls produce/poll/flush/close. A
 * consumer and its messages belong to one thread. librdkafka's own log lines go to eco_log. */
typedef struct eco_store_kafka_producer eco_store_kafka_producer_t;
typedef struct eco_store_kafka_consumer eco_store_kafka_consumer_t;

typedef struct {
    const char *name;  /* borrowed for the call */
    const void *value; /* borrowed for the call */
    size_t len;
} eco_store_kafka_header_t;

/* Delivery report, called once per produced message from the thread that calls
 * eco_store_kafka_produce/_poll/_flush/_close. status: 0 = written to all in-sync replicas,
 * else negative with errstr set. msg_opaque is the pointer given to eco_store_kafka_produce. */
typedef void (*eco_store_kafka_dr_cb)(void *cb_data, int status, const char *errstr, void *msg_opaque,
                                      int32_t partition, int64_t offset);

typedef struct {
    const char *client_id;       /* default "eco-base" */
    int message_timeout_ms;      /* delivery deadline per message, default 30000 */
    int linger_ms;               /* default 5 */
    eco_store_kafka_dr_cb dr_cb; /* optional */
    void *dr_cb_data;
} eco_store_kafka_producer_opts_t;

/* An idempotent producer (enable.idempotence=true: acks=all, ordered retries without
 * duplicates), lz4 compression. opts may be NULL. On success *out is freed with
 * eco_store_kafka_producer_close(). */
int eco_store_kafka_producer_new(eco_store_kafka_producer_t **out, const char *brokers,
                                 const eco_store_kafka_producer_opts_t *opts, char *err, size_t errlen);

/* Queues one message (key, value and headers are copied) and serves pending delivery reports.
 * Waits up to 1 s for room when the local queue is full (then ECO_ENOSPC). Returns
 * ECO_STORE_EFATAL after a fatal producer error: close this producer and create another. */
int eco_store_kafka_produce(eco_store_kafka_producer_t *p, const char *topic, const void *key, size_t key_len,
                            const void *value, size_t value_len, const eco_store_kafka_header_t *headers,
                            size_t nheaders, void *msg_opaque, char *err, size_t errlen);

/* Serves delivery reports for up to timeout_ms; returns how many were served. */
int eco_store_kafka_producer_poll(eco_store_kafka_producer_t *p, int timeout_ms);

/* Waits up to timeout_ms for every queued message's delivery report. ECO_ETIMEDOUT if some remain. */
int eco_store_kafka_producer_flush(eco_store_kafka_producer_t *p, int timeout_ms);

/* Flushes (up to timeout_ms), fails what is still undelivered (their delivery reports run
 * with an error), and frees the producer. Returns 0, or ECO_ETIMEDOUT when messages were failed. */
int eco_store_kafka_producer_close(eco_store_kafka_producer_t *p, int timeout_ms);

/* counters since creation: delivered and failed delivery reports */
void eco_store_kafka_producer_stats(const eco_store_kafka_producer_t *p, uint64_t *delivered, uint64_t *failed);

/* The librdkafka handle (borrowed), for settings and statistics this wrapper does not cover. */
struct rd_kafka_s *eco_store_kafka_producer_handle(eco_store_kafka_producer_t *p);

/* A message from eco_store_kafka_consumer_poll. Pointers are valid until eco_store_kafka_msg_release. */
typedef struct {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key; /* NULL when the message has no key */
    size_t key_len;
    const void *value;
    size_t value_len;
    int64_t timestamp_ms; /* -1 when unknown */
    void *priv;
} eco_store_kafka_msg_t;

/* A consumer in `group` subscribed to topics (copied; at most 64), at-least-once: offsets are
 * committed only by eco_store_kafka_consumer_commit, after processing. New groups start at the
 * earliest offset. Round-robin (eager) assignment: librdkafka 2.0.2's cooperative-sticky close
 * does not leave the group, stalling the next member for session.timeout.ms. Subscribers of one
 * group must subscribe to the same topics. On success free with eco_store_kafka_consumer_close. */
int eco_store_kafka_consumer_new(eco_store_kafka_consumer_t **out, const char *brokers, const char *group,
                                 const char *const *topics, size_t ntopics, char *err, size_t errlen);

/* librdkafka statistics (statistics.interval.ms), called on the thread that polls the consumer
 * with the JSON document (borrowed for the call; not NUL-terminated past len). */
typedef void (*eco_store_kafka_stats_cb)(void *cb_data, const char *json, size_t len);

typedef struct {
    const char *client_id;             /* default "eco-base" */
    int stats_interval_ms;             /* > 0: emit statistics this often (needs stats_cb) */
    eco_store_kafka_stats_cb stats_cb; /* optional */
    void *stats_cb_data;
    int allow_auto_create_topics; /* 1: subscribing may create a missing topic (if the broker allows) */
} eco_store_kafka_consumer_opts_t;

/* eco_store_kafka_consumer_new with options (opts may be NULL: the defaults above). */
int eco_store_kafka_consumer_new_opts(eco_store_kafka_consumer_t **out, const char *brokers, const char *group,
                                      const char *const *topics, size_t ntopics,
                                      const eco_store_kafka_consumer_opts_t *opts, char *err, size_t errlen);

/* Waits up to timeout_ms for a message. Returns 1 and fills *msg (release it), 0 when none
 * arrived, or a negative code for a consumer error (err set; the consumer remains usable). */
int eco_store_kafka_consumer_poll(eco_store_kafka_consumer_t *c, int timeout_ms, eco_store_kafka_msg_t *msg, char *err,
                                  size_t errlen);

/* Synchronously commits msg's offset + 1 for its partition (call after processing it). */
int eco_store_kafka_consumer_commit(eco_store_kafka_consumer_t *c, const eco_store_kafka_msg_t *msg, char *err,
                                    size_t errlen);

/* Looks up the last header called name; *value and *len borrow from msg. 0, or ECO_EINVAL if absent. */
int eco_store_kafka_msg_header(const eco_store_kafka_msg_t *msg, const char *name, const void **value, size_t *len);

void eco_store_kafka_msg_release(eco_store_kafka_msg_t *msg);

/* Leaves the group (uncommitted messages will be delivered again to the group) and frees c. */
void eco_store_kafka_consumer_close(eco_store_kafka_consumer_t *c);

#endif
