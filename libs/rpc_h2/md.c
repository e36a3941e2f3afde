/* Header-value codings of gRPC over HTTP/2: binary metadata (base64), grpc-message
 * (percent-encoding), grpc-timeout, and copies of outgoing application metadata. */
#include "h2_internal.h"

#include <stdlib.h>
#include <string.h>

size_t h2_b64_encode(const uint8_t *in, size_t n, char *out)
{
    return eco_b64_encode(in, n, out, 0);
}

long h2_b64_decode(const char *in, size_t n, uint8_t *out)
{
    return eco_b64_decode(in, n, out, n, 0);
}

int h2_md_copy(h2_md_t *out, size_t *n, size_t max, const eco_rpc_md_t *md, size_t nmd)
{
    if (nmd == 0)
        return 0;
    if (eco__rpc_md_check(md, nmd) != 0)
        return ECO_EINVAL;
    if (*n + nmd > max)
        return ECO_ENOSPC;
    for (size_t i = 0; i < nmd; i++) {
        size_t vl = md[i].len ? md[i].len : strlen(md[i].value);
        h2_md_t *e = &out[(*n)++];
        e->key = eco_strdup(md[i].key);
        e->value = eco_malloc(vl + 1);
        memcpy(e->value, md[i].value, vl);
        e->value[vl] = '\0';
        e->len = vl;
    }
    return 0;
}

void h2_md_free(h2_md_t *md, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(md[i].key);
        free(md[i].value);
    }
}

size_t h2_percent_encode(const char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (ch >= 0x20 && ch <= 0x7e && ch != '%') {
            out[o++] = (char)ch;
        } else {
            out[o++] = '%';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    out[o] = '\0';
    return o;
}

long h2_parse_timeout(const char *v, size_t n)
{
    if (n < 2 || n > 9)
        return -1;
    unsigned long long x = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        x = x * 10 + (unsigned)(v[i] - '0');
    }
    unsigned long long ms;
    switch (v[n - 1]) {
    case 'H':
        ms = x * 3600000ULL;
        break;
    case 'M':
        ms = x * 60000ULL;
        break;
    case 'S':
        ms = x * 1000ULL;
        break;
    case 'm':
        ms = x;
        break;
    case 'u':
        ms = (x + 999) / 1000;
        break;
    case 'n':
        ms = (x + 999999) / 1000000;
        break;
    default:
        return -1;
    }
    return ms > 0x7fffffffULL ? 0x7fffffffL : (long)ms;
}
