/* One inference request on the loop thread: admission, backend choice, attempts over the
 * asynchronous gRPC client, retries before output, mid-stream failover with continuation after
 * output, deadlines, cancellation. The sink (REST or gRPC front-end) sees one answer. */
#include "ai.h"

#include <stdlib.h>
#include <string.h>

#define MAX_SKIP (REG_MAX_BACKENDS * 4)

struct job {
    ai_t *ai;
    job_mode_t mode;
    const reg_model_t *model;
    size_t next_fallback;
    const Eco__Ai__V1__GenerateRequest *gen;
    const Eco__Ai__V1__EmbeddingRequest *emb;
    int priority;
    uint64_t affinity;
    job_sink_t sink;
    void *data;
    char request_id[65];
    char traceparent[56];
    const char *api; /* "rest" or "grpc" (static) */
    unsigned detached : 1, cancelled : 1, started : 1, paused : 1, have_final : 1, queued : 1, complete_pending : 1;

    uint64_t t0_ns, deadline_ms, engine_ns, attempt_t0_ns, last_token_ns;
    backend_t *b;
    eco_rpc_acall_t *call;
    int attempts, retries;
    backend_t *skip[MAX_SKIP];
    size_t nskip;
    const char *cause; /* why the current attempt is being abandoned: "ttft", "stall", "deadline" */

    eco_buf_t sent; /* text streamed to the client so far */
    eco_buf_t held; /* text that arrived while the sink was full (read-ahead), sent on resume */
    unsigned tokens_sent, tokens_at_attempt;
    char finish[32];
    Eco__Ai__V1__Usage usage;
    ProtobufCMessage *result;
    job_error_t last_err;
    int have_err;

    eco_timer_t t_first, t_stall, t_deadline, t_next;
    admit_wait_t wait;
};

static void try_start(job_t *j);
static void finish(job_t *j);

const char *job_model_id(const job_t *j)
{
    return j->model->id;
}

long job_overhead_us(const job_t *j)
{
    uint64_t total = eco_now_ns() - j->t0_ns;
    uint64_t engine = j->engine_ns;
    if (j->call)
        engine += eco_now_ns() - j->attempt_t0_ns;
    return total > engine ? (long)((total - engine) / 1000) : 0;
}

/* ---------- errors ---------- */

static void set_err(job_error_t *e, int http, grpc_status_code g, const char *code, const char *param, const char *fmt,
                    ...) __attribute__((format(printf, 6, 7)));
static void set_err(job_error_t *e, int http, grpc_status_code g, const char *code, const char *param, const char *fmt,
                    ...)
{
    memset(e, 0, sizeof(*e));
    e->http = http;
    e->grpc = g;
    e->code = code;
    e->param = param;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

/* The client-facing error for an adapter status. */
static void err_from_status(job_t *j, const eco_rpc_result_t *res, job_error_t *e)
{
    const char *reason = eco_rpc_mdlist_get(&res->trailing_md, "eco-error-reason", NULL);
    const char *ra = eco_rpc_mdlist_get(&res->trailing_md, "retry-after", NULL);
    const char *details = res->details && res->details[0] ? res->details : eco_rpc_status_name(res->status);
    int http = eco_rpc_status_to_http(res->status);
    const char *code = reason ? reason : "engine_error";
    const char *param = NULL;
    if (res->status == GRPC_STATUS_INVALID_ARGUMENT) {
        code = reason ? reason : "invalid_request";
        if (reason && strcmp(reason, "context_length_exceeded") == 0)
            param = j->gen && j->gen->n_messages ? "messages" : (j->gen ? "prompt" : "input");
    } else if (http >= 500 && res->status != GRPC_STATUS_DEADLINE_EXCEEDED) {
        http = 502;
    }
    set_err(e, http, res->status, code, param, "model %s: %s", j->model->id, details);
    e->retry_after_s = ra ? atol(ra) : 0;
}

/* ---------- ending ---------- */

static void stop_timers(job_t *j)
{
    eco_timer_stop(&j->t_first);
    eco_timer_stop(&j->t_stall);
    eco_timer_stop(&j->t_next);
}

static void count(job_t *j, int http)
{
    char code[8];
    snprintf(code, sizeof(code), "%d", http);
    eco_metrics_inc(j->ai->m_requests, j->model->id, j->api, code);
}

static void fail(job_t *j, job_error_t *e)
{
    e->partial = j->started;
    count(j, e->http);
    if (j->held.len && !j->detached && e->http != 499) /* what the client was owed before the error */
        j->sink.on_delta(j, j->held.base, j->held.len, j->data);
    if (!j->detached && j->sink.on_error)
        j->sink.on_error(j, e, j->data);
    finish(j);
}

/* Retries are exhausted (attempts, budget, deadline or backends) after retryable errors: no
 * backend can serve. Overload stays 429; before output anything else is 503, after output the
 * stream ends with an error event. */
static void give_up(job_t *j, const char *why)
{
    job_error_t e;
    const job_error_t *last = &j->last_err;
    if (last->grpc == GRPC_STATUS_RESOURCE_EXHAUSTED && !j->started) {
        set_err(&e, 429, GRPC_STATUS_RESOURCE_EXHAUSTED, "overloaded", NULL, "model %s is overloaded (%s): %s",
                j->model->id, why, last->message);
        e.retry_after_s = last->retry_after_s > 0 ? last->retry_after_s : 1;
    } else {
        set_err(&e, 503, GRPC_STATUS_UNAVAILABLE, j->started ? "stream_interrupted" : "no_healthy_backend", NULL,
                "model %s: no backend could %s (%s); last error: %s", j->model->id,
                j->started ? "continue the stream" : "serve the request", why, last->message);
        e.retry_after_s = j->started ? 0 : 1;
    }
    fail(j, &e);
}

static void finish(job_t *j)
{
    stop_timers(j);
    eco_timer_stop(&j->t_deadline);
    if (j->queued)
        admit_remove(j->ai, j->model->id, &j->wait);
    if (j->result)
        protobuf_c_message_free_unpacked(j->result, NULL);
    eco_buf_free(&j->sent);
    eco_buf_free(&j->held);
    free(j);
}

static void finish_cancelled(job_t *j)
{
    job_error_t e;
    set_err(&e, 499, GRPC_STATUS_CANCELLED, "cancelled", NULL, "request cancelled by the client");
    fail(j, &e);
}

/* ---------- timers ---------- */

static void on_deadline(eco_timer_t *t)
{
    job_t *j = ECO_CONTAINER_OF(t, job_t, t_deadline);
    if (j->call) {
        j->cause = "deadline";
        eco_rpc_acall_cancel(j->call);
        return;
    }
    job_error_t e;
    set_err(&e, 504, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline_exceeded", NULL,
            "model %s: the request deadline passed before an answer", j->model->id);
    fail(j, &e);
}

static void on_first_timeout(eco_timer_t *t)
{
    job_t *j = ECO_CONTAINER_OF(t, job_t, t_first);
    if (j->call) {
        j->cause = "ttft";
        eco_rpc_acall_cancel(j->call);
    }
}

static void on_stall(eco_timer_t *t)
{
    job_t *j = ECO_CONTAINER_OF(t, job_t, t_stall);
    if (j->call && !j->paused) {
        j->cause = "stall";
        eco_rpc_acall_cancel(j->call);
    }
}

static void on_next(eco_timer_t *t)
{
    try_start(ECO_CONTAINER_OF(t, job_t, t_next));
}

/* ---------- the adapter call ---------- */

static void on_msg(eco_rpc_acall_t *c, ProtobufCMessage *msg, void *data)
{
    job_t *j = data;
    if (j->mode == JOB_EMBED) {
        if (j->result)
            protobuf_c_message_free_unpacked(j->result, NULL);
        j->result = msg;
        return;
    }
    ai_t *ai = j->ai;
    const Eco__Ai__V1__CompletionChunk *ch = (const Eco__Ai__V1__CompletionChunk *)msg;
    size_t dlen = ch->delta ? strlen(ch->delta) : 0;
    int full = 0;
    if (dlen) {
        uint64_t now = eco_now_ns();
        eco_timer_stop(&j->t_first);
        if (j->tokens_sent == 0)
            eco_metrics_observe(ai->m_ttft, (double)(now - j->t0_ns) / 1e9, j->model->id);
        else
            eco_metrics_observe(ai->m_itl, (double)(now - j->last_token_ns) / 1e9, j->model->id);
        j->last_token_ns = now;
        eco_buf_add(&j->sent, ch->delta, dlen);
        j->tokens_sent++;
        if (j->mode == JOB_STREAM) { /* unary requests collect the text and answer at the end */
            if (!j->started) {
                j->started = 1;
                if (!j->detached)
                    j->sink.on_start(j, j->data);
            }
            if (j->paused)
                eco_buf_add(&j->held, ch->delta, dlen);
            else if (!j->detached)
                full = j->sink.on_delta(j, ch->delta, dlen, j->data);
        }
    }
    if (ch->finish_reason && ch->finish_reason[0]) {
        j->have_final = 1;
        snprintf(j->finish, sizeof(j->finish), "%s", ch->finish_reason);
        if (ch->usage)
            j->usage = *ch->usage;
        j->usage.base = (ProtobufCMessage)PROTOBUF_C_MESSAGE_INIT(&eco__ai__v1__usage__descriptor);
    }
    protobuf_c_message_free_unpacked(msg, NULL);
    if (full) {
        eco_metrics_inc(ai->m_pauses);
        j->paused = 1;
        eco_rpc_acall_pause(c); /* messages already read ahead land in held */
        eco_timer_stop(&j->t_stall);
        return;
    }
    if (!j->paused)
        eco_timer_start(ai->svc, &j->t_stall, (uint64_t)ai->s.stall_ms, on_stall);
}

static int backend_fault(grpc_status_code s)
{
    return s == GRPC_STATUS_UNAVAILABLE || s == GRPC_STATUS_INTERNAL || s == GRPC_STATUS_UNKNOWN ||
           s == GRPC_STATUS_DEADLINE_EXCEEDED || s == GRPC_STATUS_DATA_LOSS || s == GRPC_STATUS_UNIMPLEMENTED;
}

static int retryable(grpc_status_code s)
{
    /* UNIMPLEMENTED: this backend's engine lacks the endpoint; another may have it. */
    return s == GRPC_STATUS_UNAVAILABLE || s == GRPC_STATUS_RESOURCE_EXHAUSTED || s == GRPC_STATUS_INTERNAL ||
           s == GRPC_STATUS_UNKNOWN || s == GRPC_STATUS_ABORTED || s == GRPC_STATUS_DEADLINE_EXCEEDED ||
           s == GRPC_STATUS_DATA_LOSS || s == GRPC_STATUS_UNIMPLEMENTED;
}

/* The attempt failed with status s (cause: our own reason, or NULL). */
static void attempt_failed(job_t *j, backend_t *b, grpc_status_code s, const char *cause, job_error_t *e)
{
    ai_t *ai = j->ai;
    uint64_t now = eco_now_ms();
    if (cause || backend_fault(s))
        eco_cb_failure(&b->cb, now);
    else if (s == GRPC_STATUS_RESOURCE_EXHAUSTED)
        eco_cb_release(&b->cb, now);
    else
        eco_cb_success(&b->cb, now); /* the backend answered: the request was at fault */
    if (s == GRPC_STATUS_RESOURCE_EXHAUSTED || (s == GRPC_STATUS_UNAVAILABLE && e->retry_after_s > 0))
        b->not_before_ms = now + (uint64_t)(e->retry_after_s > 0 ? e->retry_after_s : 1) * 1000;
    j->last_err = *e;
    j->have_err = 1;
    if (!cause && !retryable(s)) {
        fail(j, e);
        return;
    }
    if (j->tokens_sent && !j->started && j->gen->n_messages == 0) {
        eco_buf_reset(&j->sent); /* unary raw prompt: nothing was sent, start again */
        j->tokens_sent = 0;
    }
    if (j->started && j->gen->n_messages == 0) {
        /* Output was sent and this request cannot be continued (raw prompt). */
        set_err(e, 502, GRPC_STATUS_UNAVAILABLE, "stream_interrupted", NULL,
                "model %s: the engine stream broke off after output and this request cannot be continued",
                j->model->id);
        fail(j, e);
        return;
    }
    if (j->attempts >= ai->s.retry_max_attempts) {
        give_up(j, "attempts exhausted");
        return;
    }
    if (!eco_retry_budget_try(&ai->budget, now)) {
        eco_warn("retry budget exhausted", ECO_KS("request_id", j->request_id), ECO_KS("model", j->model->id));
        give_up(j, "retry budget exhausted");
        return;
    }
    if (j->nskip < MAX_SKIP)
        j->skip[j->nskip++] = b;
    const char *why = cause ? cause : (s == GRPC_STATUS_RESOURCE_EXHAUSTED ? "overloaded" : "error");
    if (j->tokens_sent)
        eco_metrics_inc(ai->m_failovers, why);
    else
        eco_metrics_inc(ai->m_retries, why);
    j->retries++;
    long delay = eco_backoff_ms(j->retries, ai->s.retry_base_ms, ai->s.retry_max_backoff_ms, 0, &ai->rng);
    if (now + (uint64_t)delay >= j->deadline_ms) {
        set_err(e, 504, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline_exceeded", NULL,
                "model %s: no time left to retry after: %s", j->model->id, j->last_err.message);
        fail(j, e);
        return;
    }
    eco_info("retrying on another backend", ECO_KS("request_id", j->request_id), ECO_KS("backend", b->address),
             ECO_KS("cause", why), ECO_KB("after_output", j->tokens_sent > 0), ECO_KI("delay_ms", delay));
    eco_timer_start(ai->svc, &j->t_next, (uint64_t)delay, on_next);
}

/* A successful end: the answer (or the stream's last chunk) with usage true across attempts. */
static void complete(job_t *j)
{
    ai_t *ai = j->ai;
    if (j->mode != JOB_EMBED) {
        Eco__Ai__V1__Usage u = j->usage;
        unsigned before = j->tokens_at_attempt;
        u.completion_tokens += before;
        if (before && u.prompt_tokens >= before)
            u.prompt_tokens -= before; /* the continuation's prompt held the output so far */
        u.total_tokens = u.prompt_tokens + u.completion_tokens;
        eco_metrics_add(ai->m_tokens, (double)u.prompt_tokens, "prompt");
        eco_metrics_add(ai->m_tokens, (double)u.completion_tokens, "completion");
        if (j->detached) {
        } else if (j->mode == JOB_STREAM) {
            j->sink.on_done(j, j->finish, &u, j->data);
        } else {
            Eco__Ai__V1__GenerateResponse r = ECO__AI__V1__GENERATE_RESPONSE__INIT;
            r.text = (char *)eco_buf_cstr(&j->sent);
            r.finish_reason = j->finish;
            r.model = (char *)j->model->id;
            r.usage = &u;
            j->sink.on_result(j, &r.base, j->data);
        }
    } else if (!j->detached) {
        j->sink.on_result(j, j->result, j->data);
    }
    finish(j);
}

static void on_end(eco_rpc_acall_t *c, const eco_rpc_result_t *res, void *data)
{
    job_t *j = data;
    ai_t *ai = j->ai;
    backend_t *b = j->b;
    j->engine_ns += eco_now_ns() - j->attempt_t0_ns;
    eco_timer_stop(&j->t_first);
    eco_timer_stop(&j->t_stall);
    eco_rpc_acall_release(c);
    j->call = NULL;
    j->b = NULL;
    b->inflight--;
    const char *cause = j->cause;
    j->cause = NULL;

    if (j->cancelled) {
        eco_cb_release(&b->cb, eco_now_ms());
        finish_cancelled(j);
    } else if (cause && strcmp(cause, "deadline") == 0) {
        eco_cb_release(&b->cb, eco_now_ms());
        job_error_t e;
        set_err(&e, 504, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline_exceeded", NULL,
                "model %s: the request deadline passed before the answer was complete", j->model->id);
        fail(j, &e);
    } else if (res->status == GRPC_STATUS_OK && (j->mode == JOB_EMBED || j->have_final)) {
        eco_cb_success(&b->cb, eco_now_ms());
        count(j, 200);
        if (j->mode == JOB_STREAM && j->paused) {
            j->complete_pending = 1;        /* the client has not taken everything yet: job_resume ends it */
            eco_timer_stop(&j->t_deadline); /* the engine is done; a slow reader is the client's business */
            admit_kick(ai);
            return;
        }
        complete(j);
    } else {
        job_error_t e;
        grpc_status_code s = res->status;
        if (res->status == GRPC_STATUS_OK) { /* a stream that ended without a finish reason */
            cause = "cut";
            s = GRPC_STATUS_UNAVAILABLE;
            set_err(&e, 502, s, "stream_interrupted", NULL, "model %s: the engine stream ended unfinished",
                    j->model->id);
        } else if (cause) {
            set_err(&e, 504, GRPC_STATUS_DEADLINE_EXCEEDED, "engine_timeout", NULL, "model %s: backend %s %s",
                    j->model->id, b->address,
                    strcmp(cause, "ttft") == 0 ? "sent no first token in time" : "stalled mid-stream");
        } else {
            err_from_status(j, res, &e);
        }
        attempt_failed(j, b, s, cause, &e);
    }
    admit_kick(ai);
}

static const eco_rpc_acall_cbs_t call_cbs = {on_msg, on_end};

static void attempt(job_t *j, backend_t *b)
{
    ai_t *ai = j->ai;
    b->inflight++;
    j->b = b;
    j->attempts++;
    j->tokens_at_attempt = j->tokens_sent;
    j->have_final = 0;
    eco_rpc_md_t md[2];
    size_t nmd = 0;
    md[nmd++] = (eco_rpc_md_t){"x-request-id", j->request_id, 0};
    if (j->traceparent[0])
        md[nmd++] = (eco_rpc_md_t){"traceparent", j->traceparent, 0};
    uint64_t now = eco_now_ms();
    eco_rpc_call_opts_t opts = {.timeout_ms = (long)(j->deadline_ms - now), .md = md, .nmd = nmd};

    const char *path;
    const ProtobufCMessageDescriptor *resp_desc;
    const ProtobufCMessage *req;
    Eco__Ai__V1__GenerateRequest gen;
    Eco__Ai__V1__EmbeddingRequest emb;
    Eco__Ai__V1__ChatMessage cont = ECO__AI__V1__CHAT_MESSAGE__INIT;
    Eco__Ai__V1__ChatMessage *msgs[1025];
    if (j->mode == JOB_EMBED) {
        emb = *j->emb;
        emb.model = "";
        emb.request_id = j->request_id;
        req = &emb.base;
        path = "/eco.ai.v1.Inference/GenerateEmbedding";
        resp_desc = &eco__ai__v1__embedding_response__descriptor;
    } else {
        gen = *j->gen;
        gen.model = ""; /* the adapter's served model */
        gen.request_id = j->request_id;
        if (j->tokens_sent > 0) {
            /* Continuation: the output so far as a trailing assistant message. */
            size_t n = gen.n_messages < 1024 ? gen.n_messages : 1024;
            memcpy(msgs, gen.messages, n * sizeof(*msgs));
            cont.role = "assistant";
            cont.content = (char *)eco_buf_cstr(&j->sent);
            msgs[n] = &cont;
            gen.messages = msgs;
            gen.n_messages = n + 1;
            if (gen._max_tokens_case)
                gen.max_tokens = gen.max_tokens > j->tokens_sent ? gen.max_tokens - j->tokens_sent : 1;
        }
        req = &gen.base;
        /* Unary requests stream from the adapter too: a first-token limit, stall detection and
         * continuation then apply to them as well; the text is answered whole at the end. */
        path = "/eco.ai.v1.Inference/StreamCompletion";
        resp_desc = &eco__ai__v1__completion_chunk__descriptor;
    }
    j->attempt_t0_ns = eco_now_ns();
    if (eco_rpc_acall_start(ai->rpc, b->ch, path, req, resp_desc, j->mode != JOB_EMBED, &opts, &call_cbs, j,
                            &j->call) != 0) {
        b->inflight--;
        j->b = NULL;
        eco_cb_release(&b->cb, now);
        job_error_t e;
        set_err(&e, 500, GRPC_STATUS_INTERNAL, "internal_error", NULL, "cannot start the adapter call");
        fail(j, &e);
        return;
    }
    if (j->mode != JOB_EMBED)
        eco_timer_start(ai->svc, &j->t_first, (uint64_t)ai->s.ttft_timeout_ms, on_first_timeout);
}

/* ---------- admission and backend choice ---------- */

static void on_wake(eco_pq_item_t *it)
{
    job_t *j = ECO_CONTAINER_OF(it, job_t, wait.item);
    j->queued = 0;
    try_start(j);
}

static void on_shed(eco_pq_item_t *it)
{
    job_t *j = ECO_CONTAINER_OF(it, job_t, wait.item);
    j->queued = 0;
    job_error_t e;
    set_err(&e, 429, GRPC_STATUS_RESOURCE_EXHAUSTED, "overloaded", NULL,
            "model %s is overloaded: request shed for one of higher priority", j->model->id);
    e.retry_after_s = 1;
    /* Shed from inside another job's admission: report on the next loop turn. */
    j->last_err = e;
    j->have_err = 1;
    j->cancelled = 0;
    eco_timer_stop(&j->t_next);
    j->cause = "shed";
    eco_timer_start(j->ai->svc, &j->t_next, 0, on_next);
}

static void try_start(job_t *j)
{
    ai_t *ai = j->ai;
    if (j->cancelled) {
        finish_cancelled(j);
        return;
    }
    if (j->cause && strcmp(j->cause, "shed") == 0) {
        fail(j, &j->last_err);
        return;
    }
    if (eco_now_ms() >= j->deadline_ms) {
        on_deadline(&j->t_deadline);
        return;
    }
    int need_cont = j->tokens_sent > 0;
    int busy = 0;
    backend_t *b = route_pick(ai, j->model, j->skip, j->nskip, need_cont, j->affinity, &busy);
    if (!b && !busy && j->nskip) /* every backend was tried: one may have recovered */
        b = route_pick(ai, j->model, NULL, 0, need_cont, j->affinity, &busy);
    if (!b && !busy && need_cont && !j->started) {
        /* Unary: nothing was sent, so a backend without continuation may start afresh. */
        eco_buf_reset(&j->sent);
        j->tokens_sent = 0;
        b = route_pick(ai, j->model, NULL, 0, 0, j->affinity, &busy);
    }
    while (!b && !busy && !j->started && j->next_fallback < j->model->nfallbacks) {
        const reg_model_t *fb = registry_find(ai->reg, j->model->fallbacks[j->next_fallback++]);
        if (!fb)
            continue;
        eco_info("falling back to another model", ECO_KS("request_id", j->request_id), ECO_KS("from", j->model->id),
                 ECO_KS("to", fb->id));
        j->model = fb;
        j->next_fallback = 0;
        j->nskip = 0;
        b = route_pick(ai, j->model, NULL, 0, 0, j->affinity, &busy);
    }
    if (b) {
        attempt(j, b);
        return;
    }
    if (busy & ROUTE_COOLING && !(busy & ROUTE_FULL)) {
        job_error_t e;
        set_err(&e, 429, GRPC_STATUS_RESOURCE_EXHAUSTED, "overloaded", NULL,
                "model %s is overloaded: its backends asked for a pause (retry-after)", j->model->id);
        e.retry_after_s = 1;
        fail(j, &e);
        return;
    }
    if (busy) {
        memset(&j->wait.item, 0, sizeof(j->wait.item));
        j->wait.wake = on_wake;
        if (admit_enqueue(ai, j->model->id, &j->wait, j->priority, on_shed) == 0) {
            j->queued = 1;
            return;
        }
        job_error_t e;
        set_err(&e, 429, GRPC_STATUS_RESOURCE_EXHAUSTED, "overloaded", NULL,
                "model %s is overloaded: every backend is at its concurrency limit and the queue is full",
                j->model->id);
        e.retry_after_s = 1;
        fail(j, &e);
        return;
    }
    if (j->have_err) {
        give_up(j, "no other backend");
        return;
    }
    job_error_t e;
    set_err(&e, 503, GRPC_STATUS_UNAVAILABLE, "no_healthy_backend", NULL, "model %s has no healthy backend",
            j->model->id);
    e.retry_after_s = 1;
    fail(j, &e);
}

/* ---------- public ---------- */

job_t *job_start(ai_t *ai, const job_spec_t *spec, const job_sink_t *sink, void *data)
{
    job_t *j = eco_calloc(1, sizeof(*j));
    j->ai = ai;
    j->mode = spec->mode;
    j->model = spec->model;
    j->gen = spec->gen;
    j->emb = spec->emb;
    j->priority = spec->priority;
    j->api = spec->api ? spec->api : "rest";
    j->affinity = route_affinity(ai, spec->session, spec->gen);
    j->sink = *sink;
    j->data = data;
    snprintf(j->request_id, sizeof(j->request_id), "%s", spec->request_id ? spec->request_id : "");
    snprintf(j->traceparent, sizeof(j->traceparent), "%s", spec->traceparent ? spec->traceparent : "");
    eco_buf_init(&j->sent, 0);
    eco_buf_init(&j->held, 0);
    j->t0_ns = eco_now_ns();
    long timeout = spec->timeout_ms > 0 && spec->timeout_ms < ai->s.request_timeout_ms ? spec->timeout_ms
                                                                                       : ai->s.request_timeout_ms;
    j->deadline_ms = eco_now_ms() + (uint64_t)timeout;
    eco_retry_budget_request(&ai->budget, eco_now_ms());
    eco_timer_start(ai->svc, &j->t_deadline, (uint64_t)timeout, on_deadline);
    eco_timer_start(ai->svc, &j->t_next, 0, on_next);
    return j;
}

void job_cancel(job_t *j)
{
    if (j->cancelled)
        return;
    j->cancelled = 1;
    if (j->call) {
        eco_rpc_acall_cancel(j->call);
        return;
    }
    if (j->queued) {
        admit_remove(j->ai, j->model->id, &j->wait);
        j->queued = 0;
    }
    eco_timer_stop(&j->t_next);
    eco_timer_start(j->ai->svc, &j->t_next, 0, on_next);
}

void job_detach(job_t *j)
{
    j->detached = 1;
    job_cancel(j);
}

void job_resume(job_t *j)
{
    if (!j->paused)
        return;
    if (j->held.len && !j->detached) {
        int full = j->sink.on_delta(j, j->held.base, j->held.len, j->data);
        eco_buf_reset(&j->held);
        if (full)
            return; /* still full: the sink calls again */
    }
    eco_buf_reset(&j->held);
    j->paused = 0;
    if (j->complete_pending) {
        complete(j);
        return;
    }
    if (j->call) {
        eco_timer_start(j->ai->svc, &j->t_stall, (uint64_t)j->ai->s.stall_ms, on_stall);
        eco_rpc_acall_read(j->call);
    }
}
