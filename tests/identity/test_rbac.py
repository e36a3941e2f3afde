"""The permission table, exhaustively: every route x every role, with JWTs and with API keys,
through root-gateway (which serves exactly these routes) and directly at api-gateway (which
enforces the same table again). This file states the policy independently of the C table."""
import uuid

import pytest

pytestmark = pytest.mark.deps

V, D, A = "viewer", "developer", "admin"
PUBLIC = "public"
READ, WRITE, ADMIN = {V, D, A}, {D, A}, {A}
ID = str(uuid.uuid4())

# (method, path, who may call it) -- one row per route of the public REST surface
MATRIX = [
    ("POST", "/auth/signup", PUBLIC),
    ("POST", "/auth/login", PUBLIC),
    ("POST", "/auth/refresh", PUBLIC),
    ("GET", "/auth/me", READ),
    ("GET", "/api/v1/keys", READ),
    ("POST", "/api/v1/keys", WRITE),
    ("DELETE", f"/api/v1/keys/{ID}", WRITE),
    ("POST", f"/api/v1/keys/{ID}/rotate", WRITE),
    ("GET", f"/api/v1/keys/{ID}/usage", READ),
    ("GET", "/api/v1/users", ADMIN),
    ("PATCH", f"/api/v1/users/{ID}", ADMIN),
    ("GET", "/api/v1/audit", ADMIN),
    ("GET", "/api/v1/platforms", READ),
    ("POST", "/api/v1/platforms", ADMIN),
    ("GET", f"/api/v1/platforms/{ID}", READ),
    ("PATCH", f"/api/v1/platforms/{ID}", ADMIN),
    ("DELETE", f"/api/v1/platforms/{ID}", ADMIN),
    ("POST", "/api/v1/yaml/validate", READ),
    ("POST", "/api/v1/yaml/generate", WRITE),
    ("POST", "/api/v1/ai/jobs", WRITE),
    ("GET", "/api/v1/ai/jobs", READ),
    ("GET", f"/api/v1/ai/jobs/{ID}", READ),
    ("POST", f"/api/v1/ai/jobs/{ID}/cancel", WRITE),
    ("GET", f"/api/v1/ai/jobs/{ID}/events", READ),
    ("GET", "/v1/models", READ),
    ("GET", "/v1/models/sim-chat", READ),
    ("POST", "/v1/chat/completions", WRITE),
    ("POST", "/v1/completions", WRITE),
    ("POST", "/v1/embeddings", WRITE),
    ("POST", "/auth/logout", READ),  # last: it revokes the caller's sessions and access token
]

# the routes api-gateway implements in this stage (the others answer 404 there)
API_ROUTES = {"/auth/", "/api/v1/keys", "/api/v1/users", "/api/v1/audit", "/api/v1/platforms", "/api/v1/yaml/"}


def body_for(method, path):
    if method not in ("POST", "PATCH"):
        return None
    if path.startswith("/v1/"):
        return {"model": "sim-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5, "input": "x"}
    return {}


def credentials(stack):
    """role -> [(kind, credential)] for every role: an access JWT and an API key of that role."""
    creds = {}
    dev_tok, _, _ = stack.user(D)
    for role in (V, D, A):
        tok = stack.admin() if role == A else stack.user(role)[0]
        maker = stack.admin() if role == A else dev_tok
        key = stack.key(maker, role=role)["secret"]
        creds[role] = [("jwt", tok), ("api_key", key)]
    return creds


def check(stack, base, method, path, who, creds, direct=False):
    body = body_for(method, path)
    s, _, js = stack.call(method, path, body=body, base=base)
    if who == PUBLIC:
        assert s not in (401, 403), (method, path, "anonymous", s, js)
    else:
        assert s == 401 and js["error"]["code"] == "missing_credentials", (method, path, "anonymous", s, js)
    for role, pairs in creds.items():
        for kind, cred in pairs:
            s, _, js = stack.call(method, path, cred, body=body, base=base)
            ctx = (method, path, role, kind, s, js)
            if who == PUBLIC or role in who:
                assert s not in (401, 403), ctx
            else:
                assert s == 403 and js["error"]["code"] == "insufficient_role", ctx


def test_route_role_matrix_through_the_gateway(stack):
    creds = credentials(stack)
    for method, path, who in MATRIX:
        check(stack, stack.gw.url, method, path, who, creds)


def test_route_role_matrix_directly_at_api_gateway(stack):
    creds = credentials(stack)
    for method, path, who in MATRIX:
        if any(path.startswith(p) for p in API_ROUTES):
            check(stack, stack.api.url, method, path, who, creds, direct=True)


def test_the_gateway_serves_only_the_table(stack):
    tok = stack.admin()
    for method, path in [("GET", "/internal/debug"), ("GET", "/api/v2/keys"), ("GET", "/v1/fine_tuning/jobs"),
                         ("POST", "/api/v1/keys/x/y/z"), ("GET", "/api/v1"), ("GET", "/v1/models/"),
                         ("GET", "/admin"), ("GET", "/metrics/../api/v1/users/../../../etc/passwd")]:
        s, _, js = stack.call(method, path, tok)
        assert s == 404 and js["error"]["code"] == "not_found", (method, path, s, js)
    s, h, js = stack.call("PUT", "/api/v1/keys", tok)
    assert s == 405 and "GET" in h["allow"] and "POST" in h["allow"]
    # nothing unlisted reached an upstream
    assert stack.up.last("/internal") is None and stack.up.last("/v1/fine_tuning") is None


def test_key_role_is_capped_by_its_creator_and_owner(stack):
    dev, dev_id, _ = stack.user(D)
    s, _, js = stack.call("POST", "/api/v1/keys", dev, {"name": "x", "role": "admin"})
    assert s == 403 and js["error"]["code"] == "role_above_caller"
    key = stack.key(dev)["secret"]
    s, _, js = stack.call("GET", "/auth/me", key)
    assert s == 200 and js["auth"]["role"] == "developer"
    # demoting the owner demotes the key (within the gateway's cache TTL)
    s, _, _ = stack.call("PATCH", f"/api/v1/users/{dev_id}", stack.admin(), {"role": "viewer"})
    assert s == 200
    import time
    time.sleep(0.6)
    s, _, js = stack.call("POST", "/v1/chat/completions", key, body_for("POST", "/v1/chat/completions"))
    assert s == 403 and js["error"]["code"] == "insufficient_role"
