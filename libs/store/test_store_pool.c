/* Tests for the worker pool (real PostgreSQL and Redis) and the rate limiter (the Redis script
 * under concurrency, the in-process twin). Needs ECO_TEST_POSTGRES_URL and ECO_TEST_REDIS_URL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eco_metrics.h"
#include "eco_pool.h"
#include "eco_ratelimit.h"
#include "eco_store.h"

static const char *env_or_fail(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        fail_msg("%s is not set: this test needs the real servers started by tests/run.sh", name);
    return v;
}

typedef struct {
    atomic_int done, ok, failed;
    atomic_int concurrent, max_concurrent;
} counters_t;

static void pg_job(eco_store_worker_t *w, void *data)
{
    counters_t *c = data;
    int now = atomic_fetch_add(&c->concurrent, 1) + 1;
    int prev = atomic_load(&c->max_concurrent);
    while (now > prev && !atomic_compare_exchange_weak(&c->max_concurrent, &prev, now))
        ;
    char err[160];
    PGconn *conn = eco_store_worker_pg(w, err, sizeof(err));
    PGresult *r = NULL;
    if (conn && eco_store_pg_exec(conn, "SELECT pg_sleep(0.02), 1", 0, NULL, &r, NULL) == 0) {
        atomic_fetch_add(&c->ok, 1);
        PQclear(r);
    } else {
        atomic_fetch_add(&c->failed, 1);
    }
    atomic_fetch_sub(&c->concurrent, 1);
    atomic_fetch_add(&c->done, 1);
}

static void wait_done(counters_t *c, int n)
{
    for (int i = 0; i < 1000 && atomic_load(&c->done) < n; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&c->done), n);
}

static void test_pool_runs_jobs_in_parallel_and_bounds_the_queue(void **state)
{
    (void)state;
    eco_store_pool_opts_t o = {
        .name = "t", .workers = 3, .queue_max = 5, .pg_url = env_or_fail("ECO_TEST_POSTGRES_URL")};
    eco_store_pool_t *p;
    char err[160];
    assert_int_equal(eco_store_pool_new(&p, &o, err, sizeof(err)), 0);
    counters_t c = {0};
    int accepted = 0, refused = 0;
    for (int i = 0; i < 20; i++) {
        int rc = eco_store_pool_submit(p, pg_job, &c);
        if (rc == 0)
            accepted++;
        else if (rc == ECO_ENOSPC)
            refused++;
    }
    /* 3 may already be running, 5 waiting: at least 5 and at most 8 accepted in a burst */
    assert_true(accepted >= 5 && accepted <= 8);
    assert_int_equal(accepted + refused, 20);
    wait_done(&c, accepted);
    assert_int_equal(atomic_load(&c.ok), accepted);
    assert_true(atomic_load(&c.max_concurrent) >= 2);
    assert_true(atomic_load(&c.max_concurrent) <= 3);
    /* Saturation is visible in the metrics: the refusals, the size, and nothing left busy. */
    eco_buf_t b;
    eco_buf_init(&b, 0);
    for (int i = 0; i < 100; i++) { /* a worker counts itself idle just after its job returns */
        eco_buf_reset(&b);
        eco_metrics_render(&b);
        if (strstr(eco_buf_cstr(&b), "eco_db_pool_busy{pool=\"t\"} 0\n"))
            break;
        usleep(10000);
    }
    char want[96];
    snprintf(want, sizeof(want), "eco_db_pool_rejected_total{pool=\"t\"} %d\n", refused);
    assert_non_null(strstr(eco_buf_cstr(&b), want));
    assert_non_null(strstr(eco_buf_cstr(&b), "eco_db_pool_workers{pool=\"t\"} 3\n"));
    assert_non_null(strstr(eco_buf_cstr(&b), "eco_db_pool_busy{pool=\"t\"} 0\n"));
    assert_non_null(strstr(eco_buf_cstr(&b), "eco_db_pool_wait_seconds_count{pool=\"t\"}"));
    eco_buf_free(&b);
    eco_store_pool_free(p);
}

static void test_pool_fails_fast_without_server(void **state)
{
    (void)state;
    eco_store_pool_opts_t o = {.workers = 1,
                               .queue_max = 10,
                               .pg_url = "postgresql://eco@127.0.0.1:9/eco",
                               .redis_url = "redis://127.0.0.1:9",
                               .backoff_ms = 5000};
    eco_store_pool_t *p;
    char err[160];
    assert_int_equal(eco_store_pool_new(&p, &o, err, sizeof(err)), 0);
    counters_t c = {0};
    uint64_t t0 = eco_now_ms();
    for (int i = 0; i < 5; i++)
        assert_int_equal(eco_store_pool_submit(p, pg_job, &c), 0);
    wait_done(&c, 5);
    assert_int_equal(atomic_load(&c.failed), 5);
    assert_true(eco_now_ms() - t0 < 2000); /* one refused connect, then the back-off answers */
    eco_store_pool_free(p);
    /* a bad Redis URL is refused up front */
    o.redis_url = "rediss://x";
    assert_int_equal(eco_store_pool_new(&p, &o, err, sizeof(err)), ECO_EINVAL);
}

/* ---- the Redis script ---- */

static const eco_store_rl_spec_t spec = {.prefix = "eco:test:rl:", .window_ms = 60000, .bucket_ms = 1000};

typedef struct {
    const char *url;
    const char *subject;
    int n;
    atomic_int *admitted;
} take_arg_t;

static redisContext *connect_redis(const char *url)
{
    eco_store_redis_url_t u;
    char err[160];
    assert_int_equal(eco_store_redis_url_parse(url, &u, err, sizeof(err)), 0);
    redisContext *c = redisConnect(u.host, u.port);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    return c;
}

static void *taker(void *arg)
{
    take_arg_t *a = arg;
    redisContext *c = connect_redis(a->url);
    long lim[2] = {25, 0}, cost[2] = {1, 0};
    for (int i = 0; i < a->n; i++) {
        eco_store_rl_result_t r;
        char err[160];
        if (eco_store_rl_take(c, &spec, a->subject, NULL, lim, cost, 0, &r, err, sizeof(err)) == 0 && r.allowed)
            atomic_fetch_add(a->admitted, 1);
    }
    redisFree(c);
    return NULL;
}

static void unique_subject(char *out, size_t n, const char *tag)
{
    char id[33];
    eco_random_hex_id(id);
    snprintf(out, n, "%s:%s", tag, id);
}

static void test_redis_limit_is_exact_under_concurrency(void **state)
{
    (void)state;
    const char *url = env_or_fail("ECO_TEST_REDIS_URL");
    char subject[64];
    unique_subject(subject, sizeof(subject), "conc");
    atomic_int admitted = 0;
    pthread_t t[8];
    take_arg_t a = {url, subject, 25, &admitted}; /* 8 x 25 = 200 attempts against a limit of 25 */
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, taker, &a);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&admitted), 25);
}

static void test_redis_tokens_retry_and_adjust(void **state)
{
    (void)state;
    redisContext *c = connect_redis(env_or_fail("ECO_TEST_REDIS_URL"));
    char subject[64], err[160];
    unique_subject(subject, sizeof(subject), "tok");
    eco_store_rl_result_t r;
    long lim[2] = {100, 1000}, cost[2] = {1, 600};
    assert_int_equal(eco_store_rl_take(c, &spec, subject, NULL, lim, cost, 0, &r, err, sizeof(err)), 0);
    assert_true(r.allowed);
    assert_int_equal(r.used[0], 1);
    assert_int_equal(r.used[1], 600);
    assert_true(r.reset_ms[1] > 58000 && r.reset_ms[1] <= 60000);
    /* 600 + 600 > 1000: refused, nothing recorded, retry when the first 600 leave the window */
    eco_store_rl_result_t r2;
    assert_int_equal(eco_store_rl_take(c, &spec, subject, NULL, lim, cost, 0, &r2, err, sizeof(err)), 0);
    assert_false(r2.allowed);
    assert_int_equal(r2.used[0], 1);
    assert_int_equal(r2.used[1], 600);
    assert_true(r2.retry_ms > 58000 && r2.retry_ms <= 60000);
    /* reconcile: the first request used only 100 of its 600 */
    assert_int_equal(eco_store_rl_adjust(c, &spec, subject, 1, r.bucket, -500, err, sizeof(err)), 0);
    assert_int_equal(eco_store_rl_take(c, &spec, subject, NULL, lim, cost, 0, &r2, err, sizeof(err)), 0);
    assert_true(r2.allowed);
    assert_int_equal(r2.used[1], 700);
    /* a refund larger than the bucket clamps at zero; an adjust of an unknown bucket is a no-op */
    assert_int_equal(eco_store_rl_adjust(c, &spec, subject, 1, r.bucket, -100000, err, sizeof(err)), 0);
    assert_int_equal(eco_store_rl_adjust(c, &spec, subject, 1, 12345, 50, err, sizeof(err)), 0);
    long zero[2] = {0, 0};
    assert_int_equal(eco_store_rl_take(c, &spec, subject, NULL, zero, zero, 1, &r2, err, sizeof(err)), 0);
    assert_int_equal(r2.used[1], 0);
    assert_int_equal(r2.used[0], 2);
    /* a cost above the limit can never fit */
    long big[2] = {1, 5000};
    assert_int_equal(eco_store_rl_take(c, &spec, subject, NULL, lim, big, 0, &r2, err, sizeof(err)), 0);
    assert_false(r2.allowed);
    assert_true(r2.too_large);
    /* the revocation key stops everything */
    char rk[96];
    snprintf(rk, sizeof(rk), "eco:test:revoked:{%s}", subject);
    redisReply *rep = redisCommand(c, "SET %s 1 PX 10000", rk);
    freeReplyObject(rep);
    assert_int_equal(eco_store_rl_take(c, &spec, subject, rk, lim, cost, 0, &r2, err, sizeof(err)), 0);
    assert_true(r2.revoked);
    assert_false(r2.allowed);
    /* after SCRIPT FLUSH the EVALSHA miss falls back to EVAL */
    rep = redisCommand(c, "SCRIPT FLUSH");
    freeReplyObject(rep);
    assert_int_equal(eco_store_rl_take(c, &spec, subject, NULL, zero, zero, 1, &r2, err, sizeof(err)), 0);
    assert_true(r2.allowed);
    redisFree(c);
}

static void test_local_twin(void **state)
{
    (void)state;
    eco_store_rl_spec_t s = {.prefix = "x", .window_ms = 10000, .bucket_ms = 1000};
    eco_store_rl_local_t *l = eco_store_rl_local_new(&s, 4);
    long lim[2] = {3, 100}, cost[2] = {1, 40};
    eco_store_rl_result_t r;
    uint64_t t = 1000000;
    eco_store_rl_local_take(l, "a", lim, cost, 0, t, &r);
    assert_true(r.allowed);
    eco_store_rl_local_take(l, "a", lim, cost, 0, t + 1500, &r);
    assert_true(r.allowed);
    assert_int_equal(r.used[1], 80);
    eco_store_rl_local_take(l, "a", lim, cost, 0, t + 2000, &r); /* tokens 120 > 100 */
    assert_false(r.allowed);
    assert_int_equal(r.retry_ms, 8000); /* the first bucket (t) leaves at t + 10 s */
    eco_store_rl_local_adjust(l, "a", 1, (int64_t)t / 1000, -30, t + 2000);
    eco_store_rl_local_take(l, "a", lim, cost, 0, t + 2000, &r);
    assert_true(r.allowed);
    assert_int_equal(r.used[0], 3);
    eco_store_rl_local_take(l, "a", lim, cost, 0, t + 2500, &r); /* requests 4 > 3 */
    assert_false(r.allowed);
    long small[2] = {1, 10};
    eco_store_rl_local_take(l, "a", lim, small, 0, t + 10000, &r); /* the first bucket left */
    assert_true(r.allowed);
    assert_int_equal(r.used[0], 3);
    assert_int_equal(r.used[1], 90);
    /* other subjects are independent, and many subjects recycle old slots */
    char name[16];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        eco_store_rl_local_take(l, name, lim, cost, 0, t + 20000 + (uint64_t)i, &r);
        assert_true(r.allowed);
    }
    eco_store_rl_local_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pool_runs_jobs_in_parallel_and_bounds_the_queue),
        cmocka_unit_test(test_pool_fails_fast_without_server),
        cmocka_unit_test(test_redis_limit_is_exact_under_concurrency),
        cmocka_unit_test(test_redis_tokens_retry_and_adjust),
        cmocka_unit_test(test_local_twin),
    };
    eco_log_init("test_store_pool", "error");
    return cmocka_run_group_tests_name("store_pool", tests, NULL, NULL);
}
