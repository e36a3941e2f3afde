/* The store: the collections, and the order of every write through the WAL. A write is
 * validated, appended to the WAL and fsync'd, then applied in memory, all under the exclusive
 * lock; reads share the lock. Start-up loads the snapshot and replays the WAL after it; the
 * snapshot thread writes a new snapshot every `snapshot_every` entries or `snapshot_interval_s`
 * seconds (when there is something to cover) and then empties the WAL. */
#include "index.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t wall_ms(void)
{
    return (int64_t)(eco_wall_time() * 1000.0);
}

static long find_pos(const ix_store_t *st, const char *name)
{
    for (size_t i = 0; i < st->ncolls; i++)
        if (strcmp(ix_coll_name(st->colls[i]), name) == 0)
            return (long)i;
    return -1;
}

static ix_coll_t *find(const ix_store_t *st, const char *name)
{
    long p = find_pos(st, name);
    return p < 0 ? NULL : st->colls[p];
}

static void mem_recount(ix_store_t *st)
{
    uint64_t b = 0;
    for (size_t i = 0; i < st->ncolls; i++)
        b += ix_coll_bytes(st->colls[i]);
    st->mem_bytes = b;
    eco_metrics_set(st->m.memory, (double)b);
    eco_metrics_set(st->m.collections, (double)st->ncolls);
}

static void gauges(ix_store_t *st)
{
    eco_metrics_set(st->m.wal_backlog, (double)(st->seq - st->snap_seq));
    eco_metrics_set(st->m.wal_bytes, (double)st->wal.bytes);
}

/* The collection named by a request, or -1 with NOT_FOUND / INVALID_ARGUMENT. */
static int lookup(ix_store_t *st, const char *name, const char *field, ix_coll_t **c, ix_err_t *e)
{
    if (!ix_valid_name(name))
        return ix_fail(e, IX_INVALID, field, "%s: must be 1-%d characters of [a-z0-9_-]", field, IX_NAME_MAX);
    *c = find(st, name);
    if (!*c)
        return ix_fail(e, IX_NOT_FOUND, field, "collection \"%s\" not found", name);
    return 0;
}

static const char *const entry_types[] = {"", "create_collection", "delete_collection", "upsert", "delete"};

/* Appends one write to the WAL (exclusive lock held). 0 with *seq set, or -1 (UNAVAILABLE). */
static int log_write(ix_store_t *st, uint32_t type, const ProtobufCMessage *msg, int64_t ts, uint64_t *seq, ix_err_t *e)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    if (len > IX_WAL_MAX_PAYLOAD)
        return ix_fail(e, IX_INVALID, NULL, "the request is too large for one log entry (%zu bytes)", len);
    uint8_t *buf = eco_malloc(len ? len : 1);
    protobuf_c_message_pack(msg, buf);
    ix_entry_t en = {.type = type, .seq = st->seq + 1, .ts_ms = ts, .payload = buf, .len = len};
    double sync_s = 0;
    int rc = ix_wal_append(&st->wal, &en, &sync_s);
    free(buf);
    if (rc != 0)
        return ix_fail(e, IX_UNAVAILABLE, NULL, "the write-ahead log cannot be written; try again later");
    st->seq++;
    *seq = st->seq;
    eco_metrics_observe(st->m.wal_fsync, sync_s);
    eco_metrics_inc(st->m.wal_entries, entry_types[type]);
    gauges(st);
    if (st->seq - st->snap_seq >= (uint64_t)st->s.snapshot_every) {
        pthread_mutex_lock(&st->snap_mu);
        st->snap_wanted = 1;
        pthread_cond_signal(&st->snap_cv);
        pthread_mutex_unlock(&st->snap_mu);
    }
    return 0;
}

/* ---- applying logged writes (replay and snapshots) ---- */

int ix_store_apply(ix_store_t *st, const ix_entry_t *en, int from_snapshot)
{
    const ProtobufCMessageDescriptor *desc = NULL;
    switch (en->type) {
    case IX_REC_CREATE:
        desc = &eco__index__v1__create_collection_request__descriptor;
        break;
    case IX_REC_DROP:
        desc = &eco__index__v1__delete_collection_request__descriptor;
        break;
    case IX_REC_UPSERT:
        desc = &eco__index__v1__upsert_request__descriptor;
        break;
    case IX_REC_DELETE:
        desc = &eco__index__v1__delete_request__descriptor;
        break;
    default:
        eco_error("index: unknown log entry type", ECO_KI("type", en->type), ECO_KI("seq", en->seq));
        return -1;
    }
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, en->len, en->payload);
    if (!m) {
        eco_error("index: unreadable log entry", ECO_KI("type", en->type), ECO_KI("seq", en->seq));
        return -1;
    }
    ix_err_t e = {0};
    int rc = 0;
    switch (en->type) {
    case IX_REC_CREATE: {
        Eco__Index__V1__CreateCollectionRequest *r = (void *)m;
        ix_coll_t *c = NULL;
        if (find(st, r->name))
            rc = ix_fail(&e, IX_EXISTS, "name", "collection \"%s\" exists already", r->name);
        else if (ix_coll_validate_create(r, &e) == 0 && (c = ix_coll_new(r, en->ts_ms, &e)) != NULL) {
            st->colls = eco_realloc(st->colls, (st->ncolls + 1) * sizeof(*st->colls));
            st->colls[st->ncolls++] = c;
        } else
            rc = -1;
        break;
    }
    case IX_REC_DROP: {
        Eco__Index__V1__DeleteCollectionRequest *r = (void *)m;
        long p = find_pos(st, r->name);
        if (p >= 0) {
            ix_metrics_records(&st->m, r->name, 0);
            ix_coll_free(st->colls[p]);
            st->colls[p] = st->colls[--st->ncolls];
        }
        break;
    }
    case IX_REC_UPSERT: {
        Eco__Index__V1__UpsertRequest *r = (void *)m;
        ix_coll_t *c = find(st, r->collection);
        size_t new_ids;
        int64_t delta;
        if (!c)
            rc = ix_fail(&e, IX_NOT_FOUND, "collection", "collection \"%s\" not found", r->collection);
        else if ((rc = ix_coll_validate_upsert(c, r, &new_ids, &delta, &e)) == 0)
            ix_coll_upsert(c, r->records, r->n_records);
        break;
    }
    case IX_REC_DELETE: {
        Eco__Index__V1__DeleteRequest *r = (void *)m;
        ix_coll_t *c = find(st, r->collection);
        if (c)
            ix_coll_delete(c, r->ids, r->n_ids);
        break;
    }
    }
    if (rc != 0)
        eco_error("index: log entry not applied", ECO_KS("source", from_snapshot ? "snapshot" : "wal"),
                  ECO_KI("seq", en->seq), ECO_KS("error", e.msg));
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

/* ---- opening: snapshot + WAL replay ---- */

typedef struct {
    ix_store_t *st;
    uint64_t last;
    size_t applied, skipped;
} replay_t;

static int replay_entry(const ix_entry_t *en, void *data)
{
    replay_t *r = data;
    if (en->type < IX_REC_CREATE || en->type > IX_REC_DELETE)
        return 1;
    if (r->last && en->seq != r->last + 1)
        return 1;
    r->last = en->seq;
    if (en->seq <= r->st->snap_seq) /* covered by the snapshot (the WAL was not emptied yet) */
        return 0;
    if (en->seq != r->st->seq + 1) {
        if (r->st->seq == r->st->snap_seq) { /* not a torn tail: entries are missing */
            eco_error("index: the WAL does not continue the snapshot; refusing to start on partial data",
                      ECO_KI("snapshot_seq", r->st->snap_seq), ECO_KI("wal_seq", en->seq));
            return -1;
        }
        return 1;
    }
    r->st->seq = en->seq;
    if (ix_store_apply(r->st, en, 0) == 0)
        r->applied++;
    else
        r->skipped++;
    return 0;
}

int ix_store_open(ix_store_t *st, const ix_settings_t *s)
{
    st->s = *s;
    ix_metrics_init(&st->m);
    pthread_rwlock_init(&st->lock, NULL);
    pthread_mutex_init(&st->snap_mu, NULL);
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&st->snap_cv, &a);
    pthread_condattr_destroy(&a);
    st->wal.fd = -1;
    size_t n = strlen(s->data_dir) + 32;
    st->wal_path = eco_malloc(n);
    st->snap_path = eco_malloc(n);
    snprintf(st->wal_path, n, "%s/wal.log", s->data_dir);
    snprintf(st->snap_path, n, "%s/snapshot.ixs", s->data_dir);

    uint64_t t0 = eco_now_ms();
    if (ix_snapshot_load(st) != 0)
        return -1;
    st->seq = st->snap_seq;
    replay_t r = {.st = st};
    uint64_t good = 0, size = 0;
    char why[160];
    int rc = ix_log_scan(st->wal_path, replay_entry, &r, &good, &size, why, sizeof(why));
    if (rc == -1)
        return -1; /* logged */
    if (rc != 0) {
        eco_error("index: cannot read the WAL", ECO_KS("path", st->wal_path), ECO_KS("error", strerror(-rc)));
        return -1;
    }
    if (size > good)
        eco_warn("index: ignoring a torn or corrupt WAL tail", ECO_KS("path", st->wal_path), ECO_KI("offset", good),
                 ECO_KI("bytes_dropped", size - good), ECO_KS("reason", why));
    if ((rc = ix_wal_open(&st->wal, st->wal_path, good)) != 0) {
        eco_error("index: cannot open the WAL", ECO_KS("path", st->wal_path), ECO_KS("error", strerror(-rc)));
        return -1;
    }
    for (size_t i = 0; i < st->ncolls; i++)
        ix_metrics_records(&st->m, ix_coll_name(st->colls[i]), ix_coll_count(st->colls[i]));
    mem_recount(st);
    gauges(st);
    eco_info("index: store loaded", ECO_KI("collections", st->ncolls), ECO_KI("snapshot_seq", st->snap_seq),
             ECO_KI("wal_replayed", r.applied), ECO_KI("wal_skipped", r.skipped), ECO_KI("wal_seq", st->seq),
             ECO_KI("ms", eco_now_ms() - t0));
    return 0;
}

/* ---- snapshots ---- */

/* Exclusive lock held. 0, or -1 when the snapshot could not be written (logged, counted). */
static int snapshot_now(ix_store_t *st)
{
    uint64_t t0 = eco_now_ns();
    if (ix_snapshot_write(st) != 0) {
        eco_metrics_inc(st->m.snapshots, "error");
        return -1;
    }
    int rc = ix_wal_reset(&st->wal);
    if (rc != 0) /* the old entries are all covered: replay skips them */
        eco_warn("index: cannot empty the WAL after a snapshot", ECO_KS("error", strerror(-rc)));
    eco_metrics_inc(st->m.snapshots, "ok");
    eco_metrics_observe(st->m.snapshot_secs, (double)(eco_now_ns() - t0) / 1e9);
    gauges(st);
    eco_info("index: snapshot written", ECO_KI("seq", st->snap_seq), ECO_KI("ms", (eco_now_ns() - t0) / 1000000));
    return 0;
}

/* After a failed snapshot, the next attempt waits this long (writes keep asking for one). */
#define SNAPSHOT_RETRY_S 5

static void *snapshot_main(void *arg)
{
    ix_store_t *st = arg;
    int failed = 0;
    for (;;) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec +=
            failed && st->s.snapshot_interval_s > SNAPSHOT_RETRY_S ? SNAPSHOT_RETRY_S : st->s.snapshot_interval_s;
        pthread_mutex_lock(&st->snap_mu);
        while (!st->snap_stop && (failed || !st->snap_wanted))
            if (pthread_cond_timedwait(&st->snap_cv, &st->snap_mu, &ts) == ETIMEDOUT)
                break;
        int stop = st->snap_stop;
        st->snap_wanted = 0;
        pthread_mutex_unlock(&st->snap_mu);
        if (stop)
            return NULL;
        pthread_rwlock_wrlock(&st->lock);
        failed = st->seq > st->snap_seq ? snapshot_now(st) != 0 : 0;
        pthread_rwlock_unlock(&st->lock);
    }
}

void ix_store_start(ix_store_t *st)
{
    if (pthread_create(&st->snap_thread, NULL, snapshot_main, st) != 0)
        eco_fatal("index: cannot start the snapshot thread");
    st->snap_started = 1;
}

void ix_store_stop(ix_store_t *st, int final)
{
    if (st->snap_started) {
        pthread_mutex_lock(&st->snap_mu);
        st->snap_stop = 1;
        pthread_cond_signal(&st->snap_cv);
        pthread_mutex_unlock(&st->snap_mu);
        pthread_join(st->snap_thread, NULL);
        st->snap_started = 0;
    }
    if (final) {
        pthread_rwlock_wrlock(&st->lock);
        if (st->seq > st->snap_seq)
            snapshot_now(st);
        pthread_rwlock_unlock(&st->lock);
    }
}

void ix_store_close(ix_store_t *st)
{
    for (size_t i = 0; i < st->ncolls; i++)
        ix_coll_free(st->colls[i]);
    free(st->colls);
    st->colls = NULL;
    st->ncolls = 0;
    ix_wal_close(&st->wal);
    free(st->wal_path);
    free(st->snap_path);
    st->wal_path = st->snap_path = NULL;
}

/* ---- operations ---- */

static int done(ix_store_t *st, const char *op, int rc, const ix_err_t *e)
{
    ix_metrics_op(&st->m, op, rc == 0 ? 0 : e->code);
    return rc;
}

int ix_store_create(ix_store_t *st, const Eco__Index__V1__CreateCollectionRequest *req,
                    Eco__Index__V1__Collection **out, ix_err_t *e)
{
    if (ix_coll_validate_create(req, e) != 0)
        return done(st, "create_collection", -1, e);
    int rc = -1;
    pthread_rwlock_wrlock(&st->lock);
    ix_coll_t *c = NULL;
    uint64_t seq;
    int64_t now = wall_ms();
    if (find(st, req->name))
        ix_fail(e, IX_EXISTS, "name", "collection \"%s\" already exists", req->name);
    else if ((long)st->ncolls >= st->s.max_collections)
        ix_fail(e, IX_EXHAUSTED, "name", "the index holds its maximum of %ld collections (ECO_INDEX_MAX_COLLECTIONS)",
                st->s.max_collections);
    else if ((c = ix_coll_new(req, now, e)) != NULL) {
        if (log_write(st, IX_REC_CREATE, &req->base, now, &seq, e) != 0)
            ix_coll_free(c);
        else {
            st->colls = eco_realloc(st->colls, (st->ncolls + 1) * sizeof(*st->colls));
            st->colls[st->ncolls++] = c;
            ix_metrics_records(&st->m, req->name, 0);
            mem_recount(st);
            *out = ix_coll_describe(c);
            rc = 0;
        }
    }
    pthread_rwlock_unlock(&st->lock);
    return done(st, "create_collection", rc, e);
}

int ix_store_drop(ix_store_t *st, const Eco__Index__V1__DeleteCollectionRequest *req,
                  Eco__Index__V1__DeleteCollectionResponse **out, ix_err_t *e)
{
    if (!ix_valid_name(req->name)) {
        ix_fail(e, IX_INVALID, "name", "name: must be 1-%d characters of [a-z0-9_-]", IX_NAME_MAX);
        return done(st, "delete_collection", -1, e);
    }
    int rc = 0;
    pthread_rwlock_wrlock(&st->lock);
    long p = find_pos(st, req->name);
    uint64_t seq;
    Eco__Index__V1__DeleteCollectionResponse *r = NULL;
    if (p < 0 || (rc = log_write(st, IX_REC_DROP, &req->base, wall_ms(), &seq, e)) == 0) {
        r = ix_pb_new(&eco__index__v1__delete_collection_response__descriptor);
        if (p >= 0) {
            ix_metrics_records(&st->m, req->name, 0);
            ix_coll_free(st->colls[p]);
            st->colls[p] = st->colls[--st->ncolls];
            mem_recount(st);
            r->deleted = 1;
        }
        *out = r;
    }
    pthread_rwlock_unlock(&st->lock);
    return done(st, "delete_collection", rc, e);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(Eco__Index__V1__Collection *const *)a)->name, (*(Eco__Index__V1__Collection *const *)b)->name);
}

int ix_store_list(ix_store_t *st, Eco__Index__V1__ListCollectionsResponse **out, ix_err_t *e)
{
    Eco__Index__V1__ListCollectionsResponse *r = ix_pb_new(&eco__index__v1__list_collections_response__descriptor);
    pthread_rwlock_rdlock(&st->lock);
    if (st->ncolls) {
        r->collections = eco_calloc(st->ncolls, sizeof(*r->collections));
        for (size_t i = 0; i < st->ncolls; i++)
            r->collections[r->n_collections++] = ix_coll_describe(st->colls[i]);
    }
    pthread_rwlock_unlock(&st->lock);
    if (r->n_collections > 1)
        qsort(r->collections, r->n_collections, sizeof(*r->collections), cmp_name);
    *out = r;
    return done(st, "list_collections", 0, e);
}

int ix_store_describe(ix_store_t *st, const char *name, Eco__Index__V1__Collection **out, ix_err_t *e)
{
    ix_coll_t *c;
    pthread_rwlock_rdlock(&st->lock);
    int rc = lookup(st, name, "name", &c, e);
    if (rc == 0)
        *out = ix_coll_describe(c);
    pthread_rwlock_unlock(&st->lock);
    return done(st, "get_collection", rc, e);
}

int ix_store_upsert(ix_store_t *st, const Eco__Index__V1__UpsertRequest *req, Eco__Index__V1__UpsertResponse **out,
                    ix_err_t *e)
{
    if ((long)req->n_records > st->s.max_batch) {
        ix_fail(e, IX_INVALID, "records", "records: at most %ld records per request (ECO_INDEX_MAX_BATCH), got %zu",
                st->s.max_batch, req->n_records);
        return done(st, "upsert", -1, e);
    }
    pthread_rwlock_wrlock(&st->lock);
    ix_coll_t *c;
    size_t new_ids = 0;
    int64_t delta = 0;
    uint64_t seq;
    int rc = lookup(st, req->collection, "collection", &c, e);
    if (rc == 0)
        rc = ix_coll_validate_upsert(c, req, &new_ids, &delta, e);
    if (rc == 0 && (long)(ix_coll_count(c) + new_ids) > st->s.max_records)
        rc = ix_fail(e, IX_EXHAUSTED, "records",
                     "collection \"%s\" would hold %zu records, more than its maximum of %ld (ECO_INDEX_MAX_RECORDS)",
                     req->collection, ix_coll_count(c) + new_ids, st->s.max_records);
    if (rc == 0 && delta > 0 && (int64_t)st->mem_bytes + delta > st->s.max_memory_bytes)
        rc = ix_fail(e, IX_EXHAUSTED, "records",
                     "the index would use more than its maximum of %ld bytes (ECO_INDEX_MAX_MEMORY)",
                     st->s.max_memory_bytes);
    if (rc == 0)
        rc = log_write(st, IX_REC_UPSERT, &req->base, wall_ms(), &seq, e);
    if (rc == 0) {
        ix_coll_upsert(c, req->records, req->n_records);
        ix_metrics_records(&st->m, req->collection, ix_coll_count(c));
        mem_recount(st);
        Eco__Index__V1__UpsertResponse *r = ix_pb_new(&eco__index__v1__upsert_response__descriptor);
        r->upserted = (uint32_t)req->n_records;
        r->wal_seq = seq;
        *out = r;
    }
    pthread_rwlock_unlock(&st->lock);
    return done(st, "upsert", rc, e);
}

static int check_ids(ix_store_t *st, char *const *ids, size_t n, int required, ix_err_t *e)
{
    if ((long)n > st->s.max_batch)
        return ix_fail(e, IX_INVALID, "ids", "ids: at most %ld ids per request (ECO_INDEX_MAX_BATCH), got %zu",
                       st->s.max_batch, n);
    if (required && n == 0)
        return ix_fail(e, IX_INVALID, "ids", "ids: at least one id is required");
    for (size_t i = 0; i < n; i++) {
        size_t l = ids[i] ? strlen(ids[i]) : 0;
        if (l < 1 || l > IX_ID_MAX) {
            char f[32];
            snprintf(f, sizeof(f), "ids[%zu]", i);
            return ix_fail(e, IX_INVALID, f, "%s: must be 1-%d bytes", f, IX_ID_MAX);
        }
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int ix_store_delete(ix_store_t *st, const Eco__Index__V1__DeleteRequest *req, Eco__Index__V1__DeleteResponse **out,
                    ix_err_t *e)
{
    int rc = check_ids(st, req->ids, req->n_ids, 0, e);
    if (rc == 0)
        rc = ix_filter_validate(req->filter, "filter", e);
    if (rc == 0 && req->n_ids == 0 && ix_filter_empty(req->filter))
        rc = ix_fail(e, IX_INVALID, "ids", "ids: give ids, a filter, or both");
    if (rc != 0)
        return done(st, "delete", rc, e);
    pthread_rwlock_wrlock(&st->lock);
    ix_coll_t *c;
    rc = lookup(st, req->collection, "collection", &c, e);
    if (rc == 0) {
        /* the ids present, from the list and the filter, each once: what the WAL records */
        size_t nm = 0;
        const char **matched = ix_filter_empty(req->filter) ? NULL : ix_coll_matching(c, req->filter, &nm);
        char **ids = eco_malloc((req->n_ids + nm + 1) * sizeof(char *));
        size_t n = 0;
        for (size_t i = 0; i < req->n_ids; i++)
            if (ix_coll_has(c, req->ids[i]))
                ids[n++] = req->ids[i];
        for (size_t i = 0; i < nm; i++)
            ids[n++] = (char *)matched[i];
        qsort(ids, n, sizeof(char *), cmp_str);
        size_t u = 0;
        for (size_t i = 0; i < n; i++)
            if (u == 0 || strcmp(ids[u - 1], ids[i]) != 0)
                ids[u++] = ids[i];
        uint64_t seq = st->seq;
        if (u > 0) {
            Eco__Index__V1__DeleteRequest logged = ECO__INDEX__V1__DELETE_REQUEST__INIT;
            logged.collection = req->collection;
            logged.ids = ids;
            logged.n_ids = u;
            rc = log_write(st, IX_REC_DELETE, &logged.base, wall_ms(), &seq, e);
        }
        if (rc == 0) {
            Eco__Index__V1__DeleteResponse *r = ix_pb_new(&eco__index__v1__delete_response__descriptor);
            /* ids borrow the records: delete after logging, count before freeing */
            r->deleted = (uint32_t)(u ? ix_coll_delete(c, ids, u) : 0);
            r->wal_seq = seq;
            ix_metrics_records(&st->m, req->collection, ix_coll_count(c));
            mem_recount(st);
            *out = r;
        }
        free(ids);
        free(matched);
    }
    pthread_rwlock_unlock(&st->lock);
    return done(st, "delete", rc, e);
}

int ix_store_search(ix_store_t *st, const Eco__Index__V1__SearchRequest *req, Eco__Index__V1__SearchResponse **out,
                    ix_err_t *e)
{
    int rc = ix_filter_validate(req->filter, "filter", e);
    if (rc != 0)
        return done(st, "search", rc, e);
    uint64_t t0 = eco_now_ns();
    pthread_rwlock_rdlock(&st->lock);
    ix_coll_t *c;
    rc = lookup(st, req->collection, "collection", &c, e);
    if (rc == 0)
        rc = ix_coll_search(c, req, out, e);
    pthread_rwlock_unlock(&st->lock);
    if (rc == 0)
        eco_metrics_observe(st->m.search_secs, (double)(eco_now_ns() - t0) / 1e9);
    return done(st, "search", rc, e);
}

int ix_store_get(ix_store_t *st, const Eco__Index__V1__GetRequest *req, Eco__Index__V1__GetResponse **out, ix_err_t *e)
{
    int rc = check_ids(st, req->ids, req->n_ids, 1, e);
    if (rc != 0)
        return done(st, "get", rc, e);
    pthread_rwlock_rdlock(&st->lock);
    ix_coll_t *c;
    rc = lookup(st, req->collection, "collection", &c, e);
    if (rc == 0)
        *out = ix_coll_get(c, req);
    pthread_rwlock_unlock(&st->lock);
    return done(st, "get", rc, e);
}

int ix_store_stats(ix_store_t *st, const Eco__Index__V1__StatsRequest *req, Eco__Index__V1__StatsResponse **out,
                   ix_err_t *e)
{
    pthread_rwlock_rdlock(&st->lock);
    ix_coll_t *c;
    int rc = lookup(st, req->collection, "collection", &c, e);
    if (rc == 0) {
        Eco__Index__V1__StatsResponse *r = ix_pb_new(&eco__index__v1__stats_response__descriptor);
        r->collection = ix_coll_describe(c);
        r->deleted = 0; /* deletes compact the FAISS index at once */
        r->index_bytes = ix_coll_index_bytes(c);
        r->wal_bytes = st->wal.bytes;
        r->wal_seq = st->seq;
        r->snapshot_seq = st->snap_seq;
        r->snapshot_at = st->snap_at;
        *out = r;
    }
    pthread_rwlock_unlock(&st->lock);
    return done(st, "stats", rc, e);
}
