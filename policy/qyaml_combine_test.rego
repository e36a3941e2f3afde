package qyaml.combine_test

import data.qyaml.combine

svc := {
	"apiVersion": "v1",
	"kind": "Service",
	"metadata": {"name": "demo-svc", "namespace": "eco-base", "labels": {"app.kubernetes.io/name": "demo", "app.kubernetes.io/part-of": "eco-base"}},
}

ns := {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "eco-base", "labels": {}}}

gov := {
	"document_metadata": {"urn": "urn:eco-base:k8s:eco-base:service:demo-svc:1f0c2a34-1d2e-11f0-9c1a-0242ac120002"},
	"governance_info": {},
	"registry_binding": {},
	"vector_alignment_map": {},
}

# conftest --combine: one entry per document of each file
file(path, docs) := [{"path": path, "contents": d} | some d in docs]

test_valid_file_has_no_issue if {
	count(combine.deny) == 0 with input as file("a.qyaml", [null, svc, gov, null])
}

test_cluster_scoped_primary_resource if {
	g := json.patch(gov, [{"op": "replace", "path": "/document_metadata/urn", "value": "urn:eco-base:k8s:cluster:namespace:eco-base:1f0c2a34-1d2e-11f0-9c1a-0242ac120002"}])
	count(combine.deny) == 0 with input as file("a.qyaml", [ns, svc, g])
}

test_qy010_no_governance if {
	"(file): no governance document [QY010]" in combine.deny with input as file("a.qyaml", [svc])
}

test_qy011_two_governance if {
	denials := combine.deny with input as file("a.qyaml", [svc, gov, gov])
	"(file): more than one governance document [QY011]" in denials
	not "(file): the governance document must be the last document [QY012]" in denials
}

test_qy012_governance_first if {
	"(file): the governance document must be the last document [QY012]" in combine.deny with input as file("a.qyaml", [gov, svc])
}

test_qy012_empty_documents_may_follow if {
	not "(file): the governance document must be the last document [QY012]" in combine.deny with input as file("a.qyaml", [svc, gov, null])
}

test_qy013_no_resources if {
	"(file): no Kubernetes resource document [QY013]" in combine.deny with input as file("a.qyaml", [gov])
}

test_qy014_duplicate_resource if {
	denials := combine.deny with input as file("a.qyaml", [svc, svc, gov])
	"(file): duplicate resource service/eco-base/demo-svc [QY014]" in denials
}

test_qy014_same_name_other_kind_or_namespace if {
	other_ns := json.patch(svc, [{"op": "replace", "path": "/metadata/namespace", "value": "eco-base-staging"}])
	count(combine.deny) == 0 with input as file("a.qyaml", [svc, other_ns, json.patch(svc, [{"op": "replace", "path": "/kind", "value": "ConfigMap"}]), gov])
}

test_qy015_urn_names_nothing if {
	g := json.patch(gov, [{"op": "replace", "path": "/document_metadata/urn", "value": "urn:eco-base:k8s:eco-base:service:other:1f0c2a34-1d2e-11f0-9c1a-0242ac120002"}])
	"document_metadata.urn: does not name a resource of this file [QY015]" in combine.deny with input as file("a.qyaml", [svc, g])
}

test_qy015_needs_a_valid_urn if {
	g := json.patch(gov, [{"op": "replace", "path": "/document_metadata/urn", "value": "bad"}])
	count(combine.deny) == 0 with input as file("a.qyaml", [svc, g])
}

test_files_are_checked_separately if {
	denials := combine.deny with input as array.concat(file("a.qyaml", [svc, gov]), file("b.qyaml", [svc]))
	denials == {"(file): no governance document [QY010]"}
}

test_scalar_documents_are_neither_kind if {
	denials := combine.deny with input as file("a.qyaml", ["text", gov])
	"(file): no Kubernetes resource document [QY013]" in denials
}

test_per_document_input_is_ignored if {
	count(combine.deny) == 0 with input as svc
}
