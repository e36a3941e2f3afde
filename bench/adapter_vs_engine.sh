#!/usr/bin/env bash
# engine-adapter: direct to engine-sim (HTTP, OpenAI route, wrk) vs through one adapter (gRPC, ghz).
source "$(dirname "$0")/lib.sh"

P_SIM=$(free_port); P_AD=$(free_port); G_AD=$(free_port)
build/bin/engine-sim --kind vllm --port "$P_SIM" --bind 127.0.0.1 --log-level warn --max-output-tokens 16 \
  >"$TMP/sim.log" 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$P_SIM/health"
ECO_HTTP_PORT=$P_AD ECO_GRPC_PORT=$G_AD ECO_BIND_ADDR=127.0.0.1 ECO_LOG_LEVEL=warn ECO_ENGINE_KIND=vllm \
  ECO_ENGINE_URL=http://127.0.0.1:$P_SIM build/bin/engine-adapter >"$TMP/adapter.log" 2>&1 & AD_PID=$!; pids+=($AD_PID)
wait_ready "http://127.0.0.1:$P_AD/ready"
AD_IDLE_KB=$(rss_kb $AD_PID)
BODY='{"model":"eco-sim","messages":[{"role":"user","content":"hello there"}],"max_tokens":16,"seed":1}'
SIM_URL=http://127.0.0.1:$P_SIM/v1/chat/completions

log "engine-adapter vs engine-sim: wrk + ghz, 5 runs of ${DUR}s"
read -r d1 d1p50 d1p99 < <(run_wrk_post "$SIM_URL" 1 "$BODY")
read -r a1 a1p50 a1p99 < <(run_ghz "127.0.0.1:$G_AD" GenerateCompletion 1)
read -r s1 s1p50 s1p99 < <(run_ghz "127.0.0.1:$G_AD" StreamCompletion 1)
read -r d32 _ d32p99 < <(run_wrk_post "$SIM_URL" 32 "$BODY")
read -r a32 _ a32p99 < <(run_ghz "127.0.0.1:$G_AD" GenerateCompletion 32)
AD_LOAD_KB=$(rss_kb $AD_PID)

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
