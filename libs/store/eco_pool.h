/*
 * eco_pool: a small pool of worker threads for blocking PostgreSQL (libpq) and Redis (hiredis)
 * calls, so that an event loop never blocks on them.
 *   - N threads, each owning one PGconn and one redisContext, connected on first use and
 *     reconnected after a failure (with a short fail-fast back-off, so an outage answers fast);
 *   - one bounded FIFO queue: submit fails with ECO_ENOSPC when it is full (answer 503);
 *   - a job is a function run on a worker; it hands its result back to the loop itself (e.g.
 *     eco_service_post), so this library does not depend on the HTTP runtime.
 *
 * Why threads and not libpq-async/hiredis-async on the loop: the work here (argon2id, multi-
 * statement transactions, Lua scripts) is naturally written as straight-line blocking code,
 * argon2 must leave the loop anyway, and a job costs two queue hand-offs (~10-20 us) next to a
 * network round trip. Each job sees a private connection: no interleaving, no shared state.
 */
#ifndef ECO_POOL_H
#define ECO_POOL_H

#include <stddef.h>

#include <hiredis.h>
#include <libpq-fe.h>

#include "eco_core.h"

typedef struct eco_store_pool eco_store_pool_t;
typedef struct eco_store_worker eco_store_worker_t;

typedef struct {
    const char *name;             /* logs ("api-gateway-db") */
    size_t workers;               /* threads, 1..64 */
    size_t queue_max;             /* jobs waiting beyond the running ones, >= 1 */
    const char *pg_url;           /* NULL: the workers have no PostgreSQL connection (copied) */
    const char *redis_url;        /* NULL: no Redis (copied) */
    int pg_connect_timeout_ms;    /* default 2000 */
    long pg_statement_timeout_ms; /* default 5000 */
    int redis_timeout_ms;         /* connect and each command; default 500 */
    int backoff_ms;               /* after a failed connect, fail fast this long; default 250 */
} eco_store_pool_opts_t;

/* A job: runs on a worker thread with that worker's connections. It owns `data` meanwhile. */
typedef void (*eco_store_job_fn)(eco_store_worker_t *w, void *data);

/* Starts the threads (connections open lazily). Returns 0 or ECO_EINVAL (bad options or URL,
 * reason in err). *out lives until eco_store_pool_free. */
int eco_store_pool_new(eco_store_pool_t **out, const eco_store_pool_opts_t *opts, char *err, size_t errlen);

/* Queues run(worker, data). Thread-safe. Returns 0, ECO_ENOSPC when the queue is full, or
 * ECO_EINVAL after eco_store_pool_free began; on failure run is not called (data is still yours). */
int eco_store_pool_submit(eco_store_pool_t *p, eco_store_job_fn run, void *data);

/* Jobs waiting (not yet running); for metrics. */
size_t eco_store_pool_queued(eco_store_pool_t *p);

/* Stops taking jobs, runs those already queued, joins the threads, closes the connections. */
void eco_store_pool_free(eco_store_pool_t *p);

/* ---- inside a job ---- */

/* The worker's PostgreSQL connection, (re)connected if needed. NULL when it cannot connect now
 * (reason in err, never containing the URL); a failed connect makes further calls fail fast for
 * backoff_ms. */
PGconn *eco_store_worker_pg(eco_store_worker_t *w, char *err, size_t errlen);
/* Call when a query failed with ECO_STORE_ECONN: the connection is dropped, the next
 * eco_store_worker_pg reconnects. */
void eco_store_worker_pg_broken(eco_store_worker_t *w);

/* The worker's Redis connection (AUTH and SELECT done), or NULL (reason in err). Commands are
 * bounded by redis_timeout_ms. */
redisContext *eco_store_worker_redis(eco_store_worker_t *w, char *err, size_t errlen);
/* Call when a command returned NULL (I/O error or timeout): the context is freed. */
void eco_store_worker_redis_broken(eco_store_worker_t *w);

/* 0..workers-1 */
size_t eco_store_worker_index(const eco_store_worker_t *w);

/* Runs a SQL text with no parameters (BEGIN, COMMIT, ROLLBACK). 0 or an eco_store_pg_query code. */
int eco_store_worker_pg_simple(eco_store_worker_t *w, PGconn *c, const char *sql);

#endif
