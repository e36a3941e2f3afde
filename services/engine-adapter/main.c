/* engine-adapter: one process per engine instance; serves eco.ai.v1.Inference over gRPC and
 * translates to the engine's native HTTP API (libs/engines). Ready only while its engine is
 * ready, by that engine's own health semantics. See adapter.h for the threading model. */
#include "adapter.h"

adapter_t g_adapter;

static const eco_cfg_spec_t specs[] = {
    {"ECO_GRPC_PORT", ECO_CFG_PORT, "50061", 0, 0, NULL, "gRPC listen port (eco.ai.v1.Inference)",
     &g_adapter.cfg.grpc_port},
    {"ECO_ENGINE_KIND", ECO_CFG_ENUM, NULL, 0, 0, ECO_ENGINE_KINDS, "engine protocol", &g_adapter.cfg.kind_name},
    {"ECO_ENGINE_URL", ECO_CFG_URL, NULL, 0, 0, NULL, "engine base URL, http://host:port (no path)",
     &g_adapter.cfg.engine_url},
    {"ECO_ENGINE_MODEL", ECO_CFG_STR, "", 0, 0, NULL,
     "the engine's served model name, used when a request names none; empty = discovered from the engine",
     &g_adapter.cfg.model},
    {"ECO_ENGINE_CONNECT_TIMEOUT_MS", ECO_CFG_MS, "2000", 10, 600000, NULL,
     "longest wait for a connection to the engine", &g_adapter.cfg.connect_timeout_ms},
    {"ECO_ENGINE_FIRST_BYTE_TIMEOUT_MS", ECO_CFG_MS, "120000", 10, 3600000, NULL,
     "longest wait for the engine's first answer byte (a stream's first event; a unary answer is sent "
     "whole, so this bounds its generation)",
     &g_adapter.cfg.first_byte_timeout_ms},
    {"ECO_ENGINE_IDLE_TIMEOUT_MS", ECO_CFG_MS, "30000", 10, 3600000, NULL,
     "longest silence between two pieces of a streamed answer", &g_adapter.cfg.idle_timeout_ms},
    {"ECO_ENGINE_MAX_CONNS", ECO_CFG_INT, "64", 1, 4096, NULL,
     "requests open to the engine at once (keep-alive connections); more wait in the adapter's queue",
     &g_adapter.cfg.max_conns},
    {"ECO_ENGINE_MAX_QUEUE", ECO_CFG_INT, "1024", 0, 1000000, NULL,
     "requests waiting for a connection; beyond, RESOURCE_EXHAUSTED", &g_adapter.cfg.max_queue},
    {"ECO_ENGINE_METRICS_URL", ECO_CFG_URL, "", 0, 0, NULL,
     "Prometheus metrics URL when not the engine's own (Triton: http://host:8002/metrics)", &g_adapter.cfg.metrics_url},
    {"ECO_ENGINE_SCRAPE_INTERVAL_MS", ECO_CFG_MS, "1000", 100, 600000, NULL,
     "how often engine metrics are scraped (and models rediscovered, at most every 30 s)",
     &g_adapter.cfg.scrape_interval_ms},
    {"ECO_ENGINE_TEI_URL", ECO_CFG_URL, "", 0, 0, NULL,
     "text-embeddings-inference server for GenerateEmbedding (e.g. next to TGI); empty = the engine's own",
     &g_adapter.cfg.tei_url},
    {"ECO_ENGINE_DEFAULT_MAX_TOKENS", ECO_CFG_INT, "1024", 1, 1000000, NULL,
     "max_tokens sent when a request gives none and the engine requires one (Triton)",
     &g_adapter.cfg.default_max_tokens},
    {"ECO_ENGINE_FORWARD_METADATA", ECO_CFG_STR, "traceparent,tracestate", 0, 0, NULL,
     "request metadata keys passed on to the engine as HTTP headers (comma-separated, at most 8)",
     &g_adapter.cfg.forward_md},
};

int main(int argc, char **argv)
{
    adapter_t *a = &g_adapter;
    eco_service_opts_t opts = {
        .name = "engine-adapter", .default_http_port = 9061, .specs = specs, .nspecs = ECO_ARRAY_SIZE(specs)};
    a->svc = eco_service_new(&opts, argc, argv);
    a->kind = eco_engine_kind(a->cfg.kind_name);
    a->started_ms = eco_now_ms();
    pthread_mutex_init(&a->lock, NULL);
    atomic_init(&a->inflight, 0);
    atomic_init(&a->running, 0);
    atomic_init(&a->queued, 0);
    a->m_requests = eco_metrics_counter("eco_adapter_requests_total", "Inference calls by method and outcome.",
                                        "kind,method,outcome");
    a->m_upstream =
        eco_metrics_histogram("eco_adapter_upstream_seconds", "Engine request duration.", "kind,method", NULL, 0);
    a->m_ttft = eco_metrics_histogram("eco_adapter_ttft_seconds", "Time to the first streamed token.", "kind", NULL, 0);
    a->m_tokens =
        eco_metrics_counter("eco_adapter_tokens_total", "Tokens by direction (prompt, completion).", "kind,direction");
    a->m_cuts =
        eco_metrics_counter("eco_adapter_stream_cuts_total", "Engine streams that broke off unfinished.", "kind");
    a->m_pauses = eco_metrics_counter("eco_adapter_stream_pauses_total",
                                      "Times an engine stream was paused because the client read slowly.", "kind");
    a->m_inflight = eco_metrics_gauge("eco_adapter_inflight", "Inference calls in progress.", "kind");
    eco_metrics_set(a->m_inflight, 0, a->kind->name);

    calls_forward_init(a); /* exits 2 on a bad key */
    engine_init(a);        /* exits 2 on a bad URL */
    a->rpc = eco_rpc_server_for_service(eco_service_config(a->svc)->bind_addr, a->cfg.grpc_port, NULL);
    calls_register(a);
    info_register(a);
    if (eco_rpc_server_start(a->rpc) < 0)
        return 1; /* logged */
    eco_info("engine adapter configured", ECO_KS("kind", a->kind->name), ECO_KS("engine", a->cfg.engine_url),
             ECO_KS("model", a->cfg.model), ECO_KI("grpc_port", a->cfg.grpc_port),
             ECO_KI("max_conns", a->cfg.max_conns));
    eco_service_on_drain_blocking(a->svc, eco_rpc_drain, a->rpc);
    int rc = eco_service_run(a->svc);
    eco_rpc_server_destroy(a->rpc);
    return rc;
}
