/* What every server transport keeps alike (eco__rpc_server_base_t, the first member of each
 * transport's struct eco_rpc_server): methods, state, the count of calls in flight and the wait
 * for it to reach zero, shutdown hooks, the health state. */
#include "rpc_common.h"

#include <time.h>

#define BASE(srv)  ((eco__rpc_server_base_t *)(srv))
#define CBASE(srv) ((const eco__rpc_server_base_t *)(srv))

void eco__rpc_opts_fill(eco_rpc_server_opts_t *o, const eco_rpc_server_opts_t *in)
{
    static const eco_rpc_server_opts_t def = {
        .addr = "0.0.0.0:0",
        .threads = 2,
        .max_recv_bytes = 4 << 20,
        .max_send_bytes = 16 << 20,
        .max_calls = 4096,
        .stream_queue_max = 64,
        .armed_per_method = 2,
    };
    *o = in ? *in : def;
    int *v[] = {&o->threads,   &o->max_recv_bytes,   &o->max_send_bytes,
                &o->max_calls, &o->stream_queue_max, &o->armed_per_method};
    const int d[] = {def.threads,   def.max_recv_bytes,   def.max_send_bytes,
                     def.max_calls, def.stream_queue_max, def.armed_per_method};
    for (size_t i = 0; i < ECO_ARRAY_SIZE(v); i++)
        if (*v[i] <= 0)
            *v[i] = d[i];
    o->addr = eco_strdup(o->addr ? o->addr : def.addr);
}

void eco__rpc_base_init(eco__rpc_server_base_t *b)
{
    atomic_init(&b->state, ECO__SRV_CREATED);
    atomic_init(&b->inflight, 0);
    atomic_init(&b->overload_logged_ms, 0);
    pthread_mutex_init(&b->calls_lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&b->calls_cond, &attr);
    pthread_condattr_destroy(&attr);
}

void eco__rpc_base_destroy(eco__rpc_server_base_t *b)
{
    if (b->health_free)
        b->health_free(b->health);
    eco__rpc_methods_free(&b->methods);
    pthread_mutex_destroy(&b->calls_lock);
    pthread_cond_destroy(&b->calls_cond);
}

void eco__rpc_base_call_done(eco__rpc_server_base_t *b)
{
    pthread_mutex_lock(&b->calls_lock);
    if (atomic_fetch_sub(&b->inflight, 1) == 1)
        pthread_cond_broadcast(&b->calls_cond);
    pthread_mutex_unlock(&b->calls_lock);
}

int eco__rpc_base_wait_released(eco__rpc_server_base_t *b, uint64_t until_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t now = eco_now_ms();
    long ms = until_ms > now ? (long)(until_ms - now) : 0;
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&b->calls_lock);
    int rc = 0;
    while (atomic_load(&b->inflight) > 0 && rc == 0)
        rc = pthread_cond_timedwait(&b->calls_cond, &b->calls_lock, &ts);
    int done = atomic_load(&b->inflight) == 0;
    pthread_mutex_unlock(&b->calls_lock);
    return done;
}

void eco__rpc_base_run_hooks(eco_rpc_server_t *srv)
{
    eco__rpc_server_base_t *b = BASE(srv);
    for (size_t i = 0; i < b->nhooks; i++)
        b->hooks[i].fn(srv, b->hooks[i].arg);
}

int eco__rpc_base_overloaded(eco__rpc_server_base_t *b, long max_calls, const char *path)
{
    long inflight = atomic_load(&b->inflight);
    if (inflight <= max_calls)
        return 0;
    /* At most one line a second: an overload must not also flood the logs. */
    unsigned long long now = eco_now_ms(), last = atomic_load(&b->overload_logged_ms);
    if (now - last >= 1000 && atomic_compare_exchange_strong(&b->overload_logged_ms, &last, now))
        eco_warn("grpc calls refused: too many in flight", ECO_KS("method", path), ECO_KI("inflight", inflight),
                 ECO_KI("max_calls", max_calls));
    return 1;
}

int eco__rpc_base_drain(eco_rpc_server_t *srv, long grace_ms, const eco__rpc_drain_ops_t *ops)
{
    eco__rpc_server_base_t *b = BASE(srv);
    uint64_t t0 = eco_now_ms();
    if (grace_ms < 0)
        grace_ms = 0;
    eco__rpc_base_run_hooks(srv);
    ops->stop_accepting(srv);
    long reserve = grace_ms / 5 < 1000 ? grace_ms / 5 : 1000;
    uint64_t soft = t0 + (uint64_t)(grace_ms - reserve);
    int closed = !ops->wait_closed || ops->wait_closed(srv, soft);
    if (closed && eco__rpc_base_wait_released(b, soft))
        return 0;
    eco_warn("grpc shutdown grace elapsed, cancelling calls", ECO_KI("inflight", atomic_load(&b->inflight)),
             ECO_KI("grace_ms", grace_ms));
    ops->cancel_all(srv);
    uint64_t hard = t0 + (uint64_t)grace_ms, min = eco_now_ms() + 100;
    if (hard < min)
        hard = min;
    if ((closed || ops->wait_closed(srv, hard)) && eco__rpc_base_wait_released(b, hard))
        return 0;
    /* A handler holds a call it never ends: freeing the server would crash when it does. */
    eco_error("grpc shutdown incomplete: handlers did not end their calls",
              ECO_KI("inflight", atomic_load(&b->inflight)));
    return ECO_ETIMEDOUT;
}

void eco__rpc_server_on_shutdown(eco_rpc_server_t *srv, eco__rpc_hook_fn fn, void *arg)
{
    eco__rpc_server_base_t *b = BASE(srv);
    ECO_BUG_ON(atomic_load(&b->state) != ECO__SRV_CREATED || b->nhooks >= ECO_ARRAY_SIZE(b->hooks));
    b->hooks[b->nhooks].fn = fn;
    b->hooks[b->nhooks].arg = arg;
    b->nhooks++;
}

int eco__rpc_server_configurable(const eco_rpc_server_t *srv)
{
    return atomic_load(&CBASE(srv)->state) == ECO__SRV_CREATED;
}

int eco__rpc_server_shutting_down(const eco_rpc_server_t *srv)
{
    return atomic_load(&CBASE(srv)->state) >= ECO__SRV_STOPPING;
}

const eco__rpc_methods_t *eco__rpc_server_methods(const eco_rpc_server_t *srv)
{
    return &CBASE(srv)->methods;
}

void *eco__rpc_server_health(const eco_rpc_server_t *srv)
{
    return CBASE(srv)->health;
}

void eco__rpc_server_set_health(eco_rpc_server_t *srv, void *health, void (*free_fn)(void *))
{
    BASE(srv)->health = health;
    BASE(srv)->health_free = free_fn;
}

long eco_rpc_server_inflight(const eco_rpc_server_t *srv)
{
    return atomic_load(&CBASE(srv)->inflight);
}
