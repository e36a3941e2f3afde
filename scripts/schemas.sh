#!/usr/bin/env bash
# scripts/schemas.sh — offline JSON schemas for kubeconform (called by scripts/deps.sh).
#   scripts/schemas.sh           fetch and generate what is missing (idempotent, stamp file)
#   scripts/schemas.sh --check   exit 0 iff the schemas are present; no network, no changes
# Output, $ECO_TOOLS_DIR/schemas (never committed; .tools links to ECO_TOOLS_DIR):
#   kubernetes/v<K8S>/{kind}{-group}-{version}.json + _definitions.json   (kubeconform default naming)
#   crds/{group}/{kind}_{version}.json                                    (ServiceMonitor, PrometheusRule,
#                                                                           Argo CD Application/ApplicationSet/AppProject)
# Sources (registry packages only): the `kubernetes-validate` wheel from PyPI (its `local-strict`
# schemas, which $ref a sibling _definitions.json) and the CRD YAMLs inside the operators' Go modules
# (`go mod download` through the Go module proxy), converted to strict JSON schema here.
# Use: kubeconform -strict \
#   -schema-location "$ECO_TOOLS_DIR/schemas/kubernetes/v1.31.0/{{.ResourceKind}}{{.KindSuffix}}.json" \
#   -schema-location "$ECO_TOOLS_DIR/schemas/crds/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json"
set -euo pipefail
export LC_ALL=C

K8S_VERSION=1.31.0
KV_VERSION=1.31.0                       # kubernetes-validate wheel carrying v1.31.0-local-strict
PROM_OP=github.com/prometheus-operator/prometheus-operator@v0.85.0
ARGO_CD=github.com/argoproj/argo-cd/v2@v2.14.21
# module-relative CRD files: group/kind come from the CRD itself
PROM_CRDS=(example/prometheus-operator-crd-full/monitoring.coreos.com_servicemonitors.yaml
           example/prometheus-operator-crd-full/monitoring.coreos.com_prometheusrules.yaml
           example/prometheus-operator-crd-full/monitoring.coreos.com_podmonitors.yaml)
ARGO_CRDS=(manifests/crds/application-crd.yaml manifests/crds/applicationset-crd.yaml
           manifests/crds/appproject-crd.yaml)
GEN_REV=3                               # bump when the converter below changes

T=${ECO_TOOLS_DIR:-${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}/.cache/eco-base}
T=${T%/}
OUT=$T/schemas
KEY="schemas k8s=$K8S_VERSION kv=$KV_VERSION $PROM_OP $ARGO_CD ${PROM_CRDS[*]} ${ARGO_CRDS[*]} rev$GEN_REV"
STAMP=$T/stamps/schemas
say() { echo "schemas: $*"; }
die() { echo "schemas: ERROR $*" >&2; exit 1; }

present() {
  [ -f "$STAMP" ] && [ "$(head -n1 "$STAMP")" = "$KEY" ] &&
    [ -f "$OUT/kubernetes/v$K8S_VERSION/_definitions.json" ] &&
    [ -f "$OUT/kubernetes/v$K8S_VERSION/deployment-apps-v1.json" ] &&
    [ -f "$OUT/crds/monitoring.coreos.com/servicemonitor_v1.json" ] &&
    [ -f "$OUT/crds/argoproj.io/applicationset_v1alpha1.json" ]
}

case "${1:-}" in
  --check) present && { say "present in $OUT"; exit 0; }; say "missing or stale: $OUT"; exit 1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
present && { say "up to date ($OUT)"; exit 0; }

mkdir -p "$T"/{stamps,logs,src}
PY=$T/venv/bin/python
[ -x "$PY" ] && "$PY" -c 'import yaml' 2>/dev/null || PY=python3
"$PY" -c 'import yaml' 2>/dev/null || die "need a Python with PyYAML (run scripts/deps.sh first)"
LOG=$T/logs/schemas.log; : > "$LOG"
TMP=$(mktemp -d "$T/schemas.tmp.XXXXXX"); trap 'rm -rf "$TMP"' EXIT

# ---- Kubernetes: the kubernetes-validate wheel (PyPI), via pip download; no install needed.
WHEEL_DIR=$T/wheels
mkdir -p "$WHEEL_DIR"
whl=$(find "$WHEEL_DIR" -maxdepth 1 -name "kubernetes_validate-$KV_VERSION-*.whl" | head -n1)
if [ -z "$whl" ]; then
  PIP=$T/venv/bin/pip; [ -x "$PIP" ] || PIP="python3 -m pip"
  say "pip download kubernetes-validate==$KV_VERSION"
  $PIP download -q --disable-pip-version-check --no-deps "kubernetes-validate==$KV_VERSION" -d "$WHEEL_DIR" >>"$LOG" 2>&1 ||
    { tail -n 20 "$LOG" >&2; die "pip download kubernetes-validate failed"; }
  whl=$(find "$WHEEL_DIR" -maxdepth 1 -name "kubernetes_validate-$KV_VERSION-*.whl" | head -n1)
  [ -n "$whl" ] || die "pip download gave no kubernetes-validate wheel"
fi

# ---- CRDs: operator Go modules (Go module proxy).
export GOPATH=$T/go GOMODCACHE=$T/go/pkg/mod GOCACHE=$T/go/cache GOFLAGS=-mod=mod GOTOOLCHAIN=local
for d in "$T"/toolchain/go*/bin; do [ -x "$d/go" ] && PATH=$d:$PATH; done   # deps.sh's Go, if it fetched one
command -v go >/dev/null || die "need go (scripts/deps.sh installs it)"
moddir() {
  local d
  d=$(cd "$TMP" && go mod download -json "$1" 2>>"$LOG" | "$PY" -c 'import json,sys; j=json.load(sys.stdin); print(j.get("Dir") or ""); sys.exit(1 if j.get("Error") else 0)') ||
    { tail -n 20 "$LOG" >&2; die "go mod download $1 failed"; }
  [ -d "$d" ] || die "go mod download $1 gave no directory"
  echo "$d"
}
say "go mod download $PROM_OP $ARGO_CD"
PD=$(moddir "$PROM_OP"); AD=$(moddir "$ARGO_CD")
crds=()
for f in "${PROM_CRDS[@]}"; do [ -f "$PD/$f" ] || die "$PROM_OP has no $f"; crds+=("$PD/$f"); done
for f in "${ARGO_CRDS[@]}"; do [ -f "$AD/$f" ] || die "$ARGO_CD has no $f"; crds+=("$AD/$f"); done

# ---- generate into a temporary tree, then swap it in.
"$PY" - "$whl" "$K8S_VERSION" "$TMP/out" "${crds[@]}" <<'EOF'
import copy, json, os, sys, zipfile
import yaml

whl, k8s, out, crds = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]

# Kubernetes kinds: kubernetes-validate's local-strict layout already uses kubeconform's naming
# ({kind}{-group}-{version}.json); their "$ref": "/api/_definitions.json#/$defs/..." (resolved by
# kubernetes-validate itself) become relative "_definitions.json#/$defs/..." and the "$id"s are
# dropped, so kubeconform resolves everything from the sibling file.
prefix = f"kubernetes_validate/kubernetes-json-schema/v{k8s}-local-strict/"
kdir = os.path.join(out, "kubernetes", f"v{k8s}")
os.makedirs(kdir, exist_ok=True)
n = 0
with zipfile.ZipFile(whl) as z:
    for name in z.namelist():
        if name.startswith(prefix) and name.endswith(".json") and "/" not in name[len(prefix):]:
            base = name[len(prefix):]
            if base == "all.json":
                continue
            sch = json.loads(z.read(name))
            sch.pop("$id", None)   # https://kubernetes.io/api/... ids would send refs to the network
            data = json.dumps(sch, indent=1).replace('"/api/_definitions.json#', '"_definitions.json#')
            with open(os.path.join(kdir, base), "w") as f:
                f.write(data)
            n += 1
if n < 100 or not os.path.exists(os.path.join(kdir, "_definitions.json")):
    sys.exit(f"kubernetes-validate wheel has no v{k8s}-local-strict schemas")

# CRDs -> strict JSON schema (what openapi2jsonschema.py does): objects with declared properties
# reject unknown fields unless x-kubernetes-preserve-unknown-fields; int-or-string becomes a union.
def strict(s):
    if isinstance(s, list):
        return [strict(x) for x in s]
    if not isinstance(s, dict):
        return s
    s = {k: strict(v) for k, v in s.items()}
    if s.pop("x-kubernetes-int-or-string", False):
        s.pop("type", None)
        s.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
        s.pop("format", None)
    preserve = s.get("x-kubernetes-preserve-unknown-fields") is True
    if "properties" in s and "additionalProperties" not in s and not preserve:
        s["additionalProperties"] = False
    if s.get("nullable") is True and isinstance(s.get("type"), str):
        s["type"] = [s["type"], "null"]
    for k in list(s):
        if k.startswith("x-kubernetes-"):
            del s[k]
    s.pop("nullable", None)
    return s

m = 0
for path in crds:
    with open(path) as f:
        for doc in yaml.safe_load_all(f):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            group = doc["spec"]["group"]
            kind = doc["spec"]["names"]["kind"].lower()
            for v in doc["spec"]["versions"]:
                sch = copy.deepcopy(v.get("schema", {}).get("openAPIV3Schema"))
                if not sch:
                    continue
                sch = strict(sch)
                props = sch.setdefault("properties", {})
                props["apiVersion"] = {"type": "string", "enum": [f"{group}/{v['name']}"]}
                props["kind"] = {"type": "string", "enum": [doc["spec"]["names"]["kind"]]}
                props.setdefault("metadata", {"type": "object"})
                sch.setdefault("required", [])
                for r in ("apiVersion", "kind"):
                    if r not in sch["required"]:
                        sch["required"].append(r)
                sch["$schema"] = "http://json-schema.org/draft-07/schema#"
                d = os.path.join(out, "crds", group)
                os.makedirs(d, exist_ok=True)
                with open(os.path.join(d, f"{kind}_{v['name']}.json"), "w") as f:
                    json.dump(sch, f, indent=1, sort_keys=True)
                m += 1
print(f"kubernetes v{k8s}: {n} schemas; CRDs: {m} schemas")
EOF
rm -rf "$OUT.old"; [ -d "$OUT" ] && mv "$OUT" "$OUT.old"
mv "$TMP/out" "$OUT"; rm -rf "$OUT.old"
printf '%s\n%s\n' "$KEY" "$(cd "$OUT" && find . -name '*.json' | wc -l) files" > "$STAMP.tmp" && mv "$STAMP.tmp" "$STAMP"
say "ready in $OUT"
