/* Worker threads with private PostgreSQL and Redis connections, fed by one bounded queue. */
#include "eco_metrics.h"
#include "eco_pool.h"
#include "eco_store.h"
#include "store_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

typedef struct job {
    struct job *next;
    eco_store_job_fn run;
    void *data;
    uint64_t queued_ns;
} job_t;

/* Saturation metrics, one series per pool name (shared families for every pool of a process). */
static struct {
    pthread_once_t once;
    eco_metric_t *workers, *busy, *depth, *rejected, *wait;
} m = {.once = PTHREAD_ONCE_INIT};

static void metrics_init(void)
{
    m.workers =
        eco_metrics_gauge("eco_db_pool_workers", "Worker threads (PostgreSQL/Redis connections) per pool.", "pool");
    m.busy = eco_metrics_gauge("eco_db_pool_busy", "Workers running a job.", "pool");
    m.depth = eco_metrics_gauge("eco_db_pool_queue_depth", "Jobs waiting for a worker.", "pool");
    m.rejected = eco_metrics_counter("eco_db_pool_rejected_total", "Jobs refused because the queue was full.", "pool");
    m.wait = eco_metrics_histogram("eco_db_pool_wait_seconds", "Time a job waited for a worker.", "pool", NULL, 0);
}

struct eco_store_worker {
    eco_store_pool_t *pool;
    size_t index;
    pthread_t thread;
    PGconn *pg;
    redisContext *redis;
    uint64_t pg_retry_at, redis_retry_at; /* fail fast until then (eco_now_ms) */
    char pg_last_err[160], redis_last_err[160];
};

struct eco_store_pool {
    eco_store_pool_opts_t o;
    char *name, *pg_url;
    eco_store_redis_url_t redis;
    int has_redis;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_t *head, *tail;
    size_t queued, busy;
    int stopping;
    eco_store_worker_t *workers;
};

static void *worker_main(void *arg)
{
    eco_store_worker_t *w = arg;
    eco_store_pool_t *p = w->pool;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->cv, &p->mu);
        job_t *j = p->head;
        if (!j) { /* stopping and drained */
            pthread_mutex_unlock(&p->mu);
            break;
        }
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        p->queued--;
        p->busy++;
        eco_metrics_set(m.busy, (double)p->busy, p->name);
        eco_metrics_set(m.depth, (double)p->queued, p->name);
        pthread_mutex_unlock(&p->mu);
        eco_metrics_observe(m.wait, (double)(eco_now_ns() - j->queued_ns) / 1e9, p->name);
        j->run(w, j->data);
        free(j);
        pthread_mutex_lock(&p->mu);
        p->busy--;
        eco_metrics_set(m.busy, (double)p->busy, p->name);
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

int eco_store_pool_new(eco_store_pool_t **out, const eco_store_pool_opts_t *opts, char *err, size_t errlen)
{
    *out = NULL;
    if (!opts || opts->workers < 1 || opts->workers > 64 || opts->queue_max < 1) {
        eco__store_seterr(err, errlen, "invalid pool options (workers 1-64, queue_max >= 1)");
        return ECO_EINVAL;
    }
    eco_store_pool_t *p = eco_calloc(1, sizeof(*p));
    p->o = *opts;
    if (!p->o.pg_connect_timeout_ms)
        p->o.pg_connect_timeout_ms = 2000;
    if (!p->o.pg_statement_timeout_ms)
        p->o.pg_statement_timeout_ms = 5000;
    if (!p->o.redis_timeout_ms)
        p->o.redis_timeout_ms = 500;
    if (!p->o.backoff_ms)
        p->o.backoff_ms = 250;
    p->name = eco_strdup(opts->name ? opts->name : "store-pool");
    p->pg_url = opts->pg_url ? eco_strdup(opts->pg_url) : NULL;
    if (opts->redis_url) {
        if (eco_store_redis_url_parse(opts->redis_url, &p->redis, err, errlen) != 0) {
            free(p->name);
            free(p->pg_url);
            free(p);
            return ECO_EINVAL;
        }
        p->has_redis = 1;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    pthread_once(&m.once, metrics_init);
    eco_metrics_set(m.workers, (double)opts->workers, p->name);
    eco_metrics_set(m.busy, 0, p->name);
    eco_metrics_set(m.depth, 0, p->name);
    eco_metrics_add(m.rejected, 0, p->name);
    p->workers = eco_calloc(opts->workers, sizeof(eco_store_worker_t));
    for (size_t i = 0; i < opts->workers; i++) {
        eco_store_worker_t *w = &p->workers[i];
        w->pool = p;
        w->index = i;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
            eco_fatal("cannot start store worker thread");
    }
    *out = p;
    return 0;
}

int eco_store_pool_submit(eco_store_pool_t *p, eco_store_job_fn run, void *data)
{
    pthread_mutex_lock(&p->mu);
    int rc = 0;
    if (p->stopping)
        rc = ECO_EINVAL;
    else if (p->queued >= p->o.queue_max)
        rc = ECO_ENOSPC;
    if (rc) {
        if (rc == ECO_ENOSPC)
            eco_metrics_inc(m.rejected, p->name);
        pthread_mutex_unlock(&p->mu);
        return rc;
    }
    job_t *j = eco_malloc(sizeof(*j));
    j->next = NULL;
    j->run = run;
    j->data = data;
    j->queued_ns = eco_now_ns();
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->queued++;
    eco_metrics_set(m.depth, (double)p->queued, p->name);
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

size_t eco_store_pool_queued(eco_store_pool_t *p)
{
    pthread_mutex_lock(&p->mu);
    size_t n = p->queued;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void eco_store_pool_free(eco_store_pool_t *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (size_t i = 0; i < p->o.workers; i++) {
        eco_store_worker_t *w = &p->workers[i];
        pthread_join(w->thread, NULL);
        if (w->pg)
            PQfinish(w->pg);
        if (w->redis)
            redisFree(w->redis);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    explicit_bzero(&p->redis, sizeof(p->redis));
    free(p->workers);
    free(p->name);
    free(p->pg_url);
    free(p);
}

/* ---------- PostgreSQL ---------- */

PGconn *eco_store_worker_pg(eco_store_worker_t *w, char *err, size_t errlen)
{
    eco_store_pool_t *p = w->pool;
    if (!p->pg_url) {
        eco__store_seterr(err, errlen, "no PostgreSQL configured");
        return NULL;
    }
    if (w->pg && PQstatus(w->pg) == CONNECTION_OK)
        return w->pg;
    if (w->pg) {
        PQfinish(w->pg);
        w->pg = NULL;
    }
    uint64_t now = eco_now_ms();
    if (now < w->pg_retry_at) {
        eco__store_seterr(err, errlen, "%s", w->pg_last_err);
        return NULL;
    }
    if (eco_store_pg_connect(p->pg_url, p->o.pg_connect_timeout_ms, p->o.pg_statement_timeout_ms, &w->pg,
                             w->pg_last_err, sizeof(w->pg_last_err)) != 0) {
        w->pg = NULL;
        w->pg_retry_at = eco_now_ms() + (uint64_t)p->o.backoff_ms;
        eco__store_seterr(err, errlen, "%s", w->pg_last_err);
        return NULL;
    }
    return w->pg;
}

void eco_store_worker_pg_broken(eco_store_worker_t *w)
{
    if (w->pg) {
        PQfinish(w->pg);
        w->pg = NULL;
    }
}

int eco_store_worker_pg_simple(eco_store_worker_t *w, PGconn *c, const char *sql)
{
    int rc = eco_store_pg_exec(c, sql, 0, NULL, NULL, NULL);
    if (rc == ECO_STORE_ECONN)
        eco_store_worker_pg_broken(w);
    return rc;
}

/* ---------- Redis ---------- */

static struct timeval tv_ms(int ms)
{
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

/* AUTH and SELECT on a fresh context; 0 or -1 with the reason in err. */
static int redis_handshake(redisContext *c, const eco_store_redis_url_t *u, char *err, size_t errlen)
{
    if (u->password[0]) {
        redisReply *r =
            u->user[0] ? redisCommand(c, "AUTH %s %s", u->user, u->password) : redisCommand(c, "AUTH %s", u->password);
        int bad = !r || r->type == REDIS_REPLY_ERROR;
        if (r)
            freeReplyObject(r);
        if (bad) {
            eco__store_seterr(err, errlen, "Redis AUTH failed");
            return -1;
        }
    }
    if (u->db) {
        redisReply *r = redisCommand(c, "SELECT %d", u->db);
        int bad = !r || r->type == REDIS_REPLY_ERROR;
        if (r)
            freeReplyObject(r);
        if (bad) {
            eco__store_seterr(err, errlen, "Redis SELECT %d failed", u->db);
            return -1;
        }
    }
    return 0;
}

redisContext *eco_store_worker_redis(eco_store_worker_t *w, char *err, size_t errlen)
{
    eco_store_pool_t *p = w->pool;
    if (!p->has_redis) {
        eco__store_seterr(err, errlen, "no Redis configured");
        return NULL;
    }
    if (w->redis && !w->redis->err)
        return w->redis;
    if (w->redis) {
        redisFree(w->redis);
        w->redis = NULL;
    }
    if (eco_now_ms() < w->redis_retry_at) {
        eco__store_seterr(err, errlen, "%s", w->redis_last_err);
        return NULL;
    }
    redisContext *c = redisConnectWithTimeout(p->redis.host, p->redis.port, tv_ms(p->o.redis_timeout_ms));
    if (!c)
        eco_fatal("out of memory creating a Redis context");
    if (c->err) {
        eco__store_seterr(w->redis_last_err, sizeof(w->redis_last_err), "Redis connect failed: %s", c->errstr);
        redisFree(c);
        c = NULL;
    } else if (redisSetTimeout(c, tv_ms(p->o.redis_timeout_ms)) != REDIS_OK ||
               redis_handshake(c, &p->redis, w->redis_last_err, sizeof(w->redis_last_err)) != 0) {
        if (c->err)
            eco__store_seterr(w->redis_last_err, sizeof(w->redis_last_err), "Redis: %s", c->errstr);
        redisFree(c);
        c = NULL;
    }
    if (!c) {
        w->redis_retry_at = eco_now_ms() + (uint64_t)p->o.backoff_ms;
        eco__store_seterr(err, errlen, "%s", w->redis_last_err);
        return NULL;
    }
    redisEnableKeepAlive(c);
    w->redis = c;
    return c;
}

void eco_store_worker_redis_broken(eco_store_worker_t *w)
{
    if (w->redis) {
        redisFree(w->redis);
        w->redis = NULL;
    }
}

size_t eco_store_worker_index(const eco_store_worker_t *w)
{
    return w->index;
}
