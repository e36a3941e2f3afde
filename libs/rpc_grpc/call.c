/* Server calls: start, the send queue (one send batch in flight), ending, callbacks and the
 * reference count that frees a call once the app, the close op and the send batch let go. */
#include "rpc_internal.h"

#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <string.h>

static void on_close(eco__rpc_tag_t *tag, int ok);
static void on_send(eco__rpc_tag_t *tag, int ok);
static int end_call(eco_rpc_call_t *c, grpc_byte_buffer *bb, grpc_status_code status, const char *details,
                    const eco_rpc_md_t *trailing, size_t ntrailing);

eco_rpc_call_t *eco__rpc_call_new(eco__rpc_worker_t *w, const eco__rpc_method_t *m)
{
    eco_rpc_call_t *c = eco_calloc(1, sizeof(*c));
    c->srv = w->srv;
    c->w = w;
    c->m = m;
    grpc_metadata_array_init(&c->req_md_raw);
    grpc_call_details_init(&c->details);
    return c;
}

void eco__rpc_call_free_unstarted(eco_rpc_call_t *c)
{
    grpc_metadata_array_destroy(&c->req_md_raw);
    grpc_call_details_destroy(&c->details);
    if (c->payload)
        grpc_byte_buffer_destroy(c->payload);
    if (c->call)
        grpc_call_unref(c->call);
    free(c);
}

static const char *call_path(const eco_rpc_call_t *c)
{
    return c->m ? c->m->path : c->method_path;
}

static void drop_queue_locked(eco_rpc_call_t *c)
{
    size_t cap = c->qmax + 1;
    while (c->qlen) {
        grpc_byte_buffer_destroy(c->q[c->qhead]);
        c->qhead = (c->qhead + 1) % cap;
        c->qlen--;
    }
}

static void destroy(eco_rpc_call_t *c)
{
    eco_rpc_server_t *srv = c->srv;
    if (eco_log_enabled(ECO_LOG_DEBUG))
        eco_debug("grpc call ended", ECO_KS("method", call_path(c)),
                  ECO_KS("code", c->cancelled ? "CANCELLED" : eco_rpc_status_name(c->status)),
                  ECO_KB("cancelled", c->cancelled), ECO_KI("ms", (long long)(eco_now_ms() - c->started_ms)));
    drop_queue_locked(c);
    free(c->q);
    eco__rpc_md_release(c->imd, c->nimd);
    eco__rpc_md_release(c->tmd, c->ntmd);
    grpc_slice_unref(c->status_details);
    if (c->req)
        protobuf_c_message_free_unpacked(c->req, NULL);
    if (c->payload)
        grpc_byte_buffer_destroy(c->payload);
    eco_rpc_mdlist_free(&c->md);
    grpc_call_details_destroy(&c->details);
    free(c->method_path);
    if (c->peer)
        gpr_free(c->peer);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cb_done);
    grpc_call_unref(c->call);
    free(c);
    /* Last: shutdown waits for this before it frees srv and calls grpc_shutdown. */
    eco__rpc_base_call_done(&srv->base);
}

static void call_unref(eco_rpc_call_t *c)
{
    if (atomic_fetch_sub(&c->refs, 1) == 1)
        destroy(c);
}

/* Posts the next send batch if none is in flight: initial metadata (first time), the next
 * queued message, and the status once it is queued and at most that message is left. */
static void pump_locked(eco_rpc_call_t *c)
{
    if (c->send_inflight || c->status_sent || c->cancelled || c->broken)
        return;
    int send_msg = c->qlen > 0;
    int send_status = c->status_queued && c->qlen <= 1;
    int send_imd = !c->imd_sent && (send_msg || send_status || c->imd_flush);
    if (!send_msg && !send_status && !send_imd)
        return;
    size_t n = 0;
    memset(c->ops, 0, sizeof(c->ops));
    if (send_imd) {
        c->ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        c->ops[n].data.send_initial_metadata.count = c->nimd;
        c->ops[n].data.send_initial_metadata.metadata = c->nimd ? c->imd : NULL;
        n++;
        c->imd_sent = 1;
    }
    if (send_msg) {
        c->inflight_bb = c->q[c->qhead];
        c->qhead = (c->qhead + 1) % (c->qmax + 1);
        c->qlen--;
        c->ops[n].op = GRPC_OP_SEND_MESSAGE;
        c->ops[n].data.send_message.send_message = c->inflight_bb;
        n++;
        c->sent_message = 1;
    }
    if (send_status) {
        c->ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        c->ops[n].data.send_status_from_server.status = c->status;
        c->ops[n].data.send_status_from_server.status_details = &c->status_details;
        c->ops[n].data.send_status_from_server.trailing_metadata_count = c->ntmd;
        c->ops[n].data.send_status_from_server.trailing_metadata = c->ntmd ? c->tmd : NULL;
        n++;
        c->status_sent = 1;
    }
    c->send_inflight = 1;
    atomic_fetch_add(&c->refs, 1);
    grpc_call_error err = grpc_call_start_batch(c->call, c->ops, n, &c->on_send, NULL);
    if (err != GRPC_CALL_OK)
        eco_fatal("grpc send batch on %s: %s", call_path(c), grpc_call_error_to_string(err));
}

static void begin_cb_locked(eco_rpc_call_t *c)
{
    c->cb_running = 1;
    c->cb_thread = pthread_self();
}

static void end_cb(eco_rpc_call_t *c)
{
    pthread_mutex_lock(&c->lock);
    c->cb_running = 0;
    pthread_cond_broadcast(&c->cb_done);
    pthread_mutex_unlock(&c->lock);
}

static void on_send(eco__rpc_tag_t *tag, int ok)
{
    eco_rpc_call_t *c = ECO_CONTAINER_OF(tag, eco_rpc_call_t, on_send);
    eco_rpc_writable_fn fn = NULL;
    void *data = NULL;
    pthread_mutex_lock(&c->lock);
    c->send_inflight = 0;
    if (c->inflight_bb) {
        grpc_byte_buffer_destroy(c->inflight_bb);
        c->inflight_bb = NULL;
    }
    if (!ok) {
        /* The stream is gone (reset, deadline, cancel); RECV_CLOSE reports it as cancelled. */
        c->broken = 1;
        drop_queue_locked(c);
    } else {
        pump_locked(c);
    }
    if (c->want_writable && !c->ended && !c->cancelled && !c->broken && c->qlen < c->qmax && c->on_writable) {
        c->want_writable = 0;
        fn = c->on_writable;
        data = c->cb_data;
        begin_cb_locked(c);
    }
    pthread_mutex_unlock(&c->lock);
    if (fn) {
        fn(c, data);
        end_cb(c);
    }
    call_unref(c);
}

static void on_close(eco__rpc_tag_t *tag, int ok)
{
    eco_rpc_call_t *c = ECO_CONTAINER_OF(tag, eco_rpc_call_t, on_close);
    eco_rpc_cancel_fn fn = NULL;
    void *data = NULL;
    pthread_mutex_lock(&c->lock);
    if ((!ok || c->core_cancelled || c->broken) && !c->cancelled) {
        c->cancelled = 1;
        c->want_writable = 0;
        drop_queue_locked(c);
        if (!c->ended && c->on_cancel && !c->cancel_fired) {
            c->cancel_fired = 1;
            fn = c->on_cancel;
            data = c->cb_data;
            begin_cb_locked(c);
        }
    }
    pthread_mutex_unlock(&c->lock);
    if (fn) {
        fn(c, data);
        end_cb(c);
    }
    call_unref(c);
}

void eco__rpc_call_start(eco_rpc_call_t *c)
{
    eco_rpc_server_t *srv = c->srv;
    atomic_fetch_add(&srv->base.inflight, 1);
    c->started_ms = eco_now_ms();
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cb_done, NULL);
    c->qmax = (size_t)srv->opts.stream_queue_max;
    c->q = eco_calloc(c->qmax + 1, sizeof(*c->q)); /* +1: respond() may add the last message */
    c->on_close.cb = on_close;
    c->on_send.cb = on_send;
    c->status_details = grpc_empty_slice();
    atomic_init(&c->refs, 2); /* the app (until ended) and the close op */
    if (!c->m) {
        c->method_path =
            eco_strndup((const char *)GRPC_SLICE_START_PTR(c->details.method), GRPC_SLICE_LENGTH(c->details.method));
        c->deadline = c->details.deadline;
    }

    /* Posted first and alone, so a client cancel or an expired deadline is noticed even
     * while no send is in flight. */
    c->close_op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    c->close_op.data.recv_close_on_server.cancelled = &c->core_cancelled;
    grpc_call_error err = grpc_call_start_batch(c->call, &c->close_op, 1, &c->on_close, NULL);
    if (err != GRPC_CALL_OK)
        eco_fatal("grpc recv close on %s: %s", call_path(c), grpc_call_error_to_string(err));

    eco__rpc_mdlist_copy(&c->md, c->req_md_raw.metadata, c->req_md_raw.count);
    grpc_metadata_array_destroy(&c->req_md_raw);

    if (!c->m) {
        char msg[300];
        snprintf(msg, sizeof(msg), "unknown method %.256s", c->method_path);
        end_call(c, NULL, GRPC_STATUS_UNIMPLEMENTED, msg, NULL, 0);
        return;
    }
    if (eco__rpc_base_overloaded(&srv->base, srv->opts.max_calls, c->m->path)) {
        end_call(c, NULL, GRPC_STATUS_RESOURCE_EXHAUSTED, "server overloaded", NULL, 0);
        return;
    }
    int rc = eco_rpc_unpack(c->m->in, c->payload, &c->req);
    if (c->payload) {
        grpc_byte_buffer_destroy(c->payload);
        c->payload = NULL;
    }
    if (rc != 0) {
        end_call(c, NULL, GRPC_STATUS_INVALID_ARGUMENT, "malformed or missing request message", NULL, 0);
        return;
    }
    c->m->fn(c, c->req, c->m->data);
}

/* ---- public call API ---- */

int eco_rpc_call_set_callbacks(eco_rpc_call_t *c, eco_rpc_cancel_fn on_cancel, eco_rpc_writable_fn on_writable,
                               void *data)
{
    int rc = 0;
    pthread_mutex_lock(&c->lock);
    if (c->ended) {
        rc = ECO_EINVAL;
    } else if (c->cancelled) {
        rc = ECO_RPC_ECANCELED;
    } else {
        c->on_cancel = on_cancel;
        c->on_writable = on_writable;
        c->cb_data = data;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

const char *eco_rpc_call_method(const eco_rpc_call_t *c)
{
    return call_path(c);
}

const char *eco_rpc_call_peer(eco_rpc_call_t *c)
{
    pthread_mutex_lock(&c->lock);
    if (!c->peer)
        c->peer = grpc_call_get_peer(c->call);
    const char *p = c->peer;
    pthread_mutex_unlock(&c->lock);
    return p;
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
    gpr_timespec d = c->deadline;
    if (gpr_time_cmp(d, gpr_inf_future(d.clock_type)) == 0)
        return -1;
    d = gpr_convert_clock_type(d, GPR_CLOCK_MONOTONIC);
    gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
    if (gpr_time_cmp(d, now) <= 0)
        return 0;
    gpr_timespec left = gpr_time_sub(d, now);
    long ms = (long)left.tv_sec * 1000 + left.tv_nsec / 1000000;
    return ms > 0 ? ms : 1;
}

int eco_rpc_call_cancelled(eco_rpc_call_t *c)
{
    pthread_mutex_lock(&c->lock);
    int v = c->cancelled || c->broken;
    pthread_mutex_unlock(&c->lock);
    return v;
}

grpc_call *eco_rpc_call_grpc(eco_rpc_call_t *c)
{
    return c->call;
}

int eco_rpc_call_add_initial_md(eco_rpc_call_t *c, const char *key, const char *value, size_t len)
{
    eco_rpc_md_t md = {key, value, len};
    pthread_mutex_lock(&c->lock);
    int rc = (c->imd_sent || c->ended) ? ECO_EINVAL : eco__rpc_md_to_grpc(c->imd, &c->nimd, ECO_RPC_MAX_MD, &md, 1);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int eco_rpc_call_flush_initial_md(eco_rpc_call_t *c)
{
    int rc = 0;
    pthread_mutex_lock(&c->lock);
    if (c->cancelled || c->broken) {
        rc = ECO_RPC_ECANCELED;
    } else if (!c->imd_sent) {
        c->imd_flush = 1;
        pump_locked(c);
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

static int send_check_locked(eco_rpc_call_t *c)
{
    if (c->ended)
        return ECO_EINVAL;
    if (c->cancelled || c->broken)
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
    /* Check before packing so a full queue costs nothing, and again after. */
    pthread_mutex_lock(&c->lock);
    int rc = send_check_locked(c);
    pthread_mutex_unlock(&c->lock);
    if (rc)
        return rc;
    grpc_byte_buffer *bb = eco_rpc_pack(msg);
    pthread_mutex_lock(&c->lock);
    rc = send_check_locked(c);
    if (rc == 0) {
        c->q[(c->qhead + c->qlen) % (c->qmax + 1)] = bb;
        c->qlen++;
        pump_locked(c);
    }
    pthread_mutex_unlock(&c->lock);
    if (rc)
        grpc_byte_buffer_destroy(bb);
    return rc;
}

/* Ends the call: optional last message bb (owned), then status. Waits for a callback running
 * on another thread so that none runs once this returns. Drops the app's reference. */
static int end_call(eco_rpc_call_t *c, grpc_byte_buffer *bb, grpc_status_code status, const char *details,
                    const eco_rpc_md_t *trailing, size_t ntrailing)
{
    int rc = 0;
    pthread_mutex_lock(&c->lock);
    ECO_BUG_ON(c->ended);
    c->ended = 1;
    while (c->cb_running && !pthread_equal(c->cb_thread, pthread_self()))
        pthread_cond_wait(&c->cb_done, &c->lock);
    if (c->cancelled || c->broken) {
        rc = ECO_RPC_ECANCELED;
        drop_queue_locked(c);
        if (bb)
            grpc_byte_buffer_destroy(bb);
    } else {
        if (bb) {
            ECO_BUG_ON(c->qlen > c->qmax);
            c->q[(c->qhead + c->qlen) % (c->qmax + 1)] = bb;
            c->qlen++;
        }
        if (c->m && c->m->kind == ECO_RPC_UNARY && status == GRPC_STATUS_OK && !c->sent_message && c->qlen == 0) {
            eco_error("grpc handler ended a unary call OK without a response", ECO_KS("method", c->m->path));
            status = GRPC_STATUS_INTERNAL;
            details = "no response";
        }
        if (eco__rpc_md_to_grpc(c->tmd, &c->ntmd, ECO_RPC_MAX_MD, trailing, ntrailing) != 0) {
            eco_error("grpc trailing metadata rejected", ECO_KS("method", call_path(c)));
            rc = ECO_EINVAL;
        }
        c->status = status;
        if (details && *details) {
            size_t n = strlen(details);
            c->status_details =
                grpc_slice_from_copied_buffer(details, n < ECO_RPC_MAX_DETAILS ? n : ECO_RPC_MAX_DETAILS);
        }
        c->status_queued = 1;
        pump_locked(c);
    }
    pthread_mutex_unlock(&c->lock);
    call_unref(c);
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
        eco_error("grpc handler responded with a message of the wrong type", ECO_KS("method", call_path(c)));
        end_call(c, NULL, GRPC_STATUS_INTERNAL, "bad response", NULL, 0);
        return ECO_EINVAL;
    }
    return end_call(c, eco_rpc_pack(msg), GRPC_STATUS_OK, NULL, trailing, ntrailing);
}
