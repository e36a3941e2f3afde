#!/usr/bin/env bash
# Prints the README configuration table from the binaries' own `--config-help` output, one row
# per variable with the services that read it (the README's table is checked against this).
# Usage: scripts/config-table.sh [--update-readme] [BIN_DIR]
set -euo pipefail
UPDATE=0
[ "${1:-}" = "--update-readme" ] && { UPDATE=1; shift; }
BIN=${1:-build/bin}
table() {
{
  for s in root-gateway api-gateway ai-service engine-adapter index-service job-poller; do
    "$BIN/$s" --config-help | sed "s/^/$s\t/"
  done
} | awk -F'\t' '
  { split($2, f, " \\| "); var = f[1]; sub(/^\| /, "", var); def = f[2]; help = f[3]; sub(/ \|$/, "", help)
    if (!(var in seen)) { order[++n] = var; seen[var] = 1; defs[var] = def; helps[var] = help }
    else if (defs[var] != def) { defs[var] = "see service" }
    svcs[var] = svcs[var] (svcs[var] ? ", " : "") $1 }
  END { print "| variable | services | default | meaning |"; print "|---|---|---|---|"
        for (i = 1; i <= n; i++) { v = order[i]; s = svcs[v]
          if (split(s, parts, ", ") == 6) s = "all"
          printf "| %s | %s | %s | %s |\n", v, s, defs[v], helps[v] } }'
}
if [ $UPDATE = 0 ]; then table; exit 0; fi
cd "$(dirname "$0")/.."
new=$(table)
awk -v table="$new" '
  /<!-- config-table:start/ { print; print table; skip = 1; next }
  /<!-- config-table:end -->/ { skip = 0 }
  !skip' README.md > README.md.tmp && mv README.md.tmp README.md
