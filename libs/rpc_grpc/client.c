/* gRPC client: channels, blocking unary calls and server-streaming readers. Each call has its
 * own pluck completion queue, so any number of threads can call at once (a shared pluck CQ
 * allows only GRPC_MAX_COMPLETION_QUEUE_PLUCKERS waiters). */
#include "rpc_internal.h"

#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>
#include <string.h>

eco_rpc_channel_t *eco_rpc_channel_create(const char *target, const eco_rpc_channel_opts_t *opts)
{
    eco_rpc_channel_opts_t o = opts ? *opts : (eco_rpc_channel_opts_t){0};
    eco_rpc_channel_t *ch = eco_calloc(1, sizeof(*ch));
    ch->target = eco_strdup(target);
    grpc_init();
    grpc_arg args[4];
    size_t n = 0;
    args[n++] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                           .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
                           .value.integer = o.max_recv_bytes > 0 ? o.max_recv_bytes : 16 << 20};
    if (o.max_send_bytes > 0)
        args[n++] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                               .key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH,
                               .value.integer = o.max_send_bytes};
    if (o.keepalive_ms > 0)
        args[n++] = (grpc_arg){.type = GRPC_ARG_INTEGER,
                               .key = (char *)GRPC_ARG_KEEPALIVE_TIME_MS,
                               .value.integer = o.keepalive_ms > 0x7fffffff ? 0x7fffffff : (int)o.keepalive_ms};
    grpc_channel_args ca = {n, args};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    ch->ch = grpc_channel_create(ch->target, creds, &ca);
    grpc_channel_credentials_release(creds);
    return ch;
}

void eco_rpc_channel_destroy(eco_rpc_channel_t *ch)
{
    if (!ch)
        return;
    grpc_channel_destroy(ch->ch);
    free(ch->target);
    free(ch);
    grpc_shutdown();
}

void eco_rpc_result_free(eco_rpc_result_t *res)
{
    if (!res)
        return;
    free(res->details);
    res->details = NULL;
    eco_rpc_mdlist_free(&res->initial_md);
    eco_rpc_mdlist_free(&res->trailing_md);
}

/* ---- one client call: the buffers the core writes into live here until the tags complete ---- */

typedef struct {
    grpc_completion_queue *cq;
    grpc_call *call;
    eco__rpc_cbufs_t b;
    grpc_op ops[6];
    grpc_op op_status;
    grpc_op op_recv;
} ccall_t;

static int ccall_init(ccall_t *cc, eco_rpc_channel_t *ch, const char *path, const ProtobufCMessage *req,
                      const eco_rpc_call_opts_t *opts)
{
    memset(cc, 0, sizeof(*cc));
    if (!ch || !path || !req)
        return ECO_EINVAL;
    if (opts && eco__rpc_md_to_grpc(cc->b.md, &cc->b.nmd, ECO_RPC_MAX_MD, opts->md, opts->nmd) != 0)
        return ECO_EINVAL;
    cc->cq = grpc_completion_queue_create_for_pluck(NULL);
    gpr_timespec deadline = eco__rpc_deadline_ms(opts ? opts->timeout_ms : 0);
    grpc_slice method = grpc_slice_from_copied_string(path);
    cc->call = grpc_channel_create_call(ch->ch, opts && opts->parent ? opts->parent->call : NULL,
                                        GRPC_PROPAGATE_DEFAULTS, cc->cq, method, NULL, deadline, NULL);
    grpc_slice_unref(method);
    cc->b.send_bb = eco_rpc_pack(req);
    eco__rpc_cbufs_init(&cc->b);
    return 0;
}

/* Fills ops[] with the send half and RECV_INITIAL_METADATA; returns the count. */
static size_t ccall_send_ops(ccall_t *cc, const eco_rpc_call_opts_t *opts)
{
    grpc_op *op = cc->ops;
    memset(cc->ops, 0, sizeof(cc->ops));
    op->op = GRPC_OP_SEND_INITIAL_METADATA;
    op->data.send_initial_metadata.count = cc->b.nmd;
    op->data.send_initial_metadata.metadata = cc->b.nmd ? cc->b.md : NULL;
    if (opts && opts->wait_for_ready)
        op->flags = GRPC_INITIAL_METADATA_WAIT_FOR_READY;
    op++;
    op->op = GRPC_OP_SEND_MESSAGE;
    op->data.send_message.send_message = cc->b.send_bb;
    op++;
    op->op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    op++;
    op->op = GRPC_OP_RECV_INITIAL_METADATA;
    op->data.recv_initial_metadata.recv_initial_metadata = &cc->b.imd;
    op++;
    return (size_t)(op - cc->ops);
}

static void ccall_status_op(ccall_t *cc, grpc_op *op)
{
    memset(op, 0, sizeof(*op));
    op->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op->data.recv_status_on_client.trailing_metadata = &cc->b.tmd;
    op->data.recv_status_on_client.status = &cc->b.status;
    op->data.recv_status_on_client.status_details = &cc->b.details;
    op->data.recv_status_on_client.error_string = &cc->b.error_string;
}

static void start(ccall_t *cc, const grpc_op *ops, size_t n, void *tag)
{
    grpc_call_error err = grpc_call_start_batch(cc->call, ops, n, tag, NULL);
    if (err != GRPC_CALL_OK)
        eco_fatal("grpc client batch: %s", grpc_call_error_to_string(err));
}

static int pluck(ccall_t *cc, void *tag)
{
    /* No timeout: the call's deadline (or a cancel) completes every tag. */
    grpc_event ev = grpc_completion_queue_pluck(cc->cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    ECO_BUG_ON(ev.type != GRPC_OP_COMPLETE);
    return ev.success;
}

void eco__rpc_cbufs_init(eco__rpc_cbufs_t *b)
{
    grpc_metadata_array_init(&b->imd);
    grpc_metadata_array_init(&b->tmd);
    b->details = grpc_empty_slice();
}

void eco__rpc_cbufs_result(const eco__rpc_cbufs_t *b, eco_rpc_result_t *res, const char *path)
{
    if (b->status != GRPC_STATUS_OK && b->error_string)
        eco_debug("grpc call failed", ECO_KS("method", path), ECO_KS("code", eco_rpc_status_name(b->status)),
                  ECO_KS("error", b->error_string));
    if (!res)
        return;
    memset(res, 0, sizeof(*res));
    res->status = b->status;
    res->details = eco_strndup((const char *)GRPC_SLICE_START_PTR(b->details), GRPC_SLICE_LENGTH(b->details));
    eco__rpc_mdlist_copy(&res->initial_md, b->imd.metadata, b->imd.count);
    eco__rpc_mdlist_copy(&res->trailing_md, b->tmd.metadata, b->tmd.count);
}

void eco__rpc_cbufs_free(eco__rpc_cbufs_t *b)
{
    if (b->send_bb)
        grpc_byte_buffer_destroy(b->send_bb);
    if (b->recv_bb)
        grpc_byte_buffer_destroy(b->recv_bb);
    grpc_metadata_array_destroy(&b->imd);
    grpc_metadata_array_destroy(&b->tmd);
    grpc_slice_unref(b->details);
    if (b->error_string)
        gpr_free((void *)b->error_string);
    eco__rpc_md_release(b->md, b->nmd);
}

/* Copies status, details and metadata into res (may be NULL). */
static void ccall_result(ccall_t *cc, eco_rpc_result_t *res, const char *path)
{
    eco__rpc_cbufs_result(&cc->b, res, path);
}

static void ccall_destroy(ccall_t *cc)
{
    eco__rpc_cbufs_free(&cc->b);
    if (cc->call)
        grpc_call_unref(cc->call);
    if (cc->cq) {
        /* Every tag was plucked, so the queue shuts down at once. */
        grpc_completion_queue_shutdown(cc->cq);
        grpc_completion_queue_destroy(cc->cq);
    }
}

static const ProtobufCMessageDescriptor *lookup(const ProtobufCServiceDescriptor *svc, const char *method,
                                                const ProtobufCMessage *req, char **path)
{
    const ProtobufCMethodDescriptor *md = NULL;
    *path = eco__rpc_method_path(svc, method, &md);
    if (!*path)
        return NULL;
    if (!req || req->descriptor != md->input) {
        free(*path);
        *path = NULL;
        return NULL;
    }
    return md->output;
}

/* ---- unary ---- */

int eco_rpc_client_unary_path(eco_rpc_channel_t *ch, const char *path, const ProtobufCMessage *req,
                              const ProtobufCMessageDescriptor *resp_desc, const eco_rpc_call_opts_t *opts,
                              ProtobufCMessage **resp, eco_rpc_result_t *res)
{
    if (resp)
        *resp = NULL;
    if (!resp || !resp_desc)
        return ECO_EINVAL;
    ccall_t cc;
    if (ccall_init(&cc, ch, path, req, opts) != 0) {
        ccall_destroy(&cc);
        return ECO_EINVAL;
    }
    size_t n = ccall_send_ops(&cc, opts);
    cc.ops[n].op = GRPC_OP_RECV_MESSAGE;
    cc.ops[n].data.recv_message.recv_message = &cc.b.recv_bb;
    n++;
    ccall_status_op(&cc, &cc.ops[n++]);
    start(&cc, cc.ops, n, &cc);
    pluck(&cc, &cc);

    int rc = 0;
    if (cc.b.status != GRPC_STATUS_OK) {
        rc = ECO_RPC_ESTATUS;
    } else if (eco_rpc_unpack(resp_desc, cc.b.recv_bb, resp) != 0) {
        rc = ECO_RPC_EPROTO;
        eco_warn("grpc response missing or malformed", ECO_KS("method", path));
    }
    ccall_result(&cc, res, path);
    ccall_destroy(&cc);
    return rc;
}

int eco_rpc_client_unary(eco_rpc_channel_t *ch, const ProtobufCServiceDescriptor *svc, const char *method,
                         const ProtobufCMessage *req, const eco_rpc_call_opts_t *opts, ProtobufCMessage **resp,
                         eco_rpc_result_t *res)
{
    char *path;
    const ProtobufCMessageDescriptor *out = lookup(svc, method, req, &path);
    if (!out) {
        if (resp)
            *resp = NULL;
        return ECO_EINVAL;
    }
    int rc = eco_rpc_client_unary_path(ch, path, req, out, opts, resp, res);
    free(path);
    return rc;
}

/* ---- server streaming ---- */

struct eco_rpc_client_stream {
    ccall_t cc;
    const ProtobufCMessageDescriptor *desc;
    char *path;
    int send_pending, status_pending, done, rc;
    eco_rpc_result_t res;
    char tag_send, tag_msg, tag_status; /* distinct addresses as tags */
};

int eco_rpc_client_stream_open_path(eco_rpc_channel_t *ch, const char *path, const ProtobufCMessage *req,
                                    const ProtobufCMessageDescriptor *resp_desc, const eco_rpc_call_opts_t *opts,
                                    eco_rpc_client_stream_t **out)
{
    *out = NULL;
    if (!resp_desc)
        return ECO_EINVAL;
    eco_rpc_client_stream_t *st = eco_calloc(1, sizeof(*st));
    if (ccall_init(&st->cc, ch, path, req, opts) != 0) {
        ccall_destroy(&st->cc);
        free(st);
        return ECO_EINVAL;
    }
    st->desc = resp_desc;
    st->path = eco_strdup(path);
    /* The status is requested at once (like the core's server_streaming test), the messages
     * one by one from next(). */
    start(&st->cc, st->cc.ops, ccall_send_ops(&st->cc, opts), &st->tag_send);
    st->send_pending = 1;
    ccall_status_op(&st->cc, &st->cc.op_status);
    start(&st->cc, &st->cc.op_status, 1, &st->tag_status);
    st->status_pending = 1;
    *out = st;
    return 0;
}

int eco_rpc_client_stream_open(eco_rpc_channel_t *ch, const ProtobufCServiceDescriptor *svc, const char *method,
                               const ProtobufCMessage *req, const eco_rpc_call_opts_t *opts,
                               eco_rpc_client_stream_t **out)
{
    char *path;
    const ProtobufCMessageDescriptor *desc = lookup(svc, method, req, &path);
    if (!desc) {
        *out = NULL;
        return ECO_EINVAL;
    }
    int rc = eco_rpc_client_stream_open_path(ch, path, req, desc, opts, out);
    free(path);
    return rc;
}

static int stream_end(eco_rpc_client_stream_t *st, int rc)
{
    if (st->send_pending) {
        pluck(&st->cc, &st->tag_send);
        st->send_pending = 0;
    }
    if (st->status_pending) {
        pluck(&st->cc, &st->tag_status);
        st->status_pending = 0;
    }
    ccall_result(&st->cc, &st->res, st->path);
    st->done = 1;
    if (rc == 0 && st->cc.b.status != GRPC_STATUS_OK)
        rc = ECO_RPC_ESTATUS;
    st->rc = rc;
    return rc;
}

int eco_rpc_client_stream_next(eco_rpc_client_stream_t *st, ProtobufCMessage **msg)
{
    *msg = NULL;
    if (st->done)
        return st->rc;
    if (st->send_pending) {
        pluck(&st->cc, &st->tag_send);
        st->send_pending = 0;
    }
    st->cc.b.recv_bb = NULL;
    memset(&st->cc.op_recv, 0, sizeof(st->cc.op_recv));
    st->cc.op_recv.op = GRPC_OP_RECV_MESSAGE;
    st->cc.op_recv.data.recv_message.recv_message = &st->cc.b.recv_bb;
    start(&st->cc, &st->cc.op_recv, 1, &st->tag_msg);
    int ok = pluck(&st->cc, &st->tag_msg);
    if (!ok || !st->cc.b.recv_bb) /* NULL message: end of stream */
        return stream_end(st, 0);
    int rc = eco_rpc_unpack(st->desc, st->cc.b.recv_bb, msg);
    grpc_byte_buffer_destroy(st->cc.b.recv_bb);
    st->cc.b.recv_bb = NULL;
    if (rc != 0) {
        eco_warn("grpc stream message malformed", ECO_KS("method", st->path));
        grpc_call_cancel_with_status(st->cc.call, GRPC_STATUS_INTERNAL, "malformed message", NULL);
        return stream_end(st, ECO_RPC_EPROTO);
    }
    return 1;
}

const eco_rpc_result_t *eco_rpc_client_stream_result(const eco_rpc_client_stream_t *st)
{
    return st->done ? &st->res : NULL;
}

void eco_rpc_client_stream_cancel(eco_rpc_client_stream_t *st)
{
    grpc_call_cancel(st->cc.call, NULL);
}

void eco_rpc_client_stream_free(eco_rpc_client_stream_t *st)
{
    if (!st)
        return;
    if (!st->done) {
        grpc_call_cancel(st->cc.call, NULL);
        stream_end(st, ECO_RPC_ECANCELED);
    }
    eco_rpc_result_free(&st->res);
    ccall_destroy(&st->cc);
    free(st->path);
    free(st);
}
