/* Error answers of the OpenAI-compatible servers, one shape per engine (engines.md §1-§9),
 * plus the context-length check every engine performs in its own words. */
#include "sim.h"

#include <string.h>

static const char *vllm_type(int status)
{
    switch (status) {
    case 400:
        return "BadRequestError";
    case 401:
        return "UnauthorizedError";
    case 404:
        return "NotFoundError";
    case 429:
        return "TooManyRequestsError";
    case 501:
        return "NotImplementedError";
    case 503:
        return "ServiceUnavailableError";
    default:
        return status >= 500 ? "InternalServerError" : "BadRequestError";
    }
}

static const char *snake_type(sim_kind_t kind, int status)
{
    switch (status) {
    case 400:
        return "invalid_request_error";
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return kind == SIM_OPENAI ? "invalid_request_error" : "not_found_error";
    case 429:
        return kind == SIM_OPENAI ? "requests" : "rate_limit_error";
    case 501:
        return "not_supported_error";
    case 503:
        if (kind == SIM_LLAMACPP)
            return "unavailable_error";
        return kind == SIM_OLLAMA ? "api_error" : "server_error";
    default:
        if (status >= 500)
            return kind == SIM_OLLAMA ? "api_error" : "server_error";
        return "invalid_request_error";
    }
}

void sim_oai_error_body(sim_kind_t kind, eco_buf_t *b, int status, const char *code, const char *msg)
{
    switch (kind) {
    case SIM_TGI:
        eco_buf_adds(b, "{");
        sim_kv_str(b, "error", msg, (size_t)-1);
        eco_buf_adds(b, ",");
        sim_kv_str(b, "error_type",
                   code            ? code
                   : status == 429 ? "overloaded"
                   : status >= 500 ? "generation"
                                   : "validation",
                   (size_t)-1);
        eco_buf_adds(b, "}");
        return;
    case SIM_SGLANG:
    case SIM_TRTLLM:
        eco_buf_adds(b, "{\"object\":\"error\",");
        sim_kv_str(b, "message", msg, (size_t)-1);
        eco_buf_addf(b, ",\"type\":\"%s\",\"param\":null,\"code\":%d}", vllm_type(status), status);
        return;
    case SIM_LMDEPLOY:
        eco_buf_adds(b, "{");
        sim_kv_str(b, "message", msg, (size_t)-1);
        eco_buf_addf(b, ",\"type\":\"%s\",\"code\":%d,\"param\":null,\"object\":\"error\"}", snake_type(kind, status),
                     status);
        return;
    case SIM_MII:
        eco_buf_adds(b, "{\"object\":\"error\",");
        sim_kv_str(b, "message", msg, (size_t)-1);
        eco_buf_addf(b, ",\"code\":%d}", status);
        return;
    case SIM_LLAMACPP:
        eco_buf_addf(b, "{\"error\":{\"code\":%d,", status);
        sim_kv_str(b, "message", msg, (size_t)-1);
        eco_buf_addf(b, ",\"type\":\"%s\"}}", code ? code : snake_type(kind, status));
        return;
    case SIM_VLLM:
        eco_buf_adds(b, "{\"error\":{");
        sim_kv_str(b, "message", msg, (size_t)-1);
        eco_buf_addf(b, ",\"type\":\"%s\",\"param\":null,\"code\":%d}}", vllm_type(status), status);
        return;
    default: /* OpenAI itself, Ollama's compatibility layer: code is a string or null */
        eco_buf_adds(b, "{\"error\":{");
        sim_kv_str(b, "message", msg, (size_t)-1);
        eco_buf_addf(b, ",\"type\":\"%s\",\"param\":null,\"code\":", snake_type(kind, status));
        if (code && kind == SIM_OPENAI)
            eco_buf_add_json_str(b, code, (size_t)-1);
        else
            eco_buf_adds(b, "null");
        eco_buf_adds(b, "}}");
        return;
    }
}

static int default_status(sim_kind_t kind, sim_err_t err)
{
    switch (err) {
    case SIM_ERR_INVALID:
        return kind == SIM_TGI ? 422 : 400;
    case SIM_ERR_NOT_FOUND:
        return kind == SIM_MII ? 400 : 404;
    case SIM_ERR_OVERLOADED:
        if (kind == SIM_MII)
            return 400;
        return kind == SIM_TGI || kind == SIM_OPENAI ? 429 : 503;
    case SIM_ERR_LOADING:
        return 503;
    case SIM_ERR_INTERNAL:
        return 500;
    default:
        return 500;
    }
}

static const char *default_message(sim_kind_t kind, sim_err_t err)
{
    switch (err) {
    case SIM_ERR_OVERLOADED:
        switch (kind) {
        case SIM_TGI:
            return "Model is overloaded";
        case SIM_OLLAMA:
            return "server busy, please try again.  maximum pending requests exceeded";
        case SIM_OPENAI:
            return "Rate limit reached for requests. Please try again later.";
        default:
            return "The server is overloaded: too many requests are running or queued.";
        }
    case SIM_ERR_LOADING:
        return kind == SIM_LLAMACPP ? "Loading model" : "The model is loading; the engine is not ready.";
    case SIM_ERR_NOT_FOUND:
        return "The model does not exist.";
    case SIM_ERR_INTERNAL:
        return "Internal server error";
    default:
        return "Bad request";
    }
}

void sim_oai_error(sim_job_t *j, sim_err_t err, int status, const char *msg)
{
    sim_kind_t kind = j->sim->o.kind;
    if (!status)
        status = default_status(kind, err);
    if (!msg)
        msg = default_message(kind, err);
    const char *code = NULL;
    if (kind == SIM_TGI)
        code = err == SIM_ERR_OVERLOADED ? "overloaded" : err == SIM_ERR_LOADING ? "healthcheck" : NULL;
    else if (kind == SIM_OPENAI)
        code = err == SIM_ERR_NOT_FOUND ? "model_not_found" : err == SIM_ERR_OVERLOADED ? "rate_limit_exceeded" : NULL;
    eco_buf_t b;
    eco_buf_init(&b, 0);
    /* TGI reports errors found once the stream has begun as an event of a 200 stream. */
    if (kind == SIM_TGI && j->stream && err == SIM_ERR_OVERLOADED) {
        eco_buf_adds(&b, "data:{\"error\":{");
        sim_kv_str(&b, "message", msg, (size_t)-1);
        eco_buf_addf(&b, ",\"http_status_code\":%d}}\n\n", status);
        eco_sse_t *w = eco_http_stream_start(j->call, "text/event-stream", 0, 0, NULL, NULL);
        eco_sse_raw(w, b.base, b.len);
        eco_sse_end(w);
        eco_buf_free(&b);
        return;
    }
    if (kind == SIM_TRTLLM && err == SIM_ERR_INVALID) { /* trtllm-serve's request-validation handler */
        eco_buf_adds(&b, "{");
        sim_kv_str(&b, "error", msg, (size_t)-1);
        eco_buf_adds(&b, "}");
    } else {
        sim_oai_error_body(kind, &b, status, code, msg);
    }
    eco_http_send(j->call, status, NULL, b.base, b.len);
    eco_buf_free(&b);
}

int sim_check_context(sim_job_t *j, long prompt_tokens, long max_tokens)
{
    long limit = j->sim->o.max_model_len;
    long want = prompt_tokens + (max_tokens > 0 ? max_tokens : 0);
    if (prompt_tokens <= limit && want <= limit)
        return 0;
    sim_kind_t kind = j->sim->o.kind;
    eco_buf_t b;
    eco_buf_init(&b, 0);
    char msg[400];
    int status = 400;
    switch (kind) {
    case SIM_TGI:
        status = 422;
        snprintf(msg, sizeof(msg),
                 "Input validation error: `inputs` tokens + `max_new_tokens` must be <= %ld. Given: %ld `inputs` "
                 "tokens and %ld `max_new_tokens`",
                 limit, prompt_tokens, max_tokens > 0 ? max_tokens : 0);
        sim_oai_error_body(kind, &b, status, "validation", msg);
        break;
    case SIM_LLAMACPP:
        snprintf(msg, sizeof(msg), "the request exceeds the available context size, try increasing it");
        eco_buf_addf(&b, "{\"error\":{\"code\":400,");
        sim_kv_str(&b, "message", msg, (size_t)-1);
        eco_buf_addf(&b, ",\"type\":\"exceed_context_size_error\",\"n_prompt_tokens\":%ld,\"n_ctx\":%ld}}",
                     prompt_tokens, limit);
        break;
    case SIM_SGLANG:
        if (prompt_tokens > limit)
            snprintf(msg, sizeof(msg), "Input length (%ld tokens) exceeds the maximum allowed length (%ld tokens).",
                     prompt_tokens, limit);
        else
            snprintf(
                msg, sizeof(msg),
                "Requested token count exceeds the model's maximum context length of %ld tokens. You requested a "
                "total of %ld tokens: %ld tokens from the input messages and %ld tokens for the completion. Please "
                "reduce the number of tokens in the input messages or the completion to fit within the limit.",
                limit, want, prompt_tokens, want - prompt_tokens);
        sim_oai_error_body(kind, &b, status, NULL, msg);
        break;
    default:
        snprintf(msg, sizeof(msg),
                 "This model's maximum context length is %ld tokens. However, you requested %ld tokens (%ld in the "
                 "messages, %ld in the completion). Please reduce the length of the messages or completion.",
                 limit, want, prompt_tokens, want - prompt_tokens);
        if (kind == SIM_OPENAI) { /* OpenAI names the offending field */
            eco_buf_adds(&b, "{\"error\":{");
            sim_kv_str(&b, "message", msg, (size_t)-1);
            eco_buf_adds(&b, ",\"type\":\"invalid_request_error\",\"param\":\"messages\","
                             "\"code\":\"context_length_exceeded\"}}");
        } else {
            sim_oai_error_body(kind, &b, status, "context_length_exceeded", msg);
        }
        break;
    }
    j->sim->st.failed++;
    j->state = SIM_JOB_DONE;
    eco_http_send(j->call, status, NULL, b.base, b.len);
    eco_buf_free(&b);
    return -1;
}
