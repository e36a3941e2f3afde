#!/usr/bin/env bash
# ecosystem/check.sh — offline checks of the observability configuration (no services, no network):
#   prometheus/rules    promtool check rules; promtool test rules (prometheus/tests); every alert has
#                       a case that fires and one that does not; the k8s PrometheusRule's groups are
#                       identical to the rule files, and so are the chart's (prometheus/sync_k8s.py,
#                       helm template)
#   grafana/dashboards  JSON shape for provisioning; every panel query and variable selector compiled
#                       by promtool (written as recording rules into a throwaway rule file)
#   grafana/provisioning, otel/collector.yaml, logging/fluent-bit.yaml
#                       the tool that reads each one when it is installed (otelcol validate,
#                       fluent-bit --dry-run), else a structure check (checks.py), and says which
# That the metrics used are the ones the services emit is tests/ecosystem/test_metric_names.py.
# Prints "N passed, M failed"; exit 1 on any failure.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
T=${ECO_TOOLS_DIR:-$ROOT/.tools}
export PATH="$T/bin:$PATH"
PY=$T/venv/bin/python
[ -x "$PY" ] || PY=python3
ECO=ecosystem
WORK=$(mktemp -d /tmp/eco-ecosystem-check.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

passed=0 failed=0
run() { # NAME CMD...: one check; output shown only on failure
  local name=$1; shift
  if "$@" >"$WORK/out" 2>&1; then
    passed=$((passed + 1)); echo "PASS  $name"
  else
    failed=$((failed + 1)); echo "FAIL  $name"; sed 's/^/      /' "$WORK/out" | head -n 60
  fi
}
note() { echo "      $*"; }

if ! command -v promtool >/dev/null; then
  echo "check: promtool not installed (Debian package prometheus)"; echo "0 passed, 1 failed"; exit 1
fi
mapfile -t RULES < <(find "$ECO/prometheus/rules" -name '*.yaml' | sort)
mapfile -t TESTS < <(find "$ECO/prometheus/tests" -name '*.yaml' | sort)

echo "== prometheus rules (${#RULES[@]} files, ${#TESTS[@]} test files)"
run "promtool check rules ${RULES[*]}" promtool check rules "${RULES[@]}"
run "promtool test rules ${TESTS[*]}" promtool test rules "${TESTS[@]}"
run "every alert has a firing and a silent test case" "$PY" "$ECO/checks.py" alerts-tested
run "k8s/eco-base/monitoring.qyaml PrometheusRule and helm/eco-base/files/prometheus-rules.yaml == $ECO/prometheus/rules" "$PY" "$ECO/prometheus/sync_k8s.py"
helm_rules() { # the chart's rendered PrometheusRule carries the same groups
  helm template eco-base helm/eco-base --namespace eco-base --kube-version 1.31.0 \
    -f helm/eco-base/ci/production-values.yaml > "$WORK/chart.yaml"
  "$PY" - "$WORK/chart.yaml" "${RULES[@]}" <<'PYEOF'
import sys, yaml
want = [g for f in sys.argv[2:] for g in yaml.safe_load(open(f))["groups"]]
got = [d["spec"]["groups"] for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "PrometheusRule"]
assert got == [want], f"rendered PrometheusRule groups differ from the rule files ({len(got)} PrometheusRule)"
PYEOF
}
if command -v helm >/dev/null; then
  run "helm template (production values): PrometheusRule groups == $ECO/prometheus/rules" helm_rules
else
  note "helm not installed: the chart's PrometheusRule checked through its rules file only"
fi
# the unit tests must be able to fail: a rule file with the error-ratio threshold moved must fail them
mutant() {
  mkdir -p "$WORK/mut/rules" "$WORK/mut/tests"
  sed 's/job:eco_request_errors:ratio_rate5m > 0.05/job:eco_request_errors:ratio_rate5m > 0.005/' "${RULES[@]}" \
    > "$WORK/mut/rules/eco-base.yaml"
  cmp -s "$WORK/mut/rules/eco-base.yaml" <(cat "${RULES[@]}") && { echo "mutation not applied"; return 1; }
  cp "${TESTS[@]}" "$WORK/mut/tests/"
  if promtool test rules "$WORK"/mut/tests/*.yaml; then echo "promtool passed a mutated rule"; return 1; fi
}
run "promtool tests fail on a mutated threshold" mutant

echo "== grafana"
run "dashboards: provisionable JSON" "$PY" "$ECO/checks.py" dashboards
run "provisioning files" "$PY" "$ECO/checks.py" provisioning
compile_dashboards() {
  "$PY" "$ECO/exprs.py" rule-file "$WORK/dash.yaml" > "$WORK/dash.idx"
  n=$(wc -l < "$WORK/dash.idx"); echo "$n queries"
  [ "$n" -gt 0 ] || return 1
  promtool check rules "$WORK/dash.yaml" || { cat "$WORK/dash.idx"; return 1; }
}
run "every dashboard query compiles (promtool check rules)" compile_dashboards
note "$(head -n1 "$WORK/out" 2>/dev/null || true)"
# the compile check must be able to fail
broken_expr() {
  printf 'groups:\n- name: x\n  rules:\n  - record: x:y:z\n    expr: sum by (job) (rate(eco_requests_total[5m])\n' > "$WORK/bad.yaml"
  if promtool check rules "$WORK/bad.yaml"; then echo "promtool accepted a broken expression"; return 1; fi
}
run "promtool rejects a broken expression" broken_expr

echo "== OpenTelemetry collector and log shipping"
OTELCOL=""
for c in otelcol-eco otelcol otelcol-contrib; do command -v "$c" >/dev/null && { OTELCOL=$c; break; }; done
run "collector.yaml structure (core components, pipelines wired)" "$PY" "$ECO/checks.py" otel "$ECO/otel/collector.yaml"
if [ -n "$OTELCOL" ]; then
  run "$OTELCOL validate collector.yaml" env OTEL_TRACES_ENDPOINT=tempo:4317 OTEL_LOGS_ENDPOINT=http://loki/otlp \
    "$OTELCOL" validate --config="$ECO/otel/collector.yaml"
else
  note "no otelcol binary installed: collector.yaml checked by structure only"
fi
run "fluent-bit.yaml structure (plugins, parsers, time format)" "$PY" "$ECO/checks.py" fluent-bit "$ECO/logging/fluent-bit.yaml"
if command -v fluent-bit >/dev/null; then
  run "fluent-bit --dry-run" fluent-bit --dry-run -c "$ECO/logging/fluent-bit.yaml"
else
  note "fluent-bit not installed: fluent-bit.yaml checked by structure only"
fi
if command -v shellcheck >/dev/null; then
  run "shellcheck ecosystem/check.sh" shellcheck "$ECO/check.sh"
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
