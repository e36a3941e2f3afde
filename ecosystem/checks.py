#!/usr/bin/env python3
"""Structure checks of ecosystem/ that no installed tool does (ecosystem/check.sh runs them):

  checks.py alerts-tested        every alert has a promtool case where it fires and one where it
                                 does not (exp_alerts: [])
  checks.py dashboards           Grafana dashboard JSON: provisionable shape (see below)
  checks.py provisioning         Grafana provisioning files
  checks.py otel [FILE]          OpenTelemetry Collector config: every component a pipeline names is
                                 configured, known to the core distribution, and of the right kind
  checks.py fluent-bit [FILE]    Fluent Bit YAML config: sections, known plugins, required keys,
                                 parsers referenced exist, the time format parses the services' `ts`
"""
import json
import pathlib
import re
import sys
from datetime import datetime

import yaml

ECO = pathlib.Path(__file__).resolve().parent
errors = []


def err(msg):
    errors.append(msg)


def alerts_tested():
    alerts = set()
    for f in sorted((ECO / "prometheus/rules").glob("*.yaml")):
        for g in yaml.safe_load(f.read_text())["groups"]:
            for r in g["rules"]:
                if "alert" in r:
                    alerts.add(r["alert"])
                    for k in ("for",):
                        if k not in r:
                            err(f"{f.name}: {r['alert']}: no `{k}:`")
                    if not r.get("labels", {}).get("severity"):
                        err(f"{f.name}: {r['alert']}: no severity label")
                    if not r.get("annotations", {}).get("summary"):
                        err(f"{f.name}: {r['alert']}: no summary annotation")
    fires, silent = set(), set()
    for f in sorted((ECO / "prometheus/tests").glob("*.yaml")):
        for t in yaml.safe_load(f.read_text())["tests"]:
            for a in t.get("alert_rule_test", []):
                (fires if a.get("exp_alerts") else silent).add(a["alertname"])
    for a in sorted(alerts):
        if a not in fires:
            err(f"alert {a}: no promtool test case in which it fires")
        if a not in silent:
            err(f"alert {a}: no promtool test case in which it stays silent (exp_alerts: [])")
    for a in sorted((fires | silent) - alerts):
        err(f"promtool tests name an alert that no rule defines: {a}")


def dashboards():
    uids = {}
    files = sorted((ECO / "grafana/dashboards").glob("*.json"))
    if not files:
        err("no dashboards")
    for f in files:
        try:
            d = json.loads(f.read_text())
        except json.JSONDecodeError as e:
            err(f"{f.name}: not JSON: {e}")
            continue
        w = f.name
        if d.get("id") is not None:
            err(f"{w}: id must be null (Grafana assigns it)")
        uid = d.get("uid", "")
        if not re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", uid):
            err(f"{w}: uid {uid!r} must be 1-40 of [a-zA-Z0-9_-]")
        if uid in uids:
            err(f"{w}: uid {uid} also used by {uids[uid]}")
        uids[uid] = w
        for k in ("title", "schemaVersion", "time", "refresh", "panels", "templating"):
            if k not in d:
                err(f"{w}: no {k}")
        for k in ("__inputs", "__requires"):
            if k in d:
                err(f"{w}: {k} is for the import UI, not for provisioning")
        variables = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
        ds = variables.get("datasource")
        if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
            err(f"{w}: needs a datasource variable of type datasource, query prometheus")
        ids = set()

        def walk(panels):
            for p in panels:
                yield p
                yield from walk(p.get("panels", []))
        for p in walk(d.get("panels", [])):
            pw = f"{w}: panel {p.get('id')} {p.get('title')!r}"
            if p.get("id") in ids:
                err(f"{pw}: duplicate panel id")
            ids.add(p.get("id"))
            g = p.get("gridPos", {})
            if not all(isinstance(g.get(k), int) for k in "xywh") or g["x"] + g["w"] > 24 or g["w"] < 1 or g["h"] < 1:
                err(f"{pw}: gridPos {g} must be integers on the 24-column grid")
            if p.get("type") in ("row", "text"):
                continue
            targets = p.get("targets", [])
            if not targets:
                err(f"{pw}: no queries")
            if p.get("datasource") != {"type": "prometheus", "uid": "${datasource}"}:
                err(f"{pw}: datasource must be the ${{datasource}} variable")
            for t in targets:
                if not t.get("expr", "").strip():
                    err(f"{pw}: target {t.get('refId')} has no expr")
                if t.get("datasource", p.get("datasource")) != p.get("datasource"):
                    err(f"{pw}: target {t.get('refId')} uses another datasource")
                for m in re.finditer(r"\[(\d+[smhdwy])\]", t.get("expr", "")):
                    err(f"{pw}: fixed range [{m.group(1)}]: use [$__rate_interval]")
                for var in re.findall(r"\$\{?(\w+)", t.get("expr", "")):
                    if not var.startswith("__") and var not in variables:
                        err(f"{pw}: uses ${var}, which the dashboard does not define")


def provisioning():
    p = yaml.safe_load((ECO / "grafana/provisioning/dashboards/eco-base.yaml").read_text())
    if p.get("apiVersion") != 1 or not p.get("providers"):
        err("dashboards provider: apiVersion 1 and providers required")
    for pr in p.get("providers", []):
        if pr.get("type") != "file" or not pr.get("options", {}).get("path"):
            err(f"dashboards provider {pr.get('name')}: type file with options.path required")
    d = yaml.safe_load((ECO / "grafana/provisioning/datasources/prometheus.yaml").read_text())
    if d.get("apiVersion") != 1 or not any(s.get("type") == "prometheus" for s in d.get("datasources", [])):
        err("datasources: apiVersion 1 and a prometheus data source required")


# Components of the core `otelcol` distribution (opentelemetry-collector-releases, manifest of
# distributions/otelcol) that this config may use, by kind.
OTEL_CORE = {
    "receivers": {"otlp", "hostmetrics", "jaeger", "kafka", "opencensus", "prometheus", "zipkin", "nop"},
    "processors": {"attributes", "batch", "filter", "memory_limiter", "probabilistic_sampler", "resource", "span"},
    "exporters": {"debug", "file", "kafka", "nop", "otlp", "otlphttp", "prometheus", "prometheusremotewrite", "zipkin"},
    "extensions": {"health_check", "pprof", "zpages"},
    "connectors": {"forward"},
}


def otel(path):
    c = yaml.safe_load(pathlib.Path(path).read_text())
    for kind in c:
        if kind not in set(OTEL_CORE) | {"service"}:
            err(f"otel: unknown top-level key {kind}")
    for kind, known in OTEL_CORE.items():
        for cid in c.get(kind) or {}:
            ctype = cid.split("/", 1)[0]
            if ctype not in known:
                err(f"otel: {kind}.{cid}: {ctype} is not a core-distribution {kind[:-1]}")
    svc = c.get("service", {})
    for e in svc.get("extensions", []):
        if e not in (c.get("extensions") or {}):
            err(f"otel: service.extensions names {e}, which is not configured")
    pipelines = svc.get("pipelines", {})
    if not pipelines:
        err("otel: no pipelines")
    used = {k: set() for k in ("receivers", "processors", "exporters")}
    for name, p in pipelines.items():
        if name.split("/", 1)[0] not in ("traces", "metrics", "logs"):
            err(f"otel: pipeline {name}: type must be traces, metrics or logs")
        for kind in ("receivers", "exporters"):
            if not p.get(kind):
                err(f"otel: pipeline {name}: no {kind}")
        for kind in used:
            for cid in p.get(kind, []):
                used[kind].add(cid)
                if cid not in (c.get(kind) or {}):
                    err(f"otel: pipeline {name} names {kind[:-1]} {cid}, which is not configured")
        procs = p.get("processors", [])
        if procs and procs[0] != "memory_limiter":
            err(f"otel: pipeline {name}: memory_limiter must come first")
        if "batch" in procs and procs[-1] != "batch":
            err(f"otel: pipeline {name}: batch must come last")
    for kind in used:
        for cid in set(c.get(kind) or {}) - used[kind]:
            if not cid.startswith("debug"):
                err(f"otel: {kind[:-1]} {cid} is configured but no pipeline uses it")
    for proto, ep in ((c.get("receivers") or {}).get("otlp", {}).get("protocols") or {}).items():
        if not str((ep or {}).get("endpoint", "")).startswith("0.0.0.0:"):
            err(f"otel: otlp {proto} must bind 0.0.0.0 (the default is localhost since v0.104)")


FLUENT_INPUTS = {"tail", "systemd", "forward", "dummy", "kubernetes_events", "opentelemetry"}
FLUENT_FILTERS = {"kubernetes", "parser", "modify", "record_modifier", "grep", "lua", "nest", "rewrite_tag",
                  "multiline", "throttle"}
FLUENT_OUTPUTS = {"opentelemetry", "loki", "forward", "http", "stdout", "es", "s3", "kafka"}


def fluent_bit(path):
    c = yaml.safe_load(pathlib.Path(path).read_text())
    for k in c:
        if k not in ("service", "parsers", "multiline_parsers", "pipeline", "includes", "env"):
            err(f"fluent-bit: unknown section {k}")
    parsers = {p["name"]: p for p in c.get("parsers", [])}
    for p in parsers.values():
        if p.get("format") not in ("json", "regex", "logfmt", "ltsv"):
            err(f"fluent-bit: parser {p['name']}: unknown format {p.get('format')}")
        if p.get("time_format"):
            # Fluent Bit's %L is fractional seconds; the services log ts like 2026-11-23T21:34:58.124Z
            fmt = p["time_format"].replace("%L", "%f")
            try:
                datetime.strptime("2026-11-23T21:34:58.124Z", fmt)
            except ValueError as e:
                err(f"fluent-bit: parser {p['name']}: time_format does not parse the services' ts: {e}")
    pipe = c.get("pipeline", {})
    for section, known in (("inputs", FLUENT_INPUTS), ("filters", FLUENT_FILTERS), ("outputs", FLUENT_OUTPUTS)):
        for i, plug in enumerate(pipe.get(section, [])):
            w = f"fluent-bit: pipeline.{section}[{i}] {plug.get('name')}"
            if plug.get("name") not in known:
                err(f"{w}: unknown plugin")
            if section != "inputs" and not plug.get("match"):
                err(f"{w}: no match")
            if section == "inputs" and not plug.get("tag"):
                err(f"{w}: no tag")
            for key in ("parser", "merge_parser"):
                if plug.get(key) and plug[key] not in parsers:
                    err(f"{w}: {key} {plug[key]} is not defined under parsers")
    if not pipe.get("inputs") or not pipe.get("outputs"):
        err("fluent-bit: needs inputs and outputs")
    tags = [i["tag"].replace("*", "x") for i in pipe.get("inputs", [])]  # a tag each input produces
    for o in pipe.get("outputs", []):
        m = re.escape(o.get("match", "")).replace(r"\*", ".*")
        if not any(re.fullmatch(m, t) for t in tags):
            err(f"fluent-bit: output {o.get('name')} matches no input tag")


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "alerts-tested":
        alerts_tested()
    elif cmd == "dashboards":
        dashboards()
    elif cmd == "provisioning":
        provisioning()
    elif cmd == "otel":
        otel(argv[2] if len(argv) > 2 else ECO / "otel/collector.yaml")
    elif cmd == "fluent-bit":
        fluent_bit(argv[2] if len(argv) > 2 else ECO / "logging/fluent-bit.yaml")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    for e in errors:
        print(e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
