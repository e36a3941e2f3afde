#!/usr/bin/env bash
# engine-adapter: direct to engine-sim (HTTP, OpenAI route) vs through one adapter (gRPC), both in
# front of the same zero-delay engine-sim (vllm personality, 16 tokens):
#   closed loop  wrk (direct) vs ghz (adapter), 1 and 32 clients
#   fixed rate   unary latency: rate_search.py --fixed (vegeta vs ghz --rps); time to first token:
#                sse_streams.py --rate (SSE) vs grpc_streams.py (StreamCompletion), and
#                grpc_streams.py --unary to size the Python gRPC client's own share
#   max rate     rate_search.py (vegeta vs ghz): p99 < 1 s, errors < 0.1 %, >= 95 % of the rate sent
#   memory       the adapter's RSS, PSS and private memory idle after start, after the runs, peak
source "$(dirname "$0")/lib.sh"

FIXED_RATE=${ECO_BENCH_FIXED_RATE:-200} # req/s (and streams/s) of the fixed-rate runs
RS_TIMEOUT=3                            # s; a request slower than this fails the step anyway (p99 < 1 s)
PY=$ROOT/.tools/venv/bin/python         # grpcio + grpcio-tools for grpc_streams.py
[ -x "$PY" ] || { echo "bench: $PY is missing (make deps)" >&2; exit 1; }
SIM_FLAGS=(--kind vllm --bind 127.0.0.1 --log-level warn --max-output-tokens 16)

P_SIM=$(free_port); P_AD=$(free_port); G_AD=$(free_port)
build/bin/engine-sim "${SIM_FLAGS[@]}" --port "$P_SIM" >"$TMP/sim.log" 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$P_SIM/health"
ECO_HTTP_PORT=$P_AD ECO_GRPC_PORT=$G_AD ECO_BIND_ADDR=127.0.0.1 ECO_LOG_LEVEL=warn ECO_ENGINE_KIND=vllm \
  ECO_ENGINE_URL=http://127.0.0.1:$P_SIM build/bin/engine-adapter >"$TMP/adapter.log" 2>&1 & AD_PID=$!; pids+=($AD_PID)
wait_ready "http://127.0.0.1:$P_AD/ready"
# Idle memory right after start: ready (its engine health checked and metrics scraped), no call yet.
read -r AD_IDLE_KB AD_IDLE_PSS AD_IDLE_PRIV < <(mem_kb $AD_PID)
BODY='{"model":"eco-sim","messages":[{"role":"user","content":"hello there"}],"max_tokens":16,"seed":1}'
SBODY="${BODY%\}}"',"stream":true}' # the same request, streamed
SIM_URL=http://127.0.0.1:$P_SIM/v1/chat/completions
GRPC_URL=grpc://127.0.0.1:$G_AD/eco.ai.v1.Inference/GenerateCompletion
printf '%s' "$BODY" >"$TMP/body-sim.json"
printf '%s' "$GRPC_REQ" >"$TMP/req-grpc.json"
SETTLE=(--settle "http://127.0.0.1:$P_SIM/sim/stats" --settle "http://127.0.0.1:$P_AD/metrics")
START=$(date +%s)

log "engine-adapter vs engine-sim: closed loop, wrk + ghz, 5 runs of ${DUR}s"
read -r d1 d1p50 d1p99 < <(run_wrk_post "$SIM_URL" 1 "$BODY")
read -r a1 a1p50 a1p99 < <(run_ghz "127.0.0.1:$G_AD" GenerateCompletion 1)
read -r s1 s1p50 s1p99 < <(run_ghz "127.0.0.1:$G_AD" StreamCompletion 1)
read -r d32 _ d32p99 < <(run_wrk_post "$SIM_URL" 32 "$BODY")
read -r a32 _ a32p99 < <(run_ghz "127.0.0.1:$G_AD" GenerateCompletion 32)
read -r AD_LOAD_KB AD_LOAD_PSS AD_LOAD_PRIV < <(mem_kb $AD_PID)

log "fixed rate ${FIXED_RATE}/s for ${DUR}s: unary (vegeta, ghz), time to first token (SSE, gRPC), Python gRPC unary"
fixed() { python3 bench/rate_search.py "$1" "$2" --seconds "$DUR" --fixed "$FIXED_RATE" --timeout $RS_TIMEOUT "${SETTLE[@]}"; }
fixed "$SIM_URL" "$TMP/body-sim.json" >"$TMP/fixed-direct.json"
fixed "$GRPC_URL" "$TMP/req-grpc.json" >"$TMP/fixed-adapter.json"
python3 bench/sse_streams.py "$SIM_URL" "$SBODY" --rate "$FIXED_RATE" --seconds "$DUR" --from-send --timeout 10 \
  >"$TMP/ttft-direct.json"
sleep 0.5
"$PY" bench/grpc_streams.py "127.0.0.1:$G_AD" "$GRPC_REQ" --rate "$FIXED_RATE" --seconds "$DUR" --timeout 10 \
  >"$TMP/ttft-adapter.json"
sleep 0.5
"$PY" bench/grpc_streams.py "127.0.0.1:$G_AD" "$GRPC_REQ" --rate "$FIXED_RATE" --seconds "$DUR" --timeout 10 --unary \
  >"$TMP/pyunary-adapter.json"
sleep 0.5

search() { # name url bodyfile
  log "rate search: $1"
  python3 bench/rate_search.py "$2" "$3" --seconds "$DUR" --start 500 --bisect 3 --timeout $RS_TIMEOUT "${SETTLE[@]}" \
    >"$TMP/rate-$1.json"
}
search direct "$SIM_URL" "$TMP/body-sim.json"
search adapter "$GRPC_URL" "$TMP/req-grpc.json"
END=$(date +%s)
sleep 1
read -r AD_AFTER_KB AD_AFTER_PSS AD_AFTER_PRIV < <(mem_kb $AD_PID)
AD_HWM_KB=$(hwm_kb $AD_PID)

# ---- report ----
lat_us() { us "$(jget "$1" "d$2")"; } # json-file ['key']... (ms) -> µs
read -r f_d50 f_d99 f_a50 f_a99 < <(echo "$(lat_us "$TMP/fixed-direct.json" '["p50_ms"]') $(lat_us "$TMP/fixed-direct.json" '["p99_ms"]')" \
  "$(lat_us "$TMP/fixed-adapter.json" '["p50_ms"]') $(lat_us "$TMP/fixed-adapter.json" '["p99_ms"]')")
read -r t_d50 t_d99 t_a50 t_a99 < <(echo "$(lat_us "$TMP/ttft-direct.json" '["ttft_ms"]["p50"]') $(lat_us "$TMP/ttft-direct.json" '["ttft_ms"]["p99"]')" \
  "$(lat_us "$TMP/ttft-adapter.json" '["ttft_ms"]["p50"]') $(lat_us "$TMP/ttft-adapter.json" '["ttft_ms"]["p99"]')")
read -r py50 py99 < <(echo "$(lat_us "$TMP/pyunary-adapter.json" '["ttft_ms"]["p50"]') $(lat_us "$TMP/pyunary-adapter.json" '["ttft_ms"]["p99"]')")
fixed_note() { jget "$1" '"%d/%d answered 200/OK, sent %.1f/s" % (d["ok"], d["requests"], d["sent_rate"])'; }
stream_note() { jget "$1" '"%d/%d complete, %.1f started/s" % (d["ok"], d["streams"], d["streams"] / max(d["elapsed_s"], 1e-9))'; }
R_MAX_D=$(jget "$TMP/rate-direct.json" 'd["max_rate"]'); R_MAX_A=$(jget "$TMP/rate-adapter.json" 'd["max_rate"]')
R_RATIO=$(ratio "$R_MAX_D" "$R_MAX_A")
IFS='|' read -r _ rd_p99 rd_fail < <(rate_cells direct | sed 's/ *| */|/g')
IFS='|' read -r _ ra_p99 ra_fail < <(rate_cells adapter | sed 's/ *| */|/g')
mem_row() { echo "| $1 | $(mib "$2") | $(mib "$3") | $(mib "$4") | $(mib "$(( $2 - $4 ))") |"; }

echo "### engine-adapter vs direct to engine-sim (zero-delay vllm personality, 16 tokens; direct = HTTP OpenAI route, adapter = gRPC)"
echo
echo "One \`engine-sim ${SIM_FLAGS[*]}\` behind one engine-adapter with its defaults (\`ECO_ENGINE_KIND=vllm\`);"
echo "this stage took $((END - START)) s of load, ${DUR} s per run. Closed loop: \`wrk -t1 -cN --latency\` (direct) and \`ghz -c N\` (adapter)."
echo "Fixed rate (${FIXED_RATE}/s): unary \`vegeta attack -rate ${FIXED_RATE}/1s\` vs \`ghz --rps ${FIXED_RATE} --async\` (open loop both);"
echo "time to first token = from sending the request to the first chunk with content: \`bench/sse_streams.py --rate ${FIXED_RATE} --from-send\`"
echo "(raw sockets, a connection per stream, connect not counted) vs \`bench/grpc_streams.py --rate ${FIXED_RATE}\` (grpcio aio, one channel)."
echo
echo "| measure | direct to engine-sim | through engine-adapter | added / ratio |"
echo "|---|---|---|---|"
echo "| unary p50, 1 client (µs) | $d1p50 | $a1p50 | $(added "$a1p50" "$d1p50") |"
echo "| unary p99, 1 client (µs) | $d1p99 | $a1p99 | $(added "$a1p99" "$d1p99") |"
echo "| streamed p50 (whole stream), 1 client (µs) | — | $s1p50 | |"
C_RATIO=$(ratio "$d32" "$a32")
echo "| requests/s, 32 clients | $d32 | $a32 | sim/adapter = $C_RATIO (target ≥ 3: $( [ "$C_RATIO" = n/a ] && echo n/a || verdict "$C_RATIO" 3 ge)) |"
echo "| p99, 32 clients (µs) | $d32p99 | $a32p99 | |"
echo "| unary p50 at ${FIXED_RATE} req/s (µs) | $f_d50 | $f_a50 | $(added "$f_a50" "$f_d50") |"
echo "| unary p99 at ${FIXED_RATE} req/s (µs) | $f_d99 | $f_a99 | $(added "$f_a99" "$f_d99") |"
echo "| time to first token p50 at ${FIXED_RATE} streams/s (µs) | $t_d50 | $t_a50 | $(added "$t_a50" "$t_d50") |"
echo "| time to first token p99 at ${FIXED_RATE} streams/s (µs) | $t_d99 | $t_a99 | $(added "$t_a99" "$t_d99") |"
echo "| max sustained req/s (p99 < 1 s, errors < 0.1 %) | $R_MAX_D | $R_MAX_A | sim/adapter = $R_RATIO (open loop: see below) |"
echo "| p99 at that rate | $rd_p99 | $ra_p99 | |"
echo "| first failing rate (why) | $rd_fail | $ra_fail | |"
echo
echo "Fixed-rate runs: unary direct $(fixed_note "$TMP/fixed-direct.json"), adapter $(fixed_note "$TMP/fixed-adapter.json");"
echo "streams direct $(stream_note "$TMP/ttft-direct.json"), adapter $(stream_note "$TMP/ttft-adapter.json")."
echo "The two TTFT clients differ: the same grpcio client timing unary \`GenerateCompletion\` at ${FIXED_RATE}/s gets p50 $py50 µs,"
echo "p99 $py99 µs, against ghz's $f_a50 / $f_a99 µs for the same call, so roughly $(added "$py50" "$f_a50") (p50) of the added"
echo "time to first token is the Python client's own cost, not the adapter's."
echo
echo "Rate search (\`bench/rate_search.py\`: ${DUR} s steps doubling from 500/s until one fails, then 3 bisections; a step also"
echo "fails when the load generator sent < 95 % of the rate; timeout ${RS_TIMEOUT} s). Adapter steps use \`ghz --rps R --async\`"
echo "over 4 HTTP/2 connections. Both load generators share the 2 cores with the servers, so a \"sent only\" failure marks the"
echo "generator's ceiling, and the direct side stops where vegeta and the sim together fill the two cores: this ratio"
echo "compares the load generators as much as the servers. The sim's own capacity is the closed-loop row (wrk keeps 32"
echo "requests in flight with little CPU of its own), which carries the \"sim ≥ 3× the adapter path\" target."
echo
echo "Steps direct: $(steps_line direct)."
echo
echo "Steps adapter: $(steps_line adapter)."
echo
echo "| engine-adapter memory | RSS | PSS | private (clean + dirty) | shared (RSS − private) |"
echo "|---|---|---|---|---|"
mem_row "idle, right after start (ready, before any call)" "$AD_IDLE_KB" "$AD_IDLE_PSS" "$AD_IDLE_PRIV"
mem_row "after the closed-loop runs" "$AD_LOAD_KB" "$AD_LOAD_PSS" "$AD_LOAD_PRIV"
mem_row "idle after all runs" "$AD_AFTER_KB" "$AD_AFTER_PSS" "$AD_AFTER_PRIV"
echo "| peak over the stage (VmHWM) | $(mib "$AD_HWM_KB") | | | |"
echo
echo "Idle RSS right after start $(mib "$AD_IDLE_KB") (target < 10 MiB: $( [ "$AD_IDLE_KB" -lt 10240 ] && echo met || echo '**missed**'))."
echo "From /proc/<pid>/smaps_rollup: PSS divides each shared page among the processes mapping it at that moment, so PSS and the"
echo "private/shared split move with whatever else runs (another engine-adapter, e.g. in a test, shares the same library pages)."
echo
echo "Failures seen during this stage:"
echo
echo "- fixed-rate runs and rate searches:"
errors_of "$TMP"/fixed-direct.json "$TMP"/fixed-adapter.json "$TMP"/ttft-direct.json "$TMP"/ttft-adapter.json \
  "$TMP"/pyunary-adapter.json "$TMP"/rate-direct.json "$TMP"/rate-adapter.json
echo "- warn/error log lines of engine-sim and engine-adapter:"
log_summary "$TMP/sim.log" "$TMP/adapter.log"
