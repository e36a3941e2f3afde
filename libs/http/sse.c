/* Streamed responses (server-sent events, NDJSON, ...) over h2o's generator contract: never
 * two sends in flight, bounded buffering while the client is slow, stop() when the client goes
 * away. */
#include "eco_http.h"

#include <string.h>

size_t eco__sse_frame_len(const char *payload, size_t len);
void eco__sse_frame(eco_buf_t *out, const char *payload, size_t len);

struct eco_sse {
    h2o_generator_t gen; /* first: h2o hands this pointer back */
    eco_http_call_t *call;
    eco_buf_t pending;  /* queued by the producer */
    eco_buf_t inflight; /* handed to h2o, untouchable until proceed */
    size_t max_pending;
    eco_sse_event_cb cb;
    void *data;
    int sending, ended, final_sent, stopped, aborted;
};

static void send_abort(eco_sse_t *s)
{
    s->final_sent = 1;
    s->sending = 1;
    h2o_send(s->call->req, NULL, 0, H2O_SEND_STATE_ERROR);
}

static void flush(eco_sse_t *s)
{
    if (s->sending || s->final_sent || s->stopped)
        return;
    if (s->aborted) {
        send_abort(s);
        return;
    }
    if (s->pending.len == 0 && !s->ended)
        return;
    eco_buf_t tmp = s->inflight;
    s->inflight = s->pending;
    s->pending = tmp;
    eco_buf_reset(&s->pending);
    h2o_iovec_t iov = h2o_iovec_init(s->inflight.base, s->inflight.len);
    s->sending = 1;
    if (s->ended)
        s->final_sent = 1;
    h2o_send(s->call->req, &iov, iov.len ? 1 : 0, s->ended ? H2O_SEND_STATE_FINAL : H2O_SEND_STATE_IN_PROGRESS);
}

static void on_proceed(h2o_generator_t *gen, h2o_req_t *req)
{
    eco_sse_t *s = (eco_sse_t *)gen;
    s->sending = 0;
    eco_buf_reset(&s->inflight);
    if (s->pending.len || s->ended || s->aborted) {
        flush(s);
        return;
    }
    if (s->cb)
        s->cb(s, 0, s->data);
}

static void on_stop(h2o_generator_t *gen, h2o_req_t *req)
{
    eco_sse_t *s = (eco_sse_t *)gen;
    if (s->stopped)
        return;
    s->stopped = 1;
    if (s->cb)
        s->cb(s, 1, s->data);
}

static void on_dispose(void *p)
{
    eco_sse_t *s = p;
    eco_buf_free(&s->pending);
    eco_buf_free(&s->inflight);
}

eco_sse_t *eco_http_stream_start(eco_http_call_t *call, const char *content_type, size_t max_pending, int flush_headers,
                                 eco_sse_event_cb cb, void *data)
{
    h2o_req_t *req = call->req;
    eco_sse_t *s = h2o_mem_alloc_shared(&req->pool, sizeof(*s), on_dispose);
    memset(s, 0, sizeof(*s));
    s->gen.proceed = on_proceed;
    s->gen.stop = on_stop;
    s->call = call;
    s->max_pending = max_pending ? max_pending : (1u << 20);
    eco_buf_init(&s->pending, s->max_pending);
    eco_buf_init(&s->inflight, s->max_pending);
    s->cb = cb;
    s->data = data;
    req->res.status = 200;
    req->res.reason = "OK";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type, strlen(content_type));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-cache"));
    h2o_start_response(req, &s->gen);
    if (flush_headers && req->version < 0x200) {
        /* h2o 2.2.5's filters turn an empty in-progress send into a deferred proceed that never
         * reaches the connection, so the headers would wait for the first bytes. The protocol's
         * own ostream (the chain's last) writes them; the filters before it (chunked) have nothing
         * to add to an empty send. */
        h2o_ostream_t *os = req->_ostr_top;
        while (os->next)
            os = os->next;
        s->sending = 1;
        os->do_send(os, req, NULL, 0, H2O_SEND_STATE_IN_PROGRESS);
    }
    return s;
}

eco_sse_t *eco_sse_start(eco_http_call_t *call, size_t max_pending, eco_sse_event_cb cb, void *data)
{
    return eco_http_stream_start(call, "text/event-stream", max_pending, 0, cb, data);
}

int eco_sse_raw(eco_sse_t *s, const char *bytes, size_t len)
{
    if (s->stopped || s->ended || s->aborted)
        return ECO_EINVAL;
    if (s->pending.len + len > s->max_pending)
        return ECO_ENOSPC;
    eco_buf_add(&s->pending, bytes, len);
    flush(s);
    return 0;
}

size_t eco__sse_frame_len(const char *payload, size_t len)
{
    size_t lines = 1;
    for (size_t i = 0; i < len; i++)
        lines += payload[i] == '\n';
    return len + 6 * lines + 2;
}

void eco__sse_frame(eco_buf_t *out, const char *payload, size_t len)
{
    /* One "data:" field per line: a newline inside the payload must not end the event. */
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && payload[i] != '\n')
            continue;
        eco_buf_add(out, "data: ", 6);
        eco_buf_add(out, payload + start, i - start);
        eco_buf_addc(out, '\n');
        start = i + 1;
    }
    eco_buf_addc(out, '\n');
}

int eco_sse_data(eco_sse_t *s, const char *payload, size_t len)
{
    if (s->stopped || s->ended || s->aborted)
        return ECO_EINVAL;
    if (s->pending.len + eco__sse_frame_len(payload, len) > s->max_pending)
        return ECO_ENOSPC;
    eco__sse_frame(&s->pending, payload, len);
    flush(s);
    return 0;
}

void eco_sse_end(eco_sse_t *s)
{
    if (s->ended || s->stopped || s->aborted)
        return;
    s->ended = 1;
    flush(s);
}

void eco_sse_abort(eco_sse_t *s)
{
    if (s->final_sent || s->stopped || s->aborted)
        return;
    s->aborted = 1;
    eco_buf_reset(&s->pending);
    flush(s);
}

size_t eco_sse_pending(const eco_sse_t *s)
{
    return s->pending.len;
}
