package qyaml.resources_test

import data.qyaml.resources

labels5 := {
	"app.kubernetes.io/name": "demo",
	"app.kubernetes.io/instance": "demo",
	"app.kubernetes.io/version": "0.1.0",
	"app.kubernetes.io/component": "service",
	"app.kubernetes.io/part-of": "eco-base",
}

service := {
	"apiVersion": "v1",
	"kind": "Service",
	"metadata": {"name": "demo", "namespace": "eco-base", "labels": {"app.kubernetes.io/name": "demo", "app.kubernetes.io/part-of": "eco-base"}},
	"spec": {"ports": [{"port": 80}]},
}

deployment := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "demo", "namespace": "eco-base", "labels": labels5},
	"spec": {"template": {"metadata": {"labels": labels5}, "spec": {"containers": []}}},
}

cronjob := {
	"apiVersion": "batch/v1",
	"kind": "CronJob",
	"metadata": {"name": "demo", "labels": labels5},
	"spec": {"jobTemplate": {"spec": {"template": {"metadata": {"labels": labels5}, "spec": {}}}}},
}

pod := {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "demo", "labels": labels5}, "spec": {}}

test_good_documents_have_no_issue[name] if {
	some name, doc in {"service": service, "deployment": deployment, "cronjob": cronjob, "pod": pod}
	count(resources.deny) == 0 with input as doc
}

cases := {
	"QY050 missing": [service, [{"op": "remove", "path": "/apiVersion"}], "apiVersion: must be a non-empty string [QY050]"],
	"QY050 empty": [service, [{"op": "replace", "path": "/apiVersion", "value": ""}], "apiVersion: must be a non-empty string [QY050]"],
	"QY051 missing": [service, [{"op": "remove", "path": "/kind"}], "kind: must be a non-empty string [QY051]"],
	"QY052 metadata": [service, [{"op": "replace", "path": "/metadata", "value": "x"}], "metadata: must be a mapping [QY052]"],
	"QY052 name": [service, [{"op": "replace", "path": "/metadata/name", "value": "Demo_Svc"}], "metadata.name: must be a DNS-1123 subdomain [QY052]"],
	"QY052 no name": [service, [{"op": "remove", "path": "/metadata/name"}], "metadata.name: must be a DNS-1123 subdomain [QY052]"],
	"QY053 default": [service, [{"op": "replace", "path": "/metadata/namespace", "value": "default"}], "metadata.namespace: must be one of eco-base, eco-base-staging, argocd, monitoring [QY053]"],
	"QY054 name label": [service, [{"op": "remove", "path": "/metadata/labels/app.kubernetes.io~1name"}], `metadata.labels["app.kubernetes.io/name"]: required [QY054]`],
	"QY054 no labels": [service, [{"op": "remove", "path": "/metadata/labels"}], `metadata.labels["app.kubernetes.io/part-of"]: required [QY054]`],
	"QY054 template": [deployment, [{"op": "remove", "path": "/spec/template/metadata/labels/app.kubernetes.io~1version"}], `spec.template.metadata.labels["app.kubernetes.io/version"]: required [QY054]`],
	"QY054 template without metadata": [deployment, [{"op": "remove", "path": "/spec/template/metadata"}], `spec.template.metadata.labels["app.kubernetes.io/component"]: required [QY054]`],
	"QY054 workload": [deployment, [{"op": "remove", "path": "/metadata/labels/app.kubernetes.io~1instance"}], `metadata.labels["app.kubernetes.io/instance"]: required [QY054]`],
	"QY054 cronjob": [cronjob, [{"op": "remove", "path": "/spec/jobTemplate/spec/template/metadata/labels/app.kubernetes.io~1name"}], `spec.jobTemplate.spec.template.metadata.labels["app.kubernetes.io/name"]: required [QY054]`],
	"QY054 pod": [pod, [{"op": "remove", "path": "/metadata/labels/app.kubernetes.io~1component"}], `metadata.labels["app.kubernetes.io/component"]: required [QY054]`],
	"QY055 wrong part-of": [service, [{"op": "replace", "path": "/metadata/labels/app.kubernetes.io~1part-of", "value": "other"}], `metadata.labels["app.kubernetes.io/part-of"]: must be eco-base [QY055]`],
	"QY055 template": [deployment, [{"op": "replace", "path": "/spec/template/metadata/labels/app.kubernetes.io~1part-of", "value": "x"}], `spec.template.metadata.labels["app.kubernetes.io/part-of"]: must be eco-base [QY055]`],
}

test_case_fires[name] if {
	some name, tc in cases
	bad := json.patch(tc[0], tc[1])
	tc[2] in resources.deny with input as bad
}

test_metadata_not_mapping_skips_metadata_rules if {
	denials := resources.deny with input as json.patch(service, [{"op": "remove", "path": "/metadata"}])
	denials == {"metadata: must be a mapping [QY052]"}
}

test_governance_and_null_documents_are_skipped if {
	count(resources.deny) == 0 with input as {"document_metadata": {}, "x": 1}
	count(resources.deny) == 0 with input as null
	count(resources.deny) == 0 with input as "text"
}

test_template_not_a_mapping_is_not_checked if {
	bad := json.patch(deployment, [{"op": "replace", "path": "/spec/template", "value": "x"}])
	count(resources.deny) == 0 with input as bad
}
