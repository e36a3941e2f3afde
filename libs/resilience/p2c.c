/* Power of two choices: comparing two random candidates avoids both the herd that always
 * picking the cheapest causes and the imbalance of a purely random pick. */
#include "eco_resilience.h"

/* NaN counts as not eligible, like a negative cost. */
static int eligible(double c)
{
    return c >= 0;
}

/* The index of the k-th eligible candidate (k counted from 0). */
static int nth_eligible(const double *cost, size_t n, uint64_t k)
{
    for (size_t i = 0; i < n; i++)
        if (eligible(cost[i]) && k-- == 0)
            return (int)i;
    return -1;
}

int eco_p2c_pick(const double *cost, size_t n, uint64_t *rng)
{
    uint64_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += eligible(cost[i]);
    if (m == 0)
        return -1;
    if (m == 1)
        return nth_eligible(cost, n, 0);
    uint64_t ka = eco_rand_below(rng, m);
    uint64_t kb = eco_rand_below(rng, m - 1);
    if (kb >= ka)
        kb++; /* distinct from the first */
    int a = nth_eligible(cost, n, ka), b = nth_eligible(cost, n, kb);
    return cost[a] <= cost[b] ? a : b;
}
