# METADATA
# title: .qyaml governance document rules (per document)
# description: |
#   The document-scope rules of docs/qyaml.md for the governance document (QY016, QY020-QY046),
#   with exactly the messages of the rule table: "<path>: <message> [<rule>]".
#   conftest feeds one YAML document at a time (`conftest test --parser yaml`); Kubernetes
#   documents are skipped here (their QY050-QY055 rules live in qyaml.resources), cross-document
#   rules (QY010-QY015) in qyaml.combine, lexical rules (QY000-QY009) and QY017 in `qyaml` only.
package qyaml.governance

import data.qyaml.lib

# ---------------------------------------------------------------- classification (§2)

is_governance if lib.is_governance(input)

# QY016: a scalar or a sequence document.
deny contains lib.issue("(document)", "must be a mapping", "QY016") if {
	input != null
	not is_object(input)
}

# ---------------------------------------------------------------- blocks (QY020-QY022)

deny contains lib.issue(b, "required", "QY020") if {
	is_governance
	some b in lib.blocks
	object.get(input, b, null) == null
}

deny contains lib.issue(lib.key_path("", k), "not allowed in the governance document", "QY021") if {
	is_governance
	some k, _ in input
	not k in lib.block_set
}

deny contains lib.issue(b, "must be a mapping", "QY022") if {
	is_governance
	some b in lib.blocks
	v := object.get(input, b, null)
	v != null
	not is_object(v)
}

# block b when it is a mapping
block(b) := v if {
	is_governance
	v := input[b]
	is_object(v)
}

# ---------------------------------------------------------------- fields (QY023-QY025, §6)

# field types: str = non-empty string, list = list of non-empty strings, list1 = the same, >= 1 item,
# fmt = checked by its own format rule only.
fields := {
	"document_metadata": [
		["unique_id", "fmt", true], ["uri", "fmt", true], ["urn", "fmt", true],
		["target_system", "str", true], ["cross_layer_binding", "list", true],
		["schema_version", "fmt", true], ["generated_by", "str", true], ["created_at", "fmt", true],
	],
	"governance_info": [
		["owner", "str", true], ["approval_chain", "list1", true],
		["compliance_tags", "list", true], ["lifecycle_policy", "fmt", true],
	],
	"registry_binding": [
		["service_endpoint", "fmt", true], ["discovery_protocol", "fmt", true],
		["health_check_path", "fmt", true], ["registry_ttl", "fmt", true],
		["k8s_namespace", "str", false],
	],
	"vector_alignment_map": [
		["alignment_model", "str", true], ["coherence_vector_dim", "fmt", true],
		["function_keyword", "list1", true], ["contextual_binding", "str", true],
		["coherence_vector", "fmt", false], ["tolerance", "fmt", false],
	],
}

type_message := {
	"str": "must be a non-empty string",
	"list": "must be a list of non-empty strings",
	"list1": "must be a non-empty list of non-empty strings",
}

deny contains lib.issue(concat(".", [b, f[0]]), "required", "QY023") if {
	some b, fs in fields
	blk := block(b)
	some f in fs
	f[2] == true
	object.get(blk, f[0], null) == null
}

deny contains lib.issue(concat(".", [b, f[0]]), type_message[f[1]], "QY024") if {
	some b, fs in fields
	blk := block(b)
	some f in fs
	v := object.get(blk, f[0], null)
	v != null
	not lib.has_type(v, f[1])
}

warn contains lib.issue(lib.key_path(b, k), "unknown field", "QY025") if {
	some b, fs in fields
	blk := block(b)
	known := {f[0] | some f in fs}
	some k, _ in blk
	not k in known
}

# present (non-null) value of a field
field(b, f) := v if {
	v := block(b)[f]
	v != null
}

# ---------------------------------------------------------------- document_metadata formats

deny contains lib.issue("document_metadata.unique_id", "must be a UUID v1", "QY030") if {
	v := field("document_metadata", "unique_id")
	not lib.is_uuid_v1(v)
}

deny contains lib.issue("document_metadata.uri", "must match eco-base://k8s/<namespace>/<kind>/<name>", "QY031") if {
	v := field("document_metadata", "uri")
	not lib.uri_parts(v)
}

deny contains lib.issue(
	"document_metadata.urn",
	"must match urn:eco-base:k8s:<namespace>:<kind>:<name>:<unique_id>",
	"QY032",
) if {
	v := field("document_metadata", "urn")
	not lib.urn_parts(v)
}

deny contains lib.issue("document_metadata.urn", "must end with document_metadata.unique_id", "QY033") if {
	parts := lib.urn_parts(field("document_metadata", "urn"))
	id := field("document_metadata", "unique_id")
	lib.is_uuid_v1(id)
	parts[3] != id
}

deny contains lib.issue("document_metadata.uri", "must name the same resource as document_metadata.urn", "QY034") if {
	u := lib.uri_parts(field("document_metadata", "uri"))
	n := lib.urn_parts(field("document_metadata", "urn"))
	array.slice(u, 0, 3) != array.slice(n, 0, 3)
}

deny contains lib.issue(
	"document_metadata.created_at",
	"must be an RFC 3339 UTC timestamp (YYYY-MM-DDThh:mm:ss[.fraction]Z)",
	"QY035",
) if {
	v := field("document_metadata", "created_at")
	not lib.is_rfc3339_utc(v)
}

deny contains lib.issue("document_metadata.schema_version", "must match ^v[0-9]+$", "QY036") if {
	v := field("document_metadata", "schema_version")
	not lib.matches(v, `^v[0-9]+$`)
}

# ---------------------------------------------------------------- governance_info formats

deny contains lib.issue(sprintf("governance_info.compliance_tags[%d]", [i]), "must be lower-case kebab-case", "QY037") if {
	tags := field("governance_info", "compliance_tags")
	lib.has_type(tags, "list")
	some i, t in tags
	not regex.match(`^[a-z0-9]+(-[a-z0-9]+)*$`, t)
}

lifecycle_policies := {"active", "deprecated", "archived", "standard", "ephemeral", "critical", "strict", "experimental"}

deny contains lib.issue(
	"governance_info.lifecycle_policy",
	"must be one of active, deprecated, archived, standard, ephemeral, critical, strict, experimental",
	"QY038",
) if {
	v := field("governance_info", "lifecycle_policy")
	not v in lifecycle_policies
}

# ---------------------------------------------------------------- registry_binding formats

deny contains lib.issue(
	"registry_binding.service_endpoint",
	"must be a URI (scheme://host[:port][/path]) or n/a",
	"QY039",
) if {
	v := field("registry_binding", "service_endpoint")
	not lib.is_endpoint(v)
}

deny contains lib.issue("registry_binding.discovery_protocol", "must be one of consul, etcd, k8s-dns", "QY040") if {
	v := field("registry_binding", "discovery_protocol")
	not v in {"consul", "etcd", "k8s-dns"}
}

deny contains lib.issue("registry_binding.health_check_path", "must be a path starting with / or n/a", "QY041") if {
	v := field("registry_binding", "health_check_path")
	not lib.is_health_path(v)
}

deny contains lib.issue("registry_binding.registry_ttl", "must be an integer between 0 and 86400", "QY042") if {
	v := field("registry_binding", "registry_ttl")
	not lib.int_between(v, 0, 86400)
}

# ---------------------------------------------------------------- vector_alignment_map formats

deny contains lib.issue(
	"vector_alignment_map.coherence_vector_dim",
	"must be an integer between 1024 and 4096",
	"QY043",
) if {
	v := field("vector_alignment_map", "coherence_vector_dim")
	not lib.int_between(v, 1024, 4096)
}

warn contains lib.issue(
	"vector_alignment_map.contextual_binding",
	`should match "<name> -> [<dependency>, ...]"`,
	"QY044",
) if {
	v := field("vector_alignment_map", "contextual_binding")
	lib.has_type(v, "str")
	not regex.match(`^.+ -> \[.*\]$`, v)
}

deny contains lib.issue("vector_alignment_map.coherence_vector", "must be a list of at least 8 numbers", "QY045") if {
	v := field("vector_alignment_map", "coherence_vector")
	not lib.is_number_list(v, 8)
}

deny contains lib.issue("vector_alignment_map.tolerance", "must be a number between 0.0001 and 0.005", "QY046") if {
	v := field("vector_alignment_map", "tolerance")
	not lib.number_between(v, 0.0001, 0.005)
}
