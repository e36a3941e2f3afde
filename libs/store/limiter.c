/* A service's limiter (eco_ratelimit.h): the Redis script through a pool worker, the in-process
 * twin when Redis is down in fail-open mode, and fire-and-forget reconciliation. */
#include "eco_ratelimit.h"
#include "eco_store.h"
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct eco_store_limiter {
    eco_store_limiter_opts_t o;
    char prefix[65];
    eco_store_rl_local_t *local;
};

eco_store_limiter_t *eco_store_limiter_new(const eco_store_limiter_opts_t *opts)
{
    ECO_BUG_ON(!opts->pool || !opts->spec.prefix || strlen(opts->spec.prefix) > 64);
    eco_store_limiter_t *l = eco_calloc(1, sizeof(*l));
    l->o = *opts;
    snprintf(l->prefix, sizeof(l->prefix), "%s", opts->spec.prefix);
    l->o.spec.prefix = l->prefix;
    l->local = eco_store_rl_local_new(&l->o.spec, opts->local_subjects ? opts->local_subjects : 16384);
    return l;
}

void eco_store_limiter_free(eco_store_limiter_t *l)
{
    if (!l)
        return;
    eco_store_rl_local_free(l->local);
    free(l);
}

int eco_store_limiter_take(eco_store_limiter_t *l, eco_store_worker_t *w, const char *subject, const char *revoked_key,
                           const long limit[2], const long cost[2], eco_store_limit_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    redisContext *c = eco_store_worker_redis(w, err, errlen);
    int rc = ECO_STORE_ECONN;
    if (c) {
        rc = eco_store_rl_take(c, &l->o.spec, subject, revoked_key, limit, cost, 0, &out->rl, err, errlen);
        if (rc == ECO_STORE_ECONN)
            eco_store_worker_redis_broken(w);
    }
    if (rc == 0) {
        out->remote = 1;
        return 0;
    }
    out->redis_error = rc;
    if (!l->o.fail_open)
        return rc;
    /* fail open: this replica's own view */
    eco_store_rl_local_take(l->local, subject, limit, cost, 0, eco_now_ms(), &out->rl);
    return 0;
}

typedef struct {
    eco_store_limiter_t *l;
    char subject[ECO_RL_MAX_SUBJECT];
    int dim;
    int64_t bucket;
    long delta;
} adjust_t;

static void adjust_job(eco_store_worker_t *w, void *data)
{
    adjust_t *a = data;
    char err[160] = "";
    redisContext *c = eco_store_worker_redis(w, err, sizeof(err));
    int rc = c ? eco_store_rl_adjust(c, &a->l->o.spec, a->subject, a->dim, a->bucket, a->delta, err, sizeof(err))
               : ECO_STORE_ECONN;
    if (rc == ECO_STORE_ECONN && c)
        eco_store_worker_redis_broken(w);
    if (rc)
        eco_warn("token reconciliation lost (Redis unavailable)", ECO_KS("subject", a->subject),
                 ECO_KI("delta", a->delta), ECO_KS("error", err));
    free(a);
}

void eco_store_limiter_adjust(eco_store_limiter_t *l, const eco_store_limit_t *t, const char *subject, int dim,
                              long delta)
{
    if (delta == 0)
        return;
    if (!t->remote) {
        eco_store_rl_local_adjust(l->local, subject, dim, t->rl.bucket, delta, eco_now_ms());
        return;
    }
    adjust_t *a = eco_calloc(1, sizeof(*a));
    a->l = l;
    snprintf(a->subject, sizeof(a->subject), "%s", subject);
    a->dim = dim;
    a->bucket = t->rl.bucket;
    a->delta = delta;
    if (eco_store_pool_submit(l->o.pool, adjust_job, a) != 0) {
        eco_warn("token reconciliation dropped (queue full)", ECO_KS("subject", a->subject));
        free(a);
    }
}
