/* Tests for what root-gateway and ai-service share in libs/store: the limiter (Redis through a
 * pool worker, fail-closed and fail-open when Redis is unreachable, reconciliation) and the
 * API-key resolution's fallback to the cache while PostgreSQL is unreachable. Needs
 * ECO_TEST_REDIS_URL (a real Redis). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eco_apikey.h"
#include "eco_pool.h"
#include "eco_ratelimit.h"
#include "eco_store.h"

static const char *redis_url(void)
{
    const char *v = getenv("ECO_TEST_REDIS_URL");
    if (!v || !*v)
        fail_msg("ECO_TEST_REDIS_URL is not set: this test needs the real servers started by tests/run.sh");
    return v;
}

/* A job that runs fn(worker, arg) and lets the test wait for it. */
typedef struct {
    void (*fn)(eco_store_worker_t *w, void *arg);
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
} sync_job_t;

static void run_sync(eco_store_worker_t *w, void *data)
{
    sync_job_t *j = data;
    j->fn(w, j->arg);
    pthread_mutex_lock(&j->mu);
    j->done = 1;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static void on_worker(eco_store_pool_t *p, void (*fn)(eco_store_worker_t *, void *), void *arg)
{
    sync_job_t j = {.fn = fn, .arg = arg};
    pthread_mutex_init(&j.mu, NULL);
    pthread_cond_init(&j.cv, NULL);
    assert_int_equal(eco_store_pool_submit(p, run_sync, &j), 0);
    pthread_mutex_lock(&j.mu);
    while (!j.done)
        pthread_cond_wait(&j.cv, &j.mu);
    pthread_mutex_unlock(&j.mu);
    pthread_mutex_destroy(&j.mu);
    pthread_cond_destroy(&j.cv);
}

typedef struct {
    eco_store_limiter_t *l;
    const char *subject, *revoked;
    long limit[2], cost[2];
    eco_store_limit_t out;
    int rc;
} take_t;

static void take_fn(eco_store_worker_t *w, void *arg)
{
    take_t *t = arg;
    char err[160];
    t->rc = eco_store_limiter_take(t->l, w, t->subject, t->revoked, t->limit, t->cost, &t->out, err, sizeof(err));
}

static eco_store_pool_t *pool_for(const char *redis)
{
    eco_store_pool_opts_t po = {.name = "test-limiter",
                                .workers = 2,
                                .queue_max = 64,
                                .redis_url = redis,
                                .redis_timeout_ms = 300,
                                .backoff_ms = 50};
    eco_store_pool_t *p;
    char err[160];
    assert_int_equal(eco_store_pool_new(&p, &po, err, sizeof(err)), 0);
    return p;
}

static void unique_prefix(char *out, size_t n)
{
    snprintf(out, n, "tl%d_%ld:", (int)getpid(), (long)eco_now_ms());
}

static take_t take(eco_store_pool_t *p, eco_store_limiter_t *l, const char *subject, long rpm, long tpm, long tokens)
{
    take_t t = {.l = l, .subject = subject, .limit = {rpm, tpm}, .cost = {1, tokens}};
    on_worker(p, take_fn, &t);
    return t;
}

static void test_redis_limits_and_reconciliation(void **state)
{
    (void)state;
    eco_store_pool_t *p = pool_for(redis_url());
    char prefix[64];
    unique_prefix(prefix, sizeof(prefix));
    eco_store_limiter_opts_t lo = {.pool = p, .spec = {prefix, 60000, 1000}, .fail_open = 0};
    eco_store_limiter_t *l = eco_store_limiter_new(&lo);
    /* three requests a minute */
    for (int i = 0; i < 3; i++) {
        take_t t = take(p, l, "key:a", 3, 0, 0);
        assert_int_equal(t.rc, 0);
        assert_true(t.out.remote);
        assert_int_equal(t.out.redis_error, 0);
        assert_true(t.out.rl.allowed);
        assert_int_equal(t.out.rl.used[0], i + 1);
    }
    take_t t = take(p, l, "key:a", 3, 0, 0);
    assert_int_equal(t.rc, 0);
    assert_false(t.out.rl.allowed);
    assert_true(t.out.rl.retry_ms > 0 && t.out.rl.retry_ms <= 60000);
    /* another subject has its own window */
    assert_true(take(p, l, "key:b", 3, 0, 0).out.rl.allowed);
    /* tokens: 100 reserved, 70 refunded -> 30 used; the next take sees it */
    t = take(p, l, "key:c", 0, 1000, 100);
    assert_true(t.out.rl.allowed);
    assert_int_equal(t.out.rl.used[1], 100);
    eco_store_limiter_adjust(l, &t.out, "key:c", 1, -70);
    for (int i = 0; i < 200; i++) { /* the adjustment is a fire-and-forget job */
        take_t peek = take(p, l, "key:c", 0, 1000, 0);
        if (peek.out.rl.used[1] == 30)
            break;
        usleep(5000);
    }
    t = take(p, l, "key:c", 0, 1000, 0);
    assert_int_equal(t.out.rl.used[1], 30);
    /* a reservation larger than the limit can never fit */
    t = take(p, l, "key:c", 0, 1000, 5000);
    assert_false(t.out.rl.allowed);
    assert_true(t.out.rl.too_large);
    eco_store_pool_free(p);
    eco_store_limiter_free(l);
}

static void test_revoked_token(void **state)
{
    (void)state;
    eco_store_pool_t *p = pool_for(redis_url());
    char prefix[64], revoked[128];
    unique_prefix(prefix, sizeof(prefix));
    snprintf(revoked, sizeof(revoked), "%srevoked:{user:u}:j", prefix);
    eco_store_limiter_opts_t lo = {.pool = p, .spec = {prefix, 60000, 1000}};
    eco_store_limiter_t *l = eco_store_limiter_new(&lo);
    take_t t = {.l = l, .subject = "user:u", .revoked = revoked, .limit = {10, 0}, .cost = {1, 0}};
    on_worker(p, take_fn, &t);
    assert_int_equal(t.rc, 0);
    assert_true(t.out.rl.allowed);
    eco_store_redis_url_t u;
    char err[160];
    assert_int_equal(eco_store_redis_url_parse(redis_url(), &u, err, sizeof(err)), 0);
    redisContext *c = redisConnect(u.host, u.port);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    redisReply *r = redisCommand(c, "SET %s 1 PX 60000", revoked);
    assert_non_null(r);
    freeReplyObject(r);
    redisFree(c);
    on_worker(p, take_fn, &t);
    assert_int_equal(t.rc, 0);
    assert_true(t.out.rl.revoked);
    assert_false(t.out.rl.allowed);
    eco_store_pool_free(p);
    eco_store_limiter_free(l);
}

static void test_redis_down_fail_closed_and_open(void **state)
{
    (void)state;
    eco_store_pool_t *p = pool_for("redis://127.0.0.1:1");
    eco_store_limiter_opts_t closed_o = {.pool = p, .spec = {"x:", 60000, 1000}, .fail_open = 0};
    eco_store_limiter_opts_t open_o = {.pool = p, .spec = {"x:", 60000, 1000}, .fail_open = 1};
    eco_store_limiter_t *closed = eco_store_limiter_new(&closed_o), *opened = eco_store_limiter_new(&open_o);
    take_t t = take(p, closed, "key:a", 2, 0, 0);
    assert_int_equal(t.rc, ECO_STORE_ECONN);
    assert_int_equal(t.out.redis_error, ECO_STORE_ECONN);
    /* open: this process's own limiter decides, with the same limits */
    for (int i = 0; i < 2; i++) {
        t = take(p, opened, "key:a", 2, 100, 10);
        assert_int_equal(t.rc, 0);
        assert_false(t.out.remote);
        assert_int_equal(t.out.redis_error, ECO_STORE_ECONN);
        assert_true(t.out.rl.allowed);
    }
    t = take(p, opened, "key:a", 2, 100, 10);
    assert_false(t.out.rl.allowed);
    /* reconciliation lands in the local twin */
    t = take(p, opened, "key:t", 0, 100, 90);
    assert_true(t.out.rl.allowed);
    eco_store_limiter_adjust(opened, &t.out, "key:t", 1, -80);
    t = take(p, opened, "key:t", 0, 100, 0);
    assert_int_equal(t.out.rl.used[1], 10);
    eco_store_pool_free(p);
    eco_store_limiter_free(closed);
    eco_store_limiter_free(opened);
}

/* ---------- API keys: PostgreSQL unreachable ---------- */

typedef struct {
    eco_auth_keycache_t *cache;
    uint8_t sha[32];
    eco_auth_key_t out;
    int stale, rc;
    const char *prefix;
    long ttl_ms;
} resolve_t;

static void resolve_fn(eco_store_worker_t *w, void *arg)
{
    resolve_t *r = arg;
    char err[160];
    r->rc = eco_store_apikey_resolve(w, r->cache, r->prefix ? r->prefix : "", r->ttl_ms, r->sha, &r->out, &r->stale,
                                     err, sizeof(err));
}

static void test_key_resolution_while_postgres_is_down(void **state)
{
    (void)state;
    eco_store_pool_opts_t po = {.name = "test-keys",
                                .workers = 1,
                                .queue_max = 8,
                                .pg_url = "postgresql://eco@127.0.0.1:1/eco",
                                .pg_connect_timeout_ms = 300,
                                .backoff_ms = 10};
    eco_store_pool_t *p;
    char err[160];
    assert_int_equal(eco_store_pool_new(&p, &po, err, sizeof(err)), 0);
    eco_auth_keycache_opts_t co = {.ttl_ms = 0, .stale_ms = 60000, .max_keys = 16};
    eco_auth_keycache_t *cache = eco_auth_keycache_new(&co);
    resolve_t r = {.cache = cache};
    eco_auth_apikey_hash("eco_sk_seen", 11, r.sha);
    /* never seen: cannot be checked */
    on_worker(p, resolve_fn, &r);
    assert_int_equal(r.rc, ECO_STORE_ECONN);
    /* seen recently: served from the cache, marked stale */
    eco_auth_key_t k = {.rpm = 5};
    k.id.kind = ECO_AUTH_KIND_API_KEY;
    snprintf(k.id.key_id, sizeof(k.id.key_id), "kid");
    eco_auth_keycache_put(cache, r.sha, &k, eco_now_ms());
    on_worker(p, resolve_fn, &r);
    assert_int_equal(r.rc, 0);
    assert_true(r.stale);
    assert_string_equal(r.out.id.key_id, "kid");
    assert_int_equal(r.out.rpm, 5);
    /* known to be revoked: not served */
    eco_auth_keycache_put(cache, r.sha, NULL, eco_now_ms());
    on_worker(p, resolve_fn, &r);
    assert_int_equal(r.rc, ECO_STORE_ECONN);
    eco_store_pool_free(p);
    eco_auth_keycache_free(cache);
}

/* ---------- API keys: the shared Redis level ---------- */

typedef struct {
    const char *cmd;
    redisReply *reply; /* freed by the caller */
} rcmd_t;

static void redis_cmd_fn(eco_store_worker_t *w, void *arg)
{
    rcmd_t *c = arg;
    char err[160];
    redisContext *rc = eco_store_worker_redis(w, err, sizeof(err));
    assert_non_null(rc);
    c->reply = redisCommand(rc, c->cmd);
}

typedef struct {
    const char *hex;
} forget_t;

static void forget_fn(eco_store_worker_t *w, void *arg)
{
    forget_t *f = arg;
    eco_store_apikey_forget(w, "t-ak:", &f->hex, 1);
}

static void test_key_resolution_through_redis(void **state)
{
    (void)state;
    /* PostgreSQL unreachable: every answer below comes from Redis or not at all. */
    eco_store_pool_opts_t po = {.name = "test-keys-redis",
                                .workers = 1,
                                .queue_max = 8,
                                .pg_url = "postgresql://eco@127.0.0.1:1/eco",
                                .redis_url = redis_url(),
                                .pg_connect_timeout_ms = 300,
                                .backoff_ms = 10};
    eco_store_pool_t *p;
    char err[160];
    assert_int_equal(eco_store_pool_new(&p, &po, err, sizeof(err)), 0);
    eco_auth_keycache_opts_t co = {.ttl_ms = 60000, .stale_ms = 60000, .max_keys = 16};
    eco_auth_keycache_t *cache = eco_auth_keycache_new(&co);
    resolve_t r = {.cache = cache, .prefix = "t-ak:", .ttl_ms = 60000};
    eco_auth_apikey_hash("eco_sk_shared", 13, r.sha);
    char hex[65], key[128], cmd[400];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", r.sha[i]);
    snprintf(key, sizeof(key), "t-ak:apikey:%s", hex);
    long long now = (long long)(eco_wall_time() * 1000.0);

    /* another service looked the key up a second ago: valid, role and limits as written */
    snprintf(cmd, sizeof(cmd),
             "SET %s 1|%lld|0b1e6a2c-0000-4000-8000-000000000001|0b1e6a2c-0000-4000-8000-000000000002|developer|7|9|0 "
             "PX 60000",
             key, now - 1000);
    rcmd_t c = {cmd};
    on_worker(p, redis_cmd_fn, &c);
    freeReplyObject(c.reply);
    on_worker(p, resolve_fn, &r);
    assert_int_equal(r.rc, 0);
    assert_false(r.stale);
    assert_int_equal(r.out.id.role, ECO_ROLE_DEVELOPER);
    assert_int_equal(r.out.rpm, 7);
    assert_string_equal(r.out.id.key_id, "0b1e6a2c-0000-4000-8000-000000000001");
    /* ... and it is now in the in-process cache too */
    assert_int_equal(eco_auth_keycache_get(cache, r.sha, eco_now_ms(), (int64_t)eco_wall_time(), NULL),
                     ECO_AUTH_KEYCACHE_VALID);

    /* a negative entry: no such key, without asking PostgreSQL */
    eco_auth_keycache_t *cache2 = eco_auth_keycache_new(&co);
    r.cache = cache2;
    snprintf(cmd, sizeof(cmd), "SET %s 0|%lld PX 60000", key, now);
    on_worker(p, redis_cmd_fn, &c);
    freeReplyObject(c.reply);
    on_worker(p, resolve_fn, &r);
    assert_int_equal(r.rc, ECO_AUTH_EMISMATCH);

    /* an entry older than the TTL is not believed: PostgreSQL is asked (and is down) */
    eco_auth_keycache_t *cache3 = eco_auth_keycache_new(&co);
    r.cache = cache3;
    snprintf(cmd, sizeof(cmd), "SET %s 0|%lld PX 60000", key, now - 120000);
    on_worker(p, redis_cmd_fn, &c);
    freeReplyObject(c.reply);
    on_worker(p, resolve_fn, &r);
    assert_int_equal(r.rc, ECO_STORE_ECONN);

    /* forget deletes the entry */
    forget_t f = {hex};
    on_worker(p, forget_fn, &f);
    snprintf(cmd, sizeof(cmd), "EXISTS %s", key);
    on_worker(p, redis_cmd_fn, &c);
    assert_int_equal(c.reply->integer, 0);
    freeReplyObject(c.reply);

    eco_store_pool_free(p);
    eco_auth_keycache_free(cache);
    eco_auth_keycache_free(cache2);
    eco_auth_keycache_free(cache3);
}

int main(void)
{
    eco_log_init("test_store_limiter", getenv("ECO_LOG_LEVEL") ? getenv("ECO_LOG_LEVEL") : "error");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_limits_and_reconciliation),
        cmocka_unit_test(test_revoked_token),
        cmocka_unit_test(test_redis_down_fail_closed_and_open),
        cmocka_unit_test(test_key_resolution_while_postgres_is_down),
        cmocka_unit_test(test_key_resolution_through_redis),
    };
    return cmocka_run_group_tests_name("store_limiter", tests, NULL, NULL);
}
