/* Rules for the Kubernetes documents of a .qyaml stream (QY050-QY055): the minimum the
 * governance layer needs (identity, namespace, app.kubernetes.io labels). Security rules for
 * workloads live in the Rego policies (policy/). */
#include "governance_internal.h"

#include <string.h>

static const char *const namespaces[] = {"eco-base", "eco-base-staging", "argocd", "monitoring"};

/* Kinds whose pods are described by a template, and where that template lives. */
static const struct {
    const char *kind;
    const char *const template_path[4]; /* keys from the document root; NULL-terminated */
} workloads[] = {
    {"Deployment", {"spec", "template", NULL}},
    {"StatefulSet", {"spec", "template", NULL}},
    {"DaemonSet", {"spec", "template", NULL}},
    {"ReplicaSet", {"spec", "template", NULL}},
    {"Job", {"spec", "template", NULL}},
    {"CronJob", {"spec", "jobTemplate", "spec", "template"}},
    {"Pod", {NULL}},
};

static const char *const all_labels[] = {"app.kubernetes.io/name", "app.kubernetes.io/part-of"};
static const char *const workload_labels[] = {"app.kubernetes.io/name", "app.kubernetes.io/instance",
                                              "app.kubernetes.io/version", "app.kubernetes.io/component",
                                              "app.kubernetes.io/part-of"};

/* Checks the labels of `meta` (a metadata mapping at `prefix`, possibly missing). */
static void check_labels(const eco__gov_stream_t *s, eco_governance_report_t *r, const char *prefix,
                         const eco__gov_node_t *meta, int line, const char *const *want, size_t nwant)
{
    const eco__gov_node_t *labels = eco__gov_get(meta, "labels");
    int at = labels ? labels->line : meta ? meta->line : line;
    eco_buf_t path;
    eco_buf_init(&path, 1024);
    for (size_t i = 0; i < nwant; i++) {
        eco_buf_reset(&path);
        eco_buf_adds(&path, prefix);
        eco__gov_path_key(&path, "labels", 6);
        eco__gov_path_key(&path, want[i], strlen(want[i]));
        const eco__gov_node_t *v = eco__gov_get(labels, want[i]);
        if (!eco__gov_is_nonempty_str(v))
            eco__gov_issue(r, s->name, eco_buf_cstr(&path), v ? v->line : at, "QY054", "required");
        else if (strcmp(want[i], "app.kubernetes.io/part-of") == 0 && !eco__gov_str_eq(v, "eco-base"))
            eco__gov_issue(r, s->name, eco_buf_cstr(&path), v->line, "QY055", "must be eco-base");
    }
    eco_buf_free(&path);
}

void eco__gov_validate_k8s(const eco__gov_stream_t *s, const eco__gov_doc_t *d, eco_governance_report_t *r)
{
    const eco__gov_node_t *root = d->root;
    const eco__gov_node_t *api = eco__gov_get(root, "apiVersion");
    const eco__gov_node_t *kind = eco__gov_get(root, "kind");
    const eco__gov_node_t *md = eco__gov_get(root, "metadata");
    if (!eco__gov_is_nonempty_str(api))
        eco__gov_issue(r, s->name, "apiVersion", api ? api->line : d->line, "QY050", "must be a non-empty string");
    if (!eco__gov_is_nonempty_str(kind))
        eco__gov_issue(r, s->name, "kind", kind ? kind->line : d->line, "QY051", "must be a non-empty string");
    if (!md || md->kind != ECO__GOV_MAP) {
        eco__gov_issue(r, s->name, "metadata", md ? md->line : d->line, "QY052", "must be a mapping");
        return;
    }
    const eco__gov_node_t *name = eco__gov_get(md, "name");
    if (!eco__gov_is_str(name) || !eco__gov_is_dns1123_subdomain(name->value, name->len))
        eco__gov_issue(r, s->name, "metadata.name", name ? name->line : md->line, "QY052",
                       "must be a DNS-1123 subdomain");
    const eco__gov_node_t *ns = eco__gov_get(md, "namespace");
    if (!eco__gov_is_null(ns)) {
        int ok = 0;
        for (size_t i = 0; i < ECO_ARRAY_SIZE(namespaces) && !ok; i++)
            ok = eco__gov_str_eq(ns, namespaces[i]);
        if (!ok)
            eco__gov_issue(r, s->name, "metadata.namespace", ns->line, "QY053",
                           "must be one of eco-base, eco-base-staging, argocd, monitoring");
    }

    size_t w = ECO_ARRAY_SIZE(workloads);
    for (size_t i = 0; i < ECO_ARRAY_SIZE(workloads); i++)
        if (eco__gov_str_eq(kind, workloads[i].kind))
            w = i;
    if (w == ECO_ARRAY_SIZE(workloads)) {
        check_labels(s, r, "metadata", md, d->line, all_labels, ECO_ARRAY_SIZE(all_labels));
        return;
    }
    check_labels(s, r, "metadata", md, d->line, workload_labels, ECO_ARRAY_SIZE(workload_labels));
    if (!workloads[w].template_path[0])
        return;
    const eco__gov_node_t *t = root;
    eco_buf_t prefix = ECO_BUF_INIT;
    for (size_t k = 0; k < 4 && workloads[w].template_path[k] && t; k++) {
        const char *key = workloads[w].template_path[k];
        t = eco__gov_get(t, key);
        eco__gov_path_key(&prefix, key, strlen(key));
    }
    /* A workload without a pod template is broken in ways kubeconform reports; only a
     * present template is checked here. */
    if (t && t->kind == ECO__GOV_MAP) {
        const eco__gov_node_t *tmd = eco__gov_get(t, "metadata");
        eco__gov_path_key(&prefix, "metadata", 8);
        check_labels(s, r, eco_buf_cstr(&prefix), tmd && tmd->kind == ECO__GOV_MAP ? tmd : NULL, t->line,
                     workload_labels, ECO_ARRAY_SIZE(workload_labels));
    }
    eco_buf_free(&prefix);
}
