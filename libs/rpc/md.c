/* Metadata: copies of received blocks, validation and conversion of outgoing entries. */
#include "rpc_internal.h"

#include <grpc/slice.h>
#include <string.h>
#include <strings.h>

void eco__rpc_mdlist_copy(eco_rpc_mdlist_t *out, const grpc_metadata *md, size_t n)
{
    out->v = NULL;
    out->n = 0;
    if (n == 0)
        return;
    /* One block: the entry array, then "key\0value\0" pairs. gRPC bounds the total (8 KiB
     * of headers by default), so this is bounded too. */
    size_t bytes = n * sizeof(eco_rpc_md_t);
    for (size_t i = 0; i < n; i++)
        bytes += GRPC_SLICE_LENGTH(md[i].key) + GRPC_SLICE_LENGTH(md[i].value) + 2;
    char *mem = eco_malloc(bytes);
    eco_rpc_md_t *v = (eco_rpc_md_t *)mem;
    char *p = mem + n * sizeof(eco_rpc_md_t);
    for (size_t i = 0; i < n; i++) {
        size_t kl = GRPC_SLICE_LENGTH(md[i].key), vl = GRPC_SLICE_LENGTH(md[i].value);
        memcpy(p, GRPC_SLICE_START_PTR(md[i].key), kl);
        p[kl] = '\0';
        v[i].key = p;
        p += kl + 1;
        memcpy(p, GRPC_SLICE_START_PTR(md[i].value), vl);
        p[vl] = '\0';
        v[i].value = p;
        v[i].len = vl;
        p += vl + 1;
    }
    out->v = v;
    out->n = n;
}

const char *eco_rpc_mdlist_get(const eco_rpc_mdlist_t *l, const char *key, size_t *len)
{
    if (!l || !key)
        return NULL;
    for (size_t i = 0; i < l->n; i++) {
        if (strcasecmp(l->v[i].key, key) == 0) {
            if (len)
                *len = l->v[i].len;
            return l->v[i].value;
        }
    }
    return NULL;
}

void eco_rpc_mdlist_free(eco_rpc_mdlist_t *l)
{
    if (!l)
        return;
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

int eco__rpc_md_to_grpc(grpc_metadata *out, size_t *n, size_t max, const eco_rpc_md_t *md, size_t nmd)
{
    if (nmd == 0)
        return 0;
    if (!md)
        return ECO_EINVAL;
    if (*n + nmd > max)
        return ECO_ENOSPC;
    for (size_t i = 0; i < nmd; i++) {
        if (!md[i].key || !md[i].value)
            return ECO_EINVAL;
        grpc_slice k = grpc_slice_from_static_string(md[i].key);
        size_t vl = md[i].len ? md[i].len : strlen(md[i].value);
        grpc_slice v = grpc_slice_from_static_buffer(md[i].value, vl);
        /* Reserved or pseudo headers would be rejected (or worse, honoured) by the core. */
        if (!grpc_header_key_is_legal(k) || strncmp(md[i].key, "grpc-", 5) == 0)
            return ECO_EINVAL;
        if (!grpc_is_binary_header(k) && !grpc_header_nonbin_value_is_legal(v))
            return ECO_EINVAL;
    }
    for (size_t i = 0; i < nmd; i++) {
        size_t vl = md[i].len ? md[i].len : strlen(md[i].value);
        grpc_metadata *g = &out[(*n)++];
        memset(g, 0, sizeof(*g));
        g->key = grpc_slice_from_copied_string(md[i].key);
        g->value = grpc_slice_from_copied_buffer(md[i].value, vl);
    }
    return 0;
}

void eco__rpc_md_release(grpc_metadata *md, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        grpc_slice_unref(md[i].key);
        grpc_slice_unref(md[i].value);
    }
}
