/* Internals shared by the two server transports of eco_rpc.h and the code above them:
 *   libs/rpc        this header, the method table, metadata lists, status names, health, service;
 *   libs/rpc_grpc   the gRPC core server and the clients (every service but engine-adapter);
 *   libs/rpc_h2     a lean server on nghttp2 (engine-adapter: no libgrpc in the process).
 * A binary links libs/rpc and exactly one server transport. Not for users of eco_rpc.h. */
#ifndef ECO_RPC_COMMON_H
#define ECO_RPC_COMMON_H

#include "eco_core.h"
#include "eco_rpc.h"

#include <stddef.h>

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

/* Implemented by the server transport, for health.c. */
typedef void (*eco__rpc_hook_fn)(eco_rpc_server_t *srv, void *arg);
/* Registers fn to run (on the shutting-down thread) before the server stops accepting calls. */
void eco__rpc_server_on_shutdown(eco_rpc_server_t *srv, eco__rpc_hook_fn fn, void *arg);
/* 1 while methods may still be added (created, not started). */
int eco__rpc_server_configurable(const eco_rpc_server_t *srv);
const eco__rpc_methods_t *eco__rpc_server_methods(const eco_rpc_server_t *srv);
/* The health state attached to srv (freed with free_fn by eco_rpc_server_destroy), or NULL. */
void *eco__rpc_server_health(const eco_rpc_server_t *srv);
void eco__rpc_server_set_health(eco_rpc_server_t *srv, void *health, void (*free_fn)(void *));

#endif
