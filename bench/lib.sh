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
# "rss pss private" in KiB from /proc/<pid>/smaps_rollup: PSS charges each shared page (libc, libgrpc,
# ... also mapped by other processes) by its share; private = Private_Clean + Private_Dirty.
mem_kb() { awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} /^Private_(Clean|Dirty):/ {v+=$2} END {print r, p, v}' "/proc/$1/smaps_rollup"; }
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; } # utime+stime (fields 14, 15)
added() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+d µs", a - b }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2f", a / b }'; }
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); v=eval(sys.argv[2], {"d": d}); print("" if v is None else v)' "$@"; } # file expr

# Formatting and result summaries shared by the stages.
us() { awk -v v="$1" 'BEGIN { printf "%.0f", v * 1000 }'; }   # ms -> µs
ms() { awk -v v="$1" 'BEGIN { printf "%.2f", v }'; }
plus() { awk -v a="$1" -v b="$2" -v u="${3:-µs}" 'BEGIN { printf "%+.*f %s", (u == "ms" ? 2 : 0), a - b, u }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
verdict() { if awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { exit !((op == "le") ? (v <= t) : (v >= t)) }'; then echo met; else echo "**missed**"; fi; }
rate_cells() { # name -> "max | p99 at max | first fail (why)"
  jget "$TMP/rate-$1.json" '"%d | %s | %s" % (d["max_rate"], next(("%.1f ms" % s["p99_ms"] for s in d["steps"] if s["rate"] == d["max_rate"]), "—"), ("%d (%s)" % (d["first_fail"], next(s["why"] for s in d["steps"] if s["rate"] == d["first_fail"])) if d["first_fail"] else "none up to the cap"))'
}
steps_line() { jget "$TMP/rate-$1.json" '", ".join("%d %s" % (s["rate"], "ok" if s["pass"] else "✗") + " (p99 %.1f ms, sent %.0f/s%s)" % (s["p99_ms"], s["sent_rate"], ", ovf %d" % s["listen_overflows"] if s.get("listen_overflows") else "") for s in d["steps"])'; }
errors_of() { # result json files... -> markdown list of distinct failures with counts (rate searches: per step)
  python3 - "$@" <<'PY'
import json, os, sys, collections
out = []
for f in sys.argv[1:]:
    try:
        d = json.load(open(f))
    except (OSError, ValueError):
        continue
    name = os.path.basename(f)[:-5]
    steps = d.get("steps") or ([d] if "rate" in d else [])
    if steps:
        for s in steps:
            for k, v in sorted(s.get("errors", {}).items(), key=lambda kv: -kv[1]):
                out.append("  - %s, %d/s step (%s): %d × `%s`" % (name, s["rate"], "passed" if s["pass"] else "failed",
                                                                  v, k.replace("`", "'")))
    else:
        for k, v in sorted(d.get("errors", {}).items(), key=lambda kv: -kv[1]):
            out.append("  - %s: %d × `%s`" % (name, v, k.replace("`", "'")))
print("\n".join(out[:20]) if out else "  - none")
if len(out) > 20:
    print("  - … and %d more lines" % (len(out) - 20))
PY
}
log_summary() { # log files -> warn/error lines counted by level, msg and error
  python3 - "$@" <<'PY'
import json, sys, collections
c = collections.Counter()
for f in sys.argv[1:]:
    for line in open(f, errors="replace"):
        try:
            j = json.loads(line)
        except ValueError:
            if line.strip():
                c[(f.rsplit("/", 1)[-1], "raw", line.strip()[:160], "")] += 1
            continue
        if j.get("level") in ("warn", "error"):
            detail = j.get("error") or j.get("reason") or j.get("status") or ""
            c[(j.get("svc", ""), j["level"], j.get("msg", ""), str(detail)[:160])] += 1
for (svc, lvl, msg, det), v in c.most_common(15):
    print("  - %d × %s %s: `%s`%s" % (v, svc, lvl, msg, (" — `%s`" % det) if det else ""))
if not c:
    print("  - none")
PY
}
