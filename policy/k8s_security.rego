# METADATA
# title: Kubernetes security and reliability rules for eco-base manifests
# description: |
#   Per document (conftest's default; `qyaml strip` output, raw .qyaml files with --parser yaml,
#   `helm template` output): Pod Security "restricted" plus eco-base's image, namespace and label
#   rules. .qyaml governance documents, null documents and non-mappings are skipped.
#   With `conftest --combine` (input = [{path, contents}]): every Deployment or StatefulSet with
#   two or more replicas needs a PodDisruptionBudget selecting its pods.
#   Messages: "<Kind>/<name>: <what is wrong>".
package k8s.security

import data.qyaml.lib

# ---------------------------------------------------------------- configuration

allowed_namespaces := {"eco-base", "eco-base-staging", "argocd", "monitoring"}

# our own images: ghcr.io/eco-base/<name>:<semver>
own_registry := "ghcr.io/eco-base/"

# third-party images the project uses, pinned (a "@sha256:<digest>" suffix is also accepted)
pinned_third_party := {
	"docker.io/library/postgres:16.6-bookworm",
	"docker.io/library/redis:7.4.1-bookworm",
	"docker.io/apache/kafka:4.0.0",
	"docker.io/curlimages/curl:8.11.1",
	"quay.io/argoproj/argocd:v2.14.21",
}

workload_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}

# kinds whose containers run indefinitely and so need liveness and readiness probes
long_running_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}

workload_labels := [
	"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
	"app.kubernetes.io/component", "app.kubernetes.io/part-of",
]

base_labels := ["app.kubernetes.io/name", "app.kubernetes.io/part-of"]

# ---------------------------------------------------------------- the document

doc := input if {
	is_object(input)
	not lib.is_governance(input)
	lib.non_empty_string(input.kind)
}

name := sprintf("%s/%s", [doc.kind, object.get(doc, ["metadata", "name"], "<unnamed>")])

pod_spec := doc.spec if doc.kind == "Pod"

pod_spec := doc.spec.template.spec if doc.kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}

pod_spec := doc.spec.jobTemplate.spec.template.spec if doc.kind == "CronJob"

pod_template_labels := object.get(doc, ["spec", "template", "metadata", "labels"], {}) if {
	doc.kind in (workload_kinds - {"Pod", "CronJob"})
}

pod_template_labels := object.get(doc, ["spec", "jobTemplate", "spec", "template", "metadata", "labels"], {}) if {
	doc.kind == "CronJob"
}

# every container, init container and ephemeral container
containers contains c if {
	some field in ["containers", "initContainers", "ephemeralContainers"]
	some c in object.get(pod_spec, field, [])
}

regular_containers contains c if some c in object.get(pod_spec, "containers", [])

csc(c, key) := object.get(c, ["securityContext", key], null)

# container setting, else the pod's
effective(c, key) := v if {
	v := csc(c, key)
	v != null
}

effective(c, key) := object.get(pod_spec, ["securityContext", key], null) if csc(c, key) == null

seccomp_type(c) := t if {
	t := object.get(c, ["securityContext", "seccompProfile", "type"], null)
	t != null
}

seccomp_type(c) := object.get(pod_spec, ["securityContext", "seccompProfile", "type"], null) if {
	object.get(c, ["securityContext", "seccompProfile", "type"], null) == null
}

# ---------------------------------------------------------------- pod security

deny contains sprintf("%s: container %q must set runAsNonRoot: true", [name, c.name]) if {
	some c in containers
	effective(c, "runAsNonRoot") != true
}

deny contains sprintf("%s: container %q must not run as UID 0", [name, c.name]) if {
	some c in containers
	effective(c, "runAsUser") == 0
}

deny contains sprintf("%s: container %q must set readOnlyRootFilesystem: true", [name, c.name]) if {
	some c in containers
	csc(c, "readOnlyRootFilesystem") != true
}

deny contains sprintf("%s: container %q must drop ALL capabilities", [name, c.name]) if {
	some c in containers
	not "ALL" in object.get(c, ["securityContext", "capabilities", "drop"], [])
}

deny contains sprintf("%s: container %q must not add capability %s", [name, c.name, cap]) if {
	some c in containers
	some cap in object.get(c, ["securityContext", "capabilities", "add"], [])
	cap != "NET_BIND_SERVICE"
}

deny contains sprintf("%s: container %q must not be privileged", [name, c.name]) if {
	some c in containers
	csc(c, "privileged") == true
}

deny contains sprintf("%s: container %q must set allowPrivilegeEscalation: false", [name, c.name]) if {
	some c in containers
	csc(c, "allowPrivilegeEscalation") != false
}

deny contains sprintf("%s: container %q must use seccompProfile RuntimeDefault", [name, c.name]) if {
	some c in containers
	not seccomp_type(c) in {"RuntimeDefault", "Localhost"}
}

deny contains sprintf("%s: must not use %s", [name, host]) if {
	some host in ["hostNetwork", "hostPID", "hostIPC"]
	object.get(pod_spec, host, false) == true
}

deny contains sprintf("%s: volume %q must not be a hostPath", [name, v.name]) if {
	some v in object.get(pod_spec, "volumes", [])
	object.get(v, "hostPath", null) != null
}

deny contains sprintf("%s: container %q must not use hostPort", [name, c.name]) if {
	some c in containers
	some p in object.get(c, "ports", [])
	object.get(p, "hostPort", 0) != 0
}

deny contains sprintf("%s: must set automountServiceAccountToken: false", [name]) if {
	pod_spec
	object.get(pod_spec, "automountServiceAccountToken", true) != false
}

# ---------------------------------------------------------------- resources and probes

deny contains sprintf("%s: container %q must set resources.%s.%s", [name, c.name, kind, res]) if {
	some c in containers
	some kind in ["requests", "limits"]
	some res in ["cpu", "memory"]
	object.get(c, ["resources", kind, res], null) == null
}

deny contains sprintf("%s: container %q must have a %s", [name, c.name, probe]) if {
	doc.kind in long_running_kinds
	some c in regular_containers
	some probe in ["livenessProbe", "readinessProbe"]
	object.get(c, probe, null) == null
}

# ---------------------------------------------------------------- images

image_without_digest(img) := split(img, "@")[0]

image_tag(img) := tag if {
	ref := image_without_digest(img)
	parts := split(ref, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	tag := split(last, ":")[1]
}

deny contains sprintf("%s: container %q image %q must not use the latest tag", [name, c.name, c.image]) if {
	some c in containers
	image_tag(c.image) == "latest"
}

deny contains sprintf("%s: container %q image %q must be pinned to a tag or digest", [name, c.name, c.image]) if {
	some c in containers
	not image_tag(c.image)
	not contains(c.image, "@")
}

approved_image(img) if startswith(img, own_registry)

approved_image(img) if image_without_digest(img) in pinned_third_party

deny contains sprintf(
	"%s: container %q image %q is not from an approved registry (ghcr.io/eco-base/ or a pinned third-party image)",
	[name, c.name, c.image],
) if {
	some c in containers
	not approved_image(c.image)
}

# ---------------------------------------------------------------- namespaces

deny contains sprintf("%s: namespace %q is not one of eco-base, eco-base-staging, argocd, monitoring", [name, ns]) if {
	ns := object.get(doc, ["metadata", "namespace"], null)
	ns != null
	not ns in allowed_namespaces
}

deny contains sprintf("%s: namespace %q is not one of eco-base, eco-base-staging, argocd, monitoring", [name, ns]) if {
	doc.kind == "Namespace"
	ns := object.get(doc, ["metadata", "name"], null)
	not ns in allowed_namespaces
}

# ---------------------------------------------------------------- labels

label_sets contains object.get(doc, ["metadata", "labels"], {})

label_sets contains pod_template_labels

required_labels := workload_labels if doc.kind in workload_kinds

required_labels := base_labels if not doc.kind in workload_kinds

deny contains sprintf("%s: missing label %s", [name, l]) if {
	some l in required_labels
	not lib.non_empty_string(object.get(doc, ["metadata", "labels", l], null))
}

deny contains sprintf("%s: pod template missing label %s", [name, l]) if {
	doc.kind in (workload_kinds - {"Pod"})
	some l in workload_labels
	not lib.non_empty_string(object.get(pod_template_labels, l, null))
}

deny contains sprintf("%s: label app.kubernetes.io/part-of must be eco-base", [name]) if {
	some labels in label_sets
	v := object.get(labels, "app.kubernetes.io/part-of", null)
	v != null
	v != "eco-base"
}

# ---------------------------------------------------------------- cross-document (conftest --combine)

combined contains d if {
	is_array(input)
	some e in input
	d := e.contents
	is_object(d)
	not lib.is_governance(d)
	lib.non_empty_string(d.kind)
}

ns_of(d) := object.get(d, ["metadata", "namespace"], "")

# replicas a workload runs with: spec.replicas (default 1), or the minReplicas of an HPA targeting it
replicas(d) := n if {
	not hpa_min(d)
	n := object.get(d, ["spec", "replicas"], 1)
}

replicas(d) := hpa_min(d)

hpa_min(d) := object.get(h, ["spec", "minReplicas"], 1) if {
	some h in combined
	h.kind == "HorizontalPodAutoscaler"
	ns_of(h) == ns_of(d)
	h.spec.scaleTargetRef.kind == d.kind
	h.spec.scaleTargetRef.name == d.metadata.name
}

pdb_selects(pdb, d) if {
	pdb.kind == "PodDisruptionBudget"
	ns_of(pdb) == ns_of(d)
	sel := pdb.spec.selector.matchLabels
	count(sel) > 0
	labels := object.get(d, ["spec", "template", "metadata", "labels"], {})
	every k, v in sel {
		labels[k] == v
	}
}

deny contains sprintf("%s/%s: has %d replicas but no PodDisruptionBudget selects its pods", [d.kind, d.metadata.name, n]) if {
	some d in combined
	d.kind in {"Deployment", "StatefulSet"}
	n := replicas(d)
	n >= 2
	not any_pdb(d)
}

any_pdb(d) if {
	some pdb in combined
	pdb_selects(pdb, d)
}
