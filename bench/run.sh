#!/usr/bin/env bash
# make bench: measurements on this machine, each compared with a reference measured in the same run.
# Stage 1 (foundation): the HTTP runtime every service shares (h2o 2.2.5 + router + metrics +
# access log) against nginx answering the same fixed body, closed loop with wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${ECO_BENCH_OUT:-$ROOT/bench/results.md}
DUR=${ECO_BENCH_SECONDS:-5}
TMP=$(mktemp -d /tmp/eco-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 100); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done; echo "no answer from $1" >&2; return 1; }

# Our runtime: index-service's /health (a complete request through dispatch, metrics and logging).
P_ECO=$(free_port)
ECO_HTTP_PORT=$P_ECO ECO_BIND_ADDR=127.0.0.1 ECO_LOG_LEVEL=warn ECO_INDEX_DATA_DIR=$TMP/index \
  build/bin/index-service >"$TMP/eco.log" 2>&1 & pids+=($!)
# Reference: nginx (one worker, like our one event loop) returning the same body.
P_NGX=$(free_port)
mkdir -p "$TMP/ngx"
cat >"$TMP/ngx/nginx.conf" <<CONF
worker_processes 1; daemon off; pid $TMP/ngx/nginx.pid; error_log $TMP/ngx/error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $TMP/ngx; proxy_temp_path $TMP/ngx; fastcgi_temp_path $TMP/ngx;
       uwsgi_temp_path $TMP/ngx; scgi_temp_path $TMP/ngx;
  server { listen 127.0.0.1:$P_NGX; location = /health { default_type application/json; return 200 '{"status":"ok"}'; } } }
CONF
nginx -c "$TMP/ngx/nginx.conf" -p "$TMP/ngx" & pids+=($!)
wait_http "http://127.0.0.1:$P_ECO/health"; wait_http "http://127.0.0.1:$P_NGX/health"

# wrk prints latency percentiles with --latency; parse rps and p50/p99 (in microseconds).
run_wrk() { # url conns -> "rps p50_us p99_us"
  wrk -t1 -c"$2" -d"${DUR}s" --latency "$1" | awk '
    function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000; if (v ~ /s$/) return (v+0)*1e6; return v }
    /^ +50%/ {p50=us($2)} /^ +99%/ {p99=us($2)} /^Requests\/sec/ {rps=$2} END {printf "%.0f %.0f %.0f\n", rps, p50, p99}'
}
read -r e1 e1p50 e1p99 < <(run_wrk "http://127.0.0.1:$P_ECO/health" 1)
read -r n1 n1p50 n1p99 < <(run_wrk "http://127.0.0.1:$P_NGX/health" 1)
read -r e64 _ e64p99 < <(run_wrk "http://127.0.0.1:$P_ECO/health" 64)
read -r n64 _ n64p99 < <(run_wrk "http://127.0.0.1:$P_NGX/health" 64)
RSS_KB=$(awk '/VmRSS/ {print $2}' /proc/"${pids[0]}"/status)

# ---- engine-adapter: direct to engine-sim (HTTP, OpenAI route) vs through one adapter (gRPC) ----
P_SIM=$(free_port); P_AD=$(free_port); G_AD=$(free_port)
build/bin/engine-sim --kind vllm --port "$P_SIM" --bind 127.0.0.1 --log-level warn --max-output-tokens 16 \
  >"$TMP/sim.log" 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$P_SIM/health"
ECO_HTTP_PORT=$P_AD ECO_GRPC_PORT=$G_AD ECO_BIND_ADDR=127.0.0.1 ECO_LOG_LEVEL=warn ECO_ENGINE_KIND=vllm \
  ECO_ENGINE_URL=http://127.0.0.1:$P_SIM build/bin/engine-adapter >"$TMP/adapter.log" 2>&1 & AD_PID=$!; pids+=($AD_PID)
for _ in $(seq 100); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_AD/ready")" = 200 ] && break; sleep 0.1; done
AD_IDLE_KB=$(awk '/VmRSS/ {print $2}' /proc/$AD_PID/status)
BODY='{"model":"eco-sim","messages":[{"role":"user","content":"hello there"}],"max_tokens":16,"seed":1}'
cat >"$TMP/post.lua" <<LUA
wrk.method = "POST"; wrk.headers["content-type"] = "application/json"; wrk.body = '$BODY'
LUA
run_wrk_post() { # conns -> "rps p50_us p99_us"
  wrk -t1 -c"$1" -d"${DUR}s" --latency -s "$TMP/post.lua" "http://127.0.0.1:$P_SIM/v1/chat/completions" | awk '
    function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000; if (v ~ /s$/) return (v+0)*1e6; return v }
    /^ +50%/ {p50=us($2)} /^ +99%/ {p99=us($2)} /^Requests\/sec/ {rps=$2} END {printf "%.0f %.0f %.0f\n", rps, p50, p99}'
}
run_ghz() { # method conc -> "rps p50_us p99_us"
  .tools/bin/ghz --insecure --proto proto/eco/ai/v1/inference.proto --import-paths proto \
    --call "eco.ai.v1.Inference/$1" -d '{"messages":[{"role":"user","content":"hello there"}],"max_tokens":16,"seed":1}' \
    -c "$2" --connections "$(( $2 > 4 ? 4 : 1 ))" -z "${DUR}s" -O json "127.0.0.1:$G_AD" 2>/dev/null |
  python3 -c 'import json,sys; r=json.load(sys.stdin); d={p["percentage"]: p["latency"]/1000 for p in r["latencyDistribution"]}
print("%.0f %.0f %.0f" % (r["rps"], d[50], d[99]))'
}
read -r d1 d1p50 d1p99 < <(run_wrk_post 1)
read -r a1 a1p50 a1p99 < <(run_ghz GenerateCompletion 1)
read -r s1 s1p50 s1p99 < <(run_ghz StreamCompletion 1)
read -r d32 _ d32p99 < <(run_wrk_post 32)
read -r a32 _ a32p99 < <(run_ghz GenerateCompletion 32)
AD_LOAD_KB=$(awk '/VmRSS/ {print $2}' /proc/$AD_PID/status)
added() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+d µs", a - b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }

{
  echo "### HTTP runtime vs nginx (\`make bench\`, $(date -u +%Y-%m-%d), $(nproc) cores, wrk -t1, ${DUR}s per run)"
  echo
  echo "| measure | eco-base runtime | nginx 1 worker | ratio eco/nginx |"
  echo "|---|---|---|---|"
  echo "| requests/s, 1 connection | $e1 | $n1 | $(ratio "$e1" "$n1") |"
  echo "| p50 latency, 1 connection (µs) | $e1p50 | $n1p50 | $(ratio "$e1p50" "$n1p50") |"
  echo "| p99 latency, 1 connection (µs) | $e1p99 | $n1p99 | $(ratio "$e1p99" "$n1p99") |"
  echo "| requests/s, 64 connections | $e64 | $n64 | $(ratio "$e64" "$n64") |"
  echo "| p99 latency, 64 connections (µs) | $e64p99 | $n64p99 | $(ratio "$e64p99" "$n64p99") |"
  echo
  echo "Idle-after-load RSS of the service: $((RSS_KB / 1024)) MiB ($RSS_KB KiB)."
  echo
  echo "### engine-adapter vs direct to engine-sim (zero-delay vllm personality, 16 tokens; direct = HTTP with wrk, adapter = gRPC with ghz)"
  echo
  echo "| measure | direct to engine-sim | through engine-adapter | added / ratio |"
  echo "|---|---|---|---|"
  echo "| unary p50, 1 client (µs) | $d1p50 | $a1p50 | $(added "$a1p50" "$d1p50") |"
  echo "| unary p99, 1 client (µs) | $d1p99 | $a1p99 | $(added "$a1p99" "$d1p99") |"
  echo "| streamed p50 (whole stream), 1 client (µs) | — | $s1p50 | |"
  echo "| requests/s, 32 clients | $d32 | $a32 | sim/adapter = $(ratio "$d32" "$a32") |"
  echo "| p99, 32 clients (µs) | $d32p99 | $a32p99 | |"
  echo
  echo "engine-adapter RSS: idle $((AD_IDLE_KB / 1024)) MiB ($AD_IDLE_KB KiB), after load $((AD_LOAD_KB / 1024)) MiB."
} | tee "$OUT"
