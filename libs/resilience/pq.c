/* Bounded priority queue: one intrusive FIFO list per class. When full, a higher-class arrival
 * displaces the newest item of the lowest class (it has waited least, so shedding it wastes the
 * least queueing time already spent); an arrival with nothing lower to displace is refused. */
#include "eco_core.h"
#include "eco_resilience.h"

#include <string.h>

void eco_pq_init(eco_pq_t *q, size_t max)
{
    memset(q, 0, sizeof(*q));
    q->max = max;
}

static void unlink_item(eco_pq_t *q, eco_pq_item_t *it)
{
    int p = it->prio;
    if (it->prev)
        it->prev->next = it->next;
    else
        q->head[p] = it->next;
    if (it->next)
        it->next->prev = it->prev;
    else
        q->tail[p] = it->prev;
    it->prev = it->next = NULL;
    it->queued = 0;
    q->len--;
}

int eco_pq_push(eco_pq_t *q, eco_pq_item_t *it, int prio, uint64_t now_ms, eco_pq_item_t **shed)
{
    /* Queuing an item twice would corrupt both lists. */
    ECO_BUG_ON(it->queued);
    if (shed)
        *shed = NULL;
    if (prio < ECO_PRIO_LOW)
        prio = ECO_PRIO_LOW;
    if (prio >= ECO_PRIO_COUNT)
        prio = ECO_PRIO_COUNT - 1;
    if (q->len >= q->max) {
        int c = ECO_PRIO_LOW;
        while (c < prio && !q->tail[c])
            c++;
        if (c == prio)
            return -1;
        eco_pq_item_t *victim = q->tail[c];
        unlink_item(q, victim);
        if (shed)
            *shed = victim;
    }
    it->prio = prio;
    it->enq_ms = now_ms;
    it->queued = 1;
    it->next = NULL;
    it->prev = q->tail[prio];
    if (it->prev)
        it->prev->next = it;
    else
        q->head[prio] = it;
    q->tail[prio] = it;
    q->len++;
    return 0;
}

eco_pq_item_t *eco_pq_pop(eco_pq_t *q)
{
    for (int p = ECO_PRIO_COUNT - 1; p >= ECO_PRIO_LOW; p--) {
        eco_pq_item_t *it = q->head[p];
        if (it) {
            unlink_item(q, it);
            return it;
        }
    }
    return NULL;
}

void eco_pq_remove(eco_pq_t *q, eco_pq_item_t *it)
{
    if (it->queued)
        unlink_item(q, it);
}

size_t eco_pq_len(const eco_pq_t *q)
{
    return q->len;
}

/* A walk of one class: the queue is bounded, and the struct keeps no per-class count. */
size_t eco_pq_len_prio(const eco_pq_t *q, int prio)
{
    if (prio < ECO_PRIO_LOW || prio >= ECO_PRIO_COUNT)
        return 0;
    size_t n = 0;
    for (const eco_pq_item_t *it = q->head[prio]; it; it = it->next)
        n++;
    return n;
}
