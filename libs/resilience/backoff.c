/* Exponential backoff with "equal jitter": half the delay is fixed so retries never bunch at
 * zero, half is random so clients that failed together do not retry together. */
#include "eco_resilience.h"

long eco_backoff_ms(int attempt, long base_ms, long max_ms, long retry_after_ms, uint64_t *rng)
{
    uint64_t cap = max_ms > 0 ? (uint64_t)max_ms : 0;
    uint64_t d = base_ms > 0 ? (uint64_t)base_ms : 0;
    if (d > cap)
        d = cap;
    /* Doubling stops at the cap, so a large attempt number cannot overflow. */
    for (int i = 1; i < attempt && d > 0 && d < cap; i++)
        d = d > cap / 2 ? cap : d * 2;
    uint64_t half = d / 2;
    long delay = (long)(half + eco_rand_below(rng, d - half + 1));
    return delay < retry_after_ms ? retry_after_ms : delay;
}
