/* Weak references to calls, and small request accessors. */
#include "eco_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

struct eco_http_weak {
    eco_http_call_t *call;
    struct eco_http_weak **slot; /* lives in the request pool while the call does */
};

static void on_slot_dispose(void *p)
{
    eco_http_weak_t **slot = p;
    if (*slot) {
        (*slot)->call = NULL;
        (*slot)->slot = NULL;
    }
}

eco_http_weak_t *eco_http_weak_new(eco_http_call_t *call)
{
    eco_http_weak_t *w = eco_calloc(1, sizeof(*w));
    w->call = call;
    w->slot = h2o_mem_alloc_shared(&call->req->pool, sizeof(*w->slot), on_slot_dispose);
    *w->slot = w;
    return w;
}

eco_http_call_t *eco_http_weak_get(const eco_http_weak_t *w)
{
    return w->call;
}

void eco_http_weak_free(eco_http_weak_t *w)
{
    if (!w)
        return;
    if (w->slot)
        *w->slot = NULL;
    free(w);
}

h2o_iovec_t eco_http_header(const eco_http_call_t *call, const char *name)
{
    ssize_t i = h2o_find_header_by_str(&call->req->headers, name, strlen(name), -1);
    return i < 0 ? h2o_iovec_init(NULL, 0) : call->req->headers.entries[i].value;
}

void eco_http_peer_ip(const eco_http_call_t *call, char *out, size_t len)
{
    struct sockaddr_storage ss;
    out[0] = '\0';
    h2o_conn_t *conn = call->req->conn;
    if (!conn || !conn->callbacks->get_peername)
        return;
    socklen_t sl = conn->callbacks->get_peername(conn, (struct sockaddr *)&ss);
    if (sl == 0)
        return;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)len);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)len);
}
