/* engine-adapter: one process per engine instance; serves eco.ai.v1.Inference over gRPC and
 * translates to the engine's native HTTP API. This stage: the skeleton with the readiness
 * contract (ready only while its engine is ready, by that engine's own health semantics). */
#include "eco_engines.h"
#include "eco_http.h"
#include "eco_rpc.h"

static const char *kind_name;
static const char *engine_url;
static int grpc_port;

static const eco_cfg_spec_t specs[] = {
    {"ECO_GRPC_PORT", ECO_CFG_PORT, "50061", 0, 0, NULL, "gRPC listen port (eco.ai.v1.Inference)", &grpc_port},
    {"ECO_ENGINE_KIND", ECO_CFG_ENUM, NULL, 0, 0, ECO_ENGINE_KINDS, "engine protocol", &kind_name},
    {"ECO_ENGINE_URL", ECO_CFG_URL, NULL, 0, 0, NULL, "engine base URL, e.g. http://127.0.0.1:8101", &engine_url},
};

int main(int argc, char **argv)
{
    eco_service_opts_t opts = {.name = "engine-adapter", .default_http_port = 9061, .specs = specs,
                               .nspecs = ECO_ARRAY_SIZE(specs)};
    eco_service_t *svc = eco_service_new(&opts, argc, argv);
    const eco_engine_kind_t *kind = eco_engine_kind(kind_name);
    static char health_url[1024];
    snprintf(health_url, sizeof(health_url), "%s%s", engine_url, kind->health_path);
    eco_ready_add("engine", ECO_READY_REQUIRED, eco_http_check_url, health_url);
    eco_rpc_server_t *rpc = eco_rpc_server_for_service(eco_service_config(svc)->bind_addr, grpc_port, NULL);
    if (eco_rpc_server_start(rpc) < 0)
        return 1; /* logged */
    eco_service_on_drain_blocking(svc, eco_rpc_drain, rpc);
    int rc = eco_service_run(svc);
    eco_rpc_server_destroy(rpc);
    return rc;
}
