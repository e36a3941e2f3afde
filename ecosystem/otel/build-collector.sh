#!/usr/bin/env bash
# Builds otelcol-eco (ecosystem/otel/builder-manifest.yaml) into $ECO_TOOLS_DIR/bin (default .tools/bin)
# with the OpenTelemetry Collector Builder, fetched as a Go module through the Go module proxy.
# Needs Go; takes a few minutes the first time. ecosystem/check.sh then runs `otelcol-eco validate`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
T=${ECO_TOOLS_DIR:-$ROOT/.tools}
OCB_VERSION=v0.115.0
WORK=$(mktemp -d /tmp/eco-otelcol.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$T/bin"
GOBIN="$WORK/bin" go install "go.opentelemetry.io/collector/cmd/builder@$OCB_VERSION"
sed "s|OUTPUT_PATH|$WORK/dist|" "$ROOT/ecosystem/otel/builder-manifest.yaml" > "$WORK/manifest.yaml"
"$WORK/bin/builder" --config "$WORK/manifest.yaml"
install -m 0755 "$WORK/dist/otelcol-eco" "$T/bin/otelcol-eco"
"$T/bin/otelcol-eco" components >/dev/null && echo "installed $T/bin/otelcol-eco (collector $OCB_VERSION)"
