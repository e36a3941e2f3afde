#!/usr/bin/env bash
# make test: builds (plain + ASan/UBSan), starts real PostgreSQL, Redis and Kafka with ecoctl on an
# offset port range, runs every suite, stops everything, and prints one summary line per suite.
# Usage: tests/run.sh [--unit-only]   (--unit-only: `make sanitize`, the C unit tests alone)
set -uo pipefail
cd "$(dirname "$0")/.."
UNIT_ONLY=0
[ "${1:-}" = "--unit-only" ] && UNIT_ONLY=1
ROOT=$PWD
JOBS=$(nproc)
# 11000 keeps every port (3000+ to 50063+) outside Linux's ephemeral range 32768-60999, so an
# outgoing connection can never hold a port a test server is about to bind.
export ECO_TEST_PORT_OFFSET=${ECO_TEST_PORT_OFFSET:-11000}
RUN_DIR=$(mktemp -d /tmp/eco-test.XXXXXX)
export ECO_TEST_RUN_DIR=$RUN_DIR
ASAN_BIN=$ROOT/build/asan/bin
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
PY=$ROOT/.tools/venv/bin/python
results=()
failed=0

step() { printf '\n=== %s ===\n' "$*"; }
record() { # name rc
  if [ "$2" -eq 0 ]; then results+=("PASS  $1"); else results+=("FAIL  $1"); failed=1; fi
}

ecoctl() { "$ROOT/build/bin/ecoctl" --root "$ROOT" --run-dir "$RUN_DIR" --port-offset "$ECO_TEST_PORT_OFFSET" --bin-dir "$ASAN_BIN" "$@"; }

cleanup() {
  step "stopping test dependencies"
  ecoctl clean >/dev/null 2>&1 || true  # down, then remove data (also any /var/tmp data dirs)
  rm -rf "$RUN_DIR"
}
trap cleanup EXIT
trap 'exit 143' TERM INT  # so that an interrupted run still stops its servers (the EXIT trap)

step "build (plain and ASan+UBSan)"
make --no-print-directory -s -j"$JOBS" build || exit 1
make --no-print-directory -s -j"$JOBS" BUILD=build/asan SAN=1 build build-tests || exit 1

step "formatting (clang-format, .clang-format)"
make --no-print-directory -s fmt-check; record "clang-format" $?

step "start PostgreSQL, Redis and Kafka (port offset $ECO_TEST_PORT_OFFSET)"
if ! ecoctl up postgres redis kafka; then
  ecoctl logs postgres 2>/dev/null | tail -20; ecoctl logs kafka 2>/dev/null | tail -20
  echo "cannot start test dependencies"; exit 1
fi
port() { echo $(( $1 + ECO_TEST_PORT_OFFSET )); }
export ECO_TEST_POSTGRES_URL="postgresql://eco@127.0.0.1:$(port 5432)/eco"
export ECO_TEST_REDIS_URL="redis://127.0.0.1:$(port 6379)"
export ECO_TEST_KAFKA_BROKERS="127.0.0.1:$(port 9092)"
export ECO_BIN_DIR=$ASAN_BIN

step "C unit tests (ASan+UBSan)"
mapfile -t units < <(find build/asan/test -type f -perm -u+x -name 'test_*' | sort)
bash tests/run_unit.sh "${units[@]}"; record "C unit tests (ASan+UBSan)" $?

if [ $UNIT_ONLY = 1 ]; then printf '%s\n' "${results[@]}"; exit $failed; fi

step "integration and black-box tests (pytest, real binaries and servers)"
ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 "$PY" -m pytest -q -p no:cacheprovider tests/ ; record "pytest suites" $?

step "whole local stack (ecoctl up, as make run starts it) + the helm test script against it"
# Services and their short-lived commands (api-gateway --migrate) exit without freeing the
# process-lifetime runtime, so leak checking is for the unit tests only, as for pytest above.
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1
if ecoctl up; then
  ECO_SMOKE_OFFSET=$ECO_TEST_PORT_OFFSET ECO_SMOKE_TIMEOUT=30 sh helm/eco-base/files/smoke.sh; record "local stack + helm smoke test" $?
  ecoctl status
else
  ecoctl status; record "local stack + helm smoke test" 1
fi
ecoctl down >/dev/null 2>&1

step "deployment checks (policies, .qyaml, chart, schemas, workflows, Dockerfiles)"
bash tests/deploy/check.sh; record "deployment checks" $?

step "observability checks (rules, dashboards, collector and log shipping)"
bash ecosystem/check.sh; record "ecosystem checks" $?

step "fuzzing (libFuzzer, ${ECO_FUZZ_SECONDS:-60} s per target)"
bash tests/fuzz/run.sh; record "fuzz targets" $?

step "summary"
printf '%s\n' "${results[@]}"
exit $failed
