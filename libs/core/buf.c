/* eco_buf_t: a bounded growable buffer and JSON string escaping. */
#include "eco_core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void eco_buf_init(eco_buf_t *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max ? max : ECO_BUF_DEFAULT_MAX;
}

void eco_buf_init_fixed(eco_buf_t *b, char *storage, size_t size)
{
    memset(b, 0, sizeof(*b));
    b->base = storage;
    b->cap = size;
    b->max = size - 1;
    b->fixed = 1;
    storage[0] = '\0';
}

void eco_buf_free(eco_buf_t *b)
{
    if (b->fixed) {
        eco_buf_reset(b);
        return;
    }
    free(b->base);
    size_t max = b->max;
    memset(b, 0, sizeof(*b));
    b->max = max;
}

void eco_buf_reset(eco_buf_t *b)
{
    b->len = 0;
    b->overflow = 0;
    if (b->base)
        b->base[0] = '\0';
}

/* Makes room for n more bytes plus a NUL; returns 0, or -1 (and sets overflow) past max. */
static int reserve(eco_buf_t *b, size_t n)
{
    size_t max = b->max ? b->max : ECO_BUF_DEFAULT_MAX;
    if (b->overflow || n > max || b->len + n > max) {
        b->overflow = 1;
        return -1;
    }
    size_t need = b->len + n + 1;
    if (need <= b->cap)
        return 0;
    ECO_BUG_ON(b->fixed);
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    b->base = eco_realloc(b->base, cap);
    b->cap = cap;
    return 0;
}

void eco_buf_add(eco_buf_t *b, const void *p, size_t n)
{
    if (reserve(b, n) != 0)
        return;
    if (n)
        memcpy(b->base + b->len, p, n);
    b->len += n;
    b->base[b->len] = '\0';
}

void eco_buf_adds(eco_buf_t *b, const char *s)
{
    eco_buf_add(b, s, strlen(s));
}

void eco_buf_addc(eco_buf_t *b, char c)
{
    eco_buf_add(b, &c, 1);
}

void eco_buf_vaddf(eco_buf_t *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, cp);
    va_end(cp);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        eco_buf_add(b, small, (size_t)n);
        return;
    }
    if (reserve(b, (size_t)n) != 0)
        return;
    vsnprintf(b->base + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void eco_buf_addf(eco_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    eco_buf_vaddf(b, fmt, ap);
    va_end(ap);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    unsigned cp = c & (0xff >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void eco_buf_add_json_str(eco_buf_t *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    if (n == (size_t)-1)
        n = strlen(str);
    eco_buf_addc(b, '"');
    size_t run = 0; /* start of a run of bytes that need no escaping */
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        const char *esc = NULL;
        char tmp[8];
        size_t adv = 1;
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20) {
            snprintf(tmp, sizeof(tmp), "\\u%04x", c);
            esc = tmp;
        } else if (c >= 0x80) {
            adv = utf8_seq_len(s + i, n - i);
            if (adv == 0) {
                esc = "\xef\xbf\xbd"; /* U+FFFD */
                adv = 1;
            }
        }
        if (esc) {
            eco_buf_add(b, s + run, i - run);
            eco_buf_adds(b, esc);
            run = i + adv;
        }
        i += adv;
    }
    eco_buf_add(b, s + run, n - run);
    eco_buf_addc(b, '"');
}

void eco_buf_add_json_double(eco_buf_t *b, double v)
{
    if (!isfinite(v)) {
        eco_buf_adds(b, "null");
        return;
    }
    eco_buf_addf(b, "%.15g", v);
}

const char *eco_buf_cstr(eco_buf_t *b)
{
    if (!b->base)
        eco_buf_add(b, "", 0);
    return b->base ? b->base : "";
}

char *eco_buf_detach(eco_buf_t *b, size_t *len)
{
    ECO_BUG_ON(b->fixed);
    eco_buf_cstr(b);
    char *p = b->base;
    if (len)
        *len = b->len;
    size_t max = b->max;
    memset(b, 0, sizeof(*b));
    b->max = max;
    return p;
}
