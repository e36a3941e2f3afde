/* One HTTP/2 connection: the nghttp2 server session, requests read into calls, and responses
 * (headers, length-prefixed messages, trailers) written from the calls' queues. Loop thread. */
#include "h2_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define OUT_HIGH (64 * 1024) /* stop asking nghttp2 for bytes while this many wait for the socket */

static int name_is(const uint8_t *name, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && memcmp(name, lit, n) == 0;
}

/* ---- receiving ---- */

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    h2_conn_t *cn = user;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    eco_rpc_call_t *c = h2_call_new(cn, f->hd.stream_id);
    nghttp2_session_set_stream_user_data(s, f->hd.stream_id, c);
    return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nl, const uint8_t *value,
                     size_t vl, uint8_t flags, void *user)
{
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers of a request: gRPC clients send none */
    eco_rpc_call_t *c = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!c || c->dispatched)
        return 0;
    c->hdr_bytes += nl + vl + 32;
    if (c->hdr_bytes > H2_MAX_HEADER_LEN)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* resets the stream */
    if (nl && name[0] == ':') {
        if (name_is(name, nl, ":path")) {
            free(c->path);
            c->path = eco_strndup((const char *)value, vl);
        } else if (name_is(name, nl, ":method")) {
            c->bad_method = !(vl == 4 && memcmp(value, "POST", 4) == 0);
        }
        return 0;
    }
    if (name_is(name, nl, "content-type")) {
        /* "application/grpc", "application/grpc+proto", "application/grpc;..." */
        c->bad_ctype = !(vl >= 16 && memcmp(value, "application/grpc", 16) == 0 &&
                         (vl == 16 || value[16] == '+' || value[16] == ';'));
        return 0;
    }
    if (name_is(name, nl, "grpc-timeout")) {
        long ms = h2_parse_timeout((const char *)value, vl);
        if (ms < 0)
            c->bad_timeout = 1;
        else
            c->deadline_ms = eco_now_ms() + (uint64_t)ms;
        return 0;
    }
    if (name_is(name, nl, "grpc-encoding")) {
        c->compressed = !(vl == 8 && memcmp(value, "identity", 8) == 0);
        return 0;
    }
    if (name_is(name, nl, "te") || (nl > 5 && memcmp(name, "grpc-", 5) == 0))
        return 0; /* transport headers are not application metadata */
    if (c->nreq_md >= H2_MAX_REQ_MD)
        return 0;
    size_t i = c->nreq_md++;
    c->req_md_k[i] = eco_strndup((const char *)name, nl);
    c->req_md_kl[i] = nl;
    if (nl > 4 && memcmp(name + nl - 4, "-bin", 4) == 0) {
        /* Binary metadata: the application sees the decoded bytes, as with gRPC core. */
        uint8_t *bin = eco_malloc(vl + 1);
        long n = h2_b64_decode((const char *)value, vl, bin);
        c->req_md_v[i] = (char *)bin;
        c->req_md_vl[i] = n < 0 ? 0 : (size_t)n;
    } else {
        c->req_md_v[i] = eco_strndup((const char *)value, vl);
        c->req_md_vl[i] = vl;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data, size_t len, void *user)
{
    eco_rpc_call_t *c = nghttp2_session_get_stream_user_data(s, sid);
    if (!c || c->dispatched)
        return 0;
    c->btotal += len;
    size_t limit = (size_t)c->srv->opts.max_recv_bytes + 5;
    if (c->btotal > limit)
        return 0; /* counted, not kept: answered RESOURCE_EXHAUSTED at the end */
    if (c->blen + len > c->bcap) {
        size_t cap = c->bcap ? c->bcap : 256;
        while (cap < c->blen + len)
            cap *= 2;
        c->body = eco_realloc(c->body, cap);
        c->bcap = cap;
    }
    memcpy(c->body + c->blen, data, len);
    c->blen += len;
    return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) || !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    eco_rpc_call_t *c = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (c && !c->dispatched)
        h2_call_dispatch(c);
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t sid, uint32_t error_code, void *user)
{
    eco_rpc_call_t *c = nghttp2_session_get_stream_user_data(s, sid);
    if (!c)
        return 0;
    nghttp2_session_set_stream_user_data(s, sid, NULL);
    pthread_mutex_lock(&c->srv->mu);
    int finished = c->status_sent && error_code == NGHTTP2_NO_ERROR;
    pthread_mutex_unlock(&c->srv->mu);
    h2_call_release(c, !finished);
    return 0;
}

/* ---- sending ---- */

static void push_writable(eco_rpc_call_t *c)
{
    eco_rpc_server_t *srv = c->srv;
    c->refs++;
    c->writable_next = srv->writable;
    srv->writable = c;
}

/* Header entries for application metadata; -bin values are base64-encoded into bins[i]
 * (the caller frees them). Returns n. */
static size_t md_to_nv(const h2_md_t *md, size_t n, nghttp2_nv *nv, char **bins)
{
    for (size_t i = 0; i < n; i++) {
        const h2_md_t *m = &md[i];
        size_t kl = strlen(m->key);
        uint8_t *v = (uint8_t *)m->value;
        size_t vl = m->len;
        if (kl > 4 && strcmp(m->key + kl - 4, "-bin") == 0) {
            bins[i] = eco_malloc(4 * ((m->len + 2) / 3) + 1);
            vl = h2_b64_encode((const uint8_t *)m->value, m->len, bins[i]);
            v = (uint8_t *)bins[i];
        }
        nv[i] = (nghttp2_nv){(uint8_t *)m->key, v, kl, vl, NGHTTP2_NV_FLAG_NONE};
    }
    return n;
}

/* Trailers: grpc-status, grpc-message, then the application's trailing metadata. */
static size_t build_trailers(eco_rpc_call_t *c, nghttp2_nv *nv, char *status, char **msg, char **bins)
{
    size_t n = 0;
    snprintf(status, 12, "%d", (int)c->status);
    nv[n++] = (nghttp2_nv){(uint8_t *)"grpc-status", (uint8_t *)status, 11, strlen(status), NGHTTP2_NV_FLAG_NONE};
    if (c->details && *c->details) {
        size_t dl = strlen(c->details);
        *msg = eco_malloc(3 * dl + 1);
        size_t ml = h2_percent_encode(c->details, dl, *msg);
        nv[n++] = (nghttp2_nv){(uint8_t *)"grpc-message", (uint8_t *)*msg, 12, ml, NGHTTP2_NV_FLAG_NONE};
    }
    return n + md_to_nv(c->tmd, c->ntmd, nv + n, bins);
}

static void free_trailer_bufs(char *msg, char **bins, size_t n)
{
    free(msg);
    for (size_t i = 0; i < n; i++)
        free(bins[i]);
}

static ssize_t read_data(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t length, uint32_t *flags,
                         nghttp2_data_source *src, void *user)
{
    eco_rpc_call_t *c = src->ptr;
    pthread_mutex_lock(&c->srv->mu);
    size_t w = 0, cap = c->qmax + 1;
    int freed = 0;
    while (c->qlen && w < length) {
        h2_msg_t *m = &c->q[c->qhead];
        size_t k = m->len - m->off < length - w ? m->len - m->off : length - w;
        memcpy(buf + w, m->data + m->off, k);
        m->off += k;
        w += k;
        if (m->off == m->len) {
            free(m->data);
            c->qhead = (c->qhead + 1) % cap;
            c->qlen--;
            freed = 1;
        }
    }
    if (freed && c->want_writable && c->qlen < c->qmax && !c->ended) {
        c->want_writable = 0;
        push_writable(c);
    }
    if (c->qlen == 0) {
        if (c->status_queued) {
            nghttp2_nv nv[2 + ECO_RPC_MAX_MD];
            char status[12], *msg = NULL, *bins[ECO_RPC_MAX_MD] = {0};
            size_t n = build_trailers(c, nv, status, &msg, bins);
            *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
            if (nghttp2_submit_trailer(s, sid, nv, n) != 0)
                *flags &= ~(uint32_t)NGHTTP2_DATA_FLAG_NO_END_STREAM; /* ends the stream without a status */
            c->status_sent = 1;
            free_trailer_bufs(msg, bins, c->ntmd);
        } else if (w == 0) {
            c->deferred = 1;
            pthread_mutex_unlock(&c->srv->mu);
            return NGHTTP2_ERR_DEFERRED;
        }
    }
    pthread_mutex_unlock(&c->srv->mu);
    return (ssize_t)w;
}

void h2_call_pump(eco_rpc_call_t *c)
{
    eco_rpc_server_t *srv = c->srv;
    pthread_mutex_lock(&srv->mu);
    h2_conn_t *cn = c->conn;
    if (!cn || c->released || c->cancelled || c->status_sent || c->rst_sent) {
        pthread_mutex_unlock(&srv->mu);
        return;
    }
    if (c->submitted) {
        if (c->deferred && (c->qlen || c->status_queued)) {
            c->deferred = 0;
            nghttp2_session_resume_data(cn->s, c->sid);
        }
        pthread_mutex_unlock(&srv->mu);
        return;
    }
    if (!c->qlen && !c->status_queued && !c->imd_flush) {
        pthread_mutex_unlock(&srv->mu);
        return;
    }
    nghttp2_nv nv[4 + 2 * ECO_RPC_MAX_MD];
    size_t n = 0;
    char hs[8], *bins[2 * ECO_RPC_MAX_MD] = {0}, *msg = NULL, status[12];
    snprintf(hs, sizeof(hs), "%d", c->http_status ? c->http_status : 200);
    nv[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)hs, 7, strlen(hs), NGHTTP2_NV_FLAG_NONE};
    nv[n++] = (nghttp2_nv){(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, NGHTTP2_NV_FLAG_NONE};
    n += md_to_nv(c->imd, c->nimd, nv + n, bins);
    c->imd_sent = 1;
    c->submitted = 1;
    int rc;
    if (c->status_queued && !c->qlen) {
        /* Trailers-only: one HEADERS frame with the status ends the stream. */
        n += build_trailers(c, nv + n, status, &msg, bins + ECO_RPC_MAX_MD);
        c->status_sent = 1;
        rc = nghttp2_submit_response(cn->s, c->sid, nv, n, NULL);
    } else {
        nghttp2_data_provider prd = {.source.ptr = c, .read_callback = read_data};
        rc = nghttp2_submit_response(cn->s, c->sid, nv, n, &prd);
    }
    if (rc != 0)
        eco_warn("grpc response not submitted", ECO_KS("error", nghttp2_strerror(rc)));
    free(msg);
    for (size_t i = 0; i < ECO_ARRAY_SIZE(bins); i++)
        free(bins[i]);
    pthread_mutex_unlock(&srv->mu);
}

void h2_call_expire(eco_rpc_call_t *c)
{
    if (c->rst_sent || !c->conn)
        return;
    c->rst_sent = 1;
    eco_rpc_server_t *srv = c->srv;
    pthread_mutex_lock(&srv->mu);
    if (c->status_queued || c->released) { /* the answer is already on its way */
        pthread_mutex_unlock(&srv->mu);
        return;
    }
    if (!c->cancelled) {
        c->cancelled = 1;
        c->want_writable = 0;
        h2_call_drop_queue_locked(c);
        if (c->dispatched && !c->ended && c->on_cancel && !c->cancel_fired) {
            c->cancel_fired = 1;
            h2_run_callback_locked(c, c->on_cancel, c->cb_data);
        }
    }
    /* The client is told DEADLINE_EXCEEDED, as by gRPC core, rather than a bare reset that it
     * could see as CANCELLED before its own timer fires. */
    h2_md_free(c->tmd, c->ntmd);
    c->ntmd = 0;
    free(c->details);
    c->details = eco_strdup("Deadline Exceeded");
    c->status = GRPC_STATUS_DEADLINE_EXCEEDED;
    c->status_queued = 1;
    if (c->conn && !c->submitted) {
        nghttp2_nv nv[3 + ECO_RPC_MAX_MD];
        char status[12], *msg = NULL, *bins[ECO_RPC_MAX_MD] = {0};
        nv[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE};
        nv[1] = (nghttp2_nv){(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, NGHTTP2_NV_FLAG_NONE};
        size_t n = 2 + build_trailers(c, nv + 2, status, &msg, bins);
        c->submitted = c->imd_sent = c->status_sent = 1;
        nghttp2_submit_response(c->conn->s, c->sid, nv, n, NULL);
        free_trailer_bufs(msg, bins, 0);
    } else if (c->conn && c->deferred) {
        c->deferred = 0;
        nghttp2_session_resume_data(c->conn->s, c->sid);
    }
    pthread_mutex_unlock(&srv->mu);
}

void h2_call_reset(eco_rpc_call_t *c)
{
    if (c->rst_sent || !c->conn)
        return;
    c->rst_sent = 1;
    nghttp2_submit_rst_stream(c->conn->s, NGHTTP2_FLAG_NONE, c->sid, NGHTTP2_CANCEL);
}

/* ---- the connection ---- */

static nghttp2_session_callbacks *cbs;

static void callbacks_init(void)
{
    if (nghttp2_session_callbacks_new(&cbs) != 0)
        eco_fatal("nghttp2_session_callbacks_new");
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
}

static nghttp2_session_callbacks *callbacks(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, callbacks_init);
    return cbs;
}

h2_conn_t *h2_conn_new(eco_rpc_server_t *srv, int fd)
{
    h2_conn_t *cn = eco_calloc(1, sizeof(*cn));
    cn->srv = srv;
    cn->fd = fd;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char ip[INET6_ADDRSTRLEN] = "?";
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
            snprintf(cn->peer, sizeof(cn->peer), "ipv6:[%s]:%u", ip, ntohs(a->sin6_port));
        } else {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
            snprintf(cn->peer, sizeof(cn->peer), "ipv4:%s:%u", ip, ntohs(a->sin_port));
        }
    }
    nghttp2_option *opt;
    nghttp2_option_new(&opt);
    nghttp2_option_set_max_send_header_block_length(opt, 64 * 1024);
    int rc = nghttp2_session_server_new2(&cn->s, callbacks(), cn, opt);
    nghttp2_option_del(opt);
    if (rc != 0) {
        close(fd);
        free(cn);
        return NULL;
    }
    int streams = srv->opts.max_concurrent_streams > 0 ? srv->opts.max_concurrent_streams : 1000;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, H2_MAX_HEADER_LEN},
    };
    nghttp2_submit_settings(cn->s, NGHTTP2_FLAG_NONE, iv, ECO_ARRAY_SIZE(iv));
    /* A connection window to match: large requests (embedding batches) need no round trips. */
    nghttp2_session_set_local_window_size(cn->s, NGHTTP2_FLAG_NONE, 0, 4 << 20);
    return cn;
}

int h2_conn_read(h2_conn_t *cn)
{
    uint8_t buf[16384];
    for (;;) {
        ssize_t n = read(cn->fd, buf, sizeof(buf));
        if (n > 0) {
            ssize_t used = nghttp2_session_mem_recv(cn->s, buf, (size_t)n);
            if (used < 0) {
                eco_debug("grpc connection dropped: bad HTTP/2", ECO_KS("peer", cn->peer),
                          ECO_KS("error", nghttp2_strerror((int)used)));
                return -1;
            }
            if ((size_t)n < sizeof(buf))
                return 0;
            continue;
        }
        if (n == 0)
            return -1;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
}

static int write_out(h2_conn_t *cn)
{
    while (cn->ooff < cn->olen) {
        ssize_t n = send(cn->fd, cn->out + cn->ooff, cn->olen - cn->ooff, MSG_NOSIGNAL);
        if (n > 0) {
            cn->ooff += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        } else {
            return -1;
        }
    }
    cn->olen = cn->ooff = 0;
    return 0;
}

int h2_conn_flush(h2_conn_t *cn)
{
    for (;;) {
        if (write_out(cn) != 0)
            return -1;
        if (cn->olen - cn->ooff >= OUT_HIGH)
            return 0; /* the socket is full: EPOLLOUT resumes */
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(cn->s, &data);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        if (cn->ooff) { /* compact before appending */
            memmove(cn->out, cn->out + cn->ooff, cn->olen - cn->ooff);
            cn->olen -= cn->ooff;
            cn->ooff = 0;
        }
        if (cn->olen + (size_t)n > cn->ocap) {
            size_t cap = cn->ocap ? cn->ocap : 16384;
            while (cap < cn->olen + (size_t)n)
                cap *= 2;
            cn->out = eco_realloc(cn->out, cap);
            cn->ocap = cap;
        }
        memcpy(cn->out + cn->olen, data, (size_t)n);
        cn->olen += (size_t)n;
        if (cn->olen >= 16384 && write_out(cn) != 0) /* large output: write as it comes */
            return -1;
    }
    if (write_out(cn) != 0)
        return -1;
    if (!nghttp2_session_want_read(cn->s) && !nghttp2_session_want_write(cn->s) && cn->olen == cn->ooff)
        return -1; /* both sides are done (GOAWAY and no stream left) */
    return 0;
}

void h2_conn_free(h2_conn_t *cn)
{
    while (cn->calls) {
        eco_rpc_call_t *c = cn->calls;
        nghttp2_session_set_stream_user_data(cn->s, c->sid, NULL);
        h2_call_release(c, 1); /* unlinks c from cn->calls */
    }
    nghttp2_session_del(cn->s);
    close(cn->fd);
    free(cn->out);
    free(cn);
}
