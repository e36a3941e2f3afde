/* The sliding window of the breaker and the retry budget: a current and a previous bucket of
 * half a window each, so counts cover between half and one full window with O(1) state. */
#include "resilience_internal.h"

int eco__res_window_roll(uint64_t *start_ms, long window_ms, uint64_t now_ms)
{
    uint64_t half = window_ms >= 2 ? (uint64_t)window_ms / 2 : 1;
    if (now_ms < *start_ms + half)
        return 0;
    if (now_ms < *start_ms + 2 * half) {
        *start_ms += half;
        return 1;
    }
    /* Idle for a whole window or more: start the buckets afresh at now. */
    *start_ms = now_ms;
    return 2;
}
