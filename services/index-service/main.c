/* index-service: embeddings + vector index (collections on FAISS, WAL + snapshots).
 * This stage: the service skeleton with its readiness contract (WAL directory writable;
 * ai-service reported but not required). */
#include "eco_http.h"
#include "eco_rpc.h"

#include <sys/stat.h>

static const char *wal_dir;
static const char *ai_url;
static int grpc_port;

static const eco_cfg_spec_t specs[] = {
    {"ECO_GRPC_PORT", ECO_CFG_PORT, "50052", 0, 0, NULL, "gRPC listen port", &grpc_port},
    {"ECO_INDEX_DATA_DIR", ECO_CFG_STR, "/var/lib/eco-base/index", 0, 0, NULL, "WAL and snapshot directory", &wal_dir},
    {"ECO_AI_SERVICE_URL", ECO_CFG_URL, "http://127.0.0.1:8001", 0, 0, NULL, "ai-service base URL (embeddings)",
     &ai_url},
};

int main(int argc, char **argv)
{
    eco_service_opts_t opts = {
        .name = "index-service", .default_http_port = 8002, .specs = specs, .nspecs = ECO_ARRAY_SIZE(specs)};
    eco_service_t *svc = eco_service_new(&opts, argc, argv);
    mkdir(wal_dir, 0700);
    static char ai_health[512];
    snprintf(ai_health, sizeof(ai_health), "%s/health", ai_url);
    eco_ready_add("wal_dir", ECO_READY_REQUIRED, eco_http_check_writable_dir, (void *)wal_dir);
    eco_ready_add("ai-service", ECO_READY_INFO, eco_http_check_url, ai_health);
    eco_rpc_server_t *rpc = eco_rpc_server_for_service(eco_service_config(svc)->bind_addr, grpc_port, NULL);
    if (eco_rpc_server_start(rpc) < 0)
        return 1; /* logged */
    eco_service_on_drain_blocking(svc, eco_rpc_drain, rpc);
    int rc = eco_service_run(svc);
    eco_rpc_server_destroy(rpc);
    return rc;
}
