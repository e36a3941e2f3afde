/* One collection: its records (id -> slot table) and its FAISS index ("IDMap,Flat": exact
 * search; the FAISS id of a record is its slot number, reused after a delete). Cosine is inner
 * product over L2-normalised vectors. Searches with a filter run exactly over the matching
 * records through a temporary FAISS IndexFlat of just those vectors. */
#include "index.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/impl/AuxIndexStructures_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <faiss/c_api/utils/distances_c.h>

#define T_EMPTY (-1)
#define T_DEAD  (-2)

struct ix_coll {
    char name[IX_NAME_MAX + 1];
    uint32_t dim;
    int metric; /* Eco__Index__V1__Metric, UNSPECIFIED already mapped to COSINE */
    int kind;
    char *model;
    int64_t created_at;
    FaissIndex *index;
    ix_rec_t *slots; /* slots[i].id == NULL: free */
    size_t nslots, capslots;
    size_t *freel;
    size_t nfree, capfree;
    int64_t *table; /* open addressing: slot number, T_EMPTY or T_DEAD */
    size_t tcap, tused;
    size_t count;
    uint64_t bytes;
};

static int is_cosine(const ix_coll_t *c)
{
    return c->metric == ECO__INDEX__V1__METRIC__METRIC_COSINE;
}

static FaissMetricType faiss_metric(int metric)
{
    return metric == ECO__INDEX__V1__METRIC__METRIC_L2 ? METRIC_L2 : METRIC_INNER_PRODUCT;
}

static const char *kind_name(int kind)
{
    return kind == ECO__INDEX__V1__INDEX_KIND__INDEX_KIND_HNSW ? "HNSW" : "IVF_FLAT";
}

int ix_valid_name(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > IX_NAME_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

int ix_coll_validate_create(const Eco__Index__V1__CreateCollectionRequest *req, ix_err_t *e)
{
    if (!ix_valid_name(req->name))
        return ix_fail(e, IX_INVALID, "name", "name: must be 1-%d characters of [a-z0-9_-]", IX_NAME_MAX);
    if (req->dimensions == 0)
        return ix_fail(e, IX_INVALID, "dimensions",
                       "dimensions: must be 1-%d (taking them from the embedding model is not available yet)",
                       IX_DIM_MAX);
    if (req->dimensions > IX_DIM_MAX)
        return ix_fail(e, IX_INVALID, "dimensions", "dimensions: must be 1-%d, got %u", IX_DIM_MAX, req->dimensions);
    if ((int)req->metric < 0 || req->metric > ECO__INDEX__V1__METRIC__METRIC_INNER_PRODUCT)
        return ix_fail(e, IX_INVALID, "metric", "metric: expected cosine, l2 or inner_product");
    if (req->index_kind == ECO__INDEX__V1__INDEX_KIND__INDEX_KIND_HNSW ||
        req->index_kind == ECO__INDEX__V1__INDEX_KIND__INDEX_KIND_IVF_FLAT)
        return ix_fail(e, IX_UNIMPLEMENTED, "index_kind",
                       "index_kind: %s is not implemented yet; use FLAT (exact search)", kind_name(req->index_kind));
    if ((int)req->index_kind < 0 || req->index_kind > ECO__INDEX__V1__INDEX_KIND__INDEX_KIND_IVF_FLAT)
        return ix_fail(e, IX_INVALID, "index_kind", "index_kind: expected flat, hnsw or ivf_flat");
    if (req->embedding_model && strlen(req->embedding_model) > IX_MODEL_MAX)
        return ix_fail(e, IX_INVALID, "embedding_model", "embedding_model: at most %d bytes", IX_MODEL_MAX);
    return 0;
}

ix_coll_t *ix_coll_new(const Eco__Index__V1__CreateCollectionRequest *req, int64_t created_at, ix_err_t *e)
{
    ix_coll_t *c = eco_calloc(1, sizeof(*c));
    snprintf(c->name, sizeof(c->name), "%s", req->name);
    c->dim = req->dimensions;
    c->metric = req->metric == ECO__INDEX__V1__METRIC__METRIC_UNSPECIFIED ? ECO__INDEX__V1__METRIC__METRIC_COSINE
                                                                          : (int)req->metric;
    c->kind = ECO__INDEX__V1__INDEX_KIND__INDEX_KIND_FLAT;
    c->model = eco_strdup(req->embedding_model ? req->embedding_model : "");
    c->created_at = created_at;
    if (faiss_index_factory(&c->index, (int)c->dim, "IDMap,Flat", faiss_metric(c->metric)) != 0) {
        ix_fail(e, IX_INTERNAL, NULL, "faiss: %s", faiss_get_last_error());
        free(c->model);
        free(c);
        return NULL;
    }
    c->tcap = 64;
    c->table = eco_malloc(c->tcap * sizeof(int64_t));
    for (size_t i = 0; i < c->tcap; i++)
        c->table[i] = T_EMPTY;
    return c;
}

static void rec_clear(ix_rec_t *r)
{
    free(r->id);
    free(r->vec);
    free(r->text);
    ix_meta_free(r->meta, r->nmeta);
    memset(r, 0, sizeof(*r));
}

void ix_coll_free(ix_coll_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nslots; i++)
        rec_clear(&c->slots[i]);
    free(c->slots);
    free(c->freel);
    free(c->table);
    free(c->model);
    if (c->index)
        faiss_Index_free(c->index);
    free(c);
}

const char *ix_coll_name(const ix_coll_t *c)
{
    return c->name;
}

size_t ix_coll_count(const ix_coll_t *c)
{
    return c->count;
}

uint64_t ix_coll_bytes(const ix_coll_t *c)
{
    return c->bytes;
}

uint64_t ix_coll_index_bytes(const ix_coll_t *c)
{
    return (uint64_t)faiss_Index_ntotal(c->index) * (c->dim * sizeof(float) + sizeof(int64_t));
}

/* ---- id -> slot table ---- */

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The table position holding id, or -1. */
static long t_find(const ix_coll_t *c, const char *id)
{
    size_t mask = c->tcap - 1;
    for (size_t i = hash(id) & mask, n = 0; n < c->tcap; i = (i + 1) & mask, n++) {
        int64_t v = c->table[i];
        if (v == T_EMPTY)
            return -1;
        if (v >= 0 && strcmp(c->slots[v].id, id) == 0)
            return (long)i;
    }
    return -1;
}

static void t_put(ix_coll_t *c, const char *id, int64_t slot);

static void t_grow(ix_coll_t *c)
{
    int64_t *old = c->table;
    size_t ocap = c->tcap;
    while (c->tcap < 4 * (c->count + 1))
        c->tcap *= 2;
    c->table = eco_malloc(c->tcap * sizeof(int64_t));
    for (size_t i = 0; i < c->tcap; i++)
        c->table[i] = T_EMPTY;
    c->tused = 0;
    for (size_t i = 0; i < ocap; i++)
        if (old[i] >= 0)
            t_put(c, c->slots[old[i]].id, old[i]);
    free(old);
}

/* id must not be present. */
static void t_put(ix_coll_t *c, const char *id, int64_t slot)
{
    if ((c->tused + 1) * 10 > c->tcap * 7)
        t_grow(c);
    size_t mask = c->tcap - 1;
    for (size_t i = hash(id) & mask;; i = (i + 1) & mask)
        if (c->table[i] < 0) {
            if (c->table[i] == T_EMPTY)
                c->tused++;
            c->table[i] = slot;
            return;
        }
}

int ix_coll_has(const ix_coll_t *c, const char *id)
{
    return t_find(c, id) >= 0;
}

static size_t slot_alloc(ix_coll_t *c)
{
    if (c->nfree)
        return c->freel[--c->nfree];
    if (c->nslots == c->capslots) {
        c->capslots = c->capslots ? c->capslots * 2 : 64;
        c->slots = eco_realloc(c->slots, c->capslots * sizeof(ix_rec_t));
        memset(c->slots + c->nslots, 0, (c->capslots - c->nslots) * sizeof(ix_rec_t));
    }
    return c->nslots++;
}

static void slot_release(ix_coll_t *c, size_t slot)
{
    if (c->nfree == c->capfree) {
        c->capfree = c->capfree ? c->capfree * 2 : 64;
        c->freel = eco_realloc(c->freel, c->capfree * sizeof(size_t));
    }
    c->freel[c->nfree++] = slot;
}

/* ---- records ---- */

static size_t rec_bytes(const ix_coll_t *c, const ix_pb_record_t *r, size_t nmeta_bytes)
{
    /* our copy of the vector, FAISS's copy and its id, the id, text and metadata */
    return sizeof(ix_rec_t) + 2 * (size_t)c->dim * sizeof(float) + sizeof(int64_t) + strlen(r->id) + 1 +
           (r->text && *r->text ? strlen(r->text) + 1 : 0) + nmeta_bytes;
}

static size_t pb_meta_bytes(const ix_pb_record_t *r)
{
    size_t b = r->n_metadata * sizeof(ix_meta_t);
    for (size_t i = 0; i < r->n_metadata; i++) {
        b += strlen(r->metadata[i]->key) + 1;
        if (r->metadata[i]->value->kind_case == ECO__INDEX__V1__VALUE__KIND_STRING_VALUE)
            b += strlen(r->metadata[i]->value->string_value) + 1;
    }
    return b;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int ix_coll_validate_upsert(const ix_coll_t *c, const Eco__Index__V1__UpsertRequest *req, size_t *new_ids,
                            int64_t *bytes_delta, ix_err_t *e)
{
    *new_ids = 0;
    *bytes_delta = 0;
    if (req->n_records == 0)
        return ix_fail(e, IX_INVALID, "records", "records: at least one record is required");
    for (size_t i = 0; i < req->n_records; i++) {
        const ix_pb_record_t *r = req->records[i];
        char f[64];
        size_t idl = r->id ? strlen(r->id) : 0;
        if (idl < 1 || idl > IX_ID_MAX) {
            snprintf(f, sizeof(f), "records[%zu].id", i);
            return ix_fail(e, IX_INVALID, f, "%s: must be 1-%d bytes", f, IX_ID_MAX);
        }
        snprintf(f, sizeof(f), "records[%zu].vector", i);
        if (r->n_vector == 0) {
            if (r->text && *r->text)
                return ix_fail(e, IX_INVALID, f, "%s: vector required (embedding from text not available yet)", f);
            return ix_fail(e, IX_INVALID, f, "%s: a vector of %u values is required", f, c->dim);
        }
        if (r->n_vector != c->dim)
            return ix_fail(e, IX_INVALID, f, "%s: expected %u values (the collection's dimensions), got %zu", f, c->dim,
                           r->n_vector);
        double norm = 0;
        for (size_t j = 0; j < r->n_vector; j++) {
            if (!isfinite(r->vector[j]))
                return ix_fail(e, IX_INVALID, f, "%s[%zu]: must be a finite number", f, j);
            norm += (double)r->vector[j] * r->vector[j];
        }
        if (is_cosine(c) && norm == 0)
            return ix_fail(e, IX_INVALID, f, "%s: must not be all zeros with the cosine metric", f);
        if (r->text && strlen(r->text) > IX_TEXT_MAX) {
            snprintf(f, sizeof(f), "records[%zu].text", i);
            return ix_fail(e, IX_INVALID, f, "%s: at most %d bytes", f, IX_TEXT_MAX);
        }
        snprintf(f, sizeof(f), "records[%zu].metadata", i);
        if (ix_meta_validate(r->metadata, r->n_metadata, f, e) != 0)
            return -1;
        long t = t_find(c, r->id);
        int64_t nb = (int64_t)rec_bytes(c, r, pb_meta_bytes(r));
        if (t >= 0)
            *bytes_delta += nb - (int64_t)c->slots[c->table[t]].bytes;
        else {
            *bytes_delta += nb;
            (*new_ids)++;
        }
    }
    const char **ids = eco_malloc(req->n_records * sizeof(char *));
    for (size_t i = 0; i < req->n_records; i++)
        ids[i] = req->records[i]->id;
    qsort(ids, req->n_records, sizeof(char *), cmp_str);
    for (size_t i = 1; i < req->n_records; i++)
        if (strcmp(ids[i - 1], ids[i]) == 0) {
            ix_fail(e, IX_INVALID, "records", "records: id \"%.64s\" appears more than once", ids[i]);
            free(ids);
            return -1;
        }
    free(ids);
    return 0;
}

static void faiss_remove(ix_coll_t *c, const idx_t *labels, size_t n)
{
    if (n == 0)
        return;
    FaissIDSelectorBatch *sel = NULL;
    size_t removed = 0;
    if (faiss_IDSelectorBatch_new(&sel, n, labels) != 0 ||
        faiss_Index_remove_ids(c->index, (FaissIDSelector *)sel, &removed) != 0)
        eco_fatal("faiss remove_ids in %s: %s", c->name, faiss_get_last_error());
    faiss_IDSelector_free((FaissIDSelector *)sel);
    ECO_BUG_ON(removed != n);
}

void ix_coll_upsert(ix_coll_t *c, ix_pb_record_t *const *recs, size_t n)
{
    idx_t *labels = eco_malloc(n * sizeof(idx_t)), *gone = eco_malloc(n * sizeof(idx_t));
    size_t ngone = 0;
    float *x = eco_malloc(n * (size_t)c->dim * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        const ix_pb_record_t *r = recs[i];
        long t = t_find(c, r->id);
        size_t slot;
        if (t >= 0) {
            slot = (size_t)c->table[t];
            gone[ngone++] = (idx_t)slot;
            c->bytes -= c->slots[slot].bytes;
            /* keep the id string: the table finds the slot through it */
            ix_rec_t *old = &c->slots[slot];
            free(old->vec);
            free(old->text);
            ix_meta_free(old->meta, old->nmeta);
            old->vec = NULL, old->text = NULL, old->meta = NULL, old->nmeta = 0;
        } else {
            slot = slot_alloc(c);
            c->slots[slot].id = eco_strdup(r->id);
            t_put(c, r->id, (int64_t)slot);
            c->count++;
        }
        ix_rec_t *rec = &c->slots[slot];
        rec->vec = eco_malloc(c->dim * sizeof(float));
        memcpy(rec->vec, r->vector, c->dim * sizeof(float));
        rec->text = r->text && *r->text ? eco_strdup(r->text) : NULL;
        ix_meta_from_pb(r->metadata, r->n_metadata, &rec->meta, &rec->nmeta);
        rec->bytes = rec_bytes(c, r, ix_meta_bytes(rec->meta, rec->nmeta));
        c->bytes += rec->bytes;
        memcpy(x + i * c->dim, r->vector, c->dim * sizeof(float));
        labels[i] = (idx_t)slot;
    }
    if (is_cosine(c))
        faiss_fvec_renorm_L2(c->dim, n, x);
    faiss_remove(c, gone, ngone);
    if (faiss_Index_add_with_ids(c->index, (idx_t)n, x, labels) != 0)
        eco_fatal("faiss add_with_ids in %s: %s", c->name, faiss_get_last_error());
    free(x);
    free(labels);
    free(gone);
}

size_t ix_coll_delete(ix_coll_t *c, char *const *ids, size_t n)
{
    idx_t *gone = eco_malloc((n ? n : 1) * sizeof(idx_t));
    size_t ngone = 0;
    for (size_t i = 0; i < n; i++) {
        long t = t_find(c, ids[i]);
        if (t < 0)
            continue; /* absent, or named twice */
        size_t slot = (size_t)c->table[t];
        c->table[t] = T_DEAD;
        c->bytes -= c->slots[slot].bytes;
        rec_clear(&c->slots[slot]);
        slot_release(c, slot);
        c->count--;
        gone[ngone++] = (idx_t)slot;
    }
    faiss_remove(c, gone, ngone);
    free(gone);
    return ngone;
}

const char **ix_coll_matching(const ix_coll_t *c, const ix_pb_filter_t *f, size_t *n)
{
    const char **ids = eco_malloc((c->count ? c->count : 1) * sizeof(char *));
    *n = 0;
    for (size_t s = 0; s < c->nslots; s++)
        if (c->slots[s].id && ix_filter_match(f, c->slots[s].meta, c->slots[s].nmeta))
            ids[(*n)++] = c->slots[s].id;
    return ids;
}

/* ---- reading ---- */

Eco__Index__V1__Collection *ix_coll_describe(const ix_coll_t *c)
{
    Eco__Index__V1__Collection *d = ix_pb_new(&eco__index__v1__collection__descriptor);
    d->name = eco_strdup(c->name);
    d->dimensions = c->dim;
    d->metric = (Eco__Index__V1__Metric)c->metric;
    d->index_kind = (Eco__Index__V1__IndexKind)c->kind;
    d->embedding_model = eco_strdup(c->model);
    d->count = c->count;
    d->created_at = c->created_at;
    return d;
}

Eco__Index__V1__CreateCollectionRequest *ix_coll_create_request(const ix_coll_t *c, int64_t *created_at)
{
    Eco__Index__V1__CreateCollectionRequest *r = ix_pb_new(&eco__index__v1__create_collection_request__descriptor);
    r->name = eco_strdup(c->name);
    r->dimensions = c->dim;
    r->metric = (Eco__Index__V1__Metric)c->metric;
    r->index_kind = (Eco__Index__V1__IndexKind)c->kind;
    r->embedding_model = eco_strdup(c->model);
    *created_at = c->created_at;
    return r;
}

/* A malloc'd pb record of slot s. */
static ix_pb_record_t *rec_to_pb(const ix_coll_t *c, size_t s, int vectors, int text, int meta)
{
    const ix_rec_t *rec = &c->slots[s];
    ix_pb_record_t *r = ix_pb_new(&eco__index__v1__record__descriptor);
    r->id = eco_strdup(rec->id);
    if (vectors) {
        r->n_vector = c->dim;
        r->vector = eco_malloc(c->dim * sizeof(float));
        memcpy(r->vector, rec->vec, c->dim * sizeof(float));
    }
    if (text && rec->text)
        r->text = eco_strdup(rec->text);
    if (meta && rec->nmeta) {
        r->n_metadata = rec->nmeta;
        r->metadata =
            (ix_pb_meta_t **)ix_meta_to_pb(rec->meta, rec->nmeta, &eco__index__v1__record__metadata_entry__descriptor);
    }
    return r;
}

Eco__Index__V1__GetResponse *ix_coll_get(const ix_coll_t *c, const Eco__Index__V1__GetRequest *req)
{
    Eco__Index__V1__GetResponse *out = ix_pb_new(&eco__index__v1__get_response__descriptor);
    if (req->n_ids) {
        out->records = eco_calloc(req->n_ids, sizeof(ix_pb_record_t *));
        out->missing = eco_calloc(req->n_ids, sizeof(char *));
    }
    for (size_t i = 0; i < req->n_ids; i++) {
        long t = t_find(c, req->ids[i]);
        if (t < 0)
            out->missing[out->n_missing++] = eco_strdup(req->ids[i]);
        else
            out->records[out->n_records++] = rec_to_pb(c, (size_t)c->table[t], req->include_vectors, 1, 1);
    }
    return out;
}

int ix_coll_each_batch(const ix_coll_t *c, size_t max, ix_batch_fn fn, void *data)
{
    size_t s = 0;
    while (s < c->nslots) {
        Eco__Index__V1__UpsertRequest *b = ix_pb_new(&eco__index__v1__upsert_request__descriptor);
        b->collection = eco_strdup(c->name);
        b->records = eco_calloc(max, sizeof(ix_pb_record_t *));
        for (; s < c->nslots && b->n_records < max; s++)
            if (c->slots[s].id)
                b->records[b->n_records++] = rec_to_pb(c, s, 1, 1, 1);
        int rc = b->n_records ? fn(b, data) : 0;
        protobuf_c_message_free_unpacked(&b->base, NULL);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- search ---- */

static int worse(const ix_coll_t *c, double score, double min_score)
{
    return c->metric == ECO__INDEX__V1__METRIC__METRIC_L2 ? score > min_score : score < min_score;
}

int ix_coll_search(const ix_coll_t *c, const Eco__Index__V1__SearchRequest *req, Eco__Index__V1__SearchResponse **out,
                   ix_err_t *e)
{
    if (req->top_k > IX_TOP_K_MAX)
        return ix_fail(e, IX_INVALID, "top_k", "top_k: must be 1-%d, got %u", IX_TOP_K_MAX, req->top_k);
    size_t k = req->top_k ? req->top_k : IX_TOP_K_DEFAULT;
    if (req->n_vector == 0) {
        if (req->text && *req->text)
            return ix_fail(e, IX_INVALID, "vector", "vector: vector required (embedding from text not available yet)");
        return ix_fail(e, IX_INVALID, "vector", "vector: a query vector of %u values is required", c->dim);
    }
    if (req->n_vector != c->dim)
        return ix_fail(e, IX_INVALID, "vector", "vector: expected %u values (the collection's dimensions), got %zu",
                       c->dim, req->n_vector);
    double norm = 0;
    for (size_t j = 0; j < req->n_vector; j++) {
        if (!isfinite(req->vector[j]))
            return ix_fail(e, IX_INVALID, "vector", "vector[%zu]: must be a finite number", j);
        norm += (double)req->vector[j] * req->vector[j];
    }
    if (is_cosine(c) && norm == 0)
        return ix_fail(e, IX_INVALID, "vector", "vector: must not be all zeros with the cosine metric");
    if (req->_min_score_case == ECO__INDEX__V1__SEARCH_REQUEST___MIN_SCORE_MIN_SCORE && !isfinite(req->min_score))
        return ix_fail(e, IX_INVALID, "min_score", "min_score: must be a finite number");

    float *q = eco_malloc(c->dim * sizeof(float));
    memcpy(q, req->vector, c->dim * sizeof(float));
    if (is_cosine(c))
        faiss_fvec_renorm_L2(c->dim, 1, q);

    Eco__Index__V1__SearchResponse *res = ix_pb_new(&eco__index__v1__search_response__descriptor);
    const FaissIndex *ix = c->index;
    FaissIndexFlat *tmp = NULL;
    size_t *map = NULL; /* temporary index position -> slot */
    size_t candidates = c->count;
    if (!ix_filter_empty(req->filter)) {
        map = eco_malloc((c->count ? c->count : 1) * sizeof(size_t));
        candidates = 0;
        for (size_t s = 0; s < c->nslots; s++)
            if (c->slots[s].id && ix_filter_match(req->filter, c->slots[s].meta, c->slots[s].nmeta))
                map[candidates++] = s;
        if (candidates > 0) {
            float *x = eco_malloc(candidates * c->dim * sizeof(float));
            for (size_t i = 0; i < candidates; i++)
                memcpy(x + i * c->dim, c->slots[map[i]].vec, c->dim * sizeof(float));
            if (is_cosine(c))
                faiss_fvec_renorm_L2(c->dim, candidates, x);
            if (faiss_IndexFlat_new_with(&tmp, c->dim, faiss_metric(c->metric)) != 0 ||
                faiss_Index_add((FaissIndex *)tmp, (idx_t)candidates, x) != 0)
                eco_fatal("faiss: building a filtered search index: %s", faiss_get_last_error());
            free(x);
            ix = (const FaissIndex *)tmp;
        }
    }
    res->searched = candidates;
    size_t kk = k < candidates ? k : candidates;
    if (kk > 0) {
        float *d = eco_malloc(kk * sizeof(float));
        idx_t *l = eco_malloc(kk * sizeof(idx_t));
        if (faiss_Index_search(ix, 1, q, (idx_t)kk, d, l) != 0)
            eco_fatal("faiss search in %s: %s", c->name, faiss_get_last_error());
        res->matches = eco_calloc(kk, sizeof(Eco__Index__V1__Match *));
        int has_min = req->_min_score_case == ECO__INDEX__V1__SEARCH_REQUEST___MIN_SCORE_MIN_SCORE;
        for (size_t i = 0; i < kk; i++) {
            if (l[i] < 0)
                continue;
            size_t slot = map ? map[l[i]] : (size_t)l[i];
            ECO_BUG_ON(slot >= c->nslots || !c->slots[slot].id);
            if (has_min && worse(c, d[i], req->min_score))
                continue;
            Eco__Index__V1__Match *m = ix_pb_new(&eco__index__v1__match__descriptor);
            const ix_rec_t *rec = &c->slots[slot];
            m->id = eco_strdup(rec->id);
            m->score = d[i];
            if (req->include_vectors) {
                m->n_vector = c->dim;
                m->vector = eco_malloc(c->dim * sizeof(float));
                memcpy(m->vector, rec->vec, c->dim * sizeof(float));
            }
            if (req->include_text && rec->text)
                m->text = eco_strdup(rec->text);
            if (req->include_metadata && rec->nmeta) {
                m->n_metadata = rec->nmeta;
                m->metadata = (Eco__Index__V1__Match__MetadataEntry **)ix_meta_to_pb(
                    rec->meta, rec->nmeta, &eco__index__v1__match__metadata_entry__descriptor);
            }
            res->matches[res->n_matches++] = m;
        }
        free(d);
        free(l);
    }
    if (tmp)
        faiss_Index_free((FaissIndex *)tmp);
    free(map);
    free(q);
    *out = res;
    return 0;
}
