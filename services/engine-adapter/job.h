/*
 * A job: one gRPC call and the one upstream request that answers it.
 *
 * Lifetime. A job is reference-counted: one reference for the gRPC call (dropped when the call
 * is ended), one for the upstream request while it is in flight, and one for each task posted
 * to the loop thread and not yet run. Only the loop thread drops the count to zero. The gRPC
 * call is ended exactly once (job_end_*), on the loop thread; the upstream request may outlive
 * it briefly after a complete stream, so its keep-alive connection goes back to the pool.
 */
#ifndef ENGINE_ADAPTER_JOB_H
#define ENGINE_ADAPTER_JOB_H

#include "adapter.h"

enum { JOB_NEW, JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct job {
    atomic_int refs;
    atomic_int cancel_asked; /* on_cancel ran (worker thread) */
    adapter_t *a;
    job_kind_t kind;
    eco_rpc_call_t *call;        /* NULL once ended */
    const ProtobufCMessage *req; /* owned by the call */
    eco_engine_http_t http;      /* the native request, built by the handler */
    eco_http_upstream_t *up;     /* where it goes */
    char model[256];             /* the engine model asked for */
    char request_id[65];
    char forward[1024];  /* "name: value\r\n" lines of forwarded request metadata */
    uint32_t max_tokens; /* asked for, 0 = none (finish-reason inference) */
    size_t prompt_bytes; /* for estimated prompt tokens */

    /* loop thread only */
    int state;
    h2o_linklist_t qlink;
    eco_http_client_req_t *cr; /* the upstream request while it is in flight */
    int http_status;
    int json_answer; /* a stream was asked for but the engine answered one JSON document */
    long retry_after_s;
    int got_body_bytes;
    eco_buf_t body;          /* unary answer or error body */
    eco_engine_result_t res; /* unary result; for streams: text length, finish, usage */
    eco_engine_stream_t parser;
    int parser_on;
    size_t out_bytes;  /* streamed text so far */
    uint32_t deltas;   /* streamed pieces: about one token each (the count when the engine gives none) */
    eco_buf_t pending; /* streamed text not yet accepted by the gRPC send queue */
    int blocked;       /* waiting for on_writable */
    int end_seen;      /* the stream completed; answer once pending is flushed */
    int chunks_sent;
    int paused;
    eco_timer_t t_connect, t_first, t_idle, t_deadline;
    uint64_t t0_ns, t_up_ns, t_first_token_ns;
};

/* answer.c */
void job_answer_unary(job_t *j);
void job_answer_embeddings(job_t *j);
/* The last chunk of a stream (finish reason, usage, model when nothing was sent yet). */
void job_answer_stream_end(job_t *j);
/* Sends text as one CompletionChunk. 0, ECO_RPC_EAGAIN, or ECO_RPC_ECANCELED. */
int job_send_delta(job_t *j, const char *text, size_t len);
/* Ends the call with the error (details, retry-after and reason metadata) and cancels the
 * upstream request. */
void job_fail(job_t *j, const eco_engine_error_t *e);

/* job.c */
/* Sets the id sent to the engine as x-request-id, unless one is set already or id has
 * characters other than [A-Za-z0-9._:-] (or is longer than 64). */
void job_set_request_id(job_t *j, const char *id);
/* Ends the call with msg (OK) or status; idempotent; records the outcome metric. */
void job_end_call(job_t *j, const ProtobufCMessage *msg, grpc_status_code status, const char *details,
                  const eco_rpc_md_t *md, size_t nmd);
/* Cancels the upstream request if it is still in flight (the engine sees the disconnect). */
void job_cancel_upstream(job_t *j);
/* Fills usage from what the engine reported, estimating what it did not. */
void job_usage(job_t *j, Eco__Ai__V1__Usage *u, int has_p, uint32_t p, int has_c, uint32_t c, size_t out_bytes);

#endif
