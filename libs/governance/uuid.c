/* UUID version 1 (RFC 4122 §4.2): 60-bit timestamp of 100 ns intervals since the Gregorian
 * reform (1582-10-15T00:00:00Z), 14-bit clock sequence, 48-bit node. Without access to a
 * MAC address the node is random with the multicast bit set (§4.5), and the clock sequence is
 * random at first use, so two processes started in the same tick still differ. */
#include "eco_governance.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>

/* 100 ns intervals between 1582-10-15 and 1970-01-01. */
#define GREGORIAN_OFFSET 0x01B21DD213814000ULL

static pthread_mutex_t uuid_lock = PTHREAD_MUTEX_INITIALIZER;
static int uuid_ready;
static uint64_t uuid_last;
static uint16_t uuid_clock_seq;
static unsigned char uuid_node[6];

void eco_governance_uuid_v1(char out[37])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 10000000u + (uint64_t)ts.tv_nsec / 100u + GREGORIAN_OFFSET;

    pthread_mutex_lock(&uuid_lock);
    if (!uuid_ready) {
        unsigned char r[8];
        eco_random_bytes(r, sizeof(r));
        uuid_clock_seq = (uint16_t)(((r[0] << 8) | r[1]) & 0x3fff);
        for (int i = 0; i < 6; i++)
            uuid_node[i] = r[2 + i];
        uuid_node[0] |= 0x01; /* multicast bit: cannot collide with a real IEEE 802 address */
        uuid_ready = 1;
    }
    /* Within the process timestamps strictly increase: several calls in one tick (or a clock
     * stepping back) take the next free 100 ns slot (§4.2.1.2), which keeps them unique
     * without changing the clock sequence. */
    uint64_t t = now > uuid_last ? now : uuid_last + 1;
    uuid_last = t;
    uint16_t seq = uuid_clock_seq;
    unsigned char node[6];
    for (int i = 0; i < 6; i++)
        node[i] = uuid_node[i];
    pthread_mutex_unlock(&uuid_lock);

    t &= 0x0fffffffffffffffULL;
    uint32_t time_low = (uint32_t)(t & 0xffffffffu);
    uint16_t time_mid = (uint16_t)((t >> 32) & 0xffffu);
    uint16_t time_hi = (uint16_t)(((t >> 48) & 0x0fffu) | 0x1000u); /* version 1 */
    unsigned seq_hi = ((seq >> 8) & 0x3fu) | 0x80u;                 /* RFC 4122 variant 10x */
    unsigned seq_lo = seq & 0xffu;
    snprintf(out, 37, "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", time_low, time_mid, time_hi, seq_hi, seq_lo,
             node[0], node[1], node[2], node[3], node[4], node[5]);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static uint64_t hex_field(const char *s, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 4 | (uint64_t)hexval(s[i]);
    return v;
}

int eco_governance_uuid_v1_time(const char *s, uint64_t *ts)
{
    size_t n = 0;
    while (n < 37 && s[n])
        n++;
    if (!eco_governance_is_uuid_v1(s, n))
        return ECO_EINVAL;
    uint64_t low = hex_field(s, 8), mid = hex_field(s + 9, 4), hi = hex_field(s + 15, 3);
    *ts = hi << 48 | mid << 32 | low;
    return 0;
}
