/*
 * eco_resilience: the small decision mechanisms of a gateway that keeps answering through
 * failures and overload. Pure logic: no I/O, no threads, no clocks of their own (every function
 * takes "now" in milliseconds from the caller), so each is unit-tested deterministically.
 * None is thread-safe: the caller serialises access (ai-service keeps them on its loop thread).
 *
 *   - circuit breaker per backend (closed -> open -> half-open -> closed);
 *   - retry budget (retries <= a ratio of requests over a sliding window);
 *   - exponential backoff with jitter, honouring a server's retry-after;
 *   - bounded priority queue that sheds the lowest priority first;
 *   - power-of-two-choices pick on a cost per candidate;
 *   - a small fast PRNG for jitter and picks (not for secrets).
 */
#ifndef ECO_RESILIENCE_H
#define ECO_RESILIENCE_H

#include <stddef.h>
#include <stdint.h>

/* ---------- PRNG (splitmix64) ---------- */

/* Next 64 random bits; *state is any value (seed it from eco_random_bytes). */
uint64_t eco_rand_next(uint64_t *state);
/* Uniform in [0, n) for n > 0 (0 when n == 0). */
uint64_t eco_rand_below(uint64_t *state, uint64_t n);

/* ---------- circuit breaker ---------- */

typedef enum { ECO_CB_CLOSED = 0, ECO_CB_OPEN = 1, ECO_CB_HALF_OPEN = 2 } eco_cb_state_t;

typedef struct {
    int consecutive_failures; /* open after this many failures in a row; 0 = 5 */
    double error_rate;        /* also open when failures/results in the window exceed this; 0 = off */
    int min_results;          /* results needed in the window before error_rate applies; 0 = 20 */
    long window_ms;           /* error-rate window; 0 = 10000 */
    long cooldown_ms;         /* open -> half-open after this; 0 = 5000 */
    int half_open_probes;     /* trial requests allowed at once while half-open; 0 = 1 */
    int half_open_successes;  /* successes in half-open that close it; 0 = 1 */
} eco_cb_opts_t;

typedef struct {
    eco_cb_opts_t o; /* with defaults applied */
    eco_cb_state_t state;
    int consecutive;     /* failures in a row */
    uint64_t opened_ms;  /* when it last opened */
    int probes_out;      /* half-open trials in flight */
    int probe_successes; /* half-open successes so far */
    /* error-rate window: two half-window buckets (current and previous) */
    uint64_t bucket_start_ms;
    unsigned cur_ok, cur_fail, prev_ok, prev_fail;
    unsigned long opens; /* times it opened (for metrics) */
} eco_cb_t;

/* opts may be NULL (all defaults). */
void eco_cb_init(eco_cb_t *cb, const eco_cb_opts_t *opts);
/* The state now (an open breaker whose cool-down has passed reports HALF_OPEN). */
eco_cb_state_t eco_cb_state(eco_cb_t *cb, uint64_t now_ms);
/* 1 when a request may be sent now. In half-open this takes one of the probe slots, which the
 * request gives back through exactly one of eco_cb_success / eco_cb_failure / eco_cb_release. */
int eco_cb_allow(eco_cb_t *cb, uint64_t now_ms);
/* The outcome of a request that eco_cb_allow let through. */
void eco_cb_success(eco_cb_t *cb, uint64_t now_ms);
void eco_cb_failure(eco_cb_t *cb, uint64_t now_ms);
/* A request that ended without saying anything about the backend (client cancelled). */
void eco_cb_release(eco_cb_t *cb, uint64_t now_ms);
/* "closed", "open", "half_open". */
const char *eco_cb_state_name(eco_cb_state_t s);

/* ---------- retry budget ---------- */

typedef struct {
    double ratio;    /* retries allowed per request; 0 = 0.2 */
    int min_retries; /* retries always allowed per window, so a quiet service can still retry; 0 = 10 */
    long window_ms;  /* 0 = 10000 */
    uint64_t bucket_start_ms;
    unsigned cur_req, cur_retry, prev_req, prev_retry;
    unsigned long refused; /* retries refused (for metrics) */
} eco_retry_budget_t;

void eco_retry_budget_init(eco_retry_budget_t *b, double ratio, int min_retries, long window_ms);
/* Counts a first attempt. */
void eco_retry_budget_request(eco_retry_budget_t *b, uint64_t now_ms);
/* 1 (and counts the retry) when retries in the window stay <= min_retries + ratio * requests;
 * else 0 (counted in refused). The window is the current plus the previous half-window. */
int eco_retry_budget_try(eco_retry_budget_t *b, uint64_t now_ms);

/* ---------- backoff ---------- */

/* Delay before retry number attempt (1 = first retry): "equal jitter" on base_ms * 2^(attempt-1)
 * capped at max_ms (half fixed, half random), and never less than retry_after_ms (a server's
 * Retry-After; 0 = none). */
long eco_backoff_ms(int attempt, long base_ms, long max_ms, long retry_after_ms, uint64_t *rng);

/* ---------- bounded priority queue ---------- */

enum { ECO_PRIO_LOW = 0, ECO_PRIO_NORMAL = 1, ECO_PRIO_HIGH = 2, ECO_PRIO_COUNT = 3 };

/* Intrusive: embed in your own object (ECO_CONTAINER_OF to get back). */
typedef struct eco_pq_item {
    struct eco_pq_item *prev, *next;
    int prio;
    uint64_t enq_ms;
    int queued;
} eco_pq_item_t;

typedef struct {
    eco_pq_item_t *head[ECO_PRIO_COUNT], *tail[ECO_PRIO_COUNT];
    size_t len, max;
} eco_pq_t;

void eco_pq_init(eco_pq_t *q, size_t max);
/* Queues it with prio (clamped to 0..2) at the back of its class. When the queue is full and a
 * lower class is non-empty, the newest item of the lowest non-empty class is taken out to make
 * room and returned in *shed (the caller answers it "overloaded"); when no lower item exists
 * the push is refused: returns -1 and nothing changes. Returns 0 when queued. */
int eco_pq_push(eco_pq_t *q, eco_pq_item_t *it, int prio, uint64_t now_ms, eco_pq_item_t **shed);
/* The oldest item of the highest non-empty class, removed; NULL when empty. */
eco_pq_item_t *eco_pq_pop(eco_pq_t *q);
/* Takes a queued item out (cancelled while waiting); no-op when it is not queued. */
void eco_pq_remove(eco_pq_t *q, eco_pq_item_t *it);
size_t eco_pq_len(const eco_pq_t *q);
size_t eco_pq_len_prio(const eco_pq_t *q, int prio);

/* ---------- power of two choices ---------- */

/* Index of the cheaper of two distinct candidates drawn at random among the n with cost >= 0
 * (negative cost = not eligible); ties go to the first drawn. -1 when none is eligible; the
 * only eligible one when there is one. */
int eco_p2c_pick(const double *cost, size_t n, uint64_t *rng);

#endif
