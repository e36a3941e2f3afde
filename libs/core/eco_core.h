/*
 * eco_core: the pieces every eco-base binary uses.
 *   - fatal errors and checked allocation (abort on OOM, never limp on),
 *   - eco_buf_t: a bounded, growable byte buffer with JSON escaping,
 *   - configuration from ECO_* variables (typed, defaulted, validated; exit 2 on error),
 *   - JSON-lines logging (one object per line, one write(2) per line),
 *   - lifecycle: signal handling, draining flag, monotonic time, ids.
 */
#ifndef ECO_CORE_H
#define ECO_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifndef ECO_VERSION
#define ECO_VERSION "0.1.0"
#endif

/* ---------- errors and memory ---------- */

/* Error codes: functions return 0 or a negative value (-errno style, or these). */
enum {
    ECO_OK = 0,
    ECO_EINVAL = -22,
    ECO_ENOMEM = -12,
    ECO_ERANGE = -34,
    ECO_ENOSPC = -28, /* a bound was exceeded */
    ECO_EIO = -5,
    ECO_ETIMEDOUT = -110,
};

/* Prints "fatal: <msg>" as a JSON log line and aborts. */
__attribute__((noreturn, format(printf, 1, 2))) void eco_fatal(const char *fmt, ...);

#define ECO_BUG_ON(cond)                                                                                               \
    do {                                                                                                               \
        if (__builtin_expect(!!(cond), 0))                                                                             \
            eco_fatal("invariant broken at %s:%d: %s", __FILE__, __LINE__, #cond);                                     \
    } while (0)

/* Allocation that aborts on failure. Caller frees with free(). */
void *eco_malloc(size_t n);
void *eco_calloc(size_t nmemb, size_t n);
void *eco_realloc(void *p, size_t n);
char *eco_strdup(const char *s);
char *eco_strndup(const char *s, size_t n);

#define ECO_ARRAY_SIZE(a)                   (sizeof(a) / sizeof((a)[0]))
#define ECO_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* ---------- bounded buffer ---------- */

/* A growable byte buffer that never grows past `max` (0 = ECO_BUF_DEFAULT_MAX).
 * Appends that would exceed the bound set `overflow` and are dropped; callers check
 * eco_buf_ok() once at the end. Always NUL-terminated when len > 0 or after eco_buf_cstr(). */
typedef struct {
    char *base;
    size_t len;
    size_t cap;
    size_t max;
    int overflow;
    int fixed; /* storage is the caller's (eco_buf_init_fixed): never reallocated or freed */
} eco_buf_t;

#define ECO_BUF_DEFAULT_MAX (64u << 20)
#define ECO_BUF_INIT                                                                                                   \
    {                                                                                                                  \
        NULL, 0, 0, 0, 0, 0                                                                                            \
    }

void eco_buf_init(eco_buf_t *b, size_t max);
/* A buffer over caller storage of `size` bytes (bound: size - 1 bytes of content). */
void eco_buf_init_fixed(eco_buf_t *b, char *storage, size_t size);
void eco_buf_free(eco_buf_t *b);
void eco_buf_reset(eco_buf_t *b);
void eco_buf_add(eco_buf_t *b, const void *p, size_t n);
void eco_buf_adds(eco_buf_t *b, const char *s);
void eco_buf_addc(eco_buf_t *b, char c);
__attribute__((format(printf, 2, 3))) void eco_buf_addf(eco_buf_t *b, const char *fmt, ...);
void eco_buf_vaddf(eco_buf_t *b, const char *fmt, va_list ap);
/* Appends s[0..n) as a quoted JSON string: escapes '"', '\\', control characters, and
 * replaces invalid UTF-8 with U+FFFD. n == (size_t)-1 means strlen(s). */
void eco_buf_add_json_str(eco_buf_t *b, const char *s, size_t n);
/* Appends a JSON number; non-finite values become null. */
void eco_buf_add_json_double(eco_buf_t *b, double v);
const char *eco_buf_cstr(eco_buf_t *b);
static inline int eco_buf_ok(const eco_buf_t *b)
{
    return !b->overflow;
}
/* Hands the storage to the caller (free() it); b is reset. */
char *eco_buf_detach(eco_buf_t *b, size_t *len);

/* ---------- configuration ---------- */

typedef enum {
    ECO_CFG_STR,   /* out: const char ** (borrowed from environ or the default) */
    ECO_CFG_INT,   /* out: long *, within [min, max] */
    ECO_CFG_PORT,  /* out: int *, 1..65535 */
    ECO_CFG_BOOL,  /* out: int *, accepts 1/0/true/false/yes/no/on/off */
    ECO_CFG_ENUM,  /* out: const char **, one of `choices` ("a|b|c") */
    ECO_CFG_MS,    /* out: long *, milliseconds, within [min, max] */
    ECO_CFG_URL,   /* out: const char **, must contain "://" (or be empty when optional) */
    ECO_CFG_BYTES, /* out: long *, accepts suffixes k/m/g (KiB, MiB, GiB), within [min, max] */
} eco_cfg_type_t;

typedef struct {
    const char *name; /* "ECO_HTTP_PORT" */
    eco_cfg_type_t type;
    const char *def;     /* default as text; NULL = required */
    long min, max;       /* bounds for INT/MS/BYTES (ignored when min == max == 0) */
    const char *choices; /* ENUM: "debug|info|warn|error" */
    const char *help;    /* one line for the README configuration table */
    void *out;
} eco_cfg_spec_t;

/* Reads and validates every spec. On the first bad value writes one line to err
 * ("ECO_HTTP_PORT: expected a port 1-65535, got \"abc\"") and returns ECO_EINVAL. */
int eco_config_load(const eco_cfg_spec_t *specs, size_t n, char *err, size_t errlen);

/* eco_config_load, and on failure prints the line to stderr and exits with status 2.
 * Also handles argv "--config-help": prints the spec table as Markdown and exits 0. */
void eco_config_load_or_exit(const eco_cfg_spec_t *specs, size_t n, int argc, char **argv);

/* Prints specs as Markdown table rows ("| `NAME` | default | help |"). */
void eco_config_print_table(FILE *fp, const eco_cfg_spec_t *specs, size_t n);

/* ---------- logging ---------- */

typedef enum { ECO_LOG_DEBUG = 0, ECO_LOG_INFO, ECO_LOG_WARN, ECO_LOG_ERROR, ECO_LOG_OFF } eco_log_level_t;

typedef enum { ECO_KV_STR, ECO_KV_INT, ECO_KV_DBL, ECO_KV_BOOL, ECO_KV_RAW } eco_kv_type_t;

/* A typed key/value for a log line. Strings are borrowed for the duration of the call. */
typedef struct {
    const char *k;
    eco_kv_type_t t;
    union {
        const char *s;
        long long i;
        double d;
        int b;
    } v;
    size_t slen; /* for STR/RAW: (size_t)-1 = strlen */
} eco_kv_t;

#define ECO_KS(key, str)     ((eco_kv_t){.k = (key), .t = ECO_KV_STR, .v.s = (str), .slen = (size_t)-1})
#define ECO_KSN(key, str, n) ((eco_kv_t){.k = (key), .t = ECO_KV_STR, .v.s = (str), .slen = (n)})
#define ECO_KI(key, n)       ((eco_kv_t){.k = (key), .t = ECO_KV_INT, .v.i = (long long)(n)})
#define ECO_KD(key, x)       ((eco_kv_t){.k = (key), .t = ECO_KV_DBL, .v.d = (double)(x)})
#define ECO_KB(key, x)       ((eco_kv_t){.k = (key), .t = ECO_KV_BOOL, .v.b = !!(x)})

/* svc: the service name on every line. Level from text ("debug|info|warn|error"). */
void eco_log_init(const char *svc, const char *level);
int eco_log_enabled(eco_log_level_t level);
/* Writes one JSON object: ts, level, svc, msg, then the fields, in a single write(2) to fd 1.
 * Lines are bounded (8 KiB); longer string values are truncated and "truncated":true is added. */
void eco_log_kv(eco_log_level_t level, const char *msg, const eco_kv_t *kv, size_t n);
/* Same, with the fields' line written into `out` instead of stdout (for tests). */
void eco_log_format(eco_buf_t *out, eco_log_level_t level, const char *msg, const eco_kv_t *kv, size_t n);

#define eco_log(level, msg, ...)                                                                                       \
    do {                                                                                                               \
        if (eco_log_enabled(level)) {                                                                                  \
            const eco_kv_t eco__kv[] = {{.k = NULL}, ##__VA_ARGS__};                                                   \
            eco_log_kv((level), (msg), eco__kv + 1, ECO_ARRAY_SIZE(eco__kv) - 1);                                      \
        }                                                                                                              \
    } while (0)
#define eco_debug(msg, ...) eco_log(ECO_LOG_DEBUG, msg, ##__VA_ARGS__)
#define eco_info(msg, ...)  eco_log(ECO_LOG_INFO, msg, ##__VA_ARGS__)
#define eco_warn(msg, ...)  eco_log(ECO_LOG_WARN, msg, ##__VA_ARGS__)
#define eco_error(msg, ...) eco_log(ECO_LOG_ERROR, msg, ##__VA_ARGS__)

/* ---------- lifecycle, time, ids ---------- */

/* Blocks SIGTERM, SIGINT, SIGHUP in the calling thread (call first in main, before any
 * thread starts, so all threads inherit the mask), ignores SIGPIPE, and returns a signalfd
 * that becomes readable when one arrives (read it with eco_lifecycle_read_signal). */
int eco_lifecycle_init(void);
/* Reads one pending signal from the fd; returns its number or 0. */
int eco_lifecycle_read_signal(int sigfd);
/* The process-wide draining flag: set once on SIGTERM/SIGINT; readiness turns 503 at once. */
void eco_lifecycle_set_draining(void);
int eco_lifecycle_draining(void);

/* Monotonic time. */
uint64_t eco_now_ns(void);
static inline uint64_t eco_now_ms(void)
{
    return eco_now_ns() / 1000000u;
}
/* Wall clock in seconds since the epoch, with fractions. */
double eco_wall_time(void);

/* base64 (b64.c). Flags: ECO_B64_URL (the URL alphabet "-_" instead of "+/"), ECO_B64_NOPAD (encode
 * without "="), ECO_B64_STRICT (decode: no "=" at all and zero unused bits, so that every value
 * has exactly one encoding). */
enum { ECO_B64_URL = 1, ECO_B64_NOPAD = 2, ECO_B64_STRICT = 4 };
#define ECO_B64_ENCODED_MAX(n) (((n) + 2) / 3 * 4) /* characters, without the NUL */
/* Encodes n bytes; out holds ECO_B64_ENCODED_MAX(n) + 1. Returns the length written (NUL added). */
size_t eco_b64_encode(const void *in, size_t n, char *out, unsigned flags);
/* Decodes n characters into out (cap bytes). The length, or -1 (bad character or length, too
 * small, or a strict rule broken). Without ECO_B64_STRICT, trailing "=" are ignored. */
long eco_b64_decode(const char *in, size_t n, void *out, size_t cap, unsigned flags);
/* The 6-bit value of c in the alphabet of flags, or -1. */
int eco_b64_value(char c, unsigned flags);

/* Fills out with n cryptographically random bytes (getrandom); aborts on failure. */
void eco_random_bytes(void *out, size_t n);
/* Writes a 32-hex-character random id plus NUL into out[33]. */
void eco_random_hex_id(char out[33]);
/* 1 when s[0..n) is 1..max characters of [A-Za-z0-9._-] (key ids, Kafka topics and groups). */
int eco_is_token(const char *s, size_t n, size_t max);
/* Writes a random (v4) UUID "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" plus NUL into out[37]. */
void eco_uuid_v4(char out[37]);

/* ---------- readiness ---------- */

/* Dependency states reported by readiness checks. */
typedef enum { ECO_DEP_UNKNOWN = 0, ECO_DEP_UP, ECO_DEP_DEGRADED, ECO_DEP_DOWN } eco_dep_state_t;

/* A readiness check: blocking, bounded by its own timeout, run on a background thread.
 * Writes a short reason (no secrets) into detail and returns the dependency's state. */
typedef eco_dep_state_t (*eco_ready_check_fn)(void *data, char *detail, size_t detail_len);

/* How a dependency's state affects readiness:
 *   REQUIRED: DOWN (or not yet checked) makes the service not ready (503);
 *   INFO: reported in the body only (the service answers its own 503s where it needs it). */
typedef enum { ECO_READY_REQUIRED, ECO_READY_INFO } eco_ready_kind_t;

/* Registers a check (before eco_ready_start). name is borrowed (use a literal). */
void eco_ready_add(const char *name, eco_ready_kind_t kind, eco_ready_check_fn fn, void *data);
/* Starts one checker thread per check, each running its check every interval_ms. */
void eco_ready_start(long interval_ms);
/* Stops and joins the checker threads. */
void eco_ready_stop(void);

typedef enum { ECO_READY_OK = 0, ECO_READY_DEGRADED, ECO_READY_NOT_READY, ECO_READY_DRAINING } eco_ready_status_t;
/* The overall status from the latest results and the draining flag. */
eco_ready_status_t eco_ready_status(void);
/* Latest state of one named dependency (ECO_DEP_UNKNOWN if no such check). */
eco_dep_state_t eco_ready_dep_state(const char *name);
/* Appends {"status":"ready|degraded|not_ready|draining","checks":{"name":{"state":..,"required":..,
 * "detail":..,"checked_ms_ago":..}}} and returns the HTTP status to answer with (200 or 503). */
int eco_ready_render_json(eco_buf_t *out);

#endif
