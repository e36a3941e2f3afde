/*
 * eco_http: the HTTP side of every eco-base service, on h2o 2.2.5 (evloop).
 *   - eco_service_t: common settings, logging, signals, one h2o context, readiness and drain;
 *   - a method-aware router with {param} segments (route templates label metrics and logs);
 *   - one error-body shape, JSON bodies on jansson with precise 400s, bounded bodies (413);
 *   - an SSE writer that follows h2o's proceed/backpressure contract;
 *   - /health, /ready, /metrics and (with ECO_DEBUG_ENDPOINTS=1) /debug/sleep built in.
 *
 * Threading: everything here runs on the service's event-loop thread unless a function says
 * otherwise. Other threads hand work to the loop with eco_service_post().
 */
#ifndef ECO_HTTP_H
#define ECO_HTTP_H

#if H2O_USE_LIBUV
#error "eco-base builds h2o with its own event loop: compile with -DH2O_USE_LIBUV=0"
#endif

#include <h2o.h>
#include <jansson.h>

#include "eco_core.h"
#include "eco_metrics.h"

#define ECO_HTTP_MAX_PARAMS 4
#define ECO_HTTP_MAX_ROUTES 96

typedef struct eco_service eco_service_t;
typedef struct eco_http_call eco_http_call_t;

/* A handler answers the call (now, or later from the loop thread) and returns 0. */
typedef int (*eco_http_handler_fn)(eco_http_call_t *call);

typedef struct {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* "/api/v1/keys/{id}/rotate" */
    eco_http_handler_fn fn;
    void *data;
    size_t nsegments;
    const char *segments[16];
} eco_http_route_t;

typedef struct {
    const char *name; /* borrowed from the route pattern segment, without braces */
    h2o_iovec_t value;
} eco_http_param_t;

/* Per-request state, allocated from the request's pool; it dies with the request. */
struct eco_http_call {
    h2o_req_t *req;
    eco_service_t *svc;
    const eco_http_route_t *route; /* NULL for built-ins and 404/405 */
    void *data;                    /* route->data */
    eco_http_param_t params[ECO_HTTP_MAX_PARAMS];
    size_t nparams;
    char request_id[65];
    char traceparent[56]; /* propagated W3C traceparent, or empty */
    char trace_id[33];
    uint64_t start_ns;
    int openai_errors; /* path under /v1/: error bodies use the OpenAI names for `type` */
};

/* Borrowed view of a path parameter; {NULL,0} when absent. */
h2o_iovec_t eco_http_param(const eco_http_call_t *call, const char *name);

/* ---- the service runtime ---- */

typedef struct {
    const char *name;            /* "api-gateway": logs, metrics, build info */
    int default_http_port;       /* the local default from ARCHITECTURE §1 */
    const eco_cfg_spec_t *specs; /* the service's own settings (besides the common ones), may be NULL */
    size_t nspecs;
    int http_port;   /* > 0: listen here regardless of ECO_HTTP_PORT (tools with their own CLI flags) */
    int no_builtins; /* 1: /health, /ready, /metrics are ordinary routes (e.g. engine-sim mimics an engine's) */
} eco_service_opts_t;

/* Common settings every service reads (filled by eco_service_new). */
typedef struct {
    int http_port;
    const char *bind_addr;
    const char *log_level;
    long shutdown_grace_ms;
    int debug_endpoints;
    long max_body_bytes;
    long ready_interval_ms;
} eco_service_config_t;

/* Parses common + service settings (bad value: one line on stderr naming the variable, exit 2;
 * "--config-help" prints the table), sets up logging and signals, creates the h2o context.
 * Returns a service owned by the caller (lives until exit). */
eco_service_t *eco_service_new(const eco_service_opts_t *opts, int argc, char **argv);
const eco_service_config_t *eco_service_config(const eco_service_t *svc);
h2o_context_t *eco_service_h2o(eco_service_t *svc);
h2o_loop_t *eco_service_loop(eco_service_t *svc);

/* Adds a route; pattern is borrowed (use a literal). */
void eco_service_route(eco_service_t *svc, const char *method, const char *pattern, eco_http_handler_fn fn, void *data);

/* Slow clients: an HTTP/1.x connection must deliver a whole request (headers and body) within ms
 * of becoming ready for it (accept, or the previous response), else it is closed; HTTP/2
 * connections without a request in progress are closed after ms. Call before eco_service_run. */
void eco_service_set_client_timeout(eco_service_t *svc, uint64_t ms);
/* At most max open connections per peer IP address (0 = no cap). Requests on a connection accepted
 * beyond the cap are answered 429 (too_many_connections, Retry-After) and, on HTTP/1.x, the
 * connection is closed after the answer. Call before eco_service_run. */
void eco_service_set_max_conns_per_ip(eco_service_t *svc, long max);

/* Called once when draining starts (SIGTERM), on the loop thread: e.g. start gRPC shutdown. */
typedef void (*eco_service_drain_cb)(eco_service_t *svc, void *data);
void eco_service_on_drain(eco_service_t *svc, eco_service_drain_cb cb, void *data);
/* Called on the loop thread for each SIGHUP (e.g. reload a configuration file). */
typedef void (*eco_service_reload_cb)(eco_service_t *svc, void *data);
void eco_service_on_reload(eco_service_t *svc, eco_service_reload_cb cb, void *data);
/* Runs fn(data) on its own thread when draining starts (e.g. a gRPC server's blocking graceful
 * shutdown); the service does not exit before it returns or the grace period ends. */
typedef void (*eco_service_blocking_fn)(void *data, long grace_ms);
void eco_service_on_drain_blocking(eco_service_t *svc, eco_service_blocking_fn fn, void *data);
/* Work that keeps the service from exiting while draining (e.g. gRPC calls, jobs) besides
 * in-flight HTTP requests: the drain waits until every hold is released or the grace expires. */
void eco_service_hold(eco_service_t *svc);
void eco_service_release(eco_service_t *svc); /* thread-safe */

/* Runs a function on the loop thread; thread-safe. */
typedef void (*eco_service_task_fn)(void *data);
void eco_service_post(eco_service_t *svc, eco_service_task_fn fn, void *data);

/* Binds, starts readiness checks and serves until SIGTERM/SIGINT has drained.
 * Returns the process exit code (0 after a clean drain, 1 if the port cannot be bound). */
int eco_service_run(eco_service_t *svc);

/* ---- responses ---- */

/* The reason phrase of an HTTP status ("Not Found"); "Status" for unlisted codes. Static. */
const char *eco_http_reason(int status);
/* Sends a complete response with a body (copied). content_type NULL = application/json. */
void eco_http_send(eco_http_call_t *call, int status, const char *content_type, const char *body, size_t len);
/* Sends a JSON value (serialised compactly) and decrefs it. */
void eco_http_send_json(eco_http_call_t *call, int status, json_t *body);
/* Sends the one error shape:
 *   {"error":{"message":..., "type":..., "param":..., "code":..., "request_id":...}}
 * type defaults from status (invalid_request_error, authentication_error, permission_error,
 * not_found_error, rate_limit_error, server_error ...); param may be NULL. */
__attribute__((format(printf, 5, 6))) void eco_http_send_error(eco_http_call_t *call, int status, const char *code,
                                                               const char *param, const char *fmt, ...);
/* Adds a response header (name lower-case, value copied into the request pool). */
void eco_http_add_header(eco_http_call_t *call, const char *name, const char *value);

/* ---- request bodies ---- */

/* Parses the body as a JSON object, rejecting empty bodies, invalid UTF-8, duplicate keys,
 * nesting deeper than ECO_HTTP_MAX_JSON_DEPTH and non-object roots. On failure it has already
 * answered 400 (with the position of the error) and returns NULL. Caller decrefs. */
#define ECO_HTTP_MAX_JSON_DEPTH 32
json_t *eco_http_json_body(eco_http_call_t *call);
/* Same checks on a buffer; on failure writes a message into err and returns NULL. */
json_t *eco_http_json_parse(const char *buf, size_t len, char *err, size_t errlen);

/* ---- server-sent events ---- */

typedef struct eco_sse eco_sse_t;
/* Called on the loop thread when buffered output has been written (room again), and when the
 * client has gone away (stopped = 1: stop producing; the writer is then dead). */
typedef void (*eco_sse_event_cb)(eco_sse_t *sse, int stopped, void *data);

/* Starts a text/event-stream response (status 200). max_pending bounds the bytes buffered
 * while the client is slow. The writer lives in the request pool. */
eco_sse_t *eco_sse_start(eco_http_call_t *call, size_t max_pending, eco_sse_event_cb cb, void *data);
/* Queues "data: <payload>\n\n". Returns 0, or ECO_ENOSPC when the pending bound would be
 * exceeded (nothing queued: wait for the callback and retry). */
int eco_sse_data(eco_sse_t *sse, const char *payload, size_t len);
/* Queues raw bytes (already framed, e.g. ": ping\n\n"). Same return as eco_sse_data. */
int eco_sse_raw(eco_sse_t *sse, const char *bytes, size_t len);
/* Ends the stream after everything queued has been sent. */
void eco_sse_end(eco_sse_t *sse);
/* Ends the stream abruptly once the send in flight (if any) completes: whatever is still queued
 * is dropped and no terminator is written (HTTP/1.1: h2o writes a broken chunk instead of the
 * last chunk and closes the connection; HTTP/2: the stream is reset). */
void eco_sse_abort(eco_sse_t *sse);
/* Bytes queued but not yet handed to h2o. */
size_t eco_sse_pending(const eco_sse_t *sse);

/* The same writer for any streamed body (e.g. application/x-ndjson): starts a 200 response with
 * this content type; write it with eco_sse_raw (no framing added), end it with eco_sse_end or
 * eco_sse_abort. flush_headers = 1 sends the status line and headers at once instead of with the
 * first bytes (HTTP/1.x; HTTP/2 sends them with the first bytes). */
eco_sse_t *eco_http_stream_start(eco_http_call_t *call, const char *content_type, size_t max_pending, int flush_headers,
                                 eco_sse_event_cb cb, void *data);

/* ---- readiness checks for eco_ready_add (run on checker threads) ---- */

/* data: a URL (borrowed, must outlive the service). UP on a 2xx within 1 s. */
eco_dep_state_t eco_http_check_url(void *data, char *detail, size_t len);
/* data: a directory path. UP when a file can be created, written and fsynced there. */
eco_dep_state_t eco_http_check_writable_dir(void *data, char *detail, size_t len);

/* ---- timers on the loop thread ---- */

/* A one-shot timer. Embed it in your own object (use ECO_CONTAINER_OF in the callback).
 * h2o 2.2 keeps one list per distinct duration; the service caches up to 64 distinct
 * durations and rounds any further new one up to the nearest cached one. */
typedef struct eco_timer eco_timer_t;
typedef void (*eco_timer_cb)(eco_timer_t *t);
struct eco_timer {
    h2o_timeout_entry_t entry;
    eco_timer_cb cb;
};
void eco_timer_start(eco_service_t *svc, eco_timer_t *t, uint64_t ms, eco_timer_cb cb);
/* Safe to call on a timer that is not running. */
void eco_timer_stop(eco_timer_t *t);
int eco_timer_active(eco_timer_t *t);

/* ---- upstream HTTP/1.1 client (h2o_http1client + keep-alive socket pool) ---- */

/* A pool of keep-alive connections to one origin. Loop thread only; lives until exit. */
typedef struct eco_http_upstream eco_http_upstream_t;
/* base_url: "http://host:port" (no TLS, no path). io_timeout_ms bounds connect and every read
 * or write; first-byte and idle-between-chunks deadlines are the caller's (eco_timer).
 * Returns NULL and fills err for a bad URL. */
eco_http_upstream_t *eco_http_upstream_new(eco_service_t *svc, const char *base_url, size_t max_conns,
                                           uint64_t io_timeout_ms, char *err, size_t errlen);

typedef struct eco_http_client_req eco_http_client_req_t;
typedef struct {
    /* Optional: the connection is established (new or reused from the pool) and the request
     * is about to be written; e.g. to stop a connect timer. */
    void (*on_connect)(eco_http_client_req_t *r, void *data);
    /* Response head, or err != NULL (connection failure, timeout, bad response): then the
     * request is over and on_body is not called. */
    void (*on_head)(eco_http_client_req_t *r, const char *err, int status, const h2o_header_t *headers, size_t nheaders,
                    void *data);
    /* A body chunk (borrowed until return), eos = 1 on the last call, or err != NULL if the body
     * broke (connection closed early, also right after a complete chunk of a chunked body on a
     * keep-alive connection; timeout). After eos or err the request is over. */
    void (*on_body)(eco_http_client_req_t *r, const char *err, const char *chunk, size_t len, int eos, void *data);
} eco_http_client_cbs_t;

/* Starts a request. `headers` is a block of "name: value\r\n" lines (copied; may be NULL);
 * host, content-length and connection are added. body is copied. The request frees itself when
 * over; callbacks run on the loop thread, never from within this call. */
eco_http_client_req_t *eco_http_client_start(eco_http_upstream_t *up, const char *method, const char *path,
                                             const char *headers, const char *body, size_t body_len,
                                             const eco_http_client_cbs_t *cbs, void *data);
/* Aborts a request that is not over: no callback runs afterwards. Safe inside callbacks. */
void eco_http_client_cancel(eco_http_client_req_t *r);
/* Backpressure for streamed bodies: stop and resume reading from the upstream socket. */
void eco_http_client_pause(eco_http_client_req_t *r);
void eco_http_client_resume(eco_http_client_req_t *r);

/* ---- work that outlives the handler (e.g. a job on a worker thread) ---- */

/* A weak reference to a call: eco_http_weak_get returns NULL once the request is gone (client
 * closed, or already answered and finished). Create and use it on the loop thread only; the
 * owner frees it with eco_http_weak_free (also on the loop thread), whether or not the call
 * still exists. */
typedef struct eco_http_weak eco_http_weak_t;
eco_http_weak_t *eco_http_weak_new(eco_http_call_t *call);
eco_http_call_t *eco_http_weak_get(const eco_http_weak_t *w);
void eco_http_weak_free(eco_http_weak_t *w);

/* The request header `name` (lower case), borrowed from the request; {NULL,0} when absent. */
h2o_iovec_t eco_http_header(const eco_http_call_t *call, const char *name);
/* The peer's IP address as text ("127.0.0.1"); "" when unknown. */
void eco_http_peer_ip(const eco_http_call_t *call, char *out, size_t len);

#endif
