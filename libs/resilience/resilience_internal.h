/* Shared internals of libs/resilience: the sliding window behind the breaker and the budget. */
#ifndef ECO_RESILIENCE_INTERNAL_H
#define ECO_RESILIENCE_INTERNAL_H

#include "eco_resilience.h"

/* ---- two half-window buckets (window.c) ---- */

/* Moves the bucket start *start_ms forward to now_ms over a window of window_ms (> 0). Returns
 * 0 when now is still in the current bucket (or the clock went backwards), 1 when the current
 * bucket becomes the previous one, 2 when both buckets are out of the window and must be cleared. */
int eco__res_window_roll(uint64_t *start_ms, long window_ms, uint64_t now_ms);

#endif
