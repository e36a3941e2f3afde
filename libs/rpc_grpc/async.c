/* Asynchronous gRPC client: one next-type completion queue and its thread; every event is
 * posted to the owner's thread (see eco_rpc.h). A call holds references for its owner, for
 * each batch in the core and for each event in the post queue, and is freed at the last. */
#include "rpc_internal.h"

#include <string.h>

struct eco_rpc_async {
    grpc_completion_queue *cq;
    pthread_t thread;
    eco_rpc_post_fn post;
    void *post_data;
    pthread_mutex_t lock; /* calls list and ops */
    pthread_cond_t idle;
    eco_rpc_acall_t *calls;
    long ops; /* batches in the core */
};

struct eco_rpc_acall {
    eco_rpc_async_t *a;
    eco_rpc_acall_t *prev, *next;
    grpc_call *call;
    char *path;
    const ProtobufCMessageDescriptor *desc;
    int streaming;
    eco_rpc_acall_cbs_t cbs;
    void *data;
    atomic_int refs;

    eco__rpc_cbufs_t b;
    grpc_op ops[6];
    grpc_op op_status, op_recv;
    eco__rpc_tag_t tag_send, tag_recv, tag_status;

    pthread_mutex_t lock; /* the flags below, between the owner and the completion thread */
    unsigned recv_pending : 1, status_done : 1, eos : 1, end_posted : 1, paused : 1;
    unsigned undelivered; /* message events posted and not yet delivered (read-ahead window) */
    /* owner thread only */
    unsigned released : 1, end_delivered : 1;
};

typedef struct {
    eco_rpc_acall_t *c;
    ProtobufCMessage *msg; /* NULL: the end */
    eco_rpc_result_t res;
} event_t;

/* Messages a stream reads ahead of its owner: the completion thread asks for the next one at
 * once while fewer than this many wait in the post queue, so a burst of messages costs one
 * wake-up of each thread instead of a round trip per message. */
#define READ_AHEAD 16

static void start_batch(eco_rpc_acall_t *c, const grpc_op *ops, size_t n, eco__rpc_tag_t *tag);

/* With c->lock held: asks for the next message when reading is allowed and none is pending. */
static void read_next_locked(eco_rpc_acall_t *c)
{
    if (c->streaming && !c->recv_pending && !c->eos && !c->end_posted && !c->paused && c->undelivered < READ_AHEAD) {
        c->recv_pending = 1;
        c->b.recv_bb = NULL;
        start_batch(c, &c->op_recv, 1, &c->tag_recv);
    }
}

static void acall_free(eco_rpc_acall_t *c)
{
    eco_rpc_async_t *a = c->a;
    pthread_mutex_lock(&a->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        a->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    pthread_mutex_unlock(&a->lock);
    eco__rpc_cbufs_free(&c->b);
    if (c->call)
        grpc_call_unref(c->call);
    pthread_mutex_destroy(&c->lock);
    free(c->path);
    free(c);
}

static void unref(eco_rpc_acall_t *c)
{
    if (atomic_fetch_sub(&c->refs, 1) == 1)
        acall_free(c);
}

/* ---- events on the owner's thread ---- */

static void deliver(void *arg)
{
    event_t *ev = arg;
    eco_rpc_acall_t *c = ev->c;
    if (ev->msg) { /* a slot of the read-ahead window is free again */
        pthread_mutex_lock(&c->lock);
        c->undelivered--;
        if (!c->released)
            read_next_locked(c);
        pthread_mutex_unlock(&c->lock);
    }
    if (c->released || c->end_delivered) {
        if (ev->msg)
            protobuf_c_message_free_unpacked(ev->msg, NULL);
    } else if (ev->msg) {
        c->cbs.on_msg(c, ev->msg, c->data);
    } else {
        c->end_delivered = 1;
        c->cbs.on_end(c, &ev->res, c->data);
    }
    eco_rpc_result_free(&ev->res);
    free(ev);
    unref(c);
}

static void post(eco_rpc_acall_t *c, event_t *ev)
{
    if (!ev)
        return;
    if (c->a->post)
        c->a->post(c->a->post_data, deliver, ev);
    else
        deliver(ev);
}

static event_t *event_new(eco_rpc_acall_t *c, ProtobufCMessage *msg)
{
    event_t *ev = eco_calloc(1, sizeof(*ev));
    ev->c = c;
    ev->msg = msg;
    atomic_fetch_add(&c->refs, 1);
    return ev;
}

/* With c->lock held: the end event once the status is in and nothing more is to be read. */
static event_t *maybe_end(eco_rpc_acall_t *c)
{
    if (c->end_posted || !c->status_done || c->recv_pending)
        return NULL;
    if (c->streaming && !c->eos && c->b.status == GRPC_STATUS_OK)
        return NULL; /* messages may still be buffered: wait for the owner's reads */
    c->end_posted = 1;
    event_t *ev = event_new(c, NULL);
    eco__rpc_cbufs_result(&c->b, &ev->res, c->path);
    return ev;
}

/* ---- the completion thread ---- */

static void op_started(eco_rpc_async_t *a)
{
    pthread_mutex_lock(&a->lock);
    a->ops++;
    pthread_mutex_unlock(&a->lock);
}

static void op_done(eco_rpc_async_t *a)
{
    pthread_mutex_lock(&a->lock);
    if (--a->ops == 0)
        pthread_cond_broadcast(&a->idle);
    pthread_mutex_unlock(&a->lock);
}

static void start_batch(eco_rpc_acall_t *c, const grpc_op *ops, size_t n, eco__rpc_tag_t *tag)
{
    atomic_fetch_add(&c->refs, 1);
    op_started(c->a);
    grpc_call_error err = grpc_call_start_batch(c->call, ops, n, tag, NULL);
    if (err != GRPC_CALL_OK)
        eco_fatal("grpc async batch: %s", grpc_call_error_to_string(err));
}

/* The end of a batch: its events go to the owner (in order), its references are dropped. */
static void op_finished(eco_rpc_acall_t *c, event_t *msg_ev, event_t *end_ev)
{
    post(c, msg_ev);
    post(c, end_ev);
    op_done(c->a);
    unref(c);
}

/* Parses the received buffer; a malformed message cancels the call (status INTERNAL). */
static ProtobufCMessage *take_message(eco_rpc_acall_t *c)
{
    ProtobufCMessage *msg = NULL;
    int rc = eco_rpc_unpack(c->desc, c->b.recv_bb, &msg);
    grpc_byte_buffer_destroy(c->b.recv_bb);
    c->b.recv_bb = NULL;
    if (rc == 0)
        return msg;
    eco_warn("grpc response malformed", ECO_KS("method", c->path));
    grpc_call_cancel_with_status(c->call, GRPC_STATUS_INTERNAL, "malformed response message", NULL);
    return NULL;
}

static void on_send_done(eco__rpc_tag_t *tag, int ok)
{
    eco_rpc_acall_t *c = ECO_CONTAINER_OF(tag, eco_rpc_acall_t, tag_send);
    event_t *msg_ev = NULL, *end_ev = NULL;
    if (!c->streaming) { /* the whole unary call was one batch */
        pthread_mutex_lock(&c->lock);
        if (c->b.status == GRPC_STATUS_OK) {
            ProtobufCMessage *msg = c->b.recv_bb ? take_message(c) : NULL;
            if (msg) {
                msg_ev = event_new(c, msg);
            } else {
                c->b.status = GRPC_STATUS_INTERNAL;
                grpc_slice_unref(c->b.details);
                c->b.details = grpc_slice_from_static_string("response message missing or malformed");
            }
        }
        c->status_done = 1;
        end_ev = maybe_end(c);
        pthread_mutex_unlock(&c->lock);
    }
    op_finished(c, msg_ev, end_ev);
}

static void on_recv_done(eco__rpc_tag_t *tag, int ok)
{
    eco_rpc_acall_t *c = ECO_CONTAINER_OF(tag, eco_rpc_acall_t, tag_recv);
    event_t *msg_ev = NULL, *end_ev;
    pthread_mutex_lock(&c->lock);
    c->recv_pending = 0;
    if (ok && c->b.recv_bb) {
        ProtobufCMessage *msg = take_message(c);
        if (msg) {
            msg_ev = event_new(c, msg);
            c->undelivered++;
            read_next_locked(c);
        }
    } else {
        c->eos = 1;
    }
    end_ev = maybe_end(c);
    pthread_mutex_unlock(&c->lock);
    op_finished(c, msg_ev, end_ev);
}

static void on_status_done(eco__rpc_tag_t *tag, int ok)
{
    eco_rpc_acall_t *c = ECO_CONTAINER_OF(tag, eco_rpc_acall_t, tag_status);
    pthread_mutex_lock(&c->lock);
    c->status_done = 1;
    event_t *end_ev = maybe_end(c);
    pthread_mutex_unlock(&c->lock);
    op_finished(c, NULL, end_ev);
}

static void *completion_thread(void *arg)
{
    eco_rpc_async_t *a = arg;
    pthread_setname_np(pthread_self(), "rpc-async");
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(a->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE) {
            eco__rpc_tag_t *tag = ev.tag;
            tag->cb(tag, ev.success);
        }
    }
    return NULL;
}

/* ---- public ---- */

eco_rpc_async_t *eco_rpc_async_new(eco_rpc_post_fn post_fn, void *post_data)
{
    eco_rpc_async_t *a = eco_calloc(1, sizeof(*a));
    grpc_init();
    a->post = post_fn;
    a->post_data = post_data;
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->idle, NULL);
    a->cq = grpc_completion_queue_create_for_next(NULL);
    if (pthread_create(&a->thread, NULL, completion_thread, a) != 0)
        eco_fatal("cannot start the gRPC client thread");
    return a;
}

void eco_rpc_async_free(eco_rpc_async_t *a, long grace_ms)
{
    if (!a)
        return;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    long ms = grace_ms > 0 ? grace_ms : 2000;
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&a->lock);
    for (eco_rpc_acall_t *c = a->calls; c; c = c->next)
        grpc_call_cancel(c->call, NULL);
    while (a->ops > 0)
        if (pthread_cond_timedwait(&a->idle, &a->lock, &until) != 0)
            break;
    long left = a->ops;
    pthread_mutex_unlock(&a->lock);
    if (left > 0) {
        eco_warn("grpc client: operations still pending at shutdown; leaving them", ECO_KI("ops", left));
        return; /* the thread and queue stay (process exit follows) */
    }
    grpc_completion_queue_shutdown(a->cq);
    pthread_join(a->thread, NULL);
    grpc_completion_queue_destroy(a->cq);
    pthread_cond_destroy(&a->idle);
    pthread_mutex_destroy(&a->lock);
    free(a);
    grpc_shutdown();
}

int eco_rpc_acall_start(eco_rpc_async_t *a, eco_rpc_channel_t *ch, const char *path, const ProtobufCMessage *req,
                        const ProtobufCMessageDescriptor *resp_desc, int streaming, const eco_rpc_call_opts_t *opts,
                        const eco_rpc_acall_cbs_t *cbs, void *data, eco_rpc_acall_t **out)
{
    *out = NULL;
    if (!a || !ch || !path || !req || !resp_desc || !cbs || !cbs->on_msg || !cbs->on_end)
        return ECO_EINVAL;
    eco_rpc_acall_t *c = eco_calloc(1, sizeof(*c));
    if (opts && eco__rpc_md_to_grpc(c->b.md, &c->b.nmd, ECO_RPC_MAX_MD, opts->md, opts->nmd) != 0) {
        free(c);
        return ECO_EINVAL;
    }
    c->a = a;
    c->path = eco_strdup(path);
    c->desc = resp_desc;
    c->streaming = streaming;
    c->cbs = *cbs;
    c->data = data;
    atomic_init(&c->refs, 1); /* the owner's */
    pthread_mutex_init(&c->lock, NULL);
    eco__rpc_cbufs_init(&c->b);
    c->tag_send.cb = on_send_done;
    c->tag_recv.cb = on_recv_done;
    c->tag_status.cb = on_status_done;
    grpc_slice method = grpc_slice_from_copied_string(path);
    c->call =
        grpc_channel_create_call(ch->ch, opts && opts->parent ? opts->parent->call : NULL, GRPC_PROPAGATE_DEFAULTS,
                                 a->cq, method, NULL, eco__rpc_deadline_ms(opts ? opts->timeout_ms : 0), NULL);
    grpc_slice_unref(method);
    c->b.send_bb = eco_rpc_pack(req);
    pthread_mutex_lock(&a->lock);
    c->next = a->calls;
    if (a->calls)
        a->calls->prev = c;
    a->calls = c;
    pthread_mutex_unlock(&a->lock);

    grpc_op *op = c->ops;
    op->op = GRPC_OP_SEND_INITIAL_METADATA;
    op->data.send_initial_metadata.count = c->b.nmd;
    op->data.send_initial_metadata.metadata = c->b.nmd ? c->b.md : NULL;
    if (opts && opts->wait_for_ready)
        op->flags = GRPC_INITIAL_METADATA_WAIT_FOR_READY;
    (++op)->op = GRPC_OP_SEND_MESSAGE;
    op->data.send_message.send_message = c->b.send_bb;
    (++op)->op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    (++op)->op = GRPC_OP_RECV_INITIAL_METADATA;
    op->data.recv_initial_metadata.recv_initial_metadata = &c->b.imd;
    grpc_op *status = streaming ? &c->op_status : ++op;
    status->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    status->data.recv_status_on_client.trailing_metadata = &c->b.tmd;
    status->data.recv_status_on_client.status = &c->b.status;
    status->data.recv_status_on_client.status_details = &c->b.details;
    status->data.recv_status_on_client.error_string = &c->b.error_string;
    if (!streaming) {
        (++op)->op = GRPC_OP_RECV_MESSAGE;
        op->data.recv_message.recv_message = &c->b.recv_bb;
        start_batch(c, c->ops, (size_t)(op - c->ops) + 1, &c->tag_send);
    } else {
        start_batch(c, c->ops, (size_t)(op - c->ops) + 1, &c->tag_send);
        start_batch(c, &c->op_status, 1, &c->tag_status);
        c->recv_pending = 1;
        c->op_recv.op = GRPC_OP_RECV_MESSAGE;
        c->op_recv.data.recv_message.recv_message = &c->b.recv_bb;
        start_batch(c, &c->op_recv, 1, &c->tag_recv);
    }
    *out = c;
    return 0;
}

void eco_rpc_acall_pause(eco_rpc_acall_t *c)
{
    pthread_mutex_lock(&c->lock);
    c->paused = 1;
    pthread_mutex_unlock(&c->lock);
}

void eco_rpc_acall_read(eco_rpc_acall_t *c)
{
    if (!c->streaming)
        return;
    pthread_mutex_lock(&c->lock);
    c->paused = 0;
    read_next_locked(c);
    pthread_mutex_unlock(&c->lock);
}

void eco_rpc_acall_cancel(eco_rpc_acall_t *c)
{
    grpc_call_cancel(c->call, NULL);
}

void eco_rpc_acall_release(eco_rpc_acall_t *c)
{
    if (!c)
        return;
    c->released = 1;
    if (!c->end_delivered)
        grpc_call_cancel(c->call, NULL);
    unref(c);
}
