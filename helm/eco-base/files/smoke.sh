#!/bin/sh
# eco-base smoke test: GET /health (liveness) and /ready (readiness) of every service.
# Used by `helm test` (templates/tests/smoke-test.yaml) and runnable against the local stack.
#
# Base URLs come from the environment (unset = skipped, empty list = the local defaults):
#   ECO_SMOKE_TARGETS   space-separated name=url pairs, e.g.
#                       "root-gateway=http://127.0.0.1:8000 api-gateway=http://127.0.0.1:3000"
#   ECO_SMOKE_TIMEOUT   seconds to wait for each /ready to answer 200 (default 60)
#   ECO_SMOKE_OFFSET    added to the local default ports (ecoctl --port-offset), default 0
# Prints one line per check and "N passed, M failed"; exit 1 if any check failed.
# POSIX sh + curl only (the test image is curlimages/curl).
set -u

timeout=${ECO_SMOKE_TIMEOUT:-60}
offset=${ECO_SMOKE_OFFSET:-0}
targets=${ECO_SMOKE_TARGETS:-}
if [ -z "$targets" ]; then
  for pair in root-gateway:8000 api-gateway:3000 ai-service:8001 index-service:8002 job-poller:8003; do
    targets="$targets ${pair%%:*}=http://127.0.0.1:$(( ${pair##*:} + offset ))"
  done
fi

passed=0
failed=0
body=${TMPDIR:-/tmp}/eco-smoke.$$

check() { # name url wait-seconds
  name=$1 url=$2 wait=$3
  deadline=$(( $(date +%s) + wait ))
  while :; do
    rm -f "$body"
    code=$(curl -s -o "$body" -w '%{http_code}' --max-time 5 "$url" 2>/dev/null) || code=000
    [ "$code" = 200 ] && break
    [ "$(date +%s)" -ge "$deadline" ] && break
    sleep 2
  done
  if [ "$code" = 200 ]; then
    passed=$((passed + 1)); echo "ok    $name $url"
  else
    failed=$((failed + 1)); echo "FAIL  $name $url -> HTTP $code $(head -c 300 "$body" 2>/dev/null | tr '\n' ' ')"
  fi
}

for t in $targets; do
  name=${t%%=*} base=${t#*=}
  base=${base%/}
  check "$name" "$base/health" 10
  check "$name" "$base/ready" "$timeout"
done
rm -f "$body"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
