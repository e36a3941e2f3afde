/* Simulator statistics: histograms, the /sim endpoints tests use to check cancellation and
 * concurrency, and the eco_sim_* metric families. */
#include "sim.h"

#include <string.h>

static const double LATENCY_BOUNDS[] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,  0.25, 0.5,
                                        0.75,  1.0,   2.5,  5.0,  7.5,  10.0, 20.0, 40.0, 80.0};
static const double SIZE_BOUNDS[] = {1,   2,    4,    8,    16,   32,    64,    128,  256,
                                     512, 1024, 2048, 4096, 8192, 16384, 32768, 65536};

static eco_metric_t *g_in_flight, *g_running, *g_waiting;

void sim_hist_observe(sim_hist_t *h, double v)
{
    for (size_t i = 0; i < h->nb; i++)
        if (v <= h->bounds[i])
            h->counts[i]++;
    h->count++;
    h->sum += v;
}

static void hist_init(sim_hist_t *h, const double *bounds, size_t nb)
{
    memset(h, 0, sizeof(*h));
    h->bounds = bounds;
    h->nb = nb;
}

static void stats_clear(sim_stats_t *st)
{
    memset(st, 0, sizeof(*st));
    hist_init(&st->ttft, LATENCY_BOUNDS, ECO_ARRAY_SIZE(LATENCY_BOUNDS));
    hist_init(&st->itl, LATENCY_BOUNDS, ECO_ARRAY_SIZE(LATENCY_BOUNDS));
    hist_init(&st->e2e, LATENCY_BOUNDS, ECO_ARRAY_SIZE(LATENCY_BOUNDS));
    hist_init(&st->queue, LATENCY_BOUNDS, ECO_ARRAY_SIZE(LATENCY_BOUNDS));
    hist_init(&st->tpot, LATENCY_BOUNDS, ECO_ARRAY_SIZE(LATENCY_BOUNDS));
    hist_init(&st->gen_tokens, SIZE_BOUNDS, ECO_ARRAY_SIZE(SIZE_BOUNDS));
    hist_init(&st->prompt_len, SIZE_BOUNDS, ECO_ARRAY_SIZE(SIZE_BOUNDS));
}

static void on_collect(void *data)
{
    sim_t *sim = data;
    eco_metrics_set(g_in_flight, (double)(sim->running + sim->waiting));
    eco_metrics_set(g_running, (double)sim->running);
    eco_metrics_set(g_waiting, (double)sim->waiting);
}

void sim_stats_init(sim_t *sim)
{
    stats_clear(&sim->st);
    sim->m_requests =
        eco_metrics_counter("eco_sim_requests_total", "Generation and embedding requests received.", NULL);
    sim->m_cancelled = eco_metrics_counter("eco_sim_cancelled_total",
                                           "Requests whose client went away before the answer ended.", NULL);
    sim->m_rejected =
        eco_metrics_counter("eco_sim_rejected_total", "Requests refused because running + queued was full.", NULL);
    sim->m_faults = eco_metrics_counter("eco_sim_faults_total", "Injected faults by kind.", "fault");
    g_in_flight = eco_metrics_gauge("eco_sim_in_flight_requests", "Requests running or queued.", NULL);
    g_running = eco_metrics_gauge("eco_sim_running_requests", "Requests generating.", NULL);
    g_waiting = eco_metrics_gauge("eco_sim_waiting_requests", "Requests queued for a slot.", NULL);
    eco_metrics_on_collect(on_collect, sim);
}

double sim_kv_usage(const sim_t *sim)
{
    double u = (double)sim->kv_tokens / (double)sim->o.kv_cache_tokens;
    return u > 1.0 ? 1.0 : u < 0 ? 0 : u;
}

void sim_stats_render_json(sim_t *sim, eco_buf_t *b)
{
    const sim_stats_t *st = &sim->st;
    eco_buf_addf(b, "{\"kind\":\"%s\",\"model\":", sim_kind_name(sim->o.kind));
    eco_buf_add_json_str(b, sim->o.model, (size_t)-1);
    eco_buf_addf(b,
                 ",\"requests\":%llu,\"cancelled\":%llu,\"in_flight\":%ld,\"max_in_flight_seen\":%ld,"
                 "\"running\":%ld,\"waiting\":%ld,\"max_running_seen\":%ld,\"rejected\":%llu,\"completed\":%llu,"
                 "\"failed\":%llu,\"faults\":%llu,\"prompt_tokens\":%llu,\"generation_tokens\":%llu,"
                 "\"max_concurrency\":%ld,\"queue_size\":%ld,\"ready\":%s}",
                 (unsigned long long)st->requests, (unsigned long long)st->cancelled, sim->running + sim->waiting,
                 st->max_in_flight, sim->running, sim->waiting, st->max_running, (unsigned long long)st->rejected,
                 (unsigned long long)st->completed, (unsigned long long)st->failed, (unsigned long long)st->faults,
                 (unsigned long long)st->prompt_tokens, (unsigned long long)st->generation_tokens,
                 sim->o.max_concurrency, sim->o.queue_size, sim_ready(sim) ? "true" : "false");
}

void sim_stats_reset(sim_t *sim)
{
    stats_clear(&sim->st);
    sim->st.max_in_flight = sim->running + sim->waiting;
    sim->st.max_running = sim->running;
}

static int h_stats(eco_http_call_t *call)
{
    eco_buf_t b;
    eco_buf_init(&b, 0);
    sim_stats_render_json(call->data, &b);
    eco_http_send(call, 200, NULL, b.base, b.len);
    eco_buf_free(&b);
    return 0;
}

static int h_reset(eco_http_call_t *call)
{
    sim_stats_reset(call->data);
    return h_stats(call);
}

static int h_sim_metrics(eco_http_call_t *call)
{
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco_metrics_render(&b);
    eco_http_send(call, 200, ECO_METRICS_CONTENT_TYPE, b.base, b.len);
    eco_buf_free(&b);
    return 0;
}

int sim_h_metrics(eco_http_call_t *call)
{
    eco_buf_t b;
    eco_buf_init(&b, 0);
    sim_metrics_render(call->data, &b);
    eco_metrics_render(&b);
    eco_http_send(call, 200, ECO_METRICS_CONTENT_TYPE, b.base, b.len);
    eco_buf_free(&b);
    return 0;
}

void sim_routes_common(sim_t *sim)
{
    eco_service_route(sim->svc, "GET", "/sim/stats", h_stats, sim);
    eco_service_route(sim->svc, "POST", "/sim/reset", h_reset, sim);
    eco_service_route(sim->svc, "GET", "/sim/metrics", h_sim_metrics, sim);
}
