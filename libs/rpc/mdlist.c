/* Received metadata blocks (one allocation each) and the checks on outgoing metadata. */
#include "rpc_common.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void eco__rpc_mdlist_build(eco_rpc_mdlist_t *out, size_t n, const char *const *keys, const size_t *klen,
                           const char *const *vals, const size_t *vlen)
{
    out->v = NULL;
    out->n = 0;
    if (n == 0)
        return;
    /* The entry array, then "key\0value\0" pairs. The transports bound the header block
     * (8 KiB by default), so this is bounded too. */
    size_t bytes = n * sizeof(eco_rpc_md_t);
    for (size_t i = 0; i < n; i++)
        bytes += klen[i] + vlen[i] + 2;
    char *mem = eco_malloc(bytes);
    eco_rpc_md_t *v = (eco_rpc_md_t *)mem;
    char *p = mem + n * sizeof(eco_rpc_md_t);
    for (size_t i = 0; i < n; i++) {
        memcpy(p, keys[i], klen[i]);
        p[klen[i]] = '\0';
        v[i].key = p;
        p += klen[i] + 1;
        if (vlen[i])
            memcpy(p, vals[i], vlen[i]);
        p[vlen[i]] = '\0';
        v[i].value = p;
        v[i].len = vlen[i];
        p += vlen[i] + 1;
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

int eco__rpc_md_check(const eco_rpc_md_t *md, size_t nmd)
{
    if (nmd && !md)
        return ECO_EINVAL;
    for (size_t i = 0; i < nmd; i++) {
        const char *k = md[i].key;
        if (!k || !*k || !md[i].value || strncmp(k, "grpc-", 5) == 0)
            return ECO_EINVAL;
        size_t kl = strlen(k);
        for (size_t j = 0; j < kl; j++) {
            char ch = k[j];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.'))
                return ECO_EINVAL;
        }
        if (kl > 4 && strcmp(k + kl - 4, "-bin") == 0)
            continue;
        size_t vl = md[i].len ? md[i].len : strlen(md[i].value);
        for (size_t j = 0; j < vl; j++)
            if ((unsigned char)md[i].value[j] < 0x20 || (unsigned char)md[i].value[j] > 0x7e)
                return ECO_EINVAL;
    }
    return 0;
}
