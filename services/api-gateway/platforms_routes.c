/* /api/v1/platforms: list, get (by id or slug), create, patch, delete. Writes are for admins
 * (permission table); each write and its audit row are one statement. The slug is the
 * platform's stable name: it is unique, appears in the uri and urn, and cannot be changed.
 * Runs on workers. */
#include "app.h"

#include <string.h>

#define PLATFORM_COLUMNS                                                                                               \
    "id, slug, name, owner_id, type, status, config, to_jsonb(capabilities) AS capabilities, k8s_namespace, "          \
    "deploy_target, uri, urn, created_at, updated_at"

#define CONFIG_MAX_BYTES 65536
#define CAPS_MAX         64
#define CAP_MAX_LEN      64

static const char *const types[] = {"web", "desktop", "im", "api", "worker", "extension", "custom"};
static const char *const statuses[] = {"active", "inactive", "deploying", "maintenance", "deprecated"};

/* The fields a request may set, in SQL parameter order. */
enum { F_NAME, F_TYPE, F_STATUS, F_CONFIG, F_CAPS, F_NAMESPACE, F_TARGET, F_COUNT };
static const char *const field_names[F_COUNT] = {"name",         "type",          "status",       "config",
                                                 "capabilities", "k8s_namespace", "deploy_target"};

typedef struct {
    const char *v[F_COUNT]; /* text parameters; NULL = not given */
    char *config, *caps;    /* JSON texts owned here (free with fields_free) */
} fields_t;

static void fields_free(fields_t *f)
{
    free(f->config);
    free(f->caps);
}

static int one_of(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, set[i]) == 0)
            return 1;
    return 0;
}

/* 1-max bytes, no control characters. */
static int printable(json_t *v, size_t min, size_t max)
{
    if (!json_is_string(v) || json_string_length(v) < min || json_string_length(v) > max)
        return 0;
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v))
        return 0; /* embedded NUL */
    for (; *s; s++)
        if ((unsigned char)*s < ' ' || *s == 0x7f)
            return 0;
    return 1;
}

static int dns_label(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 63 || s[0] == '-' || s[n - 1] == '-')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return 0;
    return 1;
}

static int cap_ok(json_t *v)
{
    if (!json_is_string(v) || json_string_length(v) < 1 || json_string_length(v) > CAP_MAX_LEN)
        return 0;
    for (const char *s = json_string_value(v); *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr("-_.:", *s)))
            return 0;
    return strlen(json_string_value(v)) == json_string_length(v);
}

static int bad(areq_t *r, const char *field, const char *expected)
{
    areq_error(r, 400, "invalid_parameter", field, "%s: expected %s", field, expected);
    return -1;
}

/* Checks the body's fields into f. creating: slug and name are required (slug is checked by
 * the caller). 0, or -1 with a 400 on r naming the field. */
static int read_fields(areq_t *r, int creating, fields_t *f)
{
    memset(f, 0, sizeof(*f));
    const char *k;
    json_t *v;
    json_object_foreach(r->body, k, v)
    {
        size_t i = 0;
        while (i < F_COUNT && strcmp(field_names[i], k) != 0)
            i++;
        if (i < F_COUNT || (creating && strcmp(k, "slug") == 0))
            continue;
        if (strcmp(k, "slug") == 0) {
            areq_error(r, 400, "immutable_field", "slug",
                       "slug: cannot be changed (it names the platform's uri and urn)");
            return -1;
        }
        if (strcmp(k, "id") == 0 || strcmp(k, "uri") == 0 || strcmp(k, "urn") == 0 || strcmp(k, "owner_id") == 0 ||
            strcmp(k, "created_at") == 0 || strcmp(k, "updated_at") == 0) {
            areq_error(r, 400, "read_only_field", k, "%s: set by the server", k);
            return -1;
        }
        areq_error(r, 400, "unknown_parameter", k, "unknown field \"%.40s\"", k);
        return -1;
    }
    json_t *jn = json_object_get(r->body, "name");
    if (jn || creating) {
        if (!printable(jn, 1, 200))
            return bad(r, "name", "1 to 200 printable characters");
        f->v[F_NAME] = json_string_value(jn);
    }
    if ((v = json_object_get(r->body, "type"))) {
        if (!json_is_string(v) || !one_of(json_string_value(v), types, ECO_ARRAY_SIZE(types)))
            return bad(r, "type", "one of web, desktop, im, api, worker, extension, custom");
        f->v[F_TYPE] = json_string_value(v);
    }
    if ((v = json_object_get(r->body, "status"))) {
        if (!json_is_string(v) || !one_of(json_string_value(v), statuses, ECO_ARRAY_SIZE(statuses)))
            return bad(r, "status", "one of active, inactive, deploying, maintenance, deprecated");
        f->v[F_STATUS] = json_string_value(v);
    }
    if ((v = json_object_get(r->body, "config"))) {
        if (!json_is_object(v))
            return bad(r, "config", "a JSON object");
        f->config = json_dumps(v, JSON_COMPACT);
        if (!f->config || strlen(f->config) > CONFIG_MAX_BYTES)
            return bad(r, "config", "a JSON object of at most 64 KiB");
        f->v[F_CONFIG] = f->config;
    }
    if ((v = json_object_get(r->body, "capabilities"))) {
        if (!json_is_array(v) || json_array_size(v) > CAPS_MAX)
            return bad(r, "capabilities", "an array of at most 64 strings");
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *c = json_array_get(v, i);
            if (!cap_ok(c))
                return bad(r, "capabilities", "strings of 1 to 64 characters from a-z 0-9 - _ . :");
            for (size_t j = 0; j < i; j++)
                if (json_equal(c, json_array_get(v, j))) {
                    areq_error(r, 400, "invalid_parameter", "capabilities", "capabilities: \"%s\" is listed twice",
                               json_string_value(c));
                    return -1;
                }
        }
        f->caps = json_dumps(v, JSON_COMPACT);
        f->v[F_CAPS] = f->caps;
    }
    if ((v = json_object_get(r->body, "k8s_namespace"))) {
        if (!json_is_string(v) || !dns_label(json_string_value(v)))
            return bad(r, "k8s_namespace", "a DNS-1123 label (a-z, 0-9, '-', at most 63 characters)");
        f->v[F_NAMESPACE] = json_string_value(v);
    }
    if ((v = json_object_get(r->body, "deploy_target"))) {
        if (!printable(v, 0, 253))
            return bad(r, "deploy_target", "a string of at most 253 printable characters");
        f->v[F_TARGET] = json_string_value(v);
    }
    return 0;
}

/* A write failed in the database: 409 for a taken slug, else 500 (connection failures are
 * already answered by db_query). */
static void write_failed(areq_t *r, const eco_store_pg_error_t *e, const char *slug)
{
    if (r->code[0])
        return;
    if (strcmp(e->sqlstate, "23505") == 0 && strstr(e->constraint, "slug")) {
        areq_error(r, 409, "slug_taken", "slug", "a platform with slug \"%s\" already exists", slug);
        return;
    }
    eco_error("platform write failed", ECO_KS("error", e->message), ECO_KS("sqlstate", e->sqlstate),
              ECO_KS("request_id", r->request_id));
    areq_error(r, 500, "internal_error", NULL, "internal error (request %s)", r->request_id);
}

/* The WHERE clause naming the platform of the path: by slug or by id. */
static const char *key_clause(const areq_t *r)
{
    return r->id_is_slug ? "slug = $1" : "id = $1::uuid";
}

static void not_found(areq_t *r)
{
    areq_error(r, 404, "not_found", "id", "no platform with %s \"%s\"", r->id_is_slug ? "slug" : "id", r->id_param);
}

void h_platforms_create(eco_store_worker_t *w, areq_t *r)
{
    json_t *js = json_object_get(r->body, "slug");
    if (!json_is_string(js) || !dns_label(json_string_value(js))) {
        bad(r, "slug", "a DNS-1123 label (a-z, 0-9, inner '-', at most 63 characters)");
        return;
    }
    const char *slug = json_string_value(js);
    if (eco_auth_is_uuid(slug, strlen(slug))) {
        bad(r, "slug", "a name that is not a UUID (platforms are addressed by id or slug)");
        return;
    }
    fields_t f;
    if (read_fields(r, 1, &f) != 0) {
        fields_free(&f);
        return;
    }
    PGconn *c = db_conn(w, r);
    if (!c) {
        fields_free(&f);
        return;
    }
    char actor[56];
    areq_actor(r, actor, sizeof(actor));
    static const char sql[] =
        "WITH ins AS (INSERT INTO platforms (id, slug, name, owner_id, type, status, config, capabilities, "
        "    k8s_namespace, deploy_target, uri, urn) "
        "  SELECT n.id, $1, $2, $3, coalesce($4, 'custom'), coalesce($5, 'inactive'), coalesce($6::jsonb, '{}'), "
        "    ARRAY(SELECT jsonb_array_elements_text(coalesce($7::jsonb, '[]'))), coalesce($8, 'eco-base'), "
        "    coalesce($9, ''), 'eco-base://platform/module/' || $1, "
        "    'urn:eco-base:platform:module:' || $1 || ':' || n.id "
        "  FROM (SELECT gen_random_uuid() AS id) n "
        "  RETURNING " PLATFORM_COLUMNS "), "
        "aud AS (INSERT INTO governance_records (actor, action, target_type, target_id, outcome, request_id, detail) "
        "  SELECT $10, 'platform.create', 'platform', id::text, 'success', $11, "
        "         jsonb_build_object('slug', slug, 'name', name, 'type', type, 'status', status) FROM ins) "
        "SELECT * FROM ins";
    const char *vals[] = {slug,        f.v[F_NAME],      r->id.user_id, f.v[F_TYPE], f.v[F_STATUS], f.v[F_CONFIG],
                          f.v[F_CAPS], f.v[F_NAMESPACE], f.v[F_TARGET], actor,       r->request_id};
    PGresult *res;
    eco_store_pg_error_t e;
    if (db_query(w, r, c, sql, 11, vals, &res, &e) != 0) {
        write_failed(r, &e, slug);
    } else {
        areq_json(r, 201, json_pack("{s:o}", "platform", db_row(res, 0)));
        PQclear(res);
    }
    fields_free(&f);
}

void h_platforms_get(eco_store_worker_t *w, areq_t *r)
{
    PGconn *c = db_conn(w, r);
    if (!c)
        return;
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT " PLATFORM_COLUMNS " FROM platforms WHERE %s", key_clause(r));
    const char *vals[] = {r->id_param};
    PGresult *res;
    if (db_query(w, r, c, sql, 1, vals, &res, NULL) != 0)
        return;
    if (PQntuples(res) == 0)
        not_found(r);
    else
        areq_json(r, 200, json_pack("{s:o}", "platform", db_row(res, 0)));
    PQclear(res);
}

void h_platforms_list(eco_store_worker_t *w, areq_t *r)
{
    char l[16], o[16], type[16], status[16], cap[CAP_MAX_LEN + 1];
    if (areq_page(r, l, o) != 0)
        return;
    int qt = areq_query(r, "type", type, sizeof(type)), qs = areq_query(r, "status", status, sizeof(status));
    if (qt < 0 || qs < 0)
        return;
    if (qt && !one_of(type, types, ECO_ARRAY_SIZE(types))) {
        bad(r, "type", "one of web, desktop, im, api, worker, extension, custom");
        return;
    }
    if (qs && !one_of(status, statuses, ECO_ARRAY_SIZE(statuses))) {
        bad(r, "status", "one of active, inactive, deploying, maintenance, deprecated");
        return;
    }
    int qc = areq_query(r, "capability", cap, sizeof(cap));
    if (qc < 0)
        return;
    PGconn *c = db_conn(w, r);
    if (!c)
        return;
    /* newest first; total counts every match, not just this page */
    static const char sql[] =
        "WITH f AS (SELECT * FROM platforms WHERE ($1::text IS NULL OR type = $1) "
        "  AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR capabilities @> ARRAY[$3::text])), "
        "pg AS (SELECT " PLATFORM_COLUMNS " FROM f ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5) "
        "SELECT (SELECT count(*) FROM f) AS total, pg.* FROM (SELECT 1) one LEFT JOIN pg ON true "
        "ORDER BY pg.created_at DESC, pg.id DESC";
    const char *vals[] = {qt ? type : NULL, qs ? status : NULL, qc ? cap : NULL, l, o};
    PGresult *res;
    if (db_query(w, r, c, sql, 5, vals, &res, NULL) != 0)
        return;
    json_t *arr = json_array();
    long total = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    for (int i = 0; i < PQntuples(res); i++) {
        if (PQgetisnull(res, i, 1))
            continue; /* the empty page's placeholder row */
        json_t *row = db_row(res, i);
        json_object_del(row, "total");
        json_array_append_new(arr, row);
    }
    areq_json(r, 200, json_pack("{s:o, s:I}", "platforms", arr, "total", (json_int_t)total));
    PQclear(res);
}

void h_platforms_patch(eco_store_worker_t *w, areq_t *r)
{
    fields_t f;
    if (read_fields(r, 0, &f) != 0) {
        fields_free(&f);
        return;
    }
    json_t *changed = json_array();
    for (int i = 0; i < F_COUNT; i++)
        if (f.v[i])
            json_array_append_new(changed, json_string(field_names[i]));
    if (json_array_size(changed) == 0) {
        json_decref(changed);
        fields_free(&f);
        areq_error(r, 400, "invalid_parameter", NULL,
                   "expected at least one of name, type, status, config, capabilities, k8s_namespace, deploy_target");
        return;
    }
    char *fields_json = json_dumps(changed, JSON_COMPACT);
    json_decref(changed);
    PGconn *c = db_conn(w, r);
    if (c) {
        char actor[56], sql[2048];
        areq_actor(r, actor, sizeof(actor));
        snprintf(sql, sizeof(sql),
                 "WITH upd AS (UPDATE platforms p SET name = coalesce($2, p.name), type = coalesce($3, p.type), "
                 "    status = coalesce($4, p.status), config = coalesce($5::jsonb, p.config), "
                 "    capabilities = CASE WHEN $6::jsonb IS NULL THEN p.capabilities "
                 "                   ELSE ARRAY(SELECT jsonb_array_elements_text($6::jsonb)) END, "
                 "    k8s_namespace = coalesce($7, p.k8s_namespace), deploy_target = coalesce($8, p.deploy_target) "
                 "  WHERE p.%s RETURNING " PLATFORM_COLUMNS "), "
                 "aud AS (INSERT INTO governance_records (actor, action, target_type, target_id, outcome, request_id, "
                 "    detail) "
                 "  SELECT $9, 'platform.update', 'platform', id::text, 'success', $10, "
                 "         jsonb_build_object('slug', slug, 'fields', $11::jsonb) FROM upd) "
                 "SELECT * FROM upd",
                 key_clause(r));
        const char *vals[] = {r->id_param,      f.v[F_NAME],   f.v[F_TYPE], f.v[F_STATUS], f.v[F_CONFIG], f.v[F_CAPS],
                              f.v[F_NAMESPACE], f.v[F_TARGET], actor,       r->request_id, fields_json};
        PGresult *res;
        eco_store_pg_error_t e;
        if (db_query(w, r, c, sql, 11, vals, &res, &e) != 0) {
            write_failed(r, &e, "");
        } else {
            if (PQntuples(res) == 0)
                not_found(r);
            else
                areq_json(r, 200, json_pack("{s:o}", "platform", db_row(res, 0)));
            PQclear(res);
        }
    }
    free(fields_json);
    fields_free(&f);
}

void h_platforms_delete(eco_store_worker_t *w, areq_t *r)
{
    PGconn *c = db_conn(w, r);
    if (!c)
        return;
    char actor[56], sql[768];
    areq_actor(r, actor, sizeof(actor));
    snprintf(sql, sizeof(sql),
             "WITH del AS (DELETE FROM platforms WHERE %s RETURNING id, slug, urn), "
             "aud AS (INSERT INTO governance_records (actor, action, target_type, target_id, outcome, request_id, "
             "    detail) "
             "  SELECT $2, 'platform.delete', 'platform', id::text, 'success', $3, "
             "         jsonb_build_object('slug', slug, 'urn', urn) FROM del) "
             "SELECT id, slug, urn FROM del",
             key_clause(r));
    const char *vals[] = {r->id_param, actor, r->request_id};
    PGresult *res;
    if (db_query(w, r, c, sql, 3, vals, &res, NULL) != 0)
        return;
    if (PQntuples(res) == 0) {
        not_found(r);
    } else {
        json_t *row = db_row(res, 0);
        json_object_set_new(row, "deleted", json_true());
        areq_json(r, 200, row);
    }
    PQclear(res);
}
