/* Fatal errors, checked allocation, time and random ids. */
#include "eco_core.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

void eco_fatal(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    eco_log_kv(ECO_LOG_ERROR, "fatal", (eco_kv_t[]){ECO_KS("error", msg)}, 1);
    abort();
}

void *eco_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        eco_fatal("out of memory allocating %zu bytes", n);
    return p;
}

void *eco_calloc(size_t nmemb, size_t n)
{
    void *p = calloc(nmemb ? nmemb : 1, n ? n : 1);
    if (!p)
        eco_fatal("out of memory allocating %zu x %zu bytes", nmemb, n);
    return p;
}

void *eco_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        eco_fatal("out of memory reallocating %zu bytes", n);
    return q;
}

char *eco_strdup(const char *s)
{
    return eco_strndup(s, strlen(s));
}

char *eco_strndup(const char *s, size_t n)
{
    char *p = eco_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

uint64_t eco_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double eco_wall_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void eco_random_bytes(void *out, size_t n)
{
    unsigned char *p = out;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0)
            eco_fatal("getrandom failed");
        p += r;
        n -= (size_t)r;
    }
}

static const char hexdig[] = "0123456789abcdef";

void eco_random_hex_id(char out[33])
{
    unsigned char raw[16];
    eco_random_bytes(raw, sizeof(raw));
    for (size_t i = 0; i < 16; i++) {
        out[2 * i] = hexdig[raw[i] >> 4];
        out[2 * i + 1] = hexdig[raw[i] & 15];
    }
    out[32] = '\0';
}

void eco_uuid_v4(char out[37])
{
    unsigned char r[16];
    eco_random_bytes(r, sizeof(r));
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    char *o = out;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hexdig[r[i] >> 4];
        *o++ = hexdig[r[i] & 15];
    }
    *o = '\0';
}

int eco_is_token(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return 0;
    }
    return 1;
}
