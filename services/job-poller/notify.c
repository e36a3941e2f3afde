/* Job status notifications on Redis pub/sub (<prefix>jobs:<owner_id>). Informational: they run
 * on their own worker (eco_store_pool, one thread, bounded queue), so a slow or absent Redis
 * never delays applying events; a full queue drops the notification and counts it. */
#include "poller.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    poller_t *p;
    char channel[128];
    char *message;
} note_t;

static void publish(eco_store_worker_t *w, void *data)
{
    note_t *n = data;
    char err[256];
    redisContext *c = eco_store_worker_redis(w, err, sizeof(err));
    redisReply *r = c ? redisCommand(c, "PUBLISH %s %s", n->channel, n->message) : NULL;
    if (!r) {
        if (c)
            eco_store_worker_redis_broken(w);
        eco_metrics_inc(n->p->m.notifications, "error");
        eco_debug("job notification not sent", ECO_KS("channel", n->channel), ECO_KS("error", c ? "I/O" : err));
    } else {
        eco_metrics_inc(n->p->m.notifications, r->type == REDIS_REPLY_ERROR ? "error" : "sent");
        freeReplyObject(r);
    }
    free(n->message);
    free(n);
}

void poller_notify(poller_t *p, const char *owner_id, const char *job_id, const char *status, uint64_t seq)
{
    if (!p->redis)
        return;
    note_t *n = eco_calloc(1, sizeof(*n));
    n->p = p;
    snprintf(n->channel, sizeof(n->channel), "%sjobs:%s", p->s.redis_prefix, owner_id);
    eco_buf_t b;
    eco_buf_init(&b, 4096);
    eco_buf_adds(&b, "{\"job_id\":");
    eco_buf_add_json_str(&b, job_id, (size_t)-1);
    eco_buf_adds(&b, ",\"status\":");
    eco_buf_add_json_str(&b, status, (size_t)-1);
    eco_buf_addf(&b, ",\"seq\":%llu}", (unsigned long long)seq);
    n->message = eco_buf_detach(&b, NULL);
    if (eco_store_pool_submit(p->redis, publish, n) != 0) {
        eco_metrics_inc(p->m.notifications, "dropped");
        free(n->message);
        free(n);
    }
}
