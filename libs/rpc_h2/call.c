/* Server calls on the nghttp2 transport: creation and dispatch of a complete request, release
 * when the stream goes, and the call API of eco_rpc.h (any thread, under srv->mu). */
#include "h2_internal.h"

#include <stdio.h>
#include <string.h>

eco_rpc_call_t *h2_call_new(h2_conn_t *cn, int32_t sid)
{
    eco_rpc_server_t *srv = cn->srv;
    eco_rpc_call_t *c = eco_calloc(1, sizeof(*c));
    c->srv = srv;
    c->conn = cn;
    c->sid = sid;
    c->refs = 2; /* the app (until ended) and the transport (until released) */
    c->started_ms = eco_now_ms();
    c->http_status = 200;
    c->qmax = (size_t)srv->opts.stream_queue_max;
    c->q = eco_calloc(c->qmax + 1, sizeof(*c->q));
    snprintf(c->peer, sizeof(c->peer), "%s", cn->peer);
    c->conn_next = cn->calls;
    if (cn->calls)
        cn->calls->conn_prev = c;
    cn->calls = c;
    atomic_fetch_add(&srv->base.inflight, 1);
    return c;
}

void h2_call_drop_queue_locked(eco_rpc_call_t *c)
{
    size_t cap = c->qmax + 1;
    while (c->qlen) {
        free(c->q[c->qhead].data);
        c->qhead = (c->qhead + 1) % cap;
        c->qlen--;
    }
}

static void free_req_md(eco_rpc_call_t *c)
{
    for (size_t i = 0; i < c->nreq_md; i++) {
        free(c->req_md_k[i]);
        free(c->req_md_v[i]);
    }
    c->nreq_md = 0;
}

void h2_call_free(eco_rpc_call_t *c)
{
    if (eco_log_enabled(ECO_LOG_DEBUG))
        eco_debug("grpc call ended",
                  ECO_KS("method", c->m      ? c->m->path
                                   : c->path ? c->path
                                             : "?"),
                  ECO_KS("code", c->cancelled ? "CANCELLED" : eco_rpc_status_name(c->status)),
                  ECO_KB("cancelled", c->cancelled), ECO_KI("ms", (long long)(eco_now_ms() - c->started_ms)));
    h2_call_drop_queue_locked(c);
    free(c->q);
    h2_md_free(c->imd, c->nimd);
    h2_md_free(c->tmd, c->ntmd);
    free_req_md(c);
    free(c->details);
    if (c->req)
        protobuf_c_message_free_unpacked(c->req, NULL);
    eco_rpc_mdlist_free(&c->md);
    free(c->path);
    free(c->body);
    free(c);
}

/* Serializes msg behind the gRPC prefix (not compressed, 4-byte big-endian length). */
static h2_msg_t pack(const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    h2_msg_t m = {.data = eco_malloc(n + 5), .len = n + 5};
    m.data[0] = 0;
    m.data[1] = (uint8_t)(n >> 24);
    m.data[2] = (uint8_t)(n >> 16);
    m.data[3] = (uint8_t)(n >> 8);
    m.data[4] = (uint8_t)n;
    size_t w = protobuf_c_message_pack(msg, m.data + 5);
    ECO_BUG_ON(w != n);
    return m;
}

/* Ends the call: optional last message (owned), then status. Waits for a callback running on
 * another thread so that none runs once this returns. Drops the app's reference. */
static int end_call(eco_rpc_call_t *c, h2_msg_t *last, grpc_status_code status, const char *details,
                    const eco_rpc_md_t *trailing, size_t ntrailing)
{
    eco_rpc_server_t *srv = c->srv;
    int rc = 0;
    pthread_mutex_lock(&srv->mu);
    ECO_BUG_ON(c->ended);
    c->ended = 1;
    while (c->cb_running && !pthread_equal(c->cb_thread, pthread_self()))
        pthread_cond_wait(&srv->cond, &srv->mu);
    if (c->cancelled || c->released) {
        rc = ECO_RPC_ECANCELED;
        h2_call_drop_queue_locked(c);
        if (last)
            free(last->data);
    } else {
        if (last) {
            ECO_BUG_ON(c->qlen > c->qmax);
            c->q[(c->qhead + c->qlen) % (c->qmax + 1)] = *last;
            c->qlen++;
            c->sent_message = 1;
        }
        if (c->m && c->m->kind == ECO_RPC_UNARY && status == GRPC_STATUS_OK && !c->sent_message) {
            eco_error("grpc handler ended a unary call OK without a response", ECO_KS("method", c->m->path));
            status = GRPC_STATUS_INTERNAL;
            details = "no response";
        }
        if (h2_md_copy(c->tmd, &c->ntmd, ECO_RPC_MAX_MD, trailing, ntrailing) != 0) {
            eco_error("grpc trailing metadata rejected", ECO_KS("method", eco_rpc_call_method(c)));
            rc = ECO_EINVAL;
        }
        c->status = status;
        if (details && *details) {
            size_t n = strlen(details);
            c->details = eco_strndup(details, n < ECO_RPC_MAX_DETAILS ? n : ECO_RPC_MAX_DETAILS);
        }
        c->status_queued = 1;
        h2_mark_dirty_locked(c);
    }
    h2_call_unref_locked(c);
    pthread_mutex_unlock(&srv->mu);
    return rc;
}

static void refuse(eco_rpc_call_t *c, grpc_status_code st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void refuse(eco_rpc_call_t *c, grpc_status_code st, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    end_call(c, NULL, st, msg, NULL, 0);
}

void h2_call_dispatch(eco_rpc_call_t *c)
{
    eco_rpc_server_t *srv = c->srv;
    c->dispatched = 1;
    eco__rpc_mdlist_build(&c->md, c->nreq_md, (const char *const *)c->req_md_k, c->req_md_kl,
                          (const char *const *)c->req_md_v, c->req_md_vl);
    free_req_md(c);
    const char *path = c->path ? c->path : "";
    if (c->bad_method || c->bad_ctype) {
        c->http_status = 415;
        refuse(c, GRPC_STATUS_INTERNAL, "not a gRPC request (POST with content-type application/grpc)");
        return;
    }
    c->m = eco__rpc_methods_find(&srv->base.methods, path, strlen(path));
    if (!c->m) {
        refuse(c, GRPC_STATUS_UNIMPLEMENTED, "unknown method %.256s", path);
        return;
    }
    if (eco__rpc_base_overloaded(&srv->base, srv->opts.max_calls, c->m->path)) {
        refuse(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "server overloaded");
        return;
    }
    if (c->bad_timeout) {
        refuse(c, GRPC_STATUS_INTERNAL, "malformed grpc-timeout");
        return;
    }
    if (c->btotal > (size_t)srv->opts.max_recv_bytes + 5) {
        refuse(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "received message larger than max (%zu vs. %d)", c->btotal - 5,
               srv->opts.max_recv_bytes);
        return;
    }
    if (c->compressed || (c->blen >= 1 && c->body[0] != 0)) {
        refuse(c, GRPC_STATUS_UNIMPLEMENTED, "compressed messages are not supported");
        return;
    }
    size_t n =
        c->blen >= 5 ? (size_t)c->body[1] << 24 | (size_t)c->body[2] << 16 | (size_t)c->body[3] << 8 | c->body[4] : 0;
    if (c->blen >= 5 && n + 5 == c->blen)
        c->req = protobuf_c_message_unpack(c->m->in, NULL, n, c->body + 5);
    free(c->body);
    c->body = NULL;
    c->blen = c->bcap = 0;
    if (!c->req) {
        refuse(c, GRPC_STATUS_INVALID_ARGUMENT, "malformed or missing request message");
        return;
    }
    c->m->fn(c, c->req, c->m->data);
}

void h2_call_release(eco_rpc_call_t *c, int cancelled)
{
    eco_rpc_server_t *srv = c->srv;
    h2_conn_t *cn = c->conn;
    if (c->conn_prev)
        c->conn_prev->conn_next = c->conn_next;
    else if (cn)
        cn->calls = c->conn_next;
    if (c->conn_next)
        c->conn_next->conn_prev = c->conn_prev;
    c->conn_next = c->conn_prev = NULL;
    int was_dispatched = c->dispatched;
    c->dispatched = 1; /* no handler runs any more */
    pthread_mutex_lock(&srv->mu);
    c->conn = NULL;
    c->released = 1;
    if (cancelled && !c->cancelled) {
        c->cancelled = 1;
        c->want_writable = 0;
        h2_call_drop_queue_locked(c);
        if (was_dispatched && !c->ended && c->on_cancel && !c->cancel_fired) {
            c->cancel_fired = 1;
            h2_run_callback_locked(c, c->on_cancel, c->cb_data);
        }
    }
    if (!was_dispatched) { /* no handler ever saw it: the app's reference is ours to drop */
        c->ended = 1;
        h2_call_unref_locked(c);
    }
    h2_call_unref_locked(c);
    pthread_mutex_unlock(&srv->mu);
}

/* ---- public call API ---- */

int eco_rpc_call_set_callbacks(eco_rpc_call_t *c, eco_rpc_cancel_fn on_cancel, eco_rpc_writable_fn on_writable,
                               void *data)
{
    int rc = 0;
    pthread_mutex_lock(&c->srv->mu);
    if (c->ended) {
        rc = ECO_EINVAL;
    } else if (c->cancelled) {
        rc = ECO_RPC_ECANCELED;
    } else {
        c->on_cancel = on_cancel;
        c->on_writable = on_writable;
        c->cb_data = data;
    }
    pthread_mutex_unlock(&c->srv->mu);
    return rc;
}

const char *eco_rpc_call_method(const eco_rpc_call_t *c)
{
    return c->m ? c->m->path : c->path ? c->path : "";
}

const char *eco_rpc_call_peer(eco_rpc_call_t *c)
{
    return c->peer;
}

const char *eco_rpc_call_md(const eco_rpc_call_t *c, const char *key)
{
    return eco_rpc_mdlist_get(&c->md, key, NULL);
}

const eco_rpc_mdlist_t *eco_rpc_call_request_md(const eco_rpc_call_t *c)
{
    return &c->md;
}

long eco_rpc_call_remaining_ms(const eco_rpc_call_t *c)
{
    if (!c->deadline_ms)
        return -1;
    uint64_t now = eco_now_ms();
    if (c->deadline_ms <= now)
        return 0;
    return (long)(c->deadline_ms - now);
}

int eco_rpc_call_cancelled(eco_rpc_call_t *c)
{
    pthread_mutex_lock(&c->srv->mu);
    int v = c->cancelled;
    pthread_mutex_unlock(&c->srv->mu);
    return v;
}

grpc_call *eco_rpc_call_grpc(eco_rpc_call_t *c)
{
    return NULL; /* no gRPC core call behind this transport */
}

int eco_rpc_call_add_initial_md(eco_rpc_call_t *c, const char *key, const char *value, size_t len)
{
    eco_rpc_md_t md = {key, value, len};
    pthread_mutex_lock(&c->srv->mu);
    int rc = (c->imd_sent || c->ended) ? ECO_EINVAL : h2_md_copy(c->imd, &c->nimd, ECO_RPC_MAX_MD, &md, 1);
    pthread_mutex_unlock(&c->srv->mu);
    return rc;
}

int eco_rpc_call_flush_initial_md(eco_rpc_call_t *c)
{
    int rc = 0;
    pthread_mutex_lock(&c->srv->mu);
    if (c->cancelled) {
        rc = ECO_RPC_ECANCELED;
    } else if (!c->imd_sent && !c->imd_flush) {
        c->imd_flush = 1;
        h2_mark_dirty_locked(c);
    }
    pthread_mutex_unlock(&c->srv->mu);
    return rc;
}

static int send_check_locked(eco_rpc_call_t *c)
{
    if (c->ended)
        return ECO_EINVAL;
    if (c->cancelled)
        return ECO_RPC_ECANCELED;
    if (c->qlen >= c->qmax) {
        c->want_writable = 1;
        return ECO_RPC_EAGAIN;
    }
    return 0;
}

int eco_rpc_stream_send(eco_rpc_call_t *c, const ProtobufCMessage *msg)
{
    if (!msg || !c->m || c->m->kind != ECO_RPC_SERVER_STREAMING || msg->descriptor != c->m->out)
        return ECO_EINVAL;
    eco_rpc_server_t *srv = c->srv;
    /* Check before packing so a full queue costs nothing, and again after. */
    pthread_mutex_lock(&srv->mu);
    int rc = send_check_locked(c);
    pthread_mutex_unlock(&srv->mu);
    if (rc)
        return rc;
    h2_msg_t m = pack(msg);
    pthread_mutex_lock(&srv->mu);
    rc = send_check_locked(c);
    if (rc == 0) {
        c->q[(c->qhead + c->qlen) % (c->qmax + 1)] = m;
        c->qlen++;
        c->sent_message = 1;
        h2_mark_dirty_locked(c);
    }
    pthread_mutex_unlock(&srv->mu);
    if (rc)
        free(m.data);
    return rc;
}

int eco_rpc_call_finish(eco_rpc_call_t *c, grpc_status_code status, const char *details, const eco_rpc_md_t *trailing,
                        size_t ntrailing)
{
    return end_call(c, NULL, status, details, trailing, ntrailing);
}

int eco_rpc_call_respond(eco_rpc_call_t *c, const ProtobufCMessage *msg, const eco_rpc_md_t *trailing, size_t ntrailing)
{
    if (!msg || (c->m && msg->descriptor != c->m->out)) {
        eco_error("grpc handler responded with a message of the wrong type", ECO_KS("method", eco_rpc_call_method(c)));
        end_call(c, NULL, GRPC_STATUS_INTERNAL, "bad response", NULL, 0);
        return ECO_EINVAL;
    }
    h2_msg_t m = pack(msg);
    return end_call(c, &m, GRPC_STATUS_OK, NULL, trailing, ntrailing);
}
