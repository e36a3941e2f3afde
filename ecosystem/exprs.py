#!/usr/bin/env python3
"""The PromQL of ecosystem/: every expression of the Prometheus rules and the Grafana dashboards,
and the metric names they read.

  exprs.py rule-file OUT    write every dashboard query (panel targets and the selectors of
                            label_values() variables, Grafana variables replaced by sample values)
                            as recording rules into OUT, for `promtool check rules` to compile
  exprs.py names            print each metric name read by a rule or a dashboard (recorded names
                            excluded), with where it is used
"""
import json
import pathlib
import re
import sys

import yaml

ECO = pathlib.Path(__file__).resolve().parent
RULES = sorted((ECO / "prometheus/rules").glob("*.yaml"))
DASHBOARDS = sorted((ECO / "grafana/dashboards").glob("*.json"))

# Grafana's variables, replaced by values of the same shape
GRAFANA_VARS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h", "namespace": "eco-base",
                "job": ".*", "kind": ".*", "datasource": "prometheus"}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
            "offset", "inf", "nan", "atan2"}


def substitute(expr):
    def repl(m):
        name = m.group(1) or m.group(2)
        if name not in GRAFANA_VARS:
            raise ValueError(f"unknown Grafana variable ${name} in {expr!r}")
        return GRAFANA_VARS[name]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", repl, expr)


def rule_exprs():
    """[(where, expr)] and the set of recorded names."""
    out, recorded = [], set()
    for f in RULES:
        for g in yaml.safe_load(f.read_text())["groups"]:
            for r in g["rules"]:
                name = r.get("record") or r.get("alert")
                out.append((f"{f.name}: {g['name']}: {name}", r["expr"]))
                if "record" in r:
                    recorded.add(r["record"])
    return out, recorded


def dashboard_exprs():
    """[(where, expr)] with Grafana variables substituted."""
    out = []
    for f in DASHBOARDS:
        d = json.loads(f.read_text())
        for v in d.get("templating", {}).get("list", []):
            if v.get("type") != "query":
                continue
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", q)
            if not m:
                raise ValueError(f"{f.name}: variable {v['name']}: only label_values(selector, label) is supported")
            out.append((f"{f.name}: variable {v['name']}", substitute(m.group(1))))

        def walk(panels):
            for p in panels:
                yield p
                yield from walk(p.get("panels", []))
        for p in walk(d.get("panels", [])):
            for t in p.get("targets", []):
                out.append((f"{f.name}: panel {p['id']} {p['title']!r} {t['refId']}", substitute(t["expr"])))
    return out


def metric_names(expr):
    """Metric names read by a PromQL expression (our expressions: no @, no subqueries with offsets)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)  # string literals
    names = set()
    # {..} holds label matchers, except for a bare {__name__="x"} selector (not used here)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)  # range and subquery durations
    # label lists of by/without/on/ignoring/group_left/group_right
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    for m in re.finditer(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", s):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


def used_names():
    """{metric name: [where]} over rules and dashboards, recorded names excluded."""
    rules, recorded = rule_exprs()
    used = {}
    for where, expr in rules + dashboard_exprs():
        for n in metric_names(expr) - recorded:
            used.setdefault(n, []).append(where)
    return used


def main(argv):
    if len(argv) == 3 and argv[1] == "rule-file":
        rules = [{"record": f"dashboard:query:{i}", "expr": e} for i, (_, e) in enumerate(dashboard_exprs())]
        pathlib.Path(argv[2]).write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]},
                                                        sort_keys=False, width=10000))
        for i, (where, _) in enumerate(dashboard_exprs()):
            print(f"dashboard:query:{i}  {where}")
        return 0
    if len(argv) == 2 and argv[1] == "names":
        for n, where in sorted(used_names().items()):
            print(f"{n}  ({len(where)} uses, e.g. {where[0]})")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
