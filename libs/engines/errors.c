/* Engine errors: every error shape of engines.md, classified into gRPC status codes. */
#include "engines_internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <string.h>

static int has_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = hay; *p; p++)
        if (strncasecmp(p, needle, n) == 0)
            return 1;
    return 0;
}

static int any_ci(const char *hay, const char *const *needles, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (has_ci(hay, needles[i]))
            return 1;
    return 0;
}

static int is_one_of(const char *s, const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(s, v[i]) == 0)
            return 1;
    return 0;
}

/* Copies s[0..n) as printable text: control bytes become spaces, no UTF-8 sequence is cut. */
static void copy_text(char *dst, size_t cap, const char *s, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[j++] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    if (j + 1 >= cap && n > j) /* truncated: back up over a partial UTF-8 sequence */
        while (j > 0 && ((unsigned char)dst[j - 1] & 0xC0) == 0x80)
            j--;
    if (j > 0 && ((unsigned char)dst[j - 1] & 0xC0) == 0xC0 && n > j)
        j--;
    dst[j] = '\0';
    while (j > 0 && dst[j - 1] == ' ')
        dst[--j] = '\0';
}

static void classify(const eco_engine_kind_t *k, eco_engine_error_t *e)
{
    static const char *const ctx_codes[] = {"context_length_exceeded", "exceed_context_size_error"};
    static const char *const ctx_text[] = {"maximum context length",
                                           "context length",
                                           "context size",
                                           "exceeds the maximum allowed length",
                                           "`inputs` tokens + `max_new_tokens`",
                                           "must have less than",
                                           "maximum sequence length",
                                           "input is too long",
                                           "prompt is too long",
                                           "exceeds the model maximum"};
    static const char *const busy_codes[] = {"overloaded", "rate_limit_exceeded", "rate_limit_error",
                                             "TooManyRequestsError"};
    static const char *const busy_text[] = {"overloaded",    "server busy",     "too many requests",
                                            "queue is full", "maximum pending", "maximum queue size",
                                            "rate limit"};
    static const char *const load_text[] = {"loading", "is starting", "not ready", "warming up"};
    static const char *const nf_codes[] = {"model_not_found", "not_found_error", "NotFoundError"};
    static const char *const nf_text[] = {"does not exist", "not found"};
    int st = e->http_status;
    const char *m = e->message, *c = e->code;
    e->loading = 0;
    if (is_one_of(c, ctx_codes, ECO_ARRAY_SIZE(ctx_codes)) ||
        (st < 500 && any_ci(m, ctx_text, ECO_ARRAY_SIZE(ctx_text)))) {
        e->status = GRPC_STATUS_INVALID_ARGUMENT;
        e->reason = "context_length_exceeded";
    } else if (st == 429 || is_one_of(c, busy_codes, ECO_ARRAY_SIZE(busy_codes)) ||
               any_ci(m, busy_text, ECO_ARRAY_SIZE(busy_text))) {
        e->status = GRPC_STATUS_RESOURCE_EXHAUSTED;
        e->reason = "overloaded";
    } else if ((st == 503 || (k && st == k->not_ready_status)) &&
               (strcasecmp(c, "healthcheck") == 0 || any_ci(m, load_text, ECO_ARRAY_SIZE(load_text)))) {
        e->status = GRPC_STATUS_UNAVAILABLE;
        e->reason = "engine_loading";
        e->loading = 1;
    } else if (st == 404 && !is_one_of(c, nf_codes, ECO_ARRAY_SIZE(nf_codes)) && !strcasestr(m, "model")) {
        /* A 404 that names no model is the route itself missing (e.g. FastAPI's {"detail":
         * "Not Found"}): the engine does not speak the configured kind's API. */
        e->status = GRPC_STATUS_UNIMPLEMENTED;
        e->reason = "endpoint_not_found";
        if (!m[0] || strcasecmp(m, "not found") == 0)
            snprintf(e->message, sizeof(e->message),
                     "the engine has no such endpoint; does ECO_ENGINE_KIND match the engine's API?");
    } else if (st == 404 || is_one_of(c, nf_codes, ECO_ARRAY_SIZE(nf_codes)) ||
               ((st == 400 || st == 422) && any_ci(m, nf_text, ECO_ARRAY_SIZE(nf_text)))) {
        e->status = GRPC_STATUS_NOT_FOUND;
        e->reason = "model_not_found";
    } else {
        switch (st) {
        case 400:
        case 413:
        case 422:
            e->status = GRPC_STATUS_INVALID_ARGUMENT;
            e->reason = "invalid_request";
            break;
        case 401:
        case 403: /* the adapter's credentials, not the caller's: this backend is unusable */
            e->status = GRPC_STATUS_UNAVAILABLE;
            e->reason = "engine_auth";
            break;
        case 408:
        case 504:
            e->status = GRPC_STATUS_DEADLINE_EXCEEDED;
            e->reason = "engine_timeout";
            break;
        case 409:
            e->status = GRPC_STATUS_ABORTED;
            e->reason = "conflict";
            break;
        case 499:
            e->status = GRPC_STATUS_CANCELLED;
            e->reason = "cancelled";
            break;
        case 501:
            e->status = GRPC_STATUS_UNIMPLEMENTED;
            e->reason = "unimplemented";
            break;
        case 502:
        case 503:
            e->status = GRPC_STATUS_UNAVAILABLE;
            e->reason = "engine_unavailable";
            break;
        default:
            e->status = GRPC_STATUS_INTERNAL;
            e->reason = "engine_error";
            break;
        }
    }
}

/* TGI names the class of a streamed error instead of a status. */
static int status_of_type(const char *type)
{
    static const struct {
        const char *type;
        int status;
    } map[] = {{"validation", 422},
               {"overloaded", 429},
               {"generation", 500},
               {"incomplete_generation", 500},
               {"healthcheck", 503},
               {"invalid_request_error", 400},
               {"BadRequestError", 400},
               {"not_found_error", 404},
               {"NotFoundError", 404},
               {"unavailable_error", 503},
               {"exceed_context_size_error", 400}};
    for (size_t i = 0; i < ECO_ARRAY_SIZE(map); i++)
        if (strcmp(type, map[i].type) == 0)
            return map[i].status;
    return 0;
}

static void set_code(eco_engine_error_t *e, json_t *v)
{
    if (json_is_string(v) && !e->code[0])
        copy_text(e->code, sizeof(e->code), json_string_value(v), json_string_length(v));
}

void eco__engine_error_json(const eco_engine_kind_t *k, int http_status, json_t *root, eco_engine_error_t *e)
{
    memset(e, 0, sizeof(*e));
    e->retry_after_s = -1;
    int inner = 0;
    const char *msg = NULL;
    size_t mlen = 0;
    char *dumped = NULL;
    json_t *err = eco__json_get(root, "error");
    json_t *src = NULL; /* the object holding message/type/code */
    if (json_is_string(err)) {
        msg = json_string_value(err);
        mlen = json_string_length(err);
        set_code(e, eco__json_get(root, "error_type"));
    } else if (json_is_object(err)) {
        src = err;
    } else if (json_is_object(root)) {
        src = root;
    }
    if (src) {
        if (!msg)
            msg = eco__json_str(src, "message", &mlen);
        json_t *code = eco__json_get(src, "code");
        if (json_is_integer(code))
            inner = (int)json_integer_value(code);
        else
            set_code(e, code);
        set_code(e, eco__json_get(src, "type"));
        set_code(e, eco__json_get(src, "error_type"));
        uint32_t hs;
        if (eco__json_u32(src, "http_status_code", &hs))
            inner = (int)hs;
        if (!msg) {
            json_t *detail = eco__json_get(src, "detail");
            if (json_is_string(detail)) {
                msg = json_string_value(detail);
                mlen = json_string_length(detail);
            } else if (detail) {
                dumped = json_dumps(detail, JSON_COMPACT);
                msg = dumped;
                mlen = dumped ? strlen(dumped) : 0;
            }
        }
    }
    if (msg)
        copy_text(e->message, sizeof(e->message), msg, mlen);
    free(dumped);
    if (inner < 400 || inner > 599)
        inner = e->code[0] ? status_of_type(e->code) : 0;
    e->http_status = http_status >= 400 ? http_status : inner ? inner : http_status;
    classify(k, e);
}

void eco_engine_error_from_http(const eco_engine_kind_t *k, int http_status, const char *body, size_t len,
                                eco_engine_error_t *e)
{
    json_t *root = len <= ECO_ENGINE_MAX_RESPONSE_BODY ? eco__engine_json(body, len) : NULL;
    if (json_is_object(root)) {
        eco__engine_error_json(k, http_status, root, e);
        json_decref(root);
        return;
    }
    json_decref(root);
    memset(e, 0, sizeof(*e));
    e->retry_after_s = -1;
    e->http_status = http_status;
    if (body)
        copy_text(e->message, sizeof(e->message), body, len < 300 ? len : 300);
    classify(k, e);
}

void eco_engine_error_set(eco_engine_error_t *e, grpc_status_code status, const char *reason, const char *fmt, ...)
{
    memset(e, 0, sizeof(*e));
    e->retry_after_s = -1;
    e->status = status;
    e->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
}

static const char *phrase(const char *reason)
{
    static const struct {
        const char *reason, *phrase;
    } map[] = {{"engine_loading", "engine loading"},
               {"overloaded", "engine overloaded"},
               {"model_not_found", "model not found"},
               {"endpoint_not_found", "engine endpoint not found"},
               {"invalid_request", "invalid request"},
               {"stream_cut", "stream cut"},
               {"malformed_response", "malformed engine response"},
               {"engine_unavailable", "engine unavailable"},
               {"engine_error", "engine error"}};
    for (size_t i = 0; i < ECO_ARRAY_SIZE(map); i++)
        if (strcmp(reason, map[i].reason) == 0)
            return map[i].phrase;
    return reason;
}

void eco_engine_error_details(const eco_engine_error_t *e, const char *kind, char *out, size_t n)
{
    if (!n)
        return;
    const char *what = phrase(e->reason ? e->reason : "engine_error");
    int w = e->message[0] ? snprintf(out, n, "%s: %s", what, e->message) : snprintf(out, n, "%s", what);
    if (w < 0 || (size_t)w >= n || e->http_status <= 0)
        return;
    snprintf(out + w, n - (size_t)w, " [%s HTTP %d%s%s]", kind ? kind : "engine", e->http_status,
             e->code[0] ? ", " : "", e->code);
}
