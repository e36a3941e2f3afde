/* ai-service: OpenAI-compatible REST and the eco.ai.v1.Inference gRPC API in front of the
 * engine adapters. This stage: the model registry (ECO_MODELS_FILE), grpc.health.v1 on the gRPC
 * port, and the readiness contract: 503 when no model has a healthy backend, "degraded" when
 * some model has none, Kafka (job workers) reported only. */
#include "backends.h"
#include "eco_deps.h"
#include "eco_http.h"
#include "eco_rpc.h"
#include "models.h"
#include "registry.h"

#include <stdlib.h>

static const char *models_file, *kafka;
static int grpc_port;

static const eco_cfg_spec_t specs[] = {
    {"ECO_GRPC_PORT", ECO_CFG_PORT, "50051", 0, 0, NULL, "gRPC listen port (eco.ai.v1.Inference)", &grpc_port},
    {"ECO_MODELS_FILE", ECO_CFG_STR, "deploy/local/models.yaml", 0, 0, NULL, "model registry (YAML)", &models_file},
    ECO_DEPS_SPEC_KAFKA(&kafka),
};

int main(int argc, char **argv)
{
    eco_service_opts_t opts = {
        .name = "ai-service", .default_http_port = 8001, .specs = specs, .nspecs = ECO_ARRAY_SIZE(specs)};
    eco_service_t *svc = eco_service_new(&opts, argc, argv);
    char err[512];
    registry_t *reg = registry_load(models_file, err, sizeof(err));
    if (!reg) {
        fprintf(stderr, "ECO_MODELS_FILE: %s\n", err);
        return 2;
    }
    backends_t *bk = backends_new(reg);
    eco_ready_add("models", ECO_READY_REQUIRED, backends_check_models, bk);
    eco_deps_ready_kafka("kafka", ECO_READY_INFO, kafka);
    static models_ctx_t models;
    models_init(&models, reg, bk);
    eco_service_route(svc, "GET", "/v1/models", models_list, &models);
    eco_service_route(svc, "GET", "/v1/models/{model}", models_get, &models);

    eco_rpc_server_t *rpc = eco_rpc_server_for_service(eco_service_config(svc)->bind_addr, grpc_port, NULL);
    if (eco_rpc_server_start(rpc) < 0)
        return 1; /* logged */
    eco_service_on_drain_blocking(svc, eco_rpc_drain, rpc);
    int rc = eco_service_run(svc);
    eco_rpc_server_destroy(rpc);
    backends_free(bk);
    registry_free(reg);
    return rc;
}
