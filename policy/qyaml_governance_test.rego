package qyaml.governance_test

import data.qyaml.governance

good := {
	"document_metadata": {
		"unique_id": "1f0c2a34-1d2e-11f0-9c1a-0242ac120002",
		"uri": "eco-base://k8s/eco-base/service/demo-svc",
		"urn": "urn:eco-base:k8s:eco-base:service:demo-svc:1f0c2a34-1d2e-11f0-9c1a-0242ac120002",
		"target_system": "gke-production",
		"cross_layer_binding": ["redis"],
		"schema_version": "v8",
		"generated_by": "yaml-toolkit-v8",
		"created_at": "2026-01-01T00:00:00.000Z",
	},
	"governance_info": {
		"owner": "platform-team",
		"approval_chain": ["platform-team"],
		"compliance_tags": ["zero-trust", "soc2"],
		"lifecycle_policy": "active",
	},
	"registry_binding": {
		"service_endpoint": "http://demo-svc.eco-base.svc.cluster.local:80",
		"discovery_protocol": "consul",
		"health_check_path": "/health",
		"registry_ttl": 30,
	},
	"vector_alignment_map": {
		"alignment_model": "BAAI/bge-large-en-v1.5",
		"coherence_vector_dim": 1024,
		"function_keyword": ["demo", "service"],
		"contextual_binding": "demo-svc -> [redis]",
	},
}

rep(path, value) := [{"op": "replace", "path": path, "value": value}]

add(path, value) := [{"op": "add", "path": path, "value": value}]

del(path) := [{"op": "remove", "path": path}]

long_ns := concat("", ["a" | some _ in numbers.range(1, 64)])

# each case: a patch of `good` and the exact issue text it must produce
deny_cases := {
	"QY020 missing block": [del("/vector_alignment_map"), "vector_alignment_map: required [QY020]"],
	"QY020 null block": [rep("/governance_info", null), "governance_info: required [QY020]"],
	"QY021 extra key": [add("/notes", "x"), "notes: not allowed in the governance document [QY021]"],
	"QY021 non-bare key": [add("/a.b", 1), `["a.b"]: not allowed in the governance document [QY021]`],
	"QY021 key with < > & and a quote": [add(`/a<b>&"c`, 1), `["a<b>&\"c"]: not allowed in the governance document [QY021]`],
	"QY022 block not a mapping": [rep("/registry_binding", "consul"), "registry_binding: must be a mapping [QY022]"],
	"QY023 missing owner": [del("/governance_info/owner"), "governance_info.owner: required [QY023]"],
	"QY023 null field": [rep("/document_metadata/generated_by", null), "document_metadata.generated_by: required [QY023]"],
	"QY024 str": [rep("/document_metadata/target_system", ""), "document_metadata.target_system: must be a non-empty string [QY024]"],
	"QY024 str number": [rep("/governance_info/owner", 7), "governance_info.owner: must be a non-empty string [QY024]"],
	"QY024 list": [rep("/document_metadata/cross_layer_binding", "redis"), "document_metadata.cross_layer_binding: must be a list of non-empty strings [QY024]"],
	"QY024 list item": [rep("/governance_info/compliance_tags", ["ok", ""]), "governance_info.compliance_tags: must be a list of non-empty strings [QY024]"],
	"QY024 list1": [rep("/governance_info/approval_chain", []), "governance_info.approval_chain: must be a non-empty list of non-empty strings [QY024]"],
	"QY024 optional str": [add("/registry_binding/k8s_namespace", 3), "registry_binding.k8s_namespace: must be a non-empty string [QY024]"],
	"QY030 uuid v4": [rep("/document_metadata/unique_id", "550e8400-e29b-41d4-a716-446655440000"), "document_metadata.unique_id: must be a UUID v1 [QY030]"],
	"QY030 upper case": [rep("/document_metadata/unique_id", "1F0C2A34-1D2E-11F0-9C1A-0242AC120002"), "document_metadata.unique_id: must be a UUID v1 [QY030]"],
	"QY031 scheme": [rep("/document_metadata/uri", "https://k8s/eco-base/service/demo-svc"), "document_metadata.uri: must match eco-base://k8s/<namespace>/<kind>/<name> [QY031]"],
	"QY031 long namespace": [rep("/document_metadata/uri", sprintf("eco-base://k8s/%s/service/demo-svc", [long_ns])), "document_metadata.uri: must match eco-base://k8s/<namespace>/<kind>/<name> [QY031]"],
	"QY032 no id": [rep("/document_metadata/urn", "urn:eco-base:k8s:eco-base:service:demo-svc"), "document_metadata.urn: must match urn:eco-base:k8s:<namespace>:<kind>:<name>:<unique_id> [QY032]"],
	"QY033 other id": [rep("/document_metadata/urn", "urn:eco-base:k8s:eco-base:service:demo-svc:2f0c2a34-1d2e-11f0-9c1a-0242ac120002"), "document_metadata.urn: must end with document_metadata.unique_id [QY033]"],
	"QY034 disagree": [rep("/document_metadata/uri", "eco-base://k8s/eco-base/deployment/demo-svc"), "document_metadata.uri: must name the same resource as document_metadata.urn [QY034]"],
	"QY035 feb 30": [rep("/document_metadata/created_at", "2026-02-30T00:00:00Z"), "document_metadata.created_at: must be an RFC 3339 UTC timestamp (YYYY-MM-DDThh:mm:ss[.fraction]Z) [QY035]"],
	"QY035 offset": [rep("/document_metadata/created_at", "2026-01-01T00:00:00+01:00"), "document_metadata.created_at: must be an RFC 3339 UTC timestamp (YYYY-MM-DDThh:mm:ss[.fraction]Z) [QY035]"],
	"QY036 1.0": [rep("/document_metadata/schema_version", "1.0"), "document_metadata.schema_version: must match ^v[0-9]+$ [QY036]"],
	"QY036 number": [rep("/document_metadata/schema_version", 8), "document_metadata.schema_version: must match ^v[0-9]+$ [QY036]"],
	"QY037 upper tag": [rep("/governance_info/compliance_tags", ["zero-trust", "SOC2"]), "governance_info.compliance_tags[1]: must be lower-case kebab-case [QY037]"],
	"QY038 retired": [rep("/governance_info/lifecycle_policy", "retired"), "governance_info.lifecycle_policy: must be one of active, deprecated, archived, standard, ephemeral, critical, strict, experimental [QY038]"],
	"QY039 bare host": [rep("/registry_binding/service_endpoint", "demo-svc:80"), "registry_binding.service_endpoint: must be a URI (scheme://host[:port][/path]) or n/a [QY039]"],
	"QY040 eureka": [rep("/registry_binding/discovery_protocol", "eureka"), "registry_binding.discovery_protocol: must be one of consul, etcd, k8s-dns [QY040]"],
	"QY041 relative": [rep("/registry_binding/health_check_path", "health"), "registry_binding.health_check_path: must be a path starting with / or n/a [QY041]"],
	"QY042 too large": [rep("/registry_binding/registry_ttl", 86401), "registry_binding.registry_ttl: must be an integer between 0 and 86400 [QY042]"],
	"QY042 fraction": [rep("/registry_binding/registry_ttl", 1.5), "registry_binding.registry_ttl: must be an integer between 0 and 86400 [QY042]"],
	"QY042 string": [rep("/registry_binding/registry_ttl", "30"), "registry_binding.registry_ttl: must be an integer between 0 and 86400 [QY042]"],
	"QY043 768": [rep("/vector_alignment_map/coherence_vector_dim", 768), "vector_alignment_map.coherence_vector_dim: must be an integer between 1024 and 4096 [QY043]"],
	"QY045 short": [add("/vector_alignment_map/coherence_vector", [1, 2, 3]), "vector_alignment_map.coherence_vector: must be a list of at least 8 numbers [QY045]"],
	"QY045 strings": [add("/vector_alignment_map/coherence_vector", ["a", "b", "c", "d", "e", "f", "g", "h"]), "vector_alignment_map.coherence_vector: must be a list of at least 8 numbers [QY045]"],
	"QY046 high": [add("/vector_alignment_map/tolerance", 0.01), "vector_alignment_map.tolerance: must be a number between 0.0001 and 0.005 [QY046]"],
}

test_deny_case_fires[name] if {
	some name, tc in deny_cases
	bad := json.patch(good, tc[0])
	tc[1] in governance.deny with input as bad
}

warn_cases := {
	"QY025 unknown field": [add("/governance_info/notes", "x"), "governance_info.notes: unknown field [QY025]"],
	"QY025 non-bare key": [add("/vector_alignment_map/a b", 1), `vector_alignment_map["a b"]: unknown field [QY025]`],
	"QY044 pattern": [rep("/vector_alignment_map/contextual_binding", "demo-svc depends on redis"), `vector_alignment_map.contextual_binding: should match "<name> -> [<dependency>, ...]" [QY044]`],
}

test_warn_case_fires[name] if {
	some name, tc in warn_cases
	bad := json.patch(good, tc[0])
	tc[1] in governance.warn with input as bad
}

test_good_document_has_no_issue if {
	count(governance.deny) == 0 with input as good
	count(governance.warn) == 0 with input as good
}

# values that are accepted (the rules above do not fire)
ok_cases := {
	"n/a endpoint and path, ttl 0": json.patch(good, [
		{"op": "replace", "path": "/registry_binding/service_endpoint", "value": "n/a"},
		{"op": "replace", "path": "/registry_binding/health_check_path", "value": "n/a"},
		{"op": "replace", "path": "/registry_binding/registry_ttl", "value": 0},
	]),
	"optional fields present": json.patch(good, [
		{"op": "add", "path": "/registry_binding/k8s_namespace", "value": "eco-base"},
		{"op": "add", "path": "/vector_alignment_map/coherence_vector", "value": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]},
		{"op": "add", "path": "/vector_alignment_map/tolerance", "value": 0.005},
	]),
	"optional fields null": json.patch(good, [
		{"op": "add", "path": "/vector_alignment_map/tolerance", "value": null},
		{"op": "add", "path": "/registry_binding/k8s_namespace", "value": null},
	]),
	"other lifecycle, etcd, v12, leap day, empty list": json.patch(good, [
		{"op": "replace", "path": "/governance_info/lifecycle_policy", "value": "experimental"},
		{"op": "replace", "path": "/registry_binding/discovery_protocol", "value": "etcd"},
		{"op": "replace", "path": "/document_metadata/schema_version", "value": "v12"},
		{"op": "replace", "path": "/document_metadata/created_at", "value": "2028-02-29T23:59:59.123456789Z"},
		{"op": "replace", "path": "/document_metadata/cross_layer_binding", "value": []},
	]),
	"cluster-scoped resource": json.patch(good, [
		{"op": "replace", "path": "/document_metadata/uri", "value": "eco-base://k8s/cluster/namespace/eco-base"},
		{"op": "replace", "path": "/document_metadata/urn", "value": "urn:eco-base:k8s:cluster:namespace:eco-base:1f0c2a34-1d2e-11f0-9c1a-0242ac120002"},
	]),
}

test_ok_case_has_no_issue[name] if {
	some name, doc in ok_cases
	count(governance.deny) == 0 with input as doc
	count(governance.warn) == 0 with input as doc
}

test_kubernetes_document_is_skipped if {
	k8s := {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x", "namespace": "default"}}
	count(governance.deny) == 0 with input as k8s
	count(governance.warn) == 0 with input as k8s
}

test_null_document_is_skipped if {
	count(governance.deny) == 0 with input as null
}

test_scalar_document_is_qy016 if {
	"(document): must be a mapping [QY016]" in governance.deny with input as "just a string"
	"(document): must be a mapping [QY016]" in governance.deny with input as ["a", "b"]
}

test_partial_governance_document if {
	# one block key makes it a governance document: the other three are then required
	denials := governance.deny with input as {"document_metadata": good.document_metadata}
	denials == {
		"governance_info: required [QY020]",
		"registry_binding: required [QY020]",
		"vector_alignment_map: required [QY020]",
	}
}

test_block_not_mapping_skips_its_fields if {
	denials := governance.deny with input as json.patch(good, rep("/governance_info", ["owner"]))
	denials == {"governance_info: must be a mapping [QY022]"}
}

test_invalid_urn_skips_consistency_rules if {
	bad := json.patch(good, rep("/document_metadata/urn", "urn:other"))
	denials := governance.deny with input as bad
	not "document_metadata.urn: must end with document_metadata.unique_id [QY033]" in denials
	not "document_metadata.uri: must name the same resource as document_metadata.urn [QY034]" in denials
}
