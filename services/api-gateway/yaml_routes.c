/* /api/v1/yaml/validate and /api/v1/yaml/generate: the .qyaml governance library (libs/governance,
 * the same code as the qyaml CLI) behind JSON. Validate is read-only; generate stores the document
 * in yaml_documents with its audit row in one statement. Runs on workers. */
#include "app.h"
#include "eco_governance.h"

#include <string.h>

#define GEN_MAX_PORTS 16
#define GEN_MAX_DEPS  32

static int only_fields(areq_t *r, const char *const *allowed, size_t n)
{
    const char *k;
    json_t *v;
    json_object_foreach(r->body, k, v)
    {
        size_t i = 0;
        while (i < n && strcmp(allowed[i], k) != 0)
            i++;
        if (i == n) {
            areq_error(r, 400, "unknown_parameter", k, "unknown field \"%.40s\"", k);
            return -1;
        }
    }
    return 0;
}

/* {"valid", "error_count", "warning_count", "truncated", "findings": [{rule, severity, path, message, line}]} */
static json_t *report_json(const eco_governance_report_t *rep)
{
    json_t *items = json_array();
    for (size_t i = 0; i < rep->len; i++) {
        const eco_governance_issue_t *it = &rep->items[i];
        json_array_append_new(items, json_pack("{s:s, s:s, s:s, s:s, s:i}", "rule", it->rule, "severity",
                                               it->severity == ECO_GOVERNANCE_ERROR ? "error" : "warning", "path",
                                               it->path ? it->path : "", "message", it->message ? it->message : "",
                                               "line", it->line));
    }
    return json_pack("{s:b, s:I, s:I, s:b, s:o}", "valid", rep->errors == 0, "error_count", (json_int_t)rep->errors,
                     "warning_count", (json_int_t)rep->warnings, "truncated", rep->len < rep->errors + rep->warnings,
                     "findings", items);
}

/* The body member `name` as a C string without embedded NULs, or NULL when absent; -1 with a
 * 400 on r when it is not such a string. */
static int opt_str(areq_t *r, const char *name, const char **out)
{
    json_t *v = json_object_get(r->body, name);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        areq_error(r, 400, "invalid_parameter", name, "%s: expected a string", name);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

void h_yaml_validate(eco_store_worker_t *w, areq_t *r)
{
    static const char *const allowed[] = {"content"};
    if (only_fields(r, allowed, ECO_ARRAY_SIZE(allowed)) != 0)
        return;
    json_t *jc = json_object_get(r->body, "content");
    if (!json_is_string(jc) || json_string_length(jc) == 0) {
        areq_error(r, 400, "invalid_parameter", "content", "content: expected the .qyaml text as a non-empty string");
        return;
    }
    eco_governance_report_t rep;
    eco_governance_report_init(&rep);
    eco_governance_validate("content", json_string_value(jc), json_string_length(jc), &rep);
    areq_json(r, 200, report_json(&rep));
    eco_governance_report_free(&rep);
}

/* The library names the offending option ("--depends-on: ..."): report it as the JSON field. */
static void generate_failed(areq_t *r, const char *err)
{
    char field[32] = "", msg[320];
    const char *rest = err;
    if (strncmp(err, "--", 2) == 0) {
        size_t n = strcspn(err + 2, ":");
        if (n < sizeof(field) && err[2 + n] == ':') {
            memcpy(field, err + 2, n);
            field[n] = '\0';
            for (char *p = field; *p; p++)
                if (*p == '-')
                    *p = '_';
            if (strcmp(field, "port") == 0)
                snprintf(field, sizeof(field), "ports");
            rest = err + 2 + n + 1 + (err[3 + n] == ' ');
        }
    }
    snprintf(msg, sizeof(msg), "%s%s%.255s", field, field[0] ? ": " : "", rest);
    areq_error(r, 400, "invalid_parameter", field[0] ? field : NULL, "%.250s", msg);
}

/* The value of "  key: " in the governance document (quotes removed) into out; 0 or -1. */
static int gov_field(const char *text, const char *key, char *out, size_t n)
{
    const char *doc = strstr(text, "\ndocument_metadata:\n");
    char pat[48];
    snprintf(pat, sizeof(pat), "\n  %s: ", key);
    const char *p = doc ? strstr(doc, pat) : NULL;
    if (!p)
        return -1;
    p += strlen(pat);
    size_t len = strcspn(p, "\n");
    if (len >= 2 && p[0] == '"' && p[len - 1] == '"') {
        p++;
        len -= 2;
    }
    if (len >= n)
        return -1;
    memcpy(out, p, len);
    out[len] = '\0';
    return 0;
}

/* Fills m from the body (strings borrowed from it). 0, or -1 with a 400 naming the field. */
static int read_module(areq_t *r, eco_governance_module_t *m, int *ports, const char **deps)
{
    static const char *const allowed[] = {"name",      "image",   "ports",     "depends_on",
                                          "namespace", "version", "component", "owner"};
    if (only_fields(r, allowed, ECO_ARRAY_SIZE(allowed)) != 0)
        return -1;
    memset(m, 0, sizeof(*m));
    if (opt_str(r, "name", &m->name) || opt_str(r, "image", &m->image) || opt_str(r, "namespace", &m->namespace_) ||
        opt_str(r, "version", &m->version) || opt_str(r, "component", &m->component) || opt_str(r, "owner", &m->owner))
        return -1;
    if (!m->name) {
        areq_error(r, 400, "invalid_parameter", "name", "name: required (the module's DNS-1035 name)");
        return -1;
    }
    if (!m->image) {
        areq_error(r, 400, "invalid_parameter", "image", "image: required (the container image reference)");
        return -1;
    }
    json_t *jp = json_object_get(r->body, "ports");
    if (jp) {
        if (!json_is_array(jp) || json_array_size(jp) > GEN_MAX_PORTS) {
            areq_error(r, 400, "invalid_parameter", "ports", "ports: expected an array of at most %d ports",
                       GEN_MAX_PORTS);
            return -1;
        }
        for (size_t i = 0; i < json_array_size(jp); i++) {
            json_t *p = json_array_get(jp, i);
            if (!json_is_integer(p) || json_integer_value(p) < 1 || json_integer_value(p) > 65535) {
                areq_error(r, 400, "invalid_parameter", "ports", "ports: expected integers from 1 to 65535");
                return -1;
            }
            ports[i] = (int)json_integer_value(p);
        }
        m->ports = ports;
        m->nports = json_array_size(jp);
    }
    json_t *jd = json_object_get(r->body, "depends_on");
    if (jd) {
        if (!json_is_array(jd) || json_array_size(jd) > GEN_MAX_DEPS) {
            areq_error(r, 400, "invalid_parameter", "depends_on",
                       "depends_on: expected an array of at most %d module names", GEN_MAX_DEPS);
            return -1;
        }
        for (size_t i = 0; i < json_array_size(jd); i++) {
            json_t *d = json_array_get(jd, i);
            if (!json_is_string(d) || strlen(json_string_value(d)) != json_string_length(d)) {
                areq_error(r, 400, "invalid_parameter", "depends_on", "depends_on: expected strings");
                return -1;
            }
            deps[i] = json_string_value(d);
        }
        m->depends_on = deps;
        m->ndepends_on = json_array_size(jd);
    }
    return 0;
}

void h_yaml_generate(eco_store_worker_t *w, areq_t *r)
{
    eco_governance_module_t m;
    int ports[GEN_MAX_PORTS];
    const char *deps[GEN_MAX_DEPS];
    if (read_module(r, &m, ports, deps) != 0)
        return;
    eco_buf_t out = ECO_BUF_INIT;
    char err[256], uid[40], uri[300], urn[400], target[64], generator[64];
    if (eco_governance_generate(&m, &out, err, sizeof(err)) != 0) {
        generate_failed(r, err);
        eco_buf_free(&out);
        return;
    }
    const char *text = eco_buf_cstr(&out);
    eco_governance_report_t rep;
    eco_governance_report_init(&rep);
    eco_governance_validate("generated", text, out.len, &rep);
    json_t *result = report_json(&rep);
    const char *status = rep.errors ? "invalid" : rep.warnings ? "warning" : "valid";
    eco_governance_report_free(&rep);
    if (gov_field(text, "unique_id", uid, sizeof(uid)) || gov_field(text, "uri", uri, sizeof(uri)) ||
        gov_field(text, "urn", urn, sizeof(urn)) || gov_field(text, "target_system", target, sizeof(target)) ||
        gov_field(text, "generated_by", generator, sizeof(generator))) {
        eco_error("generated document lacks its metadata", ECO_KS("request_id", r->request_id));
        areq_error(r, 500, "internal_error", NULL, "internal error (request %s)", r->request_id);
        goto done;
    }
    PGconn *c = db_conn(w, r);
    if (!c)
        goto done;
    char actor[56];
    areq_actor(r, actor, sizeof(actor));
    char *findings = json_dumps(json_object_get(result, "findings"), JSON_COMPACT);
    static const char sql[] =
        "WITH ins AS (INSERT INTO yaml_documents (unique_id, owner_id, module, target_system, generated_by, content, "
        "    content_sha256, validation_status, validation_errors, uri, urn) "
        "  VALUES ($1::uuid, $2, $3, $4, $5, $6, sha256(convert_to($6, 'UTF8')), $7, $8::jsonb, $9, $10) "
        "  RETURNING id, created_at), "
        "aud AS (INSERT INTO governance_records (actor, action, target_type, target_id, outcome, request_id, detail) "
        "  SELECT $11, 'yaml.generate', 'yaml_document', id::text, 'success', $12, "
        "         jsonb_build_object('module', $3::text, 'unique_id', $1::text, 'urn', $10::text) FROM ins) "
        "SELECT id, created_at FROM ins";
    const char *vals[] = {uid,    r->id.user_id, m.name, target, generator, text,
                          status, findings,      uri,    urn,    actor,     r->request_id};
    PGresult *res;
    int rc = db_query(w, r, c, sql, 12, vals, &res, NULL);
    free(findings);
    if (rc != 0)
        goto done;
    json_t *doc = db_row(res, 0);
    PQclear(res);
    json_object_set_new(doc, "module", json_string(m.name));
    json_object_set_new(doc, "unique_id", json_string(uid));
    json_object_set_new(doc, "uri", json_string(uri));
    json_object_set_new(doc, "urn", json_string(urn));
    json_object_set_new(doc, "content", json_string(text));
    json_object_update(doc, result);
    areq_json(r, 200, doc);
done:
    json_decref(result);
    eco_buf_free(&out);
}
