/* The registered-method table both server transports use. */
#include "rpc_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *eco__rpc_method_path(const ProtobufCServiceDescriptor *svc, const char *method,
                           const ProtobufCMethodDescriptor **desc)
{
    if (!svc || !method)
        return NULL;
    const ProtobufCMethodDescriptor *md = protobuf_c_service_descriptor_get_method_by_name(svc, method);
    if (!md)
        return NULL;
    if (desc)
        *desc = md;
    size_t n = strlen(svc->name) + strlen(md->name) + 3;
    char *p = eco_malloc(n);
    snprintf(p, n, "/%s/%s", svc->name, md->name);
    return p;
}

eco__rpc_method_t *eco__rpc_methods_add(eco__rpc_methods_t *t, const ProtobufCServiceDescriptor *svc,
                                        const char *method, eco_rpc_kind_t kind, eco_rpc_handler_fn fn, void *data)
{
    if (!fn || t->n >= ECO_RPC_MAX_METHODS || (kind != ECO_RPC_UNARY && kind != ECO_RPC_SERVER_STREAMING))
        return NULL;
    const ProtobufCMethodDescriptor *md = NULL;
    char *path = eco__rpc_method_path(svc, method, &md);
    if (!path)
        return NULL;
    if (eco__rpc_methods_find(t, path, strlen(path))) {
        free(path);
        return NULL;
    }
    eco__rpc_method_t *m = &t->v[t->n++];
    *m = (eco__rpc_method_t){.path = path, .in = md->input, .out = md->output, .kind = kind, .fn = fn, .data = data};
    size_t s;
    for (s = 0; s < t->nservices; s++)
        if (strcmp(t->services[s], svc->name) == 0)
            break;
    if (s == t->nservices)
        t->services[t->nservices++] = svc->name;
    return m;
}

const eco__rpc_method_t *eco__rpc_methods_find(const eco__rpc_methods_t *t, const char *p, size_t n)
{
    for (size_t i = 0; i < t->n; i++)
        if (strlen(t->v[i].path) == n && memcmp(t->v[i].path, p, n) == 0)
            return &t->v[i];
    return NULL;
}

void eco__rpc_methods_free(eco__rpc_methods_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].path);
    t->n = 0;
}
