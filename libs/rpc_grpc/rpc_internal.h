/* Internals of libs/rpc shared by its files; not for users of eco_rpc.h. */
#ifndef ECO_RPC_INTERNAL_H
#define ECO_RPC_INTERNAL_H

#include "rpc_common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* A completion-queue tag: the worker loop calls cb with the event's success flag. Embedded
 * in the structures that post batches; recovered with ECO_CONTAINER_OF. */
typedef struct eco__rpc_tag {
    void (*cb)(struct eco__rpc_tag *tag, int ok);
} eco__rpc_tag_t;

typedef struct {
    eco_rpc_server_t *srv;
    grpc_completion_queue *cq;
    pthread_t thread;
} eco__rpc_worker_t;

struct eco_rpc_server {
    eco__rpc_server_base_t base; /* first: libs/rpc reaches it with a cast */
    eco_rpc_server_opts_t opts;  /* defaults filled in */
    char *addr;
    grpc_server *server;
    grpc_completion_queue *shutdown_cq; /* next-type, only the shutdown tag */
    eco__rpc_worker_t *workers;
    int nworkers;
    int port;
    pthread_mutex_t state_lock; /* serializes shutdown and destroy */
};

/* A server call: an armed request until its tag completes, then a live call. */
struct eco_rpc_call {
    eco_rpc_server_t *srv;
    eco__rpc_worker_t *w;
    const eco__rpc_method_t *m; /* NULL: an unknown method (generic request) */

    /* Filled by the core when the request completes. */
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array req_md_raw;
    grpc_call_details details; /* generic requests only */
    grpc_byte_buffer *payload;

    ProtobufCMessage *req;
    eco_rpc_mdlist_t md;
    char *method_path; /* generic: copied from details; else NULL (m->path) */
    char *peer;        /* gpr_free */
    uint64_t started_ms;

    eco__rpc_tag_t on_new, on_close, on_send;
    grpc_op close_op;   /* RECV_CLOSE_ON_SERVER, alive until its tag completes */
    int core_cancelled; /* RECV_CLOSE_ON_SERVER out-parameter */
    atomic_int refs;    /* app (until ended) + close op + send batch in flight */
    atomic_int cancelled_flag;

    pthread_mutex_t lock; /* everything below, and grpc_call_start_batch of send batches */
    pthread_cond_t cb_done;
    int cb_running; /* a callback runs on the worker thread */
    pthread_t cb_thread;
    unsigned imd_sent : 1, imd_flush : 1, send_inflight : 1, ended : 1, status_queued : 1, status_sent : 1,
        cancelled : 1, broken : 1, want_writable : 1, cancel_fired : 1, sent_message : 1;
    grpc_byte_buffer **q; /* ring of packed messages */
    size_t qhead, qlen, qmax;
    grpc_byte_buffer *inflight_bb;
    grpc_op ops[3];
    grpc_metadata imd[ECO_RPC_MAX_MD];
    size_t nimd;
    grpc_metadata tmd[ECO_RPC_MAX_MD];
    size_t ntmd;
    grpc_status_code status;
    grpc_slice status_details;
    eco_rpc_cancel_fn on_cancel;
    eco_rpc_writable_fn on_writable;
    void *cb_data;
};

/* call.c: allocates an unarmed call bound to worker w for method m (NULL = generic). */
eco_rpc_call_t *eco__rpc_call_new(eco__rpc_worker_t *w, const eco__rpc_method_t *m);
/* call.c: frees a call whose request completed with ok=0 (never started). */
void eco__rpc_call_free_unstarted(eco_rpc_call_t *c);
/* call.c: a request completed: posts RECV_CLOSE_ON_SERVER, copies metadata, then answers
 * unknown methods, overload and bad payloads itself or runs the handler. */
void eco__rpc_call_start(eco_rpc_call_t *c);

/* md.c */
/* Copies n entries (or a metadata array) into one allocation. */
void eco__rpc_mdlist_copy(eco_rpc_mdlist_t *out, const grpc_metadata *md, size_t n);
/* Validates and converts app metadata into owned slices appended at out[*n] (bound max).
 * 0, ECO_EINVAL (illegal key or value) or ECO_ENOSPC; on error nothing is appended. */
int eco__rpc_md_to_grpc(grpc_metadata *out, size_t *n, size_t max, const eco_rpc_md_t *md, size_t nmd);
/* Unrefs the slices of md[0..n). */
void eco__rpc_md_release(grpc_metadata *md, size_t n);

/* client.c: what the core writes into during a client call, shared by the blocking (client.c)
 * and asynchronous (async.c) clients. */
typedef struct {
    grpc_metadata md[ECO_RPC_MAX_MD]; /* request metadata (owned slices) */
    size_t nmd;
    grpc_byte_buffer *send_bb, *recv_bb;
    grpc_metadata_array imd, tmd;
    grpc_status_code status;
    grpc_slice details;
    const char *error_string;
} eco__rpc_cbufs_t;

void eco__rpc_cbufs_init(eco__rpc_cbufs_t *b);
void eco__rpc_cbufs_free(eco__rpc_cbufs_t *b);
/* Copies status, details and metadata into res (logs a failed status at debug level). */
void eco__rpc_cbufs_result(const eco__rpc_cbufs_t *b, eco_rpc_result_t *res, const char *path);

/* client.c: a channel (async.c starts calls on it too). */
struct eco_rpc_channel {
    grpc_channel *ch;
    char *target;
};

/* Absolute monotonic deadline ms from now; ms <= 0 = infinite. */
gpr_timespec eco__rpc_deadline_ms(long ms);

#endif
