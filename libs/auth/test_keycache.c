/* Unit tests for the API-key cache (eco_keycache.h): freshness, negative entries, the key's own
 * expiry, the stale window, the bound and eviction order, and concurrent use. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "eco_keycache.h"

#define T0  1000000ull /* monotonic ms of the first put */
#define NOW 1700000000LL

static void sha_of(const char *secret, uint8_t sha[32])
{
    eco_auth_apikey_hash(secret, strlen(secret), sha);
}

static eco_auth_key_t key_named(const char *key_id, long rpm)
{
    eco_auth_key_t k = {.rpm = rpm, .tpm = 2 * rpm};
    k.id.kind = ECO_AUTH_KIND_API_KEY;
    k.id.role = ECO_ROLE_DEVELOPER;
    snprintf(k.id.key_id, sizeof(k.id.key_id), "%s", key_id);
    snprintf(k.id.user_id, sizeof(k.id.user_id), "0b8c7f3e-1d2a-4c5b-9e8f-123456789abc");
    return k;
}

static eco_auth_keycache_t *cache(long ttl, long stale, size_t max)
{
    eco_auth_keycache_opts_t o = {.ttl_ms = ttl, .stale_ms = stale, .max_keys = max};
    return eco_auth_keycache_new(&o);
}

static void test_fresh_then_miss_after_ttl(void **state)
{
    (void)state;
    eco_auth_keycache_t *c = cache(500, 60000, 100);
    uint8_t sha[32];
    sha_of("eco_sk_one", sha);
    eco_auth_key_t out;
    assert_int_equal(eco_auth_keycache_get(c, sha, T0, NOW, &out), ECO_AUTH_KEYCACHE_MISS);
    eco_auth_key_t k = key_named("k-1", 7);
    eco_auth_keycache_put(c, sha, &k, T0);
    memset(&out, 0, sizeof(out));
    assert_int_equal(eco_auth_keycache_get(c, sha, T0 + 499, NOW, &out), ECO_AUTH_KEYCACHE_VALID);
    assert_string_equal(out.id.key_id, "k-1");
    assert_int_equal(out.rpm, 7);
    assert_int_equal(out.tpm, 14);
    assert_int_equal(out.id.role, ECO_ROLE_DEVELOPER);
    /* the TTL is over: ask PostgreSQL again (a revocation shows within the TTL) */
    assert_int_equal(eco_auth_keycache_get(c, sha, T0 + 500, NOW, &out), ECO_AUTH_KEYCACHE_MISS);
    /* another key is not confused with it */
    uint8_t other[32];
    sha_of("eco_sk_two", other);
    assert_int_equal(eco_auth_keycache_get(c, other, T0 + 1, NOW, NULL), ECO_AUTH_KEYCACHE_MISS);
    /* a put from another thread "after" our clock reading counts as fresh, not as ancient */
    eco_auth_keycache_put(c, sha, &k, T0 + 10000);
    assert_int_equal(eco_auth_keycache_get(c, sha, T0 + 9990, NOW, NULL), ECO_AUTH_KEYCACHE_VALID);
    eco_auth_keycache_free(c);
}

static void test_negative_entries_and_revocation(void **state)
{
    (void)state;
    eco_auth_keycache_t *c = cache(500, 60000, 100);
    uint8_t sha[32];
    sha_of("eco_sk_garbage", sha);
    eco_auth_keycache_put(c, sha, NULL, T0);
    assert_int_equal(eco_auth_keycache_get(c, sha, T0 + 100, NOW, NULL), ECO_AUTH_KEYCACHE_INVALID);
    /* a negative entry never stands in for PostgreSQL */
    eco_auth_key_t out;
    assert_int_equal(eco_auth_keycache_get_stale(c, sha, T0 + 100, NOW, &out), 0);
    assert_int_equal(eco_auth_keycache_get(c, sha, T0 + 600, NOW, NULL), ECO_AUTH_KEYCACHE_MISS);
    /* valid, then revoked: the next look-up's negative answer replaces the entry */
    eco_auth_key_t k = key_named("k-2", 1);
    eco_auth_keycache_put(c, sha, &k, T0 + 600);
    assert_int_equal(eco_auth_keycache_get(c, sha, T0 + 700, NOW, NULL), ECO_AUTH_KEYCACHE_VALID);
    eco_auth_keycache_put(c, sha, NULL, T0 + 1200);
    assert_int_equal(eco_auth_keycache_get(c, sha, T0 + 1300, NOW, NULL), ECO_AUTH_KEYCACHE_INVALID);
    assert_int_equal(eco_auth_keycache_get_stale(c, sha, T0 + 1300, NOW, NULL), 0);
    assert_int_equal(eco_auth_keycache_count(c, T0 + 1300), 0);
    eco_auth_keycache_free(c);
}

static void test_key_expiry(void **state)
{
    (void)state;
    eco_auth_keycache_t *c = cache(5000, 60000, 100);
    uint8_t sha[32];
    sha_of("eco_sk_expiring", sha);
    eco_auth_key_t k = key_named("k-3", 1);
    k.expires_s = NOW + 10;
    eco_auth_keycache_put(c, sha, &k, T0);
    assert_int_equal(eco_auth_keycache_get(c, sha, T0 + 1, NOW + 9, NULL), ECO_AUTH_KEYCACHE_VALID);
    /* the key's own expiry counts even while the entry is fresh, and in the stale window */
    assert_int_equal(eco_auth_keycache_get(c, sha, T0 + 1, NOW + 10, NULL), ECO_AUTH_KEYCACHE_INVALID);
    assert_int_equal(eco_auth_keycache_get_stale(c, sha, T0 + 6000, NOW + 9, NULL), 1);
    assert_int_equal(eco_auth_keycache_get_stale(c, sha, T0 + 6000, NOW + 10, NULL), 0);
    eco_auth_keycache_free(c);
}

static void test_stale_window(void **state)
{
    (void)state;
    eco_auth_keycache_t *c = cache(500, 3000, 100);
    uint8_t sha[32], cold[32];
    sha_of("eco_sk_warm", sha);
    sha_of("eco_sk_cold", cold);
    eco_auth_key_t k = key_named("k-4", 3), out;
    eco_auth_keycache_put(c, sha, &k, T0);
    assert_int_equal(eco_auth_keycache_count(c, T0 + 1), 1);
    /* past the TTL (PostgreSQL is asked and does not answer): the entry stands in */
    assert_int_equal(eco_auth_keycache_get(c, sha, T0 + 2999, NOW, NULL), ECO_AUTH_KEYCACHE_MISS);
    memset(&out, 0, sizeof(out));
    assert_int_equal(eco_auth_keycache_get_stale(c, sha, T0 + 2999, NOW, &out), 1);
    assert_string_equal(out.id.key_id, "k-4");
    assert_int_equal(eco_auth_keycache_get_stale(c, sha, T0 + 3000, NOW, &out), 0);
    assert_int_equal(eco_auth_keycache_get_stale(c, cold, T0 + 1, NOW, &out), 0);
    assert_int_equal(eco_auth_keycache_count(c, T0 + 3000), 0);
    eco_auth_keycache_free(c);
}

static void test_ttl_zero_always_misses(void **state)
{
    (void)state;
    eco_auth_keycache_t *c = cache(0, 1000, 16);
    uint8_t sha[32];
    sha_of("eco_sk_zero", sha);
    eco_auth_key_t k = key_named("k-5", 1);
    eco_auth_keycache_put(c, sha, &k, T0);
    assert_int_equal(eco_auth_keycache_get(c, sha, T0, NOW, NULL), ECO_AUTH_KEYCACHE_MISS);
    assert_int_equal(eco_auth_keycache_get_stale(c, sha, T0, NOW, NULL), 1);
    eco_auth_keycache_free(c);
}

/* sha whose slot bits (first 8 bytes) are all `slot`, told apart by the last byte */
static void crafted(uint8_t sha[32], uint8_t slot, uint8_t id)
{
    memset(sha, 0, 32);
    sha[0] = slot;
    sha[31] = id;
    sha[30] = 0xAB;
}

static void test_bounded_and_evicts_the_oldest_of_a_run(void **state)
{
    (void)state;
    /* max_keys 8: a 16-slot table */
    eco_auth_keycache_t *c = cache(1000000, 1000000, 8);
    uint8_t sha[32];
    char id[37];
    for (int i = 0; i < 10000; i++) {
        snprintf(id, sizeof(id), "eco_sk_%d", i);
        sha_of(id, sha);
        eco_auth_key_t k = key_named(id + 7, i);
        eco_auth_keycache_put(c, sha, &k, T0 + (uint64_t)i);
    }
    assert_true(eco_auth_keycache_count(c, T0 + 10000) <= 16);
    assert_true(eco_auth_keycache_count(c, T0 + 10000) >= 8);
    eco_auth_key_t out;
    assert_int_equal(eco_auth_keycache_get(c, sha, T0 + 10000, NOW, &out), ECO_AUTH_KEYCACHE_VALID);
    assert_string_equal(out.id.key_id, "9999");
    eco_auth_keycache_free(c);

    /* nine keys on one slot: the run holds 8, the least recently fetched one goes */
    c = cache(1000000, 1000000, 100);
    for (uint8_t i = 0; i < 9; i++) {
        crafted(sha, 5, i);
        eco_auth_key_t k = key_named("x", i + 1);
        eco_auth_keycache_put(c, sha, &k, T0 + 10 * i);
    }
    crafted(sha, 5, 0);
    assert_int_equal(eco_auth_keycache_get(c, sha, T0 + 100, NOW, NULL), ECO_AUTH_KEYCACHE_MISS);
    for (uint8_t i = 1; i < 9; i++) {
        crafted(sha, 5, i);
        assert_int_equal(eco_auth_keycache_get(c, sha, T0 + 100, NOW, &out), ECO_AUTH_KEYCACHE_VALID);
        assert_int_equal(out.rpm, i + 1);
    }
    /* refreshing key 1 makes key 2 the oldest: the next newcomer replaces key 2 */
    crafted(sha, 5, 1);
    eco_auth_key_t k = key_named("x", 2);
    eco_auth_keycache_put(c, sha, &k, T0 + 200);
    crafted(sha, 5, 42);
    eco_auth_keycache_put(c, sha, &k, T0 + 210);
    crafted(sha, 5, 2);
    assert_int_equal(eco_auth_keycache_get(c, sha, T0 + 220, NOW, NULL), ECO_AUTH_KEYCACHE_MISS);
    crafted(sha, 5, 1);
    assert_int_equal(eco_auth_keycache_get(c, sha, T0 + 220, NOW, NULL), ECO_AUTH_KEYCACHE_VALID);
    crafted(sha, 5, 42);
    assert_int_equal(eco_auth_keycache_get(c, sha, T0 + 220, NOW, NULL), ECO_AUTH_KEYCACHE_VALID);
    eco_auth_keycache_free(c);
}

/* ---------- concurrent use: every answer belongs to the key asked for ---------- */

typedef struct {
    eco_auth_keycache_t *c;
    int seed, bad, valid;
} worker_t;

static void *hammer(void *p)
{
    worker_t *w = p;
    char secret[32];
    uint8_t sha[32];
    for (int i = 0; i < 20000; i++) {
        int n = (i * 7 + w->seed) % 64;
        snprintf(secret, sizeof(secret), "eco_sk_%d", n);
        sha_of(secret, sha);
        eco_auth_key_t out;
        uint64_t now = T0 + (uint64_t)i;
        if (eco_auth_keycache_get(w->c, sha, now, NOW, &out) == ECO_AUTH_KEYCACHE_VALID) {
            w->valid++;
            if (out.rpm != n || strcmp(out.id.key_id, secret + 7) != 0)
                w->bad++;
        } else {
            eco_auth_key_t k = key_named(secret + 7, n);
            eco_auth_keycache_put(w->c, sha, n % 5 == 0 ? NULL : &k, now);
        }
    }
    return NULL;
}

static void test_concurrent_use(void **state)
{
    (void)state;
    eco_auth_keycache_t *c = cache(50, 1000, 32);
    pthread_t t[4];
    worker_t w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker_t){.c = c, .seed = i * 13};
        pthread_create(&t[i], NULL, hammer, &w[i]);
    }
    int valid = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].bad, 0);
        valid += w[i].valid;
    }
    assert_true(valid > 0);
    eco_auth_keycache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_then_miss_after_ttl),
        cmocka_unit_test(test_negative_entries_and_revocation),
        cmocka_unit_test(test_key_expiry),
        cmocka_unit_test(test_stale_window),
        cmocka_unit_test(test_ttl_zero_always_misses),
        cmocka_unit_test(test_bounded_and_evicts_the_oldest_of_a_run),
        cmocka_unit_test(test_concurrent_use),
    };
    return cmocka_run_group_tests_name("auth_keycache", tests, NULL, NULL);
}
