#!/usr/bin/env bash
# ai-service (+ engine-adapter) against nginx as a plain reverse proxy, both in front of the same
# engine-sim, and against the engine-sim itself (direct). One engine-sim (vllm personality) per
# latency profile, each with its own engine-adapter, ai-service model and nginx server:
#   zero   no delay, 16 tokens                      -> added latency, max rate, CPU/request
#   ttft20 answers after 20 ms (--ttft-ms 20)      -> max rate
#   stream 64 tokens 20 ms apart (--itl-ms 20)      -> time to first token, inter-token gaps
# Limits raised for the benchmark (reported in the output): see AI_ENV and AD_ENV below.
source "$(dirname "$0")/lib.sh"

MAX_STREAMS=${ECO_BENCH_MAX_STREAMS:-1024}
SEQ_STREAMS=${ECO_BENCH_SEQ_STREAMS:-$(( DUR * 2 > 5 ? DUR * 2 : 5 ))}
VEG_TIMEOUT=3 # s; a request slower than this fails the step anyway (p99 must stay under 1 s)
AI_ENV=(ECO_BACKEND_MAX_INFLIGHT=4096 ECO_QUEUE_MAX=4096 ECO_LOG_LEVEL=warn ECO_SHUTDOWN_GRACE_MS=500
        ECO_KAFKA_BROKERS=127.0.0.1:9 ECO_GRPC_AUTH=off)
AD_ENV=(ECO_ENGINE_MAX_CONNS=4096 ECO_LOG_LEVEL=warn ECO_SHUTDOWN_GRACE_MS=500)
SIM_FLAGS=(--kind vllm --bind 127.0.0.1 --log-level warn --max-concurrency 0)
declare -A SIM_PROFILE=([zero]="--max-output-tokens 16" [ttft20]="--ttft-ms 20 --max-output-tokens 16"
                        [stream]="--itl-ms 20 --min-output-tokens 64 --max-output-tokens 64")
PROFILES=(zero ttft20 stream)
declare -A P_SIM G_AD P_AD P_NGX AD_PID

for k in "${PROFILES[@]}"; do
  P_SIM[$k]=$(free_port); P_AD[$k]=$(free_port); G_AD[$k]=$(free_port); P_NGX[$k]=$(free_port)
  # shellcheck disable=SC2086
  build/bin/engine-sim "${SIM_FLAGS[@]}" --port "${P_SIM[$k]}" ${SIM_PROFILE[$k]} >"$TMP/sim-$k.log" 2>&1 & pids+=($!)
done
for k in "${PROFILES[@]}"; do
  wait_http "http://127.0.0.1:${P_SIM[$k]}/health"
  env "${AD_ENV[@]}" ECO_HTTP_PORT="${P_AD[$k]}" ECO_GRPC_PORT="${G_AD[$k]}" ECO_BIND_ADDR=127.0.0.1 ECO_ENGINE_KIND=vllm \
    ECO_ENGINE_URL="http://127.0.0.1:${P_SIM[$k]}" build/bin/engine-adapter >"$TMP/adapter-$k.log" 2>&1 & pids+=($!)
  AD_PID[$k]=$!
done
cat >"$TMP/models.yaml" <<Y
default: sim-zero
models:
Y
for k in "${PROFILES[@]}"; do
  printf '  - id: sim-%s\n    capabilities: [chat, completion]\n    backends:\n      - {name: ad-%s, address: "127.0.0.1:%s"}\n' \
    "$k" "$k" "${G_AD[$k]}" >>"$TMP/models.yaml"
done
for k in "${PROFILES[@]}"; do wait_ready "http://127.0.0.1:${P_AD[$k]}/ready"; done
P_AI=$(free_port); G_AI=$(free_port)
env "${AI_ENV[@]}" ECO_HTTP_PORT="$P_AI" ECO_GRPC_PORT="$G_AI" ECO_BIND_ADDR=127.0.0.1 ECO_MODELS_FILE="$TMP/models.yaml" \
  build/bin/ai-service >"$TMP/ai.log" 2>&1 & AI_PID=$!; pids+=($AI_PID)

# nginx: one worker (like our one event loop), plain reverse proxy, keepalive upstream; response
# buffering off only for the stream server (SSE must not be held back).
mkdir -p "$TMP/ngx"
{
  echo "worker_processes 1; daemon off; pid $TMP/ngx/nginx.pid; error_log $TMP/ngx/error.log warn;"
  echo "worker_rlimit_nofile 20000; events { worker_connections 16384; }"
  echo "http { access_log off; client_body_temp_path $TMP/ngx; proxy_temp_path $TMP/ngx; fastcgi_temp_path $TMP/ngx;"
  echo "  uwsgi_temp_path $TMP/ngx; scgi_temp_path $TMP/ngx;"
  for k in "${PROFILES[@]}"; do
    echo "  upstream sim_$k { server 127.0.0.1:${P_SIM[$k]}; keepalive 1024; }"
    echo "  server { listen 127.0.0.1:${P_NGX[$k]}; location / { proxy_pass http://sim_$k; proxy_http_version 1.1;"
    echo "    proxy_set_header Connection \"\";$([ "$k" = stream ] && echo ' proxy_buffering off;') } }"
  done
  echo "}"
} >"$TMP/ngx/nginx.conf"
nginx -c "$TMP/ngx/nginx.conf" -p "$TMP/ngx" & NGX_PID=$!; pids+=($NGX_PID)
for k in "${PROFILES[@]}"; do wait_http "http://127.0.0.1:${P_NGX[$k]}/health"; done
NGX_WORKER=$(pgrep -P "$NGX_PID" | head -1)
wait_ready "http://127.0.0.1:$P_AI/ready"
# ai-service learns its backends' state from a health/load poll: wait until a completion answers.
for _ in $(seq 50); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
      -d '{"model":"sim-zero","messages":[{"role":"user","content":"hi"}],"max_tokens":1}' \
      "http://127.0.0.1:$P_AI/v1/chat/completions")" = 200 ] && break; sleep 0.1
done
sleep 1
AI_IDLE_KB=$(rss_kb $AI_PID); AD_IDLE_KB=$(rss_kb "${AD_PID[zero]}")
# Idle CPU (health and load polling, timers) over one step, as the baseline of CPU per request.
log "idle CPU over ${DUR}s"
I_AI0=$(cpu_ticks $AI_PID); I_AD0=$(cpu_ticks "${AD_PID[zero]}"); sleep "$DUR"
I_AI=$(( $(cpu_ticks $AI_PID) - I_AI0 )); I_AD=$(( $(cpu_ticks "${AD_PID[zero]}") - I_AD0 ))

body() { # model stream max_tokens
  printf '{"model":"%s","messages":[{"role":"user","content":"hello there"}],"max_tokens":%s,"seed":1%s}' \
    "$1" "$3" "$([ "$2" = 1 ] && echo ',"stream":true')"
}
SIM_URL() { echo "http://127.0.0.1:${P_SIM[$1]}/v1/chat/completions"; }
NGX_URL() { echo "http://127.0.0.1:${P_NGX[$1]}/v1/chat/completions"; }
AI_URL="http://127.0.0.1:$P_AI/v1/chat/completions"
body eco-sim 0 16 >"$TMP/body-sim.json"
for k in zero ttft20; do body "sim-$k" 0 16 >"$TMP/body-ai-$k.json"; done
START=$(date +%s)

# ---- (a)-(d) added latency at concurrency 1, zero-delay engine ----
log "added latency, concurrency 1: wrk x3 + ghz x2, ${DUR}s each"
read -r _ l_d50 l_d99 < <(run_wrk_post "$(SIM_URL zero)" 1 "$(body eco-sim 0 16)")
read -r _ l_n50 l_n99 < <(run_wrk_post "$(NGX_URL zero)" 1 "$(body eco-sim 0 16)")
read -r _ l_a50 l_a99 < <(run_wrk_post "$AI_URL" 1 "$(body sim-zero 0 16)")
read -r _ g_d50 g_d99 < <(run_ghz "127.0.0.1:${G_AD[zero]}" GenerateCompletion 1)
read -r _ g_a50 g_a99 < <(run_ghz "127.0.0.1:$G_AI" GenerateCompletion 1)

# ---- highest sustained rate (vegeta, fixed rate, doubling then bisection) ----
SETTLE=(--settle "http://127.0.0.1:$P_AI/metrics")
for k in "${PROFILES[@]}"; do
  SETTLE+=(--settle "http://127.0.0.1:${P_SIM[$k]}/sim/stats" --settle "http://127.0.0.1:${P_AD[$k]}/metrics")
done
search() { # name url bodyfile
  log "rate search: $1"
  python3 bench/rate_search.py "$2" "$3" --seconds "$DUR" --start 500 --bisect 3 --timeout $VEG_TIMEOUT "${SETTLE[@]}" \
    >"$TMP/rate-$1.json"
}
search nginx-ttft20 "$(NGX_URL ttft20)" "$TMP/body-sim.json"
search ai-ttft20 "$AI_URL" "$TMP/body-ai-ttft20.json"
search nginx-zero "$(NGX_URL zero)" "$TMP/body-sim.json"
search ai-zero "$AI_URL" "$TMP/body-ai-zero.json"

# ---- CPU per request at a fixed rate (zero-delay), loaded RSS sampled mid-run ----
AI_ZERO_MAX=$(jget "$TMP/rate-ai-zero.json" 'd["max_rate"]')
CPU_RATE=${ECO_BENCH_CPU_RATE:-$(( AI_ZERO_MAX / 2 < 1000 ? (AI_ZERO_MAX / 2 > 50 ? AI_ZERO_MAX / 2 : 50) : 1000 ))}
fixed() { # name url bodyfile pid... -> $TMP/cpu-name.json; $TMP/cpu-name.ticks and $TMP/rss-name (a line per pid)
  local name=$1 url=$2 bf=$3; shift 3
  local p t0=()
  for p in "$@"; do t0+=("$(cpu_ticks "$p")"); done
  python3 bench/rate_search.py "$url" "$bf" --seconds "$DUR" --fixed "$CPU_RATE" --timeout $VEG_TIMEOUT \
    >"$TMP/cpu-$name.json" & local vp=$!
  sleep "$(awk -v d="$DUR" 'BEGIN { print d / 2 }')"
  for p in "$@"; do rss_kb "$p"; done >"$TMP/rss-$name"
  wait $vp
  local i=0
  for p in "$@"; do echo $(( $(cpu_ticks "$p") - t0[i] )); i=$((i + 1)); done >"$TMP/cpu-$name.ticks"
}
log "CPU per request: ${CPU_RATE} req/s for ${DUR}s, ai-service and nginx"
fixed ai "$AI_URL" "$TMP/body-ai-zero.json" $AI_PID "${AD_PID[zero]}"
{ read -r T_AI; read -r T_AD; } <"$TMP/cpu-ai.ticks"
{ read -r AI_LOAD_KB; read -r AD_LOAD_KB; } <"$TMP/rss-ai"
fixed nginx "$(NGX_URL zero)" "$TMP/body-sim.json" "$NGX_WORKER"
T_NGX=$(cat "$TMP/cpu-nginx.ticks")

# ---- streaming: TTFT and inter-token gaps, one stream at a time ----
SBODY_SIM=$(body eco-sim 1 64); SBODY_AI=$(body sim-stream 1 64)
stream_seq() { python3 bench/sse_streams.py "$1" "$2" --streams 1 --rounds "$SEQ_STREAMS" --expect-tokens 64 >"$TMP/seq-$3.json"; }
log "streams one at a time: ${SEQ_STREAMS} x 3 paths"
stream_seq "$(SIM_URL stream)" "$SBODY_SIM" direct
stream_seq "$(NGX_URL stream)" "$SBODY_SIM" nginx
stream_seq "$AI_URL" "$SBODY_AI" ai

# ---- most concurrent streams without a gap over 40 ms ----
ladder() { # name url body -> "held first_fail why"
  local n=16 held=0 why="" fail="—" r
  while [ "$n" -le "$MAX_STREAMS" ]; do
    python3 bench/sse_streams.py "$2" "$3" --streams "$n" --expect-tokens 64 --gap-limit-ms 40 --timeout 30 \
      >"$TMP/conc-$1-$n.json"
    r=$(jget "$TMP/conc-$1-$n.json" '"%d %d %d %s" % (d["failed"], d["streams_with_gap_over_limit"], d["gaps_over_limit"], d["gap_ms"]["max"])')
    read -r f so go gmax <<<"$r"
    log "  $1: $n streams: failed $f, streams with a gap > 40 ms: $so ($go gaps), max gap $gmax ms"
    if [ "$f" = 0 ] && [ "$so" = 0 ]; then held=$n; n=$((n * 2)); sleep 0.5; continue; fi
    fail=$n
    why="$so/$n streams had gaps > 40 ms ($go gaps, max $gmax ms)"
    [ "$f" != 0 ] && why="$why; $f streams failed: $(jget "$TMP/conc-$1-$n.json" '"; ".join("%s (%d)" % kv for kv in d["errors"].items())')"
    break
  done
  [ "$fail" = "—" ] && why="not reached (ladder stops at $MAX_STREAMS)"
  printf '%s\t%s\t%s\n' "$held" "$fail" "$why" >"$TMP/ladder-$1"
}
log "concurrent streams ladder 16..${MAX_STREAMS}"
ladder direct "$(SIM_URL stream)" "$SBODY_SIM"
ladder nginx "$(NGX_URL stream)" "$SBODY_SIM"
ladder ai "$AI_URL" "$SBODY_AI"
END=$(date +%s)
curl -s "http://127.0.0.1:$P_AI/metrics" >"$TMP/ai.metrics" || true
for k in "${PROFILES[@]}"; do curl -s "http://127.0.0.1:${P_AD[$k]}/metrics" >"$TMP/adapter-$k.metrics" || true; done
AI_HWM_KB=$(hwm_kb $AI_PID); AD_HWM_KB=$(hwm_kb "${AD_PID[zero]}"); ADS_HWM_KB=$(hwm_kb "${AD_PID[stream]}")
AI_AFTER_KB=$(rss_kb $AI_PID)

# ---------------------------------------------------------------- report

N_ADD50=$((l_n50 - l_d50)); N_ADD99=$((l_n99 - l_d99)); A_ADD50=$((l_a50 - l_d50)); A_ADD99=$((l_a99 - l_d99))
if [ "$N_ADD99" -gt 0 ]; then
  R_ADD=$(ratio "$A_ADD99" "$N_ADD99"); R_ADD_TXT="$R_ADD× (target ≤ 3×: $(verdict "$R_ADD" 3 le))"
else
  R_ADD_TXT="n/a (nginx added p99 ≤ 0 µs in this run: noise exceeds nginx's own cost)"
fi
rate_ratio_row() { # label ngx ai
  local n a r
  n=$(jget "$TMP/rate-$2.json" 'd["max_rate"]'); a=$(jget "$TMP/rate-$3.json" 'd["max_rate"]'); r=$(ratio "$a" "$n")
  echo "| $1 | $(rate_cells "$2") | $(rate_cells "$3") | $r (target ≥ 0.40: $( [ "$r" = n/a ] && echo n/a || verdict "$r" 0.40 ge)) |"
}
seq_row() { # label name ref
  local f=$TMP/seq-$2.json r=$TMP/seq-$3.json
  local t50 t99 g50 g99 gmax rt50 rt99 rg99
  read -r t50 t99 g50 g99 gmax < <(jget "$f" '"%s %s %s %s %s" % (d["ttft_ms"]["p50"], d["ttft_ms"]["p99"], d["gap_ms"]["p50"], d["gap_ms"]["p99"], d["gap_ms"]["max"])')
  read -r rt50 rt99 rg99 < <(jget "$r" '"%s %s %s" % (d["ttft_ms"]["p50"], d["ttft_ms"]["p99"], d["gap_ms"]["p99"])')
  local okn; okn=$(jget "$f" '"%d/%d" % (d["ok"], d["streams"])')
  if [ "$2" = "$3" ]; then
    echo "| $1 | $okn | $(ms "$t50") | $(ms "$t99") | — | $(ms "$g50") | $(ms "$g99") | — | $(ms "$gmax") |"
  else
    echo "| $1 | $okn | $(ms "$t50") | $(ms "$t99") | $(plus "$t50" "$rt50" ms) / $(plus "$t99" "$rt99" ms) | $(ms "$g50") | $(ms "$g99") | $(plus "$g99" "$rg99" ms) | $(ms "$gmax") |"
  fi
}
ladder_row() { local h f w; IFS=$'\t' read -r h f w <"$TMP/ladder-$2"; echo "| $1 | $h | $f | $w |"; }
HZ=$(getconf CLK_TCK)
cpu_row() { # label name ticks idle_ticks
  local n; n=$(jget "$TMP/cpu-$2.json" 'd["ok"]')
  awk -v l="$1" -v t="$3" -v n="$n" -v hz="$HZ" -v i="${4:-}" -v d="$DUR" 'BEGIN {
    printf "| %s | %d | %.0f | %s | %s |\n", l, n, t * 1000 / hz, (n ? sprintf("%.0f", t * 1e6 / hz / n) : "n/a"),
      (i == "" ? "—" : sprintf("%.1f", i * 1000 / hz / d)) }'
}

HZ_NOTE="utime+stime from /proc/<pid>/stat"
echo "### ai-service vs nginx reverse proxy vs direct engine-sim (\`make bench\`, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores)"
echo
echo "Command: \`${ECO_BENCH_CMD:-ECO_BENCH_SECONDS=$DUR bash bench/run.sh}\` — this stage took $((END - START)) s of load;"
echo "${DUR} s per load step. Same engine-sim binary for every path: \`engine-sim ${SIM_FLAGS[*]}\` plus"
echo "zero: \`${SIM_PROFILE[zero]}\`, 20 ms: \`${SIM_PROFILE[ttft20]}\`, stream: \`${SIM_PROFILE[stream]}\` (one instance"
echo "per profile, each behind its own engine-adapter). nginx $(nginx -v 2>&1 | sed 's/.*\///'): 1 worker, \`proxy_pass\` to an"
echo "upstream with \`keepalive 1024\`, \`proxy_http_version 1.1\`, \`proxy_buffering off\` for the stream server only."
echo "Raised for the benchmark: ai-service \`${AI_ENV[*]}\`; engine-adapter \`${AD_ENV[*]}\`."
echo
echo "#### Added latency at concurrency 1, zero-delay engine (16 tokens, non-streaming)"
echo
echo "\`wrk -t1 -c1 -d${DUR}s --latency -s post.lua URL\` (REST) and \`ghz --insecure --call eco.ai.v1.Inference/GenerateCompletion -c 1 -z ${DUR}s\` (gRPC)."
echo
echo "| path | p50 (µs) | p99 (µs) | added p50 | added p99 |"
echo "|---|---|---|---|---|"
echo "| (a) direct to engine-sim, HTTP | $l_d50 | $l_d99 | — | — |"
echo "| (b) nginx → engine-sim | $l_n50 | $l_n99 | $(added "$l_n50" "$l_d50") | $(added "$l_n99" "$l_d99") |"
echo "| (c) ai-service → adapter → engine-sim, REST | $l_a50 | $l_a99 | $(added "$l_a50" "$l_d50") | $(added "$l_a99" "$l_d99") |"
echo "| (d) gRPC direct to engine-adapter | $g_d50 | $g_d99 | $(added "$g_d50" "$l_d50") vs (a) | $(added "$g_d99" "$l_d99") vs (a) |"
echo "| (d) gRPC through ai-service → adapter | $g_a50 | $g_a99 | $(added "$g_a50" "$g_d50") vs adapter | $(added "$g_a99" "$g_d99") vs adapter |"
echo
echo "ai-service added p99 / nginx added p99 (REST): $R_ADD_TXT."
echo
echo "#### Highest sustained rate (p99 < 1 s, errors < 0.1 %, non-streaming)"
echo
echo "\`vegeta attack -rate R/1s -duration ${DUR}s -timeout ${VEG_TIMEOUT}s -max-body 512\` per step; rates double from 500/s until a"
echo "step fails, then 3 bisection steps; between steps the engines are left to finish what they hold. A step also fails if vegeta sent less than 95 % of the rate (\"sent only\": vegeta"
echo "could not keep the rate: requests and new connections were not taken fast enough, or the client lacked CPU). \"ovf\" ="
echo "SYNs dropped on a full accept queue during the step (TcpExt ListenOverflows, whole machine)."
echo
echo "| engine | nginx max req/s | nginx p99 at max | nginx first failing rate | ai-service max req/s | ai-service p99 at max | ai-service first failing rate | ratio ai-service/nginx |"
echo "|---|---|---|---|---|---|---|---|"
rate_ratio_row "answers after 20 ms" nginx-ttft20 ai-ttft20
rate_ratio_row "zero delay" nginx-zero ai-zero
echo
echo "Steps: nginx 20 ms: $(steps_line nginx-ttft20). ai-service 20 ms: $(steps_line ai-ttft20)."
echo "nginx zero: $(steps_line nginx-zero). ai-service zero: $(steps_line ai-zero)."
echo
echo "#### Streaming: 64 chunks 20 ms apart, one stream at a time"
echo
echo "\`python3 bench/sse_streams.py URL BODY --streams 1 --rounds ${SEQ_STREAMS} --expect-tokens 64\` (raw sockets, a new"
echo "connection per stream, each SSE event timestamped when its recv returns; TTFT = request sent → first content chunk)."
echo
echo "| path | streams ok | TTFT p50 (ms) | TTFT p99 (ms) | added TTFT p50 / p99 | gap p50 (ms) | gap p99 (ms) | added gap p99 | max gap (ms) |"
echo "|---|---|---|---|---|---|---|---|---|"
seq_row "direct to engine-sim" direct direct
seq_row "nginx → engine-sim" nginx direct
seq_row "ai-service → adapter → engine-sim" ai direct
echo
echo "#### Most concurrent streams without any inter-token gap over 40 ms"
echo
echo "\`python3 bench/sse_streams.py URL BODY --streams N --expect-tokens 64 --gap-limit-ms 40\`, N = 16, 32, 64, … ≤ ${MAX_STREAMS}"
echo "(starts spread over 20 ms); a level holds when every stream gets its 64 chunks with no gap > 40 ms. The client is"
echo "one Python process on the same $(nproc) cores, so the direct row is the client's own ceiling."
echo
echo "| path | most streams held | first failing level | why |"
echo "|---|---|---|---|"
ladder_row "direct to engine-sim" direct
ladder_row "nginx → engine-sim" nginx
ladder_row "ai-service → adapter → engine-sim" ai
echo
echo "#### CPU per request (zero-delay engine, ${CPU_RATE} req/s fixed rate for ${DUR} s, non-streaming)"
echo
echo "$HZ_NOTE before and after the run (tick = $((1000 / HZ)) ms), divided by the requests answered 200; ai-service and"
echo "its adapter in one run, nginx in a second. Idle CPU: the same counters over ${DUR} s before any load (included above)."
echo
echo "| process | requests answered | CPU (ms) | CPU per request (µs) | idle CPU (ms per s) |"
echo "|---|---|---|---|---|"
cpu_row "ai-service" ai "$T_AI" "$I_AI"
cpu_row "engine-adapter" ai "$T_AD" "$I_AD"
cpu_row "ai-service + engine-adapter" ai "$((T_AI + T_AD))" "$((I_AI + I_AD))"
cpu_row "nginx worker (reference, whole proxy)" nginx "$T_NGX"
echo
echo "#### Memory (VmRSS)"
echo
echo "| process | idle (after start) | during the fixed-rate run | peak over the stage (VmHWM) | idle target < 15 MiB |"
echo "|---|---|---|---|---|"
echo "| ai-service | $(mib "$AI_IDLE_KB") | $(mib "$AI_LOAD_KB") | $(mib "$AI_HWM_KB") | $( [ "$AI_IDLE_KB" -lt 15360 ] && echo met || echo '**missed**') |"
echo "| engine-adapter (zero profile) | $(mib "$AD_IDLE_KB") | $(mib "$AD_LOAD_KB") | $(mib "$AD_HWM_KB") | $( [ "$AD_IDLE_KB" -lt 15360 ] && echo met || echo '**missed**') |"
echo
echo "engine-adapter of the stream profile peaked at $(mib "$ADS_HWM_KB"); ai-service after the stage: $(mib "$AI_AFTER_KB")."
echo
echo "#### Failures seen during this stage"
echo
echo "- ai-service (REST), all rate steps and streams:"
errors_of "$TMP"/rate-ai-*.json "$TMP"/cpu-ai.json "$TMP"/seq-ai.json "$TMP"/conc-ai-*.json
echo "- nginx, all rate steps and streams:"
errors_of "$TMP"/rate-nginx-*.json "$TMP"/cpu-nginx.json "$TMP"/seq-nginx.json "$TMP"/conc-nginx-*.json
echo "- direct streams:"
errors_of "$TMP"/seq-direct.json "$TMP"/conc-direct-*.json
echo "- warn/error log lines of ai-service and the engine-adapters:"
log_summary "$TMP/ai.log" "$TMP"/adapter-*.log
echo "- ai-service and engine-adapter counters at the end (non-zero failure-related series):"
python3 bench/failure_counters.py --ok '(code|status)="2[0-9][0-9]"|outcome="ok"|/metrics|/ready|/health' \
  --families eco_ai_requests_total,eco_ai_retries_total,eco_ai_failovers_total,eco_ai_shed_total,eco_ai_circuit_opens_total,eco_adapter_requests_total,eco_adapter_stream_cuts_total,eco_adapter_stream_pauses_total,eco_requests_total \
  "$TMP/ai.metrics" "$TMP"/adapter-*.metrics
echo "- nginx error log:"
if [ -s "$TMP/ngx/error.log" ]; then
  sed -E 's/^[0-9\/: ]+//; s/, client: .*//' "$TMP/ngx/error.log" | sort | uniq -c | sort -rn | head -5 |
    awk '{ n=$1; $1=""; printf "  - %d × `%s`\n", n, substr($0, 2) }'
else
  echo "  - none"
fi
