#!/usr/bin/env bash
# The whole public path with an API key -- client -> root-gateway -> ai-service -> engine-adapter ->
# engine-sim -- against nginx as a single-hop reverse proxy and against engine-sim itself (direct),
# all in front of one engine-sim (vllm personality, no delay, 16 tokens):
#   added latency at concurrency 1 (wrk), highest sustained rate (rate_search.py / vegeta), the cost
#   of authentication and rate limiting on the key-cache-hit path shown separately (root-gateway
#   answering by itself at three depths, Redis's own time for the limiter script), CPU per request
#   at a fixed rate, root-gateway's memory.
# PostgreSQL and Redis come from `ecoctl up postgres redis` on a private run dir and port offset
# (ECO_BENCH_PORT_OFFSET, else the first free one from 15400 down in steps of 100: the manifest's highest
# port, 50063, must stay <= 65535), cleaned on exit.
# Limits raised for the benchmark (reported in the output): see GW_ENV, AI_ENV and AD_ENV below.
source "$(dirname "$0")/lib.sh"

VEG_TIMEOUT=3 # s; a request slower than this fails the step anyway (p99 must stay under 1 s)
CONC=${ECO_BENCH_GW_CONNS:-32} # wrk connections for root-gateway's own answers (closed loop)
SECRET=eco-bench-internal-secret-$(python3 -c 'import secrets; print(secrets.token_hex(16))')
GW_ENV=(ECO_DEFAULT_RPM=1000000000 ECO_DEFAULT_TPM=1000000000 ECO_KEY_CACHE_TTL_MS=3600000
        ECO_UPSTREAM_MAX_CONNS=4096 ECO_DB_QUEUE_MAX=4096 ECO_LOG_LEVEL=warn ECO_SHUTDOWN_GRACE_MS=500)
AI_ENV=(ECO_BACKEND_MAX_INFLIGHT=4096 ECO_QUEUE_MAX=4096 ECO_LOG_LEVEL=warn ECO_SHUTDOWN_GRACE_MS=500
        ECO_KAFKA_BROKERS=127.0.0.1:9 ECO_GRPC_AUTH=off)
AD_ENV=(ECO_ENGINE_MAX_CONNS=4096 ECO_LOG_LEVEL=warn ECO_SHUTDOWN_GRACE_MS=500)
SIM_FLAGS=(--kind vllm --bind 127.0.0.1 --log-level warn --max-concurrency 0 --max-output-tokens 16)

for t in redis-server redis-cli psql; do command -v "$t" >/dev/null || { echo "bench: $t is missing (make deps)" >&2; exit 1; }; done
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || { echo "bench: PostgreSQL server binaries are missing (make deps)" >&2; exit 1; }

# ---------------------------------------------------------------- PostgreSQL and Redis (ecoctl)
port_free() { python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1])))' "$1" 2>/dev/null; }
OFF=${ECO_BENCH_PORT_OFFSET:-}
if [ -z "$OFF" ]; then
  for o in $(seq 15400 -100 1000); do
    if port_free $((5432 + o)) && port_free $((6379 + o)); then OFF=$o; break; fi
  done
  [ -n "$OFF" ] || { echo "bench: no free port offset for PostgreSQL and Redis in 15400..1000" >&2; exit 1; }
fi
PG_PORT=$((5432 + OFF)); REDIS_PORT=$((6379 + OFF))
PG_URL="postgresql://eco@127.0.0.1:$PG_PORT/eco"; REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
ECOCTL=(build/bin/ecoctl --run-dir "$TMP/deps" --port-offset "$OFF" --no-color)
DEPS=0
on_exit() { # our servers first (they hold database connections), then ecoctl's, then the scratch dir
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
  if [ "$DEPS" = 1 ] && ! "${ECOCTL[@]}" clean >>"$TMP/ecoctl.log" 2>&1; then
    echo "bench: ecoctl clean failed:" >&2; tail -5 "$TMP/ecoctl.log" >&2 || true
  fi
  cleanup
}
trap on_exit EXIT

log "PostgreSQL and Redis: ecoctl up (port offset $OFF)"
DEPS=1
if ! "${ECOCTL[@]}" up postgres redis >"$TMP/ecoctl.log" 2>&1; then
  echo "bench: ecoctl up postgres redis failed:" >&2; tail -20 "$TMP/ecoctl.log" >&2; exit 1
fi
REDIS_PID=$(awk '{print $1}' "$TMP/deps/pids/redis.pid")
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
env ECO_POSTGRES_URL="$PG_URL" ECO_REDIS_URL="$REDIS_URL" ECO_LOG_LEVEL=warn \
  ECO_MIGRATIONS_DIR="$ROOT/services/api-gateway/migrations" \
  ECO_BOOTSTRAP_ADMIN_EMAIL=admin@eco.local ECO_BOOTSTRAP_ADMIN_PASSWORD=eco-bench-admin-password \
  build/bin/api-gateway --migrate >"$TMP/migrate.log" 2>&1 || { echo "bench: migration failed:" >&2; cat "$TMP/migrate.log" >&2; exit 1; }
# bench: the key measured (no limit of its own: the raised service defaults apply); bench-limited:
# rpm_limit 1, so once its one request is spent every request is refused by the limiter (429).
for k in bench bench-limited; do
  env ECO_POSTGRES_URL="$PG_URL" ECO_LOG_LEVEL=warn build/bin/api-gateway --create-key --owner admin@eco.local \
    --name "$k" --out "$TMP/key-$k" >>"$TMP/migrate.log" 2>&1 || { echo "bench: --create-key failed:" >&2; cat "$TMP/migrate.log" >&2; exit 1; }
done
psql "$PG_URL" -qtAc "UPDATE api_keys SET rpm_limit = 1 WHERE name = 'bench-limited'" >/dev/null
KEY=$(cat "$TMP/key-bench"); KEY_LIMITED=$(cat "$TMP/key-bench-limited")
KEY_UNKNOWN=eco_sk_$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))') # well-formed, in no table

# ---------------------------------------------------------------- our servers and nginx
P_SIM=$(free_port); P_AD=$(free_port); G_AD=$(free_port); P_AI=$(free_port); G_AI=$(free_port)
P_GW=$(free_port); P_NGX=$(free_port)
build/bin/engine-sim "${SIM_FLAGS[@]}" --port "$P_SIM" >"$TMP/sim.log" 2>&1 & pids+=($!)
wait_http "http://127.0.0.1:$P_SIM/health"
env "${AD_ENV[@]}" ECO_HTTP_PORT="$P_AD" ECO_GRPC_PORT="$G_AD" ECO_BIND_ADDR=127.0.0.1 ECO_ENGINE_KIND=vllm \
  ECO_ENGINE_URL="http://127.0.0.1:$P_SIM" build/bin/engine-adapter >"$TMP/adapter.log" 2>&1 & AD_PID=$!; pids+=("$AD_PID")
printf 'default: sim-zero\nmodels:\n  - id: sim-zero\n    capabilities: [chat, completion]\n    backends:\n      - {name: ad-zero, address: "127.0.0.1:%s"}\n' \
  "$G_AD" >"$TMP/models.yaml"
wait_ready "http://127.0.0.1:$P_AD/ready"
env "${AI_ENV[@]}" ECO_HTTP_PORT="$P_AI" ECO_GRPC_PORT="$G_AI" ECO_BIND_ADDR=127.0.0.1 ECO_MODELS_FILE="$TMP/models.yaml" \
  ECO_INTERNAL_SECRET="$SECRET" build/bin/ai-service >"$TMP/ai.log" 2>&1 & AI_PID=$!; pids+=("$AI_PID")
env "${GW_ENV[@]}" ECO_HTTP_PORT="$P_GW" ECO_BIND_ADDR=127.0.0.1 ECO_POSTGRES_URL="$PG_URL" ECO_REDIS_URL="$REDIS_URL" \
  ECO_AI_SERVICE_URL="http://127.0.0.1:$P_AI" ECO_API_GATEWAY_URL=http://127.0.0.1:9 ECO_INTERNAL_SECRET="$SECRET" \
  build/bin/root-gateway >"$TMP/gw.log" 2>&1 & GW_PID=$!; pids+=("$GW_PID")

mkdir -p "$TMP/ngx" # as in ai_service_vs_nginx.sh: one worker, keepalive upstream
cat >"$TMP/ngx/nginx.conf" <<N
worker_processes 1; daemon off; pid $TMP/ngx/nginx.pid; error_log $TMP/ngx/error.log warn;
worker_rlimit_nofile 20000; events { worker_connections 16384; }
http { access_log off; client_body_temp_path $TMP/ngx; proxy_temp_path $TMP/ngx; fastcgi_temp_path $TMP/ngx;
  uwsgi_temp_path $TMP/ngx; scgi_temp_path $TMP/ngx;
  upstream sim { server 127.0.0.1:$P_SIM; keepalive 1024; }
  server { listen 127.0.0.1:$P_NGX; location / { proxy_pass http://sim; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
N
nginx -c "$TMP/ngx/nginx.conf" -p "$TMP/ngx" & NGX_PID=$!; pids+=("$NGX_PID")
wait_http "http://127.0.0.1:$P_NGX/health"
NGX_WORKER=$(pgrep -P "$NGX_PID" | head -1)
wait_ready "http://127.0.0.1:$P_AI/ready"
wait_ready "http://127.0.0.1:$P_GW/ready"

BODY_SIM='{"model":"eco-sim","messages":[{"role":"user","content":"hello there"}],"max_tokens":16,"seed":1}'
BODY_AI='{"model":"sim-zero","messages":[{"role":"user","content":"hello there"}],"max_tokens":16,"seed":1}'
printf '%s' "$BODY_SIM" >"$TMP/body-sim.json"; printf '%s' "$BODY_AI" >"$TMP/body-ai.json"
SIM_URL="http://127.0.0.1:$P_SIM/v1/chat/completions"
NGX_URL="http://127.0.0.1:$P_NGX/v1/chat/completions"
AI_URL="http://127.0.0.1:$P_AI/v1/chat/completions"
GW_URL="http://127.0.0.1:$P_GW/v1/chat/completions"
post() { # url [authorization value] -> HTTP status
  curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' ${2:+-H "authorization: $2"} \
    --data-binary "@$TMP/body-ai.json" "$1"
}
# ai-service learns its backend's state from a health/load poll: wait until a completion answers,
# then through root-gateway (the key's first use reads it from PostgreSQL into the cache).
for _ in $(seq 50); do [ "$(post "$AI_URL")" = 200 ] && break; sleep 0.1; done
st=$(post "$GW_URL" "Bearer $KEY")
[ "$st" = 200 ] || { echo "bench: full path answered $st, not 200; root-gateway log:" >&2; tail -5 "$TMP/gw.log" >&2; exit 1; }
# the other two credentials once each, so that they too are cache hits from now on
st=$(post "$GW_URL" "Bearer $KEY_UNKNOWN"); [ "$st" = 401 ] || { echo "bench: unknown key answered $st, not 401" >&2; exit 1; }
st=$(post "$GW_URL" "Bearer $KEY_LIMITED"); [ "$st" = 200 ] || { echo "bench: limited key's first request answered $st" >&2; exit 1; }
st=$(post "$GW_URL" "Bearer $KEY_LIMITED"); [ "$st" = 429 ] || { echo "bench: limited key's second request answered $st, not 429" >&2; exit 1; }
sleep 1
GW_IDLE_KB=$(rss_kb $GW_PID)
log "idle CPU over ${DUR}s"
I_GW0=$(cpu_ticks $GW_PID); sleep "$DUR"; I_GW=$(( $(cpu_ticks $GW_PID) - I_GW0 ))
START=$(date +%s)

# ---------------------------------------------------------------- helpers
# wrk POST with optional headers: "rps p50_us p99_us requests non2xx socket_errors mean_us"
wrk_post() { # url conns [header...]
  local url=$1 c=$2 lua out h; shift 2
  lua=$(mktemp "$TMP/post.XXXXXX.lua"); out=$(mktemp "$TMP/wrk.XXXXXX")
  {
    printf 'wrk.method = "POST"; wrk.headers["content-type"] = "application/json"\n'
    for h in "$@"; do printf 'wrk.headers["%s"] = "%s"\n' "${h%%: *}" "${h#*: }"; done
    printf 'wrk.body = [[%s]]\n' "$([[ $url == "$SIM_URL" || $url == "$NGX_URL" ]] && echo "$BODY_SIM" || echo "$BODY_AI")"
  } >"$lua"
  wrk -t1 -c"$c" -d"${DUR}s" --latency -s "$lua" "$url" >"$out"
  awk 'function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000; if (v ~ /s$/) return (v+0)*1e6; return v }
    /^ +50%/ {p50=us($2)} /^ +99%/ {p99=us($2)} /^Requests\/sec/ {rps=$2} / requests in / {n=$1} /^ +Latency +[0-9]/ {avg=us($2)}
    /Non-2xx or 3xx responses/ {bad=$NF} /Socket errors/ {se=$0; gsub(/[^0-9 ]/, "", se); split(se, a, " "); err=a[1]+a[2]+a[3]+a[4]}
    END {printf "%.0f %.0f %.0f %d %d %d %.0f\n", rps, p50, p99, n, bad, err, avg}' "$out"
}
metrics() { curl -s "$1/metrics"; }
# Deltas of every Prometheus series between two scrapes, as JSON {"name{labels}": delta}.
mdelta() {
  python3 - "$1" "$2" <<'PY'
import json, sys
def load(f):
    d = {}
    for line in open(f):
        if line.startswith("#") or " " not in line:
            continue
        k, v = line.rstrip("\n").rsplit(" ", 1)
        try:
            d[k] = float(v)
        except ValueError:
            pass
    return d
a, b = load(sys.argv[1]), load(sys.argv[2])
print(json.dumps({k: b[k] - a.get(k, 0.0) for k in b if b[k] - a.get(k, 0.0)}))
PY
}
# Runs wrk against root-gateway with root-gateway's (and ai-service's) metrics scraped around it:
# $TMP/<name>.wrk (wrk_post's line), $TMP/<name>.gw.json, $TMP/<name>.ai.json deltas, $TMP/<name>.cpu
# (CPU ticks of root-gateway and redis-server over the run).
gw_run() { # name url conns [header...]
  local name=$1 g0 r0; shift
  metrics "http://127.0.0.1:$P_GW" >"$TMP/m0.gw"; metrics "http://127.0.0.1:$P_AI" >"$TMP/m0.ai"
  g0=$(cpu_ticks "$GW_PID"); r0=$(cpu_ticks "$REDIS_PID")
  wrk_post "$@" >"$TMP/$name.wrk"
  echo "$(( $(cpu_ticks "$GW_PID") - g0 )) $(( $(cpu_ticks "$REDIS_PID") - r0 ))" >"$TMP/$name.cpu"
  metrics "http://127.0.0.1:$P_GW" >"$TMP/m1.gw"; metrics "http://127.0.0.1:$P_AI" >"$TMP/m1.ai"
  mdelta "$TMP/m0.gw" "$TMP/m1.gw" >"$TMP/$name.gw.json"; mdelta "$TMP/m0.ai" "$TMP/m1.ai" >"$TMP/$name.ai.json"
}
redis_stats() { # file: the commands Redis ran since the last CONFIG RESETSTAT, with their server-side times
  { rcli INFO commandstats; rcli INFO latencystats; } | tr -d '\r' >"$1"
}

# ---------------------------------------------------------------- (1) added latency at concurrency 1
log "added latency, concurrency 1: wrk x4, ${DUR}s each"
read -r _ l_d50 l_d99 l_dn l_dbad _ _ < <(wrk_post "$SIM_URL" 1)
read -r _ l_n50 l_n99 l_nn l_nbad _ _ < <(wrk_post "$NGX_URL" 1)
read -r _ l_a50 l_a99 l_an l_abad _ _ < <(wrk_post "$AI_URL" 1)
rcli CONFIG RESETSTAT >/dev/null
gw_run full "$GW_URL" 1 "authorization: Bearer $KEY"
redis_stats "$TMP/redis-full"
read -r _ l_f50 l_f99 l_fn l_fbad _ _ <"$TMP/full.wrk"

# ---------------------------------------------------------------- (3) root-gateway's own answers
# The same POST at three depths of root-gateway's pipeline, answered by root-gateway itself:
#   none    no Authorization header            -> 401 (routing, the 401 answer)
#   unknown a well-formed key in no table       -> 401 (+ Bearer parse, SHA-256, key-cache probe: a hit
#                                                  on the negative entry the warm-up left)
#   limited a valid key with rpm_limit 1        -> 429 (+ the same cache hit, role check, token estimate
#                                                  from the body, the limiter job: worker-pool hand-off,
#                                                  Redis script, back to the loop)
log "root-gateway's own answers: 3 x wrk -c1 and 3 x wrk -c$CONC, ${DUR}s each"
gw_run none1 "$GW_URL" 1
gw_run unknown1 "$GW_URL" 1 "authorization: Bearer $KEY_UNKNOWN"
rcli CONFIG RESETSTAT >/dev/null
gw_run limited1 "$GW_URL" 1 "authorization: Bearer $KEY_LIMITED"
redis_stats "$TMP/redis-limited"
gw_run noneN "$GW_URL" "$CONC"
gw_run unknownN "$GW_URL" "$CONC" "authorization: Bearer $KEY_UNKNOWN"
gw_run limitedN "$GW_URL" "$CONC" "authorization: Bearer $KEY_LIMITED"

# ---------------------------------------------------------------- (2) highest sustained rate
SETTLE=(--settle "http://127.0.0.1:$P_AI/metrics" --settle "http://127.0.0.1:$P_AD/metrics" --settle "http://127.0.0.1:$P_SIM/sim/stats")
search() { # name url bodyfile [rate_search args...]
  local name=$1 url=$2 bf=$3; shift 3
  log "rate search: $name"
  python3 bench/rate_search.py "$url" "$bf" --seconds "$DUR" --start 500 --bisect 3 --timeout $VEG_TIMEOUT "${SETTLE[@]}" "$@" \
    >"$TMP/rate-$name.json"
}
search nginx "$NGX_URL" "$TMP/body-sim.json"
search full "$GW_URL" "$TMP/body-ai.json" --header "Authorization: Bearer $KEY"

# ---------------------------------------------------------------- (4) CPU per request, loaded RSS
FULL_MAX=$(jget "$TMP/rate-full.json" 'd["max_rate"]')
CPU_RATE=${ECO_BENCH_CPU_RATE:-$(( FULL_MAX / 2 < 1000 ? (FULL_MAX / 2 > 50 ? FULL_MAX / 2 : 50) : 1000 ))}
fixed() { # name url bodyfile header("" = none) pid... -> $TMP/cpu-name.json, .ticks, $TMP/rss-name
  local name=$1 url=$2 bf=$3 hdr=$4 p t0=(); shift 4
  for p in "$@"; do t0+=("$(cpu_ticks "$p")"); done
  python3 bench/rate_search.py "$url" "$bf" --seconds "$DUR" --fixed "$CPU_RATE" --timeout $VEG_TIMEOUT \
    ${hdr:+--header "$hdr"} >"$TMP/cpu-$name.json" & local vp=$!
  sleep "$(awk -v d="$DUR" 'BEGIN { print d / 2 }')"
  for p in "$@"; do rss_kb "$p"; done >"$TMP/rss-$name"
  wait $vp
  local i=0
  for p in "$@"; do echo $(( $(cpu_ticks "$p") - t0[i] )); i=$((i + 1)); done >"$TMP/cpu-$name.ticks"
}
log "CPU per request: ${CPU_RATE} req/s for ${DUR}s, full path and nginx"
metrics "http://127.0.0.1:$P_GW" >"$TMP/m0.gw"
fixed full "$GW_URL" "$TMP/body-ai.json" "Authorization: Bearer $KEY" $GW_PID $AI_PID $AD_PID "$REDIS_PID"
metrics "http://127.0.0.1:$P_GW" >"$TMP/m1.gw"; mdelta "$TMP/m0.gw" "$TMP/m1.gw" >"$TMP/cpu-full.gw.json"
{ read -r T_GW; read -r T_AI; read -r T_AD; read -r T_RD; } <"$TMP/cpu-full.ticks"
GW_LOAD_KB=$(head -1 "$TMP/rss-full")
fixed nginx "$NGX_URL" "$TMP/body-sim.json" "" "$NGX_WORKER"
T_NGX=$(cat "$TMP/cpu-nginx.ticks")
END=$(date +%s)
metrics "http://127.0.0.1:$P_GW" >"$TMP/gw.metrics" || true
metrics "http://127.0.0.1:$P_AI" >"$TMP/ai.metrics" || true
metrics "http://127.0.0.1:$P_AD" >"$TMP/adapter.metrics" || true
GW_HWM_KB=$(hwm_kb $GW_PID); GW_AFTER_KB=$(rss_kb $GW_PID)

# ---------------------------------------------------------------- report (helpers: lib.sh)
HZ=$(getconf CLK_TCK)
N_ADD99=$((l_n99 - l_d99)); F_ADD99=$((l_f99 - l_d99))
if [ "$N_ADD99" -gt 0 ]; then
  R_ADD=$(ratio "$F_ADD99" "$N_ADD99"); R_ADD_TXT="**$R_ADD×** (target ≤ 2×: $(verdict "$R_ADD" 2 le))"
else
  R_ADD_TXT="n/a (nginx added p99 ≤ 0 µs in this run: noise exceeds nginx's own cost; full path added $F_ADD99 µs)"
fi
NGX_MAX=$(jget "$TMP/rate-nginx.json" 'd["max_rate"]')
R_RATE=$(ratio "$FULL_MAX" "$NGX_MAX")
R_RATE_TXT="**$R_RATE** (target ≥ 0.5: $( [ "$R_RATE" = n/a ] && echo n/a || verdict "$R_RATE" 0.5 ge))"
# sum of the deltas of the series whose name{labels} matches a regex, in a *.gw.json / *.ai.json file
dsum() { python3 -c 'import json,re,sys; d=json.load(open(sys.argv[1])); print("%.6g" % sum(v for k,v in d.items() if re.fullmatch(sys.argv[2], k)))' "$1" "$2"; }
# mean of a histogram over a run, µs: delta _sum / delta _count
hmean() { python3 -c 'import json,re,sys; d=json.load(open(sys.argv[1])); f=lambda s: sum(v for k,v in d.items() if re.fullmatch(sys.argv[2]+s+sys.argv[3], k))
n=f("_count"); print("%.0f" % (f("_sum")/n*1e6) if n else "n/a")' "$1" "$2" "$3"; }
ROUTE='\{[^}]*route="/v1/chat/completions"[^}]*\}'
own_row() { # label name(c1) name(cN) expected-series-regex what
  local p50 p99 n avg rps nN d1 dN tg tr
  read -r _ p50 p99 n _ _ avg <"$TMP/$2.wrk"
  read -r rps _ _ nN _ _ _ <"$TMP/$3.wrk"
  read -r tg tr <"$TMP/$3.cpu"
  d1=$(dsum "$TMP/$2.gw.json" "$4"); dN=$(dsum "$TMP/$3.gw.json" "$4")
  echo "| $1 | $p50 | $avg | $p99 | $rps | $(per_req "$tg" "$nN") | $(per_req "$tr" "$nN") | $(printf '%.0f' "$d1")/$n; $(printf '%.0f' "$dN")/$nN | $5 |"
}
per_req() { awk -v t="$1" -v n="$2" -v hz="$HZ" 'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }'; } # ticks requests -> µs
own_cost() { # name(cN, with the stage) name(cN, without) -> "+X µs root-gateway CPU, +Y µs Redis CPU, +Z µs of 1/throughput"
  local ra na ta ua rb nb tb ub
  read -r ra _ _ na _ _ _ <"$TMP/$1.wrk"; read -r ta ua <"$TMP/$1.cpu"
  read -r rb _ _ nb _ _ _ <"$TMP/$2.wrk"; read -r tb ub <"$TMP/$2.cpu"
  awk -v ra="$ra" -v na="$na" -v ta="$ta" -v ua="$ua" -v rb="$rb" -v nb="$nb" -v tb="$tb" -v ub="$ub" -v hz="$HZ" 'BEGIN {
    c = 1e6 / hz; printf "%+.1f µs root-gateway CPU, %+.1f µs Redis CPU, %+.1f µs of 1/throughput", ta * c / na - tb * c / nb,
      ua * c / na - ub * c / nb, (ra && rb) ? 1e6 / ra - 1e6 / rb : 0 }'
}
redis_line() { # stats file, requests -> the scripts Redis ran (EVALSHA/EVAL) with server-side times, and what ran inside them
  python3 - "$1" "$2" <<'PY'
import re, sys
calls, lat = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r"cmdstat_(\S+?):calls=(\d+),usec=(\d+),usec_per_call=([\d.]+)", line)
    if m:
        calls[m.group(1)] = (int(m.group(2)), float(m.group(4)))
    m = re.match(r"latency_percentiles_usec_(\S+?):(.*)", line)
    if m:
        lat[m.group(1)] = dict(kv.split("=") for kv in m.group(2).strip().split(","))
n = int(sys.argv[2]) or 1
top = ["`%s` %.2f per request, %.1f µs per call server-side (p50 %s µs, p99 %s µs)" % (
           c.upper(), k / n, per, lat.get(c, {}).get("p50", "?"), lat.get(c, {}).get("p99", "?"))
       for c, (k, per) in sorted(calls.items()) if c in ("evalsha", "eval")]
skip = ("evalsha", "eval", "ping", "info", "hello", "select", "auth", "client")
inside = ["%s %.2f" % (c.upper(), k / n) for c, (k, per) in sorted(calls.items(), key=lambda kv: -kv[1][0])
          if not c.startswith(skip) and not c.startswith("config") and not c.startswith("script")]
print("%s; inside the scripts, per request: %s" % ("; ".join(top) or "no script calls", ", ".join(inside) or "nothing"))
PY
}
cpu_row() { # label name ticks [idle_ticks]
  local n; n=$(jget "$TMP/cpu-$2.json" 'd["ok"]')
  awk -v l="$1" -v t="$3" -v n="$n" -v hz="$HZ" -v i="${4:-}" -v d="$DUR" 'BEGIN {
    printf "| %s | %d | %.0f | %s | %s |\n", l, n, t * 1000 / hz, (n ? sprintf("%.0f", t * 1e6 / hz / n) : "n/a"),
      (i == "" ? "—" : sprintf("%.1f", i * 1000 / hz / d)) }'
}
GW_MEAN=$(hmean "$TMP/full.gw.json" "eco_request_duration_seconds" "$ROUTE")
AI_MEAN=$(hmean "$TMP/full.ai.json" "eco_request_duration_seconds" "$ROUTE")
POOL_WAIT_F=$(hmean "$TMP/full.gw.json" "eco_db_pool_wait_seconds" '(\{[^}]*\})?')
POOL_WAIT_L=$(hmean "$TMP/limited1.gw.json" "eco_db_pool_wait_seconds" '(\{[^}]*\})?')
SUB() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a") print "n/a"; else printf "%+d", a - b }'; }
read -r _ o_050 o_099 _ _ _ o_0m <"$TMP/none1.wrk"; read -r _ o_150 o_199 _ _ _ o_1m <"$TMP/unknown1.wrk"
read -r _ o_250 o_299 _ _ _ o_2m <"$TMP/limited1.wrk"

echo "### Full path with an API key vs nginx single hop vs direct engine-sim (\`make bench\`, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores)"
echo
echo "Command: \`${ECO_BENCH_CMD:-ECO_BENCH_SECONDS=$DUR bash bench/run.sh}\` — this stage took $((END - START)) s of load;"
echo "${DUR} s per load step. Full path: client → root-gateway (API key, \`Authorization: Bearer eco_sk_…\`) → ai-service"
echo "(REST) → engine-adapter (gRPC) → engine-sim \`${SIM_FLAGS[*]}\`; nginx $(nginx -v 2>&1 | sed 's/.*\///') → the"
echo "same engine-sim (1 worker, \`proxy_pass\` to an upstream with \`keepalive 1024\`); direct = the engine-sim itself."
echo "PostgreSQL $("$(compgen -G '/usr/lib/postgresql/*/bin/postgres' | head -1)" --version | awk '{print $3}') and Redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')"
echo "from \`ecoctl --run-dir <scratch> --port-offset $OFF up postgres redis\` (\`ecoctl clean\` at the end), schema from"
echo "\`api-gateway --migrate\`, keys from \`api-gateway --create-key\`. Raised for the benchmark: root-gateway \`${GW_ENV[*]}\`"
echo "(the API key has no limit of its own, so the defaults apply; the key cache TTL keeps every request after the first a"
echo "cache hit); ai-service \`${AI_ENV[*]}\`, \`ECO_INTERNAL_SECRET\` shared with root-gateway; engine-adapter \`${AD_ENV[*]}\`."
echo
echo "#### Added latency at concurrency 1 (16 tokens, non-streaming)"
echo
echo "\`wrk -t1 -c1 -d${DUR}s --latency -s post.lua URL\`, the full path with the \`authorization\` header."
echo
echo "| path | p50 (µs) | p99 (µs) | added p50 | added p99 |"
echo "|---|---|---|---|---|"
echo "| direct to engine-sim | $l_d50 | $l_d99 | — | — |"
echo "| nginx → engine-sim (single hop) | $l_n50 | $l_n99 | $(added "$l_n50" "$l_d50") | $(added "$l_n99" "$l_d99") |"
echo "| ai-service → adapter → engine-sim (no gateway, reference) | $l_a50 | $l_a99 | $(added "$l_a50" "$l_d50") | $(added "$l_a99" "$l_d99") |"
echo "| **root-gateway → ai-service → adapter → engine-sim** | $l_f50 | $l_f99 | $(added "$l_f50" "$l_d50") | $(added "$l_f99" "$l_d99") |"
echo
echo "Full-path added p99 / nginx added p99: $R_ADD_TXT. root-gateway's share (full path − ai-service direct):"
echo "$(added "$l_f50" "$l_a50") at p50, $(added "$l_f99" "$l_a99") at p99; by the servers' own histograms over the same run"
echo "(\`eco_request_duration_seconds\` _sum/_count of the route), a request spent on average ${GW_MEAN} µs in root-gateway, of which"
echo "${AI_MEAN} µs in ai-service: $(SUB "$GW_MEAN" "$AI_MEAN") µs in root-gateway itself (auth, limiter, proxying)."
echo "Non-2xx answers in these runs: direct $l_dbad, nginx $l_nbad, ai-service $l_abad, full path $l_fbad (of $l_dn, $l_nn, $l_an, $l_fn)."
echo
echo "#### Highest sustained rate (p99 < 1 s, errors < 0.1 %, non-streaming)"
echo
echo "\`python3 bench/rate_search.py URL BODY --start 500 --bisect 3 --timeout ${VEG_TIMEOUT}\` (vegeta \`-rate R/1s -duration ${DUR}s\`;"
echo "the full path with \`--header 'Authorization: Bearer …'\`): rates double from 500/s until a step fails, then 3"
echo "bisection steps. A step also fails if vegeta sent less than 95 % of the rate; \"ovf\" = SYNs dropped on a full accept"
echo "queue during the step (whole machine)."
echo
echo "| nginx max req/s | nginx p99 at max | nginx first failing rate | full path max req/s | full path p99 at max | full path first failing rate | ratio full path/nginx |"
echo "|---|---|---|---|---|---|---|"
echo "| $(rate_cells nginx) | $(rate_cells full) | $R_RATE_TXT |"
echo
echo "Steps: nginx: $(steps_line nginx). Full path: $(steps_line full)."
echo
echo "#### Authentication and rate limiting on the key-cache-hit path, shown separately"
echo
echo "root-gateway has no switch that turns authentication or the limiter off, and the limiter always asks Redis (no"
echo "local shortcut for high limits; the in-process twin is used only when Redis is down in fail-open mode). So the same"
echo "POST is sent with three credentials that make root-gateway answer by itself at three depths of its pipeline, no"
echo "upstream involved; each row adds one stage to the one above (\`wrk -t1 -d${DUR}s\`, -c1 for latency, -c${CONC} closed loop"
echo "for throughput, the client sharing the $(nproc) cores). \"Counted\" = root-gateway's own counter for that outcome over the"
echo "run / requests wrk completed (-c1; -c${CONC}), to show every request took the intended path (at -c${CONC} the counter may
exceed wrk's count by up to ${CONC}: requests in flight when wrk stopped). CPU: utime+stime over the -c${CONC} run / requests.
At -c1 the p99s move with the other load on the machine; the p50s, means and CPU figures are the steadier ones."
echo
echo "| request → answer | p50 (µs) | mean (µs) | p99 (µs) | req/s at -c${CONC} | root-gateway CPU per request at -c${CONC} (µs) | redis-server CPU per request (µs) | counted (-c1; -c${CONC}) | what root-gateway did |"
echo "|---|---|---|---|---|---|---|---|---|"
own_row "no \`Authorization\` → 401" none1 noneN 'eco_gateway_auth_total\{kind="none",result="missing"\}' \
  "route match, 401 answer"
own_row "unknown well-formed key → 401" unknown1 unknownN 'eco_gateway_auth_total\{kind="api_key",result="invalid"\}' \
  "+ Bearer parse, SHA-256, key-cache probe (hit on a negative entry)"
own_row "valid key, \`rpm_limit\` 1 → 429" limited1 limitedN 'eco_gateway_ratelimit_decisions_total\{result="limited"\}' \
  "+ cache hit (valid entry), role check, token estimate (body parse), limiter: worker-pool hand-off → Redis script → back"
echo
echo "- Authentication (cache hit), row 2 − row 1: latency $(added "$o_150" "$o_050") at p50, $(added "$o_1m" "$o_0m") mean, $(added "$o_199" "$o_099") at p99;"
echo "  $(own_cost unknownN noneN)."
echo "- Rate limiting, row 3 − row 2: latency $(added "$o_250" "$o_150") at p50, $(added "$o_2m" "$o_1m") mean, $(added "$o_299" "$o_199") at p99;"
echo "  $(own_cost limitedN unknownN). Of the latency, mean wait for a pool"
echo "  worker ${POOL_WAIT_L} µs (\`eco_db_pool_wait_seconds\`), and Redis's own time: $(redis_line "$TMP/redis-limited" "$(cut -d' ' -f4 "$TMP/limited1.wrk")")."
echo "- On the full path (allowed requests, the -c1 run above) Redis ran: $(redis_line "$TMP/redis-full" "$l_fn"); mean pool"
echo "  wait ${POOL_WAIT_F} µs per job. The reconciliation of the token reservation (the usage in the answer against the"
echo "  reservation made from \`max_tokens\`) is a second Redis call per request, after the answer (not in the latency)."
echo "  Key cache over the whole stage: $(python3 - "$TMP/gw.metrics" <<'PY'
import re, sys
c = {}
for l in open(sys.argv[1]):
    m = re.match(r'eco_gateway_key_cache_lookups_total\{result="(\w+)"\} (\S+)', l)
    if m:
        c[m.group(1)] = int(float(m.group(2)))
print(", ".join("%s %d" % kv for kv in sorted(c.items())) or "no counter")
PY
) (the misses: the first use of each of the three keys)."
echo
echo "#### CPU per request (${CPU_RATE} req/s fixed rate for ${DUR} s, non-streaming)"
echo
echo "utime+stime from /proc/<pid>/stat before and after (tick = $((1000 / HZ)) ms), divided by the requests answered 200;"
echo "the full path's processes in one run, nginx in a second. Idle CPU: root-gateway over ${DUR} s before any load."
echo
echo "| process | requests answered | CPU (ms) | CPU per request (µs) | idle CPU (ms per s) |"
echo "|---|---|---|---|---|"
cpu_row "root-gateway" full "$T_GW" "$I_GW"
cpu_row "ai-service" full "$T_AI"
cpu_row "engine-adapter" full "$T_AD"
cpu_row "redis-server (limiter)" full "$T_RD"
cpu_row "full path total (without engine-sim)" full "$((T_GW + T_AI + T_AD + T_RD))"
cpu_row "nginx worker (reference, whole proxy)" nginx "$T_NGX"
echo
echo "#### Memory of root-gateway (VmRSS)"
echo
echo "| idle (after start and warm-up) | during the fixed-rate run | peak over the stage (VmHWM) | after the stage |"
echo "|---|---|---|---|"
echo "| $(mib "$GW_IDLE_KB") | $(mib "$GW_LOAD_KB") | $(mib "$GW_HWM_KB") | $(mib "$GW_AFTER_KB") |"
echo
echo "#### Failures seen during this stage"
echo
echo "- full path, rate steps and the fixed-rate run:"
errors_of "$TMP/rate-full.json" "$TMP/cpu-full.json"
echo "- nginx, rate steps and the fixed-rate run:"
errors_of "$TMP/rate-nginx.json" "$TMP/cpu-nginx.json"
echo "- warn/error log lines of root-gateway, ai-service and engine-adapter:"
log_summary "$TMP/gw.log" "$TMP/ai.log" "$TMP/adapter.log"
echo "- root-gateway counters at the end, other than the expected outcomes (expected: auth none/missing and api_key/invalid"
echo "  from rows 1-2 above, ratelimit limited from row 3):"
python3 bench/failure_counters.py \
  --ok 'result="(ok|allowed|limited|missing)"|kind="api_key",result="invalid"|class="2xx"|(code|status)="2[0-9][0-9]"|outcome="ok"' \
  --families eco_gateway_auth_total,eco_gateway_ratelimit_decisions_total,eco_gateway_ratelimit_redis_errors_total,eco_gateway_upstream_responses_total,eco_ai_requests_total,eco_ai_retries_total,eco_ai_shed_total,eco_ai_circuit_opens_total,eco_adapter_requests_total \
  "$TMP/gw.metrics" "$TMP/ai.metrics" "$TMP/adapter.metrics"
echo "- nginx error log:"
if [ -s "$TMP/ngx/error.log" ]; then
  sed -E 's/^[0-9\/: ]+//; s/, client: .*//' "$TMP/ngx/error.log" | sort | uniq -c | sort -rn | head -5 |
    awk '{ n=$1; $1=""; printf "  - %d × `%s`\n", n, substr($0, 2) }'
else
  echo "  - none"
fi
