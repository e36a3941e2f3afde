# METADATA
# title: .qyaml rules for the Kubernetes documents of a .qyaml file (per document)
# description: |
#   QY050-QY055 of docs/qyaml.md with the exact messages; governance documents are skipped
#   (qyaml.governance), as are null documents and non-mappings (QY016 is in qyaml.governance).
package qyaml.resources

import data.qyaml.lib

is_k8s if lib.is_kubernetes(input)

deny contains lib.issue("apiVersion", "must be a non-empty string", "QY050") if {
	is_k8s
	not lib.non_empty_string(object.get(input, "apiVersion", null))
}

deny contains lib.issue("kind", "must be a non-empty string", "QY051") if {
	is_k8s
	not lib.non_empty_string(object.get(input, "kind", null))
}

deny contains lib.issue("metadata", "must be a mapping", "QY052") if {
	is_k8s
	not is_object(object.get(input, "metadata", null))
}

metadata := input.metadata if {
	is_k8s
	is_object(input.metadata)
}

deny contains lib.issue("metadata.name", "must be a DNS-1123 subdomain", "QY052") if {
	not lib.dns1123_subdomain(object.get(metadata, "name", null))
}

allowed_namespaces := {"eco-base", "eco-base-staging", "argocd", "monitoring"}

deny contains lib.issue("metadata.namespace", "must be one of eco-base, eco-base-staging, argocd, monitoring", "QY053") if {
	ns := object.get(metadata, "namespace", null)
	ns != null
	not ns in allowed_namespaces
}

# ---------------------------------------------------------------- labels (QY054, QY055)

workload_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod"}

base_labels := ["app.kubernetes.io/name", "app.kubernetes.io/part-of"]

workload_labels := [
	"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
	"app.kubernetes.io/component", "app.kubernetes.io/part-of",
]

required_labels := workload_labels if input.kind in workload_kinds

required_labels := base_labels if not input.kind in workload_kinds

# [path prefix, labels value] of every label set that is checked
label_sets contains ["metadata", object.get(metadata, "labels", null)]

label_sets contains ["spec.template.metadata", object.get(tpl, ["metadata", "labels"], null)] if {
	metadata
	input.kind in (workload_kinds - {"CronJob", "Pod"})
	tpl := input.spec.template
	is_object(tpl)
}

label_sets contains ["spec.jobTemplate.spec.template.metadata", object.get(tpl, ["metadata", "labels"], null)] if {
	metadata
	input.kind == "CronJob"
	tpl := input.spec.jobTemplate.spec.template
	is_object(tpl)
}

# null when absent (a ref left undefined inside `not f(...)` would make the rule body fail)
label_value(labels, l) := object.get(labels, l, null) if is_object(labels)

label_value(labels, _) := null if not is_object(labels)

deny contains lib.issue(sprintf("%s.labels[%s]", [s[0], json.marshal(l)]), "required", "QY054") if {
	some s in label_sets
	some l in required_labels
	not lib.non_empty_string(label_value(s[1], l))
}

deny contains lib.issue(sprintf("%s.labels[%s]", [s[0], json.marshal(l)]), "must be eco-base", "QY055") if {
	some s in label_sets
	l := "app.kubernetes.io/part-of"
	v := label_value(s[1], l)
	lib.non_empty_string(v)
	v != "eco-base"
}
