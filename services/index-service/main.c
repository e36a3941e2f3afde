/* index-service: the vector index. This stage: collections on FAISS (FLAT, exact search;
 * cosine, l2, inner product), upsert / delete / get / search with metadata filters, a
 * write-ahead log fsync'd before every answered write, snapshots that bound it, the REST API
 * (rest.c) and eco.index.v1.Index over gRPC (rpc.c), and the readiness contract (WAL directory
 * writable; ai-service reported but not required). Not yet: embedding text through ai-service
 * (records and queries need vectors), HNSW and IVF indexes.
 * Shutdown (SIGTERM): readiness 503 at once; gRPC calls finish; the snapshot thread stops and a
 * last snapshot covers the WAL (ECO_INDEX_SNAPSHOT_ON_SHUTDOWN); exit 0. HTTP writes are
 * synchronous on the loop, so none is ever half done. */
#include "eco_http.h"
#include "eco_rpc.h"
#include "index.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static ix_settings_t settings;
static ix_store_t store;
static eco_rpc_server_t *rpc;
static atomic_int drained;
static const char *ai_url;
static int grpc_port;

static const eco_cfg_spec_t specs[] = {
    {"ECO_GRPC_PORT", ECO_CFG_PORT, "50052", 0, 0, NULL, "gRPC listen port", &grpc_port},
    {"ECO_INDEX_DATA_DIR", ECO_CFG_STR, "/var/lib/eco-base/index", 0, 0, NULL, "WAL and snapshot directory",
     &settings.data_dir},
    {"ECO_AI_SERVICE_URL", ECO_CFG_URL, "http://127.0.0.1:8001", 0, 0, NULL, "ai-service base URL (embeddings)",
     &ai_url},
    {"ECO_INDEX_MAX_COLLECTIONS", ECO_CFG_INT, "64", 1, 10000, NULL, "collections the index holds at most",
     &settings.max_collections},
    {"ECO_INDEX_MAX_RECORDS", ECO_CFG_INT, "1000000", 1, 1000000000L, NULL, "records one collection holds at most",
     &settings.max_records},
    {"ECO_INDEX_MAX_MEMORY", ECO_CFG_BYTES, "1g", 1L << 20, 1L << 40, NULL,
     "estimated memory of all records (vectors twice: ours and FAISS's; ids, texts, metadata) beyond which "
     "upserts are refused (409 capacity_exceeded / RESOURCE_EXHAUSTED)",
     &settings.max_memory_bytes},
    {"ECO_INDEX_MAX_BATCH", ECO_CFG_INT, "1000", 1, 100000, NULL,
     "records per upsert and ids per delete or get request", &settings.max_batch},
    {"ECO_INDEX_SNAPSHOT_EVERY", ECO_CFG_INT, "10000", 1, 100000000L, NULL,
     "WAL entries after which a snapshot is written (and the WAL emptied)", &settings.snapshot_every},
    {"ECO_INDEX_SNAPSHOT_INTERVAL_S", ECO_CFG_INT, "300", 1, 86400, NULL,
     "seconds after which a snapshot is written when the WAL has entries", &settings.snapshot_interval_s},
    {"ECO_INDEX_SNAPSHOT_ON_SHUTDOWN", ECO_CFG_BOOL, "true", 0, 0, NULL,
     "write a snapshot during a graceful shutdown (faster next start)", &settings.snapshot_on_shutdown},
};

/* OpenBLAS (under FAISS) starts its worker threads when it is loaded, before main blocks the
 * shutdown signals for the runtime's signalfd: a SIGTERM the kernel hands to one of those threads
 * would end the process with the default action. This handler passes such a signal on to the main
 * thread, where it is blocked and so read from the signalfd. */
static pthread_t main_thread;

static void forward_signal(int sig)
{
    if (!pthread_equal(pthread_self(), main_thread))
        pthread_kill(main_thread, sig);
}

static void forward_library_thread_signals(void)
{
    main_thread = pthread_self();
    struct sigaction sa = {.sa_handler = forward_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < ECO_ARRAY_SIZE(sigs); i++)
        sigaction(sigs[i], &sa, NULL);
}

/* Drain (own thread): gRPC calls finish, the snapshot thread stops, a last snapshot. */
static void drain(void *data, long grace_ms)
{
    eco_rpc_server_shutdown(rpc, grace_ms * 3 / 5);
    ix_store_stop(&store, settings.snapshot_on_shutdown);
    atomic_store(&drained, 1);
}

int main(int argc, char **argv)
{
    /* Upserts carry vectors: a larger default body bound than the runtime's 1m (still a setting). */
    setenv("ECO_MAX_BODY_BYTES", "16m", 0);
    eco_service_opts_t opts = {
        .name = "index-service", .default_http_port = 8002, .specs = specs, .nspecs = ECO_ARRAY_SIZE(specs)};
    eco_service_t *svc = eco_service_new(&opts, argc, argv); /* blocks the shutdown signals in main */
    forward_library_thread_signals();
    if (!settings.data_dir[0] || strlen(settings.data_dir) > 3000) {
        fprintf(stderr, "ECO_INDEX_DATA_DIR: expected a directory path (1-3000 characters)\n");
        return 2;
    }
    mkdir(settings.data_dir, 0700);
    static char ai_health[512];
    snprintf(ai_health, sizeof(ai_health), "%s/health", ai_url);
    eco_ready_add("wal_dir", ECO_READY_REQUIRED, eco_http_check_writable_dir, (void *)settings.data_dir);
    eco_ready_add("ai-service", ECO_READY_INFO, eco_http_check_url, ai_health);

    if (ix_store_open(&store, &settings) != 0)
        return 1; /* logged */
    ix_rest_routes(svc, &store);
    rpc = eco_rpc_server_for_service(eco_service_config(svc)->bind_addr, grpc_port, NULL);
    if (ix_rpc_register(rpc, &store) != 0)
        eco_fatal("cannot register eco.index.v1.Index");
    if (eco_rpc_server_start(rpc) < 0)
        return 1; /* logged */
    ix_store_start(&store);
    eco_service_on_drain_blocking(svc, drain, NULL);
    int rc = eco_service_run(svc);
    if (!atomic_load(&drained)) /* the grace period ended first: the drain may still run */
        return rc;
    eco_rpc_server_destroy(rpc);
    ix_store_close(&store);
    return rc;
}
