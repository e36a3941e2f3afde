/*
 * eco_metrics: process-wide counters, gauges and histograms with bounded label sets,
 * rendered in the Prometheus text format 0.0.4.
 *
 * Families are created once at start-up (they live for the whole process). Series (one per
 * set of label values) are created on first use, at most ECO_METRICS_MAX_SERIES per family;
 * past that, updates are dropped and counted in eco_metrics_dropped_series_total.
 * All update functions are thread-safe and lock-free once a series exists.
 */
#ifndef ECO_METRICS_H
#define ECO_METRICS_H

#include <stddef.h>

#include "eco_core.h"

#define ECO_METRICS_MAX_SERIES  512
#define ECO_METRICS_MAX_LABELS  4
#define ECO_METRICS_MAX_BUCKETS 24

typedef struct eco_metric eco_metric_t;

/* `labels` is a comma-separated list of label names ("route,code") or NULL for none.
 * Returns the family (owned by the registry; never freed). Registering the same name twice
 * returns the existing family. */
eco_metric_t *eco_metrics_counter(const char *name, const char *help, const char *labels);
eco_metric_t *eco_metrics_gauge(const char *name, const char *help, const char *labels);
/* buckets: ascending upper bounds (copied); NULL uses ECO_METRICS_LATENCY_BUCKETS. */
eco_metric_t *eco_metrics_histogram(const char *name, const char *help, const char *labels, const double *buckets,
                                    size_t nbuckets);
extern const double ECO_METRICS_LATENCY_BUCKETS[];
extern const size_t ECO_METRICS_LATENCY_NBUCKETS;

/* Label values follow in the family's label order; their count must match. Values are copied
 * when a series is created. */
void eco_metrics_add(eco_metric_t *m, double v, ...);     /* counter += v (v >= 0), gauge += v */
void eco_metrics_set(eco_metric_t *m, double v, ...);     /* gauge = v */
void eco_metrics_observe(eco_metric_t *m, double v, ...); /* histogram */
#define eco_metrics_inc(m, ...) eco_metrics_add((m), 1.0, ##__VA_ARGS__)

/* Called at every render, before output (e.g. to refresh gauges from live state). */
typedef void (*eco_metrics_collect_cb)(void *data);
void eco_metrics_on_collect(eco_metrics_collect_cb cb, void *data);

/* Sets the labels of eco_build_info (service name and version). */
void eco_metrics_set_build_info(const char *service, const char *version);

/* Appends every family plus process metrics (RSS, CPU, open fds, start time, build info). */
void eco_metrics_render(eco_buf_t *out);

#define ECO_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
