#!/usr/bin/env bash
# tests/deploy/check.sh — offline checks of the deployment side (no cluster, no network):
#   policy/    opa fmt, opa check --strict, opa test with >= 90% coverage, Rego/qyaml parity
#   k8s/       qyaml validate; conftest per document and --combine on the raw .qyaml files;
#              qyaml strip | kubeconform -strict (offline schemas) and conftest; promtool on the rules;
#              the Argo CD config-management plugin script run on k8s/eco-base
#   tests/policy/fixtures/broken/   every file denied, with its "# expect:" text
#   helm/eco-base   helm lint --strict; helm template (default, ci/production, ci/minimal values)
#              | kubeconform -strict and conftest; tests/helm/bad-values.yaml rejected by the schema
#   .github/workflows   actionlint
# Tools: $ECO_TOOLS_DIR/bin (scripts/deps.sh), schemas: $ECO_TOOLS_DIR/schemas (scripts/schemas.sh),
# qyaml: build/bin/qyaml (built here if missing). Prints "N passed, M failed"; exit 1 on any failure.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
T=${ECO_TOOLS_DIR:-$ROOT/.tools}
export PATH="$T/bin:$PATH"
SCHEMAS=$T/schemas
K8S_VERSION=1.31.0
QYAML=$ROOT/build/bin/qyaml
PY=$T/venv/bin/python
[ -x "$PY" ] || PY=python3
WORK=$(mktemp -d /tmp/eco-deploy-check.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

passed=0 failed=0 skipped=0
# run NAME CMD...: one check; output shown only on failure
run() {
  local name=$1; shift
  if "$@" >"$WORK/out" 2>&1; then
    passed=$((passed + 1)); echo "PASS  $name"
  else
    failed=$((failed + 1)); echo "FAIL  $name"; sed 's/^/      /' "$WORK/out" | head -n 60
  fi
}
skip() { skipped=$((skipped + 1)); echo "SKIP  $1"; }

# ---------------------------------------------------------------- prerequisites
missing=()
for t in opa conftest helm kubeconform actionlint; do command -v "$t" >/dev/null || missing+=("$t"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "check: missing tools: ${missing[*]} (run scripts/deps.sh)"; echo "0 passed, 1 failed"; exit 1
fi
if [ ! -f "$SCHEMAS/kubernetes/v$K8S_VERSION/_definitions.json" ]; then
  echo "check: no offline schemas in $SCHEMAS (run scripts/schemas.sh)"; echo "0 passed, 1 failed"; exit 1
fi
if [ ! -x "$QYAML" ]; then
  make --no-print-directory -s build/bin/qyaml >/dev/null || { echo "check: cannot build qyaml"; echo "0 passed, 1 failed"; exit 1; }
fi
KUBECONFORM=(kubeconform -strict -summary -kubernetes-version "$K8S_VERSION"
  -schema-location "$SCHEMAS/kubernetes/v$K8S_VERSION/{{.ResourceKind}}{{.KindSuffix}}.json"
  -schema-location "$SCHEMAS/crds/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json")
CONFTEST=(conftest test --no-color -p policy)
QY_NS=(--namespace qyaml.governance --namespace qyaml.resources --namespace k8s.security)
QY_COMBINE_NS=(--namespace qyaml.combine --namespace k8s.security)
mapfile -t QFILES < <(find k8s -name '*.qyaml' -type f | sort)

# ---------------------------------------------------------------- policy/
echo "== policy"
run "opa fmt (policy/ is formatted)" opa fmt --list --fail policy/
run "opa check --strict policy/" opa check --strict policy/
coverage_gate() {
  opa test policy/ --coverage --format=json > "$WORK/cov.json" || { opa test policy/ -v | grep -v PASS; return 1; }
  "$PY" - "$WORK/cov.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
cov = d.get("coverage", 0)
low = {f: v.get("coverage", 0) for f, v in d["files"].items() if v.get("coverage", 0) < 90}
print("coverage %.1f%%" % cov, "files under 90%%: %s" % low if low else "")
sys.exit(0 if cov >= 90 else 1)
EOF
}
run "opa test policy/ (coverage >= 90%)" coverage_gate
echo "      $(tail -n1 "$WORK/out" 2>/dev/null)"
run "Rego and qyaml report the same issues (tests/qyaml/fixtures, k8s, broken fixtures)" \
  "$PY" tests/policy/parity.py "$QYAML" conftest policy tests/qyaml/fixtures/*/*.qyaml "${QFILES[@]}" tests/policy/fixtures/broken/*.qyaml

# ---------------------------------------------------------------- k8s/
echo "== k8s (${#QFILES[@]} .qyaml files)"
: > "$WORK/k8s.yaml"
for f in "${QFILES[@]}"; do
  run "qyaml validate $f" "$QYAML" validate "$f"
  # per document: governance rules, the .qyaml resource rules, Kubernetes security
  run "conftest $f" "${CONFTEST[@]}" --parser yaml "${QY_NS[@]}" "$f"
  # cross-document: one file per run (conftest keeps a single file's document order)
  run "conftest --combine $f" "${CONFTEST[@]}" --parser yaml --combine "${QY_COMBINE_NS[@]}" "$f"
  "$QYAML" strip "$f" >> "$WORK/k8s.yaml"
done
run "kubeconform -strict (qyaml strip k8s/**)" "${KUBECONFORM[@]}" "$WORK/k8s.yaml"
run "conftest k8s.security on the stripped manifests" "${CONFTEST[@]}" --namespace k8s.security "$WORK/k8s.yaml"
run "conftest --combine k8s.security on the stripped manifests" "${CONFTEST[@]}" --combine --namespace k8s.security "$WORK/k8s.yaml"

promtool_rules() {
  "$QYAML" strip k8s/eco-base/monitoring.qyaml | "$PY" -c '
import sys, yaml
for d in yaml.safe_load_all(sys.stdin):
    if d and d.get("kind") == "PrometheusRule":
        yaml.safe_dump(d["spec"], sys.stdout, sort_keys=False)
' > "$WORK/rules.yaml"
  promtool check rules "$WORK/rules.yaml"
}
if command -v promtool >/dev/null; then
  run "promtool check rules (PrometheusRule eco-base)" promtool_rules
else
  skip "promtool check rules (promtool not installed)"
fi

# Argo CD config-management plugin: run its generate script the way argocd-cmp-server does
cmp_plugin() {
  local app=$WORK/app bin=$WORK/cmpbin
  mkdir -p "$app" "$bin"; cp k8s/eco-base/*.qyaml "$app/"; ln -sf "$QYAML" "$bin/qyaml"
  "$QYAML" strip k8s/argocd/cmp-plugin.qyaml | "$PY" -c '
import sys, yaml
for d in yaml.safe_load_all(sys.stdin):
    if d and d.get("kind") == "ConfigMap":
        p = yaml.safe_load(d["data"]["plugin.yaml"])
        g = p["spec"]["generate"]
        assert g["command"] == ["sh", "-c"], g
        sys.stdout.write(g["args"][0])
' > "$WORK/generate.sh"
  (cd "$app" && PATH="$bin:$PATH" ARGOCD_APP_NAMESPACE=eco-base-staging sh "$WORK/generate.sh") > "$WORK/cmp.yaml"
  if grep -n '^  namespace: eco-base$' "$WORK/cmp.yaml"; then echo "namespace not re-targeted"; return 1; fi
  grep -q '^  namespace: eco-base-staging$' "$WORK/cmp.yaml"
  "${KUBECONFORM[@]}" "$WORK/cmp.yaml"
  # a broken file must fail the render
  cp tests/policy/fixtures/broken/qyaml-uuid-v4.qyaml "$app/"
  if (cd "$app" && PATH="$bin:$PATH" ARGOCD_APP_NAMESPACE=x sh "$WORK/generate.sh") >/dev/null 2>&1; then
    echo "the plugin rendered a file with governance errors"; return 1
  fi
}
run "Argo CD plugin (qyaml validate + strip) renders k8s/eco-base for eco-base-staging" cmp_plugin

# ---------------------------------------------------------------- broken fixtures
echo "== broken fixtures (each must be denied)"
denied() { # file expected-text
  local f=$1 exp=$2 rc1=0 rc2=0
  case "$f" in
    *Dockerfile) "${CONFTEST[@]}" --parser dockerfile --namespace dockerfile "$f" > "$WORK/deny" 2>&1 || rc1=$? ;;
    *) "${CONFTEST[@]}" --parser yaml "${QY_NS[@]}" "$f" > "$WORK/deny" 2>&1 || rc1=$?
       "${CONFTEST[@]}" --parser yaml --combine "${QY_COMBINE_NS[@]}" "$f" >> "$WORK/deny" 2>&1 || rc2=$? ;;
  esac
  if [ $rc1 = 0 ] && [ $rc2 = 0 ]; then echo "not denied"; cat "$WORK/deny"; return 1; fi
  grep -qF -- "$exp" "$WORK/deny" || { echo "expected: $exp"; cat "$WORK/deny"; return 1; }
}
for f in tests/policy/fixtures/broken/*; do
  exp=$(sed -n 's/^# expect: //p' "$f" | head -n1)
  if [ -z "$exp" ]; then run "$f has an '# expect:' line" false; continue; fi
  run "denied: $(basename "$f") ($exp)" denied "$f" "$exp"
done
for f in tests/policy/fixtures/ok/*Dockerfile services/*/Dockerfile tools/*/Dockerfile; do
  run "allowed: $(basename "$f")" "${CONFTEST[@]}" --parser dockerfile --namespace dockerfile "$f"
done

# ---------------------------------------------------------------- helm
echo "== helm/eco-base"
CHART=helm/eco-base
HELM_TPL=(helm template eco-base "$CHART" --namespace eco-base --kube-version "$K8S_VERSION")
for vals in default ci/production-values.yaml ci/minimal-values.yaml; do
  args=(); [ "$vals" = default ] || args=(-f "$CHART/$vals")
  tag=$(basename "$vals" .yaml)
  run "helm lint --strict ($tag)" helm lint --strict --kube-version "$K8S_VERSION" "$CHART" "${args[@]}"
  if "${HELM_TPL[@]}" "${args[@]}" > "$WORK/helm-$tag.yaml" 2> "$WORK/helm-$tag.err"; then
    run "kubeconform -strict (helm template, $tag)" "${KUBECONFORM[@]}" "$WORK/helm-$tag.yaml"
    run "conftest k8s.security (helm template, $tag)" "${CONFTEST[@]}" --namespace k8s.security "$WORK/helm-$tag.yaml"
    run "conftest --combine k8s.security (helm template, $tag)" "${CONFTEST[@]}" --combine --namespace k8s.security "$WORK/helm-$tag.yaml"
  else
    # shellcheck disable=SC2016 # $1 is expanded by the inner sh
    run "helm template ($tag)" sh -c 'cat "$1"; exit 1' _ "$WORK/helm-$tag.err"
  fi
done
rejects_bad_values() {
  if helm lint --strict --kube-version "$K8S_VERSION" "$CHART" -f tests/helm/bad-values.yaml; then return 1; fi
  if "${HELM_TPL[@]}" -f tests/helm/bad-values.yaml >/dev/null; then return 1; fi
  return 0
}
run "values.schema.json rejects tests/helm/bad-values.yaml" rejects_bad_values
run "helm test script is valid POSIX sh" sh -n "$CHART/files/smoke.sh"

# ---------------------------------------------------------------- CI workflows
echo "== .github/workflows"
run "actionlint" actionlint .github/workflows/*.yaml
if command -v shellcheck >/dev/null; then
  run "shellcheck (check.sh, schemas.sh, smoke.sh)" shellcheck tests/deploy/check.sh scripts/schemas.sh "$CHART/files/smoke.sh"
else
  skip "shellcheck (not installed)"
fi

echo
echo "$passed passed, $failed failed$([ "$skipped" -gt 0 ] && echo ", $skipped skipped")"
[ "$failed" -eq 0 ]
