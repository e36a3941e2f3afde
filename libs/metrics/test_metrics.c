/* Unit tests for eco_metrics: text format, histograms, escaping, series bound, threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "eco_metrics.h"

static char *render(void)
{
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco_metrics_render(&b);
    return eco_buf_detach(&b, NULL);
}

static void test_counter_format(void **state)
{
    (void)state;
    eco_metric_t *c = eco_metrics_counter("eco_t_requests_total", "Requests.", "route,code");
    eco_metrics_inc(c, "/v1/models", "2xx");
    eco_metrics_add(c, 2, "/v1/models", "2xx");
    eco_metrics_inc(c, "/x\"y\\z", "5xx");
    assert_ptr_equal(eco_metrics_counter("eco_t_requests_total", "again", "route,code"), c);
    char *s = render();
    assert_non_null(strstr(s, "# HELP eco_t_requests_total Requests.\n# TYPE eco_t_requests_total counter\n"
                              "eco_t_requests_total{route=\"/v1/models\",code=\"2xx\"} 3\n"
                              "eco_t_requests_total{route=\"/x\\\"y\\\\z\",code=\"5xx\"} 1\n"));
    assert_non_null(strstr(s, "process_resident_memory_bytes "));
    assert_non_null(strstr(s, "process_open_fds "));
    assert_non_null(strstr(s, "eco_build_info{service="));
    assert_int_equal(s[strlen(s) - 1], '\n');
    free(s);
}

static void test_histogram(void **state)
{
    (void)state;
    const double b[] = {0.1, 1, 10};
    eco_metric_t *h = eco_metrics_histogram("eco_t_duration_seconds", "Duration.", NULL, b, 3);
    eco_metrics_observe(h, 0.05);
    eco_metrics_observe(h, 0.5);
    eco_metrics_observe(h, 0.5);
    eco_metrics_observe(h, 100);
    char *s = render();
    assert_non_null(strstr(s, "# TYPE eco_t_duration_seconds histogram\n"
                              "eco_t_duration_seconds_bucket{le=\"0.10000000000000001\"} 1\n"
                              "eco_t_duration_seconds_bucket{le=\"1\"} 3\n"
                              "eco_t_duration_seconds_bucket{le=\"10\"} 3\n"
                              "eco_t_duration_seconds_bucket{le=\"+Inf\"} 4\n"
                              "eco_t_duration_seconds_sum 101.05\n"
                              "eco_t_duration_seconds_count 4\n"));
    free(s);
}

static void test_gauge_and_bound(void **state)
{
    (void)state;
    eco_metric_t *g = eco_metrics_gauge("eco_t_inflight", "In flight.", "backend");
    eco_metrics_set(g, 5, "a");
    eco_metrics_add(g, -2, "a");
    char name[32];
    for (int i = 0; i < ECO_METRICS_MAX_SERIES + 10; i++) {
        snprintf(name, sizeof(name), "b%d", i);
        eco_metrics_set(g, 1, name);
    }
    char *s = render();
    assert_non_null(strstr(s, "eco_t_inflight{backend=\"a\"} 3\n"));
    assert_null(strstr(s, "backend=\"b511\""));
    assert_non_null(strstr(s, "eco_metrics_dropped_series_total 11\n"));
    free(s);
}

static eco_metric_t *race;
static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 100000; i++)
        eco_metrics_add(race, 0.5, i % 2 ? "odd" : "even");
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    race = eco_metrics_counter("eco_t_race_total", "Race.", "parity");
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char *s = render();
    assert_non_null(strstr(s, "eco_t_race_total{parity=\"even\"} 100000\n"));
    assert_non_null(strstr(s, "eco_t_race_total{parity=\"odd\"} 100000\n"));
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_format),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_gauge_and_bound),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
