/* splitmix64: a tiny, fast, well-mixed PRNG for jitter and load-balancing picks. Not for secrets. */
#include "eco_resilience.h"

uint64_t eco_rand_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t eco_rand_below(uint64_t *state, uint64_t n)
{
    if (n == 0)
        return 0;
    /* Reject the lowest (2^64 mod n) values so every residue is equally likely. */
    uint64_t threshold = (0 - n) % n;
    uint64_t r;
    do
        r = eco_rand_next(state);
    while (r < threshold);
    return r % n;
}
