#!/usr/bin/env python3
"""Rego/qyaml parity: the Rego policy must report exactly what `qyaml validate` reports.

For each .qyaml file given, compare the issue texts ("<path>: <message> [<rule>]") of
`qyaml validate --json` with those of conftest (per document: qyaml.governance +
qyaml.resources; combined: qyaml.combine), split by severity (deny = error, warn = warning).
Rules Rego cannot see are excluded (docs/qyaml.md §3.1, §10): lexical QY000-QY009, QY017 (conftest
keeps or drops null documents as it likes), and files that qyaml refuses before parsing (QY003,
QY004), whose documents conftest reads differently (aliases QY005, duplicate keys QY007, complex
keys QY008) or that conftest cannot parse, and files with content on a "---" line (conftest
splits documents on bare "---" lines only, so it never sees such a document).

usage: parity.py QYAML_BIN CONFTEST_BIN POLICY_DIR FILE...   (exit 1 on any difference)
"""
import json
import re
import subprocess
import sys

EXCLUDED = re.compile(r"\[QY00[0-9]\]$|\[QY017\]$")


def qyaml_issues(qyaml, path):
    out = subprocess.run([qyaml, "validate", "--json", path], capture_output=True, text=True)
    rep = json.loads(out.stdout)
    rules = {e["rule"] for e in rep["errors"]}
    res = {"error": set(), "warning": set()}
    for e in rep["errors"]:
        text = "%s: %s [%s]" % (e["path"], e["message"], e["rule"])
        if not EXCLUDED.search(text):
            res[e["severity"]].add(text)
    return res, rules


def conftest_issues(conftest, policy, path):
    res = {"error": set(), "warning": set()}
    runs = [
        ["--namespace", "qyaml.governance", "--namespace", "qyaml.resources"],
        ["--combine", "--namespace", "qyaml.combine"],
    ]
    for extra in runs:
        out = subprocess.run([conftest, "test", "--no-color", "-o", "json", "--parser", "yaml", "-p", policy]
                             + extra + [path], capture_output=True, text=True)
        try:
            results = json.loads(out.stdout)
        except json.JSONDecodeError:
            return None
        for r in results:
            for f in r.get("failures") or []:
                res["error"].add(f["msg"])
            for w in r.get("warnings") or []:
                res["warning"].add(w["msg"])
    for k in res:
        res[k] = {m for m in res[k] if not EXCLUDED.search(m)}
    return res


def main():
    qyaml, conftest, policy, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    passed = failed = skipped = 0
    for path in files:
        want, rules = qyaml_issues(qyaml, path)
        # unreadable/unparsable/over a bound, or anchors, duplicate or complex keys: conftest's parser
        # resolves or rejects those itself, so the two sides see different documents
        if rules & {"QY000", "QY003", "QY004", "QY005", "QY007", "QY008"}:
            skipped += 1
            continue
        with open(path, encoding="utf-8", errors="replace") as fh:
            # conftest splits documents on bare "---" lines only: "--- text" hides a document
            if any(re.match(r"---[ \t]+\S", line) for line in fh):
                skipped += 1
                continue
        got = conftest_issues(conftest, policy, path)
        if got is None:
            skipped += 1
            continue
        if got == want:
            passed += 1
            continue
        failed += 1
        print("PARITY FAIL %s" % path)
        for sev in ("error", "warning"):
            for m in sorted(want[sev] - got[sev]):
                print("  only qyaml   (%s): %s" % (sev, m))
            for m in sorted(got[sev] - want[sev]):
                print("  only conftest(%s): %s" % (sev, m))
    print("parity: %d files agree, %d differ, %d skipped (unparsable by one side)" % (passed, failed, skipped))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
