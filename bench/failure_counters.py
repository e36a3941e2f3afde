"""Lists the non-zero series of the named counter families whose labels do not match the
expected-outcome pattern, from saved /metrics texts: the failures a bench stage saw.
Usage: failure_counters.py --families a,b,c --ok REGEX FILE.metrics..."""
import argparse
import os
import re

ap = argparse.ArgumentParser()
ap.add_argument("--families", required=True)
ap.add_argument("--ok", required=True, help="label pattern of expected outcomes (skipped)")
ap.add_argument("files", nargs="+")
a = ap.parse_args()
fam = re.compile(r"^(%s)(\{[^}]*\})? (\S+)$" % "|".join(map(re.escape, a.families.split(","))))
ok = re.compile(a.ok)
out = []
for f in a.files:
    try:
        lines = open(f).read().splitlines()
    except OSError:
        continue
    for line in lines:
        m = fam.match(line)
        if not m or float(m.group(3)) == 0 or ok.search(m.group(2) or ""):
            continue
        out.append("  - %s: `%s%s` %s" % (os.path.basename(f).replace(".metrics", ""), m.group(1), m.group(2) or "",
                                          m.group(3)))
print("\n".join(out) if out else "  - none")
