/* The REST API on the HTTP port: /v1/collections... with JSON bodies mirroring the
 * eco.index.v1 messages (field names as in the proto; metric and index_kind as lower-case
 * names, "cosine"; metadata values as plain JSON scalars; filter ops as "EQ" or "OP_EQ").
 * Requests are converted to the protobuf messages the store takes (so REST and gRPC share one
 * validation), unknown fields are refused, and answers are converted back. Errors use the
 * runtime's error shape with the offending field in `param`. Handlers run on the loop thread
 * and call the store directly (a write waits for its fsync). */
#include "eco_http.h"
#include "index.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

static ix_store_t *store;

/* ---- errors ---- */

static void send_err(eco_http_call_t *call, const ix_err_t *e)
{
    int status = 500;
    const char *code = "internal";
    switch (e->code) {
    case IX_INVALID:
        status = 400, code = "invalid_argument";
        break;
    case IX_NOT_FOUND:
        status = 404, code = "not_found";
        break;
    case IX_EXISTS:
        status = 409, code = "already_exists";
        break;
    case IX_EXHAUSTED:
        status = 409, code = "capacity_exceeded";
        break;
    case IX_UNIMPLEMENTED:
        status = 501, code = "unimplemented";
        break;
    case IX_UNAVAILABLE:
        status = 503, code = "unavailable";
        break;
    }
    eco_http_send_error(call, status, code, e->param[0] ? e->param : NULL, "%s", e->msg);
}

/* ---- JSON -> protobuf ---- */

static char *join(char *buf, size_t len, const char *path, const char *key)
{
    snprintf(buf, len, "%s%s%s", path, *path ? "." : "", key);
    return buf;
}

static int check_keys(json_t *o, const char *const *allowed, const char *path, ix_err_t *e)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        int ok = 0;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(allowed[i], k) == 0;
        if (!ok) {
            char f[128];
            join(f, sizeof(f), path, k);
            return ix_fail(e, IX_INVALID, f, "%.100s: unknown field", f);
        }
    }
    return 0;
}

/* A string of at most max bytes without NUL; absent: *out untouched, 0. */
static int get_str(json_t *o, const char *key, const char *path, size_t max, int required, char **out, ix_err_t *e)
{
    char f[128];
    json_t *v = json_object_get(o, key);
    if (!v) {
        if (required)
            return ix_fail(e, IX_INVALID, join(f, sizeof(f), path, key), "%s: required", f);
        return 0;
    }
    if (!json_is_string(v))
        return ix_fail(e, IX_INVALID, join(f, sizeof(f), path, key), "%s: expected a string", f);
    size_t n = json_string_length(v);
    if (strlen(json_string_value(v)) != n)
        return ix_fail(e, IX_INVALID, join(f, sizeof(f), path, key), "%s: must not contain NUL characters", f);
    if (n > max)
        return ix_fail(e, IX_INVALID, join(f, sizeof(f), path, key), "%s: at most %zu bytes", f, max);
    *out = eco_strdup(json_string_value(v));
    return 0;
}

static int get_uint(json_t *o, const char *key, long min, long max, int required, uint32_t *out, ix_err_t *e)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        if (required)
            return ix_fail(e, IX_INVALID, key, "%s: required", key);
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return ix_fail(e, IX_INVALID, key, "%s: expected an integer %ld-%ld", key, min, max);
    *out = (uint32_t)json_integer_value(v);
    return 0;
}

static int get_bool(json_t *o, const char *key, protobuf_c_boolean *out, ix_err_t *e)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return ix_fail(e, IX_INVALID, key, "%s: expected true or false", key);
    *out = json_is_true(v);
    return 0;
}

static int get_vector(json_t *v, const char *f, float **out, size_t *n, ix_err_t *e)
{
    if (!json_is_array(v))
        return ix_fail(e, IX_INVALID, f, "%s: expected an array of numbers", f);
    size_t len = json_array_size(v);
    if (len > IX_DIM_MAX)
        return ix_fail(e, IX_INVALID, f, "%s: at most %d values, got %zu", f, IX_DIM_MAX, len);
    float *x = len ? eco_malloc(len * sizeof(float)) : NULL;
    for (size_t i = 0; i < len; i++) {
        json_t *a = json_array_get(v, i);
        double d = json_is_number(a) ? json_number_value(a) : NAN;
        if (!json_is_number(a) || !isfinite(d) || fabs(d) > FLT_MAX) {
            char p[96];
            snprintf(p, sizeof(p), "%s[%zu]", f, i);
            free(x);
            return ix_fail(e, IX_INVALID, p, "%s: expected a finite number within float range", p);
        }
        x[i] = (float)d;
    }
    *out = x;
    *n = len;
    return 0;
}

static int get_value(json_t *v, const char *f, ix_pb_value_t **out, ix_err_t *e)
{
    ix_pb_value_t *pv = ix_pb_new(&eco__index__v1__value__descriptor);
    if (json_is_string(v)) {
        if (strlen(json_string_value(v)) != json_string_length(v)) {
            free(pv);
            return ix_fail(e, IX_INVALID, f, "%s: must not contain NUL characters", f);
        }
        pv->kind_case = ECO__INDEX__V1__VALUE__KIND_STRING_VALUE;
        pv->string_value = eco_strdup(json_string_value(v));
    } else if (json_is_integer(v)) {
        pv->kind_case = ECO__INDEX__V1__VALUE__KIND_INT_VALUE;
        pv->int_value = json_integer_value(v);
    } else if (json_is_real(v)) {
        pv->kind_case = ECO__INDEX__V1__VALUE__KIND_DOUBLE_VALUE;
        pv->double_value = json_real_value(v);
    } else if (json_is_boolean(v)) {
        pv->kind_case = ECO__INDEX__V1__VALUE__KIND_BOOL_VALUE;
        pv->bool_value = json_is_true(v);
    } else {
        free(pv);
        return ix_fail(e, IX_INVALID, f, "%s: expected a string, number or boolean", f);
    }
    *out = pv;
    return 0;
}

static int get_metadata(json_t *v, const char *f, ix_pb_record_t *r, ix_err_t *e)
{
    if (!json_is_object(v))
        return ix_fail(e, IX_INVALID, f, "%s: expected an object of scalar values", f);
    if (json_object_size(v) > IX_META_KEYS_MAX)
        return ix_fail(e, IX_INVALID, f, "%s: at most %d keys", f, IX_META_KEYS_MAX);
    r->metadata = json_object_size(v) ? eco_calloc(json_object_size(v), sizeof(ix_pb_meta_t *)) : NULL;
    const char *k;
    json_t *val;
    json_object_foreach(v, k, val)
    {
        char p[224];
        snprintf(p, sizeof(p), "%s.%.128s", f, k);
        ix_pb_meta_t *en = ix_pb_new(&eco__index__v1__record__metadata_entry__descriptor);
        r->metadata[r->n_metadata++] = en;
        en->key = eco_strdup(k);
        if (get_value(val, p, &en->value, e) != 0)
            return -1;
    }
    return 0;
}

static int parse_op(const char *s, Eco__Index__V1__Condition__Op *op)
{
    static const char *const names[] = {"",    "EQ", "NE",  "IN",     "NOT_IN",    "GT",
                                        "GTE", "LT", "LTE", "EXISTS", "NOT_EXISTS"};
    if (strncasecmp(s, "OP_", 3) == 0)
        s += 3;
    for (size_t i = 1; i < ECO_ARRAY_SIZE(names); i++)
        if (strcasecmp(s, names[i]) == 0) {
            *op = (Eco__Index__V1__Condition__Op)i;
            return 0;
        }
    return -1;
}

static int get_conditions(json_t *f, const char *list, const char *path, ix_pb_cond_t ***out, size_t *n, ix_err_t *e)
{
    char lp[64];
    json_t *a = json_object_get(f, list);
    if (!a)
        return 0;
    snprintf(lp, sizeof(lp), "%s.%s", path, list);
    if (!json_is_array(a))
        return ix_fail(e, IX_INVALID, lp, "%s: expected an array of conditions", lp);
    if (json_array_size(a) > IX_FILTER_MAX)
        return ix_fail(e, IX_INVALID, lp, "%s: at most %d conditions", lp, IX_FILTER_MAX);
    *out = json_array_size(a) ? eco_calloc(json_array_size(a), sizeof(ix_pb_cond_t *)) : NULL;
    static const char *const keys[] = {"key", "op", "values", NULL};
    for (size_t i = 0; i < json_array_size(a); i++) {
        char cp[96], fp[112];
        snprintf(cp, sizeof(cp), "%s[%zu]", lp, i);
        json_t *c = json_array_get(a, i);
        ix_pb_cond_t *pc = ix_pb_new(&eco__index__v1__condition__descriptor);
        (*out)[(*n)++] = pc;
        if (!json_is_object(c))
            return ix_fail(e, IX_INVALID, cp, "%s: expected an object {key, op, values}", cp);
        if (check_keys(c, keys, cp, e) != 0 || get_str(c, "key", cp, IX_META_KEY_MAX, 1, &pc->key, e) != 0)
            return -1;
        json_t *op = json_object_get(c, "op");
        snprintf(fp, sizeof(fp), "%s.op", cp);
        if (!json_is_string(op) || parse_op(json_string_value(op), &pc->op) != 0)
            return ix_fail(e, IX_INVALID, fp,
                           "%s: expected one of EQ, NE, IN, NOT_IN, GT, GTE, LT, LTE, EXISTS, NOT_EXISTS", fp);
        json_t *vals = json_object_get(c, "values");
        if (!vals)
            continue;
        snprintf(fp, sizeof(fp), "%s.values", cp);
        if (!json_is_array(vals))
            return ix_fail(e, IX_INVALID, fp, "%s: expected an array of scalar values", fp);
        if (json_array_size(vals) > IX_IN_VALUES_MAX)
            return ix_fail(e, IX_INVALID, fp, "%s: at most %d values", fp, IX_IN_VALUES_MAX);
        pc->values = json_array_size(vals) ? eco_calloc(json_array_size(vals), sizeof(ix_pb_value_t *)) : NULL;
        for (size_t j = 0; j < json_array_size(vals); j++) {
            char vp[136];
            snprintf(vp, sizeof(vp), "%s[%zu]", fp, j);
            if (get_value(json_array_get(vals, j), vp, &pc->values[pc->n_values], e) != 0)
                return -1;
            pc->n_values++;
        }
    }
    return 0;
}

static int get_filter(json_t *o, ix_pb_filter_t **out, ix_err_t *e)
{
    json_t *f = json_object_get(o, "filter");
    if (!f || json_is_null(f))
        return 0;
    if (!json_is_object(f))
        return ix_fail(e, IX_INVALID, "filter", "filter: expected an object {all, any, none}");
    static const char *const keys[] = {"all", "any", "none", NULL};
    ix_pb_filter_t *pf = ix_pb_new(&eco__index__v1__filter__descriptor);
    *out = pf;
    if (check_keys(f, keys, "filter", e) != 0 || get_conditions(f, "all", "filter", &pf->all, &pf->n_all, e) != 0 ||
        get_conditions(f, "any", "filter", &pf->any, &pf->n_any, e) != 0 ||
        get_conditions(f, "none", "filter", &pf->none, &pf->n_none, e) != 0)
        return -1;
    return 0;
}

static int get_ids(json_t *o, char ***ids, size_t *n, ix_err_t *e)
{
    json_t *a = json_object_get(o, "ids");
    if (!a)
        return 0;
    if (!json_is_array(a))
        return ix_fail(e, IX_INVALID, "ids", "ids: expected an array of strings");
    if ((long)json_array_size(a) > store->s.max_batch)
        return ix_fail(e, IX_INVALID, "ids", "ids: at most %ld ids per request (ECO_INDEX_MAX_BATCH), got %zu",
                       store->s.max_batch, json_array_size(a));
    *ids = json_array_size(a) ? eco_calloc(json_array_size(a), sizeof(char *)) : NULL;
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *s = json_array_get(a, i);
        if (!json_is_string(s) || strlen(json_string_value(s)) != json_string_length(s)) {
            char f[32];
            snprintf(f, sizeof(f), "ids[%zu]", i);
            return ix_fail(e, IX_INVALID, f, "%s: expected a string", f);
        }
        (*ids)[(*n)++] = eco_strdup(json_string_value(s));
    }
    return 0;
}

static int parse_metric(const char *s, Eco__Index__V1__Metric *m)
{
    if (strncasecmp(s, "METRIC_", 7) == 0)
        s += 7;
    if (strcasecmp(s, "cosine") == 0)
        *m = ECO__INDEX__V1__METRIC__METRIC_COSINE;
    else if (strcasecmp(s, "l2") == 0)
        *m = ECO__INDEX__V1__METRIC__METRIC_L2;
    else if (strcasecmp(s, "inner_product") == 0 || strcasecmp(s, "ip") == 0)
        *m = ECO__INDEX__V1__METRIC__METRIC_INNER_PRODUCT;
    else
        return -1;
    return 0;
}

static int parse_kind(const char *s, Eco__Index__V1__IndexKind *k)
{
    if (strncasecmp(s, "INDEX_KIND_", 11) == 0)
        s += 11;
    if (strcasecmp(s, "flat") == 0)
        *k = ECO__INDEX__V1__INDEX_KIND__INDEX_KIND_FLAT;
    else if (strcasecmp(s, "hnsw") == 0)
        *k = ECO__INDEX__V1__INDEX_KIND__INDEX_KIND_HNSW;
    else if (strcasecmp(s, "ivf_flat") == 0)
        *k = ECO__INDEX__V1__INDEX_KIND__INDEX_KIND_IVF_FLAT;
    else
        return -1;
    return 0;
}

/* The path's {name} as a C string in buf (truncated names still fail validation). */
static const char *path_name(eco_http_call_t *call, char *buf, size_t len)
{
    h2o_iovec_t v = eco_http_param(call, "name");
    size_t n = v.len < len - 1 ? v.len : len - 1;
    memcpy(buf, v.base, n);
    buf[n] = 0;
    if (memchr(buf, 0, n)) /* never valid */
        buf[0] = '!';
    return buf;
}

/* The body's optional "collection" must name the path's collection. */
static int same_collection(json_t *b, const char *name, ix_err_t *e)
{
    json_t *c = json_object_get(b, "collection");
    if (c && (!json_is_string(c) || strcmp(json_string_value(c), name) != 0))
        return ix_fail(e, IX_INVALID, "collection", "collection: does not match the collection of the path");
    return 0;
}

/* ---- protobuf -> JSON ---- */

static const char *metric_name(int m)
{
    return m == ECO__INDEX__V1__METRIC__METRIC_L2              ? "l2"
           : m == ECO__INDEX__V1__METRIC__METRIC_INNER_PRODUCT ? "inner_product"
                                                               : "cosine";
}

static json_t *collection_json(const Eco__Index__V1__Collection *c)
{
    return json_pack("{s:s, s:I, s:s, s:s, s:s, s:I, s:I}", "name", c->name, "dimensions", (json_int_t)c->dimensions,
                     "metric", metric_name(c->metric), "index_kind", "flat", "embedding_model", c->embedding_model,
                     "count", (json_int_t)c->count, "created_at", (json_int_t)c->created_at);
}

static json_t *value_json(const ix_pb_value_t *v)
{
    switch (v->kind_case) {
    case ECO__INDEX__V1__VALUE__KIND_STRING_VALUE:
        return json_string(v->string_value);
    case ECO__INDEX__V1__VALUE__KIND_INT_VALUE:
        return json_integer(v->int_value);
    case ECO__INDEX__V1__VALUE__KIND_DOUBLE_VALUE:
        return json_real(v->double_value);
    default:
        return json_boolean(v->bool_value);
    }
}

static json_t *metadata_json(ix_pb_meta_t *const *m, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, m[i]->key, value_json(m[i]->value));
    return o;
}

static json_t *vector_json(const float *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_real(v[i]));
    return a;
}

static json_t *record_json(const ix_pb_record_t *r)
{
    json_t *o = json_pack("{s:s}", "id", r->id);
    if (r->n_vector)
        json_object_set_new(o, "vector", vector_json(r->vector, r->n_vector));
    if (r->text && *r->text)
        json_object_set_new(o, "text", json_string(r->text));
    json_object_set_new(o, "metadata", metadata_json(r->metadata, r->n_metadata));
    return o;
}

/* ---- requests: JSON body (and the path's collection) -> request message ---- */

static int parse_create(json_t *b, ProtobufCMessage *msg, const char *name, ix_err_t *e)
{
    Eco__Index__V1__CreateCollectionRequest *req = (Eco__Index__V1__CreateCollectionRequest *)msg;
    char *metric = NULL, *kind = NULL;
    int rc = get_str(b, "name", "", 256, 1, &req->name, e);
    if (rc == 0)
        rc = get_uint(b, "dimensions", 1, IX_DIM_MAX, 1, &req->dimensions, e);
    if (rc == 0)
        rc = get_str(b, "metric", "", 64, 0, &metric, e);
    if (rc == 0 && metric && parse_metric(metric, &req->metric) != 0)
        rc = ix_fail(e, IX_INVALID, "metric", "metric: expected cosine, l2 or inner_product");
    if (rc == 0)
        rc = get_str(b, "index_kind", "", 64, 0, &kind, e);
    if (rc == 0 && kind && parse_kind(kind, &req->index_kind) != 0)
        rc = ix_fail(e, IX_INVALID, "index_kind", "index_kind: expected flat, hnsw or ivf_flat");
    if (rc == 0)
        rc = get_str(b, "embedding_model", "", IX_MODEL_MAX, 0, &req->embedding_model, e);
    free(metric);
    free(kind);
    return rc;
}

static int parse_drop(json_t *b, ProtobufCMessage *msg, const char *name, ix_err_t *e)
{
    ((Eco__Index__V1__DeleteCollectionRequest *)msg)->name = eco_strdup(name);
    return 0;
}

static int parse_stats(json_t *b, ProtobufCMessage *msg, const char *name, ix_err_t *e)
{
    ((Eco__Index__V1__StatsRequest *)msg)->collection = eco_strdup(name);
    return 0;
}

static int parse_records(json_t *b, Eco__Index__V1__UpsertRequest *req, ix_err_t *e)
{
    json_t *a = json_object_get(b, "records");
    if (!a)
        return ix_fail(e, IX_INVALID, "records", "records: required");
    if (!json_is_array(a))
        return ix_fail(e, IX_INVALID, "records", "records: expected an array of records");
    if ((long)json_array_size(a) > store->s.max_batch)
        return ix_fail(e, IX_INVALID, "records",
                       "records: at most %ld records per request (ECO_INDEX_MAX_BATCH), got %zu", store->s.max_batch,
                       json_array_size(a));
    req->records = json_array_size(a) ? eco_calloc(json_array_size(a), sizeof(ix_pb_record_t *)) : NULL;
    static const char *const keys[] = {"id", "vector", "text", "metadata", NULL};
    for (size_t i = 0; i < json_array_size(a); i++) {
        char p[48], f[64];
        snprintf(p, sizeof(p), "records[%zu]", i);
        json_t *r = json_array_get(a, i);
        ix_pb_record_t *pr = ix_pb_new(&eco__index__v1__record__descriptor);
        req->records[req->n_records++] = pr;
        if (!json_is_object(r))
            return ix_fail(e, IX_INVALID, p, "%s: expected an object {id, vector, text, metadata}", p);
        if (check_keys(r, keys, p, e) != 0 || get_str(r, "id", p, IX_ID_MAX, 1, &pr->id, e) != 0 ||
            get_str(r, "text", p, IX_TEXT_MAX, 0, &pr->text, e) != 0)
            return -1;
        json_t *v = json_object_get(r, "vector");
        if (v && get_vector(v, join(f, sizeof(f), p, "vector"), &pr->vector, &pr->n_vector, e) != 0)
            return -1;
        json_t *m = json_object_get(r, "metadata");
        if (m && !json_is_null(m) && get_metadata(m, join(f, sizeof(f), p, "metadata"), pr, e) != 0)
            return -1;
    }
    return 0;
}

static int parse_upsert(json_t *b, ProtobufCMessage *msg, const char *name, ix_err_t *e)
{
    Eco__Index__V1__UpsertRequest *req = (Eco__Index__V1__UpsertRequest *)msg;
    req->collection = eco_strdup(name);
    return parse_records(b, req, e);
}

static int parse_delete(json_t *b, ProtobufCMessage *msg, const char *name, ix_err_t *e)
{
    Eco__Index__V1__DeleteRequest *req = (Eco__Index__V1__DeleteRequest *)msg;
    req->collection = eco_strdup(name);
    int rc = get_ids(b, &req->ids, &req->n_ids, e);
    if (rc == 0)
        rc = get_filter(b, &req->filter, e);
    return rc;
}

static int parse_search(json_t *b, ProtobufCMessage *msg, const char *name, ix_err_t *e)
{
    Eco__Index__V1__SearchRequest *req = (Eco__Index__V1__SearchRequest *)msg;
    req->collection = eco_strdup(name);
    int rc = 0;
    json_t *v = json_object_get(b, "vector");
    if (v)
        rc = get_vector(v, "vector", &req->vector, &req->n_vector, e);
    if (rc == 0)
        rc = get_str(b, "text", "", IX_TEXT_MAX, 0, &req->text, e);
    if (rc == 0)
        rc = get_uint(b, "top_k", 1, IX_TOP_K_MAX, 0, &req->top_k, e);
    if (rc == 0)
        rc = get_filter(b, &req->filter, e);
    if (rc == 0)
        rc = get_bool(b, "include_vectors", &req->include_vectors, e);
    if (rc == 0)
        rc = get_bool(b, "include_metadata", &req->include_metadata, e);
    if (rc == 0)
        rc = get_bool(b, "include_text", &req->include_text, e);
    json_t *ms = json_object_get(b, "min_score");
    if (rc == 0 && ms && !json_is_null(ms)) {
        if (!json_is_number(ms) || !isfinite(json_number_value(ms))) {
            rc = ix_fail(e, IX_INVALID, "min_score", "min_score: expected a finite number");
        } else {
            req->_min_score_case = ECO__INDEX__V1__SEARCH_REQUEST___MIN_SCORE_MIN_SCORE;
            req->min_score = json_number_value(ms);
        }
    }
    return rc;
}

static int parse_get(json_t *b, ProtobufCMessage *msg, const char *name, ix_err_t *e)
{
    Eco__Index__V1__GetRequest *req = (Eco__Index__V1__GetRequest *)msg;
    req->collection = eco_strdup(name);
    int rc = get_ids(b, &req->ids, &req->n_ids, e);
    if (rc == 0)
        rc = get_bool(b, "include_vectors", &req->include_vectors, e);
    return rc;
}

/* ---- answers: response message -> JSON ---- */

static json_t *render_collection(const ProtobufCMessage *out)
{
    return collection_json((const Eco__Index__V1__Collection *)out);
}

static json_t *render_drop(const ProtobufCMessage *out)
{
    return json_pack("{s:b}", "deleted", ((const Eco__Index__V1__DeleteCollectionResponse *)out)->deleted);
}

static json_t *render_upsert(const ProtobufCMessage *out)
{
    const Eco__Index__V1__UpsertResponse *r = (const Eco__Index__V1__UpsertResponse *)out;
    return json_pack("{s:I, s:I}", "upserted", (json_int_t)r->upserted, "wal_seq", (json_int_t)r->wal_seq);
}

static json_t *render_delete(const ProtobufCMessage *out)
{
    const Eco__Index__V1__DeleteResponse *r = (const Eco__Index__V1__DeleteResponse *)out;
    return json_pack("{s:I, s:I}", "deleted", (json_int_t)r->deleted, "wal_seq", (json_int_t)r->wal_seq);
}

static json_t *search_json(const Eco__Index__V1__SearchResponse *r)
{
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_matches; i++) {
        const Eco__Index__V1__Match *m = r->matches[i];
        json_t *o = json_pack("{s:s, s:f}", "id", m->id, "score", m->score);
        if (m->n_vector)
            json_object_set_new(o, "vector", vector_json(m->vector, m->n_vector));
        if (m->text && *m->text)
            json_object_set_new(o, "text", json_string(m->text));
        if (m->n_metadata)
            json_object_set_new(o, "metadata", metadata_json((ix_pb_meta_t *const *)m->metadata, m->n_metadata));
        json_array_append_new(a, o);
    }
    return json_pack("{s:o, s:I}", "matches", a, "searched", (json_int_t)r->searched);
}

static json_t *render_search(const ProtobufCMessage *out)
{
    return search_json((const Eco__Index__V1__SearchResponse *)out);
}

static json_t *render_get(const ProtobufCMessage *out)
{
    const Eco__Index__V1__GetResponse *r = (const Eco__Index__V1__GetResponse *)out;
    json_t *recs = json_array(), *missing = json_array();
    for (size_t i = 0; i < r->n_records; i++)
        json_array_append_new(recs, record_json(r->records[i]));
    for (size_t i = 0; i < r->n_missing; i++)
        json_array_append_new(missing, json_string(r->missing[i]));
    return json_pack("{s:o, s:o}", "records", recs, "missing", missing);
}

static json_t *render_stats(const ProtobufCMessage *out)
{
    const Eco__Index__V1__StatsResponse *r = (const Eco__Index__V1__StatsResponse *)out;
    return json_pack("{s:o, s:I, s:I, s:I, s:I, s:I, s:I}", "collection", collection_json(r->collection), "deleted",
                     (json_int_t)r->deleted, "index_bytes", (json_int_t)r->index_bytes, "wal_bytes",
                     (json_int_t)r->wal_bytes, "wal_seq", (json_int_t)r->wal_seq, "snapshot_seq",
                     (json_int_t)r->snapshot_seq, "snapshot_at", (json_int_t)r->snapshot_at);
}

/* ---- routes ---- */

/* One route: the operation, what its JSON body may hold (NULL: no body is read), how the body
 * and the path's {name} fill the request, and how the answer is written. */
typedef struct {
    ix_op_id_t op;
    const ProtobufCMessageDescriptor *req;
    int named; /* the path has {name} */
    const char *const *keys;
    int (*parse)(json_t *b, ProtobufCMessage *req, const char *name, ix_err_t *e);
    json_t *(*render)(const ProtobufCMessage *out);
} route_t;

static int run(eco_http_call_t *call, const route_t *r)
{
    char name[IX_NAME_MAX + 2] = "";
    if (r->named)
        path_name(call, name, sizeof(name));
    json_t *b = NULL;
    if (r->keys && !(b = eco_http_json_body(call)))
        return 0; /* answered */
    ix_err_t e;
    ProtobufCMessage *req = ix_pb_new(r->req), *out = NULL;
    int rc = 0;
    if (b) {
        rc = check_keys(b, r->keys, "", &e);
        if (rc == 0 && r->named)
            rc = same_collection(b, name, &e);
    }
    if (rc == 0)
        rc = r->parse(b, req, name, &e);
    if (rc == 0)
        rc = ix_op_run(store, r->op, req, &out, &e);
    if (rc == 0)
        eco_http_send_json(call, 200, r->render(out));
    else
        send_err(call, &e);
    if (out)
        protobuf_c_message_free_unpacked(out, NULL);
    protobuf_c_message_free_unpacked(req, NULL);
    json_decref(b);
    return 0;
}

static const char *const create_keys[] = {"name", "dimensions", "metric", "index_kind", "embedding_model", NULL};
static const char *const upsert_keys[] = {"collection", "records", NULL};
static const char *const delete_keys[] = {"collection", "ids", "filter", NULL};
static const char *const search_keys[] = {"collection",      "vector",           "text",         "top_k",     "filter",
                                          "include_vectors", "include_metadata", "include_text", "min_score", NULL};
static const char *const get_keys[] = {"collection", "ids", "include_vectors", NULL};

static const route_t R_CREATE = {
    IX_OP_CREATE,     &eco__index__v1__create_collection_request__descriptor, 0, create_keys, parse_create,
    render_collection};
static const route_t R_DROP = {IX_OP_DROP, &eco__index__v1__delete_collection_request__descriptor, 1, NULL, parse_drop,
                               render_drop};
static const route_t R_UPSERT = {
    IX_OP_UPSERT, &eco__index__v1__upsert_request__descriptor, 1, upsert_keys, parse_upsert, render_upsert};
static const route_t R_DELETE = {
    IX_OP_DELETE, &eco__index__v1__delete_request__descriptor, 1, delete_keys, parse_delete, render_delete};
static const route_t R_SEARCH = {
    IX_OP_SEARCH, &eco__index__v1__search_request__descriptor, 1, search_keys, parse_search, render_search};
static const route_t R_GET = {IX_OP_GET, &eco__index__v1__get_request__descriptor, 1, get_keys, parse_get, render_get};
static const route_t R_STATS = {IX_OP_STATS, &eco__index__v1__stats_request__descriptor, 1, NULL, parse_stats,
                                render_stats};

/* Every route of the table: call->data is its route_t. */
static int h_route(eco_http_call_t *call)
{
    return run(call, call->data);
}

static int h_list(eco_http_call_t *call)
{
    ix_err_t e;
    Eco__Index__V1__ListCollectionsResponse *out = NULL;
    if (ix_store_list(store, &out, &e) != 0) {
        send_err(call, &e);
        return 0;
    }
    json_t *a = json_array();
    for (size_t i = 0; i < out->n_collections; i++)
        json_array_append_new(a, collection_json(out->collections[i]));
    eco_http_send_json(call, 200, json_pack("{s:o}", "collections", a));
    protobuf_c_message_free_unpacked(&out->base, NULL);
    return 0;
}

static int h_describe(eco_http_call_t *call)
{
    char name[IX_NAME_MAX + 2];
    ix_err_t e;
    Eco__Index__V1__Collection *out = NULL;
    if (ix_store_describe(store, path_name(call, name, sizeof(name)), &out, &e) != 0) {
        send_err(call, &e);
        return 0;
    }
    eco_http_send_json(call, 200, collection_json(out));
    protobuf_c_message_free_unpacked(&out->base, NULL);
    return 0;
}

void ix_rest_routes(eco_service_t *svc, ix_store_t *st)
{
    store = st;
    eco_service_route(svc, "POST", "/v1/collections", h_route, (void *)&R_CREATE);
    eco_service_route(svc, "GET", "/v1/collections", h_list, NULL);
    eco_service_route(svc, "GET", "/v1/collections/{name}", h_describe, NULL);
    eco_service_route(svc, "DELETE", "/v1/collections/{name}", h_route, (void *)&R_DROP);
    eco_service_route(svc, "POST", "/v1/collections/{name}/upsert", h_route, (void *)&R_UPSERT);
    eco_service_route(svc, "POST", "/v1/collections/{name}/delete", h_route, (void *)&R_DELETE);
    eco_service_route(svc, "POST", "/v1/collections/{name}/search", h_route, (void *)&R_SEARCH);
    eco_service_route(svc, "POST", "/v1/collections/{name}/get", h_route, (void *)&R_GET);
    eco_service_route(svc, "GET", "/v1/collections/{name}/stats", h_route, (void *)&R_STATS);
}
