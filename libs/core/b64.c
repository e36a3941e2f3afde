/* base64 (RFC 4648 §4 and §5): the standard alphabet with padding (gRPC binary metadata) and the
 * URL alphabet without padding (JWTs, API keys, refresh tokens). */
#include "eco_core.h"

static const char STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t eco_b64_encode(const void *data, size_t n, char *out, unsigned flags)
{
    const uint8_t *in = data;
    const char *a = flags & ECO_B64_URL ? URL : STD;
    int pad = !(flags & ECO_B64_NOPAD);
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = a[v >> 6 & 63];
        else if (pad)
            out[o++] = '=';
        if (i + 2 < n)
            out[o++] = a[v & 63];
        else if (pad)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

int eco_b64_value(char c, unsigned flags)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (flags & ECO_B64_URL)
        return c == '-' ? 62 : c == '_' ? 63 : -1;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

long eco_b64_decode(const char *in, size_t n, void *data, size_t cap, unsigned flags)
{
    uint8_t *out = data;
    int strict = (flags & ECO_B64_STRICT) != 0;
    if (!strict)
        while (n && in[n - 1] == '=')
            n--;
    if (n % 4 == 1 || (n / 4) * 3 + (n % 4 ? n % 4 - 1 : 0) > cap)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = eco_b64_value(in[i], flags);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    if (strict && bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1;
    return (long)o;
}
