/* Method-aware router with {param} path segments. */
#include "eco_http.h"
#include "router.h"

#include <string.h>

int eco__router_add(eco__router_t *r, const char *method, const char *pattern, eco_http_handler_fn fn, void *data)
{
    if (r->nroutes >= ECO_HTTP_MAX_ROUTES || pattern[0] != '/')
        return ECO_EINVAL;
    eco_http_route_t *rt = &r->routes[r->nroutes];
    memset(rt, 0, sizeof(*rt));
    rt->method = method;
    rt->pattern = pattern;
    rt->fn = fn;
    rt->data = data;
    const char *p = pattern + 1;
    while (*p) {
        if (rt->nsegments >= ECO_ARRAY_SIZE(rt->segments))
            return ECO_EINVAL;
        rt->segments[rt->nsegments++] = p;
        const char *slash = strchr(p, '/');
        if (!slash)
            break;
        p = slash + 1;
    }
    r->nroutes++;
    return 0;
}

static size_t seg_len(const char *s)
{
    const char *slash = strchr(s, '/');
    return slash ? (size_t)(slash - s) : strlen(s);
}

/* Matches the path against one route's segments, filling params; 1 on a match. */
static int match_path(const eco_http_route_t *rt, const char *path, size_t len, eco_http_param_t *params,
                      size_t *nparams)
{
    size_t np = 0, i = 0, pos = 1;
    if (len == 0 || path[0] != '/')
        return 0;
    if (len == 1)
        return rt->nsegments == 0;
    while (pos <= len) {
        size_t end = pos;
        while (end < len && path[end] != '/')
            end++;
        if (i >= rt->nsegments)
            return 0;
        const char *seg = rt->segments[i];
        size_t sl = seg_len(seg);
        if (sl >= 2 && seg[0] == '{' && seg[sl - 1] == '}') {
            if (end == pos || np >= ECO_HTTP_MAX_PARAMS)
                return 0;
            params[np].name = seg + 1;
            params[np].value = h2o_iovec_init(path + pos, end - pos);
            np++;
        } else if (sl != end - pos || memcmp(seg, path + pos, sl) != 0) {
            return 0;
        }
        i++;
        pos = end + 1;
    }
    if (i != rt->nsegments)
        return 0;
    *nparams = np;
    return 1;
}

const eco_http_route_t *eco__router_match(const eco__router_t *r, const char *method, size_t mlen, const char *path,
                                          size_t plen, eco_http_param_t *params, size_t *nparams, int *path_matched,
                                          char *allow, size_t allow_len)
{
    *path_matched = 0;
    if (allow_len)
        allow[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < r->nroutes; i++) {
        const eco_http_route_t *rt = &r->routes[i];
        eco_http_param_t tmp[ECO_HTTP_MAX_PARAMS];
        size_t ntmp = 0;
        if (!match_path(rt, path, plen, tmp, &ntmp))
            continue;
        if (strlen(rt->method) == mlen && memcmp(rt->method, method, mlen) == 0) {
            memcpy(params, tmp, sizeof(tmp[0]) * ntmp);
            *nparams = ntmp;
            return rt;
        }
        *path_matched = 1;
        int n = snprintf(allow + used, allow_len - used, "%s%s", used ? ", " : "", rt->method);
        if (n > 0 && used + (size_t)n < allow_len)
            used += (size_t)n;
    }
    return NULL;
}

h2o_iovec_t eco_http_param(const eco_http_call_t *call, const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < call->nparams; i++) {
        const char *pn = call->params[i].name;
        if (strncmp(pn, name, nl) == 0 && pn[nl] == '}')
            return call->params[i].value;
    }
    return h2o_iovec_init(NULL, 0);
}
