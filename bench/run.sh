#!/usr/bin/env bash
# make bench: measurements on this machine, each compared with a reference measured in the same run.
# Stages (each starts and kills its own processes; markdown on stdout, progress on stderr):
#   runtime_vs_nginx.sh    the HTTP runtime every service shares vs nginx returning the same body (wrk)
#   adapter_vs_engine.sh   engine-adapter (gRPC, ghz) vs direct to engine-sim (HTTP, wrk/vegeta): added latency
#                          closed loop and at a fixed rate, TTFT at a fixed rate, max rate, adapter RSS/PSS
#   ai_service_vs_nginx.sh ai-service + adapter vs nginx reverse proxy vs direct engine-sim: added
#                          latency, max rate (vegeta), streaming TTFT/gaps, CPU/request, RSS
#   full_path_vs_nginx.sh  client -> root-gateway (API key) -> ai-service -> adapter -> engine-sim vs nginx
#                          single hop vs direct: added latency, max rate, auth and limiter cost shown
#                          separately, CPU/request, RSS (PostgreSQL and Redis from ecoctl, cleaned after)
# ECO_BENCH_SECONDS sets the length of every load step (default 5; a full run takes about 12-15 min).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${ECO_BENCH_OUT:-$PWD/bench/results.md}
if [ -n "${MAKELEVEL:-}" ]; then export ECO_BENCH_CMD="make bench (ECO_BENCH_SECONDS=${ECO_BENCH_SECONDS:-5})"
else export ECO_BENCH_CMD="ECO_BENCH_SECONDS=${ECO_BENCH_SECONDS:-5} bash bench/run.sh"; fi
[ -x build/bin/ai-service ] || make -j2 build
for t in wrk nginx curl python3 .tools/bin/ghz .tools/bin/vegeta; do
  command -v "$t" >/dev/null || { echo "bench: $t is missing (make deps)" >&2; exit 1; }
done
NEW=$(mktemp /tmp/eco-bench-results.XXXXXX)
# Each stage runs in its own process group (job control on): on interrupt the whole group -- the
# stage, its servers and its load generator -- gets SIGTERM, and the stage's trap reaps the rest.
set -m
child=
trap '[ -n "$child" ] && kill -TERM -- "-$child" 2>/dev/null; wait 2>/dev/null; rm -f "$NEW"' EXIT
trap 'exit 130' INT TERM
stage() { bash "bench/$1" >>"$NEW" & child=$!; wait "$child"; child=; }

T0=$(date +%s)
stage runtime_vs_nginx.sh; echo >>"$NEW"
stage adapter_vs_engine.sh; echo >>"$NEW"
stage ai_service_vs_nginx.sh; echo >>"$NEW"
stage full_path_vs_nginx.sh
echo >>"$NEW"
echo "Whole \`make bench\` run: $(( $(date +%s) - T0 )) s." >>"$NEW"
cp "$NEW" "$OUT"
cat "$OUT"
