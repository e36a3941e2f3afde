# METADATA
# title: .qyaml cross-document rules (conftest --combine)
# description: |
#   QY010-QY015 of docs/qyaml.md, with the exact messages. Input (conftest >= 0.60 with
#   `--combine --parser yaml`): an array of {"path", "contents"}, one entry per YAML document,
#   the documents of one file in file order. conftest sorts the entries by path with an unstable
#   sort, so run one file per conftest invocation when the order rule (QY012) matters (the
#   project's check does). Entries whose contents is an array of documents (older conftest
#   shape for a multi-document file) are not expected; such a contents is one sequence document.
#   Null documents (conftest turns a leading comment block or a trailing `---` into one) are empty
#   documents: ignored, as in `qyaml`.
package qyaml.combine

import data.qyaml.lib

files contains e.path if {
	is_array(input)
	some e in input
}

# the documents of file f, in order
docs(f) := [e.contents | some e in input; e.path == f]

governance_idx(f) := [i | some i, d in docs(f); lib.is_governance(d)]

kubernetes_docs(f) := [d | some d in docs(f); lib.is_kubernetes(d)]

deny contains lib.issue("(file)", "no governance document", "QY010") if {
	some f in files
	count(governance_idx(f)) == 0
}

deny contains lib.issue("(file)", "more than one governance document", "QY011") if {
	some f in files
	count(governance_idx(f)) > 1
}

deny contains lib.issue("(file)", "the governance document must be the last document", "QY012") if {
	some f in files
	[g] := governance_idx(f)
	some i, d in docs(f)
	i > g
	d != null
}

deny contains lib.issue("(file)", "no Kubernetes resource document", "QY013") if {
	some f in files
	count(kubernetes_docs(f)) == 0
}

deny contains lib.issue("(file)", sprintf("duplicate resource %s", [id]), "QY014") if {
	some f in files
	ids := [lib.identity(d) | some d in kubernetes_docs(f)]
	some i, id in ids
	some j, other in ids
	j < i
	other == id
}

deny contains lib.issue("document_metadata.urn", "does not name a resource of this file", "QY015") if {
	some f in files
	[g] := governance_idx(f)
	ks := kubernetes_docs(f)
	count(ks) > 0
	parts := lib.urn_parts(docs(f)[g].document_metadata.urn)
	named := sprintf("%s/%s/%s", [parts[1], parts[0], parts[2]])
	ids := {lib.identity(d) | some d in ks}
	not named in ids
}
