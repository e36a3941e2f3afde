"""Black-box tests of the qyaml binary (docs/qyaml.md): the fixture corpus, --json shape,
strip output, generate round trips and exit codes. Every run is bounded by a timeout.

The binary is $QYAML_BIN, or build/bin/qyaml under the repository root; a missing binary is a
failure, not a skip.
"""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

try:
    import yaml  # PyYAML, optional: without it strip output is checked with qyaml itself
except ImportError:  # pragma: no cover - depends on the machine
    yaml = None

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
QYAML = Path(os.environ.get("QYAML_BIN", ROOT / "build" / "bin" / "qyaml"))
TIMEOUT = 20
LINE_RE = re.compile(r"^(?P<file>.+):(?P<line>[0-9]+): (?P<path>.+?): (?P<message>.+) "
                     r"\[(?P<rule>QY[0-9]{3})\] \((?P<severity>error|warning)\)$")
GOV_BLOCKS = {"document_metadata", "governance_info", "registry_binding", "vector_alignment_map"}

INVALID = sorted((FIXTURES / "invalid").glob("*.qyaml"))
VALID = sorted((FIXTURES / "valid").glob("*.qyaml"))


def run(*args, stdin=None):
    if not QYAML.is_file():
        pytest.fail(f"qyaml binary not found at {QYAML} (build it or set QYAML_BIN)")
    return subprocess.run([str(QYAML), *map(str, args)], input=stdin, capture_output=True,
                          text=True, timeout=TIMEOUT)


def annotations(path, key):
    return set(re.findall(rf"^# {key}: (QY[0-9]{{3}})\s*$", path.read_text(), re.M))


def validate_json(*files):
    p = run("validate", "--json", *files)
    assert p.returncode in (0, 1), p.stderr
    return p.returncode, json.loads(p.stdout)


def test_corpus_is_complete():
    """Every error rule but QY000 (unreadable file) has an invalid fixture, every warning rule
    that a file can trigger alone has a valid fixture, and every rule is documented."""
    p = run("rules")
    assert p.returncode == 0
    rules = [line.split("\t") for line in p.stdout.splitlines()]
    assert len(rules) >= 40
    covered_errors = set().union(*(annotations(f, "expect") for f in INVALID))
    covered_warnings = set().union(*(annotations(f, "expect-warning") for f in VALID))
    docs = (ROOT / "docs" / "qyaml.md").read_text()
    for rid, scope, severity, _summary in rules:
        assert scope in ("lexical", "document", "cross-document")
        assert f"| {rid} |" in docs, f"{rid} is not in the rule table of docs/qyaml.md"
        if severity == "error" and rid != "QY000":
            assert rid in covered_errors, f"no invalid fixture for {rid}"
        if severity == "warning" and rid != "QY009":  # QY009 needs >200 issues: tested below
            assert rid in covered_warnings, f"no valid fixture warning with {rid}"


@pytest.mark.parametrize("fixture", INVALID, ids=lambda p: p.name)
def test_invalid_fixture_fails_with_its_rule(fixture):
    expected = annotations(fixture, "expect")
    assert len(expected) == 1, f"{fixture.name} must name exactly one '# expect: QY0xx'"
    rc, doc = validate_json(fixture)
    assert rc == 1
    assert doc["valid"] is False
    # Exactly one rule is broken, and nothing else is even warned about.
    assert {e["rule"] for e in doc["errors"]} == expected, doc["errors"]
    assert all(e["severity"] == "error" for e in doc["errors"])
    # The message text is the documented one (the Rego policy copies it from docs/qyaml.md).
    docs = (ROOT / "docs" / "qyaml.md").read_text()
    for e in doc["errors"]:
        if e["rule"] not in ("QY003", "QY014"):  # these carry a variable part
            assert f"`{e['message']}`" in docs, e
    # The text form carries the same issues, one parseable line each.
    p = run("validate", fixture)
    assert p.returncode == 1
    lines = p.stdout.splitlines()
    assert len(lines) == len(doc["errors"])
    for line, issue in zip(lines, doc["errors"]):
        m = LINE_RE.match(line)
        assert m, line
        assert m["file"] == str(fixture)
        assert int(m["line"]) == issue["line"]
        assert (m["path"], m["message"], m["rule"], m["severity"]) == (
            issue["path"], issue["message"], issue["rule"], issue["severity"])


@pytest.mark.parametrize("fixture", VALID, ids=lambda p: p.name)
def test_valid_fixture_passes(fixture):
    rc, doc = validate_json(fixture)
    assert rc == 0, doc
    assert doc["valid"] is True
    assert all(e["severity"] == "warning" for e in doc["errors"])
    assert {e["rule"] for e in doc["errors"]} == annotations(fixture, "expect-warning")
    docs = (ROOT / "docs" / "qyaml.md").read_text()
    for e in doc["errors"]:
        assert f"`{e['message']}`" in docs, e


def test_json_shape():
    rc, doc = validate_json(INVALID[0], VALID[0])
    assert rc == 1
    assert set(doc) == {"valid", "errors"}
    assert isinstance(doc["valid"], bool) and isinstance(doc["errors"], list) and doc["errors"]
    for e in doc["errors"]:
        assert set(e) == {"file", "path", "message", "severity", "rule", "line"}
        assert isinstance(e["line"], int) and e["line"] >= 1
        assert e["severity"] in ("error", "warning")
        assert re.fullmatch(r"QY[0-9]{3}", e["rule"])
        assert all(isinstance(e[k], str) and e[k] for k in ("file", "path", "message"))
        assert e["file"] == str(INVALID[0])  # the valid file contributes nothing


def test_multiple_files_and_exit_codes():
    assert run("validate", *VALID).returncode == 0
    assert run("validate", *VALID, INVALID[0]).returncode == 1
    p = run("validate", FIXTURES / "does-not-exist.qyaml")
    assert p.returncode == 1
    assert "[QY000] (error)" in p.stdout


def test_stdin():
    text = (FIXTURES / "valid" / "service-minimal.qyaml").read_text()
    assert run("validate", "-", stdin=text).returncode == 0
    p = run("validate", "-", stdin=text.replace("schema_version: v8", "schema_version: 8"))
    assert p.returncode == 1 and "[QY036]" in p.stdout


def test_usage_errors_exit_2():
    for args in ([], ["frobnicate"], ["validate"], ["validate", "--bogus", "x"], ["strip"],
                 ["generate"], ["generate", "--name", "x"], ["generate", "--image", "x"],
                 ["generate", "--name", "demo", "--image", "x", "--port", "0"],
                 ["generate", "--name", "demo", "--image", "x", "--port", "http"],
                 ["generate", "--name", "Demo", "--image", "x"],
                 ["generate", "--name", "demo", "--image", "x", "--namespace", "default"],
                 ["generate", "--name", "demo", "--image", "x", "extra"]):
        p = run(*args)
        assert p.returncode == 2, (args, p.stdout, p.stderr)
        assert p.stdout == ""
        assert "qyaml" in p.stderr


def test_help():
    for flag in ("--help", "-h"):
        p = run(flag)
        assert p.returncode == 0
        for word in ("validate", "generate", "strip", "--json", "--depends-on"):
            assert word in p.stdout


def test_bounds_are_errors(tmp_path):
    big = tmp_path / "big.qyaml"
    big.write_text("#" * (1024 * 1024 + 1))
    p = run("validate", big)
    assert p.returncode == 1 and "[QY004]" in p.stdout
    many = tmp_path / "many.qyaml"
    many.write_text("--- {a: 1}\n" * 300)
    p = run("validate", many)
    assert p.returncode == 1 and "more than 256 documents [QY004]" in p.stdout


def test_issue_cap(tmp_path):
    f = tmp_path / "tabs.qyaml"
    f.write_text("#\t\n" * 300)
    rc, doc = validate_json(f)
    assert rc == 1
    assert len(doc["errors"]) == 201
    assert doc["errors"][-1]["rule"] == "QY009"


def k8s_docs(text):
    return [d for d in yaml.safe_load_all(text)
            if isinstance(d, dict) and not GOV_BLOCKS & set(d)]


@pytest.mark.parametrize("fixture", VALID, ids=lambda p: p.name)
def test_strip_keeps_only_kubernetes_documents(fixture):
    p = run("strip", fixture)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert out.startswith("---")
    for block in GOV_BLOCKS:
        assert block not in out
    if yaml is not None:
        assert list(yaml.safe_load_all(out)) == k8s_docs(fixture.read_text())
    # Stripping is idempotent, and the output is well-formed YAML for qyaml's own parser.
    p2 = run("strip", "-", stdin=out)
    assert p2.returncode == 0 and p2.stdout == out


def test_strip_refuses_unparsable():
    p = run("strip", FIXTURES / "invalid" / "qy003-unclosed-flow.qyaml")
    assert p.returncode == 1 and p.stdout == "" and "[QY003]" in p.stderr
    p = run("strip", FIXTURES / "invalid" / "qy005-alias.qyaml")
    assert p.returncode == 1 and "[QY005]" in p.stderr


@pytest.mark.parametrize("args", [
    ["--name", "root-gateway", "--image", "ghcr.io/eco-base/root-gateway:0.1.0", "--port", "8000"],
    ["--name", "ai-service", "--image", "ghcr.io/eco-base/ai-service:0.1.0", "--port", "8001",
     "--port", "50051", "--depends-on", "engine-adapter", "--depends-on", "redis",
     "--namespace", "eco-base-staging", "--version", "0.1.0-rc.1"],
    ["--name", "demo", "--image", "busybox"],
])
def test_generate_validates(tmp_path, args):
    p = run("generate", *args)
    assert p.returncode == 0, p.stderr
    f = tmp_path / "gen.qyaml"
    f.write_text(p.stdout)
    rc, doc = validate_json(f)
    assert rc == 0 and doc == {"valid": True, "errors": []}
    s = run("strip", f)
    assert s.returncode == 0
    if yaml is None:
        return
    docs = list(yaml.safe_load_all(p.stdout))
    assert [d.get("kind") for d in docs[:2]] == ["Deployment", "Service"]
    assert set(docs[2]) == GOV_BLOCKS
    dep = docs[0]
    name = args[args.index("--name") + 1]
    want_labels = {"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                   "app.kubernetes.io/component", "app.kubernetes.io/part-of"}
    for labels in (dep["metadata"]["labels"], dep["spec"]["template"]["metadata"]["labels"]):
        assert set(labels) == want_labels and labels["app.kubernetes.io/part-of"] == "eco-base"
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    c = pod["containers"][0]
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] is True and isinstance(sc["runAsUser"], int) and sc["runAsUser"] > 0
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert set(c["resources"]) == {"requests", "limits"}
    assert c["livenessProbe"]["httpGet"]["path"] == "/health"
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    md = docs[2]["document_metadata"]
    uid = md["unique_id"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", uid)
    ns = dep["metadata"]["namespace"]
    assert md["uri"] == f"eco-base://k8s/{ns}/deployment/{name}"
    assert md["urn"] == f"urn:eco-base:k8s:{ns}:deployment:{name}:{uid}"
    assert list(yaml.safe_load_all(s.stdout)) == docs[:2]


def test_generate_ids_are_fresh():
    args = ["generate", "--name", "demo", "--image", "busybox"]
    ids = set()
    for _ in range(3):
        p = run(*args)
        assert p.returncode == 0
        ids.add(re.search(r'unique_id: "([^"]+)"', p.stdout).group(1))
    assert len(ids) == 3
