#!/usr/bin/env python3
"""Keep the PrometheusRule in k8s/eco-base/monitoring.qyaml, and the chart's
helm/eco-base/files/prometheus-rules.yaml (the spec of its PrometheusRule template), identical to
the canonical rule files.

The canonical rules are ecosystem/prometheus/rules/*.yaml (read in name order, groups concatenated).
The PrometheusRule document's `spec:` is generated from them; everything else in the .qyaml file
(other documents, metadata, the governance document, comments) is left as it is.

  sync_k8s.py            check: exit 1 with a diff when either differs
  sync_k8s.py --write    rewrite both from the rule files
"""
import difflib
import pathlib
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "ecosystem/prometheus/rules"
TARGET = ROOT / "k8s/eco-base/monitoring.qyaml"
HELM = ROOT / "helm/eco-base/files/prometheus-rules.yaml"
HELM_HEADER = ("# Generated from ecosystem/prometheus/rules/*.yaml by ecosystem/prometheus/sync_k8s.py --write:\n"
               "# do not edit. The spec of the chart's PrometheusRule (templates/prometheusrule.yaml).\n")


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper, s):
    style = "|" if "\n" in s else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", s, style=style)


_Dumper.add_representer(str, _str)


def canonical_groups():
    groups = []
    for f in sorted(RULES_DIR.glob("*.yaml")):
        doc = yaml.safe_load(f.read_text())
        groups.extend(doc["groups"])
    return groups


def render_spec(groups):
    body = yaml.dump({"groups": groups}, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     width=10000, allow_unicode=True)
    return "spec:\n" + "".join("  " + line if line.strip() else line for line in body.splitlines(True))


def regenerate(text, groups):
    lines = text.splitlines(True)
    starts = [0] + [i + 1 for i, l in enumerate(lines) if l.rstrip("\n") == "---"] + [len(lines) + 1]
    for a, b in zip(starts, starts[1:]):
        end = b - 1 if b <= len(lines) else len(lines)  # the "---" that closes this document
        doc = lines[a:end]
        if any(l.rstrip("\n") == "kind: PrometheusRule" for l in doc):
            spec = next(i for i, l in enumerate(doc) if l.rstrip("\n") == "spec:")
            return "".join(lines[:a] + doc[:spec]) + render_spec(groups) + "".join(lines[end:])
    raise SystemExit(f"{TARGET}: no PrometheusRule document")


def k8s_groups(text):
    for d in yaml.safe_load_all(text):
        if d and d.get("kind") == "PrometheusRule":
            return d["spec"]["groups"]
    return None


def helm_text(groups):
    spec = render_spec(groups)
    return HELM_HEADER + "".join(line[2:] if line.startswith("  ") else line for line in spec.splitlines(True)[1:])


def main():
    groups = canonical_groups()
    text = TARGET.read_text()
    want = regenerate(text, groups)
    helm_have = HELM.read_text() if HELM.exists() else ""
    helm_want = helm_text(groups)
    if "--write" in sys.argv[1:]:
        TARGET.write_text(want)
        HELM.write_text(helm_want)
        print(f"wrote the PrometheusRule of {TARGET.relative_to(ROOT)} and {HELM.relative_to(ROOT)} "
              f"from {len(groups)} groups")
        return 0
    rc = 0
    for path, have, new, same_data in (
            (TARGET, text, want, k8s_groups(text) == groups),
            (HELM, helm_have, helm_want, (yaml.safe_load(helm_have) or {}).get("groups") == groups)):
        if have == new and same_data:
            print(f"{path.relative_to(ROOT)}: rule groups are identical to {RULES_DIR.relative_to(ROOT)}/*.yaml")
            continue
        rc = 1
        print(f"{path.relative_to(ROOT)}: the rule groups differ from {RULES_DIR.relative_to(ROOT)}/*.yaml "
              f"(run ecosystem/prometheus/sync_k8s.py --write)")
        sys.stdout.writelines(difflib.unified_diff(have.splitlines(True), new.splitlines(True), str(path), "generated"))
    return rc


if __name__ == "__main__":
    sys.exit(main())
