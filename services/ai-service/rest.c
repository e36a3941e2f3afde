/* The OpenAI REST face: /v1/chat/completions, /v1/completions, /v1/embeddings. Each request
 * becomes one job per prompt; the request state lives in the request's pool and detaches its
 * jobs when the client goes away. */
#include "rest.h"

#include "eco_auth.h"
#include "oai.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SSE_MAX_PENDING (256u << 10)

typedef struct {
    ai_t *ai;
    eco_http_call_t *call;
    oai_req_t req;
    oai_kind_t kind;
    const reg_model_t *model;
    char id[48];
    long created;
    /* one job per prompt */
    size_t njobs, pending;
    job_t *jobs[OAI_MAX_PROMPTS];
    Eco__Ai__V1__GenerateRequest gens[OAI_MAX_PROMPTS];
    char *texts[OAI_MAX_PROMPTS];
    char finish[OAI_MAX_PROMPTS][32];
    Eco__Ai__V1__Usage usage;
    const char *answered_by;
    long overhead_us;
    int failed;
    /* streaming */
    eco_sse_t *sse;
    job_t *paused;
    eco_buf_t out;
} rest_t;

static const char *error_type(int status)
{
    switch (status) {
    case 400:
    case 404:
    case 413:
        return "invalid_request_error";
    case 429:
        return "rate_limit_error";
    default:
        return "server_error";
    }
}

static size_t job_index(rest_t *r, job_t *j)
{
    for (size_t i = 0; i < r->njobs; i++)
        if (r->jobs[i] == j)
            return i;
    ECO_BUG_ON(1);
    return 0;
}

static void on_dispose(void *p)
{
    rest_t *r = p;
    for (size_t i = 0; i < r->njobs; i++)
        if (r->jobs[i])
            job_detach(r->jobs[i]);
    for (size_t i = 0; i < OAI_MAX_PROMPTS; i++)
        free(r->texts[i]);
    eco_buf_free(&r->out);
    oai_req_free(&r->req);
}

static void add_overhead_header(rest_t *r)
{
    char v[24];
    snprintf(v, sizeof(v), "%ld", r->overhead_us);
    eco_http_add_header(r->call, "x-eco-overhead-us", v);
}

/* ---------- non-streamed answers ---------- */

static void reply_if_done(rest_t *r)
{
    if (--r->pending > 0)
        return;
    if (r->failed)
        return; /* the first error was sent */
    eco_buf_reset(&r->out);
    if (r->kind == OAI_EMBEDDING)
        return; /* answered in on_result */
    const char *finish[OAI_MAX_PROMPTS];
    for (size_t i = 0; i < r->njobs; i++)
        finish[i] = r->finish[i];
    r->usage.total_tokens = r->usage.prompt_tokens + r->usage.completion_tokens;
    oai_write_completion(&r->out, r->kind, r->id, r->created, r->answered_by, (const char *const *)r->texts, finish,
                         r->njobs, &r->usage);
    add_overhead_header(r);
    eco_http_send(r->call, 200, "application/json", r->out.base, r->out.len);
}

static void on_result(job_t *j, const ProtobufCMessage *resp, void *data)
{
    rest_t *r = data;
    size_t i = job_index(r, j);
    r->jobs[i] = NULL;
    r->answered_by = job_model_id(j);
    long ov = job_overhead_us(j);
    if (ov > r->overhead_us)
        r->overhead_us = ov;
    eco_metrics_observe(r->ai->m_overhead, (double)ov / 1e6, r->kind == OAI_EMBEDDING ? "embeddings" : "completion");
    if (r->kind == OAI_EMBEDDING) {
        const Eco__Ai__V1__EmbeddingResponse *e = (const Eco__Ai__V1__EmbeddingResponse *)resp;
        unsigned native = e->n_data ? (unsigned)e->data[0]->n_values : 0;
        if (r->req.emb.dimensions > native) {
            r->failed = 1;
            eco_http_send_error(r->call, 400, "invalid_value", "dimensions",
                                "dimensions: %u is more than the model's %u dimensions", r->req.emb.dimensions, native);
        } else {
            eco_buf_reset(&r->out);
            oai_write_embeddings(&r->out, e, r->answered_by, r->req.emb.dimensions, r->req.base64);
            add_overhead_header(r);
            eco_http_send(r->call, 200, "application/json", r->out.base, r->out.len);
        }
        r->pending--;
        return;
    }
    const Eco__Ai__V1__GenerateResponse *g = (const Eco__Ai__V1__GenerateResponse *)resp;
    r->texts[i] = eco_strdup(g->text ? g->text : "");
    snprintf(r->finish[i], sizeof(r->finish[i]), "%s", g->finish_reason ? g->finish_reason : "stop");
    if (g->usage) {
        r->usage.prompt_tokens += g->usage->prompt_tokens;
        r->usage.completion_tokens += g->usage->completion_tokens;
        eco_metrics_add(r->ai->m_tokens, (double)g->usage->prompt_tokens, "prompt");
        eco_metrics_add(r->ai->m_tokens, (double)g->usage->completion_tokens, "completion");
    }
    reply_if_done(r);
}

static void on_error(job_t *j, const job_error_t *e, void *data)
{
    rest_t *r = data;
    size_t i = job_index(r, j);
    r->jobs[i] = NULL;
    if (r->sse) { /* output was sent: a final error event, and no [DONE] */
        eco_buf_reset(&r->out);
        oai_write_error(&r->out, e->message, error_type(e->http), e->code, e->param);
        eco_sse_data(r->sse, r->out.base, r->out.len);
        eco_sse_end(r->sse);
        r->pending--;
        return;
    }
    if (!r->failed) {
        r->failed = 1;
        for (size_t k = 0; k < r->njobs; k++) /* one failed prompt fails the request */
            if (r->jobs[k])
                job_detach(r->jobs[k]);
        if (e->retry_after_s > 0) {
            char v[24];
            snprintf(v, sizeof(v), "%ld", e->retry_after_s);
            eco_http_add_header(r->call, "retry-after", v);
        }
        if (e->http != 499)
            eco_http_send_error(r->call, e->http, e->code, e->param, "%s", e->message);
    }
    r->pending--;
}

/* ---------- streamed answers ---------- */

static void on_sse_event(eco_sse_t *sse, int stopped, void *data)
{
    rest_t *r = data;
    if (stopped) {
        if (r->jobs[0]) {
            job_detach(r->jobs[0]);
            r->jobs[0] = NULL;
        }
        return;
    }
    if (r->paused && eco_sse_pending(sse) < SSE_MAX_PENDING / 2) {
        job_t *j = r->paused;
        r->paused = NULL;
        job_resume(j);
    }
}

static void on_start(job_t *j, void *data)
{
    rest_t *r = data;
    r->answered_by = job_model_id(j);
    r->sse = eco_sse_start(r->call, SSE_MAX_PENDING, on_sse_event, r);
    if (r->kind == OAI_CHAT) {
        eco_buf_reset(&r->out);
        oai_write_chunk(&r->out, r->kind, r->id, r->created, r->answered_by, 1, "", 0, NULL);
        eco_sse_data(r->sse, r->out.base, r->out.len);
    }
}

static int on_delta(job_t *j, const char *text, size_t len, void *data)
{
    rest_t *r = data;
    eco_buf_reset(&r->out);
    oai_write_chunk(&r->out, r->kind, r->id, r->created, r->answered_by, 0, text, len, NULL);
    if (eco_sse_data(r->sse, r->out.base, r->out.len) != 0) {
        /* Cannot happen with the pause below (a chunk is far smaller than the margin). */
        eco_warn("stream buffer full; dropping the client", ECO_KS("request_id", r->call->request_id));
        eco_sse_abort(r->sse);
        return 1;
    }
    if (eco_sse_pending(r->sse) > SSE_MAX_PENDING / 2) {
        r->paused = j;
        return 1;
    }
    return 0;
}

static void on_done(job_t *j, const char *finish, const Eco__Ai__V1__Usage *usage, void *data)
{
    rest_t *r = data;
    r->jobs[0] = NULL;
    r->pending--;
    long ov = job_overhead_us(j);
    eco_metrics_observe(r->ai->m_overhead, (double)ov / 1e6, "stream");
    if (!r->sse) /* finished without any text */
        on_start(j, data);
    eco_buf_reset(&r->out);
    oai_write_chunk(&r->out, r->kind, r->id, r->created, r->answered_by, 0, NULL, 0, finish[0] ? finish : "stop");
    eco_sse_data(r->sse, r->out.base, r->out.len);
    if (r->req.include_usage) {
        eco_buf_reset(&r->out);
        oai_write_usage_chunk(&r->out, r->kind, r->id, r->created, r->answered_by, usage, ov);
        eco_sse_data(r->sse, r->out.base, r->out.len);
    }
    eco_sse_data(r->sse, "[DONE]", 6);
    eco_sse_end(r->sse);
}

static const job_sink_t sink = {on_start, on_delta, on_result, on_done, on_error};

/* ---------- handlers ---------- */

static int header_priority(eco_http_call_t *call, int *prio)
{
    h2o_iovec_t v = eco_http_header(call, "x-eco-priority");
    *prio = ECO_PRIO_NORMAL;
    if (!v.base)
        return 0;
    if (h2o_memis(v.base, v.len, H2O_STRLIT("high")))
        *prio = ECO_PRIO_HIGH;
    else if (h2o_memis(v.base, v.len, H2O_STRLIT("low")))
        *prio = ECO_PRIO_LOW;
    else if (!h2o_memis(v.base, v.len, H2O_STRLIT("normal")))
        return -1;
    return 0;
}

static int header_timeout(eco_http_call_t *call, long *ms)
{
    h2o_iovec_t v = eco_http_header(call, "x-eco-timeout-ms");
    *ms = 0;
    if (!v.base)
        return 0;
    char tmp[16];
    if (v.len == 0 || v.len >= sizeof(tmp))
        return -1;
    memcpy(tmp, v.base, v.len);
    tmp[v.len] = '\0';
    char *end;
    long x = strtol(tmp, &end, 10);
    if (*end || x < 1 || x > 3600000)
        return -1;
    *ms = x;
    return 0;
}

static eco_auth_str_t hdr(eco_http_call_t *call, const char *name)
{
    h2o_iovec_t v = eco_http_header(call, name);
    return (eco_auth_str_t){v.base, v.len};
}

/* Identity headers (set by root-gateway) are believed only with the internal secret; a request
 * carrying them without it is refused rather than served under a forged identity. 1 = go on. */
static int identity_ok(eco_http_call_t *call, const ai_t *ai)
{
    static const char *const names[] = {ECO_AUTH_HDR_SECRET, ECO_AUTH_HDR_KIND, ECO_AUTH_HDR_USER, ECO_AUTH_HDR_ROLE,
                                        ECO_AUTH_HDR_KEY,    ECO_AUTH_HDR_JTI,  ECO_AUTH_HDR_EXP};
    int any = 0;
    for (size_t i = 0; i < ECO_ARRAY_SIZE(names) && !any; i++)
        any = eco_http_header(call, names[i]).base != NULL;
    if (!any)
        return 1;
    eco_auth_str_t secret = hdr(call, ECO_AUTH_HDR_SECRET);
    if (!ai->internal_secret[0] || !secret.p ||
        !eco_auth_secret_equal(secret.p, secret.len, ai->internal_secret, strlen(ai->internal_secret))) {
        eco_warn("identity headers without a valid internal secret", ECO_KS("request_id", call->request_id));
        eco_http_send_error(call, 401, "untrusted_identity_headers", NULL,
                            "x-eco-* identity headers are accepted only from root-gateway");
        return 0;
    }
    eco_auth_identity_t id;
    if (eco_http_header(call, ECO_AUTH_HDR_KIND).base &&
        eco_auth_identity_parse(hdr(call, ECO_AUTH_HDR_KIND), hdr(call, ECO_AUTH_HDR_USER),
                                hdr(call, ECO_AUTH_HDR_ROLE), hdr(call, ECO_AUTH_HDR_KEY), hdr(call, ECO_AUTH_HDR_JTI),
                                hdr(call, ECO_AUTH_HDR_EXP), &id) != 0) {
        eco_http_send_error(call, 400, "invalid_identity_headers", NULL, "malformed x-eco-* identity headers");
        return 0;
    }
    return 1;
}

static int handle(eco_http_call_t *call, oai_kind_t kind)
{
    ai_t *ai = call->data;
    if (!identity_ok(call, ai))
        return 0;
    json_t *root = eco_http_json_body(call);
    if (!root)
        return 0;
    rest_t *r = h2o_mem_alloc_shared(&call->req->pool, sizeof(*r), on_dispose);
    memset(r, 0, sizeof(*r));
    r->ai = ai;
    r->call = call;
    r->kind = kind;
    eco_buf_init(&r->out, 0);
    oai_err_t err;
    int rc = oai_req_parse(kind, root, &r->req, &err);
    json_decref(root);
    if (rc != 0) {
        eco_http_send_error(call, err.status, err.code, err.param[0] ? err.param : NULL, "%s", err.message);
        return 0;
    }
    const reg_model_t *m = registry_find(ai->reg, r->req.model);
    if (!m) {
        eco_http_send_error(call, 404, "model_not_found", "model", "The model '%s' does not exist",
                            r->req.model ? r->req.model : "(default)");
        return 0;
    }
    unsigned need = kind == OAI_CHAT ? REG_CAP_CHAT : kind == OAI_COMPLETION ? REG_CAP_COMPLETION : REG_CAP_EMBEDDING;
    if (!(m->caps & need)) {
        eco_http_send_error(call, 400, "model_not_supported", "model", "The model '%s' does not support %s", m->id,
                            kind == OAI_CHAT         ? "chat completions"
                            : kind == OAI_COMPLETION ? "completions"
                                                     : "embeddings");
        return 0;
    }
    job_spec_t spec = {.model = m, .request_id = call->request_id, .traceparent = call->traceparent};
    if (header_priority(call, &spec.priority) != 0) {
        eco_http_send_error(call, 400, "invalid_value", "x-eco-priority",
                            "x-eco-priority: expected high, normal or low");
        return 0;
    }
    if (header_timeout(call, &spec.timeout_ms) != 0) {
        eco_http_send_error(call, 400, "invalid_value", "x-eco-timeout-ms",
                            "x-eco-timeout-ms: expected milliseconds in 1-3600000");
        return 0;
    }
    h2o_iovec_t session = eco_http_header(call, "x-eco-session");
    char session_buf[128];
    if (session.base) {
        snprintf(session_buf, sizeof(session_buf), "%.*s", (int)(session.len < 127 ? session.len : 127), session.base);
        spec.session = session_buf;
    }
    r->model = m;
    r->answered_by = m->id;
    oai_new_id(kind, r->id);
    r->created = (long)time(NULL);
    if (kind == OAI_EMBEDDING) {
        spec.mode = JOB_EMBED;
        spec.emb = &r->req.emb;
        r->njobs = r->pending = 1;
        r->jobs[0] = job_start(ai, &spec, &sink, r);
        return 0;
    }
    spec.mode = r->req.stream ? JOB_STREAM : JOB_UNARY;
    size_t n = kind == OAI_COMPLETION ? r->req.nprompts : 1;
    r->njobs = r->pending = n;
    for (size_t i = 0; i < n; i++) {
        r->gens[i] = r->req.gen;
        if (kind == OAI_COMPLETION)
            r->gens[i].prompt = (char *)r->req.prompts[i];
        spec.gen = &r->gens[i];
        r->jobs[i] = job_start(ai, &spec, &sink, r);
    }
    return 0;
}

static int chat(eco_http_call_t *call)
{
    return handle(call, OAI_CHAT);
}

static int completions(eco_http_call_t *call)
{
    return handle(call, OAI_COMPLETION);
}

static int embeddings(eco_http_call_t *call)
{
    return handle(call, OAI_EMBEDDING);
}

void rest_routes(eco_service_t *svc, ai_t *ai)
{
    eco_service_route(svc, "POST", "/v1/chat/completions", chat, ai);
    eco_service_route(svc, "POST", "/v1/completions", completions, ai);
    eco_service_route(svc, "POST", "/v1/embeddings", embeddings, ai);
}
