/* Internal: the route table of a service (see eco_http.h for the public side). */
#ifndef ECO_HTTP_ROUTER_H
#define ECO_HTTP_ROUTER_H

#include "eco_http.h"

typedef struct {
    eco_http_route_t routes[ECO_HTTP_MAX_ROUTES];
    size_t nroutes;
} eco__router_t;

/* Adds a route; pattern and method are borrowed. Returns 0 or ECO_EINVAL (table full, bad pattern). */
int eco__router_add(eco__router_t *r, const char *method, const char *pattern, eco_http_handler_fn fn, void *data);

/* Finds the route for method + path. On a miss, *path_matched tells 405 from 404 and `allow`
 * lists the methods the path accepts. */
const eco_http_route_t *eco__router_match(const eco__router_t *r, const char *method, size_t mlen, const char *path,
                                          size_t plen, eco_http_param_t *params, size_t *nparams, int *path_matched,
                                          char *allow, size_t allow_len);

#endif
