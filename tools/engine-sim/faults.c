/* Fault specs: "key=value" pairs from --fault, the individual flags, or the x-sim-fault header. */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

void sim_fault_clear(sim_fault_t *f)
{
    f->status = 0;
    f->retry_after_s = -1;
    f->cut_after = -1;
    f->stall_after = -1;
    f->malformed_after = -1;
    f->slow_after = -1;
    f->slow_ms = -1;
    f->ttft_ms = -1;
    f->itl_ms = -1;
}

int sim_fault_any(const sim_fault_t *f)
{
    return f->status || f->cut_after >= 0 || f->stall_after >= 0 || f->malformed_after >= 0 || f->slow_ms >= 0;
}

void sim_fault_merge(sim_fault_t *f, const sim_fault_t *top)
{
#define TAKE(field)                                                                                                    \
    if (top->field >= 0)                                                                                               \
        f->field = top->field;
    if (top->status)
        f->status = top->status;
    TAKE(retry_after_s)
    TAKE(cut_after)
    TAKE(stall_after)
    TAKE(malformed_after)
    TAKE(slow_after)
    TAKE(slow_ms)
    TAKE(ttft_ms)
    TAKE(itl_ms)
#undef TAKE
}

typedef struct {
    const char *key;
    size_t off;
    long min, max;
} fault_key_t;

#define OFF(field) offsetof(sim_fault_t, field)
static const fault_key_t keys[] = {
    {"retry-after", OFF(retry_after_s), 0, 86400},
    {"cut-after", OFF(cut_after), 0, GEN_MAX_OUTPUT_TOKENS},
    {"stall-after", OFF(stall_after), 0, GEN_MAX_OUTPUT_TOKENS},
    {"malformed-after", OFF(malformed_after), 0, GEN_MAX_OUTPUT_TOKENS},
    {"slow-after", OFF(slow_after), 0, GEN_MAX_OUTPUT_TOKENS},
    {"slow-ms", OFF(slow_ms), 0, 600000},
    {"ttft-ms", OFF(ttft_ms), 0, 600000},
    {"itl-ms", OFF(itl_ms), 0, 600000},
};

static int parse_long(const char *s, size_t n, long *out)
{
    char tmp[24];
    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end;
    long v = strtol(tmp, &end, 10);
    if (*end || tmp[0] == '-' || tmp[0] == '+')
        return -1;
    *out = v;
    return 0;
}

int sim_fault_parse(sim_fault_t *f, const char *spec, size_t len, char *err, size_t errlen)
{
    sim_fault_clear(f);
    size_t i = 0;
    while (i < len) {
        while (i < len && (spec[i] == ',' || spec[i] == ';' || spec[i] == ' ' || spec[i] == '\t'))
            i++;
        if (i == len)
            break;
        size_t ks = i;
        while (i < len && spec[i] != '=' && spec[i] != ',' && spec[i] != ';' && spec[i] != ' ')
            i++;
        size_t kl = i - ks;
        if (i == len || spec[i] != '=') {
            snprintf(err, errlen, "expected key=value, got \"%.*s\"", (int)(kl > 40 ? 40 : kl), spec + ks);
            return -1;
        }
        i++;
        size_t vs = i;
        while (i < len && spec[i] != ',' && spec[i] != ';' && spec[i] != ' ')
            i++;
        size_t vl = i - vs;
        long v;
        if (parse_long(spec + vs, vl, &v) != 0) {
            snprintf(err, errlen, "%.*s: expected a non-negative integer, got \"%.*s\"", (int)(kl > 40 ? 40 : kl),
                     spec + ks, (int)(vl > 20 ? 20 : vl), spec + vs);
            return -1;
        }
        if (kl == 6 && memcmp(spec + ks, "status", 6) == 0) {
            if (v < 400 || v > 599) {
                snprintf(err, errlen, "status: expected 400-599, got %ld", v);
                return -1;
            }
            f->status = (int)v;
            continue;
        }
        const fault_key_t *k = NULL;
        for (size_t x = 0; x < ECO_ARRAY_SIZE(keys); x++)
            if (strlen(keys[x].key) == kl && memcmp(keys[x].key, spec + ks, kl) == 0)
                k = &keys[x];
        if (!k) {
            snprintf(err, errlen,
                     "unknown key \"%.*s\" (known: status, retry-after, cut-after, stall-after, malformed-after, "
                     "slow-ms, slow-after, ttft-ms, itl-ms)",
                     (int)(kl > 40 ? 40 : kl), spec + ks);
            return -1;
        }
        if (v < k->min || v > k->max) {
            snprintf(err, errlen, "%s: expected %ld-%ld, got %ld", k->key, k->min, k->max, v);
            return -1;
        }
        *(long *)((char *)f + k->off) = v;
    }
    return 0;
}
