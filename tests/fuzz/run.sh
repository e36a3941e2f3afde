#!/usr/bin/env bash
# Builds every libFuzzer target (libs/<module>/fuzz_<name>.c, services/<svc>/fuzz_<name>.c) with clang +
# ASan + UBSan and runs each
# for ECO_FUZZ_SECONDS (default 60) from its committed seed corpus tests/fuzz/corpus/<name>/ (plus the
# directories listed in tests/fuzz/corpus/<name>.dirs). A crash, leak or timeout fails the suite.
set -uo pipefail
cd "$(dirname "$0")/../.."
SECS=${ECO_FUZZ_SECONDS:-60}
OUT=build/fuzz
mkdir -p "$OUT"
passed=0; failed=0
# A library target links its library and libs/core; a service target lists what it needs in its
# header comment ("fuzz-srcs: ..." and "fuzz-libs: ...") and links libs/core too.
for src in libs/*/fuzz_*.c services/*/fuzz_*.c; do
  dir=$(dirname "$src"); mod=$(basename "$dir"); name=$(basename "$src" .c); name=${name#fuzz_}
  bin=$OUT/${mod}_$name
  if [ "${dir%%/*}" = libs ]; then
    mapfile -t srcs < <(find "libs/$mod" libs/core -maxdepth 1 -name '*.c' ! -name 'test_*' ! -name 'fuzz_*' | sort)
    extra_libs=()
  else
    read -r -a own < <(sed -n 's/^.*fuzz-srcs: *\([^*]*\).*/\1/p' "$src")
    read -r -a extra_libs < <(sed -n 's/^.*fuzz-libs: *\([^*]*\).*/\1/p' "$src")
    mapfile -t srcs < <(find libs/core -maxdepth 1 -name '*.c' ! -name 'test_*' ! -name 'fuzz_*' | sort)
    srcs+=("${own[@]}")
  fi
  if ! clang -g -O1 -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
       -Ilibs/core -I"$dir" -Ibuild/gen "$src" "${srcs[@]}" "${extra_libs[@]}" -ljansson -lyaml -lm -lpthread \
       -o "$bin" 2>"$bin.build.log"; then
    echo "fuzz $mod/$name: build failed"; cat "$bin.build.log"; failed=$((failed + 1)); continue
  fi
  corpus=$(mktemp -d "$OUT/corpus-$name.XXXXXX")
  seeds=("tests/fuzz/corpus/$name")
  [ -f "tests/fuzz/corpus/$name.dirs" ] && read -r -a extra < "tests/fuzz/corpus/$name.dirs" && seeds+=("${extra[@]}")
  for d in "${seeds[@]}"; do [ -d "$d" ] && cp -r "$d"/. "$corpus"/; done
  if "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$corpus" >"$bin.log" 2>&1; then
    echo "fuzz $mod/$name: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$bin.log" | tail -1), no crash"
    passed=$((passed + 1))
  else
    echo "fuzz $mod/$name: FAILED (artifact and log: $bin.log)"; tail -40 "$bin.log"; failed=$((failed + 1))
  fi
  rm -rf "$corpus"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
