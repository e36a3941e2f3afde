/* The public gRPC face: eco.ai.v1.Inference with the REST semantics. Handlers run on gRPC
 * worker threads; each call is first admitted (grpc_auth.h: credentials, role, limits, decided
 * on a pool worker) and then handed to the loop thread, where it becomes a job. */
#include "rpc_api.h"
#include "grpc_auth.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ai_t *ai;
    eco_rpc_call_t *call;
    const ProtobufCMessage *req; /* owned by the call */
    job_mode_t mode;
    job_t *job;
    atomic_int refs; /* the call until ended, plus each task posted to the loop */
    int ended, first_sent;
    char *pending; /* a delta refused with EAGAIN, resent from on_writable */
    size_t pending_len;
    int list;                     /* ListModels (no job) */
    grpc_auth_t auth;             /* the admission (zero with ECO_GRPC_AUTH=off) */
    long prompt_estimate, deltas; /* for the token reconciliation */
    long actual;                  /* tokens spent, once known */
} gcall_t;

static void unref(gcall_t *g)
{
    if (atomic_fetch_sub(&g->refs, 1) == 1) {
        free(g->pending);
        free(g);
    }
}

static void end_call(gcall_t *g)
{
    g->ended = 1;
    g->job = NULL;
    grpc_auth_settle(&g->auth, g->actual);
    unref(g);
}

/* ---------- sink (loop thread) ---------- */

static void on_start(job_t *j, void *data) {}

static int send_delta(gcall_t *g, job_t *j, const char *text, size_t len)
{
    Eco__Ai__V1__CompletionChunk c = ECO__AI__V1__COMPLETION_CHUNK__INIT;
    char *copy = eco_strndup(text, len);
    c.delta = copy;
    if (!g->first_sent)
        c.model = (char *)job_model_id(j);
    int rc = eco_rpc_stream_send(g->call, &c.base);
    if (rc == ECO_RPC_EAGAIN) {
        g->pending = copy;
        g->pending_len = len;
        return 1;
    }
    free(copy);
    g->first_sent = 1;
    g->deltas++;
    return 0; /* ECO_RPC_ECANCELED: the cancel callback stops the job */
}

static int on_delta(job_t *j, const char *text, size_t len, void *data)
{
    return send_delta(data, j, text, len);
}

static void on_result(job_t *j, const ProtobufCMessage *resp, void *data)
{
    gcall_t *g = data;
    if (g->mode == JOB_EMBED) {
        Eco__Ai__V1__EmbeddingResponse r = *(const Eco__Ai__V1__EmbeddingResponse *)resp;
        r.model = (char *)job_model_id(j);
        g->actual = r.usage ? (long)r.usage->total_tokens : g->prompt_estimate;
        eco_rpc_call_respond(g->call, &r.base, NULL, 0);
    } else {
        Eco__Ai__V1__GenerateResponse r = *(const Eco__Ai__V1__GenerateResponse *)resp;
        r.model = (char *)job_model_id(j);
        g->actual = r.usage ? (long)r.usage->total_tokens : g->auth.reserve;
        eco_rpc_call_respond(g->call, &r.base, NULL, 0);
    }
    end_call(g);
}

static void on_done(job_t *j, const char *finish, const Eco__Ai__V1__Usage *usage, void *data)
{
    gcall_t *g = data;
    Eco__Ai__V1__CompletionChunk c = ECO__AI__V1__COMPLETION_CHUNK__INIT;
    Eco__Ai__V1__Usage u = *usage;
    c.delta = "";
    c.finish_reason = (char *)(finish[0] ? finish : "stop");
    c.usage = &u;
    if (!g->first_sent)
        c.model = (char *)job_model_id(j);
    g->actual = (long)u.total_tokens;
    char ov[24];
    snprintf(ov, sizeof(ov), "%ld", job_overhead_us(j));
    eco_rpc_md_t tr[] = {{"x-eco-overhead-us", ov, 0}};
    eco_rpc_call_respond(g->call, &c.base, tr, 1);
    end_call(g);
}

static void on_error(job_t *j, const job_error_t *e, void *data)
{
    gcall_t *g = data;
    char ra[24];
    eco_rpc_md_t tr[2];
    size_t n = 0;
    if (e->retry_after_s > 0) {
        snprintf(ra, sizeof(ra), "%ld", e->retry_after_s);
        tr[n++] = (eco_rpc_md_t){"retry-after", ra, 0};
    }
    if (e->code)
        tr[n++] = (eco_rpc_md_t){"eco-error-code", e->code, 0};
    /* output already sent was spent: about a token per delta (as root-gateway counts a cut stream) */
    g->actual = e->partial ? g->prompt_estimate + g->deltas : 0;
    eco_rpc_call_finish(g->call, e->grpc, e->message, tr, n);
    end_call(g);
}

static const job_sink_t sink = {on_start, on_delta, on_result, on_done, on_error};

/* ---------- loop-thread tasks ---------- */

static void finish_now(gcall_t *g, grpc_status_code s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void finish_now(gcall_t *g, grpc_status_code s, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    eco_rpc_call_finish(g->call, s, msg, NULL, 0);
    end_call(g);
}

static int priority_of(eco_rpc_call_t *call, Eco__Ai__V1__Priority p)
{
    const char *h = eco_rpc_call_md(call, "x-eco-priority");
    if (h)
        return strcmp(h, "high") == 0 ? ECO_PRIO_HIGH : strcmp(h, "low") == 0 ? ECO_PRIO_LOW : ECO_PRIO_NORMAL;
    return p == ECO__AI__V1__PRIORITY__PRIORITY_HIGH  ? ECO_PRIO_HIGH
           : p == ECO__AI__V1__PRIORITY__PRIORITY_LOW ? ECO_PRIO_LOW
                                                      : ECO_PRIO_NORMAL;
}

static const char *check_generate(const Eco__Ai__V1__GenerateRequest *r, char *why, size_t n)
{
    if ((r->n_messages > 0) == (r->prompt && r->prompt[0]))
        return "exactly one of messages and prompt must be set";
    for (size_t i = 0; i < r->n_messages; i++) {
        const char *role = r->messages[i]->role;
        if (strcmp(role, "system") && strcmp(role, "user") && strcmp(role, "assistant") && strcmp(role, "tool")) {
            snprintf(why, n, "messages[%zu].role: \"%.32s\" is not one of system, user, assistant, tool", i, role);
            return why;
        }
    }
    if (r->_temperature_case && (r->temperature < 0 || r->temperature > 2))
        return "temperature: out of range [0, 2]";
    if (r->_top_p_case && (r->top_p < 0 || r->top_p > 1))
        return "top_p: out of range [0, 1]";
    if (r->_max_tokens_case && r->max_tokens == 0)
        return "max_tokens: must be at least 1";
    if (r->n_stop > 4)
        return "stop: at most 4 sequences";
    return NULL;
}

static void start_call(gcall_t *g)
{
    ai_t *ai = g->ai;
    if (eco_rpc_call_cancelled(g->call)) {
        finish_now(g, GRPC_STATUS_CANCELLED, "cancelled");
        return;
    }
    const char *model_name;
    unsigned need;
    job_spec_t spec = {.mode = g->mode,
                       .api = "grpc",
                       .request_id = eco_rpc_call_md(g->call, "x-request-id"),
                       .traceparent = eco_rpc_call_md(g->call, "traceparent"),
                       .timeout_ms = eco_rpc_call_remaining_ms(g->call),
                       .session = eco_rpc_call_md(g->call, "x-eco-session")};
    char rid[33];
    if (!spec.request_id) {
        eco_random_hex_id(rid);
        spec.request_id = rid;
    }
    if (spec.timeout_ms == 0) {
        finish_now(g, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline passed");
        return;
    }
    if (g->mode == JOB_EMBED) {
        const Eco__Ai__V1__EmbeddingRequest *r = (const Eco__Ai__V1__EmbeddingRequest *)g->req;
        if (r->n_input == 0) {
            finish_now(g, GRPC_STATUS_INVALID_ARGUMENT, "input: at least one text is required");
            return;
        }
        model_name = r->model;
        need = REG_CAP_EMBEDDING;
        spec.emb = r;
        spec.priority = priority_of(g->call, ECO__AI__V1__PRIORITY__PRIORITY_UNSPECIFIED);
    } else {
        const Eco__Ai__V1__GenerateRequest *r = (const Eco__Ai__V1__GenerateRequest *)g->req;
        char why[160];
        const char *bad = check_generate(r, why, sizeof(why));
        if (bad) {
            finish_now(g, GRPC_STATUS_INVALID_ARGUMENT, "%s", bad);
            return;
        }
        model_name = r->model;
        need = r->n_messages ? REG_CAP_CHAT : REG_CAP_COMPLETION;
        spec.gen = r;
        spec.priority = priority_of(g->call, r->priority);
    }
    const reg_model_t *m = registry_find(ai->reg, model_name);
    if (!m) {
        finish_now(g, GRPC_STATUS_NOT_FOUND, "model '%s' does not exist", model_name);
        return;
    }
    if (!(m->caps & need)) {
        finish_now(g, GRPC_STATUS_INVALID_ARGUMENT, "model '%s' does not support this operation", m->id);
        return;
    }
    spec.model = m;
    g->job = job_start(ai, &spec, &sink, g);
}

static void start_task(void *arg)
{
    gcall_t *g = arg;
    unref(g); /* the task's reference; the call's remains */
    start_call(g);
}

static void respond_models(eco_rpc_call_t *call, ai_t *ai);

/* The admission was decided (grpc_auth_start's completion). */
static void admitted_task(void *arg)
{
    gcall_t *g = arg;
    unref(g); /* the task's reference; the call's remains */
    if (g->auth.status != GRPC_STATUS_OK) {
        eco_rpc_md_t tr[2];
        char buf[24];
        size_t n = grpc_auth_trailers(&g->auth, tr, buf);
        eco_rpc_call_finish(g->call, g->auth.status, g->auth.message, tr, n);
        end_call(g);
        return;
    }
    if (g->list) {
        respond_models(g->call, g->ai);
        end_call(g);
        return;
    }
    start_call(g);
}

static void cancel_task(void *arg)
{
    gcall_t *g = arg;
    if (!g->ended && g->job)
        job_cancel(g->job);
    unref(g);
}

static void writable_task(void *arg)
{
    gcall_t *g = arg;
    if (!g->ended && g->pending && g->job) {
        char *p = g->pending;
        g->pending = NULL;
        job_t *j = g->job;
        if (send_delta(g, j, p, g->pending_len) == 0)
            job_resume(j);
        free(p);
    }
    unref(g);
}

/* ---------- worker-thread handlers ---------- */

static void post(gcall_t *g, void (*fn)(void *))
{
    atomic_fetch_add(&g->refs, 1);
    eco_service_post(g->ai->svc, fn, g);
}

static void on_cancel(eco_rpc_call_t *call, void *data)
{
    post(data, cancel_task);
}

static void on_writable(eco_rpc_call_t *call, void *data)
{
    post(data, writable_task);
}

/* Model tokens the call may spend, reserved at admission as root-gateway does for REST: a prompt
 * estimate (4 bytes a token of the request) plus max_tokens (or the default); embeddings have no
 * completion. */
static long reserve_of(gcall_t *g)
{
    if (g->list)
        return 0;
    g->prompt_estimate = (long)(protobuf_c_message_get_packed_size(g->req) / 4) + 1;
    long completion = g->mode == JOB_EMBED ? 0 : grpc_auth_default_max_tokens();
    if (g->mode != JOB_EMBED) {
        const Eco__Ai__V1__GenerateRequest *r = (const Eco__Ai__V1__GenerateRequest *)g->req;
        if (r->_max_tokens_case && r->max_tokens <= 10000000)
            completion = (long)r->max_tokens;
    }
    return g->prompt_estimate + completion;
}

static void accept_call(eco_rpc_call_t *call, const ProtobufCMessage *req, ai_t *ai, job_mode_t mode, int list)
{
    gcall_t *g = eco_calloc(1, sizeof(*g));
    g->ai = ai;
    g->call = call;
    g->req = req;
    g->mode = mode;
    g->list = list;
    atomic_init(&g->refs, 1);
    if (eco_rpc_call_set_callbacks(call, on_cancel, on_writable, g) != 0) {
        eco_rpc_call_finish(call, GRPC_STATUS_CANCELLED, "cancelled", NULL, 0);
        free(g);
        return;
    }
    if (!grpc_auth_enabled()) {
        post(g, start_task);
        return;
    }
    atomic_fetch_add(&g->refs, 1); /* admitted_task's */
    grpc_auth_start(&g->auth, call, reserve_of(g), admitted_task, g);
}

static void h_generate(eco_rpc_call_t *call, const ProtobufCMessage *req, void *data)
{
    accept_call(call, req, data, JOB_UNARY, 0);
}

static void h_stream(eco_rpc_call_t *call, const ProtobufCMessage *req, void *data)
{
    accept_call(call, req, data, JOB_STREAM, 0);
}

static void h_embed(eco_rpc_call_t *call, const ProtobufCMessage *req, void *data)
{
    accept_call(call, req, data, JOB_EMBED, 0);
}

static void respond_models(eco_rpc_call_t *call, ai_t *ai)
{
    const registry_t *reg = ai->reg;
    Eco__Ai__V1__ListModelsResponse resp = ECO__AI__V1__LIST_MODELS_RESPONSE__INIT;
    Eco__Ai__V1__ModelInfo infos[REG_MAX_MODELS], *ptrs[REG_MAX_MODELS];
    Eco__Ai__V1__Capabilities caps[REG_MAX_MODELS];
    for (size_t i = 0; i < reg->nmodels; i++) {
        const reg_model_t *m = &reg->models[i];
        eco__ai__v1__model_info__init(&infos[i]);
        eco__ai__v1__capabilities__init(&caps[i]);
        caps[i].chat = !!(m->caps & REG_CAP_CHAT);
        caps[i].completion = !!(m->caps & REG_CAP_COMPLETION);
        caps[i].embeddings = !!(m->caps & REG_CAP_EMBEDDING);
        caps[i].streaming = caps[i].chat || caps[i].completion;
        caps[i].context_length = (uint32_t)m->context_length;
        infos[i].id = m->id;
        infos[i].owned_by = m->owned_by;
        infos[i].created = ai->created;
        infos[i].capabilities = &caps[i];
        infos[i].total_backends = (uint32_t)m->nbackends;
        for (size_t k = 0; k < m->nbackends; k++)
            infos[i].healthy_backends += (uint32_t)backends_healthy(ai->bk, m->backends[k].address);
        ptrs[i] = &infos[i];
    }
    resp.models = ptrs;
    resp.n_models = reg->nmodels;
    resp.default_model = reg->default_model ? reg->default_model : "";
    eco_rpc_call_respond(call, &resp.base, NULL, 0);
}

static void h_list_models(eco_rpc_call_t *call, const ProtobufCMessage *req, void *data)
{
    if (grpc_auth_enabled())
        accept_call(call, req, data, JOB_UNARY, 1); /* answered on the loop thread once admitted */
    else
        respond_models(call, data);
}

void rpc_api_register(eco_rpc_server_t *srv, ai_t *ai)
{
    static const struct {
        const char *name;
        eco_rpc_kind_t kind;
        eco_rpc_handler_fn fn;
    } methods[] = {
        {"GenerateCompletion", ECO_RPC_UNARY, h_generate},
        {"StreamCompletion", ECO_RPC_SERVER_STREAMING, h_stream},
        {"GenerateEmbedding", ECO_RPC_UNARY, h_embed},
        {"ListModels", ECO_RPC_UNARY, h_list_models},
    };
    const ProtobufCServiceDescriptor *inf = &eco__ai__v1__inference__descriptor;
    for (size_t i = 0; i < ECO_ARRAY_SIZE(methods); i++) {
        char full[96];
        snprintf(full, sizeof(full), "/%s/%s", inf->name, methods[i].name);
        ECO_BUG_ON(!eco_auth_grpc_rule(full)); /* every method has a permission */
        eco_rpc_server_add_method(srv, inf, methods[i].name, methods[i].kind, methods[i].fn, ai);
    }
}
