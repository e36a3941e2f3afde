/* Readiness: dependency checks on background threads and the overall status they imply. */
#include "eco_core.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define READY_MAX_CHECKS 16

typedef struct {
    const char *name;
    eco_ready_kind_t kind;
    eco_ready_check_fn fn;
    void *data;
    pthread_t thread;
    pthread_mutex_t lock; /* guards state, detail, checked_at */
    eco_dep_state_t state;
    char detail[160];
    uint64_t checked_at_ms;
} check_t;

static check_t checks[READY_MAX_CHECKS];
static size_t nchecks;
static long check_interval_ms = 1000;
static int started;
static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cond;
static int stopping;

void eco_ready_add(const char *name, eco_ready_kind_t kind, eco_ready_check_fn fn, void *data)
{
    ECO_BUG_ON(started || nchecks >= READY_MAX_CHECKS);
    check_t *c = &checks[nchecks++];
    memset(c, 0, sizeof(*c));
    c->name = name;
    c->kind = kind;
    c->fn = fn;
    c->data = data;
    pthread_mutex_init(&c->lock, NULL);
}

static void *check_loop(void *arg)
{
    check_t *c = arg;
    for (;;) {
        char detail[sizeof(c->detail)] = "";
        eco_dep_state_t st = c->fn(c->data, detail, sizeof(detail));
        pthread_mutex_lock(&c->lock);
        if (st != c->state && c->state != ECO_DEP_UNKNOWN)
            eco_log(st == ECO_DEP_UP ? ECO_LOG_INFO : ECO_LOG_WARN, "dependency state changed",
                    ECO_KS("dependency", c->name),
                    ECO_KS("state", st == ECO_DEP_UP     ? "up"
                                    : st == ECO_DEP_DOWN ? "down"
                                                         : "degraded"),
                    ECO_KS("detail", detail));
        c->state = st;
        memcpy(c->detail, detail, sizeof(detail));
        c->checked_at_ms = eco_now_ms();
        pthread_mutex_unlock(&c->lock);

        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += check_interval_ms / 1000;
        until.tv_nsec += (check_interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&stop_lock);
        while (!stopping && pthread_cond_timedwait(&stop_cond, &stop_lock, &until) == 0)
            ;
        int stop = stopping;
        pthread_mutex_unlock(&stop_lock);
        if (stop)
            return NULL;
    }
}

void eco_ready_start(long interval_ms)
{
    if (started)
        return;
    check_interval_ms = interval_ms > 0 ? interval_ms : 1000;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&stop_cond, &attr);
    pthread_condattr_destroy(&attr);
    started = 1;
    for (size_t i = 0; i < nchecks; i++)
        if (pthread_create(&checks[i].thread, NULL, check_loop, &checks[i]) != 0)
            eco_fatal("cannot start readiness thread");
}

void eco_ready_stop(void)
{
    if (!started)
        return;
    pthread_mutex_lock(&stop_lock);
    stopping = 1;
    pthread_cond_broadcast(&stop_cond);
    pthread_mutex_unlock(&stop_lock);
    for (size_t i = 0; i < nchecks; i++)
        pthread_join(checks[i].thread, NULL);
    started = 0;
}

eco_ready_status_t eco_ready_status(void)
{
    if (eco_lifecycle_draining())
        return ECO_READY_DRAINING;
    eco_ready_status_t st = ECO_READY_OK;
    for (size_t i = 0; i < nchecks; i++) {
        check_t *c = &checks[i];
        pthread_mutex_lock(&c->lock);
        eco_dep_state_t s = c->state;
        pthread_mutex_unlock(&c->lock);
        if (c->kind == ECO_READY_REQUIRED && (s == ECO_DEP_DOWN || s == ECO_DEP_UNKNOWN))
            return ECO_READY_NOT_READY;
        if (s != ECO_DEP_UP)
            st = ECO_READY_DEGRADED;
    }
    return st;
}

eco_dep_state_t eco_ready_dep_state(const char *name)
{
    for (size_t i = 0; i < nchecks; i++) {
        if (strcmp(checks[i].name, name) != 0)
            continue;
        pthread_mutex_lock(&checks[i].lock);
        eco_dep_state_t s = checks[i].state;
        pthread_mutex_unlock(&checks[i].lock);
        return s;
    }
    return ECO_DEP_UNKNOWN;
}

int eco_ready_render_json(eco_buf_t *out)
{
    static const char *const status_names[] = {"ready", "degraded", "not_ready", "draining"};
    static const char *const dep_names[] = {"unknown", "up", "degraded", "down"};
    eco_ready_status_t st = eco_ready_status();
    eco_buf_addf(out, "{\"status\":\"%s\",\"checks\":{", status_names[st]);
    uint64_t now = eco_now_ms();
    for (size_t i = 0; i < nchecks; i++) {
        check_t *c = &checks[i];
        pthread_mutex_lock(&c->lock);
        if (i)
            eco_buf_addc(out, ',');
        eco_buf_add_json_str(out, c->name, (size_t)-1);
        eco_buf_addf(out, ":{\"state\":\"%s\",\"required\":%s,\"detail\":", dep_names[c->state],
                     c->kind == ECO_READY_REQUIRED ? "true" : "false");
        eco_buf_add_json_str(out, c->detail, (size_t)-1);
        if (c->checked_at_ms)
            eco_buf_addf(out, ",\"checked_ms_ago\":%llu}", (unsigned long long)(now - c->checked_at_ms));
        else
            eco_buf_adds(out, ",\"checked_ms_ago\":null}");
        pthread_mutex_unlock(&c->lock);
    }
    eco_buf_adds(out, "}}");
    return (st == ECO_READY_NOT_READY || st == ECO_READY_DRAINING) ? 503 : 200;
}
