"""CORS at root-gateway (ECO_CORS_ORIGINS): preflights answered without credentials for allowed
origins (204, methods of the path, accepted request headers, max-age), refused with 403 and no
CORS header for others; actual responses carry Access-Control-Allow-Origin only for allowed
origins; Vary: Origin everywhere; CORS off by default; bad settings stop start-up."""
import http.client
import os
import subprocess
import uuid
from urllib.parse import urlparse

import pytest

from ecotest import BIN

pytestmark = pytest.mark.deps

APP = "https://app.example.com"
ORIGINS = f"{APP}, http://localhost:5173"


def raw(url, method, path, headers=None, body=None):
    """(status, [(name lower, value)], body) with every header kept (duplicates too)."""
    u = urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, [(k.lower(), v) for k, v in r.getheaders()], r.read()
    finally:
        c.close()


def hget(hs, name):
    return [v for k, v in hs if k == name]


def acao(hs):
    return [k for k, _ in hs if k.startswith("access-control-")]


def preflight(stack, path, origin, method, req_headers=None):
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if req_headers:
        h["Access-Control-Request-Headers"] = req_headers
    return raw(stack.gw.url, "OPTIONS", path, h)


@pytest.fixture
def cors_stack(make_stack):
    return make_stack(gw_env={"ECO_CORS_ORIGINS": ORIGINS, "ECO_CORS_MAX_AGE_MS": "120000"})


def test_preflight_for_an_allowed_origin(cors_stack):
    s, hs, body = preflight(cors_stack, "/v1/chat/completions", APP, "POST",
                            "Authorization, Content-Type, x-stainless-os, X-Evil")
    assert s == 204 and body == b"", (s, hs)
    assert hget(hs, "access-control-allow-origin") == [APP]
    assert hget(hs, "access-control-allow-methods") == ["POST"]
    allowed = [h.strip() for h in hget(hs, "access-control-allow-headers")[0].split(",")]
    assert allowed == ["authorization", "content-type", "x-stainless-os"]  # x-evil is not accepted
    assert hget(hs, "access-control-max-age") == ["120"]
    assert "Origin" in ", ".join(hget(hs, "vary"))
    assert not hget(hs, "access-control-allow-credentials")
    # no credential was needed and nothing reached the upstream
    assert cors_stack.up.last("/v1/chat/completions") is None


def test_preflight_lists_the_methods_of_the_path(cors_stack):
    s, hs, _ = preflight(cors_stack, f"/api/v1/platforms/{uuid.uuid4()}", "http://localhost:5173", "PATCH")
    assert s == 204, hs
    assert hget(hs, "access-control-allow-origin") == ["http://localhost:5173"]
    assert sorted(m.strip() for m in hget(hs, "access-control-allow-methods")[0].split(",")) == [
        "DELETE", "GET", "PATCH"]
    s, hs, body = preflight(cors_stack, "/v1/chat/completions", APP, "DELETE")
    assert s == 403 and b"cors_method_not_allowed" in body and not acao(hs)


@pytest.mark.parametrize("origin", ["https://evil.example.com", "http://app.example.com", "https://app.example.com:8443",
                                    "null", "https://app.example.com.evil.io", "https://APP.example.com/x"])
def test_preflight_for_other_origins_is_403_without_cors_headers(cors_stack, origin):
    s, hs, body = preflight(cors_stack, "/v1/chat/completions", origin, "POST", "authorization")
    assert s == 403 and b"cors_origin_not_allowed" in body, (s, body)
    assert not acao(hs), hs
    assert "Origin" in ", ".join(hget(hs, "vary"))


def test_actual_responses_carry_cors_headers_for_allowed_origins_only(cors_stack):
    tok = cors_stack.admin()
    auth = {"Authorization": "Bearer " + tok}
    s, hs, _ = raw(cors_stack.gw.url, "GET", "/auth/me", {**auth, "Origin": APP})
    assert s == 200 and hget(hs, "access-control-allow-origin") == [APP]
    exposed = hget(hs, "access-control-expose-headers")[0]
    assert "x-request-id" in exposed and "x-ratelimit-remaining-requests" in exposed and "retry-after" in exposed
    assert "Origin" in ", ".join(hget(hs, "vary"))
    # errors are readable by the allowed page too (a 401 it can react to)
    s, hs, _ = raw(cors_stack.gw.url, "GET", "/auth/me", {"Origin": APP})
    assert s == 401 and hget(hs, "access-control-allow-origin") == [APP]
    # a proxied answer from ai-service as well
    s, hs, _ = raw(cors_stack.gw.url, "GET", "/v1/models", {**auth, "Origin": APP})
    assert s == 200 and hget(hs, "access-control-allow-origin") == [APP]
    # another origin: served (CORS is the browser's check) but without any CORS header
    s, hs, _ = raw(cors_stack.gw.url, "GET", "/auth/me", {**auth, "Origin": "https://evil.example.com"})
    assert s == 200 and not acao(hs) and "Origin" in ", ".join(hget(hs, "vary"))
    # no Origin at all (server to server): no CORS header either
    s, hs, _ = raw(cors_stack.gw.url, "GET", "/auth/me", auth)
    assert s == 200 and not acao(hs)


def test_plain_options_lists_the_methods(cors_stack):
    s, hs, _ = raw(cors_stack.gw.url, "OPTIONS", "/api/v1/keys")
    assert s == 204 and sorted(m.strip() for m in hget(hs, "allow")[0].split(",")) == ["GET", "OPTIONS", "POST"]
    s, _, _ = raw(cors_stack.gw.url, "OPTIONS", "/api/v1/nothing-here", {"Origin": APP,
                                                                       "Access-Control-Request-Method": "GET"})
    assert s == 404


def test_wildcard_allows_any_origin(make_stack):
    stack = make_stack(gw_env={"ECO_CORS_ORIGINS": "*"})
    s, hs, _ = preflight(stack, "/v1/models", "https://anyone.example.org", "GET", "authorization")
    assert s == 204 and hget(hs, "access-control-allow-origin") == ["*"]
    assert hget(hs, "access-control-allow-headers") == ["authorization"]
    s, hs, _ = raw(stack.gw.url, "GET", "/v1/models", {"Origin": "https://anyone.example.org",
                                                       "Authorization": "Bearer " + stack.admin()})
    assert s == 200 and hget(hs, "access-control-allow-origin") == ["*"]


def test_cors_is_off_by_default(stack):
    s, hs, _ = preflight(stack, "/v1/chat/completions", APP, "POST")
    assert s == 405 and not acao(hs)
    s, hs, _ = raw(stack.gw.url, "GET", "/auth/me", {"Origin": APP, "Authorization": "Bearer " + stack.admin()})
    assert s == 200 and not acao(hs) and not hget(hs, "vary")


@pytest.mark.parametrize("value", ["app.example.com", "https://app.example.com/", "https://app.example.com/path",
                                   "ftp://app.example.com", "https://App.example.com", "https://a.com:99999x",
                                   "https://ok.com,https://"])
def test_bad_origin_lists_stop_start_up(value):
    env = {**os.environ, "ECO_CORS_ORIGINS": value, "ECO_HTTP_PORT": "1", "ECO_BIND_ADDR": "127.0.0.1"}
    r = subprocess.run([str(BIN / "root-gateway")], env=env, capture_output=True, text=True, timeout=20)
    assert r.returncode == 2, (value, r.stdout, r.stderr)
    assert r.stderr.strip().splitlines()[-1].startswith("ECO_CORS_ORIGINS:"), r.stderr


def test_settings_are_in_config_help():
    r = subprocess.run([str(BIN / "root-gateway"), "--config-help"], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0 and "ECO_CORS_ORIGINS" in r.stdout and "ECO_CORS_MAX_AGE_MS" in r.stdout
