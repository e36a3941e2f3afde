/* Complete responses and the one error-body shape. */
#include "eco_http.h"

#include <string.h>

void eco_http_add_header(eco_http_call_t *call, const char *name, const char *value)
{
    h2o_req_t *req = call->req;
    size_t nl = strlen(name), vl = strlen(value);
    char *n = h2o_mem_alloc_pool(&req->pool, nl);
    memcpy(n, name, nl);
    char *v = h2o_mem_alloc_pool(&req->pool, vl);
    memcpy(v, value, vl);
    h2o_add_header_by_str(&req->pool, &req->res.headers, n, nl, 1, NULL, v, vl);
}

const char *eco_http_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Status";
    }
}

void eco_http_send(eco_http_call_t *call, int status, const char *content_type, const char *body, size_t len)
{
    h2o_req_t *req = call->req;
    req->res.status = status;
    req->res.reason = eco_http_reason(status);
    req->res.content_length = len;
    const char *ct = content_type ? content_type : "application/json";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ct, strlen(ct));
    h2o_send_inline(req, body, len);
}

void eco_http_send_json(eco_http_call_t *call, int status, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(body);
    if (!s)
        eco_fatal("json_dumps failed");
    eco_http_send(call, status, NULL, s, strlen(s));
    free(s);
}

static const char *type_for(int status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 409:
        return "conflict_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 503:
        return "service_unavailable";
    case 504:
        return "timeout_error";
    default:
        return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

void eco_http_send_error(eco_http_call_t *call, int status, const char *code, const char *param, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    eco_buf_t b;
    eco_buf_init(&b, 4096);
    eco_buf_adds(&b, "{\"error\":{\"message\":");
    eco_buf_add_json_str(&b, msg, (size_t)-1);
    eco_buf_adds(&b, ",\"type\":");
    eco_buf_add_json_str(&b, type_for(status), (size_t)-1);
    eco_buf_adds(&b, ",\"param\":");
    if (param)
        eco_buf_add_json_str(&b, param, (size_t)-1);
    else
        eco_buf_adds(&b, "null");
    eco_buf_adds(&b, ",\"code\":");
    if (code)
        eco_buf_add_json_str(&b, code, (size_t)-1);
    else
        eco_buf_adds(&b, "null");
    eco_buf_adds(&b, ",\"request_id\":");
    eco_buf_add_json_str(&b, call->request_id, (size_t)-1);
    eco_buf_adds(&b, "}}");
    eco_http_send(call, status, NULL, b.base, b.len);
    eco_buf_free(&b);
}
