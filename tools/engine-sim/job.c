/* Generation jobs: admission (running slots + a bounded queue), token timing on timers,
 * streaming with backpressure, injected faults, and cancellation when the client goes away. */
#include "sim.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define STREAM_MAX_PENDING (1u << 20)
#define PAUSE_PENDING      (64u << 10) /* stop producing while this much output waits for the client */

static void job_tick(sim_job_t *j);
static void ensure_watch(sim_t *sim);

int sim_ready(const sim_t *sim)
{
    return sim_loading_left_ms(sim) == 0 && !eco_lifecycle_draining();
}

long sim_loading_left_ms(const sim_t *sim)
{
    if (sim->o.never_ready)
        return LONG_MAX;
    uint64_t now = eco_now_ms();
    return now >= sim->ready_at_ms ? 0 : (long)(sim->ready_at_ms - now);
}

double sim_elapsed_s(const sim_job_t *j)
{
    return (double)(eco_now_ns() - j->t_arrive_ns) / 1e9;
}

const char *sim_finish(const sim_job_t *j, size_t seq, const char *stop, const char *length)
{
    return j->seq[seq].g.finish_length ? length : stop;
}

long sim_completion_tokens(const sim_job_t *j, size_t seq)
{
    return (long)j->seq[seq].sent;
}

/* ---------- scratch buffer for frames (one loop thread: reused, never freed) ---------- */

static eco_buf_t *scratch(void)
{
    static eco_buf_t b = ECO_BUF_INIT;
    eco_buf_reset(&b);
    return &b;
}

/* ---------- releasing a slot ---------- */

static void on_kick(eco_timer_t *t);

static void schedule_kick(sim_t *sim)
{
    if (!h2o_linklist_is_empty(&sim->queue) && !eco_timer_active(&sim->kick))
        eco_timer_start(sim->svc, &sim->kick, 0, on_kick);
}

static void job_release(sim_job_t *j)
{
    sim_t *sim = j->sim;
    eco_timer_stop(&j->timer);
    eco_timer_stop(&j->keepalive);
    if (j->state == SIM_JOB_RUNNING) {
        sim->running--;
        sim->kv_tokens -= j->kv_held;
        j->kv_held = 0;
    } else if (j->state == SIM_JOB_QUEUED) {
        sim->waiting--;
    }
    if (h2o_linklist_is_linked(&j->qlink))
        h2o_linklist_unlink(&j->qlink);
    if (h2o_linklist_is_linked(&j->alink))
        h2o_linklist_unlink(&j->alink);
    j->state = SIM_JOB_DONE;
    schedule_kick(sim);
}

/* The client went away (write failed, stream reset, or the connection was seen closed). */
static void job_cancelled(sim_job_t *j)
{
    if (j->state != SIM_JOB_QUEUED && j->state != SIM_JOB_RUNNING)
        return;
    sim_t *sim = j->sim;
    sim->st.cancelled++;
    sim->st.finished_abort++;
    eco_metrics_inc(sim->m_cancelled);
    eco_debug("request cancelled by the client", ECO_KS("request_id", j->call->request_id),
              ECO_KI("tokens", (long)j->step));
    job_release(j);
}

static void job_dispose(void *p)
{
    sim_job_t *j = p;
    job_cancelled(j);
    eco_timer_stop(&j->timer);
    eco_timer_stop(&j->keepalive);
}

/* ---------- writing ---------- */

static void job_write(sim_job_t *j, eco_buf_t *b)
{
    if (!j->w || !b->len)
        return;
    if (eco_sse_raw(j->w, b->base, b->len) == 0)
        j->w_busy = 1;
}

static void on_writer(eco_sse_t *w, int stopped, void *data)
{
    sim_job_t *j = data;
    if (stopped) {
        j->w = NULL;
        job_cancelled(j);
        return;
    }
    j->w_busy = 0;
    if (j->blocked && j->state == SIM_JOB_RUNNING) {
        j->blocked = 0;
        job_tick(j);
    }
}

static void start_stream(sim_job_t *j)
{
    if (j->proto->headers)
        j->proto->headers(j);
    j->w = eco_http_stream_start(j->call, j->proto->stream_type, STREAM_MAX_PENDING, 1, on_writer, j);
    j->w_busy = 1;
}

static void on_keepalive(eco_timer_t *t)
{
    sim_job_t *j = ECO_CONTAINER_OF(t, sim_job_t, keepalive);
    if (j->state == SIM_JOB_DONE || j->stalled || !j->w)
        return;
    if (eco_sse_pending(j->w) == 0 && eco_sse_raw(j->w, ":\n\n", 3) == 0)
        j->w_busy = 1;
    eco_timer_start(j->sim->svc, &j->keepalive, (uint64_t)j->sim->o.keepalive_ms, on_keepalive);
}

/* Ends the connection with no terminator: HTTP/1.1 shuts the socket down (the client sees EOF
 * right after the bytes already written), HTTP/2 resets the stream. */
static void abort_connection(sim_job_t *j)
{
    h2o_req_t *req = j->call->req;
    if (req->version < 0x200 && req->conn->callbacks->get_socket) {
        h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
        if (sock)
            shutdown(h2o_socket_get_fd(sock), SHUT_RDWR);
    }
    req->http1_is_persistent = 0;
    if (!j->w)
        j->w = eco_http_stream_start(j->call, j->stream ? j->proto->stream_type : "application/json", 0, 0, NULL, NULL);
    eco_sse_abort(j->w);
}

/* ---------- the token loop ---------- */

static long delay_before(const sim_job_t *j, size_t s)
{
    if (s >= j->nsteps)
        return 0;
    if ((j->f.cut_after >= 0 && (size_t)j->f.cut_after == s) ||
        (j->f.stall_after >= 0 && (size_t)j->f.stall_after == s))
        return 0;
    if (s == 0)
        return j->ttft_ms;
    long from = j->f.slow_after > 1 ? j->f.slow_after : 1;
    if (j->f.slow_ms >= 0 && (long)s >= from)
        return j->f.slow_ms;
    return j->itl_ms;
}

static void on_timer(eco_timer_t *t)
{
    job_tick(ECO_CONTAINER_OF(t, sim_job_t, timer));
}

static void emit_malformed(sim_job_t *j)
{
    eco_buf_t *b = scratch();
    size_t k = j->step < j->seq[0].g.n ? j->step : 0;
    if (j->seq[0].g.n)
        j->proto->token(j, k, b);
    else
        eco_buf_adds(b, "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n");
    size_t keep = b->len / 2;
    b->len = keep;
    eco_buf_adds(b, j->proto->ndjson ? "\n" : "\n\n");
    job_write(j, b);
    j->malformed_done = 1;
    j->sim->st.faults++;
    eco_metrics_inc(j->sim->m_faults, "malformed");
}

static void emit_step(sim_job_t *j)
{
    sim_t *sim = j->sim;
    uint64_t now = eco_now_ns();
    size_t k = j->step;
    if (k == 0) {
        j->t_first_ns = now;
        sim_hist_observe(&sim->st.ttft, (double)(now - j->t_arrive_ns) / 1e9);
        sim->st.prompt_seconds += (double)(now - j->t_start_ns) / 1e9;
    } else {
        sim_hist_observe(&sim->st.itl, (double)(now - j->t_last_ns) / 1e9);
    }
    j->t_last_ns = now;
    sim->st.decode_steps++;
    for (size_t i = 0; i < j->nseq; i++) {
        sim_seq_t *q = &j->seq[i];
        if (k >= q->g.n)
            continue;
        const gen_piece_t *p = &q->g.pieces[k];
        memcpy(q->text + q->tlen, p->p, p->len);
        q->tlen += p->len;
        q->text[q->tlen] = '\0';
        q->sent++;
        j->kv_held++;
        sim->kv_tokens++;
        sim->st.generation_tokens++;
    }
    if (j->stream) {
        eco_buf_t *b = scratch();
        if (k == 0 && j->proto->head)
            j->proto->head(j, b);
        j->proto->token(j, k, b);
        job_write(j, b);
    }
}

static void job_finish(sim_job_t *j)
{
    sim_t *sim = j->sim;
    double e2e = sim_elapsed_s(j);
    sim->st.completed++;
    sim_hist_observe(&sim->st.e2e, e2e);
    for (size_t i = 0; i < j->nseq; i++) {
        sim_seq_t *q = &j->seq[i];
        if (q->g.finish_length)
            sim->st.finished_length++;
        else
            sim->st.finished_stop++;
        sim_hist_observe(&sim->st.gen_tokens, (double)q->sent);
        sim_hist_observe(&sim->st.prompt_len, (double)q->g.prompt_tokens);
        sim->st.prompt_tokens += (uint64_t)q->g.prompt_tokens;
    }
    if (j->step > 1 && j->t_first_ns) {
        double decode = (double)(j->t_last_ns - j->t_first_ns) / 1e9;
        sim_hist_observe(&sim->st.tpot, decode / (double)(j->step - 1));
        sim->st.decode_seconds += decode;
    }
    eco_buf_t *b = scratch();
    if (j->stream) {
        if (j->step == 0 && j->proto->head)
            j->proto->head(j, b);
        j->proto->tail(j, b);
        job_write(j, b);
        eco_sse_end(j->w);
    } else {
        j->proto->unary(j, b);
        if (j->f.malformed_after >= 0) {
            b->len /= 2;
            sim->st.faults++;
            eco_metrics_inc(sim->m_faults, "malformed");
        }
        if (j->proto->headers)
            j->proto->headers(j);
        eco_http_send(j->call, 200, NULL, b->base, b->len);
    }
    job_release(j);
}

static void job_tick(sim_job_t *j)
{
    sim_t *sim = j->sim;
    for (;;) {
        if (j->state != SIM_JOB_RUNNING || j->stalled)
            return;
        if (j->stream && j->w_busy && eco_sse_pending(j->w) > PAUSE_PENDING) {
            j->blocked = 1;
            return;
        }
        size_t k = j->step;
        if (j->f.cut_after >= 0 && k == (size_t)j->f.cut_after) {
            if (j->stream && j->w_busy) { /* let what was written reach the socket first */
                j->blocked = 1;
                return;
            }
            sim->st.faults++;
            sim->st.failed++;
            eco_metrics_inc(sim->m_faults, "cut");
            abort_connection(j);
            job_release(j);
            return;
        }
        if (j->f.stall_after >= 0 && k == (size_t)j->f.stall_after) {
            j->stalled = 1;
            eco_timer_stop(&j->keepalive);
            sim->st.faults++;
            eco_metrics_inc(sim->m_faults, "stall");
            return;
        }
        if (j->stream && j->f.malformed_after >= 0 && k == (size_t)j->f.malformed_after && !j->malformed_done)
            emit_malformed(j);
        if (k >= j->nsteps) {
            job_finish(j);
            return;
        }
        emit_step(j);
        j->step++;
        long delay = delay_before(j, j->step);
        if (delay > 0) {
            eco_timer_start(sim->svc, &j->timer, (uint64_t)delay, on_timer);
            return;
        }
    }
}

/* ---------- admission ---------- */

static void note_in_flight(sim_t *sim)
{
    long n = sim->running + sim->waiting;
    if (n > sim->st.max_in_flight)
        sim->st.max_in_flight = n;
    if (sim->running > sim->st.max_running)
        sim->st.max_running = sim->running;
}

static void job_start(sim_job_t *j)
{
    sim_t *sim = j->sim;
    if (j->state == SIM_JOB_QUEUED) {
        h2o_linklist_unlink(&j->qlink);
        sim->waiting--;
    } else {
        h2o_linklist_insert(&sim->active, &j->alink);
        ensure_watch(sim);
    }
    j->state = SIM_JOB_RUNNING;
    sim->running++;
    note_in_flight(sim);
    j->t_start_ns = eco_now_ns();
    sim_hist_observe(&sim->st.queue, (double)(j->t_start_ns - j->t_arrive_ns) / 1e9);
    for (size_t i = 0; i < j->nseq; i++)
        j->kv_held += j->seq[i].g.prompt_tokens;
    sim->kv_tokens += j->kv_held;
    sim->last_use = eco_wall_time();
    if (j->stream && sim->o.kind == SIM_TGI && sim->o.keepalive_ms > 0)
        eco_timer_start(sim->svc, &j->keepalive, (uint64_t)sim->o.keepalive_ms, on_keepalive);
    long delay = delay_before(j, 0);
    if (delay > 0)
        eco_timer_start(sim->svc, &j->timer, (uint64_t)delay, on_timer);
    else
        job_tick(j);
}

static void on_kick(eco_timer_t *t)
{
    sim_t *sim = ECO_CONTAINER_OF(t, sim_t, kick);
    while (!h2o_linklist_is_empty(&sim->queue) &&
           (sim->o.max_concurrency == 0 || sim->running < sim->o.max_concurrency)) {
        sim_job_t *j = H2O_STRUCT_FROM_MEMBER(sim_job_t, qlink, sim->queue.next);
        job_start(j);
    }
}

/* HTTP/1.1 stops reading a connection while its request is handled, so a client that leaves
 * is only noticed on the next write. Peek at idle connections so cancellation reaches the
 * engine even while nothing is being written (queued, before the first token, stalled, unary). */
static int client_gone(h2o_req_t *req)
{
    if (req->version >= 0x200 || !req->conn->callbacks->get_socket)
        return 0;
    h2o_socket_t *sock = req->conn->callbacks->get_socket(req->conn);
    if (!sock)
        return 0;
    char c;
    ssize_t r = recv(h2o_socket_get_fd(sock), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r == 0)
        return 1;
    return r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

static void on_watch(eco_timer_t *t);

static void ensure_watch(sim_t *sim)
{
    if (!eco_timer_active(&sim->watch))
        eco_timer_start(sim->svc, &sim->watch, (uint64_t)sim->o.watch_ms, on_watch);
}

static void on_watch(eco_timer_t *t)
{
    sim_t *sim = ECO_CONTAINER_OF(t, sim_t, watch);
    h2o_linklist_t *node = sim->active.next;
    while (node != &sim->active) {
        h2o_linklist_t *next = node->next;
        sim_job_t *j = H2O_STRUCT_FROM_MEMBER(sim_job_t, alink, node);
        if (client_gone(j->call->req)) {
            job_cancelled(j);
            /* End the request so h2o closes the connection. */
            j->call->req->http1_is_persistent = 0;
            if (j->w)
                eco_sse_abort(j->w);
            else
                eco_http_send(j->call, 499, "text/plain", "", 0);
        }
        node = next;
    }
    if (!h2o_linklist_is_empty(&sim->active))
        ensure_watch(sim);
}

void sim_jobs_init(sim_t *sim)
{
    h2o_linklist_init_anchor(&sim->queue);
    h2o_linklist_init_anchor(&sim->active);
}

sim_job_t *sim_job_new(sim_t *sim, eco_http_call_t *call, const sim_proto_t *proto)
{
    h2o_req_t *req = call->req;
    sim_job_t *j = h2o_mem_alloc_shared(&req->pool, sizeof(*j), job_dispose);
    memset(j, 0, sizeof(*j));
    j->sim = sim;
    j->call = call;
    j->proto = proto;
    j->t_arrive_ns = eco_now_ns();
    j->wall_start = eco_wall_time();
    j->created = (long)j->wall_start;
    j->ttft_ms = sim->o.ttft_ms;
    j->itl_ms = sim->o.itl_ms;
    sim->st.requests++;
    eco_metrics_inc(sim->m_requests);

    sim_fault_clear(&j->f);
    sim->gen_seq++;
    if (sim->o.fault_every <= 1 || sim->gen_seq % (uint64_t)sim->o.fault_every == 0)
        j->f = sim->o.fault;
    ssize_t h = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-sim-fault"), -1);
    if (h != -1) {
        sim_fault_t top;
        char err[160];
        h2o_iovec_t v = req->headers.entries[h].value;
        if (sim_fault_parse(&top, v.base, v.len, err, sizeof(err)) != 0) {
            sim_job_fail(j, SIM_ERR_INVALID, 400, "x-sim-fault: %s", err);
            return NULL;
        }
        sim_fault_merge(&j->f, &top);
    }
    if (j->f.ttft_ms >= 0)
        j->ttft_ms = j->f.ttft_ms;
    if (j->f.itl_ms >= 0)
        j->itl_ms = j->f.itl_ms;

    long left = sim_loading_left_ms(sim);
    if (left > 0) {
        /* Ollama has no loading answer: the first request simply waits for the model. */
        if (sim->o.kind == SIM_OLLAMA && left != LONG_MAX) {
            j->ttft_ms += left;
        } else {
            sim_job_fail(j, SIM_ERR_LOADING, 0, NULL);
            return NULL;
        }
    }
    if (j->f.status) {
        if (j->f.status == 429 || j->f.status == 503 || j->f.retry_after_s >= 0) {
            char ra[24];
            snprintf(ra, sizeof(ra), "%ld", j->f.retry_after_s >= 0 ? j->f.retry_after_s : 1);
            eco_http_add_header(call, "retry-after", ra);
        }
        sim->st.faults++;
        eco_metrics_inc(sim->m_faults, "status");
        sim_job_fail(j, SIM_ERR_FAULT, j->f.status, "engine-sim: injected fault (status %d)", j->f.status);
        return NULL;
    }
    return j;
}

json_t *sim_job_json(sim_job_t *j)
{
    char err[256];
    h2o_req_t *req = j->call->req;
    json_t *root = eco_http_json_parse(req->entity.base, req->entity.len, err, sizeof(err));
    if (!root)
        sim_job_fail(j, SIM_ERR_INVALID, 400, "%s", err);
    return root;
}

void sim_job_alloc_seqs(sim_job_t *j, size_t nseq)
{
    h2o_mem_pool_t *pool = &j->call->req->pool;
    j->seq = h2o_mem_alloc_pool(pool, sizeof(sim_seq_t) * nseq);
    memset(j->seq, 0, sizeof(sim_seq_t) * nseq);
    j->nseq = nseq;
}

void sim_job_generate(sim_job_t *j, size_t i, const char *text, size_t len, int64_t seed, long max_tokens)
{
    h2o_mem_pool_t *pool = &j->call->req->pool;
    const gen_cfg_t *cfg = &j->sim->o.gen;
    size_t cap = cfg->max_tokens;
    if (max_tokens >= 0 && (size_t)max_tokens < cap)
        cap = (size_t)max_tokens;
    sim_seq_t *q = &j->seq[i];
    q->g.pieces = h2o_mem_alloc_pool(pool, sizeof(gen_piece_t) * (cap ? cap : 1));
    gen_run(cfg, text, len, seed, max_tokens, &q->g);
    q->text = h2o_mem_alloc_pool(pool, q->g.text_len + 1);
    q->text[0] = '\0';
    q->tlen = 0;
}

void sim_job_submit(sim_job_t *j)
{
    sim_t *sim = j->sim;
    j->nsteps = 0;
    for (size_t i = 0; i < j->nseq; i++)
        if (j->seq[i].g.n > j->nsteps)
            j->nsteps = j->seq[i].g.n;
    if (sim->o.max_concurrency == 0 || sim->running < sim->o.max_concurrency) {
        if (j->stream)
            start_stream(j);
        job_start(j);
        return;
    }
    if (sim->waiting < sim->o.queue_size) {
        j->state = SIM_JOB_QUEUED;
        sim->waiting++;
        h2o_linklist_insert(&sim->queue, &j->qlink);
        h2o_linklist_insert(&sim->active, &j->alink);
        ensure_watch(sim);
        note_in_flight(sim);
        if (j->stream)
            start_stream(j);
        return;
    }
    sim->st.rejected++;
    eco_metrics_inc(sim->m_rejected);
    sim_job_fail(j, SIM_ERR_OVERLOADED, 0, NULL);
}

void sim_job_fail(sim_job_t *j, sim_err_t err, int status, const char *fmt, ...)
{
    char msg[512];
    const char *m = NULL;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        m = msg;
    }
    if (err != SIM_ERR_OVERLOADED && err != SIM_ERR_FAULT && err != SIM_ERR_LOADING)
        j->sim->st.failed++;
    if (j->state == SIM_JOB_QUEUED || j->state == SIM_JOB_RUNNING)
        job_release(j);
    j->state = SIM_JOB_DONE;
    j->proto->error(j, err, status, m);
}

void sim_job_reply(sim_job_t *j, const char *content_type, const char *body, size_t len)
{
    j->sim->st.completed++;
    j->state = SIM_JOB_DONE;
    if (j->proto->headers)
        j->proto->headers(j);
    eco_http_send(j->call, 200, content_type, body, len);
}
