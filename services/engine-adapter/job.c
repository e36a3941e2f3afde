/* Jobs on the loop thread: admission (connection slots + a bounded queue), the upstream request
 * with its connect / first-byte / idle / deadline timers, stream parsing with backpressure
 * (pause the engine while the gRPC send queue is full), cancellation reaching the engine, and
 * the one place where a call is ended. */
#include "job.h"

#include <stdlib.h>
#include <string.h>

#define PENDING_MAX    (8u << 20)  /* streamed text held while the client is slow */
#define ERROR_BODY_MAX (64u << 10) /* error bodies are read up to this much */

static const char *const KIND_NAMES[] = {"generate", "stream", "embed"};

const char *job_kind_name(job_kind_t k)
{
    return KIND_NAMES[k];
}

static void job_ref(job_t *j)
{
    atomic_fetch_add(&j->refs, 1);
}

static void job_unref(job_t *j)
{
    if (atomic_fetch_sub(&j->refs, 1) != 1)
        return;
    ECO_BUG_ON(j->call || j->cr);
    eco_timer_stop(&j->t_connect);
    eco_timer_stop(&j->t_first);
    eco_timer_stop(&j->t_idle);
    eco_timer_stop(&j->t_deadline);
    if (j->parser_on)
        eco_engine_stream_free(&j->parser);
    eco_engine_result_free(&j->res);
    eco_engine_http_free(&j->http);
    eco_buf_free(&j->body);
    eco_buf_free(&j->pending);
    free(j);
}

void job_set_request_id(job_t *j, const char *id)
{
    /* It becomes an HTTP header to the engine: only plain id characters, else none at all. */
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n >= sizeof(j->request_id) || j->request_id[0])
        return;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.' || c == ':'))
            return;
    }
    memcpy(j->request_id, id, n + 1);
}

job_t *job_new(adapter_t *a, job_kind_t kind, eco_rpc_call_t *call, const ProtobufCMessage *req)
{
    job_t *j = eco_calloc(1, sizeof(*j));
    atomic_init(&j->refs, 1); /* the call */
    atomic_init(&j->cancel_asked, 0);
    j->a = a;
    j->kind = kind;
    j->call = call;
    j->req = req;
    j->retry_after_s = -1;
    j->t0_ns = eco_now_ns();
    eco_buf_init(&j->body, ECO_ENGINE_MAX_RESPONSE_BODY * (kind == JOB_EMBED ? 4u : 1u));
    eco_buf_init(&j->pending, PENDING_MAX);
    eco_engine_result_init(&j->res);
    job_set_request_id(j, eco_rpc_call_md(call, "x-request-id"));
    atomic_fetch_add(&a->inflight, 1);
    eco_metrics_set(a->m_inflight, (double)atomic_load(&a->inflight), a->kind->name);
    return j;
}

/* ---------- ending the call ---------- */

static void outcome_name(grpc_status_code st, char *out, size_t n)
{
    const char *s = eco_rpc_status_name(st);
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++)
        out[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 'a' : s[i]);
    out[i] = '\0';
}

void job_end_call(job_t *j, const ProtobufCMessage *msg, grpc_status_code status, const char *details,
                  const eco_rpc_md_t *md, size_t nmd)
{
    if (!j->call)
        return;
    adapter_t *a = j->a;
    eco_rpc_call_t *call = j->call;
    j->call = NULL;
    eco_timer_stop(&j->t_deadline);
    if (j->state == JOB_QUEUED) {
        h2o_linklist_unlink(&j->qlink);
        a->queued--;
        j->state = JOB_DONE;
    }
    if (msg) {
        status = GRPC_STATUS_OK;
        if (eco_rpc_call_respond(call, msg, md, nmd) == ECO_RPC_ECANCELED)
            status = GRPC_STATUS_CANCELLED;
    } else {
        eco_rpc_call_finish(call, status, details, md, nmd);
    }
    char outcome[32];
    outcome_name(atomic_load(&j->cancel_asked) ? GRPC_STATUS_CANCELLED : status, outcome, sizeof(outcome));
    eco_metrics_inc(a->m_requests, a->kind->name, job_kind_name(j->kind), outcome);
    atomic_fetch_sub(&a->inflight, 1);
    eco_metrics_set(a->m_inflight, (double)atomic_load(&a->inflight), a->kind->name);
    if (status != GRPC_STATUS_OK && status != GRPC_STATUS_CANCELLED)
        eco_info("engine call failed", ECO_KS("method", job_kind_name(j->kind)),
                 ECO_KS("code", eco_rpc_status_name(status)), ECO_KS("details", details ? details : ""),
                 ECO_KS("request_id", j->request_id), ECO_KI("ms", (long long)((eco_now_ns() - j->t0_ns) / 1000000u)));
    job_unref(j); /* the call's reference */
}

/* ---------- the upstream request ---------- */

static void kick(adapter_t *a);

/* The upstream request is over (answered, broken or cancelled): free its slot. */
static void upstream_over(job_t *j)
{
    adapter_t *a = j->a;
    if (!j->cr)
        return;
    j->cr = NULL;
    eco_timer_stop(&j->t_connect);
    eco_timer_stop(&j->t_first);
    eco_timer_stop(&j->t_idle);
    a->running--;
    j->state = JOB_DONE;
    eco_metrics_observe(a->m_upstream, (double)(eco_now_ns() - j->t_up_ns) / 1e9, a->kind->name,
                        job_kind_name(j->kind));
    kick(a);
    job_unref(j); /* the upstream request's reference */
}

void job_cancel_upstream(job_t *j)
{
    if (!j->cr)
        return;
    eco_http_client_cancel(j->cr);
    upstream_over(j);
}

static void fail(job_t *j, grpc_status_code st, const char *reason, const char *msg)
{
    eco_engine_error_t e;
    eco_engine_error_set(&e, st, reason, "%s", msg);
    job_fail(j, &e);
}

static void on_connect_timeout(eco_timer_t *t)
{
    job_t *j = ECO_CONTAINER_OF(t, job_t, t_connect);
    job_ref(j);
    char msg[128];
    snprintf(msg, sizeof(msg), "no connection to the engine within %ld ms", j->a->cfg.connect_timeout_ms);
    fail(j, GRPC_STATUS_UNAVAILABLE, "engine_unreachable", msg);
    job_unref(j);
}

static void on_first_timeout(eco_timer_t *t)
{
    job_t *j = ECO_CONTAINER_OF(t, job_t, t_first);
    job_ref(j);
    char msg[128];
    snprintf(msg, sizeof(msg), "no answer from the engine within %ld ms", j->a->cfg.first_byte_timeout_ms);
    fail(j, GRPC_STATUS_DEADLINE_EXCEEDED, "engine_timeout", msg);
    job_unref(j);
}

static void on_idle_timeout(eco_timer_t *t)
{
    job_t *j = ECO_CONTAINER_OF(t, job_t, t_idle);
    job_ref(j);
    if (j->call && j->parser_on && j->parser.finished && !j->parser.over) {
        /* The engine finished but neither sent its terminator nor ended the body: complete. */
        j->parser.over = 1;
        j->end_seen = 1;
        if (!j->blocked && !j->pending.len)
            job_answer_stream_end(j);
        job_cancel_upstream(j);
    } else if (!j->call) {
        job_cancel_upstream(j); /* the answer is out; stop draining a silent connection */
    } else {
        char msg[128];
        snprintf(msg, sizeof(msg), "engine stalled: no data for %ld ms", j->a->cfg.idle_timeout_ms);
        fail(j, GRPC_STATUS_DEADLINE_EXCEEDED, "engine_timeout", msg);
    }
    job_unref(j);
}

static void on_deadline(eco_timer_t *t)
{
    job_t *j = ECO_CONTAINER_OF(t, job_t, t_deadline);
    job_ref(j);
    fail(j, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline_exceeded", "the call's deadline passed");
    job_unref(j);
}

static void restart_idle(job_t *j)
{
    if (!j->paused)
        eco_timer_start(j->a->svc, &j->t_idle, (uint64_t)j->a->cfg.idle_timeout_ms, on_idle_timeout);
}

static int is_2xx(const job_t *j)
{
    return j->http_status >= 200 && j->http_status < 300;
}

/* Stops reading the engine while the client's send queue is full. */
static void block(job_t *j)
{
    j->blocked = 1;
    if (j->cr && !j->paused) {
        eco_http_client_pause(j->cr);
        j->paused = 1;
        eco_timer_stop(&j->t_idle);
        eco_metrics_inc(j->a->m_pauses, j->a->kind->name);
    }
}

static int hold_pending(job_t *j, const char *p, size_t n)
{
    eco_buf_add(&j->pending, p, n);
    if (eco_buf_ok(&j->pending))
        return 0;
    fail(j, GRPC_STATUS_RESOURCE_EXHAUSTED, "client_too_slow", "the client does not read the stream fast enough");
    return -1;
}

static int on_event(const eco_engine_event_t *ev, void *data)
{
    job_t *j = data;
    if (!j->call)
        return 1;
    adapter_t *a = j->a;
    switch (ev->type) {
    case ECO_ENGINE_EV_DELTA:
        if (!j->t_first_token_ns) {
            j->t_first_token_ns = eco_now_ns();
            eco_metrics_observe(a->m_ttft, (double)(j->t_first_token_ns - j->t0_ns) / 1e9, a->kind->name);
        }
        j->out_bytes += ev->len;
        j->deltas++;
        if (j->blocked || j->pending.len) {
            hold_pending(j, ev->text, ev->len);
            break;
        }
        switch (job_send_delta(j, ev->text, ev->len)) {
        case 0:
            break;
        case ECO_RPC_EAGAIN:
            if (hold_pending(j, ev->text, ev->len) == 0)
                block(j);
            break;
        default: /* cancelled: on_cancel follows; end now so the engine stops at once */
            job_cancel_upstream(j);
            job_end_call(j, NULL, GRPC_STATUS_CANCELLED, "cancelled", NULL, 0);
            break;
        }
        break;
    case ECO_ENGINE_EV_FINISH:
        snprintf(j->res.finish_reason, sizeof(j->res.finish_reason), "%s", ev->finish_reason);
        break;
    case ECO_ENGINE_EV_USAGE:
        if (ev->has_prompt_tokens) {
            j->res.has_prompt_tokens = 1;
            j->res.prompt_tokens = ev->prompt_tokens;
        }
        if (ev->has_completion_tokens) {
            j->res.has_completion_tokens = 1;
            j->res.completion_tokens = ev->completion_tokens;
        }
        break;
    case ECO_ENGINE_EV_END:
        j->end_seen = 1;
        if (!j->blocked && !j->pending.len)
            job_answer_stream_end(j);
        break;
    case ECO_ENGINE_EV_ERROR:
        job_fail(j, ev->error);
        break;
    }
    return j->call ? 0 : 1;
}

static long parse_retry_after(const char *v, size_t n)
{
    long x = 0;
    if (n == 0 || n > 9)
        return 1; /* an HTTP-date or garbage: retry soon */
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return 1;
        x = x * 10 + (v[i] - '0');
    }
    return x;
}

static void up_on_connect(eco_http_client_req_t *r, void *data)
{
    job_t *j = data;
    eco_timer_stop(&j->t_connect);
    eco_timer_start(j->a->svc, &j->t_first, (uint64_t)j->a->cfg.first_byte_timeout_ms, on_first_timeout);
}

static void up_on_head(eco_http_client_req_t *r, const char *err, int status, const h2o_header_t *headers,
                       size_t nheaders, void *data)
{
    job_t *j = data;
    job_ref(j);
    if (err) {
        upstream_over(j);
        eco_engine_error_t e;
        eco_engine_error_set(&e, GRPC_STATUS_UNAVAILABLE, "engine_unreachable", "no answer from the engine (%s)", err);
        job_fail(j, &e);
        job_unref(j);
        return;
    }
    j->http_status = status;
    for (size_t i = 0; i < nheaders; i++) {
        const h2o_iovec_t *name = headers[i].name;
        const h2o_iovec_t *v = &headers[i].value;
        if (h2o_memis(name->base, name->len, H2O_STRLIT("retry-after")))
            j->retry_after_s = parse_retry_after(v->base, v->len);
        else if (name == &H2O_TOKEN_CONTENT_TYPE->buf && j->kind == JOB_STREAM && !j->http.ndjson)
            j->json_answer = v->len >= 16 && strncasecmp(v->base, "application/json", 16) == 0;
        else
            eco_engine_usage_header(&j->res, name->base, name->len, v->base, v->len);
    }
    if (is_2xx(j) && j->kind == JOB_STREAM && !j->json_answer) {
        /* The first-byte timer runs on until the first event: the head alone is no token. */
        eco_engine_stream_init(&j->parser, j->a->kind, &j->http, j->a->sglang_incremental, 0);
        j->parser_on = 1;
    } else {
        /* A complete answer (or an error) is ready once its head arrives. */
        eco_timer_stop(&j->t_first);
        restart_idle(j);
    }
    job_unref(j);
}

static void finish_body(job_t *j)
{
    if (!is_2xx(j)) {
        eco_engine_error_t e;
        eco_engine_error_from_http(j->a->kind, j->http_status, j->body.base, j->body.len, &e);
        job_fail(j, &e);
    } else if (j->kind == JOB_STREAM) {
        if (j->parser_on) {
            eco_engine_stream_end(&j->parser, on_event, j);
        } else { /* one JSON document instead of a stream: an error object, or nonsense */
            eco_engine_error_t e;
            eco_engine_error_from_http(j->a->kind, 200, j->body.base, j->body.len, &e);
            if (e.status == GRPC_STATUS_INTERNAL && !e.code[0])
                eco_engine_error_set(&e, GRPC_STATUS_INTERNAL, "malformed_response",
                                     "the engine answered one JSON document instead of a stream");
            job_fail(j, &e);
        }
    } else if (j->kind == JOB_EMBED) {
        job_answer_embeddings(j);
    } else {
        job_answer_unary(j);
    }
}

static void up_on_body(eco_http_client_req_t *r, const char *err, const char *chunk, size_t len, int eos, void *data)
{
    job_t *j = data;
    job_ref(j);
    if (len) {
        eco_timer_stop(&j->t_first);
        if (!eos && !err)
            restart_idle(j);
        if (j->parser_on) {
            if (j->call)
                eco_engine_stream_feed(&j->parser, chunk, len, on_event, j);
        } else if (!is_2xx(j)) {
            if (j->body.len < ERROR_BODY_MAX)
                eco_buf_add(&j->body, chunk, len < ERROR_BODY_MAX - j->body.len ? len : ERROR_BODY_MAX - j->body.len);
        } else {
            eco_buf_add(&j->body, chunk, len);
            if (!eco_buf_ok(&j->body))
                fail(j, GRPC_STATUS_RESOURCE_EXHAUSTED, "response_too_large", "the engine's answer is too large");
        }
    }
    if ((eos || err) && j->cr) {
        upstream_over(j);
        if (j->call && err) {
            if (j->kind == JOB_STREAM && is_2xx(j) && j->parser_on && j->parser.finished) {
                eco_engine_stream_end(&j->parser, on_event, j); /* complete, only the end is missing */
            } else {
                eco_engine_error_t e;
                if (j->kind == JOB_STREAM && is_2xx(j))
                    eco_engine_error_set(&e, GRPC_STATUS_UNAVAILABLE, "stream_cut",
                                         "the engine's stream broke off before it completed (%s)", err);
                else
                    eco_engine_error_set(&e, GRPC_STATUS_UNAVAILABLE, "engine_unavailable",
                                         "the engine's answer broke off (%s)", err);
                job_fail(j, &e);
            }
        } else if (j->call) {
            finish_body(j);
        }
    }
    job_unref(j);
}

static const eco_http_client_cbs_t CBS = {.on_connect = up_on_connect, .on_head = up_on_head, .on_body = up_on_body};

static void dispatch(job_t *j)
{
    adapter_t *a = j->a;
    j->state = JOB_RUNNING;
    a->running++;
    char headers[1536];
    const char *accept = !j->http.stream  ? "application/json"
                         : j->http.ndjson ? "application/x-ndjson"
                                          : "text/event-stream";
    snprintf(headers, sizeof(headers), "content-type: application/json\r\naccept: %s\r\n%s%s%s%s", accept,
             j->request_id[0] ? "x-request-id: " : "", j->request_id, j->request_id[0] ? "\r\n" : "", j->forward);
    j->t_up_ns = eco_now_ns();
    job_ref(j); /* the upstream request */
    eco_timer_start(a->svc, &j->t_connect, (uint64_t)a->cfg.connect_timeout_ms, on_connect_timeout);
    j->cr = eco_http_client_start(j->up, j->http.method, j->http.path, headers, j->http.body.base, j->http.body.len,
                                  &CBS, j);
    eco_buf_free(&j->http.body); /* copied by the client */
}

static void kick(adapter_t *a)
{
    while (a->running < a->cfg.max_conns && !h2o_linklist_is_empty(&a->queue)) {
        job_t *j = H2O_STRUCT_FROM_MEMBER(job_t, qlink, a->queue.next);
        h2o_linklist_unlink(&j->qlink);
        a->queued--;
        dispatch(j);
    }
}

/* ---------- tasks posted from the rpc worker threads ---------- */

static void start_task(void *data)
{
    job_t *j = data;
    adapter_t *a = j->a;
    if (!j->call)
        goto out;
    if (atomic_load(&j->cancel_asked)) {
        job_end_call(j, NULL, GRPC_STATUS_CANCELLED, "cancelled", NULL, 0);
        goto out;
    }
    long rem = eco_rpc_call_remaining_ms(j->call);
    if (rem == 0) {
        fail(j, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline_exceeded", "the call's deadline passed before it started");
        goto out;
    }
    if (rem > 0)
        eco_timer_start(a->svc, &j->t_deadline, (uint64_t)rem, on_deadline);
    if (a->running < a->cfg.max_conns) {
        dispatch(j);
    } else if (a->queued < a->cfg.max_queue) {
        j->state = JOB_QUEUED;
        h2o_linklist_insert(&a->queue, &j->qlink);
        a->queued++;
    } else {
        eco_engine_error_t e;
        eco_engine_error_set(&e, GRPC_STATUS_RESOURCE_EXHAUSTED, "overloaded",
                             "the adapter's queue is full (%ld requests waiting for the engine)", a->queued);
        e.retry_after_s = 1;
        job_fail(j, &e);
    }
out:
    job_unref(j);
}

static void cancel_task(void *data)
{
    job_t *j = data;
    job_cancel_upstream(j); /* the engine sees the disconnect */
    job_end_call(j, NULL, GRPC_STATUS_CANCELLED, "cancelled", NULL, 0);
    job_unref(j);
}

static void writable_task(void *data)
{
    job_t *j = data;
    if (j->call && j->blocked) {
        j->blocked = 0;
        int rc = 0;
        if (j->pending.len) {
            rc = job_send_delta(j, eco_buf_cstr(&j->pending), j->pending.len);
            if (rc == 0)
                eco_buf_reset(&j->pending);
        }
        if (rc == ECO_RPC_EAGAIN) {
            j->blocked = 1;
        } else if (rc != 0) {
            job_cancel_upstream(j);
            job_end_call(j, NULL, GRPC_STATUS_CANCELLED, "cancelled", NULL, 0);
        } else if (j->end_seen) {
            job_answer_stream_end(j);
        } else if (j->paused && j->cr) {
            j->paused = 0;
            eco_http_client_resume(j->cr);
            restart_idle(j);
        }
    }
    job_unref(j);
}

static void on_cancel(eco_rpc_call_t *call, void *data)
{
    job_t *j = data;
    atomic_store(&j->cancel_asked, 1);
    job_ref(j);
    eco_service_post(j->a->svc, cancel_task, j);
}

static void on_writable(eco_rpc_call_t *call, void *data)
{
    job_t *j = data;
    job_ref(j);
    eco_service_post(j->a->svc, writable_task, j);
}

void job_submit(job_t *j)
{
    if (eco_rpc_call_set_callbacks(j->call, on_cancel, j->kind == JOB_STREAM ? on_writable : NULL, j) != 0) {
        /* Cancelled before it started: nothing was shared with another thread yet. */
        atomic_store(&j->cancel_asked, 1);
        j->state = JOB_DONE;
        job_end_call(j, NULL, GRPC_STATUS_CANCELLED, "cancelled", NULL, 0);
        return;
    }
    job_ref(j); /* the start task */
    eco_service_post(j->a->svc, start_task, j);
}
