/* OpenAI request bodies -> eco.ai.v1 messages, with a 400 naming the field for anything wrong
 * and a clear refusal of what eco-base does not do (n > 1, tools, logprobs, token-id input). */
#include "oai.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

__attribute__((format(printf, 4, 5))) static int bad(oai_err_t *e, const char *code, const char *param, const char *fmt,
                                                     ...)
{
    e->status = 400;
    e->code = code;
    snprintf(e->param, sizeof(e->param), "%s", param);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return -1;
}

static int want_number(json_t *v, const char *name, double min, double max, double *out, oai_err_t *e)
{
    if (!json_is_number(v))
        return bad(e, "invalid_type", name, "%s: expected a number", name);
    double d = json_number_value(v);
    if (!isfinite(d) || d < min || d > max)
        return bad(e, "invalid_value", name, "%s: %g is out of range [%g, %g]", name, d, min, max);
    *out = d;
    return 0;
}

static int want_int(json_t *v, const char *name, long long min, long long max, long long *out, oai_err_t *e)
{
    if (!json_is_integer(v))
        return bad(e, "invalid_type", name, "%s: expected an integer", name);
    long long x = json_integer_value(v);
    if (x < min || x > max)
        return bad(e, "invalid_value", name, "%s: %lld is out of range [%lld, %lld]", name, x, min, max);
    *out = x;
    return 0;
}

/* Fields eco-base refuses rather than ignores: present and not their neutral value. */
static int refuse_unsupported(json_t *root, oai_err_t *e)
{
    static const char *const always[] = {"tools", "functions",  "tool_choice", "function_call",
                                         "audio", "prediction", "suffix",      "top_logprobs"};
    for (size_t i = 0; i < sizeof(always) / sizeof(*always); i++) {
        json_t *v = json_object_get(root, always[i]);
        if (v && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0))
            return bad(e, "unsupported_parameter", always[i], "%s is not supported by eco-base", always[i]);
    }
    json_t *v = json_object_get(root, "logprobs");
    if (v && !json_is_null(v) && !json_is_false(v))
        return bad(e, "unsupported_parameter", "logprobs", "logprobs is not supported by eco-base");
    v = json_object_get(root, "logit_bias");
    if (v && !json_is_null(v) && !(json_is_object(v) && json_object_size(v) == 0))
        return bad(e, "unsupported_parameter", "logit_bias", "logit_bias is not supported by eco-base");
    v = json_object_get(root, "echo");
    if (v && !json_is_null(v) && !json_is_false(v))
        return bad(e, "unsupported_parameter", "echo", "echo is not supported by eco-base");
    v = json_object_get(root, "best_of");
    if (v && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) == 1))
        return bad(e, "unsupported_parameter", "best_of", "best_of other than 1 is not supported by eco-base");
    v = json_object_get(root, "response_format");
    if (v && !json_is_null(v)) {
        json_t *t = json_is_object(v) ? json_object_get(v, "type") : NULL;
        if (!json_is_string(t))
            return bad(e, "invalid_type", "response_format", "response_format: expected an object with a type");
        if (strcmp(json_string_value(t), "text") != 0)
            return bad(e, "unsupported_parameter", "response_format.type",
                       "response_format.type \"%s\" is not supported by eco-base (only \"text\")",
                       json_string_value(t));
    }
    return 0;
}

static int parse_sampling(json_t *root, oai_req_t *r, oai_err_t *e)
{
    Eco__Ai__V1__GenerateRequest *g = &r->gen;
    json_t *v;
    long long i;
    double d;
    if ((v = json_object_get(root, "n")) && !json_is_null(v)) {
        if (want_int(v, "n", 1, 128, &i, e) != 0)
            return -1;
        if (i != 1)
            return bad(e, "unsupported_parameter", "n", "n > 1 is not supported by eco-base: send %lld requests", i);
    }
    const char *mt = "max_tokens";
    if ((v = json_object_get(root, "max_completion_tokens")) && !json_is_null(v))
        mt = "max_completion_tokens";
    else
        v = json_object_get(root, "max_tokens");
    if (v && !json_is_null(v)) {
        if (want_int(v, mt, 1, 1000000, &i, e) != 0)
            return -1;
        g->_max_tokens_case = ECO__AI__V1__GENERATE_REQUEST___MAX_TOKENS_MAX_TOKENS;
        g->max_tokens = (uint32_t)i;
    }
    if ((v = json_object_get(root, "temperature")) && !json_is_null(v)) {
        if (want_number(v, "temperature", 0, 2, &d, e) != 0)
            return -1;
        g->_temperature_case = ECO__AI__V1__GENERATE_REQUEST___TEMPERATURE_TEMPERATURE;
        g->temperature = d;
    }
    if ((v = json_object_get(root, "top_p")) && !json_is_null(v)) {
        if (want_number(v, "top_p", 0, 1, &d, e) != 0)
            return -1;
        g->_top_p_case = ECO__AI__V1__GENERATE_REQUEST___TOP_P_TOP_P;
        g->top_p = d;
    }
    if ((v = json_object_get(root, "presence_penalty")) && !json_is_null(v)) {
        if (want_number(v, "presence_penalty", -2, 2, &d, e) != 0)
            return -1;
        g->_presence_penalty_case = ECO__AI__V1__GENERATE_REQUEST___PRESENCE_PENALTY_PRESENCE_PENALTY;
        g->presence_penalty = d;
    }
    if ((v = json_object_get(root, "frequency_penalty")) && !json_is_null(v)) {
        if (want_number(v, "frequency_penalty", -2, 2, &d, e) != 0)
            return -1;
        g->_frequency_penalty_case = ECO__AI__V1__GENERATE_REQUEST___FREQUENCY_PENALTY_FREQUENCY_PENALTY;
        g->frequency_penalty = d;
    }
    if ((v = json_object_get(root, "seed")) && !json_is_null(v)) {
        if (want_int(v, "seed", INT64_MIN, INT64_MAX, &i, e) != 0)
            return -1;
        g->_seed_case = ECO__AI__V1__GENERATE_REQUEST___SEED_SEED;
        g->seed = i;
    }
    if ((v = json_object_get(root, "stop")) && !json_is_null(v)) {
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        if (!json_is_string(v) && !json_is_array(v))
            return bad(e, "invalid_type", "stop", "stop: expected a string or a list of strings");
        if (n > OAI_MAX_STOP)
            return bad(e, "invalid_value", "stop", "stop: at most %d sequences", OAI_MAX_STOP);
        r->stop = eco_calloc(n ? n : 1, sizeof(char *));
        for (size_t k = 0; k < n; k++) {
            json_t *s = json_is_array(v) ? json_array_get(v, k) : v;
            if (!json_is_string(s) || json_string_length(s) == 0)
                return bad(e, "invalid_value", "stop", "stop[%zu]: expected a non-empty string", k);
            r->stop[k] = (char *)json_string_value(s);
        }
        g->stop = r->stop;
        g->n_stop = n;
    }
    if ((v = json_object_get(root, "user")) && !json_is_null(v) && !json_is_string(v))
        return bad(e, "invalid_type", "user", "user: expected a string");
    if ((v = json_object_get(root, "stream")) && !json_is_null(v)) {
        if (!json_is_boolean(v))
            return bad(e, "invalid_type", "stream", "stream: expected a boolean");
        r->stream = json_is_true(v);
    }
    if ((v = json_object_get(root, "stream_options")) && !json_is_null(v)) {
        if (!r->stream)
            return bad(e, "invalid_value", "stream_options", "stream_options is only allowed when stream is true");
        if (!json_is_object(v))
            return bad(e, "invalid_type", "stream_options", "stream_options: expected an object");
        json_t *u = json_object_get(v, "include_usage");
        if (u && !json_is_null(u) && !json_is_boolean(u))
            return bad(e, "invalid_type", "stream_options.include_usage",
                       "stream_options.include_usage: expected a boolean");
        r->include_usage = json_is_true(u);
    }
    return 0;
}

/* content: a string, or a list of {"type":"text","text":...} parts (joined). */
static int message_content(oai_req_t *r, json_t *c, size_t i, char **out, oai_err_t *e)
{
    char param[48];
    snprintf(param, sizeof(param), "messages[%zu].content", i);
    if (json_is_string(c)) {
        *out = (char *)json_string_value(c);
        return 0;
    }
    if (!json_is_array(c))
        return bad(e, "invalid_type", param, "%s: expected a string or a list of text parts", param);
    eco_buf_t b;
    eco_buf_init(&b, 0);
    for (size_t k = 0; k < json_array_size(c); k++) {
        json_t *p = json_array_get(c, k);
        json_t *type = json_object_get(p, "type"), *text = json_object_get(p, "text");
        if (!json_is_string(type) || strcmp(json_string_value(type), "text") != 0 || !json_is_string(text)) {
            eco_buf_free(&b);
            return bad(e, "unsupported_parameter", param,
                       "%s[%zu]: only {\"type\":\"text\",\"text\":...} parts are supported", param, k);
        }
        eco_buf_add(&b, json_string_value(text), json_string_length(text));
    }
    if (b.len == 0) {
        eco_buf_free(&b);
        *out = "";
        return 0;
    }
    r->content_bufs[r->ncontent_bufs++] = *out = (char *)eco_buf_cstr(&b);
    return 0;
}

static int parse_messages(json_t *root, oai_req_t *r, oai_err_t *e)
{
    json_t *m = json_object_get(root, "messages");
    if (!m || json_is_null(m))
        return bad(e, "missing_required_parameter", "messages", "messages is required");
    if (!json_is_array(m))
        return bad(e, "invalid_type", "messages", "messages: expected a list");
    size_t n = json_array_size(m);
    if (n == 0)
        return bad(e, "invalid_value", "messages", "messages: at least one message is required");
    if (n > OAI_MAX_MESSAGES)
        return bad(e, "invalid_value", "messages", "messages: at most %d messages", OAI_MAX_MESSAGES);
    r->msgs = eco_calloc(n, sizeof(*r->msgs));
    r->msgp = eco_calloc(n, sizeof(*r->msgp));
    r->content_bufs = eco_calloc(n, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        json_t *msg = json_array_get(m, i);
        char param[48];
        snprintf(param, sizeof(param), "messages[%zu]", i);
        if (!json_is_object(msg))
            return bad(e, "invalid_type", param, "%s: expected an object", param);
        json_t *role = json_object_get(msg, "role");
        snprintf(param, sizeof(param), "messages[%zu].role", i);
        if (!json_is_string(role))
            return bad(e, role ? "invalid_type" : "missing_required_parameter", param,
                       "%s: expected one of system, "
                       "developer, user, assistant, tool",
                       param);
        const char *rv = json_string_value(role);
        if (strcmp(rv, "developer") == 0)
            rv = "system";
        if (strcmp(rv, "system") && strcmp(rv, "user") && strcmp(rv, "assistant") && strcmp(rv, "tool"))
            return bad(e, "invalid_value", param, "%s: \"%s\" is not one of system, developer, user, assistant, tool",
                       param, json_string_value(role));
        json_t *tc = json_object_get(msg, "tool_calls");
        if (tc && !json_is_null(tc)) {
            snprintf(param, sizeof(param), "messages[%zu].tool_calls", i);
            return bad(e, "unsupported_parameter", param, "%s: tool calls are not supported by eco-base", param);
        }
        json_t *name = json_object_get(msg, "name");
        if (name && !json_is_null(name) && !json_is_string(name)) {
            snprintf(param, sizeof(param), "messages[%zu].name", i);
            return bad(e, "invalid_type", param, "%s: expected a string", param);
        }
        json_t *c = json_object_get(msg, "content");
        char *content = "";
        if (!c || json_is_null(c)) {
            snprintf(param, sizeof(param), "messages[%zu].content", i);
            return bad(e, "missing_required_parameter", param, "%s is required", param);
        }
        if (message_content(r, c, i, &content, e) != 0)
            return -1;
        eco__ai__v1__chat_message__init(&r->msgs[i]);
        r->msgs[i].role = (char *)rv;
        r->msgs[i].content = content;
        r->msgp[i] = &r->msgs[i];
    }
    r->gen.messages = r->msgp;
    r->gen.n_messages = n;
    return 0;
}

/* A string or a non-empty list of strings (token-id lists are refused). */
static int string_list(json_t *v, const char *name, size_t max, const char ***out, size_t *n, oai_err_t *e)
{
    if (!v || json_is_null(v))
        return bad(e, "missing_required_parameter", name, "%s is required", name);
    if (json_is_string(v)) {
        *out = eco_calloc(1, sizeof(char *));
        (*out)[0] = json_string_value(v);
        *n = 1;
        return 0;
    }
    if (!json_is_array(v))
        return bad(e, "invalid_type", name, "%s: expected a string or a list of strings", name);
    size_t k = json_array_size(v);
    if (k == 0)
        return bad(e, "invalid_value", name, "%s: the list is empty", name);
    if (k > max)
        return bad(e, "invalid_value", name, "%s: at most %zu items", name, max);
    *out = eco_calloc(k, sizeof(char *));
    for (size_t i = 0; i < k; i++) {
        json_t *s = json_array_get(v, i);
        if (json_is_integer(s) || json_is_array(s))
            return bad(e, "unsupported_parameter", name, "%s: token-id input is not supported by eco-base; send text",
                       name);
        if (!json_is_string(s)) {
            char p[48];
            snprintf(p, sizeof(p), "%s[%zu]", name, i);
            return bad(e, "invalid_type", name, "%s: expected a string", p);
        }
        (*out)[i] = json_string_value(s);
    }
    *n = k;
    return 0;
}

static int parse_embedding(json_t *root, oai_req_t *r, oai_err_t *e)
{
    size_t n;
    if (string_list(json_object_get(root, "input"), "input", OAI_MAX_INPUTS, &r->prompts, &n, e) != 0)
        return -1;
    r->nprompts = n;
    for (size_t i = 0; i < n; i++)
        if (r->prompts[i][0] == '\0')
            return bad(e, "invalid_value", "input", "input[%zu]: empty string", i);
    r->emb.input = (char **)r->prompts;
    r->emb.n_input = n;
    json_t *v;
    if ((v = json_object_get(root, "encoding_format")) && !json_is_null(v)) {
        if (!json_is_string(v))
            return bad(e, "invalid_type", "encoding_format", "encoding_format: expected \"float\" or \"base64\"");
        if (strcmp(json_string_value(v), "base64") == 0)
            r->base64 = 1;
        else if (strcmp(json_string_value(v), "float") != 0)
            return bad(e, "invalid_value", "encoding_format", "encoding_format: \"%s\" is not \"float\" or \"base64\"",
                       json_string_value(v));
    }
    if ((v = json_object_get(root, "dimensions")) && !json_is_null(v)) {
        long long d;
        if (want_int(v, "dimensions", 1, 65536, &d, e) != 0)
            return -1;
        r->emb.dimensions = (uint32_t)d;
    }
    if ((v = json_object_get(root, "user")) && !json_is_null(v) && !json_is_string(v))
        return bad(e, "invalid_type", "user", "user: expected a string");
    return 0;
}

int oai_req_parse(oai_kind_t kind, json_t *root, oai_req_t *r, oai_err_t *e)
{
    memset(r, 0, sizeof(*r));
    memset(e, 0, sizeof(*e));
    r->kind = kind;
    r->root = json_incref(root);
    eco__ai__v1__generate_request__init(&r->gen);
    eco__ai__v1__embedding_request__init(&r->emb);
    if (!json_is_object(root))
        return bad(e, "invalid_type", "", "the request body must be a JSON object");
    json_t *model = json_object_get(root, "model");
    if (model && !json_is_null(model)) {
        if (!json_is_string(model))
            return bad(e, "invalid_type", "model", "model: expected a string");
        r->model = json_string_value(model);
    }
    if (kind == OAI_EMBEDDING)
        return parse_embedding(root, r, e);
    if (refuse_unsupported(root, e) != 0 || parse_sampling(root, r, e) != 0)
        return -1;
    if (kind == OAI_CHAT)
        return parse_messages(root, r, e);
    if (string_list(json_object_get(root, "prompt"), "prompt", OAI_MAX_PROMPTS, &r->prompts, &r->nprompts, e) != 0)
        return -1;
    if (r->stream && r->nprompts > 1)
        return bad(e, "unsupported_parameter", "prompt", "prompt: streaming accepts one prompt, not a list of %zu",
                   r->nprompts);
    r->gen.prompt = (char *)r->prompts[0];
    return 0;
}

void oai_req_free(oai_req_t *r)
{
    for (size_t i = 0; i < r->ncontent_bufs; i++)
        free(r->content_bufs[i]);
    free(r->content_bufs);
    free(r->msgs);
    free(r->msgp);
    free(r->stop);
    free(r->prompts);
    json_decref(r->root);
    memset(r, 0, sizeof(*r));
}
