/* JSON-lines logging: one object per line, written with a single write(2). */
#include "eco_core.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX  8192
#define LOG_VALUE_MAX 2048

static const char *log_svc = "eco";
static atomic_int log_level = ECO_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void eco_log_init(const char *svc, const char *level)
{
    log_svc = svc;
    for (int i = 0; i < (int)ECO_ARRAY_SIZE(level_names); i++)
        if (level && strcmp(level, level_names[i]) == 0)
            atomic_store(&log_level, i);
}

int eco_log_enabled(eco_log_level_t level)
{
    return (int)level >= atomic_load_explicit(&log_level, memory_order_relaxed);
}

/* Formats the current UTC time as RFC 3339 with milliseconds. */
static void add_timestamp(eco_buf_t *b)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    static __thread time_t cached_sec = -1;
    static __thread char cached[24];
    if (ts.tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = ts.tv_sec;
    }
    eco_buf_addf(b, "\"%s.%03ldZ\"", cached, ts.tv_nsec / 1000000L);
}

void eco_log_format(eco_buf_t *b, eco_log_level_t level, const char *msg, const eco_kv_t *kv, size_t n)
{
    int truncated = 0;
    eco_buf_adds(b, "{\"ts\":");
    add_timestamp(b);
    eco_buf_addf(b, ",\"level\":\"%s\",\"svc\":", level_names[level < ECO_LOG_OFF ? level : ECO_LOG_ERROR]);
    eco_buf_add_json_str(b, log_svc, (size_t)-1);
    eco_buf_adds(b, ",\"msg\":");
    eco_buf_add_json_str(b, msg, (size_t)-1);
    for (size_t i = 0; i < n; i++) {
        const eco_kv_t *f = &kv[i];
        eco_buf_addc(b, ',');
        eco_buf_add_json_str(b, f->k, (size_t)-1);
        eco_buf_addc(b, ':');
        switch (f->t) {
        case ECO_KV_STR:
        case ECO_KV_RAW: {
            if (!f->v.s) {
                eco_buf_adds(b, "null");
                break;
            }
            size_t len = f->slen == (size_t)-1 ? strlen(f->v.s) : f->slen;
            if (len > LOG_VALUE_MAX) {
                len = LOG_VALUE_MAX;
                truncated = 1;
            }
            if (f->t == ECO_KV_RAW)
                eco_buf_add(b, f->v.s, len);
            else
                eco_buf_add_json_str(b, f->v.s, len);
            break;
        }
        case ECO_KV_INT:
            eco_buf_addf(b, "%lld", f->v.i);
            break;
        case ECO_KV_DBL:
            eco_buf_add_json_double(b, f->v.d);
            break;
        case ECO_KV_BOOL:
            eco_buf_adds(b, f->v.b ? "true" : "false");
            break;
        }
    }
    if (truncated)
        eco_buf_adds(b, ",\"truncated\":true");
    eco_buf_adds(b, "}\n");
}

void eco_log_kv(eco_log_level_t level, const char *msg, const eco_kv_t *kv, size_t n)
{
    if (!eco_log_enabled(level))
        return;
    /* Thread-local storage, not heap: threads that log and exit leave nothing behind. */
    static __thread char storage[LOG_LINE_MAX + 1];
    eco_buf_t line;
    eco_buf_init_fixed(&line, storage, sizeof(storage));
    eco_log_format(&line, level, msg, kv, n);
    if (!eco_buf_ok(&line)) {
        /* Too many fields to fit: keep the message, drop the fields, and say so. */
        eco_buf_reset(&line);
        eco_log_format(&line, level, msg, NULL, 0);
        line.len -= 2;
        eco_buf_adds(&line, ",\"truncated\":true}\n");
    }
    const char *p = line.base;
    size_t left = line.len;
    while (left > 0) {
        ssize_t w = write(1, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        p += w;
        left -= (size_t)w;
    }
}
