/* Per-service log files: printing, following (with "name | " prefixes), tails and markers. */
#include "ecoctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES (64 * 1024) /* a longer "line" is printed in pieces */

static const char *palette[] = {"\033[36m", "\033[33m", "\033[32m", "\033[35m", "\033[34m", "\033[96m",
                                "\033[93m", "\033[92m", "\033[95m", "\033[94m", "\033[31m"};

const char *ecoctl_color(const ecoctl_rt_t *rt, size_t i)
{
    return rt->color ? palette[i % ECO_ARRAY_SIZE(palette)] : "";
}

void ecoctl_logs_mark(const ecoctl_rt_t *rt, const ecoctl_svc_t *s, const char *fmt, ...)
{
    char msg[1024], ts[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    time_t now = time(NULL);
    struct tm tm;
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    char *path = ecoctl_log_path(rt, s);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    free(path);
    if (fd < 0)
        return;
    char line[1200];
    int n = snprintf(line, sizeof(line), "--- ecoctl %s: %s ---\n", ts, msg);
    if (n > (int)sizeof(line) - 1)
        n = (int)sizeof(line) - 1;
    if (write(fd, line, (size_t)n) < 0)
        fprintf(stderr, "ecoctl: cannot write to %s's log: %s\n", s->name, strerror(errno));
    close(fd);
}

void ecoctl_logs_offsets(const ecoctl_rt_t *rt, long long *out)
{
    for (size_t i = 0; i < rt->m->nsvcs; i++) {
        char *path = ecoctl_log_path(rt, &rt->m->svcs[i]);
        struct stat st;
        out[i] = stat(path, &st) == 0 ? (long long)st.st_size : 0;
        free(path);
    }
}

void ecoctl_logs_tail(const ecoctl_rt_t *rt, const ecoctl_svc_t *s, int lines)
{
    char *path = ecoctl_log_path(rt, s);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        free(path);
        return;
    }
    static char buf[16384];
    struct stat st;
    off_t off = fstat(fd, &st) == 0 && st.st_size > (off_t)sizeof(buf) - 1 ? st.st_size - (off_t)sizeof(buf) + 1 : 0;
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, off);
    close(fd);
    if (n <= 0) {
        free(path);
        return;
    }
    buf[n] = '\0';
    char *start = buf + n;
    if (start > buf && start[-1] == '\n')
        *--start = '\0';
    for (int k = 0; k < lines && start > buf;) {
        start--;
        if (*start == '\n' && ++k == lines)
            start++;
    }
    fprintf(stderr, "    last lines of %s:\n", path);
    for (char *line = start, *nl; line && *line; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        fprintf(stderr, "    | %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
    }
    free(path);
}

typedef struct {
    int fd;
    ino_t ino;
    long long off;
    eco_buf_t partial;
} follow_t;

static void emit(const ecoctl_rt_t *rt, size_t svc, int prefix, int width, const char *line, size_t len)
{
    if (prefix)
        printf("%s%-*s |%s ", ecoctl_color(rt, svc), width, rt->m->svcs[svc].name, rt->color ? "\033[0m" : "");
    fwrite(line, 1, len, stdout);
    fputc('\n', stdout);
}

/* Reads what is new in one file and prints its complete lines. */
static void pump(const ecoctl_rt_t *rt, size_t svc, follow_t *f, int prefix, int width, int final)
{
    char *path = ecoctl_log_path(rt, &rt->m->svcs[svc]);
    struct stat st;
    int exists = stat(path, &st) == 0;
    if (f->fd >= 0 && (!exists || st.st_ino != f->ino)) { /* replaced: start over on the new file */
        close(f->fd);
        f->fd = -1;
        f->off = 0;
        eco_buf_reset(&f->partial);
    }
    if (f->fd < 0 && exists) {
        f->fd = open(path, O_RDONLY | O_CLOEXEC);
        f->ino = st.st_ino;
    }
    free(path);
    if (f->fd < 0)
        return;
    if (fstat(f->fd, &st) == 0 && st.st_size < f->off) { /* truncated */
        f->off = 0;
        eco_buf_reset(&f->partial);
    }
    char buf[65536];
    ssize_t n;
    while ((n = pread(f->fd, buf, sizeof(buf), f->off)) > 0) {
        f->off += n;
        for (ssize_t i = 0; i < n;) {
            char *nl = memchr(buf + i, '\n', (size_t)(n - i));
            size_t take = nl ? (size_t)(nl - (buf + i)) : (size_t)(n - i);
            eco_buf_add(&f->partial, buf + i, take);
            i += (ssize_t)take + (nl ? 1 : 0);
            if (nl || f->partial.len >= LINE_MAX_BYTES) {
                emit(rt, svc, prefix, width, f->partial.base ? f->partial.base : "", f->partial.len);
                eco_buf_reset(&f->partial);
            }
        }
    }
    if (final && f->partial.len) {
        emit(rt, svc, prefix, width, f->partial.base, f->partial.len);
        eco_buf_reset(&f->partial);
    }
}

int ecoctl_logs_show(ecoctl_rt_t *rt, const size_t *idx, size_t n, int follow, int prefix, const long long *offsets,
                     int (*tick)(ecoctl_rt_t *rt))
{
    follow_t *fs = eco_calloc(n ? n : 1, sizeof(follow_t));
    int width = 0;
    for (size_t i = 0; i < n; i++) {
        fs[i].fd = -1;
        fs[i].off = offsets ? offsets[idx[i]] : 0;
        eco_buf_init(&fs[i].partial, LINE_MAX_BYTES + 65536);
        int w = (int)strlen(rt->m->svcs[idx[i]].name);
        width = w > width ? w : width;
    }
    for (;;) {
        for (size_t i = 0; i < n; i++)
            pump(rt, idx[i], &fs[i], prefix, width, !follow);
        if (fflush(stdout) != 0 || ferror(stdout)) /* the reader went away (SIGPIPE is ignored) */
            break;
        if (!follow || rt->signo || (tick && tick(rt) != 0))
            break;
        if (ecoctl_sleep_ms(rt, 200) != 0)
            break;
    }
    if (follow) /* what arrived while stopping, and unterminated last lines */
        for (size_t i = 0; i < n; i++)
            pump(rt, idx[i], &fs[i], prefix, width, 1);
    fflush(stdout);
    for (size_t i = 0; i < n; i++) {
        if (fs[i].fd >= 0)
            close(fs[i].fd);
        eco_buf_free(&fs[i].partial);
    }
    free(fs);
    return 0;
}
