"""API keys: created with the secret shown once and only its hash stored, used through the
gateway, rotated and revoked with effect within ECO_KEY_CACHE_TTL_MS, usage per window, and
hostile input rejected cleanly."""
import hashlib
import time

import pytest

from idstack import psql

pytestmark = pytest.mark.deps

CHAT = {"model": "sim-chat", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 20}


def until_status(stack, key, want, timeout):
    """Polls GET /v1/models with key until the status is `want`; returns the seconds it took."""
    t0 = time.monotonic()
    while True:
        s, _, _ = stack.call("GET", "/v1/models", key)
        if s == want:
            return time.monotonic() - t0
        assert time.monotonic() - t0 < timeout, f"still {s} after {timeout}s"
        time.sleep(0.02)


def test_key_lifecycle_through_the_gateway(stack):
    dev, dev_id, _ = stack.user("developer")
    created = stack.key(dev, name="ci", rpm_limit=100, tpm_limit=5000, expires_in_days=30)
    secret, kid = created["secret"], created["id"]
    assert secret.startswith("eco_sk_") and len(secret) == 50 and created["prefix"] == secret[:12]
    assert created["role"] == "developer" and created["rpm_limit"] == 100 and created["owner_id"] == dev_id
    assert created["expires_at"] and created["revoked_at"] is None
    # only the SHA-256 is stored, and the listing never shows the secret again
    row = psql(stack.db, f"SELECT encode(secret_sha256, 'hex') FROM api_keys WHERE id = '{kid}'")
    assert row == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in psql(stack.db, "SELECT row_to_json(k)::text FROM api_keys k")
    s, _, js = stack.call("GET", "/api/v1/keys", dev)
    assert s == 200 and js["total"] == 1 and "secret" not in js["keys"][0] and js["keys"][0]["id"] == kid
    # the key works end to end, and the upstream learns who called
    s, h, js = stack.call("POST", "/v1/chat/completions", secret, CHAT)
    assert s == 200 and js["usage"]["total_tokens"] == 10
    _, _, hdrs, _ = stack.up.last("/v1/chat/completions")
    assert hdrs["x-eco-auth-kind"] == "api_key" and hdrs["x-eco-key-id"] == kid
    assert hdrs["x-eco-user-id"] == dev_id and hdrs["x-eco-role"] == "developer"
    assert "authorization" not in hdrs  # the credential stays at the edge
    # rotation: the new secret works at once, the old one stops within the cache TTL (500 ms)
    s, _, rot = stack.call("POST", f"/api/v1/keys/{kid}/rotate", dev)
    assert s == 200 and rot["id"] == kid and rot["secret"] != secret and rot["rpm_limit"] == 100
    s, _, _ = stack.call("GET", "/v1/models", rot["secret"])
    assert s == 200
    assert until_status(stack, secret, 401, timeout=3) < 0.5 + 0.4
    # revocation: the key stops working within the TTL
    s, _, js = stack.call("GET", "/v1/models", rot["secret"])
    assert s == 200
    s, _, js = stack.call("DELETE", f"/api/v1/keys/{kid}", dev)
    assert s == 200 and js == {"id": kid, "revoked": True}
    assert until_status(stack, rot["secret"], 401, timeout=3) < 0.5 + 0.4
    s, _, js = stack.call("GET", "/v1/models", rot["secret"])
    assert s == 401 and js["error"]["code"] == "invalid_api_key"
    # a revoked key cannot be rotated back to life; revoking again is harmless
    s, _, js = stack.call("POST", f"/api/v1/keys/{kid}/rotate", dev)
    assert s == 409 and js["error"]["code"] == "key_revoked"
    s, _, js = stack.call("DELETE", f"/api/v1/keys/{kid}", dev)
    assert s == 200
    actions = psql(stack.db, f"SELECT action FROM governance_records WHERE target_id = '{kid}' ORDER BY id").split()
    assert actions == ["api_key.create", "api_key.rotate", "api_key.revoke"]


def test_keys_are_private_to_their_owner(stack):
    alice, _, _ = stack.user("developer")
    bob, _, _ = stack.user("developer")
    kid = stack.key(alice)["id"]
    for method, path in (("DELETE", f"/api/v1/keys/{kid}"), ("POST", f"/api/v1/keys/{kid}/rotate"),
                         ("GET", f"/api/v1/keys/{kid}/usage")):
        s, _, js = stack.call(method, path, bob)
        assert s == 404 and js["error"]["code"] == "not_found", (method, path)
    s, _, js = stack.call("GET", "/api/v1/keys", bob)
    assert js["total"] == 0
    # admins may act on anyone's key
    s, _, js = stack.call("GET", f"/api/v1/keys/{kid}/usage", stack.admin())
    assert s == 200


def test_expired_key_is_refused(stack):
    dev, _, _ = stack.user("developer")
    created = stack.key(dev)
    psql(stack.db, f"UPDATE api_keys SET created_at = now() - interval '2 days', expires_at = now() - interval '1 s' "
                   f"WHERE id = '{created['id']}'")
    s, _, js = stack.call("GET", "/v1/models", created["secret"])
    assert s == 401 and js["error"]["code"] == "invalid_api_key"


def test_usage_counts_requests_and_reconciled_tokens(stack):
    dev, _, _ = stack.user("developer")
    created = stack.key(dev, rpm_limit=50, tpm_limit=100000)
    for usage in (7, 11, 13):
        s, h, _ = stack.call("POST", "/v1/chat/completions", created["secret"],
                             {**CHAT, "max_tokens": 500, "x_test": {"usage": usage}})
        assert s == 200
    s, _, _ = stack.call("GET", "/v1/models", created["secret"])

    def settled():
        s, _, js = stack.call("GET", f"/api/v1/keys/{created['id']}/usage", dev)
        return s == 200 and js["requests"] == 4 and js["tokens"] == 7 + 11 + 13 and js

    from idstack import wait_for
    js = wait_for(settled, 5, "usage to settle at 4 requests and 31 tokens")
    assert js["window_seconds"] == 60 and js["limits"] == {"requests": 50, "tokens": 100000}


@pytest.mark.parametrize("body,param", [
    ({"name": ""}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"name": "line\nbreak"}, "name"),
    ({"name": 5}, "name"),
    ({"name": "k", "role": "root"}, "role"),
    ({"name": "k", "rpm_limit": 0}, "rpm_limit"),
    ({"name": "k", "rpm_limit": "10"}, "rpm_limit"),
    ({"name": "k", "tpm_limit": 10 ** 12}, "tpm_limit"),
    ({"name": "k", "expires_in_days": -1}, "expires_in_days"),
])
def test_key_creation_rejects_bad_input(stack, body, param):
    dev, _, _ = stack.user("developer")
    s, _, js = stack.call("POST", "/api/v1/keys", dev, body)
    assert s == 400 and js["error"]["param"] == param, js
    s, _, js = stack.call("POST", "/api/v1/keys", dev, {"name": "k", "owner_id": "someone else"})
    assert s == 400 and js["error"]["code"] == "unknown_parameter"


def test_injection_and_oversized_input_are_rejected_cleanly(stack):
    dev, _, _ = stack.user("developer")
    # a hostile name is stored as text, nothing more
    name = "x'); DROP TABLE api_keys; --"
    created = stack.key(dev, name=name)
    assert created["name"] == name and psql(stack.db, "SELECT count(*) FROM api_keys") == "1"
    # path parameters must be UUIDs
    for bad in ("1%20OR%201=1", "'%3B--", "..%2F..%2Fusers", "A" * 300, "00000000-0000-0000-0000-00000000000G"):
        s, _, js = stack.call("DELETE", f"/api/v1/keys/{bad}", dev)
        assert s in (400, 404), (bad, s, js)
        assert js["error"]["request_id"]
    # query strings: odd characters are refused, numbers bounded
    s, _, js = stack.call("GET", "/api/v1/audit?limit=1;DELETE", stack.admin())
    assert s == 400 and js["error"]["param"] == "limit"
    s, _, js = stack.call("GET", "/api/v1/audit?action=x'%20OR%20'1'='1", stack.admin())
    assert s == 400 and js["error"]["param"] == "action"
    s, _, js = stack.call("GET", "/api/v1/audit?action=api_key.create&limit=5", stack.admin())
    assert s == 200 and js["count"] == 1 and js["records"][0]["target_id"] == created["id"]
    # bodies: too large, too deep, not JSON, duplicate keys
    s, _, js = stack.call("POST", "/api/v1/keys", dev, b"{\"name\":\"" + b"x" * (2 << 20) + b"\"}")
    assert s == 413 and js["error"]["code"] == "request_too_large"
    s, _, js = stack.call("POST", "/api/v1/keys", dev, b"[" * 100 + b"]" * 100)
    assert s == 400
    s, _, js = stack.call("POST", "/api/v1/keys", dev, b"{\"name\": \"a\", \"name\": \"b\"}")
    assert s == 400 and js["error"]["code"] == "invalid_json"
    s, _, js = stack.call("POST", "/api/v1/keys", dev, b"not json")
    assert s == 400 and js["error"]["code"] == "invalid_json"
    # headers: an enormous header block is refused by the gateway
    s, _, js = stack.call("GET", "/v1/models", created["secret"], headers={"x-big": "b" * 20000})
    assert s == 431 and js["error"]["code"] == "headers_too_large"
    # an absurd Authorization header
    s, _, js = stack.call("GET", "/v1/models", headers={"Authorization": "Bearer " + "a.b." * 3000})
    assert s == 401
