/* The metric registry: families, series and lock-free updates. */
#include "eco_metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>

typedef enum { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM } kind_t;

typedef struct {
    char *values[ECO_METRICS_MAX_LABELS];
    _Atomic uint64_t value; /* double bits (counter/gauge) or sum (histogram) */
    _Atomic uint64_t count;
    _Atomic uint64_t buckets[ECO_METRICS_MAX_BUCKETS];
} series_t;

struct eco_metric {
    char *name;
    char *help;
    kind_t kind;
    size_t nlabels;
    char *labels[ECO_METRICS_MAX_LABELS];
    double bounds[ECO_METRICS_MAX_BUCKETS];
    size_t nbounds;
    series_t *series[ECO_METRICS_MAX_SERIES];
    _Atomic size_t nseries;
    eco_metric_t *next;
};

const double ECO_METRICS_LATENCY_BUCKETS[] = {0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                              0.1,     0.25,   0.5,     1,      2.5,   5,      10,    30,   60};
const size_t ECO_METRICS_LATENCY_NBUCKETS = sizeof(ECO_METRICS_LATENCY_BUCKETS) / sizeof(double);

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static eco_metric_t *families, *families_tail;
static _Atomic uint64_t dropped_series;

typedef struct collector {
    eco_metrics_collect_cb cb;
    void *data;
    struct collector *next;
} collector_t;
static collector_t *collectors;

static double bits_to_d(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof(d));
    return d;
}

static uint64_t d_to_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, sizeof(b));
    return b;
}

static void atomic_add_double(_Atomic uint64_t *slot, double v)
{
    uint64_t old = atomic_load_explicit(slot, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(slot, &old, d_to_bits(bits_to_d(old) + v), memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

static eco_metric_t *find_family(const char *name)
{
    for (eco_metric_t *m = families; m; m = m->next)
        if (strcmp(m->name, name) == 0)
            return m;
    return NULL;
}

static eco_metric_t *create(kind_t kind, const char *name, const char *help, const char *labels, const double *bounds,
                            size_t nbounds)
{
    pthread_mutex_lock(&reg_lock);
    eco_metric_t *m = find_family(name);
    if (m) {
        ECO_BUG_ON(m->kind != kind);
        pthread_mutex_unlock(&reg_lock);
        return m;
    }
    m = eco_calloc(1, sizeof(*m));
    m->name = eco_strdup(name);
    m->help = eco_strdup(help ? help : "");
    m->kind = kind;
    if (labels && *labels) {
        const char *p = labels;
        while (*p) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            ECO_BUG_ON(m->nlabels >= ECO_METRICS_MAX_LABELS);
            m->labels[m->nlabels++] = eco_strndup(p, len);
            p += len + (comma ? 1 : 0);
        }
    }
    ECO_BUG_ON(nbounds > ECO_METRICS_MAX_BUCKETS);
    for (size_t i = 0; i < nbounds; i++)
        m->bounds[i] = bounds[i];
    m->nbounds = nbounds;
    if (families_tail)
        families_tail->next = m;
    else
        families = m;
    families_tail = m;
    pthread_mutex_unlock(&reg_lock);
    return m;
}

eco_metric_t *eco_metrics_counter(const char *name, const char *help, const char *labels)
{
    return create(KIND_COUNTER, name, help, labels, NULL, 0);
}

eco_metric_t *eco_metrics_gauge(const char *name, const char *help, const char *labels)
{
    return create(KIND_GAUGE, name, help, labels, NULL, 0);
}

eco_metric_t *eco_metrics_histogram(const char *name, const char *help, const char *labels, const double *buckets,
                                    size_t nbuckets)
{
    if (!buckets) {
        buckets = ECO_METRICS_LATENCY_BUCKETS;
        nbuckets = ECO_METRICS_LATENCY_NBUCKETS;
    }
    return create(KIND_HISTOGRAM, name, help, labels, buckets, nbuckets);
}

static int series_matches(const eco_metric_t *m, const series_t *s, const char **vals)
{
    for (size_t i = 0; i < m->nlabels; i++)
        if (strcmp(s->values[i], vals[i]) != 0)
            return 0;
    return 1;
}

/* Finds or creates the series for the label values; NULL when the family is full. */
static series_t *get_series(eco_metric_t *m, va_list ap)
{
    const char *vals[ECO_METRICS_MAX_LABELS];
    for (size_t i = 0; i < m->nlabels; i++) {
        vals[i] = va_arg(ap, const char *);
        if (!vals[i])
            vals[i] = "";
    }
    size_t n = atomic_load_explicit(&m->nseries, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (series_matches(m, m->series[i], vals))
            return m->series[i];
    pthread_mutex_lock(&reg_lock);
    n = atomic_load_explicit(&m->nseries, memory_order_relaxed);
    series_t *found = NULL;
    for (size_t i = 0; i < n && !found; i++)
        if (series_matches(m, m->series[i], vals))
            found = m->series[i];
    if (!found && n < ECO_METRICS_MAX_SERIES) {
        found = eco_calloc(1, sizeof(*found));
        for (size_t i = 0; i < m->nlabels; i++)
            found->values[i] = eco_strdup(vals[i]);
        m->series[n] = found;
        atomic_store_explicit(&m->nseries, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&reg_lock);
    if (!found)
        atomic_fetch_add_explicit(&dropped_series, 1, memory_order_relaxed);
    return found;
}

void eco_metrics_add(eco_metric_t *m, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    series_t *s = get_series(m, ap);
    va_end(ap);
    if (s)
        atomic_add_double(&s->value, v);
}

void eco_metrics_set(eco_metric_t *m, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    series_t *s = get_series(m, ap);
    va_end(ap);
    if (s)
        atomic_store_explicit(&s->value, d_to_bits(v), memory_order_relaxed);
}

void eco_metrics_observe(eco_metric_t *m, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    series_t *s = get_series(m, ap);
    va_end(ap);
    if (!s)
        return;
    for (size_t i = 0; i < m->nbounds; i++)
        if (v <= m->bounds[i]) {
            atomic_fetch_add_explicit(&s->buckets[i], 1, memory_order_relaxed);
            break;
        }
    atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
    atomic_add_double(&s->value, v);
}

void eco_metrics_on_collect(eco_metrics_collect_cb cb, void *data)
{
    collector_t *c = eco_calloc(1, sizeof(*c));
    c->cb = cb;
    c->data = data;
    pthread_mutex_lock(&reg_lock);
    c->next = collectors;
    collectors = c;
    pthread_mutex_unlock(&reg_lock);
}

/* ---- text format ---- */

static void add_escaped(eco_buf_t *out, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            eco_buf_adds(out, "\\\\");
        else if (*s == '\n')
            eco_buf_adds(out, "\\n");
        else if (quote && *s == '"')
            eco_buf_adds(out, "\\\"");
        else
            eco_buf_addc(out, *s);
    }
}

static void add_value(eco_buf_t *out, double v)
{
    if (v != v)
        eco_buf_adds(out, "NaN");
    else if (v > 1.7976931348623157e308)
        eco_buf_adds(out, "+Inf");
    else if (v < -1.7976931348623157e308)
        eco_buf_adds(out, "-Inf");
    else
        eco_buf_addf(out, "%.17g", v);
}

/* Writes {a="x",b="y"[,le="..."]} (nothing when there are no labels at all). */
static void add_labels(eco_buf_t *out, const eco_metric_t *m, const series_t *s, const char *le)
{
    if (m->nlabels == 0 && !le)
        return;
    eco_buf_addc(out, '{');
    for (size_t i = 0; i < m->nlabels; i++) {
        eco_buf_addf(out, "%s%s=\"", i ? "," : "", m->labels[i]);
        add_escaped(out, s->values[i], 1);
        eco_buf_addc(out, '"');
    }
    if (le)
        eco_buf_addf(out, "%sle=\"%s\"", m->nlabels ? "," : "", le);
    eco_buf_addc(out, '}');
}

static void render_family(eco_buf_t *out, eco_metric_t *m)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    eco_buf_addf(out, "# HELP %s ", m->name);
    add_escaped(out, m->help, 0);
    eco_buf_addf(out, "\n# TYPE %s %s\n", m->name, types[m->kind]);
    size_t n = atomic_load_explicit(&m->nseries, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        series_t *s = m->series[i];
        double v = bits_to_d(atomic_load_explicit(&s->value, memory_order_relaxed));
        if (m->kind != KIND_HISTOGRAM) {
            eco_buf_adds(out, m->name);
            add_labels(out, m, s, NULL);
            eco_buf_addc(out, ' ');
            add_value(out, v);
            eco_buf_addc(out, '\n');
            continue;
        }
        uint64_t cum = 0;
        char le[40];
        for (size_t b = 0; b < m->nbounds; b++) {
            cum += atomic_load_explicit(&s->buckets[b], memory_order_relaxed);
            snprintf(le, sizeof(le), "%.17g", m->bounds[b]);
            eco_buf_addf(out, "%s_bucket", m->name);
            add_labels(out, m, s, le);
            eco_buf_addf(out, " %llu\n", (unsigned long long)cum);
        }
        uint64_t count = atomic_load_explicit(&s->count, memory_order_relaxed);
        eco_buf_addf(out, "%s_bucket", m->name);
        add_labels(out, m, s, "+Inf");
        eco_buf_addf(out, " %llu\n%s_sum", (unsigned long long)count, m->name);
        add_labels(out, m, s, NULL);
        eco_buf_addc(out, ' ');
        add_value(out, v);
        eco_buf_addf(out, "\n%s_count", m->name);
        add_labels(out, m, s, NULL);
        eco_buf_addf(out, " %llu\n", (unsigned long long)count);
    }
}

void eco__metrics_render_process(eco_buf_t *out, uint64_t dropped);

void eco_metrics_render(eco_buf_t *out)
{
    pthread_mutex_lock(&reg_lock);
    collector_t *cs = collectors;
    pthread_mutex_unlock(&reg_lock);
    for (collector_t *c = cs; c; c = c->next)
        c->cb(c->data);
    pthread_mutex_lock(&reg_lock);
    eco_metric_t *head = families;
    pthread_mutex_unlock(&reg_lock);
    for (eco_metric_t *m = head; m; m = m->next)
        render_family(out, m);
    eco__metrics_render_process(out, atomic_load(&dropped_series));
}
