/* Circuit breaker per backend. Closed opens on N failures in a row or on an error rate over the
 * window; open turns half-open once the cool-down has passed (seen lazily, at the next call);
 * half-open lets a few probes through, closes after enough successes, reopens on a failure. */
#include "resilience_internal.h"

#include <string.h>

/* Zero (or a negative, meaningless value) takes the documented default. */
static void apply_defaults(eco_cb_opts_t *o)
{
    if (o->consecutive_failures <= 0)
        o->consecutive_failures = 5;
    if (!(o->error_rate > 0)) /* also NaN */
        o->error_rate = 0;
    if (o->min_results <= 0)
        o->min_results = 20;
    if (o->window_ms <= 0)
        o->window_ms = 10000;
    if (o->cooldown_ms <= 0)
        o->cooldown_ms = 5000;
    if (o->half_open_probes <= 0)
        o->half_open_probes = 1;
    if (o->half_open_successes <= 0)
        o->half_open_successes = 1;
}

void eco_cb_init(eco_cb_t *cb, const eco_cb_opts_t *opts)
{
    memset(cb, 0, sizeof(*cb));
    if (opts)
        cb->o = *opts;
    apply_defaults(&cb->o);
    cb->state = ECO_CB_CLOSED;
}

static void trip(eco_cb_t *cb, uint64_t now_ms)
{
    cb->state = ECO_CB_OPEN;
    cb->opened_ms = now_ms;
    cb->probes_out = 0;
    cb->probe_successes = 0;
    cb->opens++;
}

/* Closing starts from a clean slate: failures from before the outage must not reopen it. */
static void close_it(eco_cb_t *cb, uint64_t now_ms)
{
    cb->state = ECO_CB_CLOSED;
    cb->consecutive = 0;
    cb->probes_out = 0;
    cb->probe_successes = 0;
    cb->bucket_start_ms = now_ms;
    cb->cur_ok = cb->cur_fail = cb->prev_ok = cb->prev_fail = 0;
}

static void record(eco_cb_t *cb, uint64_t now_ms, int failed)
{
    switch (eco__res_window_roll(&cb->bucket_start_ms, cb->o.window_ms, now_ms)) {
    case 1:
        cb->prev_ok = cb->cur_ok;
        cb->prev_fail = cb->cur_fail;
        cb->cur_ok = cb->cur_fail = 0;
        break;
    case 2:
        cb->cur_ok = cb->cur_fail = cb->prev_ok = cb->prev_fail = 0;
        break;
    }
    if (failed)
        cb->cur_fail++;
    else
        cb->cur_ok++;
}

static int rate_exceeded(const eco_cb_t *cb)
{
    if (cb->o.error_rate <= 0)
        return 0;
    unsigned long fails = (unsigned long)cb->cur_fail + cb->prev_fail;
    unsigned long total = fails + cb->cur_ok + cb->prev_ok;
    return total >= (unsigned long)cb->o.min_results && (double)fails / (double)total > cb->o.error_rate;
}

eco_cb_state_t eco_cb_state(eco_cb_t *cb, uint64_t now_ms)
{
    if (cb->state == ECO_CB_OPEN && now_ms >= cb->opened_ms && now_ms - cb->opened_ms >= (uint64_t)cb->o.cooldown_ms) {
        cb->state = ECO_CB_HALF_OPEN;
        cb->probes_out = 0;
        cb->probe_successes = 0;
    }
    return cb->state;
}

int eco_cb_allow(eco_cb_t *cb, uint64_t now_ms)
{
    switch (eco_cb_state(cb, now_ms)) {
    case ECO_CB_CLOSED:
        return 1;
    case ECO_CB_HALF_OPEN:
        if (cb->probes_out >= cb->o.half_open_probes)
            return 0;
        cb->probes_out++;
        return 1;
    default:
        return 0;
    }
}

/* Outcomes arriving while open, or while half-open with no probe out, belong to requests sent
 * before the breaker opened: they say nothing about the backend now and are ignored. */
void eco_cb_success(eco_cb_t *cb, uint64_t now_ms)
{
    switch (eco_cb_state(cb, now_ms)) {
    case ECO_CB_CLOSED:
        cb->consecutive = 0;
        record(cb, now_ms, 0);
        break;
    case ECO_CB_HALF_OPEN:
        if (cb->probes_out == 0)
            break;
        cb->probes_out--;
        if (++cb->probe_successes >= cb->o.half_open_successes)
            close_it(cb, now_ms);
        break;
    default:
        break;
    }
}

void eco_cb_failure(eco_cb_t *cb, uint64_t now_ms)
{
    switch (eco_cb_state(cb, now_ms)) {
    case ECO_CB_CLOSED:
        cb->consecutive++;
        record(cb, now_ms, 1);
        if (cb->consecutive >= cb->o.consecutive_failures || rate_exceeded(cb))
            trip(cb, now_ms);
        break;
    case ECO_CB_HALF_OPEN:
        if (cb->probes_out > 0)
            trip(cb, now_ms); /* restarts the cool-down */
        break;
    default:
        break;
    }
}

void eco_cb_release(eco_cb_t *cb, uint64_t now_ms)
{
    if (eco_cb_state(cb, now_ms) == ECO_CB_HALF_OPEN && cb->probes_out > 0)
        cb->probes_out--;
}

const char *eco_cb_state_name(eco_cb_state_t s)
{
    switch (s) {
    case ECO_CB_CLOSED:
        return "closed";
    case ECO_CB_OPEN:
        return "open";
    case ECO_CB_HALF_OPEN:
        return "half_open";
    }
    return "unknown";
}
