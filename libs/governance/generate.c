/* qyaml generate: a governed manifest for one module: a hardened Deployment, a Service and
 * the governance document (fresh UUID v1, URI and URN naming the Deployment). Inputs are
 * checked first, so every value written below is either a fixed literal, a checked name, or
 * a JSON string (a valid YAML double-quoted scalar). */
#include "governance_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define GEN_MAX_PORTS    16
#define GEN_MAX_DEPS     32
#define GEN_DEFAULT_PORT 8080
#define GEN_UID          10001

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return ECO_EINVAL;
}

/* DNS-1035 label: a Service name must start with a letter. */
static int dns1035(const char *s)
{
    size_t n = strlen(s);
    return eco__gov_is_dns1123_label(s, n) && s[0] >= 'a' && s[0] <= 'z';
}

static int image_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 512)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("._-/:@", c)))
            return 0;
    }
    return 1;
}

/* The tag of an image reference ("ghcr.io/eco-base/x:1.2.3@sha256:..." -> "1.2.3"), or "". */
static void image_tag(const char *image, char *out, size_t cap)
{
    out[0] = '\0';
    size_t n = strcspn(image, "@");
    const char *slash = NULL;
    for (size_t i = 0; i < n; i++)
        if (image[i] == '/')
            slash = image + i;
    const char *start = slash ? slash + 1 : image;
    const char *colon = memchr(start, ':', (size_t)(image + n - start));
    if (!colon)
        return;
    size_t tl = (size_t)(image + n - colon - 1);
    if (tl + 1 > cap)
        return;
    memcpy(out, colon + 1, tl);
    out[tl] = '\0';
}

static void labels(eco_buf_t *b, int indent, const eco_governance_module_t *m, const char *version,
                   const char *component)
{
    eco_buf_addf(b, "%*sapp.kubernetes.io/name: %s\n", indent, "", m->name);
    eco_buf_addf(b, "%*sapp.kubernetes.io/instance: %s\n", indent, "", m->name);
    eco_buf_addf(b, "%*sapp.kubernetes.io/version: ", indent, "");
    eco_buf_add_json_str(b, version, (size_t)-1);
    eco_buf_addf(b, "\n%*sapp.kubernetes.io/component: ", indent, "");
    eco_buf_add_json_str(b, component, (size_t)-1);
    eco_buf_addf(b, "\n%*sapp.kubernetes.io/part-of: eco-base\n", indent, "");
}

static void port_name(char out[16], size_t i, int port)
{
    if (i == 0)
        snprintf(out, 16, "http");
    else
        snprintf(out, 16, "port-%d", port);
}

static const char security_context[] = "          securityContext:\n"
                                       "            runAsNonRoot: true\n"
                                       "            runAsUser: 10001\n"
                                       "            runAsGroup: 10001\n"
                                       "            allowPrivilegeEscalation: false\n"
                                       "            readOnlyRootFilesystem: true\n"
                                       "            privileged: false\n"
                                       "            capabilities:\n"
                                       "              drop: [\"ALL\"]\n"
                                       "            seccompProfile:\n"
                                       "              type: RuntimeDefault\n";

static void deployment(eco_buf_t *b, const eco_governance_module_t *m, const char *ns, const char *version,
                       const char *component, const int *ports, size_t nports)
{
    eco_buf_adds(b, "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n");
    eco_buf_addf(b, "  name: %s\n  namespace: %s\n  labels:\n", m->name, ns);
    labels(b, 4, m, version, component);
    eco_buf_adds(b, "spec:\n  replicas: 2\n  revisionHistoryLimit: 5\n  selector:\n    matchLabels:\n");
    eco_buf_addf(b, "      app.kubernetes.io/name: %s\n      app.kubernetes.io/instance: %s\n", m->name, m->name);
    eco_buf_adds(b, "  template:\n    metadata:\n      labels:\n");
    labels(b, 8, m, version, component);
    eco_buf_adds(b, "    spec:\n"
                    "      automountServiceAccountToken: false\n"
                    "      terminationGracePeriodSeconds: 30\n"
                    "      securityContext:\n"
                    "        runAsNonRoot: true\n"
                    "        runAsUser: 10001\n"
                    "        runAsGroup: 10001\n"
                    "        fsGroup: 10001\n"
                    "        seccompProfile:\n"
                    "          type: RuntimeDefault\n"
                    "      containers:\n");
    eco_buf_addf(b, "        - name: %s\n          image: ", m->name);
    eco_buf_add_json_str(b, m->image, (size_t)-1);
    eco_buf_adds(b, "\n          imagePullPolicy: IfNotPresent\n          ports:\n");
    for (size_t i = 0; i < nports; i++) {
        char pn[16];
        port_name(pn, i, ports[i]);
        eco_buf_addf(b, "            - name: %s\n              containerPort: %d\n              protocol: TCP\n", pn,
                     ports[i]);
    }
    eco_buf_addf(b,
                 "          env:\n"
                 "            - name: ECO_HTTP_PORT\n"
                 "              value: \"%d\"\n"
                 "            - name: ECO_BIND_ADDR\n"
                 "              value: \"0.0.0.0\"\n",
                 ports[0]);
    eco_buf_adds(b, security_context);
    eco_buf_adds(b, "          resources:\n"
                    "            requests:\n"
                    "              cpu: 100m\n"
                    "              memory: 128Mi\n"
                    "            limits:\n"
                    "              cpu: \"1\"\n"
                    "              memory: 512Mi\n"
                    "          livenessProbe:\n"
                    "            httpGet:\n"
                    "              path: /health\n"
                    "              port: http\n"
                    "            initialDelaySeconds: 5\n"
                    "            periodSeconds: 10\n"
                    "            timeoutSeconds: 2\n"
                    "            failureThreshold: 3\n"
                    "          readinessProbe:\n"
                    "            httpGet:\n"
                    "              path: /ready\n"
                    "              port: http\n"
                    "            periodSeconds: 5\n"
                    "            timeoutSeconds: 2\n"
                    "            failureThreshold: 3\n"
                    "          volumeMounts:\n"
                    "            - name: tmp\n"
                    "              mountPath: /tmp\n"
                    "      volumes:\n"
                    "        - name: tmp\n"
                    "          emptyDir:\n"
                    "            sizeLimit: 64Mi\n");
}

static void service(eco_buf_t *b, const eco_governance_module_t *m, const char *ns, const char *version,
                    const char *component, const int *ports, size_t nports)
{
    eco_buf_adds(b, "---\napiVersion: v1\nkind: Service\nmetadata:\n");
    eco_buf_addf(b, "  name: %s\n  namespace: %s\n  labels:\n", m->name, ns);
    labels(b, 4, m, version, component);
    eco_buf_adds(b, "spec:\n  type: ClusterIP\n  selector:\n");
    eco_buf_addf(b, "    app.kubernetes.io/name: %s\n    app.kubernetes.io/instance: %s\n  ports:\n", m->name, m->name);
    for (size_t i = 0; i < nports; i++) {
        char pn[16];
        port_name(pn, i, ports[i]);
        eco_buf_addf(b, "    - name: %s\n      port: %d\n      targetPort: %s\n      protocol: TCP\n", pn, ports[i],
                     pn);
    }
}

static void string_list(eco_buf_t *b, const char *const *items, size_t n)
{
    eco_buf_addc(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            eco_buf_adds(b, ", ");
        eco_buf_adds(b, items[i]);
    }
    eco_buf_addc(b, ']');
}

static void governance(eco_buf_t *b, const eco_governance_module_t *m, const char *ns, const char *owner, int port)
{
    char uuid[37], when[32];
    eco_governance_uuid_v1(uuid);
    time_t t = m->created_at ? (time_t)m->created_at : time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);

    eco_buf_adds(b, "---\n# eco-base governance document (qyaml generate); see docs/qyaml.md\n");
    eco_buf_addf(b, "document_metadata:\n  unique_id: \"%s\"\n", uuid);
    eco_buf_addf(b, "  uri: \"eco-base://k8s/%s/deployment/%s\"\n", ns, m->name);
    eco_buf_addf(b, "  urn: \"urn:eco-base:k8s:%s:deployment:%s:%s\"\n", ns, m->name, uuid);
    eco_buf_addf(b, "  target_system: %s\n", strcmp(ns, "eco-base-staging") == 0 ? "gke-staging" : "gke-production");
    eco_buf_adds(b, "  cross_layer_binding: ");
    string_list(b, m->depends_on, m->ndepends_on);
    eco_buf_addf(b, "\n  schema_version: v8\n  generated_by: qyaml-v%s\n  created_at: \"%s\"\n", ECO_VERSION, when);
    eco_buf_adds(b, "governance_info:\n  owner: ");
    eco_buf_add_json_str(b, owner, (size_t)-1);
    eco_buf_adds(b, "\n  approval_chain: [");
    eco_buf_add_json_str(b, owner, (size_t)-1);
    eco_buf_adds(b, "]\n  compliance_tags: [zero-trust, least-privilege, internal]\n  lifecycle_policy: active\n");
    eco_buf_addf(b,
                 "registry_binding:\n  service_endpoint: \"http://%s.%s.svc.cluster.local:%d\"\n"
                 "  discovery_protocol: k8s-dns\n  health_check_path: /health\n  registry_ttl: 30\n"
                 "  k8s_namespace: %s\n",
                 m->name, ns, port, ns);
    eco_buf_adds(b, "vector_alignment_map:\n  alignment_model: BAAI/bge-large-en-v1.5\n"
                    "  coherence_vector_dim: 1024\n  function_keyword: [");
    /* The name's words: "root-gateway" -> [root, gateway]. */
    const char *p = m->name;
    int first = 1;
    while (*p) {
        size_t w = strcspn(p, "-");
        if (w) {
            eco_buf_adds(b, first ? "" : ", ");
            eco_buf_add_json_str(b, p, w);
            first = 0;
        }
        p += w + (p[w] == '-');
    }
    eco_buf_addf(b, "]\n  contextual_binding: \"%s -> ", m->name);
    string_list(b, m->depends_on, m->ndepends_on);
    eco_buf_adds(b, "\"\n");
}

int eco_governance_generate(const eco_governance_module_t *m, eco_buf_t *out, char *err, size_t errlen)
{
    static const int default_port = GEN_DEFAULT_PORT;
    if (!m->name || !dns1035(m->name))
        return fail(err, errlen,
                    "--name: must be a DNS-1035 label (a-z, 0-9, '-', starting with a letter, "
                    "at most 63 characters)");
    if (!m->image || !image_ok(m->image))
        return fail(err, errlen, "--image: must be an image reference (letters, digits, . _ - / : @)");
    const char *ns = m->namespace_ ? m->namespace_ : "eco-base";
    if (strcmp(ns, "eco-base") && strcmp(ns, "eco-base-staging") && strcmp(ns, "argocd") && strcmp(ns, "monitoring"))
        return fail(err, errlen, "--namespace: must be one of eco-base, eco-base-staging, argocd, monitoring");
    const int *ports = m->nports ? m->ports : &default_port;
    size_t nports = m->nports ? m->nports : 1;
    if (nports > GEN_MAX_PORTS)
        return fail(err, errlen, "--port: at most %d ports", GEN_MAX_PORTS);
    for (size_t i = 0; i < nports; i++) {
        if (ports[i] < 1 || ports[i] > 65535)
            return fail(err, errlen, "--port: %d is not a port 1-65535", ports[i]);
        for (size_t j = 0; j < i; j++)
            if (ports[j] == ports[i])
                return fail(err, errlen, "--port: %d given twice", ports[i]);
    }
    if (m->ndepends_on > GEN_MAX_DEPS)
        return fail(err, errlen, "--depends-on: at most %d dependencies", GEN_MAX_DEPS);
    for (size_t i = 0; i < m->ndepends_on; i++)
        if (!m->depends_on[i] || !eco__gov_is_dns1123_label(m->depends_on[i], strlen(m->depends_on[i])))
            return fail(err, errlen, "--depends-on: \"%s\" is not a DNS-1123 label",
                        m->depends_on[i] ? m->depends_on[i] : "");
    char tag[130];
    image_tag(m->image, tag, sizeof(tag));
    const char *version = m->version ? m->version : eco__gov_is_label_value(tag, strlen(tag)) ? tag : ECO_VERSION;
    if (!eco__gov_is_label_value(version, strlen(version)))
        return fail(err, errlen,
                    "--version: must be a label value (at most 63 of A-Z a-z 0-9 - _ ., alphanumeric "
                    "at both ends)");
    const char *component = m->component ? m->component : "service";
    if (!eco__gov_is_label_value(component, strlen(component)))
        return fail(err, errlen, "--component: must be a label value");
    const char *owner = m->owner ? m->owner : "platform-team";
    if (!eco__gov_is_kebab(owner, strlen(owner)))
        return fail(err, errlen, "--owner: must be lower-case kebab-case");

    eco_buf_addf(out, "# %s: governed manifest generated by qyaml %s (docs/qyaml.md)\n", m->name, ECO_VERSION);
    deployment(out, m, ns, version, component, ports, nports);
    service(out, m, ns, version, component, ports, nports);
    governance(out, m, ns, owner, ports[0]);
    return eco_buf_ok(out) ? 0 : ECO_ENOSPC;
}
