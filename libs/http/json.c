/* JSON request bodies on jansson, with a nesting bound and precise error messages. */
#include "eco_http.h"

#include <string.h>

/* Returns the maximum nesting depth of arrays/objects, scanning outside strings. */
static int json_depth_exceeds(const char *s, size_t n, int max)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                return 1;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 0;
}

json_t *eco_http_json_parse(const char *buf, size_t len, char *err, size_t errlen)
{
    if (!buf || len == 0) {
        snprintf(err, errlen, "request body is empty; expected a JSON object");
        return NULL;
    }
    if (json_depth_exceeds(buf, len, ECO_HTTP_MAX_JSON_DEPTH)) {
        snprintf(err, errlen, "request body nests deeper than %d levels", ECO_HTTP_MAX_JSON_DEPTH);
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errlen, "request body is not valid JSON: %s (line %d, column %d)", je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        snprintf(err, errlen, "request body must be a JSON object");
        return NULL;
    }
    return root;
}

json_t *eco_http_json_body(eco_http_call_t *call)
{
    char err[256];
    json_t *root = eco_http_json_parse(call->req->entity.base, call->req->entity.len, err, sizeof(err));
    if (!root)
        eco_http_send_error(call, 400, "invalid_json", NULL, "%s", err);
    return root;
}
