"""Platforms CRUD (/api/v1/platforms) through root-gateway on real PostgreSQL: create/get (by id
and by slug)/list/patch/delete, the audit row of every write, precise 400s naming the field,
404s, 409 on a duplicate slug (also under concurrency) and the role rules for writes."""
import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from idstack import psql

pytestmark = pytest.mark.deps

P = "/api/v1/platforms"


def slug():
    return "p-" + uuid.uuid4().hex[:10]


def create(stack, **fields):
    body = {"slug": slug(), "name": "Demo platform", **fields}
    s, _, js = stack.call("POST", P, stack.admin(), body)
    assert s == 201, js
    return js["platform"]


def audit(stack, action, target_id):
    out = psql(stack.db, "SELECT actor || '|' || outcome || '|' || detail::text FROM governance_records "
                         f"WHERE action = '{action}' AND target_id = '{target_id}' ORDER BY id")
    return [line.split("|", 2) for line in out.splitlines()] if out else []


def test_create_get_by_id_and_slug_and_audit(stack):
    admin_id = psql(stack.db, "SELECT id FROM users WHERE role = 'admin'")
    sl = slug()
    body = {"slug": sl, "name": "Chat web", "type": "web", "status": "active", "config": {"region": "eu", "n": 2},
            "capabilities": ["chat", "embeddings"], "deploy_target": "gke-production", "k8s_namespace": "eco-base"}
    s, _, js = stack.call("POST", P, stack.admin(), body)
    assert s == 201, js
    p = js["platform"]
    assert uuid.UUID(p["id"]) and p["slug"] == sl and p["name"] == "Chat web"
    assert p["type"] == "web" and p["status"] == "active" and p["config"] == {"region": "eu", "n": 2}
    assert p["capabilities"] == ["chat", "embeddings"] and p["deploy_target"] == "gke-production"
    assert p["owner_id"] == admin_id
    assert p["uri"] == f"eco-base://platform/module/{sl}"
    assert p["urn"] == f"urn:eco-base:platform:module:{sl}:{p['id']}"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", p["created_at"])
    # one audit row, written with the platform
    rows = audit(stack, "platform.create", p["id"])
    assert len(rows) == 1 and rows[0][0] == f"user:{admin_id}" and rows[0][1] == "success"
    assert json.loads(rows[0][2])["slug"] == sl
    # readable by every role, by id and by slug
    viewer, _, _ = stack.user("viewer")
    for key in (p["id"], sl):
        s, _, js = stack.call("GET", f"{P}/{key}", viewer)
        assert s == 200 and js["platform"] == p, (key, js)


def test_defaults(stack):
    p = create(stack)
    assert p["type"] == "custom" and p["status"] == "inactive" and p["config"] == {}
    assert p["capabilities"] == [] and p["k8s_namespace"] == "eco-base" and p["deploy_target"] == ""


def test_duplicate_slug_is_409_and_not_audited(stack):
    p = create(stack)
    s, _, js = stack.call("POST", P, stack.admin(), {"slug": p["slug"], "name": "other"})
    assert s == 409 and js["error"]["code"] == "slug_taken" and js["error"]["param"] == "slug"
    assert psql(stack.db, f"SELECT count(*) FROM platforms WHERE slug = '{p['slug']}'") == "1"
    assert psql(stack.db, "SELECT count(*) FROM governance_records WHERE action = 'platform.create'") == "1"


def test_concurrent_creates_of_one_slug_admit_exactly_one(stack):
    sl, tok = slug(), stack.admin()

    def one(i):
        return stack.call("POST", P, tok, {"slug": sl, "name": f"n{i}"})[0]

    with ThreadPoolExecutor(16) as ex:
        codes = list(ex.map(one, range(16)))
    assert sorted(codes) == [201] + [409] * 15, codes
    assert psql(stack.db, "SELECT count(*) FROM governance_records WHERE action = 'platform.create'") == "1"


BAD_CREATE = [
    ({"name": "x"}, "slug"),
    ({"slug": "Has_Upper", "name": "x"}, "slug"),
    ({"slug": "-dash", "name": "x"}, "slug"),
    ({"slug": "a" * 64, "name": "x"}, "slug"),
    ({"slug": str(uuid.uuid4()), "name": "x"}, "slug"),
    ({"slug": 7, "name": "x"}, "slug"),
    ({"slug": "ok"}, "name"),
    ({"slug": "ok", "name": ""}, "name"),
    ({"slug": "ok", "name": "x" * 201}, "name"),
    ({"slug": "ok", "name": "tab\there"}, "name"),
    ({"slug": "ok", "name": "x", "type": "mobile"}, "type"),
    ({"slug": "ok", "name": "x", "status": "up"}, "status"),
    ({"slug": "ok", "name": "x", "config": [1]}, "config"),
    ({"slug": "ok", "name": "x", "config": {"big": "y" * 70000}}, "config"),
    ({"slug": "ok", "name": "x", "capabilities": "chat"}, "capabilities"),
    ({"slug": "ok", "name": "x", "capabilities": ["Chat!"]}, "capabilities"),
    ({"slug": "ok", "name": "x", "capabilities": ["a", "a"]}, "capabilities"),
    ({"slug": "ok", "name": "x", "capabilities": [f"c{i}" for i in range(65)]}, "capabilities"),
    ({"slug": "ok", "name": "x", "k8s_namespace": "Not OK"}, "k8s_namespace"),
    ({"slug": "ok", "name": "x", "deploy_target": 5}, "deploy_target"),
    ({"slug": "ok", "name": "x", "urn": "urn:eco-base:x"}, "urn"),
    ({"slug": "ok", "name": "x", "owner_id": str(uuid.uuid4())}, "owner_id"),
    ({"slug": "ok", "name": "x", "colour": "blue"}, "colour"),
    ({"slug": "ok", "name": "x'; DROP TABLE platforms; --"}, None),  # fine: stored verbatim
]


@pytest.mark.parametrize("body,field", BAD_CREATE, ids=[f"{i}-{f}" for i, (_, f) in enumerate(BAD_CREATE)])
def test_create_rejects_bad_fields_naming_them(stack, body, field):
    s, _, js = stack.call("POST", P, stack.admin(), body)
    if field is None:
        assert s == 201 and js["platform"]["name"] == body["name"]
        assert psql(stack.db, "SELECT count(*) FROM platforms") == "1"
        return
    assert s == 400, js
    assert js["error"]["param"] == field and field in js["error"]["message"], js
    assert psql(stack.db, "SELECT count(*) FROM platforms") == "0"
    assert psql(stack.db, "SELECT count(*) FROM governance_records WHERE target_type = 'platform'") == "0"


def test_patch_updates_and_audits(stack):
    p = create(stack, capabilities=["chat"], config={"a": 1})
    s, _, js = stack.call("PATCH", f"{P}/{p['slug']}", stack.admin(),
                          {"name": "Renamed", "status": "maintenance", "capabilities": ["chat", "vision"],
                           "config": {"b": 2}})
    assert s == 200, js
    q = js["platform"]
    assert q["id"] == p["id"] and q["name"] == "Renamed" and q["status"] == "maintenance"
    assert q["capabilities"] == ["chat", "vision"] and q["config"] == {"b": 2}  # config is replaced
    assert q["type"] == p["type"] and q["slug"] == p["slug"] and q["urn"] == p["urn"]
    assert datetime.fromisoformat(q["updated_at"]) > datetime.fromisoformat(p["updated_at"])
    rows = audit(stack, "platform.update", p["id"])
    assert len(rows) == 1 and sorted(json.loads(rows[0][2])["fields"]) == ["capabilities", "config", "name", "status"]
    # by id too; an empty capabilities list clears them
    s, _, js = stack.call("PATCH", f"{P}/{p['id']}", stack.admin(), {"capabilities": []})
    assert s == 200 and js["platform"]["capabilities"] == [] and js["platform"]["name"] == "Renamed"


@pytest.mark.parametrize("body,field,code", [
    ({}, None, "invalid_parameter"),
    ({"slug": "new-slug"}, "slug", "immutable_field"),
    ({"name": None}, "name", "invalid_parameter"),
    ({"type": "tv"}, "type", "invalid_parameter"),
    ({"config": "x"}, "config", "invalid_parameter"),
    ({"uri": "eco-base://x"}, "uri", "read_only_field"),
    ({"bogus": 1}, "bogus", "unknown_parameter"),
])
def test_patch_rejects_bad_fields(stack, body, field, code):
    p = create(stack)
    s, _, js = stack.call("PATCH", f"{P}/{p['id']}", stack.admin(), body)
    assert s == 400 and js["error"]["code"] == code and js["error"].get("param") == field, js
    s, _, js = stack.call("GET", f"{P}/{p['id']}", stack.admin())
    assert js["platform"] == p


def test_delete_then_404_and_audit(stack):
    p = create(stack)
    s, _, js = stack.call("DELETE", f"{P}/{p['slug']}", stack.admin())
    assert s == 200 and js == {"id": p["id"], "slug": p["slug"], "urn": p["urn"], "deleted": True}
    assert len(audit(stack, "platform.delete", p["id"])) == 1
    for method in ("GET", "PATCH", "DELETE"):
        s, _, js = stack.call(method, f"{P}/{p['id']}", stack.admin(), {"name": "x"} if method == "PATCH" else None)
        assert s == 404 and js["error"]["code"] == "not_found", (method, js)
    assert len(audit(stack, "platform.delete", p["id"])) == 1


def test_unknown_and_malformed_ids(stack):
    tok = stack.admin()
    for key in (str(uuid.uuid4()), "no-such-slug"):
        for method in ("GET", "PATCH", "DELETE"):
            s, _, js = stack.call(method, f"{P}/{key}", tok, {"name": "x"} if method == "PATCH" else None)
            assert s == 404 and js["error"]["code"] == "not_found" and key in js["error"]["message"], (key, js)
    for key in ("Upper", "semi%3Bcolon", "-x", "a" * 64, "x'--"):
        s, _, js = stack.call("GET", f"{P}/{key}", tok)
        assert s == 400 and js["error"]["param"] == "id", (key, s, js)


def test_list_filters_and_pages(stack):
    a = create(stack, type="web", status="active", capabilities=["chat"])
    b = create(stack, type="api", status="active", capabilities=["chat", "embeddings"])
    c = create(stack, type="api", status="inactive")
    viewer, _, _ = stack.user("viewer")

    def ids(query=""):
        s, _, js = stack.call("GET", P + query, viewer)
        assert s == 200, js
        return [p["id"] for p in js["platforms"]], js["total"]

    assert ids() == ([c["id"], b["id"], a["id"]], 3)  # newest first
    assert ids("?type=api") == ([c["id"], b["id"]], 2)
    assert ids("?status=active") == ([b["id"], a["id"]], 2)
    assert ids("?capability=embeddings") == ([b["id"]], 1)
    assert ids("?type=api&status=active") == ([b["id"]], 1)
    assert ids("?limit=1&offset=1") == ([b["id"]], 3)
    assert ids("?offset=10") == ([], 3)
    assert ids("?type=desktop") == ([], 0)
    for q, param in (("?type=tv", "type"), ("?status=x", "status"), ("?limit=0", "limit"), ("?limit=abc", "limit"),
                     ("?offset=-1", "offset"), ("?capability=a%27b", "capability")):
        s, _, js = stack.call("GET", P + q, viewer)
        assert s == 400 and js["error"]["param"] == param, (q, js)


def test_writes_are_for_admins_only(stack):
    p = create(stack)
    for role in ("viewer", "developer"):
        tok, _, _ = stack.user(role)
        key = stack.key(stack.admin() if role == "viewer" else tok, role=role)["secret"]
        for cred in (tok, key):
            for method, path, body in (("POST", P, {"slug": slug(), "name": "x"}),
                                       ("PATCH", f"{P}/{p['id']}", {"name": "hacked"}),
                                       ("DELETE", f"{P}/{p['id']}", None)):
                s, _, js = stack.call(method, path, cred, body)
                assert s == 403 and js["error"]["code"] == "insufficient_role", (role, method, js)
    s, _, js = stack.call("GET", f"{P}/{p['id']}", stack.admin())
    assert js["platform"] == p
    assert psql(stack.db, "SELECT count(*) FROM platforms") == "1"
