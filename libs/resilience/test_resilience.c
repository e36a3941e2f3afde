/* Unit tests for eco_resilience: PRNG, circuit breaker, retry budget, backoff, priority queue,
 * power of two choices. Time is a plain number, so every case is deterministic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "eco_core.h"
#include "eco_resilience.h"

/* ---------- PRNG ---------- */

static void test_rand(void **state)
{
    (void)state;
    /* splitmix64's published first output for seed 0. */
    uint64_t s = 0;
    assert_true(eco_rand_next(&s) == 0xE220A8397B1DCDAFull);
    uint64_t a = 42, b = 42;
    for (int i = 0; i < 10; i++)
        assert_true(eco_rand_next(&a) == eco_rand_next(&b));
    assert_true(eco_rand_below(&a, 0) == 0);
    assert_true(eco_rand_below(&a, 1) == 0);
    unsigned seen[7] = {0};
    for (int i = 0; i < 7000; i++) {
        uint64_t r = eco_rand_below(&a, 7);
        assert_true(r < 7);
        seen[r]++;
    }
    for (int i = 0; i < 7; i++)
        assert_in_range(seen[i], 800, 1200);
}

/* ---------- circuit breaker ---------- */

static void test_cb_defaults(void **state)
{
    (void)state;
    eco_cb_t cb;
    eco_cb_init(&cb, NULL);
    assert_int_equal(cb.o.consecutive_failures, 5);
    assert_true(cb.o.error_rate == 0);
    assert_int_equal(cb.o.min_results, 20);
    assert_int_equal(cb.o.window_ms, 10000);
    assert_int_equal(cb.o.cooldown_ms, 5000);
    assert_int_equal(cb.o.half_open_probes, 1);
    assert_int_equal(cb.o.half_open_successes, 1);
    assert_int_equal(eco_cb_state(&cb, 0), ECO_CB_CLOSED);
    assert_string_equal(eco_cb_state_name(ECO_CB_CLOSED), "closed");
    assert_string_equal(eco_cb_state_name(ECO_CB_OPEN), "open");
    assert_string_equal(eco_cb_state_name(ECO_CB_HALF_OPEN), "half_open");
}

static void test_cb_consecutive(void **state)
{
    (void)state;
    eco_cb_opts_t o = {.consecutive_failures = 3};
    eco_cb_t cb;
    eco_cb_init(&cb, &o);
    uint64_t t = 1000;
    eco_cb_failure(&cb, t);
    eco_cb_failure(&cb, t);
    eco_cb_success(&cb, t); /* breaks the run */
    eco_cb_failure(&cb, t);
    eco_cb_failure(&cb, t);
    assert_int_equal(eco_cb_state(&cb, t), ECO_CB_CLOSED);
    assert_true(eco_cb_allow(&cb, t));
    eco_cb_failure(&cb, t);
    assert_int_equal(eco_cb_state(&cb, t), ECO_CB_OPEN);
    assert_false(eco_cb_allow(&cb, t));
    assert_int_equal(cb.opens, 1);
    assert_true(cb.opened_ms == t);
}

static void test_cb_error_rate(void **state)
{
    (void)state;
    eco_cb_opts_t o = {.consecutive_failures = 1000, .error_rate = 0.5, .min_results = 10, .window_ms = 10000};
    eco_cb_t cb;
    eco_cb_init(&cb, &o);
    /* 100% failures, but fewer results than min_results. */
    for (int i = 0; i < 9; i++)
        eco_cb_failure(&cb, 100);
    assert_int_equal(eco_cb_state(&cb, 100), ECO_CB_CLOSED);

    eco_cb_init(&cb, &o);
    for (int i = 0; i < 5; i++)
        eco_cb_success(&cb, 100);
    for (int i = 0; i < 5; i++)
        eco_cb_failure(&cb, 200);
    /* 5/10 is not over 0.5. */
    assert_int_equal(eco_cb_state(&cb, 200), ECO_CB_CLOSED);
    eco_cb_failure(&cb, 300); /* 6/11 */
    assert_int_equal(eco_cb_state(&cb, 300), ECO_CB_OPEN);
    assert_int_equal(cb.opens, 1);
}

static void test_cb_error_rate_window_slides(void **state)
{
    (void)state;
    eco_cb_opts_t o = {.consecutive_failures = 1000, .error_rate = 0.5, .min_results = 10, .window_ms = 1000};
    eco_cb_t cb;
    eco_cb_init(&cb, &o);
    for (int i = 0; i < 9; i++)
        eco_cb_failure(&cb, 0);
    /* Half a window later the nine are in the previous bucket and still count. */
    eco_cb_failure(&cb, 600);
    assert_int_equal(eco_cb_state(&cb, 600), ECO_CB_OPEN);

    eco_cb_init(&cb, &o);
    for (int i = 0; i < 9; i++)
        eco_cb_failure(&cb, 0);
    /* A full window later they are gone: one result is below min_results. */
    eco_cb_failure(&cb, 1000);
    assert_int_equal(eco_cb_state(&cb, 1000), ECO_CB_CLOSED);
    assert_int_equal(cb.cur_fail + cb.prev_fail, 1);

    /* Successes in the previous bucket count too: 10 failures over 20 results is not over 0.5. */
    eco_cb_init(&cb, &o);
    for (int i = 0; i < 10; i++)
        eco_cb_success(&cb, 0);
    for (int i = 0; i < 10; i++)
        eco_cb_failure(&cb, 600);
    assert_int_equal(eco_cb_state(&cb, 600), ECO_CB_CLOSED);
    eco_cb_failure(&cb, 600);
    assert_int_equal(eco_cb_state(&cb, 600), ECO_CB_OPEN);
}

static void open_at(eco_cb_t *cb, const eco_cb_opts_t *o, uint64_t t)
{
    eco_cb_init(cb, o);
    eco_cb_failure(cb, t);
    assert_int_equal(eco_cb_state(cb, t), ECO_CB_OPEN);
}

static void test_cb_cooldown(void **state)
{
    (void)state;
    eco_cb_opts_t o = {.consecutive_failures = 1, .cooldown_ms = 5000};
    eco_cb_t cb;
    open_at(&cb, &o, 1000);
    assert_false(eco_cb_allow(&cb, 1000));
    assert_false(eco_cb_allow(&cb, 5999));
    assert_int_equal(eco_cb_state(&cb, 5999), ECO_CB_OPEN);
    /* A late success from before it opened does not close it. */
    eco_cb_success(&cb, 5999);
    assert_int_equal(eco_cb_state(&cb, 5999), ECO_CB_OPEN);
    assert_int_equal(eco_cb_state(&cb, 6000), ECO_CB_HALF_OPEN);
}

static void test_cb_half_open_probes(void **state)
{
    (void)state;
    eco_cb_opts_t o = {.consecutive_failures = 1, .cooldown_ms = 100, .half_open_probes = 2, .half_open_successes = 5};
    eco_cb_t cb;
    open_at(&cb, &o, 0);
    assert_true(eco_cb_allow(&cb, 100));
    assert_true(eco_cb_allow(&cb, 100));
    assert_false(eco_cb_allow(&cb, 100));
    assert_false(eco_cb_allow(&cb, 150));
    /* A cancelled probe gives its slot back, once. */
    eco_cb_release(&cb, 150);
    assert_true(eco_cb_allow(&cb, 150));
    assert_false(eco_cb_allow(&cb, 150));
    assert_int_equal(cb.probes_out, 2);
    eco_cb_release(&cb, 160);
    eco_cb_release(&cb, 160);
    eco_cb_release(&cb, 160); /* nothing left to release */
    assert_int_equal(cb.probes_out, 0);
    assert_int_equal(eco_cb_state(&cb, 160), ECO_CB_HALF_OPEN);
}

static void test_cb_success_closes(void **state)
{
    (void)state;
    eco_cb_opts_t o = {.consecutive_failures = 2, .cooldown_ms = 100, .half_open_successes = 2};
    eco_cb_t cb;
    eco_cb_init(&cb, &o);
    eco_cb_failure(&cb, 0);
    eco_cb_failure(&cb, 0);
    assert_int_equal(eco_cb_state(&cb, 0), ECO_CB_OPEN);
    assert_true(eco_cb_allow(&cb, 100));
    eco_cb_success(&cb, 110);
    assert_int_equal(eco_cb_state(&cb, 110), ECO_CB_HALF_OPEN);
    assert_true(eco_cb_allow(&cb, 120));
    eco_cb_success(&cb, 130);
    assert_int_equal(eco_cb_state(&cb, 130), ECO_CB_CLOSED);
    for (int i = 0; i < 10; i++)
        assert_true(eco_cb_allow(&cb, 140));
    /* The failures from before the outage were forgotten: it takes two new ones to open. */
    eco_cb_failure(&cb, 150);
    assert_int_equal(eco_cb_state(&cb, 150), ECO_CB_CLOSED);
    eco_cb_failure(&cb, 150);
    assert_int_equal(eco_cb_state(&cb, 150), ECO_CB_OPEN);
    assert_int_equal(cb.opens, 2);
}

static void test_cb_failure_reopens(void **state)
{
    (void)state;
    eco_cb_opts_t o = {.consecutive_failures = 1, .cooldown_ms = 1000};
    eco_cb_t cb;
    open_at(&cb, &o, 0);
    assert_true(eco_cb_allow(&cb, 1000));
    eco_cb_failure(&cb, 1500);
    assert_int_equal(eco_cb_state(&cb, 1500), ECO_CB_OPEN);
    assert_int_equal(cb.opens, 2);
    /* The cool-down restarts from the reopening, not from the first opening. */
    assert_false(eco_cb_allow(&cb, 2000));
    assert_false(eco_cb_allow(&cb, 2499));
    assert_int_equal(eco_cb_state(&cb, 2500), ECO_CB_HALF_OPEN);
    assert_true(eco_cb_allow(&cb, 2500));
    assert_false(eco_cb_allow(&cb, 2500));
}

/* ---------- retry budget ---------- */

static void test_budget_defaults(void **state)
{
    (void)state;
    eco_retry_budget_t b;
    eco_retry_budget_init(&b, 0, 0, 0);
    assert_true(b.ratio == 0.2);
    assert_int_equal(b.min_retries, 10);
    assert_int_equal(b.window_ms, 10000);
    /* A quiet service still gets min_retries. */
    for (int i = 0; i < 10; i++)
        assert_true(eco_retry_budget_try(&b, 0));
    assert_false(eco_retry_budget_try(&b, 0));
    assert_int_equal(b.refused, 1);
}

static void test_budget_ratio(void **state)
{
    (void)state;
    eco_retry_budget_t b;
    eco_retry_budget_init(&b, 0.2, 10, 10000);
    for (int i = 0; i < 100; i++)
        eco_retry_budget_request(&b, 1000);
    for (int i = 0; i < 30; i++)
        assert_true(eco_retry_budget_try(&b, 1000));
    assert_false(eco_retry_budget_try(&b, 1000));
    assert_false(eco_retry_budget_try(&b, 1000));
    assert_int_equal(b.refused, 2);
    /* Five more requests earn one more retry. */
    for (int i = 0; i < 5; i++)
        eco_retry_budget_request(&b, 1000);
    assert_true(eco_retry_budget_try(&b, 1000));
    assert_false(eco_retry_budget_try(&b, 1000));
}

static void test_budget_window_slides(void **state)
{
    (void)state;
    eco_retry_budget_t b;
    eco_retry_budget_init(&b, 0.2, 10, 10000);
    for (int i = 0; i < 50; i++)
        eco_retry_budget_request(&b, 0);
    for (int i = 0; i < 20; i++)
        assert_true(eco_retry_budget_try(&b, 0));
    assert_false(eco_retry_budget_try(&b, 0));
    /* Half a window on: the first half is the previous bucket and still counts. */
    assert_false(eco_retry_budget_try(&b, 5000));
    for (int i = 0; i < 50; i++)
        eco_retry_budget_request(&b, 5000);
    for (int i = 0; i < 10; i++)
        assert_true(eco_retry_budget_try(&b, 5000));
    assert_false(eco_retry_budget_try(&b, 5000));
    /* Another half: the first 50 requests and 20 retries drop out; 50 requests, 10 retries
     * remain, so 20 - 10 = 10 more are allowed. */
    for (int i = 0; i < 10; i++)
        assert_true(eco_retry_budget_try(&b, 10000));
    assert_false(eco_retry_budget_try(&b, 10000));
    /* A long idle gap empties the window: back to min_retries. */
    for (int i = 0; i < 10; i++)
        assert_true(eco_retry_budget_try(&b, 60000));
    assert_false(eco_retry_budget_try(&b, 60000));
}

static void test_budget_window_aligned(void **state)
{
    (void)state;
    eco_retry_budget_t b;
    eco_retry_budget_init(&b, 0.2, 10, 1000);
    for (int i = 0; i < 10; i++)
        assert_true(eco_retry_budget_try(&b, 0));
    /* Buckets stay on their half-window grid (0, 500, 1000), whenever the calls come: */
    assert_false(eco_retry_budget_try(&b, 900));
    assert_false(eco_retry_budget_try(&b, 999));
    /* so the retries of t=0 are gone at t=1000, one window later. */
    assert_true(eco_retry_budget_try(&b, 1000));
}

/* ---------- backoff ---------- */

static void test_backoff_grows_and_caps(void **state)
{
    (void)state;
    uint64_t rng = 7;
    const long full[] = {100, 200, 400, 800, 1000, 1000, 1000};
    for (int a = 1; a <= 7; a++)
        for (int i = 0; i < 200; i++)
            assert_in_range(eco_backoff_ms(a, 100, 1000, 0, &rng), full[a - 1] / 2, full[a - 1]);
    /* Huge attempt numbers stay at the cap, no overflow; attempt 0 behaves as the first. */
    for (int i = 0; i < 50; i++) {
        assert_in_range(eco_backoff_ms(1000000, 100, 1000, 0, &rng), 500, 1000);
        assert_in_range(eco_backoff_ms(0, 100, 1000, 0, &rng), 50, 100);
    }
}

static void test_backoff_jitter(void **state)
{
    (void)state;
    uint64_t rng = 99;
    long lo = 1L << 30, hi = 0;
    for (int i = 0; i < 2000; i++) {
        long d = eco_backoff_ms(3, 250, 100000, 0, &rng); /* full delay 1000 */
        assert_in_range(d, 500, 1000);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    /* The random half is used across its range, not stuck at one end. */
    assert_true(lo < 550);
    assert_true(hi > 950);
    /* Both ends are reachable: full delay 3 gives exactly {1, 2, 3}. */
    int seen[4] = {0};
    for (int i = 0; i < 300; i++) {
        long d = eco_backoff_ms(1, 3, 100, 0, &rng);
        assert_in_range(d, 1, 3);
        seen[d]++;
    }
    assert_true(seen[1] > 0 && seen[2] > 0 && seen[3] > 0);
}

static void test_backoff_retry_after(void **state)
{
    (void)state;
    uint64_t rng = 3;
    /* Retry-After wins even over the cap. */
    for (int i = 0; i < 50; i++)
        assert_int_equal(eco_backoff_ms(1, 100, 1000, 5000, &rng), 5000);
    for (int i = 0; i < 200; i++)
        assert_in_range(eco_backoff_ms(1, 100, 1000, 90, &rng), 90, 100);
}

/* ---------- priority queue ---------- */

typedef struct {
    int id;
    eco_pq_item_t link;
} job_t;

static int pop_id(eco_pq_t *q)
{
    eco_pq_item_t *it = eco_pq_pop(q);
    return it ? ECO_CONTAINER_OF(it, job_t, link)->id : -1;
}

static void test_pq_order(void **state)
{
    (void)state;
    eco_pq_t q;
    eco_pq_init(&q, 10);
    job_t j[7];
    memset(j, 0, sizeof(j));
    const int prio[] = {ECO_PRIO_LOW, ECO_PRIO_NORMAL, ECO_PRIO_HIGH, ECO_PRIO_LOW, ECO_PRIO_HIGH, ECO_PRIO_NORMAL, 9};
    eco_pq_item_t *shed = (eco_pq_item_t *)1;
    for (int i = 0; i < 7; i++) {
        j[i].id = i;
        assert_int_equal(eco_pq_push(&q, &j[i].link, prio[i], 100 + i, &shed), 0);
        assert_null(shed);
    }
    assert_int_equal(eco_pq_len(&q), 7);
    assert_int_equal(eco_pq_len_prio(&q, ECO_PRIO_HIGH), 3); /* prio 9 clamps to HIGH */
    assert_int_equal(eco_pq_len_prio(&q, ECO_PRIO_NORMAL), 2);
    assert_int_equal(eco_pq_len_prio(&q, ECO_PRIO_LOW), 2);
    assert_int_equal(eco_pq_len_prio(&q, 3), 0);
    assert_int_equal(j[6].link.prio, ECO_PRIO_HIGH);
    assert_true(j[4].link.enq_ms == 104);
    const int want[] = {2, 4, 6, 1, 5, 0, 3};
    for (int i = 0; i < 7; i++)
        assert_int_equal(pop_id(&q), want[i]);
    assert_int_equal(pop_id(&q), -1);
    assert_int_equal(eco_pq_len(&q), 0);
    assert_false(j[0].link.queued);
}

static void test_pq_shed(void **state)
{
    (void)state;
    eco_pq_t q;
    eco_pq_init(&q, 4);
    job_t j[8];
    memset(j, 0, sizeof(j));
    for (int i = 0; i < 8; i++)
        j[i].id = i;
    eco_pq_item_t *shed = NULL;
    assert_int_equal(eco_pq_push(&q, &j[0].link, ECO_PRIO_LOW, 0, &shed), 0);
    assert_int_equal(eco_pq_push(&q, &j[1].link, ECO_PRIO_LOW, 1, &shed), 0);
    assert_int_equal(eco_pq_push(&q, &j[2].link, ECO_PRIO_NORMAL, 2, &shed), 0);
    assert_int_equal(eco_pq_push(&q, &j[3].link, ECO_PRIO_NORMAL, 3, &shed), 0);

    /* Full: a HIGH arrival sheds the newest LOW (1), not the oldest, not a NORMAL. */
    assert_int_equal(eco_pq_push(&q, &j[4].link, ECO_PRIO_HIGH, 4, &shed), 0);
    assert_ptr_equal(shed, &j[1].link);
    assert_false(j[1].link.queued);
    assert_int_equal(eco_pq_len(&q), 4);
    /* A NORMAL arrival sheds the last LOW (0). */
    assert_int_equal(eco_pq_push(&q, &j[5].link, ECO_PRIO_NORMAL, 5, &shed), 0);
    assert_ptr_equal(shed, &j[0].link);
    assert_int_equal(eco_pq_len_prio(&q, ECO_PRIO_LOW), 0);
    /* Nothing lower than NORMAL is left: refused, nothing changes. */
    shed = (eco_pq_item_t *)1;
    assert_int_equal(eco_pq_push(&q, &j[6].link, ECO_PRIO_NORMAL, 6, &shed), -1);
    assert_null(shed);
    assert_false(j[6].link.queued);
    assert_int_equal(eco_pq_len(&q), 4);
    assert_int_equal(eco_pq_len_prio(&q, ECO_PRIO_NORMAL), 3);
    assert_int_equal(eco_pq_push(&q, &j[7].link, ECO_PRIO_LOW, 7, &shed), -1);
    /* HIGH still displaces the newest NORMAL (5). */
    assert_int_equal(eco_pq_push(&q, &j[6].link, ECO_PRIO_HIGH, 8, &shed), 0);
    assert_ptr_equal(shed, &j[5].link);
    const int want[] = {4, 6, 2, 3};
    for (int i = 0; i < 4; i++)
        assert_int_equal(pop_id(&q), want[i]);
    assert_int_equal(pop_id(&q), -1);
}

static void test_pq_remove(void **state)
{
    (void)state;
    eco_pq_t q;
    eco_pq_init(&q, 8);
    job_t j[5];
    memset(j, 0, sizeof(j));
    for (int i = 0; i < 5; i++) {
        j[i].id = i;
        assert_int_equal(eco_pq_push(&q, &j[i].link, ECO_PRIO_NORMAL, i, NULL), 0);
    }
    eco_pq_remove(&q, &j[2].link); /* middle */
    eco_pq_remove(&q, &j[0].link); /* head */
    eco_pq_remove(&q, &j[4].link); /* tail */
    assert_int_equal(eco_pq_len(&q), 2);
    assert_int_equal(eco_pq_len_prio(&q, ECO_PRIO_NORMAL), 2);
    eco_pq_remove(&q, &j[2].link); /* not queued any more: no-op */
    assert_int_equal(eco_pq_len(&q), 2);
    /* The tail is right after removing it: a new push lands after 3. */
    assert_int_equal(eco_pq_push(&q, &j[4].link, ECO_PRIO_NORMAL, 9, NULL), 0);
    assert_int_equal(pop_id(&q), 1);
    assert_int_equal(pop_id(&q), 3);
    assert_int_equal(pop_id(&q), 4);
    assert_int_equal(pop_id(&q), -1);
    /* The only item of a class. */
    assert_int_equal(eco_pq_push(&q, &j[0].link, ECO_PRIO_HIGH, 10, NULL), 0);
    eco_pq_remove(&q, &j[0].link);
    assert_int_equal(eco_pq_len(&q), 0);
    assert_null(eco_pq_pop(&q));
}

/* ---------- power of two choices ---------- */

static void test_p2c_eligibility(void **state)
{
    (void)state;
    uint64_t rng = 5;
    const double none[] = {-1, -0.5, NAN};
    assert_int_equal(eco_p2c_pick(none, 3, &rng), -1);
    assert_int_equal(eco_p2c_pick(none, 0, &rng), -1);
    const double one[] = {-1, -1, 7, -2};
    for (int i = 0; i < 20; i++)
        assert_int_equal(eco_p2c_pick(one, 4, &rng), 2);
    const double zero[] = {-1, 0};
    assert_int_equal(eco_p2c_pick(zero, 2, &rng), 1);
    const double mixed[] = {-1, 5, -1, 3, -0.5, 4, NAN};
    int seen[7] = {0};
    for (int i = 0; i < 3000; i++) {
        int k = eco_p2c_pick(mixed, 7, &rng);
        assert_true(k == 1 || k == 3 || k == 5);
        seen[k]++;
    }
    /* The most expensive eligible one always loses to whichever it is drawn with. */
    assert_int_equal(seen[1], 0);
    assert_true(seen[3] > 0 && seen[5] > 0);
}

static void test_p2c_distribution(void **state)
{
    (void)state;
    uint64_t rng = 12345;
    const double cost[] = {1, 2, 3, 4};
    int seen[4] = {0};
    for (int i = 0; i < 6000; i++)
        seen[eco_p2c_pick(cost, 4, &rng)]++;
    /* Of the 6 pairs, the cheapest wins 3, the next 2, the next 1, the dearest none. */
    assert_in_range(seen[0], 2700, 3300);
    assert_in_range(seen[1], 1700, 2300);
    assert_in_range(seen[2], 800, 1200);
    assert_int_equal(seen[3], 0);
    /* Ties go to the first drawn, so equal costs split evenly. */
    const double tie[] = {1, 1};
    int t[2] = {0};
    for (int i = 0; i < 2000; i++)
        t[eco_p2c_pick(tie, 2, &rng)]++;
    assert_in_range(t[0], 850, 1150);
    /* With two candidates the first drawn is the first random index below 2. */
    for (uint64_t seed = 0; seed < 100; seed++) {
        uint64_t r1 = seed, r2 = seed;
        assert_int_equal(eco_p2c_pick(tie, 2, &r1), (int)eco_rand_below(&r2, 2));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rand),
        cmocka_unit_test(test_cb_defaults),
        cmocka_unit_test(test_cb_consecutive),
        cmocka_unit_test(test_cb_error_rate),
        cmocka_unit_test(test_cb_error_rate_window_slides),
        cmocka_unit_test(test_cb_cooldown),
        cmocka_unit_test(test_cb_half_open_probes),
        cmocka_unit_test(test_cb_success_closes),
        cmocka_unit_test(test_cb_failure_reopens),
        cmocka_unit_test(test_budget_defaults),
        cmocka_unit_test(test_budget_ratio),
        cmocka_unit_test(test_budget_window_slides),
        cmocka_unit_test(test_budget_window_aligned),
        cmocka_unit_test(test_backoff_grows_and_caps),
        cmocka_unit_test(test_backoff_jitter),
        cmocka_unit_test(test_backoff_retry_after),
        cmocka_unit_test(test_pq_order),
        cmocka_unit_test(test_pq_shed),
        cmocka_unit_test(test_pq_remove),
        cmocka_unit_test(test_p2c_eligibility),
        cmocka_unit_test(test_p2c_distribution),
    };
    return cmocka_run_group_tests_name("resilience", tests, NULL, NULL);
}
