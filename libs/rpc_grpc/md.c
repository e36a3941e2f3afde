/* Metadata: received blocks from the core, validation and conversion of outgoing entries. */
#include "rpc_internal.h"

#include <grpc/slice.h>
#include <string.h>
#include <strings.h>

void eco__rpc_mdlist_copy(eco_rpc_mdlist_t *out, const grpc_metadata *md, size_t n)
{
    const char *keys[n ? n : 1], *vals[n ? n : 1];
    size_t klen[n ? n : 1], vlen[n ? n : 1];
    for (size_t i = 0; i < n; i++) {
        keys[i] = (const char *)GRPC_SLICE_START_PTR(md[i].key);
        klen[i] = GRPC_SLICE_LENGTH(md[i].key);
        vals[i] = (const char *)GRPC_SLICE_START_PTR(md[i].value);
        vlen[i] = GRPC_SLICE_LENGTH(md[i].value);
    }
    eco__rpc_mdlist_build(out, n, keys, klen, vals, vlen);
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
