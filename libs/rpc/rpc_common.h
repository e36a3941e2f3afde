/* Internals shared by the two server transports of eco_rpc.h and the code above them:
 *   libs/rpc        this header, the method table, metadata lists, status names, health, service;
 *   libs/rpc_grpc   the gRPC core server and the clients (every service but engine-adapter);
 *   libs/rpc_h2     a lean server on nghttp2 (engine-adapter: no libgrpc in the process).
 * A binary links libs/rpc and exactly one server transport. Not for users of eco_rpc.h. */
#ifndef ECO_RPC_COMMON_H
#define ECO_RPC_COMMON_H

#include "eco_core.h"
#include "eco_rpc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* A registered method. */
typedef struct {
    char *path; /* "/pkg.Svc/Method" */
    const ProtobufCMessageDescriptor *in, *out;
    eco_rpc_kind_t kind;
    eco_rpc_handler_fn fn;
    void *data;
    void *handle; /* the transport's own handle (grpc_server_register_method), or NULL */
} eco__rpc_method_t;

typedef struct {
    eco__rpc_method_t v[ECO_RPC_MAX_METHODS];
    size_t n;
    const char *services[ECO_RPC_MAX_METHODS]; /* distinct service names (descriptors' storage) */
    size_t nservices;
} eco__rpc_methods_t;

/* methods.c: validates and appends svc/method; the new entry, or NULL (unknown method, kind
 * or handler, already registered, table full). */
eco__rpc_method_t *eco__rpc_methods_add(eco__rpc_methods_t *t, const ProtobufCServiceDescriptor *svc,
                                        const char *method, eco_rpc_kind_t kind, eco_rpc_handler_fn fn, void *data);
/* The method whose path is p[0..n), or NULL. */
const eco__rpc_method_t *eco__rpc_methods_find(const eco__rpc_methods_t *t, const char *p, size_t n);
void eco__rpc_methods_free(eco__rpc_methods_t *t);
/* "/" + svc->name + "/" + method into a new string (free()), or NULL. */
char *eco__rpc_method_path(const ProtobufCServiceDescriptor *svc, const char *method,
                           const ProtobufCMethodDescriptor **desc);

/* mdlist.c: a block of n entries from parallel key/value arrays, copied into one allocation
 * (keys and values NUL-terminated; vlen[i] is value i's length). */
void eco__rpc_mdlist_build(eco_rpc_mdlist_t *out, size_t n, const char *const *keys, const size_t *klen,
                           const char *const *vals, const size_t *vlen);
/* Checks outgoing application metadata: legal key ([0-9a-z-_.], not "grpc-..."), printable
 * value unless the key ends in "-bin". 0 or ECO_EINVAL. */
int eco__rpc_md_check(const eco_rpc_md_t *md, size_t nmd);

/* ---- server_base.c: what every server transport keeps alike ---- */

enum { ECO__SRV_CREATED, ECO__SRV_STARTED, ECO__SRV_STOPPING, ECO__SRV_STOPPED, ECO__SRV_LEAKED };

typedef void (*eco__rpc_hook_fn)(eco_rpc_server_t *srv, void *arg);

/* The first member of each transport's struct eco_rpc_server, so that the functions below
 * reach it from an eco_rpc_server_t * with a cast. */
typedef struct {
    eco__rpc_methods_t methods;
    atomic_int state;     /* ECO__SRV_* */
    atomic_long inflight; /* calls handed out and not yet freed */
    atomic_ullong overload_logged_ms;
    pthread_mutex_t calls_lock; /* with calls_cond: waiting for inflight == 0 */
    pthread_cond_t calls_cond;
    struct {
        eco__rpc_hook_fn fn;
        void *arg;
    } hooks[4]; /* run at the start of shutdown; fixed before start */
    size_t nhooks;
    void *health; /* health.c state, freed by eco__rpc_base_destroy */
    void (*health_free)(void *health);
} eco__rpc_server_base_t;

/* Copies in (NULL = defaults) into o with the defaults filled in (threads 2, 4 MiB received,
 * 16 MiB sent, 4096 calls, 64 queued messages, 2 armed requests); o->addr is a copy (free()). */
void eco__rpc_opts_fill(eco_rpc_server_opts_t *o, const eco_rpc_server_opts_t *in);
void eco__rpc_base_init(eco__rpc_server_base_t *b);
/* Frees the methods and the health state. */
void eco__rpc_base_destroy(eco__rpc_server_base_t *b);
/* A call was freed: inflight drops, a waiting shutdown wakes. Last use of the server by a call. */
void eco__rpc_base_call_done(eco__rpc_server_base_t *b);
/* Waits until inflight is 0 or until_ms (monotonic) passes; 1 when it reached 0. */
int eco__rpc_base_wait_released(eco__rpc_server_base_t *b, uint64_t until_ms);
/* Runs the shutdown hooks (on the shutting-down thread). */
void eco__rpc_base_run_hooks(eco_rpc_server_t *srv);
/* The bounded graceful shutdown both transports share (c-libraries.md B.5): run the hooks, stop
 * accepting calls, let those in flight finish until grace_ms minus a reserve (grace/5, at most
 * 1 s), then cancel the rest and wait until grace_ms (at least 100 ms after the cancel).
 * wait_closed (may be NULL) waits until until_ms for the transport's own "every connection is
 * closed" signal. 0, or ECO_ETIMEDOUT when some handler still holds a call (logged): the server
 * must then be left running. */
typedef struct {
    void (*stop_accepting)(eco_rpc_server_t *srv);
    int (*wait_closed)(eco_rpc_server_t *srv, uint64_t until_ms);
    void (*cancel_all)(eco_rpc_server_t *srv);
} eco__rpc_drain_ops_t;
int eco__rpc_base_drain(eco_rpc_server_t *srv, long grace_ms, const eco__rpc_drain_ops_t *ops);
/* 1 when more than max_calls calls are in flight (logged at most once a second). */
int eco__rpc_base_overloaded(eco__rpc_server_base_t *b, long max_calls, const char *path);

/* Registers fn to run (on the shutting-down thread) before the server stops accepting calls. */
void eco__rpc_server_on_shutdown(eco_rpc_server_t *srv, eco__rpc_hook_fn fn, void *arg);
/* 1 while methods may still be added (created, not started). */
int eco__rpc_server_configurable(const eco_rpc_server_t *srv);
int eco__rpc_server_shutting_down(const eco_rpc_server_t *srv);
const eco__rpc_methods_t *eco__rpc_server_methods(const eco_rpc_server_t *srv);
/* The health state attached to srv (freed with free_fn by eco_rpc_server_destroy), or NULL. */
void *eco__rpc_server_health(const eco_rpc_server_t *srv);
void eco__rpc_server_set_health(eco_rpc_server_t *srv, void *health, void (*free_fn)(void *));

#endif
