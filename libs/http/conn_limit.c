/* Open connections per peer IP: a chained hash table keyed by the address bytes. Entries exist
 * only while the peer has a connection open, so the table is bounded by the open connections. */
#include "conn_limit.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#define BUCKETS 1024 /* power of two */

struct eco__ipcount {
    eco__ipcount_t *next;
    uint8_t addr[16];
    uint8_t alen;
    long count;
};

struct eco__connlimit {
    long max;
    eco__ipcount_t *buckets[BUCKETS];
};

eco__connlimit_t *eco__connlimit_new(long max)
{
    ECO_BUG_ON(max < 1);
    eco__connlimit_t *l = eco_calloc(1, sizeof(*l));
    l->max = max;
    return l;
}

void eco__connlimit_free(eco__connlimit_t *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < BUCKETS; i++)
        while (l->buckets[i]) {
            eco__ipcount_t *e = l->buckets[i];
            l->buckets[i] = e->next;
            free(e);
        }
    free(l);
}

/* FNV-1a over the address bytes. */
static size_t bucket_of(const uint8_t *a, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ a[i]) * 16777619u;
    return h & (BUCKETS - 1);
}

/* The peer's address bytes (4 for IPv4, 16 for IPv6); 0 when unknown. */
static size_t peer_addr(h2o_socket_t *sock, uint8_t out[16])
{
    struct sockaddr_storage ss;
    socklen_t sl = h2o_socket_getpeername(sock, (struct sockaddr *)&ss);
    if (sl == 0)
        return 0;
    if (ss.ss_family == AF_INET) {
        memcpy(out, &((struct sockaddr_in *)&ss)->sin_addr, 4);
        return 4;
    }
    if (ss.ss_family == AF_INET6) {
        memcpy(out, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
        return 16;
    }
    return 0;
}

eco__conn_t *eco__connlimit_open(eco__connlimit_t *l, eco_service_t *svc, h2o_socket_t *sock)
{
    eco__conn_t *c = eco_calloc(1, sizeof(*c));
    c->svc = svc;
    c->limit = l;
    uint8_t a[16];
    size_t n = peer_addr(sock, a);
    if (n == 0)
        return c;
    eco__ipcount_t **head = &l->buckets[bucket_of(a, n)], *e = *head;
    while (e && !(e->alen == n && memcmp(e->addr, a, n) == 0))
        e = e->next;
    if (!e) {
        e = eco_calloc(1, sizeof(*e));
        memcpy(e->addr, a, n);
        e->alen = (uint8_t)n;
        e->next = *head;
        *head = e;
    }
    c->over = e->count >= l->max;
    e->count++;
    c->ip = e;
    return c;
}

void eco__connlimit_close(eco__conn_t *c)
{
    eco__ipcount_t *e = c->ip;
    if (e && --e->count == 0) {
        eco__ipcount_t **p = &c->limit->buckets[bucket_of(e->addr, e->alen)];
        while (*p != e)
            p = &(*p)->next;
        *p = e->next;
        free(e);
    }
    free(c);
}
