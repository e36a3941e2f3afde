/* Turning engine results into eco.ai.v1 answers: GenerateResponse, CompletionChunk,
 * EmbeddingResponse, usage (estimated where the engine reports none), and errors as gRPC status,
 * details and trailing metadata (retry-after, eco-error-reason, eco-engine-code). */
#include "job.h"

#include <stdlib.h>
#include <string.h>

void job_usage(job_t *j, Eco__Ai__V1__Usage *u, int has_p, uint32_t p, int has_c, uint32_t c, size_t out_bytes)
{
    adapter_t *a = j->a;
    u->prompt_tokens = has_p ? p : eco_engine_estimate_tokens(j->prompt_bytes);
    u->completion_tokens = has_c                    ? c
                           : j->res.inferred_tokens ? j->res.inferred_tokens
                                                    : eco_engine_estimate_tokens(out_bytes);
    u->total_tokens = u->prompt_tokens + u->completion_tokens;
    u->estimated = !(has_p && has_c);
    eco_metrics_add(a->m_tokens, (double)u->prompt_tokens, a->kind->name, "prompt");
    eco_metrics_add(a->m_tokens, (double)u->completion_tokens, a->kind->name, "completion");
}

/* The engine's finish reason, or (Triton reports none) "length" when the known output reached
 * max_tokens, else "stop". */
static const char *finish_of(job_t *j, uint32_t completion_tokens)
{
    if (j->res.finish_reason[0])
        return j->res.finish_reason;
    return j->max_tokens && completion_tokens >= j->max_tokens ? "length" : "stop";
}

static const char *model_of(job_t *j, const char *reported)
{
    return reported && *reported ? reported : j->model;
}

void job_answer_unary(job_t *j)
{
    eco_engine_error_t e;
    if (eco_engine_parse_generate(j->a->kind, j->http.wire, j->body.base, j->body.len, &j->res, &e) != 0) {
        job_fail(j, &e);
        return;
    }
    Eco__Ai__V1__Usage u = ECO__AI__V1__USAGE__INIT;
    job_usage(j, &u, j->res.has_prompt_tokens, j->res.prompt_tokens, j->res.has_completion_tokens,
              j->res.completion_tokens, j->res.text.len);
    Eco__Ai__V1__GenerateResponse resp = ECO__AI__V1__GENERATE_RESPONSE__INIT;
    resp.text = (char *)eco_buf_cstr(&j->res.text);
    uint32_t known = j->res.has_completion_tokens ? j->res.completion_tokens : j->res.inferred_tokens;
    resp.finish_reason = (char *)finish_of(j, known);
    resp.model = (char *)model_of(j, j->res.model);
    resp.usage = &u;
    job_end_call(j, &resp.base, GRPC_STATUS_OK, NULL, NULL, 0);
}

int job_send_delta(job_t *j, const char *text, size_t len)
{
    if (!j->call)
        return ECO_RPC_ECANCELED;
    /* protobuf-c wants a NUL-terminated string; deltas are small, copy them. */
    char small[512];
    char *s = len < sizeof(small) ? small : eco_malloc(len + 1);
    memcpy(s, text, len);
    s[len] = '\0';
    Eco__Ai__V1__CompletionChunk c = ECO__AI__V1__COMPLETION_CHUNK__INIT;
    c.delta = s;
    if (!j->chunks_sent)
        c.model = j->model;
    int rc = eco_rpc_stream_send(j->call, &c.base);
    if (rc == 0)
        j->chunks_sent++;
    if (s != small)
        free(s);
    return rc;
}

void job_answer_stream_end(job_t *j)
{
    /* Engines stream about one token per event (Triton exactly one): the best count when the
     * engine reports none. */
    j->res.inferred_tokens = j->deltas;
    Eco__Ai__V1__Usage u = ECO__AI__V1__USAGE__INIT;
    job_usage(j, &u, j->res.has_prompt_tokens, j->res.prompt_tokens, j->res.has_completion_tokens,
              j->res.completion_tokens, j->out_bytes);
    Eco__Ai__V1__CompletionChunk c = ECO__AI__V1__COMPLETION_CHUNK__INIT;
    c.delta = "";
    uint32_t known = j->res.has_completion_tokens ? j->res.completion_tokens : j->res.inferred_tokens;
    c.finish_reason = (char *)finish_of(j, known);
    c.usage = &u;
    if (!j->chunks_sent)
        c.model = j->model;
    job_end_call(j, &c.base, GRPC_STATUS_OK, NULL, NULL, 0);
}

void job_answer_embeddings(job_t *j)
{
    adapter_t *a = j->a;
    const Eco__Ai__V1__EmbeddingRequest *req = (const Eco__Ai__V1__EmbeddingRequest *)j->req;
    eco_engine_embeddings_t out;
    eco_engine_error_t e;
    if (eco_engine_parse_embeddings(a->kind, j->http.wire, j->body.base, j->body.len, &out, &e) != 0) {
        job_fail(j, &e);
        return;
    }
    if (out.n != req->n_input) {
        eco_engine_embeddings_free(&out);
        eco_engine_error_set(&e, GRPC_STATUS_INTERNAL, "malformed_response",
                             "the engine answered %zu vectors for %zu inputs", out.n, req->n_input);
        job_fail(j, &e);
        return;
    }
    Eco__Ai__V1__Embedding *items = eco_calloc(out.n, sizeof(*items));
    Eco__Ai__V1__Embedding **ptrs = eco_calloc(out.n, sizeof(*ptrs));
    for (size_t i = 0; i < out.n; i++) {
        eco__ai__v1__embedding__init(&items[i]);
        items[i].index = (uint32_t)i;
        items[i].n_values = out.v[i].n;
        items[i].values = out.v[i].values;
        ptrs[i] = &items[i];
    }
    pthread_mutex_lock(&a->lock);
    a->embedding_dim = (uint32_t)out.v[0].n;
    pthread_mutex_unlock(&a->lock);
    Eco__Ai__V1__Usage u = ECO__AI__V1__USAGE__INIT;
    u.prompt_tokens = out.has_prompt_tokens ? out.prompt_tokens : eco_engine_estimate_tokens(j->prompt_bytes);
    u.total_tokens = u.prompt_tokens;
    u.estimated = !out.has_prompt_tokens;
    eco_metrics_add(a->m_tokens, (double)u.prompt_tokens, a->kind->name, "prompt");
    Eco__Ai__V1__EmbeddingResponse resp = ECO__AI__V1__EMBEDDING_RESPONSE__INIT;
    resp.n_data = out.n;
    resp.data = ptrs;
    resp.model = (char *)model_of(j, out.model);
    resp.usage = &u;
    job_end_call(j, &resp.base, GRPC_STATUS_OK, NULL, NULL, 0);
    free(ptrs);
    free(items);
    eco_engine_embeddings_free(&out);
}

/* Metadata values must be printable ASCII; engine codes are also kept short and plain. */
static void md_safe(char *dst, size_t cap, const char *src)
{
    size_t j = 0;
    for (; *src && j + 1 < cap; src++) {
        char c = *src;
        dst[j++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
                           c == '.'
                       ? c
                       : '_';
    }
    dst[j] = '\0';
}

void job_fail(job_t *j, const eco_engine_error_t *e)
{
    adapter_t *a = j->a;
    if (!j->call) {
        job_cancel_upstream(j);
        return;
    }
    char details[ECO_RPC_MAX_DETAILS];
    eco_engine_error_details(e, a->kind->name, details, sizeof(details));
    eco_rpc_md_t md[3];
    size_t n = 0;
    char retry[24], code[64];
    long ra = e->retry_after_s >= 0 ? e->retry_after_s : j->retry_after_s;
    if (e->status == GRPC_STATUS_RESOURCE_EXHAUSTED ||
        (e->status == GRPC_STATUS_UNAVAILABLE && (ra >= 0 || e->loading))) {
        snprintf(retry, sizeof(retry), "%ld", ra >= 0 ? ra : 1);
        md[n++] = (eco_rpc_md_t){"retry-after", retry, 0};
    }
    if (e->reason)
        md[n++] = (eco_rpc_md_t){"eco-error-reason", e->reason, 0};
    if (e->code[0]) {
        md_safe(code, sizeof(code), e->code);
        md[n++] = (eco_rpc_md_t){"eco-engine-code", code, 0};
    }
    if (e->reason && strcmp(e->reason, "stream_cut") == 0)
        eco_metrics_inc(a->m_cuts, a->kind->name);
    job_cancel_upstream(j); /* first, so the engine stops generating at once */
    job_end_call(j, NULL, e->status, details, md, n);
}
