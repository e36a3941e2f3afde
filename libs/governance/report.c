/* The rule table, the issue list and its text/JSON renderings, and error paths. */
#include "governance_internal.h"

#include <stdlib.h>
#include <string.h>

#define L ECO_GOVERNANCE_SCOPE_LEXICAL
#define D ECO_GOVERNANCE_SCOPE_DOCUMENT
#define C ECO_GOVERNANCE_SCOPE_CROSS
#define E ECO_GOVERNANCE_ERROR
#define W ECO_GOVERNANCE_WARNING

/* Keep in step with docs/qyaml.md §5 (the test suite checks every ID is documented). */
static const eco_governance_rule_t rules[] = {
    {"QY000", L, E, "the file can be read"},
    {"QY001", L, E, "no YAML directives (%YAML, %TAG)"},
    {"QY002", L, E, "no tab characters"},
    {"QY003", L, E, "well-formed YAML"},
    {"QY004", L, E, "within the input bounds (size, documents, depth, nodes)"},
    {"QY005", L, E, "no anchors or aliases"},
    {"QY006", L, W, "no ambiguous YAML 1.1 booleans (yes/no/on/off/y/n) as plain values"},
    {"QY007", L, E, "no duplicate mapping keys"},
    {"QY008", L, E, "mapping keys are scalars"},
    {"QY009", L, W, "at most 200 issues are listed per file"},
    {"QY010", C, E, "the stream has a governance document"},
    {"QY011", C, E, "the stream has only one governance document"},
    {"QY012", C, E, "the governance document is the last document"},
    {"QY013", C, E, "the stream has at least one Kubernetes resource"},
    {"QY014", C, E, "no two resources share kind, namespace and name"},
    {"QY015", C, E, "document_metadata.urn names a resource of the stream"},
    {"QY016", D, E, "every document is a mapping"},
    {"QY017", D, W, "no empty documents"},
    {"QY020", D, E, "the four governance blocks are present"},
    {"QY021", D, E, "no other top-level keys in the governance document"},
    {"QY022", D, E, "each governance block is a mapping"},
    {"QY023", D, E, "required governance fields are present"},
    {"QY024", D, E, "governance fields have their type"},
    {"QY025", D, W, "no unknown governance fields"},
    {"QY030", D, E, "unique_id is a lower-case UUID v1"},
    {"QY031", D, E, "uri follows eco-base://k8s/<namespace>/<kind>/<name>"},
    {"QY032", D, E, "urn follows urn:eco-base:k8s:<namespace>:<kind>:<name>:<unique_id>"},
    {"QY033", D, E, "urn ends with unique_id"},
    {"QY034", D, E, "uri and urn name the same resource"},
    {"QY035", D, E, "created_at is an RFC 3339 UTC timestamp"},
    {"QY036", D, E, "schema_version matches ^v[0-9]+$"},
    {"QY037", D, E, "compliance tags are lower-case kebab-case"},
    {"QY038", D, E, "lifecycle_policy is a known value"},
    {"QY039", D, E, "service_endpoint is a URI or n/a"},
    {"QY040", D, E, "discovery_protocol is consul, etcd or k8s-dns"},
    {"QY041", D, E, "health_check_path is an absolute path or n/a"},
    {"QY042", D, E, "registry_ttl is an integer in 0..86400"},
    {"QY043", D, E, "coherence_vector_dim is an integer in 1024..4096"},
    {"QY044", D, W, "contextual_binding reads \"<name> -> [<dependency>, ...]\""},
    {"QY045", D, E, "coherence_vector, when present, has at least 8 numbers"},
    {"QY046", D, E, "tolerance, when present, is a number in 0.0001..0.005"},
    {"QY050", D, E, "Kubernetes documents have apiVersion"},
    {"QY051", D, E, "Kubernetes documents have kind"},
    {"QY052", D, E, "Kubernetes documents have metadata with a DNS-1123 name"},
    {"QY053", D, E, "namespaces are eco-base, eco-base-staging, argocd or monitoring"},
    {"QY054", D, E, "the app.kubernetes.io labels are present"},
    {"QY055", D, E, "app.kubernetes.io/part-of is eco-base"},
};

#undef L
#undef D
#undef C
#undef E
#undef W

const eco_governance_rule_t *eco_governance_rules(size_t *n)
{
    *n = ECO_ARRAY_SIZE(rules);
    return rules;
}

const eco_governance_rule_t *eco_governance_rule(const char *id)
{
    for (size_t i = 0; i < ECO_ARRAY_SIZE(rules); i++)
        if (strcmp(rules[i].id, id) == 0)
            return &rules[i];
    return NULL;
}

void eco_governance_report_init(eco_governance_report_t *r)
{
    memset(r, 0, sizeof(*r));
}

void eco_governance_report_free(eco_governance_report_t *r)
{
    for (size_t i = 0; i < r->len; i++) {
        free(r->items[i].file);
        free(r->items[i].path);
        free(r->items[i].message);
    }
    free(r->items);
    memset(r, 0, sizeof(*r));
}

void eco__gov_report_begin_file(eco_governance_report_t *r)
{
    r->file_first = r->len;
    r->file_count = 0;
}

static void push(eco_governance_report_t *r, const char *file, const char *path, int line,
                 const eco_governance_rule_t *rule, char *message)
{
    if (r->len == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->items = eco_realloc(r->items, r->cap * sizeof(*r->items));
    }
    eco_governance_issue_t *it = &r->items[r->len++];
    it->file = eco_strdup(file);
    it->path = eco_strdup(path);
    it->message = message;
    it->rule = rule->id;
    it->severity = rule->severity;
    it->line = line > 0 ? line : 1;
}

void eco__gov_issue(eco_governance_report_t *r, const char *file, const char *path, int line, const char *rule,
                    const char *fmt, ...)
{
    const eco_governance_rule_t *ru = eco_governance_rule(rule);
    ECO_BUG_ON(ru == NULL);
    if (ru->severity == ECO_GOVERNANCE_ERROR)
        r->errors++;
    else
        r->warnings++;
    r->file_count++;
    if (r->file_count > ECO_GOVERNANCE_MAX_ISSUES + 1)
        return;
    if (r->file_count == ECO_GOVERNANCE_MAX_ISSUES + 1) {
        /* The notice itself is a warning: the counters above still decide validity. */
        r->warnings++;
        eco_buf_t m = ECO_BUF_INIT;
        eco_buf_addf(&m, "more than %d issues; the rest are counted but not listed", ECO_GOVERNANCE_MAX_ISSUES);
        push(r, file, "(file)", line, eco_governance_rule("QY009"), eco_buf_detach(&m, NULL));
        return;
    }
    eco_buf_t m = ECO_BUF_INIT;
    eco_buf_init(&m, 4096);
    va_list ap;
    va_start(ap, fmt);
    eco_buf_vaddf(&m, fmt, ap);
    va_end(ap);
    eco_buf_cstr(&m);
    push(r, file, path, line, ru, eco_buf_detach(&m, NULL));
}

static const char *sev_name(eco_governance_severity_t s)
{
    return s == ECO_GOVERNANCE_ERROR ? "error" : "warning";
}

void eco_governance_issue_format(const eco_governance_issue_t *i, eco_buf_t *out)
{
    eco_buf_addf(out, "%s: %s [%s]", i->path, i->message, i->rule);
}

void eco_governance_report_text(const eco_governance_report_t *r, eco_buf_t *out)
{
    for (size_t k = 0; k < r->len; k++) {
        const eco_governance_issue_t *i = &r->items[k];
        eco_buf_addf(out, "%s:%d: ", i->file, i->line);
        eco_governance_issue_format(i, out);
        eco_buf_addf(out, " (%s)\n", sev_name(i->severity));
    }
}

void eco_governance_report_json(const eco_governance_report_t *r, eco_buf_t *out)
{
    eco_buf_addf(out, "{\"valid\":%s,\"errors\":[", r->errors == 0 ? "true" : "false");
    for (size_t k = 0; k < r->len; k++) {
        const eco_governance_issue_t *i = &r->items[k];
        eco_buf_adds(out, k ? ",{\"file\":" : "{\"file\":");
        eco_buf_add_json_str(out, i->file, (size_t)-1);
        eco_buf_adds(out, ",\"path\":");
        eco_buf_add_json_str(out, i->path, (size_t)-1);
        eco_buf_adds(out, ",\"message\":");
        eco_buf_add_json_str(out, i->message, (size_t)-1);
        eco_buf_addf(out, ",\"severity\":\"%s\",\"rule\":\"%s\",\"line\":%d}", sev_name(i->severity), i->rule, i->line);
    }
    eco_buf_adds(out, "]}");
}

/* ---------- paths ---------- */

#define PATH_KEY_MAX 200 /* longer keys are abbreviated in paths */

static int plain_key(const char *k, size_t n)
{
    if (n == 0 || !((k[0] >= 'A' && k[0] <= 'Z') || (k[0] >= 'a' && k[0] <= 'z') || k[0] == '_'))
        return 0;
    for (size_t i = 1; i < n; i++) {
        char c = k[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

void eco__gov_path_key(eco_buf_t *p, const char *key, size_t len)
{
    if (plain_key(key, len)) {
        if (p->len)
            eco_buf_addc(p, '.');
        eco_buf_add(p, key, len);
        return;
    }
    eco_buf_addc(p, '[');
    if (len > PATH_KEY_MAX) {
        eco_buf_add_json_str(p, key, PATH_KEY_MAX);
        eco_buf_adds(p, "...");
    } else {
        eco_buf_add_json_str(p, key, len);
    }
    eco_buf_addc(p, ']');
}

void eco__gov_path_index(eco_buf_t *p, size_t i)
{
    eco_buf_addf(p, "[%zu]", i);
}

void eco__gov_path_pop(eco_buf_t *p, size_t len)
{
    if (len > p->len)
        return;
    p->len = len;
    p->overflow = 0;
    if (p->base)
        p->base[len] = '\0';
}

const char *eco__gov_path_str(eco_buf_t *p)
{
    return p->len ? eco_buf_cstr(p) : "(document)";
}
