/* The API-key cache (eco_keycache.h): open addressing on the SHA-256, probe runs of PROBE slots,
 * one mutex. */
#include "eco_keycache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PROBE 8

typedef struct {
    uint8_t sha[32];
    int used;
    int valid; /* 0: a negative entry */
    uint64_t fetched_ms;
    eco_auth_key_t key;
} entry_t;

struct eco_auth_keycache {
    eco_auth_keycache_opts_t o;
    size_t cap; /* power of two */
    entry_t *e;
    pthread_mutex_t mu;
};

eco_auth_keycache_t *eco_auth_keycache_new(const eco_auth_keycache_opts_t *opts)
{
    ECO_BUG_ON(opts->max_keys < 1 || opts->ttl_ms < 0 || opts->stale_ms < 0);
    eco_auth_keycache_t *c = eco_calloc(1, sizeof(*c));
    c->o = *opts;
    c->cap = 16;
    while (c->cap < opts->max_keys * 2)
        c->cap <<= 1;
    c->e = eco_calloc(c->cap, sizeof(entry_t));
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

void eco_auth_keycache_free(eco_auth_keycache_t *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c->e);
    free(c);
}

/* The SHA-256 is uniformly distributed: its first bytes are a good hash. */
static size_t slot_of(const eco_auth_keycache_t *c, const uint8_t sha[32])
{
    uint64_t h;
    memcpy(&h, sha, sizeof(h));
    return (size_t)h & (c->cap - 1);
}

static entry_t *find(eco_auth_keycache_t *c, const uint8_t sha[32])
{
    size_t i = slot_of(c, sha);
    for (int p = 0; p < PROBE; p++, i = (i + 1) & (c->cap - 1)) {
        if (!c->e[i].used)
            return NULL;
        if (memcmp(c->e[i].sha, sha, 32) == 0)
            return &c->e[i];
    }
    return NULL;
}

/* The key's slot, a free one, or the least recently fetched of the run. */
static entry_t *slot_for(eco_auth_keycache_t *c, const uint8_t sha[32])
{
    size_t i = slot_of(c, sha);
    entry_t *victim = NULL;
    for (int p = 0; p < PROBE; p++, i = (i + 1) & (c->cap - 1)) {
        entry_t *e = &c->e[i];
        if (!e->used || memcmp(e->sha, sha, 32) == 0)
            return e;
        if (!victim || e->fetched_ms < victim->fetched_ms)
            victim = e;
    }
    return victim;
}

/* Another thread may have put an entry a moment "after" the caller read its clock: age 0. */
static uint64_t age(const entry_t *e, uint64_t now_ms)
{
    return now_ms > e->fetched_ms ? now_ms - e->fetched_ms : 0;
}

static int expired(const entry_t *e, int64_t now_s)
{
    return e->key.expires_s && e->key.expires_s <= now_s;
}

eco_auth_keycache_result_t eco_auth_keycache_get(eco_auth_keycache_t *c, const uint8_t sha[32], uint64_t now_ms,
                                                 int64_t now_s, eco_auth_key_t *out)
{
    eco_auth_keycache_result_t r = ECO_AUTH_KEYCACHE_MISS;
    pthread_mutex_lock(&c->mu);
    entry_t *e = find(c, sha);
    if (e && age(e, now_ms) < (uint64_t)c->o.ttl_ms) {
        if (!e->valid || expired(e, now_s)) {
            r = ECO_AUTH_KEYCACHE_INVALID;
        } else {
            r = ECO_AUTH_KEYCACHE_VALID;
            if (out)
                *out = e->key;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return r;
}

void eco_auth_keycache_put(eco_auth_keycache_t *c, const uint8_t sha[32], const eco_auth_key_t *key, uint64_t now_ms)
{
    pthread_mutex_lock(&c->mu);
    entry_t *e = slot_for(c, sha);
    memset(e, 0, sizeof(*e));
    memcpy(e->sha, sha, 32);
    e->used = 1;
    e->valid = key != NULL;
    e->fetched_ms = now_ms;
    if (key)
        e->key = *key;
    pthread_mutex_unlock(&c->mu);
}

int eco_auth_keycache_get_stale(eco_auth_keycache_t *c, const uint8_t sha[32], uint64_t now_ms, int64_t now_s,
                                eco_auth_key_t *out)
{
    pthread_mutex_lock(&c->mu);
    entry_t *e = find(c, sha);
    int ok = e && e->valid && age(e, now_ms) < (uint64_t)c->o.stale_ms && !expired(e, now_s);
    if (ok && out)
        *out = e->key;
    pthread_mutex_unlock(&c->mu);
    return ok;
}

size_t eco_auth_keycache_count(eco_auth_keycache_t *c, uint64_t now_ms)
{
    size_t n = 0;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->cap; i++)
        n += c->e[i].used && c->e[i].valid && age(&c->e[i], now_ms) < (uint64_t)c->o.stale_ms;
    pthread_mutex_unlock(&c->mu);
    return n;
}
