"""Helpers for the identity and edge tests (tests/identity): the Stack of real api-gateway and
root-gateway binaries on real PostgreSQL and Redis with a scriptable ai-service stand-in, token
forging, and psql. Every Stack gets its own Redis key prefix, so limits never leak between tests."""
import base64
import hashlib
import hmac
import json
import subprocess
import time
import uuid

import ecotest
from fake_ai import Upstream

JWT_SECRET = "test-signing-secret-0123456789-abcdefghij"
JWT_KEYS = "k1:" + JWT_SECRET
INTERNAL_SECRET = "internal-secret-0123456789-abcdefghijklmn"
ADMIN_EMAIL, ADMIN_PASSWORD = "admin@eco.test", "correct horse battery"
PASSWORD = "a long enough password"


def psql(url, sql):
    r = subprocess.run(["psql", url, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge_jwt(header, payload, secret=JWT_SECRET):
    """A token signed with HMAC-SHA256 over whatever header and payload the test wants."""
    h = b64(json.dumps(header).encode())
    p = b64(json.dumps(payload).encode())
    sig = hmac.new(secret.encode(), f"{h}.{p}".encode(), hashlib.sha256).digest()
    return f"{h}.{p}.{b64(sig)}"


def jwt_claims(token):
    p = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))


def jwt_header(token):
    h = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))


class Stack:
    """api-gateway + root-gateway (+ optional extra gateways) + the ai-service stand-in."""

    def __init__(self, deps, db, start_service, api_env=None, gw_env=None):
        self.deps, self.db, self.start_service = deps, db, start_service
        self.prefix = "t" + uuid.uuid4().hex[:10] + ":"
        self.up = Upstream()
        self.common = {
            "ECO_POSTGRES_URL": db, "ECO_REDIS_URL": deps.redis_url, "ECO_KAFKA_BROKERS": deps.kafka_brokers,
            "ECO_JWT_KEYS": JWT_KEYS, "ECO_INTERNAL_SECRET": INTERNAL_SECRET, "ECO_REDIS_KEY_PREFIX": self.prefix,
            "ECO_ARGON2_MEMORY_KIB": "1024", "ECO_ARGON2_ITERATIONS": "1",
        }
        self.api_env = {**self.common, **(api_env or {})}
        self.api = start_service("api-gateway", self.api_env)
        self.gw_env = {**self.common, "ECO_API_GATEWAY_URL": self.api.url, "ECO_AI_SERVICE_URL": self.up.url,
                       "ECO_KEY_CACHE_TTL_MS": "500", "ECO_PUBLIC_RPM": "100000", **(gw_env or {})}
        self.gw = start_service("root-gateway", self.gw_env)
        self._admin = None

    def gateway(self, **env):
        """Another root-gateway replica on the same database, Redis and upstreams."""
        return self.start_service("root-gateway", {**self.gw_env, **env})

    def restart_api(self, **env):
        self.api.stop()
        self.api_env.update(env)
        self.api = self.start_service("api-gateway", self.api_env)
        self.gw_env["ECO_API_GATEWAY_URL"] = self.api.url

    def call(self, method, path, token=None, body=None, headers=None, base=None, timeout=15):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        status, rh, data = ecotest.http(method, (base or self.gw.url) + path, body=body, headers=h, timeout=timeout)
        try:
            js = json.loads(data) if data else None
        except ValueError:
            js = None
        return status, {k.lower(): v for k, v in rh.items()}, js

    def login(self, email, password=PASSWORD, base=None):
        s, _, js = self.call("POST", "/auth/login", body={"email": email, "password": password}, base=base)
        assert s == 200, js
        return js

    def admin(self):
        if not self._admin:
            self._admin = self.login(ADMIN_EMAIL, ADMIN_PASSWORD)["access_token"]
        return self._admin

    def user(self, role="viewer"):
        """A new account with that role; returns (access token, user id, email)."""
        email = f"u{uuid.uuid4().hex[:10]}@eco.test"
        s, _, js = self.call("POST", "/auth/signup", body={"email": email, "password": PASSWORD})
        assert s == 201, js
        uid = js["user"]["id"]
        if role != "viewer":
            s, _, js = self.call("PATCH", f"/api/v1/users/{uid}", self.admin(), {"role": role})
            assert s == 200, js
        return self.login(email)["access_token"], uid, email

    def key(self, token, **fields):
        s, _, js = self.call("POST", "/api/v1/keys", token, {"name": "test", **fields})
        assert s == 201, js
        return js


def wait_for(fn, timeout, what):
    return ecotest.wait_until(fn, timeout, interval=0.05, what=what)


def now():
    return int(time.time())
