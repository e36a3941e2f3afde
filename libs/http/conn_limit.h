/* Internal: open client connections counted per peer IP address (eco_service_set_max_conns_per_ip).
 * Loop thread only. */
#ifndef ECO_HTTP_CONN_LIMIT_H
#define ECO_HTTP_CONN_LIMIT_H

#include "eco_http.h"

typedef struct eco__connlimit eco__connlimit_t;
typedef struct eco__ipcount eco__ipcount_t;

/* One accepted connection while a limit is set (freed by eco__connlimit_close). */
typedef struct {
    eco_service_t *svc;
    eco__connlimit_t *limit;
    eco__ipcount_t *ip; /* NULL when the peer address is unknown (never limited) */
    int over;           /* the peer already had `max` connections when this one arrived */
} eco__conn_t;

/* max >= 1. Caller frees with eco__connlimit_free. */
eco__connlimit_t *eco__connlimit_new(long max);
void eco__connlimit_free(eco__connlimit_t *l);
/* Counts a new connection of sock's peer; the record goes into sock->on_close.data. */
eco__conn_t *eco__connlimit_open(eco__connlimit_t *l, eco_service_t *svc, h2o_socket_t *sock);
/* The connection closed: uncounts it and frees c. */
void eco__connlimit_close(eco__conn_t *c);

#endif
