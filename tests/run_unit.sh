#!/usr/bin/env bash
# Runs each C unit-test binary in its own process with a timeout and sums cmocka's results.
set -uo pipefail
passed=0; failed=0; broken=()
for t in "$@"; do
  out=$(timeout 120 "$t" 2>&1); rc=$?
  printf '%s\n' "$out"
  p=$(grep -c '^\[       OK \]' <<<"$out"); f=$(grep -c '^\[  FAILED  \] [^0-9]' <<<"$out")
  passed=$((passed + p)); failed=$((failed + f))
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then failed=$((failed + 1)); broken+=("$t (exit $rc)"); fi
done
[ ${#broken[@]} -eq 0 ] || printf 'crashed or timed out: %s\n' "${broken[@]}"
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
