/* Small helpers shared by the engine families: typed JSON field access, chat rendering,
 * JSON output pieces, ids and timestamps. */
#include "sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    default:
        return "null";
    }
}

int sim_get_str(json_t *obj, const char *key, const char **out, size_t *len, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        snprintf(err, errlen, "`%s` must be a string, got %s", key, type_name(v));
        return -1;
    }
    *out = json_string_value(v);
    if (len)
        *len = json_string_length(v);
    return 1;
}

int sim_get_int(json_t *obj, const char *key, long *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (json_is_integer(v)) {
        *out = (long)json_integer_value(v);
        return 1;
    }
    /* Python servers accept 16.0 for an int field; a fractional value is an error. */
    if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v) && fabs(json_real_value(v)) < 1e15) {
        *out = (long)json_real_value(v);
        return 1;
    }
    snprintf(err, errlen, "`%s` must be an integer, got %s", key, type_name(v));
    return -1;
}

int sim_get_num(json_t *obj, const char *key, double *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v)) {
        snprintf(err, errlen, "`%s` must be a number, got %s", key, type_name(v));
        return -1;
    }
    *out = json_number_value(v);
    return 1;
}

int sim_get_bool(json_t *obj, const char *key, int *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v)) {
        snprintf(err, errlen, "`%s` must be a boolean, got %s", key, type_name(v));
        return -1;
    }
    *out = json_is_true(v);
    return 1;
}

int sim_content_text(json_t *content, eco_buf_t *out, char *err, size_t errlen)
{
    if (!content || json_is_null(content))
        return 0;
    if (json_is_string(content)) {
        eco_buf_add(out, json_string_value(content), json_string_length(content));
        return 0;
    }
    if (!json_is_array(content)) {
        snprintf(err, errlen, "`content` must be a string or an array of parts, got %s", type_name(content));
        return -1;
    }
    size_t i, ntext = 0;
    json_t *part;
    json_array_foreach(content, i, part)
    {
        json_t *type = json_object_get(part, "type");
        if (!json_is_object(part) || !json_is_string(type)) {
            snprintf(err, errlen, "content part %zu must be an object with a string `type`", i);
            return -1;
        }
        if (strcmp(json_string_value(type), "text") != 0)
            continue; /* images and other parts do not reach the generator */
        json_t *text = json_object_get(part, "text");
        if (!json_is_string(text)) {
            snprintf(err, errlen, "content part %zu: `text` must be a string", i);
            return -1;
        }
        if (ntext++)
            eco_buf_addc(out, '\n');
        eco_buf_add(out, json_string_value(text), json_string_length(text));
    }
    return 0;
}

int sim_messages_render(json_t *messages, eco_buf_t *out, char *err, size_t errlen)
{
    if (!json_is_array(messages) || json_array_size(messages) == 0) {
        snprintf(err, errlen, "`messages` must be a non-empty array");
        return -1;
    }
    size_t n = json_array_size(messages);
    if (n > 4096) {
        snprintf(err, errlen, "`messages` holds %zu messages; at most 4096", n);
        return -1;
    }
    /* Contents are flattened into one buffer first; msgs point into it once it stops moving. */
    eco_buf_t flat;
    eco_buf_init(&flat, 0);
    size_t *offs = eco_malloc(sizeof(size_t) * 2 * n);
    gen_msg_t *msgs = eco_malloc(sizeof(gen_msg_t) * n);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        json_t *m = json_array_get(messages, i);
        json_t *role = json_object_get(m, "role");
        if (!json_is_object(m) || !json_is_string(role)) {
            snprintf(err, errlen, "messages[%zu] must be an object with a string `role`", i);
            rc = -1;
            break;
        }
        msgs[i].role = json_string_value(role);
        msgs[i].role_len = json_string_length(role);
        offs[2 * i] = flat.len;
        char e2[160];
        if (sim_content_text(json_object_get(m, "content"), &flat, e2, sizeof(e2)) != 0) {
            snprintf(err, errlen, "messages[%zu]: %s", i, e2);
            rc = -1;
        }
        offs[2 * i + 1] = flat.len - offs[2 * i];
    }
    if (rc == 0 && !eco_buf_ok(&flat)) {
        snprintf(err, errlen, "`messages` is too large");
        rc = -1;
    }
    if (rc == 0) {
        const char *base = eco_buf_cstr(&flat);
        for (size_t i = 0; i < n; i++) {
            msgs[i].content = base + offs[2 * i];
            msgs[i].content_len = offs[2 * i + 1];
        }
        gen_chat_render(msgs, n, out);
    }
    free(msgs);
    free(offs);
    eco_buf_free(&flat);
    return rc;
}

void sim_add_floats(eco_buf_t *b, const float *v, size_t n)
{
    eco_buf_addc(b, '[');
    for (size_t i = 0; i < n; i++) {
        char tmp[32];
        int len = snprintf(tmp, sizeof(tmp), "%s%.9g", i ? "," : "", (double)v[i]);
        eco_buf_add(b, tmp, (size_t)len);
    }
    eco_buf_addc(b, ']');
}

void sim_add_embedding(eco_buf_t *b, const char *text, size_t len, size_t dim)
{
    float stackv[1024];
    float *v = dim <= 1024 ? stackv : eco_malloc(sizeof(float) * dim);
    gen_embed(text, len, v, dim);
    sim_add_floats(b, v, dim);
    if (v != stackv)
        free(v);
}

void sim_kv_str(eco_buf_t *b, const char *key, const char *s, size_t n)
{
    eco_buf_addc(b, '"');
    eco_buf_adds(b, key);
    eco_buf_adds(b, "\":");
    eco_buf_add_json_str(b, s, n);
}

void sim_rfc3339(double t, char out[64])
{
    time_t secs = (time_t)t;
    struct tm tm;
    gmtime_r(&secs, &tm);
    long ns = (long)((t - (double)secs) * 1e9);
    if (ns < 0)
        ns = 0;
    if (ns > 999999999)
        ns = 999999999;
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, ns);
}

void sim_make_id(char *out, size_t len, const char *prefix)
{
    char hex[33];
    eco_random_hex_id(hex);
    snprintf(out, len, "%s%s", prefix, hex);
}

int sim_model_is(const sim_t *sim, const char *name, size_t len)
{
    size_t ml = strlen(sim->o.model);
    if (ml == len && memcmp(sim->o.model, name, len) == 0)
        return 1;
    /* Ollama names are name:tag with "latest" as the default tag. */
    return sim->o.kind == SIM_OLLAMA && !memchr(name, ':', len) && ml == len + 7 &&
           memcmp(sim->o.model, name, len) == 0 && memcmp(sim->o.model + len, ":latest", 7) == 0;
}

void sim_send(eco_http_call_t *call, int status, const char *ctype, const char *body)
{
    eco_http_send(call, status, ctype, body, strlen(body));
}
