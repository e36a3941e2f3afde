#!/usr/bin/env bash
# Runs each C unit-test binary in its own process with a timeout and sums cmocka's results.
set -uo pipefail
passed=0; failed=0; broken=()
for t in "$@"; do
  out=$(timeout 180 "$t" 2>&1); rc=$?
  printf '%s\n' "$out"
  ran=$(grep -c '^\[ RUN      \]' <<<"$out"); p=$(grep -c '^\[       OK \]' <<<"$out")
  passed=$((passed + p)); failed=$((failed + ran - p))
  if [ $rc -ne 0 ] && [ "$ran" -eq "$p" ]; then failed=$((failed + 1)); broken+=("$t (exit $rc)"); fi
done
[ ${#broken[@]} -eq 0 ] || printf 'crashed, leaked or timed out: %s\n' "${broken[@]}"
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
