/* The engine's state: readiness by the kind's own health semantics (probed by the readiness
 * checker thread), and on the loop thread, periodically, model discovery, version and limits,
 * and the load gauges scraped from its Prometheus metrics. */
#include "adapter.h"

#include <stdlib.h>
#include <string.h>

#define CTL_BODY_MAX       (4u << 20)
#define DISCOVERY_EVERY_MS 30000

/* ---------- readiness (checker thread) ---------- */

eco_dep_state_t engine_check(void *data, char *detail, size_t len)
{
    adapter_t *a = data;
    char probe[160];
    eco_dep_state_t st = eco_http_check_url(a->health_url, probe, sizeof(probe));
    int http = 0;
    sscanf(probe, "HTTP %d", &http);
    engine_health_t h;
    char model[256];
    engine_model(a, model, sizeof(model));
    if (st == ECO_DEP_UP && !model[0] && engine_needs_model(a->kind)) {
        /* Up, but requests need the model's name and the engine has not listed it yet. */
        h = ENGINE_LOADING;
        snprintf(detail, len, "%s up, its model not discovered yet (%s)", a->kind->name, probe);
    } else if (st == ECO_DEP_UP) {
        h = ENGINE_UP;
        snprintf(detail, len, "%s ready (%s)", a->kind->name, probe);
    } else if (http == 0) {
        h = ENGINE_DOWN; /* vLLM, TGI, SGLang and others refuse connections while loading */
        snprintf(detail, len, "%s unreachable: %s", a->kind->name, probe);
    } else if (http == a->kind->not_ready_status || http == 503) {
        h = ENGINE_LOADING;
        snprintf(detail, len, "%s loading or not ready (HTTP %d)", a->kind->name, http);
    } else {
        h = ENGINE_DOWN;
        snprintf(detail, len, "%s unhealthy (HTTP %d)", a->kind->name, http);
    }
    pthread_mutex_lock(&a->lock);
    int changed = a->health != h;
    a->health = h;
    snprintf(a->health_detail, sizeof(a->health_detail), "%s", detail);
    pthread_mutex_unlock(&a->lock);
    if (changed) {
        eco_info("engine health",
                 ECO_KS("state", h == ENGINE_UP        ? "up"
                                 : h == ENGINE_LOADING ? "loading"
                                                       : "down"),
                 ECO_KS("detail", detail));
        if (a->rpc)
            eco_rpc_health_notify(a->rpc);
    }
    return h == ENGINE_UP ? ECO_DEP_UP : ECO_DEP_DOWN;
}

int engine_needs_model(const eco_engine_kind_t *k)
{
    return k->id == ECO_ENGINE_OLLAMA || k->id == ECO_ENGINE_OPENAI || k->id == ECO_ENGINE_MII;
}

void engine_model(adapter_t *a, char *out, size_t n)
{
    pthread_mutex_lock(&a->lock);
    if (a->cfg.model && *a->cfg.model)
        snprintf(out, n, "%s", a->cfg.model);
    else if (a->models_known && a->models.n)
        snprintf(out, n, "%s", a->models.ids[0]);
    else
        snprintf(out, n, "%s", a->kind->default_model ? a->kind->default_model : "");
    pthread_mutex_unlock(&a->lock);
}

/* ---------- control requests (loop thread) ---------- */

typedef enum { CTL_MODELS, CTL_INFO, CTL_METRICS } ctl_kind_t;

typedef struct {
    adapter_t *a;
    ctl_kind_t kind;
    int status;
    eco_buf_t body;
} ctl_req_t;

static int ctl_busy[3];

static void ctl_done(ctl_req_t *c, int ok)
{
    adapter_t *a = c->a;
    const char *body = c->body.base ? c->body.base : "";
    size_t len = c->body.len;
    ok = ok && c->status >= 200 && c->status < 300 && eco_buf_ok(&c->body);
    switch (c->kind) {
    case CTL_MODELS: {
        eco_engine_models_t m;
        if (ok && eco_engine_parse_models(a->kind, body, len, &m) == 0 && m.n) {
            pthread_mutex_lock(&a->lock);
            a->models = m;
            a->models_known = 1;
            pthread_mutex_unlock(&a->lock);
            a->next_discovery_ms = eco_now_ms() + DISCOVERY_EVERY_MS;
        } else {
            a->next_discovery_ms = eco_now_ms() + (uint64_t)a->cfg.scrape_interval_ms;
        }
        break;
    }
    case CTL_INFO: {
        eco_engine_info_t info;
        if (ok && eco_engine_parse_info(a->kind, body, len, &info) == 0) {
            pthread_mutex_lock(&a->lock);
            a->info = info;
            pthread_mutex_unlock(&a->lock);
            a->sglang_incremental = info.incremental_stream;
        }
        break;
    }
    case CTL_METRICS: {
        eco_engine_load_t l;
        if (ok && eco_engine_parse_load(a->kind, body, len, &l) == 0) {
            pthread_mutex_lock(&a->lock);
            a->load = l;
            a->scraped_at_ms = (int64_t)(eco_wall_time() * 1000.0);
            pthread_mutex_unlock(&a->lock);
        }
        break;
    }
    }
    ctl_busy[c->kind] = 0;
    eco_buf_free(&c->body);
    free(c);
}

static void ctl_on_head(eco_http_client_req_t *r, const char *err, int status, const h2o_header_t *h, size_t n,
                        void *data)
{
    ctl_req_t *c = data;
    if (err) {
        ctl_done(c, 0);
        return;
    }
    c->status = status;
}

static void ctl_on_body(eco_http_client_req_t *r, const char *err, const char *chunk, size_t len, int eos, void *data)
{
    ctl_req_t *c = data;
    if (len)
        eco_buf_add(&c->body, chunk, len);
    if (err || eos)
        ctl_done(c, !err);
}

static const eco_http_client_cbs_t CTL_CBS = {.on_head = ctl_on_head, .on_body = ctl_on_body};

static void ctl_get(adapter_t *a, eco_http_upstream_t *up, ctl_kind_t kind, const char *path)
{
    if (ctl_busy[kind])
        return;
    ctl_busy[kind] = 1;
    ctl_req_t *c = eco_calloc(1, sizeof(*c));
    c->a = a;
    c->kind = kind;
    eco_buf_init(&c->body, CTL_BODY_MAX);
    eco_http_client_start(up, "GET", path, "accept: */*\r\n", NULL, 0, &CTL_CBS, c);
}

static void on_scrape(eco_timer_t *t)
{
    adapter_t *a = ECO_CONTAINER_OF(t, adapter_t, scrape_timer);
    if (!eco_lifecycle_draining()) {
        if (eco_now_ms() >= a->next_discovery_ms) {
            if (a->kind->models_path)
                ctl_get(a, a->ctl, CTL_MODELS, a->kind->models_path);
            else
                a->next_discovery_ms = UINT64_MAX; /* nothing to discover (Triton: configured) */
            if (a->kind->info_path)
                ctl_get(a, a->ctl, CTL_INFO, a->kind->info_path);
        }
        if (a->metrics_path[0])
            ctl_get(a, a->mup ? a->mup : a->ctl, CTL_METRICS, a->metrics_path);
    }
    eco_timer_start(a->svc, &a->scrape_timer, (uint64_t)a->cfg.scrape_interval_ms, on_scrape);
}

/* "http://host:port[/path]" -> origin and path. 0, or -1 for anything else. */
static int split_url(const char *url, char *origin, size_t olen, char *path, size_t plen)
{
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    const char *slash = strchr(url + 7, '/');
    size_t n = slash ? (size_t)(slash - url) : strlen(url);
    if (n <= 7 || n >= olen || !memchr(url + 7, ':', n - 7))
        return -1;
    memcpy(origin, url, n);
    origin[n] = '\0';
    snprintf(path, plen, "%s", slash && slash[1] ? slash : "");
    return 0;
}

static eco_http_upstream_t *upstream_or_exit(adapter_t *a, const char *var, const char *url, size_t conns,
                                             uint64_t io_ms, char *path, size_t plen, int path_ok)
{
    char origin[512], p[512], err[200];
    if (split_url(url, origin, sizeof(origin), p, sizeof(p)) != 0 || (!path_ok && p[0] && strcmp(p, "/") != 0)) {
        fprintf(stderr, "%s: expected http://host:port%s, got \"%.200s\"\n", var, path_ok ? "/path" : "", url);
        exit(2);
    }
    if (path)
        snprintf(path, plen, "%s", p);
    eco_http_upstream_t *up = eco_http_upstream_new(a->svc, origin, conns, io_ms, err, sizeof(err));
    if (!up) {
        fprintf(stderr, "%s: %s\n", var, err);
        exit(2);
    }
    return up;
}

void engine_init(adapter_t *a)
{
    /* The h2o client's own I/O timeout also bounds reads, so it only backs up the adapter's
     * connect / first-byte / idle timers. */
    long longest =
        a->cfg.first_byte_timeout_ms > a->cfg.idle_timeout_ms ? a->cfg.first_byte_timeout_ms : a->cfg.idle_timeout_ms;
    if (longest < a->cfg.connect_timeout_ms)
        longest = a->cfg.connect_timeout_ms;
    a->up = upstream_or_exit(a, "ECO_ENGINE_URL", a->cfg.engine_url, (size_t)a->cfg.max_conns, (uint64_t)longest + 5000,
                             NULL, 0, 0);
    a->ctl = upstream_or_exit(a, "ECO_ENGINE_URL", a->cfg.engine_url, 2, 5000, NULL, 0, 0);
    char origin[512], ignored[512];
    split_url(a->cfg.engine_url, origin, sizeof(origin), ignored, sizeof(ignored));
    snprintf(a->health_url, sizeof(a->health_url), "%s%s", origin, a->kind->health_path);
    if (a->cfg.metrics_url && *a->cfg.metrics_url) {
        a->mup = upstream_or_exit(a, "ECO_ENGINE_METRICS_URL", a->cfg.metrics_url, 1, 5000, a->metrics_path,
                                  sizeof(a->metrics_path), 1);
        if (!a->metrics_path[0])
            snprintf(a->metrics_path, sizeof(a->metrics_path), "/metrics");
    } else if (a->kind->metrics_path) {
        snprintf(a->metrics_path, sizeof(a->metrics_path), "%s", a->kind->metrics_path);
    }
    if (a->cfg.tei_url && *a->cfg.tei_url)
        a->tei = upstream_or_exit(a, "ECO_ENGINE_TEI_URL", a->cfg.tei_url, (size_t)a->cfg.max_conns,
                                  (uint64_t)longest + 5000, NULL, 0, 0);
    h2o_linklist_init_anchor(&a->queue);
    eco_ready_add("engine", ECO_READY_REQUIRED, engine_check, a);
    eco_timer_start(a->svc, &a->scrape_timer, 0, on_scrape);
}
