/* Retry budget: retries in the window may not exceed min_retries + ratio * first attempts, so
 * retries cannot multiply the load on a backend that is already failing. */
#include "resilience_internal.h"

#include <string.h>

void eco_retry_budget_init(eco_retry_budget_t *b, double ratio, int min_retries, long window_ms)
{
    memset(b, 0, sizeof(*b));
    b->ratio = ratio > 0 ? ratio : 0.2; /* also NaN */
    b->min_retries = min_retries > 0 ? min_retries : 10;
    b->window_ms = window_ms > 0 ? window_ms : 10000;
}

static void roll(eco_retry_budget_t *b, uint64_t now_ms)
{
    switch (eco__res_window_roll(&b->bucket_start_ms, b->window_ms, now_ms)) {
    case 1:
        b->prev_req = b->cur_req;
        b->prev_retry = b->cur_retry;
        b->cur_req = b->cur_retry = 0;
        break;
    case 2:
        b->cur_req = b->cur_retry = b->prev_req = b->prev_retry = 0;
        break;
    }
}

void eco_retry_budget_request(eco_retry_budget_t *b, uint64_t now_ms)
{
    roll(b, now_ms);
    b->cur_req++;
}

int eco_retry_budget_try(eco_retry_budget_t *b, uint64_t now_ms)
{
    roll(b, now_ms);
    double retries = (double)b->cur_retry + b->prev_retry + 1; /* counting this one */
    double limit = b->min_retries + b->ratio * ((double)b->cur_req + b->prev_req);
    /* The epsilon keeps 0.2 * 100 from landing just under 20 after rounding. */
    if (retries > limit + 1e-9) {
        b->refused++;
        return 0;
    }
    b->cur_retry++;
    return 1;
}
