/* index-service metrics: every family and the series whose labels are known, registered at
 * start-up (so eco_index_wal_backlog exists from the first scrape). */
#include "index.h"

#include <string.h>

/* eco_index_records{collection}: one series per collection name ever seen, bounded. */
#define RECORDS_SERIES_MAX 256

static const char *const ops[] = {"create_collection",
                                  "delete_collection",
                                  "list_collections",
                                  "get_collection",
                                  "upsert",
                                  "delete",
                                  "search",
                                  "get",
                                  "stats"};
static const char *const entry_types[] = {"create_collection", "delete_collection", "upsert", "delete"};

static const char *code_name(int code)
{
    switch (code) {
    case 0:
        return "OK";
    case IX_INVALID:
        return "INVALID_ARGUMENT";
    case IX_NOT_FOUND:
        return "NOT_FOUND";
    case IX_EXISTS:
        return "ALREADY_EXISTS";
    case IX_EXHAUSTED:
        return "RESOURCE_EXHAUSTED";
    case IX_UNIMPLEMENTED:
        return "UNIMPLEMENTED";
    case IX_UNAVAILABLE:
        return "UNAVAILABLE";
    default:
        return "INTERNAL";
    }
}

static const int codes[] = {0,           IX_INVALID,    IX_NOT_FOUND, IX_EXISTS, IX_EXHAUSTED, IX_UNIMPLEMENTED,
                            IX_INTERNAL, IX_UNAVAILABLE};

void ix_metrics_init(ix_metrics_t *m)
{
    static const double fsync_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                           0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
    static const double snap_buckets[] = {0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
    m->wal_backlog = eco_metrics_gauge("eco_index_wal_backlog",
                                       "WAL entries not yet covered by a snapshot (grows while snapshots fail).", NULL);
    m->wal_bytes = eco_metrics_gauge("eco_index_wal_bytes", "Size of the write-ahead log file.", NULL);
    m->wal_entries = eco_metrics_counter("eco_index_wal_entries_total",
                                         "Writes appended (and fsync'd) to the write-ahead log, by type.", "type");
    m->wal_fsync = eco_metrics_histogram("eco_index_wal_fsync_seconds", "Time to fdatasync one WAL append.", NULL,
                                         fsync_buckets, ECO_ARRAY_SIZE(fsync_buckets));
    m->snapshots =
        eco_metrics_counter("eco_index_snapshots_total", "Snapshots attempted, by outcome (ok, error).", "outcome");
    m->snapshot_secs = eco_metrics_histogram("eco_index_snapshot_seconds", "Time to write one snapshot.", NULL,
                                             snap_buckets, ECO_ARRAY_SIZE(snap_buckets));
    m->records = eco_metrics_gauge("eco_index_records", "Live records per collection.", "collection");
    m->collections = eco_metrics_gauge("eco_index_collections", "Collections in the index.", NULL);
    m->memory = eco_metrics_gauge(
        "eco_index_memory_bytes",
        "Estimated memory of the records (vectors, FAISS copy, ids, texts, metadata), against ECO_INDEX_MAX_MEMORY.",
        NULL);
    m->search_secs =
        eco_metrics_histogram("eco_index_search_seconds", "Time to run one search (filter included).", NULL, NULL, 0);
    m->ops = eco_metrics_counter("eco_index_operations_total",
                                 "Index operations (REST and gRPC) by operation and gRPC status.", "op,code");

    eco_metrics_set(m->wal_backlog, 0);
    eco_metrics_set(m->wal_bytes, 0);
    for (size_t i = 0; i < ECO_ARRAY_SIZE(entry_types); i++)
        eco_metrics_add(m->wal_entries, 0, entry_types[i]);
    eco_metrics_add(m->snapshots, 0, "ok");
    eco_metrics_add(m->snapshots, 0, "error");
    eco_metrics_set(m->collections, 0);
    eco_metrics_set(m->memory, 0);
    for (size_t o = 0; o < ECO_ARRAY_SIZE(ops); o++)
        for (size_t c = 0; c < ECO_ARRAY_SIZE(codes); c++)
            eco_metrics_add(m->ops, 0, ops[o], code_name(codes[c]));
}

static pthread_mutex_t names_mu = PTHREAD_MUTEX_INITIALIZER;
static char names[RECORDS_SERIES_MAX][IX_NAME_MAX + 1];
static size_t nnames;
static int overflow_logged;

void ix_metrics_records(ix_metrics_t *m, const char *collection, size_t count)
{
    int known = 0;
    pthread_mutex_lock(&names_mu);
    for (size_t i = 0; i < nnames && !known; i++)
        known = strcmp(names[i], collection) == 0;
    if (!known && nnames < RECORDS_SERIES_MAX) {
        snprintf(names[nnames++], sizeof(names[0]), "%s", collection);
        known = 1;
    } else if (!known && !overflow_logged) {
        overflow_logged = 1;
        eco_warn("index: eco_index_records tracks no more collection names", ECO_KI("max", RECORDS_SERIES_MAX));
    }
    pthread_mutex_unlock(&names_mu);
    if (known)
        eco_metrics_set(m->records, (double)count, collection);
}

void ix_metrics_op(ix_metrics_t *m, const char *op, int code)
{
    eco_metrics_inc(m->ops, op, code_name(code));
}
