# shellcheck shell=bash
# Sourced by every bench/*.sh stage: settings, a scratch directory, and the processes the stage
# started (killed and reaped on exit, whatever the exit path). Stages print markdown on stdout
# and progress on stderr.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
DUR=${ECO_BENCH_SECONDS:-5}
VEGETA=$ROOT/.tools/bin/vegeta
GHZ=$ROOT/.tools/bin/ghz
TMP=$(mktemp -d /tmp/eco-bench.XXXXXX)
export TMPDIR=$TMP # helpers' scratch files go with the stage's
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "no answer from $1" >&2; return 1; }
wait_ready() { # url: wait for 200 (readiness, not just liveness)
  for _ in $(seq 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ] && return 0; sleep 0.1; done
  echo "not ready: $1" >&2; return 1
}
log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

# wrk prints latency percentiles with --latency; "rps p50_us p99_us".
wrk_parse() {
  awk 'function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000; if (v ~ /s$/) return (v+0)*1e6; return v }
    /^ +50%/ {p50=us($2)} /^ +99%/ {p99=us($2)} /^Requests\/sec/ {rps=$2}
    /Non-2xx or 3xx responses|Socket errors/ {print "wrk: " $0 > "/dev/stderr"}
    END {printf "%.0f %.0f %.0f\n", rps, p50, p99}'
}
run_wrk() { wrk -t1 -c"$2" -d"${DUR}s" --latency "$1" | wrk_parse; } # url conns
run_wrk_post() { # url conns body -> "rps p50_us p99_us"
  local lua
  lua=$(mktemp "$TMP/post.XXXXXX.lua")
  printf 'wrk.method = "POST"; wrk.headers["content-type"] = "application/json"; wrk.body = %s\n' "'$3'" >"$lua"
  wrk -t1 -c"$2" -d"${DUR}s" --latency -s "$lua" "$1" | wrk_parse
}
GRPC_REQ='{"messages":[{"role":"user","content":"hello there"}],"max_tokens":16,"seed":1}'
run_ghz() { # addr method conc [json] -> "rps p50_us p99_us"
  local req=${4:-$GRPC_REQ}
  "$GHZ" --insecure --proto proto/eco/ai/v1/inference.proto --import-paths proto \
    --call "eco.ai.v1.Inference/$2" -d "$req" \
    -c "$3" --connections "$(( $3 > 4 ? 4 : 1 ))" -z "${DUR}s" -O json "$1" 2>/dev/null |
  python3 -c 'import json,sys; r=json.load(sys.stdin); d={p["percentage"]: p["latency"]/1000 for p in r["latencyDistribution"]}
e=sum(r.get("statusCodeDistribution",{}).get(k,0) for k in r.get("statusCodeDistribution",{}) if k!="OK")
e and print("ghz: non-OK", r.get("statusCodeDistribution"), r.get("errorDistribution"), file=sys.stderr)
print("%.0f %.0f %.0f" % (r["rps"], d[50], d[99]))'
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; } # utime+stime (fields 14, 15)
added() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+d µs", a - b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); v=eval(sys.argv[2], {"d": d}); print("" if v is None else v)' "$@"; } # file expr
