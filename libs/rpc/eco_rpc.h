/*
 * eco_rpc: gRPC on the gRPC core C API (1.51) with protobuf-c messages.
 *   - server: registered unary and server-streaming methods, N worker threads with one
 *     completion queue each, asynchronous answers from any thread, bounded per-call send
 *     queues with backpressure, cancellation callbacks, UNIMPLEMENTED for unknown methods,
 *     graceful shutdown bounded in time;
 *   - client: channels, blocking unary calls and server-streaming readers, and asynchronous
 *     calls whose events are posted to the owner's thread;
 *   - grpc.health.v1.Health (Check and Watch), without credentials;
 *   - protobuf-c <-> grpc_byte_buffer, status names and the HTTP mapping.
 *
 * Threads. Handlers and call callbacks run on the server's worker threads (the thread whose
 * completion queue the call is bound to) and must not block: hand slow work to another
 * thread and answer from there. Functions marked [any thread] may be called from any
 * thread; the others only from the handler (before it returns) unless stated.
 *
 * Call lifetime. Every call given to a handler must be ended exactly once with
 * eco_rpc_call_respond() or eco_rpc_call_finish(), also when it was cancelled; the call
 * pointer (and the request message, metadata and peer strings it owns) is invalid once
 * that function returns. Until then the call stays valid even after cancellation.
 */
#ifndef ECO_RPC_H
#define ECO_RPC_H

#include <grpc/grpc.h>
#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* Error codes beyond eco_core's (all negative). */
enum {
    ECO_RPC_EAGAIN = -11,     /* send queue full: wait for the call's on_writable callback */
    ECO_RPC_EPROTO = -71,     /* missing or malformed message */
    ECO_RPC_ECANCELED = -125, /* the call was cancelled (client, deadline, shutdown) */
    ECO_RPC_ESTATUS = -1001,  /* client: the RPC ended with a non-OK status (see the result) */
};

/* Bounds. */
#define ECO_RPC_MAX_MD      16   /* metadata entries an application may add per direction */
#define ECO_RPC_MAX_METHODS 64   /* registered methods per server */
#define ECO_RPC_MAX_DETAILS 1024 /* status details longer than this are truncated */

/* ---------- status codes ---------- */

/* "OK", "CANCELLED", ... "UNAUTHENTICATED"; "UNKNOWN" for codes outside 0..16. Static. */
const char *eco_rpc_status_name(grpc_status_code code);
/* Parses a name as printed by eco_rpc_status_name (case-insensitive). 0 or ECO_EINVAL. */
int eco_rpc_status_from_name(const char *name, grpc_status_code *out);
/* The HTTP status a gateway answers for a gRPC status: 3/9/11->400, 16->401, 7->403, 5->404,
 * 6/10->409, 8->429, 1->499, 12->501, 14->503, 4->504, 0->200, everything else 500. */
int eco_rpc_status_to_http(grpc_status_code code);
/* The gRPC status for an upstream (engine) HTTP error: 400/413/422->INVALID_ARGUMENT,
 * 401->UNAUTHENTICATED, 403->PERMISSION_DENIED, 404->NOT_FOUND, 408/504->DEADLINE_EXCEEDED,
 * 409->ABORTED, 429->RESOURCE_EXHAUSTED, 499->CANCELLED, 501->UNIMPLEMENTED,
 * 502/503->UNAVAILABLE, other 4xx->FAILED_PRECONDITION, other 5xx->INTERNAL, 2xx->OK,
 * anything else UNKNOWN. */
grpc_status_code eco_rpc_status_from_http(int http_status);

/* ---------- protobuf-c <-> grpc_byte_buffer ---------- */

/* Serializes msg. Borrows msg; caller owns the buffer (grpc_byte_buffer_destroy), or passes
 * it to a SEND_MESSAGE op (which takes the slices but not the buffer). Never NULL. */
grpc_byte_buffer *eco_rpc_pack(const ProtobufCMessage *msg);
/* Parses bb as desc. Borrows bb. On success *out is owned by the caller
 * (protobuf_c_message_free_unpacked(*out, NULL)). A zero-length buffer is a valid empty
 * message; a NULL buffer (no message at all) or malformed bytes give ECO_RPC_EPROTO. */
int eco_rpc_unpack(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb, ProtobufCMessage **out);

/* ---------- metadata ---------- */

/* One metadata entry. Keys are lower-case [0-9a-z-_.], never "grpc-..."; keys ending in
 * "-bin" carry binary values (gRPC base64-encodes them on the wire). len 0 = strlen(value). */
typedef struct {
    const char *key;
    const char *value;
    size_t len;
} eco_rpc_md_t;

/* A received metadata block, copied into one allocation: every key and value is
 * NUL-terminated (binary values may also contain NULs; use len). */
typedef struct {
    eco_rpc_md_t *v;
    size_t n;
} eco_rpc_mdlist_t;

/* First value of key (case-insensitive), or NULL. Borrowed from l; *len may be NULL. */
const char *eco_rpc_mdlist_get(const eco_rpc_mdlist_t *l, const char *key, size_t *len);
/* Frees the copy; l is emptied. */
void eco_rpc_mdlist_free(eco_rpc_mdlist_t *l);

/* ---------- server ---------- */

typedef struct eco_rpc_server eco_rpc_server_t;
typedef struct eco_rpc_call eco_rpc_call_t;

typedef enum { ECO_RPC_UNARY = 0, ECO_RPC_SERVER_STREAMING = 1 } eco_rpc_kind_t;

typedef struct {
    const char *addr;           /* "0.0.0.0:50051"; port 0 picks a free port. Copied. */
    int threads;                /* worker threads, one completion queue each; 0 = 2 */
    int max_recv_bytes;         /* largest request message; 0 = 4 MiB */
    int max_send_bytes;         /* largest response message; 0 = 16 MiB */
    int max_concurrent_streams; /* per HTTP/2 connection; 0 = gRPC's default */
    int max_calls;              /* calls in flight before RESOURCE_EXHAUSTED; 0 = 4096 */
    int stream_queue_max;       /* messages queued per call before ECO_RPC_EAGAIN; 0 = 64 */
    int armed_per_method;       /* requests kept armed per method and thread; 0 = 2 */
} eco_rpc_server_opts_t;

/* Called on a worker thread for each call of a registered method. req is the parsed request
 * (owned by the call, valid until the call is ended). The handler ends the call now or later
 * from any thread (eco_rpc_call_respond / eco_rpc_call_finish). A request that does not parse
 * is answered INVALID_ARGUMENT without calling the handler. */
typedef void (*eco_rpc_handler_fn)(eco_rpc_call_t *call, const ProtobufCMessage *req, void *data);

/* Creates a server (calls grpc_init). opts is copied; NULL = all defaults and "0.0.0.0:0".
 * Caller frees with eco_rpc_server_destroy. Aborts on OOM. */
eco_rpc_server_t *eco_rpc_server_create(const eco_rpc_server_opts_t *opts);

/* Registers svc/method (e.g. &eco__ai__v1__inference__descriptor, "GenerateCompletion"); the
 * request and response types come from the descriptor, the kind from the caller (protoc-c
 * does not record streaming). Before start. svc and data are borrowed for the server's life.
 * ECO_EINVAL: unknown method, already registered, started, or ECO_RPC_MAX_METHODS reached. */
int eco_rpc_server_add_method(eco_rpc_server_t *srv, const ProtobufCServiceDescriptor *svc, const char *method,
                              eco_rpc_kind_t kind, eco_rpc_handler_fn fn, void *data);

/* Binds, starts the worker threads and arms the requests. Returns the bound port (> 0), or
 * ECO_EIO when the address cannot be bound (logged), ECO_EINVAL when already started.
 * SO_REUSEPORT is disabled, so a port in use is an error rather than a shared port. */
int eco_rpc_server_start(eco_rpc_server_t *srv);

/* The bound port, 0 before start. [any thread] */
int eco_rpc_server_port(const eco_rpc_server_t *srv);

/* Calls in flight (handed to a handler and not yet released). [any thread] */
long eco_rpc_server_inflight(const eco_rpc_server_t *srv);

/* Graceful shutdown, from one thread that is not a worker:
 *   1. refuses new calls (GOAWAY) and ends health Watch streams;
 *   2. lets calls in flight finish until grace_ms minus a cancel reserve (grace/5, <= 1 s):
 *      it waits for the core's shutdown tag (all connections closed) and then for every call
 *      to be released by its handler;
 *   3. if that does not happen in time, cancels the remaining calls (their on_cancel
 *      callbacks run; handlers must then end them) and waits again until grace_ms has
 *      elapsed (at least 100 ms after the cancel);
 *   4. shuts the completion queues down and joins the workers.
 * Returns 0, or ECO_ETIMEDOUT when some handler still had not ended its call: the server is
 * then left running detached (leaked) and eco_rpc_server_destroy releases nothing.
 * Idempotent. */
int eco_rpc_server_shutdown(eco_rpc_server_t *srv, long grace_ms);

/* Shuts down (grace 0) if still running, then frees everything (calls grpc_shutdown). */
void eco_rpc_server_destroy(eco_rpc_server_t *srv);

/* ---------- server calls ---------- */

/* Runs on the call's worker thread, without the call lock, at most once, when the call is
 * cancelled (client cancel or disconnect, deadline, server shutdown). The call must still
 * be ended (eco_rpc_call_finish), from this callback or later from any thread. */
typedef void (*eco_rpc_cancel_fn)(eco_rpc_call_t *call, void *data);
/* Runs on the call's worker thread after eco_rpc_stream_send returned ECO_RPC_EAGAIN, once
 * the queue has room again (edge-triggered: once per EAGAIN episode). */
typedef void (*eco_rpc_writable_fn)(eco_rpc_call_t *call, void *data);

/* Sets the callbacks and their data (borrowed until the call is ended). Once
 * eco_rpc_call_respond/finish has returned, no callback is running or will run, unless that
 * function was called from inside the callback itself. Returns ECO_RPC_ECANCELED (callbacks
 * not installed) when the call is already cancelled: end it. [any thread, before the end] */
int eco_rpc_call_set_callbacks(eco_rpc_call_t *call, eco_rpc_cancel_fn on_cancel, eco_rpc_writable_fn on_writable,
                               void *data);

/* "/eco.ai.v1.Inference/GenerateCompletion". Borrowed from the call. [any thread] */
const char *eco_rpc_call_method(const eco_rpc_call_t *call);
/* The client address ("ipv4:127.0.0.1:41234"); unauthenticated. Borrowed. [any thread] */
const char *eco_rpc_call_peer(eco_rpc_call_t *call);
/* First request metadata value of key (e.g. "authorization", "x-request-id", "traceparent"),
 * NUL-terminated, or NULL. Borrowed from the call. [any thread] */
const char *eco_rpc_call_md(const eco_rpc_call_t *call, const char *key);
/* All request metadata. Borrowed from the call. [any thread] */
const eco_rpc_mdlist_t *eco_rpc_call_request_md(const eco_rpc_call_t *call);
/* Milliseconds left before the client's deadline: -1 = no deadline, 0 = passed. gRPC rounds
 * grpc-timeout up when encoding it, so this may exceed the client's timeout by a few ms.
 * [any thread] */
long eco_rpc_call_remaining_ms(const eco_rpc_call_t *call);
/* 1 once the call was cancelled (sends then fail with ECO_RPC_ECANCELED). [any thread] */
int eco_rpc_call_cancelled(eco_rpc_call_t *call);
/* The underlying core call, e.g. as parent_call for propagation. Borrowed. [any thread] */
grpc_call *eco_rpc_call_grpc(eco_rpc_call_t *call);

/* Adds a response header (sent with the first message or the status). Copies key and value.
 * ECO_EINVAL: illegal key/value or headers already sent; ECO_ENOSPC: ECO_RPC_MAX_MD reached.
 * [any thread] */
int eco_rpc_call_add_initial_md(eco_rpc_call_t *call, const char *key, const char *value, size_t len);
/* Sends the response headers now (a stream that wants the client to see it was accepted
 * before the first message). 0, or ECO_RPC_ECANCELED. [any thread] */
int eco_rpc_call_flush_initial_md(eco_rpc_call_t *call);

/* Server streaming: queues msg (borrowed; serialized before returning) behind the messages
 * already queued; one SEND_MESSAGE is in flight at a time. Returns 0, ECO_RPC_EAGAIN when
 * the call's queue is full (nothing queued: retry from on_writable), ECO_RPC_ECANCELED when
 * the call was cancelled, ECO_EINVAL for a unary call or a message of the wrong type.
 * [any thread] */
int eco_rpc_stream_send(eco_rpc_call_t *call, const ProtobufCMessage *msg);

/* Ends the call with msg (borrowed) as its last message and status OK, followed by the
 * trailing metadata (borrowed, copied). The answer of a unary call; on a stream it sends one
 * more message after those queued. Returns 0, ECO_RPC_ECANCELED (call was cancelled; nothing
 * sent), ECO_EINVAL (wrong message type or bad trailing metadata; the call is then ended
 * with INTERNAL). The call is released either way. [any thread] */
int eco_rpc_call_respond(eco_rpc_call_t *call, const ProtobufCMessage *msg, const eco_rpc_md_t *trailing,
                         size_t ntrailing);

/* Ends the call with status and details (borrowed, may be NULL; truncated to
 * ECO_RPC_MAX_DETAILS) after the queued messages, and the trailing metadata (borrowed;
 * e.g. {"retry-after", "2"}). A unary call ended OK without a message is answered INTERNAL
 * (a bug, logged). Returns 0, ECO_RPC_ECANCELED (nothing sent) or ECO_EINVAL (bad trailing
 * metadata, sent without it). The call is released either way. [any thread] */
int eco_rpc_call_finish(eco_rpc_call_t *call, grpc_status_code status, const char *details,
                        const eco_rpc_md_t *trailing, size_t ntrailing);

/* ---------- grpc.health.v1.Health ---------- */

typedef enum {
    ECO_RPC_HEALTH_UNKNOWN = 0,
    ECO_RPC_HEALTH_SERVING = 1,
    ECO_RPC_HEALTH_NOT_SERVING = 2,
    ECO_RPC_HEALTH_SERVICE_UNKNOWN = 3,
} eco_rpc_health_status_t;

/* Status of service ("" = the whole server), or ECO_RPC_HEALTH_SERVICE_UNKNOWN. Runs on
 * worker threads and the health poller: fast, non-blocking, thread-safe. */
typedef eco_rpc_health_status_t (*eco_rpc_health_fn)(const char *service, void *data);

/* Serves grpc.health.v1.Health on srv (before start). fn NULL uses the readiness of
 * eco_ready_status() (ready or degraded = SERVING, not ready or draining = NOT_SERVING) for ""
 * and every service registered on srv, SERVICE_UNKNOWN for others, so /ready and gRPC
 * health agree. Check answers NOT_FOUND for an unknown service. Watch sends the current
 * status, then each change (re-evaluated every poll_ms, 0 = 1000, and on
 * eco_rpc_health_notify) until the client cancels or the server shuts down (the stream then
 * gets NOT_SERVING and ends UNAVAILABLE). data is borrowed for the server's life. */
int eco_rpc_health_register(eco_rpc_server_t *srv, eco_rpc_health_fn fn, void *data, long poll_ms);
/* Re-evaluates every Watch stream now (after a readiness change). [any thread] */
void eco_rpc_health_notify(eco_rpc_server_t *srv);
/* eco_ready_status() mapped as above. [any thread] */
eco_rpc_health_status_t eco_rpc_health_from_ready(void);

/* ---------- client ---------- */

typedef struct eco_rpc_channel eco_rpc_channel_t;

typedef struct {
    int max_recv_bytes; /* largest response message; 0 = 16 MiB */
    int max_send_bytes; /* largest request message; 0 = gRPC's default (unlimited) */
    long keepalive_ms;  /* HTTP/2 PING period on idle connections; 0 = off */
} eco_rpc_channel_opts_t;

/* A channel to target ("127.0.0.1:50061", "dns:///ai-service:50051"), insecure (TLS ends at
 * the ingress). Connects lazily. Copies target and opts (NULL = defaults). Caller frees with
 * eco_rpc_channel_destroy after every call on it has ended. Aborts on OOM. */
eco_rpc_channel_t *eco_rpc_channel_create(const char *target, const eco_rpc_channel_opts_t *opts);
void eco_rpc_channel_destroy(eco_rpc_channel_t *ch);

typedef struct {
    long timeout_ms;        /* deadline from now; 0 = none (or the parent's) */
    const eco_rpc_md_t *md; /* request metadata, borrowed for the duration of the open/call */
    size_t nmd;             /* at most ECO_RPC_MAX_MD */
    eco_rpc_call_t *parent; /* server call whose deadline and cancellation propagate; borrowed */
    int wait_for_ready;     /* queue while connecting instead of failing UNAVAILABLE at once */
} eco_rpc_call_opts_t;

/* How an RPC ended. Owned by the caller: eco_rpc_result_free. */
typedef struct {
    grpc_status_code status;
    char *details;                /* never NULL after a call ("" when none) */
    eco_rpc_mdlist_t initial_md;  /* response headers */
    eco_rpc_mdlist_t trailing_md; /* trailers */
} eco_rpc_result_t;

void eco_rpc_result_free(eco_rpc_result_t *res);

/* Blocking unary call of svc/method (request and response types from the descriptor).
 * Borrows req and opts (NULL = no deadline, no metadata: always give a timeout in services).
 * Returns 0 with *resp set (caller frees with protobuf_c_message_free_unpacked(*resp, NULL)),
 * ECO_RPC_ESTATUS when the RPC ended non-OK, ECO_RPC_EPROTO when an OK answer held no valid
 * message, ECO_EINVAL for bad arguments (unknown method, wrong request type, bad metadata).
 * res (may be NULL) receives the status, details and metadata in every case but EINVAL;
 * free it with eco_rpc_result_free. Safe from any thread except a server worker. */
int eco_rpc_client_unary(eco_rpc_channel_t *ch, const ProtobufCServiceDescriptor *svc, const char *method,
                         const ProtobufCMessage *req, const eco_rpc_call_opts_t *opts, ProtobufCMessage **resp,
                         eco_rpc_result_t *res);
/* The same for a literal path ("/pkg.Svc/Method", borrowed) and response type. */
int eco_rpc_client_unary_path(eco_rpc_channel_t *ch, const char *path, const ProtobufCMessage *req,
                              const ProtobufCMessageDescriptor *resp_desc, const eco_rpc_call_opts_t *opts,
                              ProtobufCMessage **resp, eco_rpc_result_t *res);

/* A server-streaming call read one message at a time by one thread. */
typedef struct eco_rpc_client_stream eco_rpc_client_stream_t;

/* Starts svc/method with req (borrowed). *out is owned by the caller:
 * eco_rpc_client_stream_free. 0 or ECO_EINVAL. */
int eco_rpc_client_stream_open(eco_rpc_channel_t *ch, const ProtobufCServiceDescriptor *svc, const char *method,
                               const ProtobufCMessage *req, const eco_rpc_call_opts_t *opts,
                               eco_rpc_client_stream_t **out);
int eco_rpc_client_stream_open_path(eco_rpc_channel_t *ch, const char *path, const ProtobufCMessage *req,
                                    const ProtobufCMessageDescriptor *resp_desc, const eco_rpc_call_opts_t *opts,
                                    eco_rpc_client_stream_t **out);
/* Blocks for the next message: 1 with *msg set (caller frees with
 * protobuf_c_message_free_unpacked), 0 at the end with status OK, ECO_RPC_ESTATUS at an end
 * with another status, ECO_RPC_EPROTO for a malformed message (the call is cancelled). After
 * the end, eco_rpc_client_stream_result holds the status; further calls return the same. */
int eco_rpc_client_stream_next(eco_rpc_client_stream_t *st, ProtobufCMessage **msg);
/* The status, details and metadata once next() returned <= 0 (else NULL). Borrowed. */
const eco_rpc_result_t *eco_rpc_client_stream_result(const eco_rpc_client_stream_t *st);
/* Cancels the call (next() then ends with CANCELLED); the server sees a cancellation.
 * [any thread], while the stream is not freed. */
void eco_rpc_client_stream_cancel(eco_rpc_client_stream_t *st);
/* Cancels the call if it has not ended and frees everything. */
void eco_rpc_client_stream_free(eco_rpc_client_stream_t *st);

/* ---------- asynchronous client ---------- */

/* One completion queue served by one thread, for calls whose events are handled on the
 * owner's thread (e.g. the h2o loop): every callback is handed to post(post_data, fn, arg),
 * which must run fn(arg) later on that thread, in posting order (eco_service_post does). The
 * owner thread must not block waiting for these callbacks. */
typedef void (*eco_rpc_post_fn)(void *post_data, void (*fn)(void *arg), void *arg);
typedef struct eco_rpc_async eco_rpc_async_t;

/* Starts the thread. post and post_data are borrowed for the object's life. */
eco_rpc_async_t *eco_rpc_async_new(eco_rpc_post_fn post, void *post_data);
/* Cancels every call still open, waits (at most grace_ms, 0 = 2000) for the core to complete
 * their operations, then stops the thread. Calls the owner has not released are leaked (their
 * callbacks may be pending in the owner's queue). From any thread but the completion thread. */
void eco_rpc_async_free(eco_rpc_async_t *a, long grace_ms);

typedef struct eco_rpc_acall eco_rpc_acall_t;
typedef struct {
    /* A response message, owned by the callee (protobuf_c_message_free_unpacked). Unary: at
     * most one, before on_end. Streaming: messages are read ahead of the owner (a bounded
     * window of 16 waiting in the post queue) until eco_rpc_acall_pause. */
    void (*on_msg)(eco_rpc_acall_t *c, ProtobufCMessage *msg, void *data);
    /* The end, exactly once and last: status, details, metadata (borrowed during the call).
     * An OK stream ends only after its last message was read. Not called once released. */
    void (*on_end)(eco_rpc_acall_t *c, const eco_rpc_result_t *res, void *data);
} eco_rpc_acall_cbs_t;

/* Starts path ("/pkg.Svc/Method") with req (borrowed; serialised before returning) as a unary
 * (streaming 0) or server-streaming (1) call expecting resp_desc messages. opts as for the
 * blocking client (timeout, metadata, parent; borrowed). cbs and data are borrowed until the
 * call is released. 0 with *out set, or ECO_EINVAL (bad metadata or arguments). [owner thread] */
int eco_rpc_acall_start(eco_rpc_async_t *a, eco_rpc_channel_t *ch, const char *path, const ProtobufCMessage *req,
                        const ProtobufCMessageDescriptor *resp_desc, int streaming, const eco_rpc_call_opts_t *opts,
                        const eco_rpc_acall_cbs_t *cbs, void *data, eco_rpc_acall_t **out);
/* Streaming flow control: pause stops asking the server for messages (those already read
 * ahead are still delivered); read resumes. Reading is on from the start. [owner thread] */
void eco_rpc_acall_pause(eco_rpc_acall_t *c);
void eco_rpc_acall_read(eco_rpc_acall_t *c);
/* Cancels the call: the server sees a cancellation, on_end follows with CANCELLED (unless the
 * call already ended). [owner thread] */
void eco_rpc_acall_cancel(eco_rpc_acall_t *c);
/* The owner lets go: cancels the call if it has not ended; no callback runs afterwards. The
 * memory is freed once the core and the post queue are done with it. [owner thread] */
void eco_rpc_acall_release(eco_rpc_acall_t *c);

/* ---------- for services ---------- */

/* A server on bind_addr:port whose grpc.health.v1 follows eco_ready_status(); base may be NULL
 * (defaults). Not started. Aborts on OOM. */
eco_rpc_server_t *eco_rpc_server_for_service(const char *bind_addr, int port, const eco_rpc_server_opts_t *base);
/* Graceful shutdown with the signature of a drain task (eco_service_on_drain_blocking). */
void eco_rpc_drain(void *srv, long grace_ms);

#endif
