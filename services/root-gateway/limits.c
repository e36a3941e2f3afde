/* Limits after authentication: per-key (or per-user, per-IP on public routes) requests and
 * tokens per minute, in Redis with one atomic script; tokens are reserved from the request's
 * max_tokens at admission and reconciled when the response ends. Redis down: fail closed (503)
 * or open (the in-process twin, one replica's view), as ECO_REDIS_FAIL_MODE says. */
#include "gw.h"

#include <string.h>

/* ---------- the reservation ---------- */

/* Tokens an inference request may spend: a prompt estimate (4 bytes a token, generous for the
 * JSON around it) plus max_tokens (or the default). Embeddings have no completion. */
static void estimate(gw_req_t *g)
{
    h2o_req_t *req = g->call->req;
    size_t len = req->entity.base ? req->entity.len : 0;
    g->prompt_estimate = (long)(len / 4) + 1;
    long completion = gw.default_max_tokens;
    if (strstr(g->rule->pattern, "embeddings")) {
        completion = 0;
    } else if (len) {
        json_t *j = json_loadb(req->entity.base, len, 0, NULL);
        json_t *m = j ? json_object_get(j, "max_completion_tokens") : NULL;
        if (!json_is_integer(m) && j)
            m = json_object_get(j, "max_tokens");
        if (json_is_integer(m) && json_integer_value(m) >= 0 && json_integer_value(m) <= 10000000)
            completion = (long)json_integer_value(m);
        if (j)
            json_decref(j);
    }
    g->reserve = g->prompt_estimate + completion;
}

/* ---------- admission ---------- */

static void limit_done(void *data);

static void limit_job(eco_store_worker_t *w, void *data)
{
    gw_req_t *g = data;
    char err[160];
    long lim[2] = {g->rpm, g->tpm}, cost[2] = {1, g->reserve};
    redisContext *c = eco_store_worker_redis(w, err, sizeof(err));
    g->rl_rc = ECO_STORE_ECONN;
    if (c) {
        g->rl_rc = eco_store_rl_take(c, &gw.rl_spec, g->subject, g->revoked_key[0] ? g->revoked_key : NULL, lim, cost,
                                     0, &g->rl, err, sizeof(err));
        if (g->rl_rc == ECO_STORE_ECONN)
            eco_store_worker_redis_broken(w);
    }
    if (g->rl_rc)
        eco_warn("rate limiter: Redis unavailable", ECO_KS("error", err), ECO_KS("request_id", g->request_id));
    eco_service_post(gw.svc, limit_done, g);
}

static void limit_done(void *data)
{
    gw_req_t *g = data;
    g->job_out = 0;
    if (g->rl_rc == 0) {
        g->rl_remote = 1;
        eco_metrics_set(gw.m_backend, 1.0, "redis");
        eco_metrics_set(gw.m_backend, 0.0, "local");
    } else {
        eco_metrics_inc(gw.m_redis_errors);
        eco_metrics_set(gw.m_backend, 0.0, "redis");
        if (!gw.fail_open) {
            eco_metrics_inc(gw.m_limit, "fail_closed");
            gw_fail(g, 503, "rate_limiter_unavailable", "limits cannot be enforced right now; retry shortly");
            return;
        }
        /* fail open: this replica's own view; a revoked JWT cannot be recognised here */
        eco_metrics_set(gw.m_backend, 1.0, "local");
        long lim[2] = {g->rpm, g->tpm}, cost[2] = {1, g->reserve};
        eco_store_rl_local_take(gw.local, g->subject, lim, cost, 0, eco_now_ms(), &g->rl);
        g->rl_remote = 0;
    }
    eco_metrics_inc(gw.m_limit, g->rl.revoked ? "revoked" : g->rl.allowed ? "allowed" : "limited");
    if (g->rl.allowed && g->reserve > 0)
        eco_metrics_add(gw.m_tokens, (double)g->reserve, "reserved");
    if (!g->call) {
        gw_finish(g); /* refunds the reservation */
        return;
    }
    gw_after_limit(g);
}

void gw_limit_start(gw_req_t *g)
{
    if (g->rule->flags & ECO_RULE_INFERENCE)
        estimate(g);
    g->stage = ST_LIMIT;
    g->job_out = 1;
    if (eco_store_pool_submit(gw.pool, limit_job, g) != 0) {
        g->job_out = 0;
        g->reserve = 0;
        gw_fail(g, 503, "overloaded", "too many requests waiting; retry shortly");
    }
}

static void add_num(eco_http_call_t *call, const char *name, long v)
{
    char s[24];
    snprintf(s, sizeof(s), "%ld", v < 0 ? 0 : v);
    eco_http_add_header(call, name, s);
}

void gw_limit_headers(gw_req_t *g)
{
    eco_http_call_t *call = g->call;
    if (g->rpm > 0) {
        add_num(call, "x-ratelimit-limit-requests", g->rpm);
        add_num(call, "x-ratelimit-remaining-requests", g->rpm - g->rl.used[0]);
        add_num(call, "x-ratelimit-reset-requests", (g->rl.reset_ms[0] + 999) / 1000);
    }
    if (g->tpm > 0 && (g->rule->flags & ECO_RULE_INFERENCE)) {
        add_num(call, "x-ratelimit-limit-tokens", g->tpm);
        add_num(call, "x-ratelimit-remaining-tokens", g->tpm - g->rl.used[1]);
        add_num(call, "x-ratelimit-reset-tokens", (g->rl.reset_ms[1] + 999) / 1000);
    }
}

/* ---------- reconciliation (fire and forget) ---------- */

typedef struct {
    char subject[80];
    int64_t bucket;
    long delta;
} adjust_t;

static void adjust_job(eco_store_worker_t *w, void *data)
{
    adjust_t *a = data;
    char err[160];
    redisContext *c = eco_store_worker_redis(w, err, sizeof(err));
    int rc =
        c ? eco_store_rl_adjust(c, &gw.rl_spec, a->subject, 1, a->bucket, a->delta, err, sizeof(err)) : ECO_STORE_ECONN;
    if (rc == ECO_STORE_ECONN && c)
        eco_store_worker_redis_broken(w);
    if (rc)
        eco_warn("token reconciliation lost (Redis unavailable)", ECO_KS("subject", a->subject),
                 ECO_KI("delta", a->delta), ECO_KS("error", err));
    free(a);
}

void gw_reconcile(gw_req_t *g, long actual)
{
    if (actual < 0)
        actual = 0;
    long delta = actual - g->reserve;
    g->reserve = 0;
    if (delta == 0)
        return;
    eco_metrics_add(gw.m_tokens, (double)(delta < 0 ? -delta : delta), delta < 0 ? "refunded" : "overrun");
    if (!g->rl_remote) {
        eco_store_rl_local_adjust(gw.local, g->subject, 1, g->rl.bucket, delta, eco_now_ms());
        return;
    }
    adjust_t *a = eco_calloc(1, sizeof(*a));
    snprintf(a->subject, sizeof(a->subject), "%s", g->subject);
    a->bucket = g->rl.bucket;
    a->delta = delta;
    if (eco_store_pool_submit(gw.pool, adjust_job, a) != 0) {
        eco_warn("token reconciliation dropped (queue full)", ECO_KS("subject", a->subject));
        free(a);
    }
}
