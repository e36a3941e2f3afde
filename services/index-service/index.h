/* index-service internals: settings, errors, record metadata and filters (filter.c), the
 * write-ahead log framing (wal.c), collections on FAISS (collection.c), the store that orders
 * every write through the WAL (store.c), snapshots (snapshot.c), metrics (metrics.c) and the
 * two front ends (rest.c, rpc.c).
 *
 * Threading: one store, guarded by a read-write lock. Writes (create/drop collection, upsert,
 * delete) take it exclusively, append their WAL entry, fsync it, then apply it in memory, so
 * the WAL order is the apply order and an answered write is durable. Searches and gets share
 * it. The snapshot thread holds it shared while it writes a snapshot (writes wait). */
#ifndef INDEX_SERVICE_H
#define INDEX_SERVICE_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "eco/index/v1/index.pb-c.h"
#include "eco_core.h"
#include "eco_metrics.h"

/* Fixed bounds (the tunable ones are settings, ix_settings_t). */
#define IX_NAME_MAX      64
#define IX_DIM_MAX       4096
#define IX_ID_MAX        256
#define IX_TEXT_MAX      65536
#define IX_META_KEYS_MAX 64
#define IX_META_KEY_MAX  128
#define IX_META_STR_MAX  4096
#define IX_FILTER_MAX    64  /* conditions in all + any + none */
#define IX_IN_VALUES_MAX 256 /* values of one IN / NOT_IN condition */
#define IX_TOP_K_MAX     1000
#define IX_TOP_K_DEFAULT 10
#define IX_MODEL_MAX     128

typedef Eco__Index__V1__Value ix_pb_value_t;
typedef Eco__Index__V1__Filter ix_pb_filter_t;
typedef Eco__Index__V1__Condition ix_pb_cond_t;
typedef Eco__Index__V1__Record ix_pb_record_t;
typedef Eco__Index__V1__Record__MetadataEntry ix_pb_meta_t;

/* ---- errors: a gRPC status code, the offending field and a message ---- */

enum {
    IX_INVALID = 3,   /* INVALID_ARGUMENT -> 400 */
    IX_NOT_FOUND = 5, /* -> 404 */
    IX_EXISTS = 6,    /* ALREADY_EXISTS -> 409 */
    IX_EXHAUSTED = 8, /* RESOURCE_EXHAUSTED: a capacity bound of the store -> 409 */
    IX_UNIMPLEMENTED = 12 /* -> 501 */,
    IX_INTERNAL = 13,    /* -> 500 */
    IX_UNAVAILABLE = 14, /* -> 503 */
};

typedef struct {
    int code;
    char param[128]; /* "records[3].vector"; "" when no single field is at fault */
    char msg[384];
} ix_err_t;

/* Fills e and returns -1 (so callers can `return ix_fail(...)`). */
__attribute__((format(printf, 4, 5))) static inline int ix_fail(ix_err_t *e, int code, const char *param,
                                                                const char *fmt, ...)
{
    e->code = code;
    snprintf(e->param, sizeof(e->param), "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return -1;
}

/* A new, initialised protobuf-c message of desc, on the heap. Caller frees with
 * protobuf_c_message_free_unpacked(msg, NULL): every field set on it must be malloc'd. */
void *ix_pb_new(const ProtobufCMessageDescriptor *desc);

/* ---- settings ---- */

typedef struct {
    const char *data_dir;
    long max_collections;
    long max_records;      /* per collection */
    long max_memory_bytes; /* vectors, ids, texts and metadata of every collection (estimate) */
    long max_batch;        /* records per upsert, ids per delete or get */
    long snapshot_every;   /* WAL entries after which a snapshot is taken */
    long snapshot_interval_s;
    int snapshot_on_shutdown;
} ix_settings_t;

/* ---- metadata and filters (filter.c) ---- */

/* One metadata value; type is the protobuf oneof case (1 string, 2 int, 3 double, 4 bool). */
typedef struct {
    char *key;
    int type;
    union {
        char *s;
        int64_t i;
        double d;
        int b;
    } u;
} ix_meta_t;

/* Checks a record's metadata map (field names the path, e.g. "records[2].metadata").
 * 0 or -1 with e filled. */
int ix_meta_validate(ix_pb_meta_t *const *entries, size_t n, const char *field, ix_err_t *e);
/* Copies validated entries. *out is owned by the caller (ix_meta_free). */
void ix_meta_from_pb(ix_pb_meta_t *const *entries, size_t n, ix_meta_t **out, size_t *nout);
void ix_meta_free(ix_meta_t *m, size_t n);
/* Builds map entries of message type desc (Record or Match MetadataEntry: same layout), all
 * malloc'd (freed with the message that holds them). */
void **ix_meta_to_pb(const ix_meta_t *m, size_t n, const ProtobufCMessageDescriptor *desc);
/* Bytes the metadata takes (for the memory bound). */
size_t ix_meta_bytes(const ix_meta_t *m, size_t n);

/* NULL, or every list empty. */
int ix_filter_empty(const ix_pb_filter_t *f);
/* Checks a filter (field names the path, "filter"): known ops, values present and of a usable
 * type, bounds. 0 or -1 with e filled. */
int ix_filter_validate(const ix_pb_filter_t *f, const char *field, ix_err_t *e);
/* 1 when a record with this metadata matches a validated filter (NULL matches all). */
int ix_filter_match(const ix_pb_filter_t *f, const ix_meta_t *m, size_t n);

/* ---- WAL and snapshot framing (wal.c) ----
 * An entry: a 32-byte little-endian header {magic "EIW1", payload length, CRC32, type, seq,
 * ts_ms} and the payload (a packed protobuf message). The CRC covers type, seq, ts_ms and the
 * payload, so a torn or overwritten tail is detected. */
#define IX_WAL_MAGIC       0x31574945u
#define IX_WAL_HDR         32
#define IX_WAL_MAX_PAYLOAD (512u << 20)

enum {
    IX_REC_CREATE = 1,      /* CreateCollectionRequest; ts_ms = created_at */
    IX_REC_DROP = 2,        /* DeleteCollectionRequest */
    IX_REC_UPSERT = 3,      /* UpsertRequest (validated) */
    IX_REC_DELETE = 4,      /* DeleteRequest with the resolved ids (no filter) */
    IX_REC_SNAP_BEGIN = 10, /* snapshot header: seq = the WAL position it covers */
    IX_REC_SNAP_END = 11,   /* snapshot trailer: payload = 8-byte count of entries before it */
};

typedef struct {
    uint32_t type;
    uint64_t seq;
    int64_t ts_ms;
    const uint8_t *payload; /* borrowed */
    size_t len;
} ix_entry_t;

/* Writes the header of e (CRC included) into hdr. */
void ix_entry_header(uint8_t hdr[IX_WAL_HDR], const ix_entry_t *e);
/* Decodes one entry at buf[0..avail): 1 with *e (payload borrowed from buf) and *used set, 0 at a
 * clean end (avail == 0), -1 when the bytes are not a whole valid entry (why says what). */
int ix_entry_decode(const uint8_t *buf, size_t avail, ix_entry_t *e, size_t *used, char *why, size_t whylen);

/* Called for each valid entry in file order; return 0 to go on, 1 to treat this entry as the
 * start of a corrupt tail (e.g. a sequence number out of order), -1 to stop with an error. */
typedef int (*ix_entry_fn)(const ix_entry_t *e, void *data);
/* Scans a log file (missing = empty). *good_end: offset after the last entry accepted;
 * *size: the file's size (> *good_end when a corrupt or torn tail was found: why says what).
 * 0, -1 when fn failed, or a negative errno when the file cannot be read. */
int ix_log_scan(const char *path, ix_entry_fn fn, void *data, uint64_t *good_end, uint64_t *size, char *why,
                size_t whylen);

typedef struct {
    int fd;
    char *path;
    uint64_t bytes; /* file size = offset of the next entry */
} ix_wal_t;

/* Opens (creates) the WAL for appending at offset `end`, cutting anything after it (a torn
 * tail) and syncing. 0 or a negative errno. */
int ix_wal_open(ix_wal_t *w, const char *path, uint64_t end);
/* Appends one entry and fdatasyncs it. 0, or ECO_EIO when it could not be written (the file is
 * cut back to its previous end). An fsync failure is fatal: the kernel may have dropped the
 * pages, so nothing can be said about what is durable (the restart replays the WAL).
 * *sync_s (may be NULL) receives the fsync duration. */
int ix_wal_append(ix_wal_t *w, const ix_entry_t *e, double *sync_s);
/* Replaces the WAL by an empty file atomically (new file, fsync, rename, fsync directory). */
int ix_wal_reset(ix_wal_t *w);
void ix_wal_close(ix_wal_t *w);
/* fsyncs a directory (after a rename in it). 0 or a negative errno. */
int ix_fsync_dir(const char *dir);
/* Writes a whole buffer (retrying short writes). 0 or a negative errno. */
int ix_write_all(int fd, const void *buf, size_t len);

/* ---- collections (collection.c) ---- */

typedef struct {
    char *id;
    float *vec; /* as given (cosine: the index holds the normalised copy) */
    char *text; /* NULL when none */
    ix_meta_t *meta;
    size_t nmeta;
    size_t bytes;
} ix_rec_t;

typedef struct ix_coll ix_coll_t;

/* Checks a create request (bounds of the store are checked by the store). */
int ix_coll_validate_create(const Eco__Index__V1__CreateCollectionRequest *req, ix_err_t *e);
/* A collection for a validated request. NULL with e filled when FAISS refuses. */
ix_coll_t *ix_coll_new(const Eco__Index__V1__CreateCollectionRequest *req, int64_t created_at, ix_err_t *e);
void ix_coll_free(ix_coll_t *c);
const char *ix_coll_name(const ix_coll_t *c);
size_t ix_coll_count(const ix_coll_t *c);
uint64_t ix_coll_bytes(const ix_coll_t *c);
/* The collection's description (malloc'd message). */
Eco__Index__V1__Collection *ix_coll_describe(const ix_coll_t *c);
/* The create request that recreates it (malloc'd message), and its created_at. */
Eco__Index__V1__CreateCollectionRequest *ix_coll_create_request(const ix_coll_t *c, int64_t *created_at);

/* Checks an upsert against the collection (ids, vectors, texts, metadata, duplicates). On
 * success *new_ids is the number of ids not yet present and *bytes_delta the memory change. */
int ix_coll_validate_upsert(const ix_coll_t *c, const Eco__Index__V1__UpsertRequest *req, size_t *new_ids,
                            int64_t *bytes_delta, ix_err_t *e);
/* Applies a validated upsert (insert or replace by id). */
void ix_coll_upsert(ix_coll_t *c, ix_pb_record_t *const *recs, size_t n);
/* Deletes the ids present; returns how many were. */
size_t ix_coll_delete(ix_coll_t *c, char *const *ids, size_t n);
/* Ids (malloc'd array of borrowed strings, valid until the next write) of the records matching
 * a validated filter; *n their count. */
const char **ix_coll_matching(const ix_coll_t *c, const ix_pb_filter_t *f, size_t *n);
/* Whether the id is present. */
int ix_coll_has(const ix_coll_t *c, const char *id);
/* Search (validated request apart from the vector, checked here). Fills a malloc'd response. */
int ix_coll_search(const ix_coll_t *c, const Eco__Index__V1__SearchRequest *req, Eco__Index__V1__SearchResponse **out,
                   ix_err_t *e);
/* Records by id (request order), malloc'd response. */
Eco__Index__V1__GetResponse *ix_coll_get(const ix_coll_t *c, const Eco__Index__V1__GetRequest *req);
/* Records in slot order, for snapshots: calls fn with upserts of at most max records (borrowed
 * for the call). 0, or the first non-zero return of fn. */
typedef int (*ix_batch_fn)(const Eco__Index__V1__UpsertRequest *batch, void *data);
int ix_coll_each_batch(const ix_coll_t *c, size_t max, ix_batch_fn fn, void *data);
/* Bytes FAISS holds for the vectors (estimate: ntotal * dim * 4 + ids). */
uint64_t ix_coll_index_bytes(const ix_coll_t *c);

/* ---- metrics (metrics.c) ---- */

typedef struct {
    eco_metric_t *wal_backlog;   /* eco_index_wal_backlog */
    eco_metric_t *wal_bytes;     /* eco_index_wal_bytes */
    eco_metric_t *wal_entries;   /* eco_index_wal_entries_total{type} */
    eco_metric_t *wal_fsync;     /* eco_index_wal_fsync_seconds */
    eco_metric_t *snapshots;     /* eco_index_snapshots_total{outcome} */
    eco_metric_t *snapshot_secs; /* eco_index_snapshot_seconds */
    eco_metric_t *records;       /* eco_index_records{collection} */
    eco_metric_t *collections;   /* eco_index_collections */
    eco_metric_t *memory;        /* eco_index_memory_bytes */
    eco_metric_t *search_secs;   /* eco_index_search_seconds */
    eco_metric_t *ops;           /* eco_index_operations_total{op,code} */
} ix_metrics_t;

void ix_metrics_init(ix_metrics_t *m);
/* eco_index_records for one collection; labels beyond a bound are not tracked (logged once). */
void ix_metrics_records(ix_metrics_t *m, const char *collection, size_t count);
/* Counts one operation by op and gRPC status name. */
void ix_metrics_op(ix_metrics_t *m, const char *op, int code);

/* ---- the store (store.c, snapshot.c) ---- */

typedef struct {
    ix_settings_t s;
    ix_metrics_t m;
    pthread_rwlock_t lock;
    ix_coll_t **colls;
    size_t ncolls;
    uint64_t mem_bytes;
    ix_wal_t wal;
    char *wal_path, *snap_path;
    uint64_t seq;      /* last WAL entry written */
    uint64_t snap_seq; /* covered by the snapshot on disk */
    int64_t snap_at;   /* Unix ms of that snapshot; 0 = none */
    /* the snapshot thread */
    pthread_t snap_thread;
    int snap_started;
    pthread_mutex_t snap_mu;
    pthread_cond_t snap_cv;
    int snap_stop, snap_wanted;
} ix_store_t;

/* Loads the snapshot, replays the WAL after it (a torn tail is logged and cut) and opens the
 * WAL. 0, or -1 with the reason logged (the service must not start on that data). */
int ix_store_open(ix_store_t *st, const ix_settings_t *s);
/* Starts the snapshot thread (snapshots by entry count and by interval). */
void ix_store_start(ix_store_t *st);
/* Stops the snapshot thread; with final = 1 writes a last snapshot when the WAL has entries. */
void ix_store_stop(ix_store_t *st, int final);
void ix_store_close(ix_store_t *st);

/* The operations. Each returns 0 with *out set (a malloc'd message; caller frees with
 * protobuf_c_message_free_unpacked) or -1 with e filled. Requests are borrowed. */
int ix_store_create(ix_store_t *st, const Eco__Index__V1__CreateCollectionRequest *req,
                    Eco__Index__V1__Collection **out, ix_err_t *e);
int ix_store_drop(ix_store_t *st, const Eco__Index__V1__DeleteCollectionRequest *req,
                  Eco__Index__V1__DeleteCollectionResponse **out, ix_err_t *e);
int ix_store_list(ix_store_t *st, Eco__Index__V1__ListCollectionsResponse **out, ix_err_t *e);
int ix_store_describe(ix_store_t *st, const char *name, Eco__Index__V1__Collection **out, ix_err_t *e);
int ix_store_upsert(ix_store_t *st, const Eco__Index__V1__UpsertRequest *req, Eco__Index__V1__UpsertResponse **out,
                    ix_err_t *e);
int ix_store_delete(ix_store_t *st, const Eco__Index__V1__DeleteRequest *req, Eco__Index__V1__DeleteResponse **out,
                    ix_err_t *e);
int ix_store_search(ix_store_t *st, const Eco__Index__V1__SearchRequest *req, Eco__Index__V1__SearchResponse **out,
                    ix_err_t *e);
int ix_store_get(ix_store_t *st, const Eco__Index__V1__GetRequest *req, Eco__Index__V1__GetResponse **out, ix_err_t *e);
int ix_store_stats(ix_store_t *st, const Eco__Index__V1__StatsRequest *req, Eco__Index__V1__StatsResponse **out,
                   ix_err_t *e);

/* ops.c: the operations by number (the gRPC methods; the REST routes map onto them). */
typedef enum {
    IX_OP_CREATE,
    IX_OP_DROP,
    IX_OP_LIST,
    IX_OP_UPSERT,
    IX_OP_DELETE,
    IX_OP_SEARCH,
    IX_OP_GET,
    IX_OP_STATS,
    IX_OP_N
} ix_op_id_t;
extern const char *const ix_op_method[IX_OP_N]; /* "CreateCollection", ... */
/* Runs op with req (its request message; NULL for LIST): 0 with *out set (caller frees) or -1
 * with e filled, as the ix_store_* function it calls. */
int ix_op_run(ix_store_t *st, ix_op_id_t op, const ProtobufCMessage *req, ProtobufCMessage **out, ix_err_t *e);

/* Checks a collection name ([a-z0-9_-]{1,64}). */
int ix_valid_name(const char *s);

/* snapshot.c: writes a snapshot of the whole store (caller holds the lock, shared or
 * exclusive) to st->snap_path atomically. 0 or -1 (logged). */
int ix_snapshot_write(ix_store_t *st);
/* Loads st->snap_path (missing = empty store) into st (collections, snap_seq, snap_at).
 * 0, or -1 (logged) when it is unreadable or incomplete. */
int ix_snapshot_load(ix_store_t *st);
/* Applies one logged write to the store (replay and snapshot loading). 0, or -1 when the entry
 * cannot be applied (logged; replay skips it). */
int ix_store_apply(ix_store_t *st, const ix_entry_t *e, int from_snapshot);

/* ---- front ends ---- */

typedef struct eco_service eco_service_t;
typedef struct eco_rpc_server eco_rpc_server_t;
/* rest.c: the /v1/collections routes. */
void ix_rest_routes(eco_service_t *svc, ix_store_t *st);
/* rpc.c: eco.index.v1.Index on srv (before start). 0 or -1. */
int ix_rpc_register(eco_rpc_server_t *srv, ix_store_t *st);

#endif
