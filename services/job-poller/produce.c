/* Producing with a known outcome: every message carries a poller_delivery_t that its delivery
 * report fills in, so a caller acts on acknowledged messages only (outbox rows, DLQ entries). */
#include "poller.h"

#include <stdlib.h>
#include <string.h>

void poller_on_delivery(void *cb_data, int status, const char *errstr, void *msg_opaque, int32_t partition,
                        int64_t offset)
{
    poller_delivery_t *d = msg_opaque;
    if (!d)
        return;
    d->status = status;
    snprintf(d->err, sizeof(d->err), "%s", status ? (errstr ? errstr : "delivery failed") : "");
    int expected = DELIVERY_PENDING;
    if (!atomic_compare_exchange_strong(&d->state, &expected, DELIVERY_DONE))
        free(d); /* the waiter gave up on it */
}

void poller_wait_deliveries(poller_t *p, poller_delivery_t **d, size_t n, uint64_t deadline_ms, int *status,
                            char (*errs)[160])
{
    for (;;) {
        size_t pending = 0;
        for (size_t i = 0; i < n; i++)
            if (d[i] && atomic_load(&d[i]->state) == DELIVERY_PENDING)
                pending++;
        if (pending == 0 || eco_now_ms() >= deadline_ms)
            break;
        eco_store_kafka_producer_poll(p->producer, 20);
    }
    for (size_t i = 0; i < n; i++) {
        if (!d[i])
            continue;
        int expected = DELIVERY_PENDING;
        if (atomic_compare_exchange_strong(&d[i]->state, &expected, DELIVERY_ABANDONED)) {
            status[i] = ECO_ETIMEDOUT; /* the report frees it when it comes */
            snprintf(errs[i], sizeof(errs[i]), "no delivery report in time");
        } else {
            status[i] = d[i]->status;
            snprintf(errs[i], sizeof(errs[i]), "%s", d[i]->err);
            free(d[i]);
        }
        d[i] = NULL;
    }
}

int poller_produce_sync(poller_t *p, const char *topic, const void *key, size_t key_len, const void *value,
                        size_t value_len, const eco_store_kafka_header_t *headers, size_t nheaders, long timeout_ms,
                        char *err, size_t errlen)
{
    poller_delivery_t *d = eco_calloc(1, sizeof(*d));
    atomic_init(&d->state, DELIVERY_PENDING);
    int rc =
        eco_store_kafka_produce(p->producer, topic, key, key_len, value, value_len, headers, nheaders, d, err, errlen);
    if (rc != 0) {
        free(d); /* not queued: no report will come */
        return rc;
    }
    int status;
    char e[1][160];
    poller_wait_deliveries(p, &d, 1, eco_now_ms() + (uint64_t)timeout_ms, &status, e);
    if (status != 0)
        snprintf(err, errlen, "%s", e[0]);
    return status;
}
