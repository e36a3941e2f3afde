/* Unit tests for eco_governance: every rule firing and not firing, bounds, UUID v1, generate
 * round trips and strip. The black-box CLI tests are tests/qyaml/test_qyaml.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eco_governance.h"
#include "governance_internal.h"

#define UID "1f0c2a34-1d2e-11f0-9c1a-0242ac120002"

/* A valid stream with a Deployment (workload labels, pod template), a Service and the
 * governance document naming the Deployment. Mutations below replace one substring. */
static const char base[] = "# header comment\n"
                           "---\n"
                           "apiVersion: apps/v1\n"
                           "kind: Deployment\n"
                           "metadata:\n"
                           "  name: demo\n"
                           "  namespace: eco-base\n"
                           "  labels:\n"
                           "    app.kubernetes.io/name: demo\n"
                           "    app.kubernetes.io/instance: demo\n"
                           "    app.kubernetes.io/version: \"1.0\"\n"
                           "    app.kubernetes.io/component: api\n"
                           "    app.kubernetes.io/part-of: eco-base\n"
                           "spec:\n"
                           "  selector:\n"
                           "    matchLabels: {app.kubernetes.io/name: demo}\n"
                           "  template:\n"
                           "    metadata:\n"
                           "      labels:\n"
                           "        app.kubernetes.io/name: demo\n"
                           "        app.kubernetes.io/instance: demo\n"
                           "        app.kubernetes.io/version: \"1.0\"\n"
                           "        app.kubernetes.io/component: api\n"
                           "        app.kubernetes.io/part-of: eco-base\n"
                           "    spec:\n"
                           "      containers:\n"
                           "        - name: demo\n"
                           "          image: ghcr.io/eco-base/demo:1.0\n"
                           "          args: [\"--flag\", 'single', plain]\n"
                           "          command:\n"
                           "            - |\n"
                           "              literal block\n"
                           "              second line\n"
                           "---\n"
                           "apiVersion: v1\n"
                           "kind: Service\n"
                           "metadata:\n"
                           "  name: demo\n"
                           "  namespace: eco-base\n"
                           "  labels: {app.kubernetes.io/name: demo, app.kubernetes.io/part-of: eco-base}\n"
                           "spec:\n"
                           "  ports: [{port: 80, targetPort: 8080}]\n"
                           "  selector: {app.kubernetes.io/name: demo}\n"
                           "---\n"
                           "# governance\n"
                           "document_metadata:\n"
                           "  unique_id: \"" UID "\"\n"
                           "  uri: \"eco-base://k8s/eco-base/deployment/demo\"\n"
                           "  urn: \"urn:eco-base:k8s:eco-base:deployment:demo:" UID "\"\n"
                           "  target_system: gke-production\n"
                           "  cross_layer_binding: [redis]\n"
                           "  schema_version: v8\n"
                           "  generated_by: yaml-toolkit-v8\n"
                           "  created_at: \"2026-01-01T00:00:00.000Z\"\n"
                           "governance_info:\n"
                           "  owner: platform-team\n"
                           "  approval_chain: [platform-team]\n"
                           "  compliance_tags: [zero-trust, soc2]\n"
                           "  lifecycle_policy: active\n"
                           "registry_binding:\n"
                           "  service_endpoint: \"http://demo.eco-base.svc.cluster.local:80\"\n"
                           "  discovery_protocol: consul\n"
                           "  health_check_path: /health\n"
                           "  registry_ttl: 30\n"
                           "vector_alignment_map:\n"
                           "  alignment_model: BAAI/bge-large-en-v1.5\n"
                           "  coherence_vector_dim: 1024\n"
                           "  function_keyword: [demo]\n"
                           "  contextual_binding: \"demo -> [redis]\"\n";

/* base with the first occurrence of `from` replaced by `to`; caller frees. */
static char *mutate(const char *from, const char *to)
{
    const char *at = strstr(base, from);
    if (!at)
        fail_msg("mutation anchor not found: %s", from);
    size_t pre = (size_t)(at - base), fl = strlen(from), tl = strlen(to);
    char *out = malloc(sizeof(base) - fl + tl);
    memcpy(out, base, pre);
    memcpy(out + pre, to, tl);
    strcpy(out + pre + tl, at + fl);
    return out;
}

static int validate_str(const char *text, eco_governance_report_t *r)
{
    eco_governance_report_init(r);
    return eco_governance_validate("t.qyaml", text, strlen(text), r);
}

static const char *current_case = ""; /* named in failure messages */

static void dump(const eco_governance_report_t *r)
{
    eco_buf_t b = ECO_BUF_INIT;
    eco_governance_report_text(r, &b);
    print_message("%s", eco_buf_cstr(&b));
    eco_buf_free(&b);
}

/* Asserts the report holds exactly one kind of rule, `rule`, and finds `msg` ("path: message"). */
static void expect_only(const eco_governance_report_t *r, const char *rule, const char *msg)
{
    int found = 0;
    for (size_t i = 0; i < r->len; i++) {
        if (strcmp(r->items[i].rule, rule) != 0) {
            dump(r);
            fail_msg("%s: expected only %s, got %s", current_case, rule, r->items[i].rule);
        }
        eco_buf_t b = ECO_BUF_INIT;
        eco_governance_issue_format(&r->items[i], &b);
        char want[512];
        snprintf(want, sizeof(want), "%s [%s]", msg, rule);
        if (!msg || strcmp(eco_buf_cstr(&b), want) == 0)
            found = 1;
        eco_buf_free(&b);
    }
    if (!found) {
        dump(r);
        fail_msg("%s: no issue \"%s\" from %s", current_case, msg ? msg : "", rule);
    }
}

static void test_base_is_clean(void **state)
{
    (void)state;
    eco_governance_report_t r;
    int rc = validate_str(base, &r);
    if (r.len)
        dump(&r);
    assert_int_equal(rc, 0);
    assert_int_equal(r.len, 0);
    assert_int_equal(r.errors + r.warnings, 0);
    eco_governance_report_free(&r);
}

typedef struct {
    const char *rule;
    const char *from, *to;
    const char *msg; /* "path: message" */
} mutation_t;

static const mutation_t fires[] = {
    {"QY001", "# header comment\n", "%YAML 1.1\n", "(file): YAML directives (%YAML, %TAG) are not allowed"},
    {"QY001", "# header comment\n", "%TAG !e! tag:eco-base.io,2026:\n",
     "(file): YAML directives (%YAML, %TAG) are not allowed"},
    {"QY002", "# header comment", "#\theader", "(file): tab characters are not allowed"},
    {"QY003", "  ports: [{port: 80, targetPort: 8080}]", "  ports: [{port: 80", NULL},
    {"QY005", "  labels: {app.kubernetes.io/name: demo, app", "  labels: &l {app.kubernetes.io/name: demo, app",
     "metadata.labels: anchors and aliases are not allowed"},
    {"QY007", "  name: demo\n  namespace: eco-base\n  labels: {",
     "  name: demo\n  namespace: eco-base\n  name: demo\n  labels: {", "metadata.name: duplicate key"},
    {"QY008", "  selector: {app.kubernetes.io/name: demo}\n---",
     "  selector: {app.kubernetes.io/name: demo}\n  ? {a: b}\n  : c\n---", "spec: mapping keys must be scalars"},
    {"QY016", "---\napiVersion: v1\nkind: Service", "--- [a]\n---\napiVersion: v1\nkind: Service",
     "(document): must be a mapping"},
    {"QY020",
     "governance_info:\n  owner: platform-team\n  approval_chain: [platform-team]\n  compliance_tags: "
     "[zero-trust, soc2]\n  lifecycle_policy: active\n",
     "", "governance_info: required"},
    {"QY021", "vector_alignment_map:\n", "apiVersion: v1\nvector_alignment_map:\n",
     "apiVersion: not allowed in the governance document"},
    {"QY025", "  registry_ttl: 30\n", "  registry_ttl: 30\n  ttl: 5\n", "registry_binding.ttl: unknown field"},
    {"QY044", "\"demo -> [redis]\"", "\"demo -> redis\"",
     "vector_alignment_map.contextual_binding: should match \"<name> -> [<dependency>, ...]\""},
    {"QY006", "image: ghcr.io/eco-base/demo:1.0\n", "image: ghcr.io/eco-base/demo:1.0\n          tty: on\n",
     "spec.template.spec.containers[0].tty: ambiguous YAML 1.1 boolean; quote it or use true/false"},
    {"QY051", "apiVersion: v1\nkind: Service", "apiVersion: v1\nkind: [Service]", "kind: must be a non-empty string"},
    {"QY052", "  name: demo\n  namespace: eco-base\n  labels: {", "  name: demo.\n  namespace: eco-base\n  labels: {",
     "metadata.name: must be a DNS-1123 subdomain"},
    {"QY022",
     "registry_binding:\n  service_endpoint: \"http://demo.eco-base.svc.cluster.local:80\"\n"
     "  discovery_protocol: consul\n  health_check_path: /health\n  registry_ttl: 30\n",
     "registry_binding: [a]\n", "registry_binding: must be a mapping"},
    {"QY023", "  owner: platform-team\n", "  owner:\n", "governance_info.owner: required"},
    {"QY024", "  target_system: gke-production", "  target_system: \"\"",
     "document_metadata.target_system: must be a non-empty string"},
    {"QY024", "  generated_by: yaml-toolkit-v8", "  generated_by: 8",
     "document_metadata.generated_by: must be a non-empty string"},
    {"QY024", "  cross_layer_binding: [redis]", "  cross_layer_binding: redis",
     "document_metadata.cross_layer_binding: must be a list of non-empty strings"},
    {"QY024", "  cross_layer_binding: [redis]", "  cross_layer_binding: [redis, 5]",
     "document_metadata.cross_layer_binding: must be a list of non-empty strings"},
    {"QY024", "  function_keyword: [demo]", "  function_keyword: []",
     "vector_alignment_map.function_keyword: must be a non-empty list of non-empty strings"},
    {"QY030", "  unique_id: \"" UID "\"", "  unique_id: \"1F0C2A34-1D2E-11F0-9C1A-0242AC120002\"",
     "document_metadata.unique_id: must be a UUID v1"},
    {"QY030", "  unique_id: \"" UID "\"", "  unique_id: \"1f0c2a34-1d2e-11f0-7c1a-0242ac120002\"",
     "document_metadata.unique_id: must be a UUID v1"},
    {"QY030", "  unique_id: \"" UID "\"", "  unique_id: eco-gw-0001-0001-000000000001",
     "document_metadata.unique_id: must be a UUID v1"},
    {"QY031", "eco-base://k8s/eco-base/deployment/demo", "eco-base://k8s/eco-base/Deployment/demo",
     "document_metadata.uri: must match eco-base://k8s/<namespace>/<kind>/<name>"},
    {"QY031", "eco-base://k8s/eco-base/deployment/demo", "eco-base://k8s/eco-base/deployment/demo/x",
     "document_metadata.uri: must match eco-base://k8s/<namespace>/<kind>/<name>"},
    {"QY032", "urn:eco-base:k8s:eco-base", "urn:eco-base:k8s:eco_base",
     "document_metadata.urn: must match urn:eco-base:k8s:<namespace>:<kind>:<name>:<unique_id>"},
    {"QY033", "deployment:demo:1f0c2a34-1d2e", "deployment:demo:1f0c2a35-1d2e",
     "document_metadata.urn: must end with document_metadata.unique_id"},
    {"QY034", "eco-base://k8s/eco-base/deployment/demo", "eco-base://k8s/eco-base-staging/deployment/demo",
     "document_metadata.uri: must name the same resource as document_metadata.urn"},
    {"QY035", "2026-01-01T00:00:00.000Z", "2026-01-01 00:00:00",
     "document_metadata.created_at: must be an RFC 3339 UTC timestamp (YYYY-MM-DDThh:mm:ss[.fraction]Z)"},
    {"QY035", "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00+01:00", NULL},
    {"QY035", "2026-01-01T00:00:00.000Z", "2025-02-29T00:00:00Z", NULL},
    {"QY035", "2026-01-01T00:00:00.000Z", "2026-01-01T24:00:00Z", NULL},
    {"QY035", "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.1234567890Z", NULL},
    {"QY036", "schema_version: v8", "schema_version: v", "document_metadata.schema_version: must match ^v[0-9]+$"},
    {"QY036", "schema_version: v8", "schema_version: V8", NULL},
    {"QY037", "[zero-trust, soc2]", "[zero-trust, zero--trust]",
     "governance_info.compliance_tags[1]: must be "
     "lower-case kebab-case"},
    {"QY038", "lifecycle_policy: active", "lifecycle_policy: Active", NULL},
    {"QY039", "\"http://demo.eco-base.svc.cluster.local:80\"", "\"http:///path\"",
     "registry_binding.service_endpoint: must be a URI (scheme://host[:port][/path]) or n/a"},
    {"QY039", "\"http://demo.eco-base.svc.cluster.local:80\"", "\"http://a b\"", NULL},
    {"QY040", "discovery_protocol: consul", "discovery_protocol: eureka",
     "registry_binding.discovery_protocol: must be one of consul, etcd, k8s-dns"},
    {"QY041", "health_check_path: /health", "health_check_path: \"/he alth\"", NULL},
    {"QY042", "registry_ttl: 30", "registry_ttl: -1",
     "registry_binding.registry_ttl: must be an integer between 0 "
     "and 86400"},
    {"QY042", "registry_ttl: 30", "registry_ttl: \"30\"", NULL},
    {"QY042", "registry_ttl: 30", "registry_ttl: 30.5", NULL},
    {"QY043", "coherence_vector_dim: 1024", "coherence_vector_dim: 4097",
     "vector_alignment_map.coherence_vector_dim: must be an integer between 1024 and 4096"},
    {"QY045", "  function_keyword: [demo]", "  function_keyword: [demo]\n  coherence_vector: [1, 2, 3, 4, 5, 6, 7, x]",
     "vector_alignment_map.coherence_vector: must be a list of at least 8 numbers"},
    {"QY046", "  function_keyword: [demo]", "  function_keyword: [demo]\n  tolerance: 0.00009",
     "vector_alignment_map.tolerance: must be a number between 0.0001 and 0.005"},
    {"QY050", "apiVersion: v1\nkind: Service", "apiVersion: \"\"\nkind: Service",
     "apiVersion: must be a non-empty string"},
    {"QY052",
     "kind: Service\nmetadata:\n  name: demo\n  namespace: eco-base\n  labels: {app.kubernetes.io/name: "
     "demo, app.kubernetes.io/part-of: eco-base}\n",
     "kind: Service\nmetadata: []\n", "metadata: must be a mapping"},
    {"QY053", "  namespace: eco-base\n  labels: {", "  namespace: 7\n  labels: {",
     "metadata.namespace: must be one of eco-base, eco-base-staging, argocd, monitoring"},
    {"QY054", "        app.kubernetes.io/component: api\n", "",
     "spec.template.metadata.labels[\"app.kubernetes.io/component\"]: required"},
    {"QY054", "    app.kubernetes.io/version: \"1.0\"\n", "    app.kubernetes.io/version: \"\"\n",
     "metadata.labels[\"app.kubernetes.io/version\"]: required"},
    {"QY055", "        app.kubernetes.io/part-of: eco-base", "        app.kubernetes.io/part-of: other",
     "spec.template.metadata.labels[\"app.kubernetes.io/part-of\"]: must be eco-base"},
};

static void test_rules_fire(void **state)
{
    (void)state;
    for (size_t i = 0; i < ECO_ARRAY_SIZE(fires); i++) {
        const mutation_t *m = &fires[i];
        char *text = mutate(m->from, m->to);
        eco_governance_report_t r;
        int rc = validate_str(text, &r);
        char name[64];
        snprintf(name, sizeof(name), "fires[%zu] (%s)", i, m->rule);
        current_case = name;
        const eco_governance_rule_t *rule = eco_governance_rule(m->rule);
        assert_non_null(rule);
        assert_int_equal(rc, rule->severity == ECO_GOVERNANCE_ERROR ? ECO_EINVAL : 0);
        assert_true(r.len > 0);
        expect_only(&r, m->rule, m->msg);
        eco_governance_report_free(&r);
        free(text);
    }
    current_case = "";
}

/* Boundary values that must not fire anything. */
static const mutation_t quiet[] = {
    {NULL, "registry_ttl: 30", "registry_ttl: 0", NULL},
    {NULL, "registry_ttl: 30", "registry_ttl: 86400", NULL},
    {NULL, "registry_ttl: 30", "registry_ttl: 0x1e", NULL},
    {NULL, "coherence_vector_dim: 1024", "coherence_vector_dim: 4096", NULL},
    {NULL, "  function_keyword: [demo]",
     "  function_keyword: [demo]\n  tolerance: 0.0001\n  coherence_vector: "
     "[1, 2.5, -3, .5, 1e3, 6, 7, 8]",
     NULL},
    {NULL, "  function_keyword: [demo]", "  function_keyword: [demo]\n  tolerance: 0.005", NULL},
    {NULL, "2026-01-01T00:00:00.000Z", "2024-02-29T23:59:59.123456789Z", NULL},
    {NULL, "2026-01-01T00:00:00.000Z\"", "2026-01-01T00:00:00Z\"", NULL},
    {NULL, "  created_at: \"2026-01-01T00:00:00.000Z\"", "  created_at: 2026-01-01T00:00:00.000Z", NULL},
    {NULL, "schema_version: v8", "schema_version: v12", NULL},
    {NULL, "lifecycle_policy: active", "lifecycle_policy: experimental", NULL},
    {NULL, "discovery_protocol: consul", "discovery_protocol: k8s-dns", NULL},
    {NULL, "\"http://demo.eco-base.svc.cluster.local:80\"", "n/a", NULL},
    {NULL, "\"http://demo.eco-base.svc.cluster.local:80\"", "\"postgres://db:5432/eco?sslmode=require\"", NULL},
    {NULL, "health_check_path: /health", "health_check_path: n/a", NULL},
    {NULL, "health_check_path: /health", "health_check_path: /", NULL},
    {NULL, "  cross_layer_binding: [redis]", "  cross_layer_binding: []", NULL},
    {NULL, "[zero-trust, soc2]", "[]", NULL},
    {NULL, "  registry_ttl: 30\n", "  registry_ttl: 30\n  k8s_namespace: eco-base\n", NULL},
    {NULL, "  namespace: eco-base\n  labels: {", "  namespace: monitoring\n  labels: {", NULL},
    {NULL, "  namespace: eco-base\n  labels: {", "  labels: {", NULL},
    {NULL, "  unique_id: \"" UID "\"", "  unique_id: !!str " UID, NULL},
    {NULL, "# header comment\n", "# header comment with \"%YAML\" in it\n", NULL},
};

static void test_rules_quiet(void **state)
{
    (void)state;
    for (size_t i = 0; i < ECO_ARRAY_SIZE(quiet); i++) {
        char *text = mutate(quiet[i].from, quiet[i].to);
        eco_governance_report_t r;
        int rc = validate_str(text, &r);
        if (r.len) {
            print_message("quiet[%zu]\n", i);
            dump(&r);
        }
        assert_int_equal(rc, 0);
        assert_int_equal(r.len, 0);
        eco_governance_report_free(&r);
        free(text);
    }
}

/* Rules that need more than one substitution: they start from small documents. */
static const char svc[] = "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  namespace: eco-base\n"
                          "  labels: {app.kubernetes.io/name: s, app.kubernetes.io/part-of: eco-base}\n";
static const char gov_tail[] =
    "---\ndocument_metadata: {unique_id: \"" UID "\", uri: \"eco-base://k8s/eco-base/service/s\", urn: "
    "\"urn:eco-base:k8s:eco-base:service:s:" UID "\", target_system: t, cross_layer_binding: [], schema_version: v8, "
    "generated_by: g, created_at: \"2026-01-01T00:00:00Z\"}\n"
    "governance_info: {owner: o, approval_chain: [o], compliance_tags: [], lifecycle_policy: active}\n"
    "registry_binding: {service_endpoint: n/a, discovery_protocol: etcd, health_check_path: n/a, registry_ttl: 0}\n"
    "vector_alignment_map: {alignment_model: m, coherence_vector_dim: 1024, function_keyword: [s], "
    "contextual_binding: \"s -> []\"}\n";

static void check_stream(const char *a, const char *b, const char *c, const char *rule, size_t count)
{
    eco_buf_t t = ECO_BUF_INIT;
    eco_buf_adds(&t, a);
    eco_buf_adds(&t, b);
    eco_buf_adds(&t, c);
    eco_governance_report_t r;
    validate_str(eco_buf_cstr(&t), &r);
    if (rule) {
        expect_only(&r, rule, NULL);
        assert_int_equal(r.len, count);
    } else {
        if (r.len)
            dump(&r);
        assert_int_equal(r.len, 0);
    }
    eco_governance_report_free(&r);
    eco_buf_free(&t);
}

static void test_stream_rules(void **state)
{
    (void)state;
    check_stream(svc, gov_tail, "", NULL, 0);
    check_stream(svc, "", "", "QY010", 1);
    check_stream(svc, gov_tail, "---\n# trailing empty document\n", "QY017", 1);
    check_stream(svc, gov_tail, gov_tail, "QY011", 1);
    check_stream(gov_tail, svc, "", "QY012", 1);
    check_stream(gov_tail, "", "", "QY013", 1);
    check_stream(svc, svc, gov_tail, "QY014", 1);
    check_stream(svc, "---\n...\n", gov_tail, "QY017", 1);
    /* Same name in another namespace, and a cluster-scoped twin, are different resources. */
    check_stream(svc,
                 "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  namespace: monitoring\n"
                 "  labels: {app.kubernetes.io/name: s, app.kubernetes.io/part-of: eco-base}\n",
                 gov_tail, NULL, 0);
    check_stream(svc,
                 "---\napiVersion: v1\nkind: service\nmetadata:\n  name: s\n  namespace: eco-base\n"
                 "  labels: {app.kubernetes.io/name: s, app.kubernetes.io/part-of: eco-base}\n",
                 gov_tail, "QY014", 1);
    /* The URN names a ConfigMap the file does not have. */
    char *g = strdup(gov_tail);
    for (char *p; (p = strstr(g, "service/s")) || (p = strstr(g, "service:s"));)
        memcpy(p, "secrets", 7);
    check_stream(svc, g, "", "QY015", 1);
    free(g);
}

static void test_governance_without_metadata(void **state)
{
    (void)state;
    eco_buf_t t = ECO_BUF_INIT;
    eco_buf_adds(&t, svc);
    eco_buf_adds(&t, "---\ngovernance_info: {owner: o}\n");
    eco_governance_report_t r;
    validate_str(eco_buf_cstr(&t), &r);
    /* Not "no governance document": the blocks that are missing are named instead. */
    int md = 0, qy010 = 0;
    for (size_t i = 0; i < r.len; i++) {
        md += strcmp(r.items[i].path, "document_metadata") == 0 && strcmp(r.items[i].rule, "QY020") == 0;
        qy010 += strcmp(r.items[i].rule, "QY010") == 0;
    }
    assert_int_equal(md, 1);
    assert_int_equal(qy010, 0);
    eco_governance_report_free(&r);
    eco_buf_free(&t);
}

static void test_lexical_lines(void **state)
{
    (void)state;
    const char *text = "a: 1\n\tb: 2\nc: \"x\ty\"\n";
    eco_governance_report_t r;
    eco_governance_report_init(&r);
    eco__gov_report_begin_file(&r);
    eco__gov_lexical("f", text, strlen(text), &r);
    assert_int_equal(r.len, 2);
    assert_int_equal(r.items[0].line, 2);
    assert_int_equal(r.items[1].line, 3);
    assert_string_equal(r.items[0].rule, "QY002");
    eco_governance_report_free(&r);
}

static void test_bounds(void **state)
{
    (void)state;
    eco_governance_report_t r;
    /* size */
    size_t big = ECO_GOVERNANCE_MAX_FILE_BYTES + 1;
    char *text = malloc(big + 1);
    memset(text, '#', big);
    text[big] = '\0';
    eco_governance_report_init(&r);
    assert_int_equal(eco_governance_validate("big", text, big, &r), ECO_EINVAL);
    expect_only(&r, "QY004", "(file): larger than 1048576 bytes");
    eco_governance_report_free(&r);
    free(text);

    /* documents */
    eco_buf_t t = ECO_BUF_INIT;
    for (int i = 0; i < ECO_GOVERNANCE_MAX_DOCUMENTS + 1; i++)
        eco_buf_adds(&t, "--- {a: 1}\n");
    assert_int_equal(validate_str(eco_buf_cstr(&t), &r), ECO_EINVAL);
    expect_only(&r, "QY004", "(file): more than 256 documents");
    eco_governance_report_free(&r);
    eco_buf_reset(&t);

    /* depth: 65 nested sequences */
    for (int i = 0; i < ECO_GOVERNANCE_MAX_DEPTH + 1; i++)
        eco_buf_addc(&t, '[');
    for (int i = 0; i < ECO_GOVERNANCE_MAX_DEPTH + 1; i++)
        eco_buf_addc(&t, ']');
    assert_int_equal(validate_str(eco_buf_cstr(&t), &r), ECO_EINVAL);
    expect_only(&r, "QY004", "(file): nested deeper than 64 levels");
    eco_governance_report_free(&r);
    eco_buf_reset(&t);

    /* exactly 64 levels is fine for the parser (the document is then just not a mapping) */
    for (int i = 0; i < ECO_GOVERNANCE_MAX_DEPTH; i++)
        eco_buf_addc(&t, '[');
    for (int i = 0; i < ECO_GOVERNANCE_MAX_DEPTH; i++)
        eco_buf_addc(&t, ']');
    validate_str(eco_buf_cstr(&t), &r);
    for (size_t i = 0; i < r.len; i++)
        assert_string_not_equal(r.items[i].rule, "QY004");
    eco_governance_report_free(&r);
    eco_buf_reset(&t);

    /* nodes */
    eco_buf_adds(&t, "[");
    for (int i = 0; i < ECO_GOVERNANCE_MAX_NODES + 1; i++)
        eco_buf_adds(&t, "1,");
    eco_buf_adds(&t, "1]");
    assert_int_equal(validate_str(eco_buf_cstr(&t), &r), ECO_EINVAL);
    expect_only(&r, "QY004", "(file): more than 100000 nodes");
    eco_governance_report_free(&r);
    eco_buf_free(&t);
}

static void test_issue_cap(void **state)
{
    (void)state;
    eco_buf_t t = ECO_BUF_INIT;
    for (int i = 0; i < 300; i++)
        eco_buf_adds(&t, "#\t\n");
    eco_governance_report_t r;
    validate_str(eco_buf_cstr(&t), &r);
    assert_int_equal(r.len, ECO_GOVERNANCE_MAX_ISSUES + 1);
    assert_string_equal(r.items[ECO_GOVERNANCE_MAX_ISSUES].rule, "QY009");
    assert_int_equal(r.items[ECO_GOVERNANCE_MAX_ISSUES].severity, ECO_GOVERNANCE_WARNING);
    /* 300 tabs + QY010 + QY013 are all counted. */
    assert_int_equal(r.errors, 302);
    eco_governance_report_free(&r);
    eco_buf_free(&t);
}

static void test_garbage_never_crashes(void **state)
{
    (void)state;
    static const char *const inputs[] = {
        "",
        "\0",
        "---",
        "...",
        "- - - -",
        "{",
        "}",
        "[[[",
        "a: b: c",
        "\xff\xfe",
        "? ? ?",
        "&a [*a]",
        "*a",
        "!!binary AAAA",
        "--- !!map {? a}",
        "a: !!int x",
        "\"\\u0000\"",
        "%YAML 2.0\n---\n",
    };
    for (size_t i = 0; i < ECO_ARRAY_SIZE(inputs); i++) {
        eco_governance_report_t r;
        size_t n = i == 1 ? 1 : strlen(inputs[i]);
        eco_governance_report_init(&r);
        eco_governance_validate("g", inputs[i], n, &r);
        assert_true(r.errors > 0);
        eco_governance_report_free(&r);
        eco_buf_t out = ECO_BUF_INIT;
        eco_governance_report_init(&r);
        eco_governance_strip("g", inputs[i], n, &out, &r);
        eco_governance_report_free(&r);
        eco_buf_free(&out);
    }
}

static void test_resolve(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        eco__gov_type_t type;
    } cases[] = {
        {"a: ~", ECO__GOV_NULL},         {"a: null", ECO__GOV_NULL},
        {"a:", ECO__GOV_NULL},           {"a: true", ECO__GOV_BOOL},
        {"a: FALSE", ECO__GOV_BOOL},     {"a: yes", ECO__GOV_STR},
        {"a: 12", ECO__GOV_INT},         {"a: -3", ECO__GOV_INT},
        {"a: 0o17", ECO__GOV_INT},       {"a: 0x1F", ECO__GOV_INT},
        {"a: 1.5", ECO__GOV_FLOAT},      {"a: 1e3", ECO__GOV_FLOAT},
        {"a: .inf", ECO__GOV_FLOAT},     {"a: 1.0.0", ECO__GOV_STR},
        {"a: \"12\"", ECO__GOV_STR},     {"a: '~'", ECO__GOV_STR},
        {"a: !!str 12", ECO__GOV_STR},   {"a: !!int \"12\"", ECO__GOV_INT},
        {"a: 2026-01-01", ECO__GOV_STR}, {"a: 99999999999999999999", ECO__GOV_FLOAT},
    };
    for (size_t i = 0; i < ECO_ARRAY_SIZE(cases); i++) {
        eco__gov_stream_t s;
        eco_governance_report_t r;
        eco_governance_report_init(&r);
        assert_int_equal(eco__gov_parse("r", cases[i].text, strlen(cases[i].text), &s, &r), 0);
        const eco__gov_node_t *v = eco__gov_get(s.docs[0].root, "a");
        assert_non_null(v);
        if (v->type != cases[i].type)
            fail_msg("%s: type %d, want %d", cases[i].text, v->type, cases[i].type);
        eco__gov_stream_free(&s);
        eco_governance_report_free(&r);
    }
}

static void test_paths_and_render(void **state)
{
    (void)state;
    eco_buf_t p = ECO_BUF_INIT;
    eco__gov_path_key(&p, "metadata", 8);
    eco__gov_path_key(&p, "labels", 6);
    eco__gov_path_key(&p, "app.kubernetes.io/name", 22);
    assert_string_equal(eco_buf_cstr(&p), "metadata.labels[\"app.kubernetes.io/name\"]");
    eco__gov_path_pop(&p, 8);
    eco__gov_path_index(&p, 3);
    assert_string_equal(eco_buf_cstr(&p), "metadata[3]");
    eco_buf_free(&p);

    eco_governance_report_t r;
    eco_governance_report_init(&r);
    eco__gov_report_begin_file(&r);
    eco__gov_issue(&r, "a\"b.qyaml", "x.y", 7, "QY030", "must be a UUID v1");
    eco__gov_issue(&r, "a\"b.qyaml", "z", 0, "QY025", "unknown field");
    eco_buf_t out = ECO_BUF_INIT;
    eco_governance_report_json(&r, &out);
    assert_string_equal(
        eco_buf_cstr(&out),
        "{\"valid\":false,\"errors\":[{\"file\":\"a\\\"b.qyaml\",\"path\":\"x.y\",\"message\":\"must be "
        "a UUID v1\",\"severity\":\"error\",\"rule\":\"QY030\",\"line\":7},{\"file\":\"a\\\"b.qyaml\","
        "\"path\":\"z\",\"message\":\"unknown field\",\"severity\":\"warning\",\"rule\":\"QY025\","
        "\"line\":1}]}");
    eco_buf_reset(&out);
    eco_governance_report_text(&r, &out);
    assert_string_equal(eco_buf_cstr(&out), "a\"b.qyaml:7: x.y: must be a UUID v1 [QY030] (error)\n"
                                            "a\"b.qyaml:1: z: unknown field [QY025] (warning)\n");
    eco_buf_free(&out);
    eco_governance_report_free(&r);
}

static void test_rule_table(void **state)
{
    (void)state;
    size_t n;
    const eco_governance_rule_t *rules = eco_governance_rules(&n);
    assert_true(n >= 40);
    for (size_t i = 1; i < n; i++)
        assert_true(strcmp(rules[i - 1].id, rules[i].id) < 0);
    assert_null(eco_governance_rule("QY999"));
}

/* ---------- UUID v1 ---------- */

#define GREGORIAN_OFFSET 0x01B21DD213814000ULL

static int hexv(char c)
{
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

static void test_uuid_v1(void **state)
{
    (void)state;
    char prev[37] = "", u[37];
    uint64_t prev_ts = 0;
    char node0[13] = "";
    for (int i = 0; i < 20000; i++) {
        eco_governance_uuid_v1(u);
        assert_int_equal(strlen(u), 36);
        assert_true(eco_governance_is_uuid_v1(u, 36));
        assert_int_equal(u[14], '1');            /* version */
        assert_true((hexv(u[19]) & 0xc) == 0x8); /* variant 10x */
        assert_true(hexv(u[25]) & 0x1);          /* multicast bit of node[0] */
        uint64_t ts;
        assert_int_equal(eco_governance_uuid_v1_time(u, &ts), 0);
        assert_true(ts > prev_ts); /* strictly increasing */
        assert_string_not_equal(u, prev);
        if (i == 0)
            memcpy(node0, u + 24, 12);
        else
            assert_memory_equal(node0, u + 24, 12);                   /* stable node id */
        assert_memory_equal(prev[0] ? prev + 19 : u + 19, u + 19, 4); /* stable clock sequence */
        prev_ts = ts;
        memcpy(prev, u, sizeof(u));
    }
    /* The timestamp is the current time in 100 ns units since 1582-10-15. */
    uint64_t ts;
    eco_governance_uuid_v1(u);
    eco_governance_uuid_v1_time(u, &ts);
    uint64_t unix_s = (ts - GREGORIAN_OFFSET) / 10000000u;
    uint64_t now = (uint64_t)time(NULL);
    assert_true(unix_s + 5 >= now && unix_s <= now + 5);
    assert_int_equal(eco_governance_uuid_v1_time("550e8400-e29b-41d4-a716-446655440000", &ts), ECO_EINVAL);
    assert_int_equal(eco_governance_uuid_v1_time("not a uuid", &ts), ECO_EINVAL);
}

static void test_uuid_known_value(void **state)
{
    (void)state;
    /* RFC 4122 era example: 6ba7b810-9dad-11d1-80b4-00c04fd430c8 is 1998-02-04T22:13:53.151182Z. */
    uint64_t ts;
    assert_int_equal(eco_governance_uuid_v1_time("6ba7b810-9dad-11d1-80b4-00c04fd430c8", &ts), 0);
    assert_true(ts == 0x1d19dad6ba7b810ULL);
    assert_int_equal((ts - GREGORIAN_OFFSET) / 10000000u, 886630433u);
}

/* ---------- generate ---------- */

static void generate_ok(const eco_governance_module_t *m, eco_buf_t *out)
{
    char err[256] = "";
    eco_buf_reset(out);
    int rc = eco_governance_generate(m, out, err, sizeof(err));
    if (rc != 0)
        fail_msg("generate failed: %s", err);
    eco_governance_report_t r;
    int vrc = validate_str(eco_buf_cstr(out), &r);
    if (r.len) {
        print_message("%s", eco_buf_cstr(out));
        dump(&r);
    }
    assert_int_equal(vrc, 0);
    assert_int_equal(r.len, 0);
    eco_governance_report_free(&r);
}

static void test_generate_round_trip(void **state)
{
    (void)state;
    eco_buf_t out = ECO_BUF_INIT;
    int ports[] = {8000, 50051, 9090};
    const char *deps[] = {"ai-service", "redis", "postgres"};
    eco_governance_module_t m = {.name = "root-gateway", .image = "ghcr.io/eco-base/root-gateway:1.2.3"};
    generate_ok(&m, &out);
    const char *s = eco_buf_cstr(&out);
    assert_non_null(strstr(s, "containerPort: 8080\n"));
    assert_non_null(strstr(s, "app.kubernetes.io/version: \"1.2.3\"\n"));
    assert_non_null(strstr(s, "runAsNonRoot: true\n"));
    assert_non_null(strstr(s, "runAsUser: 10001\n"));
    assert_non_null(strstr(s, "readOnlyRootFilesystem: true\n"));
    assert_non_null(strstr(s, "allowPrivilegeEscalation: false\n"));
    assert_non_null(strstr(s, "drop: [\"ALL\"]\n"));
    assert_non_null(strstr(s, "type: RuntimeDefault\n"));
    assert_non_null(strstr(s, "path: /health\n"));
    assert_non_null(strstr(s, "path: /ready\n"));
    assert_non_null(strstr(s, "requests:\n"));
    assert_non_null(strstr(s, "limits:\n"));
    assert_non_null(strstr(s, "app.kubernetes.io/part-of: eco-base\n"));
    assert_non_null(strstr(s, "contextual_binding: \"root-gateway -> []\""));

    m = (eco_governance_module_t){.name = "ai-service",
                                  .image = "ghcr.io/eco-base/ai-service@sha256:0123abcd",
                                  .ports = ports,
                                  .nports = 3,
                                  .depends_on = deps,
                                  .ndepends_on = 3,
                                  .namespace_ = "eco-base-staging",
                                  .component = "inference",
                                  .owner = "ml-team",
                                  .created_at = 1767225600};
    generate_ok(&m, &out);
    s = eco_buf_cstr(&out);
    assert_non_null(strstr(s, "app.kubernetes.io/version: \"" ECO_VERSION "\"\n")); /* digest, no tag */
    assert_non_null(strstr(s, "created_at: \"2026-01-01T00:00:00Z\"\n"));
    assert_non_null(strstr(s, "target_system: gke-staging\n"));
    assert_non_null(strstr(s, "cross_layer_binding: [ai-service, redis, postgres]\n"));
    assert_non_null(strstr(s, "contextual_binding: \"ai-service -> [ai-service, redis, postgres]\""));
    assert_non_null(strstr(s, "service_endpoint: \"http://ai-service.eco-base-staging.svc.cluster.local:8000\""));
    assert_non_null(strstr(s, "name: port-50051\n"));
    assert_non_null(strstr(s, "urn: \"urn:eco-base:k8s:eco-base-staging:deployment:ai-service:"));

    /* Two generations never share a unique_id. */
    eco_buf_t again = ECO_BUF_INIT;
    generate_ok(&m, &again);
    assert_string_not_equal(eco_buf_cstr(&out), eco_buf_cstr(&again));
    eco_buf_free(&again);
    eco_buf_free(&out);
}

static void test_generate_rejects(void **state)
{
    (void)state;
    int bad_port[] = {0};
    int dup_ports[] = {80, 80};
    const char *bad_dep[] = {"Redis"};
    const eco_governance_module_t cases[] = {
        {.name = NULL, .image = "x"},
        {.name = "Demo", .image = "x"},
        {.name = "1demo", .image = "x"},
        {.name = "demo", .image = NULL},
        {.name = "demo", .image = "x y"},
        {.name = "demo", .image = "x\"\n"},
        {.name = "demo", .image = "x", .namespace_ = "default"},
        {.name = "demo", .image = "x", .ports = bad_port, .nports = 1},
        {.name = "demo", .image = "x", .ports = dup_ports, .nports = 2},
        {.name = "demo", .image = "x", .depends_on = bad_dep, .ndepends_on = 1},
        {.name = "demo", .image = "x", .version = "1.0-"},
        {.name = "demo", .image = "x", .owner = "Platform Team"},
    };
    for (size_t i = 0; i < ECO_ARRAY_SIZE(cases); i++) {
        eco_buf_t out = ECO_BUF_INIT;
        char err[256] = "";
        assert_int_equal(eco_governance_generate(&cases[i], &out, err, sizeof(err)), ECO_EINVAL);
        assert_true(strncmp(err, "--", 2) == 0);
        assert_int_equal(out.len, 0);
        eco_buf_free(&out);
    }
}

/* ---------- strip ---------- */

static int node_equal(const eco__gov_node_t *a, const eco__gov_node_t *b)
{
    if (a->kind != b->kind || a->n != b->n)
        return 0;
    if (a->kind == ECO__GOV_SCALAR)
        return a->type == b->type && a->len == b->len && memcmp(a->value, b->value, a->len) == 0;
    size_t items = a->kind == ECO__GOV_MAP ? 2 * a->n : a->n;
    for (size_t i = 0; i < items; i++)
        if (!node_equal(a->items[i], b->items[i]))
            return 0;
    return 1;
}

static void test_strip(void **state)
{
    (void)state;
    eco_buf_t out = ECO_BUF_INIT;
    eco_governance_report_t r;
    eco_governance_report_init(&r);
    assert_int_equal(eco_governance_strip("b", base, strlen(base), &out, &r), 0);
    assert_int_equal(r.len, 0);
    const char *s = eco_buf_cstr(&out);
    assert_null(strstr(s, "document_metadata"));
    assert_null(strstr(s, "governance_info"));
    assert_null(strstr(s, "# "));
    assert_true(strncmp(s, "---", 3) == 0);

    eco__gov_stream_t a, b;
    assert_int_equal(eco__gov_parse("a", base, strlen(base), &a, &r), 0);
    assert_int_equal(eco__gov_parse("b", out.base, out.len, &b, &r), 0);
    assert_int_equal(b.ndocs, 2);
    size_t k = 0;
    for (size_t i = 0; i < a.ndocs; i++) {
        if (a.docs[i].cls != ECO__GOV_DOC_K8S)
            continue;
        assert_true(k < b.ndocs);
        assert_int_equal(b.docs[k].cls, ECO__GOV_DOC_K8S);
        assert_true(node_equal(a.docs[i].root, b.docs[k].root));
        k++;
    }
    assert_int_equal(k, b.ndocs);
    /* Stripping plain YAML again changes nothing. */
    eco_buf_t again = ECO_BUF_INIT;
    assert_int_equal(eco_governance_strip("b", out.base, out.len, &again, &r), 0);
    assert_string_equal(eco_buf_cstr(&again), s);
    eco_buf_free(&again);
    eco__gov_stream_free(&a);
    eco__gov_stream_free(&b);
    eco_governance_report_free(&r);
    eco_buf_free(&out);
}

static void test_strip_refuses_ambiguous(void **state)
{
    (void)state;
    const char *text = "---\na: &x 1\nb: *x\n";
    eco_buf_t out = ECO_BUF_INIT;
    eco_governance_report_t r;
    eco_governance_report_init(&r);
    assert_int_equal(eco_governance_strip("x", text, strlen(text), &out, &r), ECO_EINVAL);
    expect_only(&r, "QY005", NULL);
    assert_int_equal(out.len, 0);
    eco_governance_report_free(&r);
    eco_buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_is_clean),
        cmocka_unit_test(test_rules_fire),
        cmocka_unit_test(test_rules_quiet),
        cmocka_unit_test(test_stream_rules),
        cmocka_unit_test(test_governance_without_metadata),
        cmocka_unit_test(test_lexical_lines),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_issue_cap),
        cmocka_unit_test(test_garbage_never_crashes),
        cmocka_unit_test(test_resolve),
        cmocka_unit_test(test_paths_and_render),
        cmocka_unit_test(test_rule_table),
        cmocka_unit_test(test_uuid_v1),
        cmocka_unit_test(test_uuid_known_value),
        cmocka_unit_test(test_generate_round_trip),
        cmocka_unit_test(test_generate_rejects),
        cmocka_unit_test(test_strip),
        cmocka_unit_test(test_strip_refuses_ambiguous),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
