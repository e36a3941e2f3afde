/* Validation entry points, the governance-document rules (QY016-QY046) and the stream rules
 * (QY010-QY015). Kubernetes-document rules live in validate_k8s.c. */
#include "governance_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---------- governance document ---------- */

typedef enum {
    T_STR,       /* QY024 "must be a non-empty string" */
    T_STRLIST,   /* QY024 "must be a list of non-empty strings" */
    T_STRLIST1,  /* QY024 "must be a non-empty list of non-empty strings" */
    T_UUID,      /* QY030 */
    T_URI,       /* QY031 */
    T_URN,       /* QY032 */
    T_TIME,      /* QY035 */
    T_SCHEMA,    /* QY036 */
    T_TAGS,      /* T_STRLIST + QY037 per item */
    T_LIFECYCLE, /* QY038 */
    T_ENDPOINT,  /* QY039 */
    T_DISCOVERY, /* QY040 */
    T_HEALTH,    /* QY041 */
    T_TTL,       /* QY042 */
    T_DIM,       /* QY043 */
    T_BINDING,   /* T_STR + QY044 */
    T_VECTOR,    /* QY045 */
    T_TOLERANCE, /* QY046 */
} ftype_t;

typedef struct {
    const char *name;
    int required;
    ftype_t type;
} field_t;

typedef struct {
    const char *name;
    const field_t *fields;
    size_t n;
} block_t;

static const field_t metadata_fields[] = {
    {"unique_id", 1, T_UUID},
    {"uri", 1, T_URI},
    {"urn", 1, T_URN},
    {"target_system", 1, T_STR},
    {"cross_layer_binding", 1, T_STRLIST},
    {"schema_version", 1, T_SCHEMA},
    {"generated_by", 1, T_STR},
    {"created_at", 1, T_TIME},
};
static const field_t governance_fields[] = {
    {"owner", 1, T_STR},
    {"approval_chain", 1, T_STRLIST1},
    {"compliance_tags", 1, T_TAGS},
    {"lifecycle_policy", 1, T_LIFECYCLE},
};
static const field_t registry_fields[] = {
    {"service_endpoint", 1, T_ENDPOINT}, {"discovery_protocol", 1, T_DISCOVERY},
    {"health_check_path", 1, T_HEALTH},  {"registry_ttl", 1, T_TTL},
    {"k8s_namespace", 0, T_STR},
};
static const field_t vector_fields[] = {
    {"alignment_model", 1, T_STR},        {"coherence_vector_dim", 1, T_DIM}, {"function_keyword", 1, T_STRLIST1},
    {"contextual_binding", 1, T_BINDING}, {"coherence_vector", 0, T_VECTOR},  {"tolerance", 0, T_TOLERANCE},
};

static const block_t gov_blocks[] = {
    {"document_metadata", metadata_fields, ECO_ARRAY_SIZE(metadata_fields)},
    {"governance_info", governance_fields, ECO_ARRAY_SIZE(governance_fields)},
    {"registry_binding", registry_fields, ECO_ARRAY_SIZE(registry_fields)},
    {"vector_alignment_map", vector_fields, ECO_ARRAY_SIZE(vector_fields)},
};

static const char *const lifecycle_values[] = {"active",    "deprecated", "archived", "standard",
                                               "ephemeral", "critical",   "strict",   "experimental"};
static const char *const discovery_values[] = {"consul", "etcd", "k8s-dns"};

static int in_set(const eco__gov_node_t *v, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (eco__gov_str_eq(v, set[i]))
            return 1;
    return 0;
}

/* A sequence whose items are all non-empty strings. */
static int is_strlist(const eco__gov_node_t *v)
{
    if (!v || v->kind != ECO__GOV_SEQ)
        return 0;
    for (size_t i = 0; i < v->n; i++)
        if (!eco__gov_is_nonempty_str(v->items[i]))
            return 0;
    return 1;
}

/* RE2's \s: space, \t, \n, \f, \r (what the Rego regexes see). */
static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r';
}

static int is_endpoint(const eco__gov_node_t *v)
{
    /* n/a | ^[a-z][a-z0-9+.-]*://[^\s/?#]+([/?#]\S*)?$ */
    if (eco__gov_str_eq(v, "n/a"))
        return 1;
    if (!eco__gov_is_str(v))
        return 0;
    const char *s = v->value;
    size_t n = v->len, i = 0;
    if (n == 0 || !(s[0] >= 'a' && s[0] <= 'z'))
        return 0;
    while (i < n &&
           ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '.' || s[i] == '-'))
        i++;
    if (n - i < 3 || memcmp(s + i, "://", 3) != 0)
        return 0;
    i += 3;
    size_t host = 0;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_space((char)c))
            return 0;
        if (host == 0 && (c == '/' || c == '?' || c == '#'))
            return 0;
        if (c == '/' || c == '?' || c == '#')
            host = (size_t)-1; /* into the path: anything but whitespace */
        else if (host != (size_t)-1)
            host++;
    }
    return host != 0;
}

static int is_health_path(const eco__gov_node_t *v)
{
    /* n/a | ^/\S*$ */
    if (eco__gov_str_eq(v, "n/a"))
        return 1;
    if (!eco__gov_is_str(v) || v->len == 0 || v->value[0] != '/')
        return 0;
    for (size_t i = 0; i < v->len; i++) {
        if (is_space(v->value[i]))
            return 0;
    }
    return 1;
}

static int is_binding(const eco__gov_node_t *v)
{
    /* ^.+ -> \[.*\]$ where '.' is any character but a newline (RE2) */
    const char *s = v->value;
    size_t n = v->len;
    if (memchr(s, '\n', n) || n < 7 || s[n - 1] != ']')
        return 0;
    for (size_t i = 1; i + 4 < n; i++)
        if (memcmp(s + i, " -> [", 5) == 0)
            return 1;
    return 0;
}

typedef struct {
    const eco__gov_stream_t *s;
    eco_governance_report_t *r;
    eco_buf_t *path;
} vctx_t;

static void field_issue(vctx_t *c, const eco__gov_node_t *v, int line, const char *rule, const char *msg)
{
    eco__gov_issue(c->r, c->s->name, eco__gov_path_str(c->path), v ? v->line : line, rule, "%s", msg);
}

static void check_field(vctx_t *c, const field_t *f, const eco__gov_node_t *v)
{
    long long iv;
    double dv;
    switch (f->type) {
    case T_STR:
    case T_BINDING:
        if (!eco__gov_is_nonempty_str(v))
            field_issue(c, v, 0, "QY024", "must be a non-empty string");
        else if (f->type == T_BINDING && !is_binding(v))
            field_issue(c, v, 0, "QY044", "should match \"<name> -> [<dependency>, ...]\"");
        break;
    case T_STRLIST:
    case T_TAGS:
        if (!is_strlist(v)) {
            field_issue(c, v, 0, "QY024", "must be a list of non-empty strings");
        } else if (f->type == T_TAGS) {
            for (size_t i = 0; i < v->n; i++) {
                if (eco__gov_is_kebab(v->items[i]->value, v->items[i]->len))
                    continue;
                size_t mark = c->path->len;
                eco__gov_path_index(c->path, i);
                field_issue(c, v->items[i], 0, "QY037", "must be lower-case kebab-case");
                eco__gov_path_pop(c->path, mark);
            }
        }
        break;
    case T_STRLIST1:
        if (!is_strlist(v) || v->n == 0)
            field_issue(c, v, 0, "QY024", "must be a non-empty list of non-empty strings");
        break;
    case T_UUID:
        if (!eco__gov_is_str(v) || !eco_governance_is_uuid_v1(v->value, v->len))
            field_issue(c, v, 0, "QY030", "must be a UUID v1");
        break;
    case T_URI: {
        eco__gov_ref_t ref;
        if (!eco__gov_is_str(v) || !eco__gov_parse_uri(v->value, v->len, &ref))
            field_issue(c, v, 0, "QY031", "must match eco-base://k8s/<namespace>/<kind>/<name>");
        break;
    }
    case T_URN: {
        eco__gov_ref_t ref;
        if (!eco__gov_is_str(v) || !eco__gov_parse_urn(v->value, v->len, &ref))
            field_issue(c, v, 0, "QY032", "must match urn:eco-base:k8s:<namespace>:<kind>:<name>:<unique_id>");
        break;
    }
    case T_TIME:
        if (!eco__gov_is_str(v) || !eco__gov_is_rfc3339_utc(v->value, v->len))
            field_issue(c, v, 0, "QY035", "must be an RFC 3339 UTC timestamp (YYYY-MM-DDThh:mm:ss[.fraction]Z)");
        break;
    case T_SCHEMA: {
        int ok = eco__gov_is_str(v) && v->len >= 2 && v->value[0] == 'v';
        for (size_t i = 1; ok && i < v->len; i++)
            ok = v->value[i] >= '0' && v->value[i] <= '9';
        if (!ok)
            field_issue(c, v, 0, "QY036", "must match ^v[0-9]+$");
        break;
    }
    case T_LIFECYCLE:
        if (!in_set(v, lifecycle_values, ECO_ARRAY_SIZE(lifecycle_values)))
            field_issue(c, v, 0, "QY038",
                        "must be one of active, deprecated, archived, standard, ephemeral, critical, strict, "
                        "experimental");
        break;
    case T_ENDPOINT:
        if (!is_endpoint(v))
            field_issue(c, v, 0, "QY039", "must be a URI (scheme://host[:port][/path]) or n/a");
        break;
    case T_DISCOVERY:
        if (!in_set(v, discovery_values, ECO_ARRAY_SIZE(discovery_values)))
            field_issue(c, v, 0, "QY040", "must be one of consul, etcd, k8s-dns");
        break;
    case T_HEALTH:
        if (!is_health_path(v))
            field_issue(c, v, 0, "QY041", "must be a path starting with / or n/a");
        break;
    case T_TTL:
        if (!eco__gov_is_int(v, &iv) || iv < 0 || iv > 86400)
            field_issue(c, v, 0, "QY042", "must be an integer between 0 and 86400");
        break;
    case T_DIM:
        if (!eco__gov_is_int(v, &iv) || iv < 1024 || iv > 4096)
            field_issue(c, v, 0, "QY043", "must be an integer between 1024 and 4096");
        break;
    case T_VECTOR: {
        int ok = v->kind == ECO__GOV_SEQ && v->n >= 8;
        for (size_t i = 0; ok && i < v->n; i++)
            ok = eco__gov_is_number(v->items[i], &dv);
        if (!ok)
            field_issue(c, v, 0, "QY045", "must be a list of at least 8 numbers");
        break;
    }
    case T_TOLERANCE:
        if (!eco__gov_is_number(v, &dv) || !(dv >= 0.0001 && dv <= 0.005))
            field_issue(c, v, 0, "QY046", "must be a number between 0.0001 and 0.005");
        break;
    }
}

static void check_block(vctx_t *c, const block_t *b, const eco__gov_node_t *m)
{
    for (size_t i = 0; i < b->n; i++) {
        const field_t *f = &b->fields[i];
        const eco__gov_node_t *v = eco__gov_get(m, f->name);
        size_t mark = c->path->len;
        eco__gov_path_key(c->path, f->name, strlen(f->name));
        if (eco__gov_is_null(v)) {
            if (f->required)
                field_issue(c, NULL, m->line, "QY023", "required");
        } else {
            check_field(c, f, v);
        }
        eco__gov_path_pop(c->path, mark);
    }
    for (size_t i = 0; i < m->n; i++) {
        const eco__gov_node_t *k = m->items[2 * i];
        if (k->kind != ECO__GOV_SCALAR)
            continue;
        int known = 0;
        for (size_t j = 0; j < b->n && !known; j++)
            known = k->len == strlen(b->fields[j].name) && memcmp(k->value, b->fields[j].name, k->len) == 0;
        if (known)
            continue;
        size_t mark = c->path->len;
        eco__gov_path_key(c->path, k->value, k->len);
        field_issue(c, k, 0, "QY025", "unknown field");
        eco__gov_path_pop(c->path, mark);
    }
}

/* QY033, QY034: identities inside document_metadata agree. */
static void check_identity(vctx_t *c, const eco__gov_node_t *md)
{
    const eco__gov_node_t *id = eco__gov_get(md, "unique_id");
    const eco__gov_node_t *uri = eco__gov_get(md, "uri");
    const eco__gov_node_t *urn = eco__gov_get(md, "urn");
    eco__gov_ref_t rurn, ruri;
    if (!eco__gov_is_str(urn) || !eco__gov_parse_urn(urn->value, urn->len, &rurn))
        return;
    if (eco__gov_is_str(id) && eco_governance_is_uuid_v1(id->value, id->len) &&
        (id->len != strlen(rurn.uuid) || memcmp(id->value, rurn.uuid, id->len) != 0))
        eco__gov_issue(c->r, c->s->name, "document_metadata.urn", urn->line, "QY033",
                       "must end with document_metadata.unique_id");
    if (eco__gov_is_str(uri) && eco__gov_parse_uri(uri->value, uri->len, &ruri) &&
        (strcmp(ruri.ns, rurn.ns) || strcmp(ruri.kind, rurn.kind) || strcmp(ruri.name, rurn.name)))
        eco__gov_issue(c->r, c->s->name, "document_metadata.uri", uri->line, "QY034",
                       "must name the same resource as document_metadata.urn");
}

void eco__gov_validate_governance(const eco__gov_stream_t *s, const eco__gov_doc_t *d, eco_governance_report_t *r)
{
    eco_buf_t path;
    eco_buf_init(&path, 8192);
    vctx_t c = {s, r, &path};
    const eco__gov_node_t *root = d->root;
    for (size_t i = 0; i < ECO_ARRAY_SIZE(gov_blocks); i++) {
        const block_t *b = &gov_blocks[i];
        const eco__gov_node_t *m = eco__gov_get(root, b->name);
        eco_buf_reset(&path);
        eco__gov_path_key(&path, b->name, strlen(b->name));
        if (eco__gov_is_null(m))
            field_issue(&c, NULL, d->line, "QY020", "required");
        else if (m->kind != ECO__GOV_MAP)
            field_issue(&c, m, 0, "QY022", "must be a mapping");
        else
            check_block(&c, b, m);
    }
    for (size_t i = 0; i < root->n; i++) {
        const eco__gov_node_t *k = root->items[2 * i];
        if (k->kind != ECO__GOV_SCALAR)
            continue;
        int known = 0;
        for (size_t j = 0; j < ECO_ARRAY_SIZE(gov_blocks) && !known; j++)
            known = k->len == strlen(gov_blocks[j].name) && memcmp(k->value, gov_blocks[j].name, k->len) == 0;
        if (known)
            continue;
        eco_buf_reset(&path);
        eco__gov_path_key(&path, k->value, k->len);
        field_issue(&c, k, 0, "QY021", "not allowed in the governance document");
    }
    const eco__gov_node_t *md = eco__gov_get(root, "document_metadata");
    if (md && md->kind == ECO__GOV_MAP)
        check_identity(&c, md);
    eco_buf_free(&path);
}

/* ---------- stream rules ---------- */

/* The identity "<kind-lower-case>/<namespace or cluster>/<name>" of a Kubernetes document. */
static int resource_id(const eco__gov_doc_t *d, eco_buf_t *out)
{
    const eco__gov_node_t *kind = eco__gov_get(d->root, "kind");
    const eco__gov_node_t *md = eco__gov_get(d->root, "metadata");
    const eco__gov_node_t *name = eco__gov_get(md, "name");
    const eco__gov_node_t *ns = eco__gov_get(md, "namespace");
    if (!eco__gov_is_nonempty_str(kind) || !eco__gov_is_nonempty_str(name))
        return 0;
    eco_buf_reset(out);
    for (size_t i = 0; i < kind->len; i++)
        eco_buf_addc(out, (char)tolower((unsigned char)kind->value[i]));
    eco_buf_addc(out, '/');
    if (eco__gov_is_nonempty_str(ns))
        eco_buf_add(out, ns->value, ns->len);
    else
        eco_buf_adds(out, "cluster");
    eco_buf_addc(out, '/');
    eco_buf_add(out, name->value, name->len);
    eco_buf_cstr(out);
    return eco_buf_ok(out);
}

void eco__gov_validate_stream(const eco__gov_stream_t *s, eco_governance_report_t *r)
{
    size_t ngov = 0, nk8s = 0;
    const eco__gov_doc_t *gov = NULL, *last = NULL;
    for (size_t i = 0; i < s->ndocs; i++) {
        const eco__gov_doc_t *d = &s->docs[i];
        if (d->cls != ECO__GOV_DOC_EMPTY)
            last = d;
        if (d->cls == ECO__GOV_DOC_K8S)
            nk8s++;
        if (d->cls != ECO__GOV_DOC_GOVERNANCE)
            continue;
        if (ngov++ == 0)
            gov = d;
        else
            eco__gov_issue(r, s->name, "(file)", d->line, "QY011", "more than one governance document");
    }
    if (ngov == 0)
        eco__gov_issue(r, s->name, "(file)", 1, "QY010", "no governance document");
    if (ngov == 1 && last != gov)
        eco__gov_issue(r, s->name, "(file)", gov->line, "QY012", "the governance document must be the last document");
    if (nk8s == 0)
        eco__gov_issue(r, s->name, "(file)", 1, "QY013", "no Kubernetes resource document");

    /* QY014: quadratic in the number of documents, which is bounded (256). */
    eco_buf_t a, b;
    eco_buf_init(&a, 1024);
    eco_buf_init(&b, 1024);
    for (size_t i = 0; i < s->ndocs; i++) {
        if (s->docs[i].cls != ECO__GOV_DOC_K8S || !resource_id(&s->docs[i], &a))
            continue;
        for (size_t j = 0; j < i; j++) {
            if (s->docs[j].cls != ECO__GOV_DOC_K8S || !resource_id(&s->docs[j], &b))
                continue;
            if (a.len == b.len && memcmp(a.base, b.base, a.len) == 0) {
                eco__gov_issue(r, s->name, "(file)", s->docs[i].line, "QY014", "duplicate resource %s", a.base);
                break;
            }
        }
    }

    /* QY015: the URN names one of the resources (when there is one governance document and
     * at least one resource: QY010, QY011 and QY013 cover the other cases). */
    const eco__gov_node_t *urn =
        ngov == 1 && nk8s > 0 ? eco__gov_get(eco__gov_get(gov->root, "document_metadata"), "urn") : NULL;
    eco__gov_ref_t ref;
    if (eco__gov_is_str(urn) && eco__gov_parse_urn(urn->value, urn->len, &ref)) {
        eco_buf_t want = ECO_BUF_INIT;
        eco_buf_addf(&want, "%s/%s/%s", ref.kind, ref.ns, ref.name);
        int found = 0;
        for (size_t i = 0; i < s->ndocs && !found; i++)
            found = s->docs[i].cls == ECO__GOV_DOC_K8S && resource_id(&s->docs[i], &a) && a.len == want.len &&
                    memcmp(a.base, want.base, a.len) == 0;
        if (!found)
            eco__gov_issue(r, s->name, "document_metadata.urn", urn->line, "QY015",
                           "does not name a resource of this file");
        eco_buf_free(&want);
    }
    eco_buf_free(&a);
    eco_buf_free(&b);
}

/* ---------- entry points ---------- */

int eco_governance_validate(const char *name, const char *data, size_t len, eco_governance_report_t *r)
{
    eco__gov_report_begin_file(r);
    size_t errors0 = r->errors;
    eco__gov_stream_t s;
    if (eco__gov_load(name, data, len, &s, r) == 0) {
        for (size_t i = 0; i < s.ndocs; i++) {
            const eco__gov_doc_t *d = &s.docs[i];
            switch (d->cls) {
            case ECO__GOV_DOC_EMPTY:
                eco__gov_issue(r, name, "(document)", d->line, "QY017", "empty document");
                break;
            case ECO__GOV_DOC_OTHER:
                eco__gov_issue(r, name, "(document)", d->line, "QY016", "must be a mapping");
                break;
            case ECO__GOV_DOC_GOVERNANCE:
                eco__gov_validate_governance(&s, d, r);
                break;
            case ECO__GOV_DOC_K8S:
                eco__gov_validate_k8s(&s, d, r);
                break;
            }
        }
        eco__gov_validate_stream(&s, r);
        eco__gov_stream_free(&s);
    }
    return r->errors > errors0 ? ECO_EINVAL : 0;
}

int eco_governance_validate_path(const char *path, eco_governance_report_t *r)
{
    char *data = NULL;
    size_t len = 0;
    int rc = eco_governance_read_file(path, ECO_GOVERNANCE_MAX_FILE_BYTES, &data, &len);
    if (rc == ECO_ENOSPC) {
        eco__gov_report_begin_file(r);
        eco__gov_issue(r, path, "(file)", 1, "QY004", "larger than %u bytes", ECO_GOVERNANCE_MAX_FILE_BYTES);
        return ECO_EINVAL;
    }
    if (rc != 0) {
        eco__gov_report_begin_file(r);
        eco__gov_issue(r, path, "(file)", 1, "QY000", "cannot read: %s", strerror(-rc));
        return ECO_EINVAL;
    }
    rc = eco_governance_validate(path, data, len, r);
    free(data);
    return rc;
}
