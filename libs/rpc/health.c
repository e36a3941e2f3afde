/* grpc.health.v1.Health: Check and Watch, answered from a status callback (by default the
 * process readiness, so /ready and gRPC health agree). Watch streams are re-evaluated by a
 * poller thread and on eco_rpc_health_notify, and ended when the server shuts down. */
#include "rpc_common.h"

#include <pthread.h>
#include <stdlib.h>

#include "grpc/health/v1/health.pb-c.h"

#include <string.h>
#include <time.h>

#define HEALTH_MAX_WATCHERS 256
#define HEALTH_MAX_SERVICE  200

struct health;

typedef struct watcher {
    struct watcher *next;
    struct health *h;
    eco_rpc_call_t *call;
    int last; /* last status sent, -1 = none */
    int linked;
    char service[HEALTH_MAX_SERVICE + 1];
} watcher_t;

typedef struct health {
    eco_rpc_server_t *srv;
    eco_rpc_health_fn fn;
    void *data;
    long poll_ms;
    pthread_mutex_t lock; /* watchers, nwatchers, stopping, kick */
    pthread_cond_t cond;
    watcher_t *watchers;
    size_t nwatchers;
    int stopping, kick, thread_started;
    pthread_t thread;
} health_t;

eco_rpc_health_status_t eco_rpc_health_from_ready(void)
{
    switch (eco_ready_status()) {
    case ECO_READY_OK:
    case ECO_READY_DEGRADED:
        return ECO_RPC_HEALTH_SERVING;
    default:
        return ECO_RPC_HEALTH_NOT_SERVING;
    }
}

static eco_rpc_health_status_t evaluate(health_t *h, const char *service)
{
    if (h->fn)
        return h->fn(service, h->data);
    if (service[0] == '\0')
        return eco_rpc_health_from_ready();
    const eco__rpc_methods_t *t = eco__rpc_server_methods(h->srv);
    for (size_t i = 0; i < t->nservices; i++)
        if (strcmp(t->services[i], service) == 0)
            return eco_rpc_health_from_ready();
    return ECO_RPC_HEALTH_SERVICE_UNKNOWN;
}

static int send_status(eco_rpc_call_t *call, int status)
{
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)status;
    return eco_rpc_stream_send(call, &resp.base);
}

static void on_check(eco_rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    health_t *h = data;
    const Grpc__Health__V1__HealthCheckRequest *req = (const Grpc__Health__V1__HealthCheckRequest *)msg;
    const char *service = req->service ? req->service : "";
    eco_rpc_health_status_t st = evaluate(h, service);
    if (st == ECO_RPC_HEALTH_SERVICE_UNKNOWN) {
        eco_rpc_call_finish(call, GRPC_STATUS_NOT_FOUND, "unknown service", NULL, 0);
        return;
    }
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)st;
    eco_rpc_call_respond(call, &resp.base, NULL, 0);
}

/* Runs on the call's worker thread. Whoever unlinks the watcher ends its call. */
static void on_watch_cancel(eco_rpc_call_t *call, void *data)
{
    watcher_t *w = data;
    health_t *h = w->h;
    pthread_mutex_lock(&h->lock);
    int mine = w->linked;
    if (mine) {
        for (watcher_t **pp = &h->watchers; *pp; pp = &(*pp)->next) {
            if (*pp == w) {
                *pp = w->next;
                break;
            }
        }
        w->linked = 0;
        h->nwatchers--;
    }
    pthread_mutex_unlock(&h->lock);
    if (mine) {
        eco_rpc_call_finish(call, GRPC_STATUS_CANCELLED, NULL, NULL, 0);
        free(w);
    }
}

static void on_watch(eco_rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    health_t *h = data;
    const Grpc__Health__V1__HealthCheckRequest *req = (const Grpc__Health__V1__HealthCheckRequest *)msg;
    const char *service = req->service ? req->service : "";
    if (strlen(service) > HEALTH_MAX_SERVICE) {
        eco_rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "service name too long", NULL, 0);
        return;
    }
    watcher_t *w = eco_calloc(1, sizeof(*w));
    w->h = h;
    w->call = call;
    w->last = -1;
    strcpy(w->service, service);
    pthread_mutex_lock(&h->lock);
    if (h->stopping || h->nwatchers >= HEALTH_MAX_WATCHERS) {
        int stopping = h->stopping;
        pthread_mutex_unlock(&h->lock);
        free(w);
        eco_rpc_call_finish(call, stopping ? GRPC_STATUS_UNAVAILABLE : GRPC_STATUS_RESOURCE_EXHAUSTED,
                            stopping ? "server shutting down" : "too many health watchers", NULL, 0);
        return;
    }
    /* Still on the worker thread, so the close event cannot have run yet. */
    ECO_BUG_ON(eco_rpc_call_set_callbacks(call, on_watch_cancel, NULL, w) != 0);
    int st = evaluate(h, w->service);
    if (send_status(call, st) == 0)
        w->last = st;
    w->linked = 1;
    w->next = h->watchers;
    h->watchers = w;
    h->nwatchers++;
    pthread_mutex_unlock(&h->lock);
}

/* Sends each watcher its status if it changed. A full queue (a client that does not read)
 * is retried on the next pass. */
static void refresh_locked(health_t *h)
{
    for (watcher_t *w = h->watchers; w; w = w->next) {
        int st = evaluate(h, w->service);
        if (st != w->last && send_status(w->call, st) == 0)
            w->last = st;
    }
}

static void *poller_main(void *arg)
{
    health_t *h = arg;
    pthread_mutex_lock(&h->lock);
    while (!h->stopping) {
        if (h->nwatchers == 0 && !h->kick) {
            pthread_cond_wait(&h->cond, &h->lock);
        } else {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += h->poll_ms / 1000;
            until.tv_nsec += (h->poll_ms % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            while (!h->stopping && !h->kick && pthread_cond_timedwait(&h->cond, &h->lock, &until) == 0)
                ;
        }
        h->kick = 0;
        if (!h->stopping)
            refresh_locked(h);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

/* Shutdown hook: stop the poller, then tell every watcher NOT_SERVING and end its stream, so
 * Watch streams do not hold the graceful shutdown for its whole grace period. */
static void on_server_shutdown(eco_rpc_server_t *srv, void *arg)
{
    health_t *h = arg;
    pthread_mutex_lock(&h->lock);
    h->stopping = 1;
    watcher_t *list = h->watchers;
    h->watchers = NULL;
    h->nwatchers = 0;
    for (watcher_t *w = list; w; w = w->next)
        w->linked = 0;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
    if (h->thread_started) {
        pthread_join(h->thread, NULL);
        h->thread_started = 0;
    }
    while (list) {
        watcher_t *w = list;
        list = w->next;
        send_status(w->call, ECO_RPC_HEALTH_NOT_SERVING);
        eco_rpc_call_finish(w->call, GRPC_STATUS_UNAVAILABLE, "server shutting down", NULL, 0);
        free(w);
    }
}

static void health_free(void *arg)
{
    health_t *h = arg;
    if (!h)
        return;
    ECO_BUG_ON(h->watchers != NULL || h->thread_started);
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->cond);
    free(h);
}

int eco_rpc_health_register(eco_rpc_server_t *srv, eco_rpc_health_fn fn, void *data, long poll_ms)
{
    if (eco__rpc_server_health(srv) || !eco__rpc_server_configurable(srv) ||
        eco__rpc_server_methods(srv)->n + 2 > ECO_RPC_MAX_METHODS)
        return ECO_EINVAL;
    health_t *h = eco_calloc(1, sizeof(*h));
    h->srv = srv;
    h->fn = fn;
    h->data = data;
    h->poll_ms = poll_ms > 0 ? poll_ms : 1000;
    pthread_mutex_init(&h->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cond, &attr);
    pthread_condattr_destroy(&attr);
    /* Owned by srv from here on, even if a registration below fails (a registered handler
     * may already point at it). */
    eco__rpc_server_set_health(srv, h, health_free);
    eco__rpc_server_on_shutdown(srv, on_server_shutdown, h);
    int rc = eco_rpc_server_add_method(srv, &grpc__health__v1__health__descriptor, "Check", ECO_RPC_UNARY, on_check, h);
    if (rc == 0)
        rc = eco_rpc_server_add_method(srv, &grpc__health__v1__health__descriptor, "Watch", ECO_RPC_SERVER_STREAMING,
                                       on_watch, h);
    if (rc != 0)
        return rc;
    if (pthread_create(&h->thread, NULL, poller_main, h) != 0)
        eco_fatal("cannot start grpc health thread");
    h->thread_started = 1;
    return 0;
}

void eco_rpc_health_notify(eco_rpc_server_t *srv)
{
    health_t *h = eco__rpc_server_health(srv);
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->kick = 1;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
}
