/* libs/rpc_h2: the server half of eco_rpc.h on nghttp2 (gRPC over HTTP/2, h2c prior
 * knowledge), for processes that serve gRPC but call nothing over it (engine-adapter), so that
 * libgrpc, abseil and libstdc++ are never loaded.
 *
 * One loop thread owns the listener, the connections and their nghttp2 sessions; handlers and
 * call callbacks run on it. Other threads change a call only under srv->mu and queue it on the
 * dirty list (waking the loop through an eventfd); the loop then submits what the call has
 * (headers, messages, trailers) to its session. A call is freed once the application has ended
 * it and the transport has released it (stream closed or connection gone). */
#ifndef ECO_RPC_H2_INTERNAL_H
#define ECO_RPC_H2_INTERNAL_H

#include "rpc_common.h"

#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#define H2_MAX_REQ_MD     64    /* request metadata entries kept per call */
#define H2_MAX_HEADER_LEN 16384 /* bytes of request headers per call (gRPC core's hard limit) */

typedef struct h2_conn h2_conn_t;

/* An outgoing message: the 5-byte gRPC prefix and the serialized protobuf. */
typedef struct {
    uint8_t *data;
    size_t len, off;
} h2_msg_t;

/* An outgoing metadata entry (owned copies; -bin values are base64-encoded when sent). */
typedef struct {
    char *key, *value;
    size_t len;
} h2_md_t;

struct eco_rpc_server {
    eco__rpc_server_base_t base; /* first: libs/rpc reaches it with a cast */
    eco_rpc_server_opts_t opts;  /* defaults filled in */
    char *addr;
    int port;
    int lfd, epfd, wakefd;
    pthread_t thread;
    int thread_started;

    pthread_mutex_t mu;    /* the shared state of every call, the dirty list and the commands */
    pthread_cond_t cond;   /* broadcast when a callback ends and when inflight drops */
    eco_rpc_call_t *dirty; /* calls with something for the loop; each holds a reference */
    int cmd_goaway, cmd_cancel_all, cmd_stop;

    /* Loop thread only. */
    eco_rpc_call_t **batch; /* the dirty calls being pumped */
    size_t batch_cap;
    h2_conn_t *conns;
    eco_rpc_call_t *writable; /* on_writable callbacks to run after the current send */

    pthread_mutex_t state_lock; /* serializes shutdown and destroy */
};

struct eco_rpc_call {
    eco_rpc_server_t *srv;
    h2_conn_t *conn; /* NULL once the transport released the call */
    int32_t sid;
    eco_rpc_call_t *conn_next, *conn_prev; /* the connection's calls (loop thread) */
    eco_rpc_call_t *dirty_next, *writable_next;
    const eco__rpc_method_t *m; /* NULL: unknown method */

    /* The request, built on the loop thread before the handler runs, read-only afterwards. */
    char *path;
    uint8_t *body;
    size_t blen, bcap, btotal;
    size_t hdr_bytes;
    int bad_method, bad_ctype, compressed, bad_timeout;
    size_t nreq_md;
    char *req_md_k[H2_MAX_REQ_MD], *req_md_v[H2_MAX_REQ_MD];
    size_t req_md_kl[H2_MAX_REQ_MD], req_md_vl[H2_MAX_REQ_MD];
    eco_rpc_mdlist_t md;
    uint64_t deadline_ms; /* monotonic; 0 = none */
    uint64_t started_ms;
    char peer[72];
    ProtobufCMessage *req;
    int dispatched, rst_sent; /* loop thread only */

    /* Shared: under srv->mu. */
    int refs; /* app (until ended), transport (until released), dirty list, writable list */
    unsigned ended : 1, released : 1, cancelled : 1, status_queued : 1, status_sent : 1, imd_sent : 1, imd_flush : 1,
        want_writable : 1, cancel_fired : 1, sent_message : 1, submitted : 1, deferred : 1, in_dirty : 1;
    h2_msg_t *q; /* ring of qmax + 1 (respond() may add the last message to a full queue) */
    size_t qhead, qlen, qmax;
    h2_md_t imd[ECO_RPC_MAX_MD], tmd[ECO_RPC_MAX_MD];
    size_t nimd, ntmd;
    grpc_status_code status;
    char *details;
    int http_status; /* 200, or 415 for a request that is not gRPC */
    eco_rpc_cancel_fn on_cancel;
    eco_rpc_writable_fn on_writable;
    void *cb_data;
    int cb_running;
    pthread_t cb_thread;
};

struct h2_conn {
    eco_rpc_server_t *srv;
    int fd;
    nghttp2_session *s;
    char peer[64];
    h2_conn_t *next, *prev;
    eco_rpc_call_t *calls;
    uint8_t *out; /* bytes nghttp2 produced that the socket has not taken yet */
    size_t olen, ooff, ocap;
    int epollout, dead;
};

/* server.c */
/* Puts c on the dirty list (a reference) and wakes the loop. Under srv->mu. */
void h2_mark_dirty_locked(eco_rpc_call_t *c);
/* Drops a reference; frees the call at zero (inflight drops, waiters wake). Under srv->mu. */
void h2_call_unref_locked(eco_rpc_call_t *c);
/* Runs fn(c, data) as a call callback: cb_running set around it so that ending the call from
 * another thread waits for it. Called and returns with srv->mu held (released around fn). */
void h2_run_callback_locked(eco_rpc_call_t *c, void (*fn)(eco_rpc_call_t *, void *), void *data);

/* conn.c */
/* Accepted socket: a session with its SETTINGS queued. NULL on failure (fd closed). */
h2_conn_t *h2_conn_new(eco_rpc_server_t *srv, int fd);
/* Reads what the socket has and feeds it to the session. -1: close the connection. */
int h2_conn_read(h2_conn_t *cn);
/* Writes what the session has. -1: close the connection. */
int h2_conn_flush(h2_conn_t *cn);
/* Releases every call (cancelled), frees the session, closes the socket. */
void h2_conn_free(h2_conn_t *cn);
/* Submits what c has to send (loop thread; takes srv->mu). */
void h2_call_pump(eco_rpc_call_t *c);
/* Resets the stream of c (shutdown). Loop thread. */
void h2_call_reset(eco_rpc_call_t *c);
/* The deadline passed: the call is cancelled for the application and ends DEADLINE_EXCEEDED
 * for the client. Loop thread, without srv->mu. */
void h2_call_expire(eco_rpc_call_t *c);

/* call.c */
eco_rpc_call_t *h2_call_new(h2_conn_t *cn, int32_t sid);
/* The request is complete: answers unknown methods, overload and bad requests itself or runs
 * the handler. Loop thread, without srv->mu. */
void h2_call_dispatch(eco_rpc_call_t *c);
/* The stream is gone: the transport's reference goes; a call not finished is cancelled (its
 * on_cancel runs here). Loop thread, without srv->mu. */
void h2_call_release(eco_rpc_call_t *c, int cancelled);
void h2_call_free(eco_rpc_call_t *c);
/* Frees the messages still queued. Under srv->mu. */
void h2_call_drop_queue_locked(eco_rpc_call_t *c);

/* md.c */
/* base64 (standard alphabet, padding optional on input). Return the output length; out must
 * hold 4 * ((n + 2) / 3) + 1 bytes (encode) or n bytes (decode); decode returns -1 if invalid. */
size_t h2_b64_encode(const uint8_t *in, size_t n, char *out);
long h2_b64_decode(const char *in, size_t n, uint8_t *out);
/* Copies application metadata (checked) to out[*n...]. 0, ECO_EINVAL or ECO_ENOSPC. */
int h2_md_copy(h2_md_t *out, size_t *n, size_t max, const eco_rpc_md_t *md, size_t nmd);
void h2_md_free(h2_md_t *md, size_t n);
/* "grpc-message" value: percent-encodes bytes outside 0x20..0x7e and '%'. out: 3 * n + 1. */
size_t h2_percent_encode(const char *in, size_t n, char *out);
/* grpc-timeout ("100m", "5S", ...) in ms, rounded up; -1 if malformed. */
long h2_parse_timeout(const char *v, size_t n);

#endif
