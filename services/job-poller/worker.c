/* What the worker threads share: an interruptible sleep (so a drain wakes them at once) and a
 * PostgreSQL connection that is retried until it comes up or the poller stops. */
#include "poller.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#define PG_CONNECT_TIMEOUT_MS   2000
#define PG_STATEMENT_TIMEOUT_MS 15000
#define PG_RETRY_MS             1000

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_cv(void)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&cv, &a);
    pthread_condattr_destroy(&a);
}

int poller_sleep(poller_t *p, long ms)
{
    pthread_once(&once, init_cv);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&mu);
    while (!atomic_load(&p->stop))
        if (pthread_cond_timedwait(&cv, &mu, &ts) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&mu);
    return atomic_load(&p->stop) ? 1 : 0;
}

void poller_request_stop(poller_t *p)
{
    pthread_once(&once, init_cv);
    pthread_mutex_lock(&mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

PGconn *poller_pg_connect(poller_t *p, const char *who)
{
    int logged = 0;
    while (!atomic_load(&p->stop)) {
        PGconn *c = NULL;
        char err[256];
        if (eco_store_pg_connect(p->s.pg_url, PG_CONNECT_TIMEOUT_MS, PG_STATEMENT_TIMEOUT_MS, &c, err, sizeof(err)) ==
            0) {
            if (logged)
                eco_info("PostgreSQL connection restored", ECO_KS("worker", who));
            return c;
        }
        if (!logged++)
            eco_warn("cannot connect to PostgreSQL; retrying", ECO_KS("worker", who), ECO_KS("error", err));
        poller_sleep(p, PG_RETRY_MS);
    }
    return NULL;
}
