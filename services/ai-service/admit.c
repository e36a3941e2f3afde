/* Admission: one bounded priority queue per model for requests that find every backend at its
 * concurrency limit; the lowest priority is shed first. */
#include "ai.h"

#include <string.h>

static ai_queue_t *queue_for(ai_t *ai, const char *model, int create)
{
    for (size_t i = 0; i < ai->nqueues; i++)
        if (strcmp(ai->queues[i].model, model) == 0)
            return &ai->queues[i];
    if (!create || ai->nqueues == REG_MAX_MODELS)
        return NULL;
    ai_queue_t *q = &ai->queues[ai->nqueues++];
    snprintf(q->model, sizeof(q->model), "%s", model);
    eco_pq_init(&q->pq, (size_t)ai->s.queue_max);
    return q;
}

int admit_enqueue(ai_t *ai, const char *model, admit_wait_t *w, int prio, void (*shed)(eco_pq_item_t *it))
{
    ai_queue_t *q = queue_for(ai, model, 1);
    if (!q)
        return -1;
    eco_pq_item_t *out = NULL;
    if (eco_pq_push(&q->pq, &w->item, prio, eco_now_ms(), &out) != 0) {
        eco_metrics_inc(ai->m_shed, model);
        return -1;
    }
    eco_metrics_set(ai->m_queue_depth, (double)eco_pq_len(&q->pq), model);
    if (out) {
        eco_metrics_inc(ai->m_shed, model);
        shed(out);
    }
    return 0;
}

void admit_remove(ai_t *ai, const char *model, admit_wait_t *w)
{
    ai_queue_t *q = queue_for(ai, model, 0);
    if (!q || !w->item.queued)
        return;
    eco_pq_remove(&q->pq, &w->item);
    eco_metrics_set(ai->m_queue_depth, (double)eco_pq_len(&q->pq), model);
}

void admit_kick(ai_t *ai)
{
    for (size_t i = 0; i < ai->nqueues; i++) {
        ai_queue_t *q = &ai->queues[i];
        /* Wake waiters one by one; a waiter that still finds no room queues itself again. */
        size_t n = eco_pq_len(&q->pq);
        while (n-- > 0) {
            eco_pq_item_t *it = eco_pq_pop(&q->pq);
            if (!it)
                break;
            eco_metrics_set(ai->m_queue_depth, (double)eco_pq_len(&q->pq), q->model);
            admit_wait_t *w = ECO_CONTAINER_OF(it, admit_wait_t, item);
            eco_metrics_observe(ai->m_queue_wait, (double)(eco_now_ms() - it->enq_ms) / 1000.0, q->model);
            w->wake(it);
            if (it->queued) /* it went back: no room for this model now */
                break;
        }
    }
}
