/* Sliding-window limits in Redis (one atomic Lua script) and their in-process twin. */
#include "eco_ratelimit.h"
#include "eco_store.h"
#include "store_internal.h"

#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* KEYS: dim0 hash, dim1 hash, [revocation key]. ARGV: window_ms, bucket_ms, dry, limit0, limit1,
 * cost0, cost1. Returns {allowed(1/0/-1 revoked), used0, used1, retry_ms, too_large, bucket,
 * oldest0, oldest1, now_ms}. */
static const char take_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local win, bms = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local nb = math.floor(win / bms)\n"
    "local cur = math.floor(now / bms)\n"
    "if #KEYS > 2 and redis.call('EXISTS', KEYS[3]) == 1 then return {-1, 0, 0, 0, 0, cur, -1, -1, now} end\n"
    "local first = cur - nb + 1\n"
    "local used, oldest = {0, 0}, {-1, -1}\n"
    "local retry, too_large = 0, 0\n"
    "for i = 1, 2 do\n"
    "  local lim, cost = tonumber(ARGV[3 + i]), tonumber(ARGV[5 + i])\n"
    "  local h = redis.call('HGETALL', KEYS[i])\n"
    "  local stale, b = {}, {}\n"
    "  for j = 1, #h, 2 do\n"
    "    local id, v = tonumber(h[j]), tonumber(h[j + 1])\n"
    "    if id < first then stale[#stale + 1] = h[j]\n"
    "    elseif v > 0 then used[i] = used[i] + v; b[#b + 1] = {id, v} end\n"
    "  end\n"
    "  if #stale > 0 then redis.call('HDEL', KEYS[i], unpack(stale)) end\n"
    "  table.sort(b, function(x, y) return x[1] < y[1] end)\n"
    "  if #b > 0 then oldest[i] = b[1][1] end\n"
    "  if lim > 0 and used[i] + cost > lim then\n"
    "    if cost > lim then too_large = 1; retry = math.max(retry, win)\n"
    "    else\n"
    "      local need, freed = used[i] + cost - lim, 0\n"
    "      for _, e in ipairs(b) do\n"
    "        freed = freed + e[2]\n"
    "        if freed >= need then retry = math.max(retry, (e[1] + nb) * bms - now); break end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if retry > 0 then return {0, used[1], used[2], retry, too_large, cur, oldest[1], oldest[2], now} end\n"
    "if ARGV[3] ~= '1' then\n"
    "  for i = 1, 2 do\n"
    "    local cost = tonumber(ARGV[5 + i])\n"
    "    if cost > 0 then\n"
    "      redis.call('HINCRBY', KEYS[i], cur, cost)\n"
    "      redis.call('PEXPIRE', KEYS[i], win + bms)\n"
    "      used[i] = used[i] + cost\n"
    "      if oldest[i] < 0 then oldest[i] = cur end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return {1, used[1], used[2], 0, 0, cur, oldest[1], oldest[2], now}\n";

/* KEYS: the dimension's hash. ARGV: bucket, delta. */
static const char adjust_lua[] = "if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then\n"
                                 "  local v = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])\n"
                                 "  if v < 0 then redis.call('HSET', KEYS[1], ARGV[1], 0) end\n"
                                 "  return 1\n"
                                 "end\n"
                                 "return 0\n";

static char take_sha[41], adjust_sha[41];
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;

static void sha1_hex(const char *s, char out[41])
{
    unsigned char d[20];
    SHA1((const unsigned char *)s, strlen(s), d);
    for (int i = 0; i < 20; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void init_shas(void)
{
    sha1_hex(take_lua, take_sha);
    sha1_hex(adjust_lua, adjust_sha);
}

/* EVALSHA, then EVAL when the server does not know the script yet (first call, restart). */
static int eval(redisContext *c, const char *script, const char *sha, int argc, const char **argv, size_t *lens,
                redisReply **out, char *err, size_t errlen)
{
    *out = NULL;
    argv[0] = "EVALSHA";
    argv[1] = sha;
    lens[0] = 7;
    lens[1] = 40;
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    if (r && r->type == REDIS_REPLY_ERROR && r->str && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(r);
        argv[0] = "EVAL";
        argv[1] = script;
        lens[0] = 4;
        lens[1] = strlen(script);
        r = redisCommandArgv(c, argc, argv, lens);
    }
    if (!r) {
        eco__store_seterr(err, errlen, "Redis: %s", c->errstr[0] ? c->errstr : "connection lost");
        return ECO_STORE_ECONN;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        char line[160];
        eco__store_first_line(line, sizeof(line), r->str ? r->str : "error");
        eco__store_seterr(err, errlen, "Redis script failed: %s", line);
        freeReplyObject(r);
        return ECO_STORE_EQUERY;
    }
    *out = r;
    return 0;
}

static void key_name(char *out, size_t n, const eco_store_rl_spec_t *s, const char *subject, int dim)
{
    snprintf(out, n, "%s{%s}:%d", s->prefix, subject, dim);
}

static void fill_reset(eco_store_rl_result_t *o, const eco_store_rl_spec_t *s, const long long *v)
{
    long long nb = s->window_ms / s->bucket_ms;
    for (int d = 0; d < 2; d++)
        o->reset_ms[d] = v[6 + d] < 0 ? 0 : (long)((v[6 + d] + nb) * s->bucket_ms - v[8]);
}

int eco_store_rl_take(redisContext *c, const eco_store_rl_spec_t *spec, const char *subject, const char *revoked_key,
                      const long limit[2], const long cost[2], int dry, eco_store_rl_result_t *out, char *err,
                      size_t errlen)
{
    pthread_once(&sha_once, init_shas);
    memset(out, 0, sizeof(*out));
    char k0[ECO_RL_MAX_SUBJECT + 64], k1[ECO_RL_MAX_SUBJECT + 64], a[7][24];
    key_name(k0, sizeof(k0), spec, subject, 0);
    key_name(k1, sizeof(k1), spec, subject, 1);
    snprintf(a[0], sizeof(a[0]), "%ld", spec->window_ms);
    snprintf(a[1], sizeof(a[1]), "%ld", spec->bucket_ms);
    snprintf(a[2], sizeof(a[2]), "%d", dry ? 1 : 0);
    snprintf(a[3], sizeof(a[3]), "%ld", limit[0]);
    snprintf(a[4], sizeof(a[4]), "%ld", limit[1]);
    snprintf(a[5], sizeof(a[5]), "%ld", cost[0]);
    snprintf(a[6], sizeof(a[6]), "%ld", cost[1]);
    int nkeys = revoked_key ? 3 : 2;
    const char *argv[14];
    size_t lens[14];
    int argc = 0;
    argv[argc++] = NULL; /* EVALSHA / EVAL, filled by eval() */
    argv[argc++] = NULL;
    char nk[4];
    snprintf(nk, sizeof(nk), "%d", nkeys);
    argv[argc++] = nk;
    argv[argc++] = k0;
    argv[argc++] = k1;
    if (revoked_key)
        argv[argc++] = revoked_key;
    for (int i = 0; i < 7; i++)
        argv[argc++] = a[i];
    for (int i = 2; i < argc; i++)
        lens[i] = strlen(argv[i]);
    redisReply *r;
    int rc = eval(c, take_lua, take_sha, argc, argv, lens, &r, err, errlen);
    if (rc)
        return rc;
    long long v[9];
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 9) {
        freeReplyObject(r);
        eco__store_seterr(err, errlen, "unexpected reply from the rate-limit script");
        return ECO_STORE_EPROTO;
    }
    for (int i = 0; i < 9; i++) {
        if (r->element[i]->type != REDIS_REPLY_INTEGER) {
            freeReplyObject(r);
            eco__store_seterr(err, errlen, "unexpected reply from the rate-limit script");
            return ECO_STORE_EPROTO;
        }
        v[i] = r->element[i]->integer;
    }
    freeReplyObject(r);
    out->allowed = v[0] == 1;
    out->revoked = v[0] == -1;
    out->used[0] = (long)v[1];
    out->used[1] = (long)v[2];
    out->retry_ms = (long)v[3];
    out->too_large = v[4] == 1;
    out->bucket = v[5];
    fill_reset(out, spec, v);
    return 0;
}

int eco_store_rl_adjust(redisContext *c, const eco_store_rl_spec_t *spec, const char *subject, int dim, int64_t bucket,
                        long delta, char *err, size_t errlen)
{
    pthread_once(&sha_once, init_shas);
    char k[ECO_RL_MAX_SUBJECT + 64], b[24], d[24];
    key_name(k, sizeof(k), spec, subject, dim);
    snprintf(b, sizeof(b), "%lld", (long long)bucket);
    snprintf(d, sizeof(d), "%ld", delta);
    const char *argv[6] = {NULL, NULL, "1", k, b, d};
    size_t lens[6];
    for (int i = 2; i < 6; i++)
        lens[i] = strlen(argv[i]);
    redisReply *r;
    int rc = eval(c, adjust_lua, adjust_sha, 6, argv, lens, &r, err, errlen);
    if (r)
        freeReplyObject(r);
    return rc;
}

/* ---------- in-process twin ---------- */

typedef struct {
    char subject[ECO_RL_MAX_SUBJECT];
    uint64_t last_used;
    int64_t id[2][ECO_RL_MAX_BUCKETS];
    long val[2][ECO_RL_MAX_BUCKETS];
} slot_t;

struct eco_store_rl_local {
    eco_store_rl_spec_t spec;
    long nb;
    size_t cap; /* power of two */
    slot_t *slots;
    pthread_mutex_t mu;
};

eco_store_rl_local_t *eco_store_rl_local_new(const eco_store_rl_spec_t *spec, size_t max_subjects)
{
    eco_store_rl_local_t *l = eco_calloc(1, sizeof(*l));
    l->spec = *spec;
    l->nb = spec->window_ms / spec->bucket_ms;
    ECO_BUG_ON(l->nb < 1 || l->nb > ECO_RL_MAX_BUCKETS);
    l->cap = 16;
    while (l->cap < max_subjects)
        l->cap <<= 1;
    l->slots = eco_calloc(l->cap, sizeof(slot_t));
    pthread_mutex_init(&l->mu, NULL);
    return l;
}

void eco_store_rl_local_free(eco_store_rl_local_t *l)
{
    if (!l)
        return;
    pthread_mutex_destroy(&l->mu);
    free(l->slots);
    free(l);
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The subject's slot: found, free, or the least recently used of the probe run (recycled). */
static slot_t *find_slot(eco_store_rl_local_t *l, const char *subject, int create)
{
    size_t mask = l->cap - 1, i = (size_t)fnv1a(subject) & mask;
    slot_t *victim = NULL;
    for (int probe = 0; probe < 16; probe++, i = (i + 1) & mask) {
        slot_t *s = &l->slots[i];
        if (s->subject[0] && strcmp(s->subject, subject) == 0)
            return s;
        if (!s->subject[0]) {
            victim = s;
            break;
        }
        if (!victim || s->last_used < victim->last_used)
            victim = s;
    }
    if (!create)
        return NULL;
    memset(victim, 0, sizeof(*victim));
    snprintf(victim->subject, sizeof(victim->subject), "%s", subject);
    for (int d = 0; d < 2; d++)
        for (long b = 0; b < l->nb; b++)
            victim->id[d][b] = -1;
    return victim;
}

void eco_store_rl_local_take(eco_store_rl_local_t *l, const char *subject, const long limit[2], const long cost[2],
                             int dry, uint64_t now_ms, eco_store_rl_result_t *out)
{
    memset(out, 0, sizeof(*out));
    int64_t bms = l->spec.bucket_ms, cur = (int64_t)now_ms / bms, first = cur - l->nb + 1;
    pthread_mutex_lock(&l->mu);
    slot_t *s = find_slot(l, subject, 1);
    s->last_used = now_ms;
    int64_t oldest[2] = {-1, -1};
    for (int d = 0; d < 2; d++) {
        /* buckets live in a ring indexed by id mod nb; a stale id in a cell is ignored */
        for (long b = 0; b < l->nb; b++)
            if (s->id[d][b] >= first && s->val[d][b] > 0) {
                out->used[d] += s->val[d][b];
                if (oldest[d] < 0 || s->id[d][b] < oldest[d])
                    oldest[d] = s->id[d][b];
            }
        if (limit[d] > 0 && out->used[d] + cost[d] > limit[d]) {
            long retry = 0;
            if (cost[d] > limit[d]) {
                out->too_large = 1;
                retry = l->spec.window_ms;
            } else {
                long need = out->used[d] + cost[d] - limit[d], freed = 0;
                for (int64_t id = first; id <= cur; id++) {
                    long cell = (long)(id % l->nb);
                    if (s->id[d][cell] == id)
                        freed += s->val[d][cell];
                    if (freed >= need) {
                        retry = (long)((id + l->nb) * bms - (int64_t)now_ms);
                        break;
                    }
                }
            }
            if (retry > out->retry_ms)
                out->retry_ms = retry;
        }
    }
    out->bucket = cur;
    if (out->retry_ms == 0) {
        out->allowed = 1;
        for (int d = 0; d < 2 && !dry; d++) {
            if (cost[d] <= 0)
                continue;
            long cell = (long)(cur % l->nb);
            if (s->id[d][cell] != cur) {
                s->id[d][cell] = cur;
                s->val[d][cell] = 0;
            }
            s->val[d][cell] += cost[d];
            out->used[d] += cost[d];
            if (oldest[d] < 0)
                oldest[d] = cur;
        }
    }
    for (int d = 0; d < 2; d++)
        out->reset_ms[d] = oldest[d] < 0 ? 0 : (long)((oldest[d] + l->nb) * bms - (int64_t)now_ms);
    pthread_mutex_unlock(&l->mu);
}

void eco_store_rl_local_adjust(eco_store_rl_local_t *l, const char *subject, int dim, int64_t bucket, long delta,
                               uint64_t now_ms)
{
    if (dim < 0 || dim > 1)
        return;
    pthread_mutex_lock(&l->mu);
    slot_t *s = find_slot(l, subject, 0);
    long cell = (long)(bucket % l->nb);
    if (s && bucket >= (int64_t)now_ms / l->spec.bucket_ms - l->nb + 1 && s->id[dim][cell] == bucket) {
        s->val[dim][cell] += delta;
        if (s->val[dim][cell] < 0)
            s->val[dim][cell] = 0;
    }
    pthread_mutex_unlock(&l->mu);
}
