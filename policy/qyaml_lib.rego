# METADATA
# title: shared helpers for the .qyaml rules (docs/qyaml.md §2-§4)
# description: Classification, canonical issue text, paths and the value formats of §4.
package qyaml.lib

blocks := ["document_metadata", "governance_info", "registry_binding", "vector_alignment_map"]

block_set := {b | some b in blocks}

# §2: a governance document is a mapping with at least one of the four block keys.
is_governance(doc) if {
	is_object(doc)
	some k, _ in doc
	k in block_set
}

# §2: any other mapping is a Kubernetes document.
is_kubernetes(doc) if {
	is_object(doc)
	not is_governance(doc)
}

# §3.2: "<path>: <message> [<rule>]"
issue(path, msg, rule) := sprintf("%s: %s [%s]", [path, msg, rule])

# §3.2 paths: bare keys joined with ".", other keys as ["<json string>"] with no "." before.
key_path(prefix, k) := k if {
	prefix == ""
	is_bare(k)
}

key_path(prefix, k) := concat(".", [prefix, k]) if {
	prefix != ""
	is_bare(k)
}

key_path(prefix, k) := sprintf("%s[%s]", [prefix, json_string(k)]) if not is_bare(k)

# a JSON string as docs/qyaml.md writes it: json.marshal without Go's HTML escaping of < > &
json_string(k) := strings.replace_n({`\u003c`: "<", `\u003e`: ">", `\u0026`: "&"}, json.marshal(k))

is_bare(k) if regex.match(`^[A-Za-z_][A-Za-z0-9_-]*$`, k)

matches(v, re) if {
	is_string(v)
	regex.match(re, v)
}

non_empty_string(v) if {
	is_string(v)
	count(v) > 0
}

# §6 types
has_type(v, "str") if non_empty_string(v)

has_type(v, "list") if string_list(v)

has_type(v, "list1") if {
	string_list(v)
	count(v) > 0
}

string_list(v) if {
	is_array(v)
	every x in v {
		non_empty_string(x)
	}
}

# ---------------------------------------------------------------- §4 formats

uuid_v1_re := `^[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`

is_uuid_v1(v) if matches(v, uuid_v1_re)

ns_re := `[a-z0-9]([-a-z0-9]*[a-z0-9])?`

kind_re := `[a-z0-9]+`

name_re := `[a-z0-9]([-a-z0-9.]*[a-z0-9])?`

segment_lengths_ok(ns, kind, name) if {
	count(ns) <= 63
	count(kind) <= 63
	count(name) <= 253
}

# [ns, kind, name] of a valid URI
uri_parts(v) := [p[0], p[1], p[2]] if {
	matches(v, concat("", [`^eco-base://k8s/`, ns_re, `/`, kind_re, `/`, name_re, `$`]))
	p := split(substring(v, count("eco-base://k8s/"), -1), "/")
	segment_lengths_ok(p[0], p[1], p[2])
}

# [ns, kind, name, unique_id] of a valid URN
urn_parts(v) := [p[3], p[4], p[5], p[6]] if {
	matches(v, concat("", [`^urn:eco-base:k8s:`, ns_re, `:`, kind_re, `:`, name_re, `:`, trim_prefix(trim_suffix(uuid_v1_re, "$"), "^"), `$`]))
	p := split(v, ":")
	segment_lengths_ok(p[3], p[4], p[5])
}

# RFC 3339 in UTC ending in Z, and a real instant (no Feb 30, no leap second).
is_rfc3339_utc(v) if {
	matches(v, `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z$`)
	time.parse_rfc3339_ns(v)
}

is_endpoint("n/a")

is_endpoint(v) if matches(v, `^[a-z][a-z0-9+.-]*://[^\s/?#]+([/?#]\S*)?$`)

is_health_path("n/a")

is_health_path(v) if matches(v, `^/\S*$`)

# JSON numbers: 30.0 is an integer here (docs/qyaml.md §10, accepted difference).
is_integer(v) if {
	is_number(v)
	v == round(v)
}

int_between(v, lo, hi) if {
	is_integer(v)
	v >= lo
	v <= hi
}

number_between(v, lo, hi) if {
	is_number(v)
	v >= lo
	v <= hi
}

is_number_list(v, n) if {
	is_array(v)
	count(v) >= n
	every x in v {
		is_number(x)
	}
}

# ---------------------------------------------------------------- resource identity (§4)

dns1123_subdomain(v) if {
	matches(v, `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	count(v) <= 253
}

# "<kind>/<ns>/<name>" of a Kubernetes document with a non-empty string kind and metadata.name
identity(doc) := sprintf("%s/%s/%s", [lower(doc.kind), doc_namespace(doc), doc.metadata.name]) if {
	non_empty_string(doc.kind)
	non_empty_string(doc.metadata.name)
}

doc_namespace(doc) := ns if {
	ns := object.get(doc, ["metadata", "namespace"], null)
	non_empty_string(ns)
}

doc_namespace(doc) := "cluster" if not non_empty_string(object.get(doc, ["metadata", "namespace"], null))
