/* Backend choice: the lowest tier that has an eligible backend with room, power of two
 * choices on (in-flight + reported queue depth) / weight within it. */
#include "ai.h"

#include <string.h>

unsigned route_limit(const ai_t *ai, const backend_t *b)
{
    unsigned lim = (unsigned)ai->s.backend_max_inflight;
    unsigned adapter = atomic_load(&b->max_concurrency);
    return adapter && adapter < lim ? adapter : lim;
}

static int skipped(const backend_t *b, backend_t *const *skip, size_t nskip)
{
    for (size_t i = 0; i < nskip; i++)
        if (skip[i] == b)
            return 1;
    return 0;
}

static uint64_t fnv1a(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

uint64_t route_affinity(const ai_t *ai, const char *session, const Eco__Ai__V1__GenerateRequest *gen)
{
    const uint64_t basis = 0xcbf29ce484222325ULL;
    if (session && session[0])
        return fnv1a(basis, session, strlen(session)) | 1;
    if (!ai->s.prefix_affinity || !gen || gen->n_messages < 2)
        return 0;
    uint64_t h = basis;
    for (size_t i = 0; i + 1 < gen->n_messages; i++) {
        h = fnv1a(h, gen->messages[i]->role, strlen(gen->messages[i]->role) + 1);
        h = fnv1a(h, gen->messages[i]->content, strlen(gen->messages[i]->content) + 1);
    }
    return h | 1;
}

/* Rendezvous hashing: the candidate with the highest mix(key, address) keeps a key on one
 * backend while the set is stable; used unless it is clearly busier than the least busy. */
static int affinity_pick(backend_t *const *cand, const double *cost, size_t n, uint64_t key)
{
    int best = -1;
    uint64_t best_w = 0;
    double least = -1;
    for (size_t i = 0; i < n; i++) {
        if (cost[i] < 0)
            continue;
        if (least < 0 || cost[i] < least)
            least = cost[i];
        uint64_t w = mix(key ^ fnv1a(0xcbf29ce484222325ULL, cand[i]->address, strlen(cand[i]->address)));
        if (best < 0 || w > best_w) {
            best = (int)i;
            best_w = w;
        }
    }
    if (best >= 0 && cost[best] > 2 * least + 2)
        return -1;
    return best;
}

backend_t *route_pick(ai_t *ai, const reg_model_t *m, backend_t *const *skip, size_t nskip, int need_continuation,
                      uint64_t affinity, int *busy)
{
    uint64_t now = eco_now_ms();
    *busy = 0;
    for (int tier = 0; tier <= 9; tier++) {
        backend_t *cand[REG_MAX_BACKENDS];
        double cost[REG_MAX_BACKENDS];
        size_t n = 0;
        for (size_t k = 0; k < m->nbackends; k++) {
            const reg_backend_t *rb = &m->backends[k];
            if (rb->tier != tier)
                continue;
            backend_t *b = backends_find(ai->bk, rb->address);
            if (!b || skipped(b, skip, nskip))
                continue;
            /* Never probed yet: optimistic (a failure is retried elsewhere). */
            if (atomic_load(&b->probed) && !atomic_load(&b->healthy))
                continue;
            if (need_continuation && !atomic_load(&b->continuation))
                continue;
            if (b->not_before_ms > now) {
                *busy |= ROUTE_COOLING;
                continue;
            }
            if (eco_cb_state(&b->cb, now) == ECO_CB_OPEN)
                continue;
            if (b->inflight >= route_limit(ai, b)) {
                *busy |= ROUTE_FULL;
                continue;
            }
            cand[n] = b;
            cost[n] = ((double)b->inflight + (double)atomic_load(&b->queue_depth)) / (double)rb->weight;
            n++;
        }
        for (size_t left = n; left > 0; left--) {
            int i = affinity ? affinity_pick(cand, cost, n, affinity) : -1;
            if (i < 0)
                i = eco_p2c_pick(cost, n, &ai->rng);
            if (i < 0)
                break;
            if (eco_cb_allow(&cand[i]->cb, now))
                return cand[i];
            cost[i] = -1; /* half-open with its probe slots taken */
            *busy |= ROUTE_FULL;
        }
    }
    return NULL;
}

eco_dep_state_t route_check_models(void *data, char *detail, size_t len)
{
    ai_t *ai = data;
    backends_wait_probed(ai->bk, 3000); /* the first answer after start-up reflects real probes */
    const registry_t *reg = ai->reg;
    size_t served = 0, unserved = 0;
    eco_buf_t names;
    eco_buf_init(&names, len);
    for (size_t m = 0; m < reg->nmodels; m++) {
        const reg_model_t *model = &reg->models[m];
        int any = 0;
        for (size_t k = 0; k < model->nbackends && !any; k++)
            any = backends_healthy(ai->bk, model->backends[k].address);
        if (any) {
            served++;
        } else {
            unserved++;
            eco_buf_addf(&names, "%s%s", names.len ? "," : "", model->id);
        }
    }
    snprintf(detail, len, "%zu of %zu models have a healthy backend%s%s", served, served + unserved,
             unserved ? "; none for: " : "", unserved ? eco_buf_cstr(&names) : "");
    eco_buf_free(&names);
    if (served == 0)
        return ECO_DEP_DOWN;
    return unserved ? ECO_DEP_DEGRADED : ECO_DEP_UP;
}
