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
    char err[160] = "";
    long lim[2] = {g->rpm, g->tpm}, cost[2] = {1, g->reserve};
    g->rl_rc = eco_store_limiter_take(gw.limiter, w, g->subject, g->revoked_key[0] ? g->revoked_key : NULL, lim, cost,
                                      &g->lim, err, sizeof(err));
    if (g->lim.redis_error)
        eco_warn("rate limiter: Redis unavailable", ECO_KS("error", err), ECO_KS("request_id", g->request_id));
    eco_service_post(gw.svc, limit_done, g);
}

static void limit_done(void *data)
{
    gw_req_t *g = data;
    g->job_out = 0;
    if (!g->lim.redis_error) {
        eco_metrics_set(gw.m_backend, 1.0, "redis");
        eco_metrics_set(gw.m_backend, 0.0, "local");
    } else {
        eco_metrics_inc(gw.m_redis_errors);
        eco_metrics_set(gw.m_backend, 0.0, "redis");
        if (g->rl_rc) { /* fail closed */
            eco_metrics_inc(gw.m_limit, "fail_closed");
            gw_fail(g, 503, "rate_limiter_unavailable", "limits cannot be enforced right now; retry shortly");
            return;
        }
        /* fail open: this replica's own view decided; a revoked JWT cannot be recognised there */
        eco_metrics_set(gw.m_backend, 1.0, "local");
    }
    eco_metrics_inc(gw.m_limit, g->lim.rl.revoked ? "revoked" : g->lim.rl.allowed ? "allowed" : "limited");
    if (g->lim.rl.allowed && g->reserve > 0)
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
        add_num(call, "x-ratelimit-remaining-requests", g->rpm - g->lim.rl.used[0]);
        add_num(call, "x-ratelimit-reset-requests", (g->lim.rl.reset_ms[0] + 999) / 1000);
    }
    if (g->tpm > 0 && (g->rule->flags & ECO_RULE_INFERENCE)) {
        add_num(call, "x-ratelimit-limit-tokens", g->tpm);
        add_num(call, "x-ratelimit-remaining-tokens", g->tpm - g->lim.rl.used[1]);
        add_num(call, "x-ratelimit-reset-tokens", (g->lim.rl.reset_ms[1] + 999) / 1000);
    }
}

/* ---------- reconciliation (fire and forget) ---------- */

void gw_reconcile(gw_req_t *g, long actual)
{
    if (actual < 0)
        actual = 0;
    long delta = actual - g->reserve;
    g->reserve = 0;
    if (delta == 0)
        return;
    eco_metrics_add(gw.m_tokens, (double)(delta < 0 ? -delta : delta), delta < 0 ? "refunded" : "overrun");
    eco_store_limiter_adjust(gw.limiter, &g->lim, g->subject, 1, delta);
}
