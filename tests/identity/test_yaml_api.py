""".qyaml endpoints of api-gateway (/api/v1/yaml/validate, /api/v1/yaml/generate) through
root-gateway: they run the same library as the qyaml CLI, so the CLI is the oracle for findings
and line numbers; generated documents validate, are stored with their hash and audited."""
import hashlib
import json
import subprocess
import uuid

import pytest

from ecotest import BIN
from idstack import psql

pytestmark = pytest.mark.deps

V, G = "/api/v1/yaml/validate", "/api/v1/yaml/generate"


def cli_generate(*args):
    r = subprocess.run([str(BIN / "qyaml"), "generate", *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def cli_validate(tmp_path, text):
    f = tmp_path / "doc.qyaml"
    f.write_text(text)
    r = subprocess.run([str(BIN / "qyaml"), "validate", "--json", str(f)], capture_output=True, text=True,
                       timeout=30)
    return r.returncode, json.loads(r.stdout)


def findings_key(items):
    return sorted((i["rule"], i["severity"], i["path"], i["message"], i["line"]) for i in items)


def test_validate_a_valid_document(stack, tmp_path):
    viewer, _, _ = stack.user("viewer")
    before = psql(stack.db, "SELECT count(*) FROM governance_records")
    text = cli_generate("--name", "demo", "--image", "ghcr.io/eco-base/demo:1.0.0", "--port", "8080")
    s, _, js = stack.call("POST", V, viewer, {"content": text})
    assert s == 200, js
    assert js == {"valid": True, "error_count": 0, "warning_count": 0, "truncated": False, "findings": []}
    # a read: nothing stored, nothing audited
    assert psql(stack.db, "SELECT count(*) FROM governance_records") == before
    assert psql(stack.db, "SELECT count(*) FROM yaml_documents") == "0"


BROKEN = [
    # (what, edit of a valid document)
    ("yaml directive and bad uuid",
     lambda t: "%YAML 1.2\n" + t.replace('unique_id: "', 'unique_id: "x', 1)),
    ("missing governance block", lambda t: t[:t.index("vector_alignment_map:")]),
    ("tab indentation", lambda t: t.replace("  replicas: 2", "\treplicas: 2", 1)),
    ("not yaml at all", lambda t: "{ [ unclosed"),
    ("bad uri and urn", lambda t: t.replace('uri: "eco-base://', 'uri: "http://', 1).replace('urn: "urn:eco-base:',
                                                                                           'urn: "urn:x:', 1)),
]


@pytest.mark.parametrize("what,edit", BROKEN, ids=[b[0] for b in BROKEN])
def test_validate_reports_the_cli_findings_with_lines(stack, tmp_path, what, edit):
    text = edit(cli_generate("--name", "demo", "--image", "ghcr.io/eco-base/demo:1.0.0"))
    rc, cli = cli_validate(tmp_path, text)
    assert rc == 1 and cli["valid"] is False  # the oracle agrees the edit breaks the document
    s, _, js = stack.call("POST", V, stack.admin(), {"content": text})
    assert s == 200 and js["valid"] is False, js
    assert findings_key(js["findings"]) == findings_key(cli["errors"])
    assert js["error_count"] == sum(1 for i in cli["errors"] if i["severity"] == "error") > 0
    assert all(isinstance(i["line"], int) and i["line"] >= 1 for i in js["findings"])


def test_validate_line_numbers_point_at_the_offending_line(stack):
    text = cli_generate("--name", "demo", "--image", "ghcr.io/eco-base/demo:1.0.0")
    lines = text.splitlines()
    n = next(i for i, line in enumerate(lines) if line.startswith("  unique_id:"))
    lines[n] = '  unique_id: "not-a-uuid"'
    s, _, js = stack.call("POST", V, stack.admin(), {"content": "\n".join(lines) + "\n"})
    assert s == 200 and js["valid"] is False
    f = [i for i in js["findings"] if i["path"] == "document_metadata.unique_id"]
    assert len(f) == 1 and f[0]["line"] == n + 1 and f[0]["severity"] == "error" and f[0]["rule"].startswith("QY")


def test_validate_hostile_input_is_bounded(stack):
    deep = "a:\n" + "".join("  " * i + "- \n" for i in range(1, 200))
    for text in (deep, "- " * 20000, "x: &a [*a]\n", "\x01\x02binary"):
        s, _, js = stack.call("POST", V, stack.admin(), {"content": text})
        assert s == 200 and js["valid"] is False and js["error_count"] >= 1, (text[:20], js)


@pytest.mark.parametrize("body,field", [
    ({}, "content"),
    ({"content": ""}, "content"),
    ({"content": 5}, "content"),
    ({"content": ["a"]}, "content"),
    ({"content": "x", "strict": True}, "strict"),
])
def test_validate_rejects_bad_bodies(stack, body, field):
    s, _, js = stack.call("POST", V, stack.admin(), body)
    assert s == 400 and js["error"]["param"] == field, js


def test_generate_stores_a_valid_audited_document(stack, tmp_path):
    dev, dev_id, _ = stack.user("developer")
    body = {"name": "chat-api", "image": "ghcr.io/eco-base/chat-api:2.1.0", "ports": [8080, 9090],
            "depends_on": ["redis", "postgres"], "namespace": "eco-base-staging", "owner": "ml-team",
            "component": "api"}
    s, _, js = stack.call("POST", G, dev, body)
    assert s == 200, js
    text = js["content"]
    uid = uuid.UUID(js["unique_id"])
    assert uid.version == 1
    assert js["uri"] == "eco-base://k8s/eco-base-staging/deployment/chat-api"
    assert js["urn"] == f"urn:eco-base:k8s:eco-base-staging:deployment:chat-api:{js['unique_id']}"
    assert js["valid"] is True and js["findings"] == [] and js["module"] == "chat-api"
    for needle in ("kind: Deployment", "kind: Service", "containerPort: 9090", '"ghcr.io/eco-base/chat-api:2.1.0"',
                   "namespace: eco-base-staging", "cross_layer_binding: [redis, postgres]", 'owner: "ml-team"',
                   'app.kubernetes.io/version: "2.1.0"', 'app.kubernetes.io/component: "api"'):
        assert needle in text, needle
    # the CLI agrees it is valid
    rc, cli = cli_validate(tmp_path, text)
    assert rc == 0 and cli["valid"] is True, cli
    # stored with its hash, owner and status, and audited in the same statement
    row = psql(stack.db, "SELECT owner_id || '|' || module || '|' || validation_status || '|' || "
                         "encode(content_sha256, 'hex') || '|' || unique_id || '|' || target_system "
                         f"FROM yaml_documents WHERE id = '{js['id']}'")
    assert row == "|".join([dev_id, "chat-api", "valid", hashlib.sha256(text.encode()).hexdigest(),
                            js["unique_id"], "gke-staging"])
    aud = psql(stack.db, "SELECT actor || '|' || (detail->>'urn') FROM governance_records "
                         f"WHERE action = 'yaml.generate' AND target_id = '{js['id']}'")
    assert aud == f"user:{dev_id}|{js['urn']}"


def test_generate_twice_gives_distinct_ids(stack):
    dev, _, _ = stack.user("developer")
    a = stack.call("POST", G, dev, {"name": "m", "image": "busybox:1"})[2]
    b = stack.call("POST", G, dev, {"name": "m", "image": "busybox:1"})[2]
    assert a["unique_id"] != b["unique_id"] and a["id"] != b["id"]
    assert psql(stack.db, "SELECT count(*) FROM yaml_documents WHERE module = 'm'") == "2"


def test_generate_is_not_for_viewers(stack):
    viewer, _, _ = stack.user("viewer")
    s, _, js = stack.call("POST", G, viewer, {"name": "m", "image": "busybox:1"})
    assert s == 403 and js["error"]["code"] == "insufficient_role"
    assert psql(stack.db, "SELECT count(*) FROM yaml_documents") == "0"


@pytest.mark.parametrize("body,field", [
    ({"image": "busybox:1"}, "name"),
    ({"name": "m"}, "image"),
    ({"name": "Upper", "image": "busybox:1"}, "name"),
    ({"name": "9starts-with-digit", "image": "busybox:1"}, "name"),
    ({"name": "m", "image": "bad image!"}, "image"),
    ({"name": "m", "image": "busybox:1", "ports": [0]}, "ports"),
    ({"name": "m", "image": "busybox:1", "ports": ["80"]}, "ports"),
    ({"name": "m", "image": "busybox:1", "ports": [80, 80]}, "ports"),
    ({"name": "m", "image": "busybox:1", "ports": list(range(1, 18))}, "ports"),
    ({"name": "m", "image": "busybox:1", "depends_on": ["Not_A_Label"]}, "depends_on"),
    ({"name": "m", "image": "busybox:1", "depends_on": "redis"}, "depends_on"),
    ({"name": "m", "image": "busybox:1", "namespace": "default"}, "namespace"),
    ({"name": "m", "image": "busybox:1", "owner": "Platform Team"}, "owner"),
    ({"name": "m", "image": "busybox:1", "version": "-bad-"}, "version"),
    ({"name": "m", "image": "busybox:1", "target": "k8s"}, "target"),
])
def test_generate_rejects_bad_modules_naming_the_field(stack, body, field):
    s, _, js = stack.call("POST", G, stack.admin(), body)
    assert s == 400 and js["error"]["param"] == field and field in js["error"]["message"], js
    assert "--" not in js["error"]["message"]  # CLI option names are translated to JSON fields
    assert psql(stack.db, "SELECT count(*) FROM yaml_documents") == "0"
