"""Redis and PostgreSQL outages at the edge, in both ECO_REDIS_FAIL_MODE settings: what callers
get, what /ready says, and what /metrics shows; and recovery once the dependency is back."""
import re
import time

import pytest

from idstack import wait_for

pytestmark = pytest.mark.deps


def metric(svc, name, labels=""):
    _, _, body = svc.get("/metrics")
    m = re.search(r"^" + re.escape(name + labels) + r" (\S+)$", body.decode(), re.M)
    return float(m.group(1)) if m else None


def test_redis_outage_in_both_fail_modes(make_stack, deps):
    stack = make_stack()  # the default gateway fails closed
    opened = stack.gateway(ECO_REDIS_FAIL_MODE="open")
    dev, _, _ = stack.user("developer")
    key = stack.key(dev, rpm_limit=3)["secret"]
    other = stack.key(dev, rpm_limit=1000)["secret"]
    for base in (stack.gw.url, opened.url):
        assert stack.call("GET", "/v1/models", other, base=base)[0] == 200  # warm both key caches
    assert metric(stack.gw, "eco_gateway_redis_fail_open") == 0 and metric(opened, "eco_gateway_redis_fail_open") == 1
    deps.stop("redis")
    try:
        # closed: no request passes without its limit, and /ready says why
        s, h, js = stack.call("GET", "/v1/models", other)
        assert s == 503 and js["error"]["code"] == "rate_limiter_unavailable" and h["retry-after"]
        _, body = stack.gw.wait_ready(503, timeout=15)
        assert body["checks"]["redis"]["state"] == "down"
        assert metric(stack.gw, "eco_gateway_ratelimit_redis_errors_total") >= 1
        assert metric(stack.gw, "eco_gateway_ratelimit_decisions_total", '{result="fail_closed"}') >= 1
        # open: requests pass, limited by this replica's own limiter
        statuses = [stack.call("GET", "/v1/models", key, base=opened.url)[0] for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429], statuses
        assert metric(opened, "eco_gateway_ratelimit_backend", '{backend="local"}') == 1
        status, body = opened.ready()
        assert status == 200 and body["checks"]["redis"]["state"] == "down"
        # api-gateway keeps serving what does not need Redis (callers vouched for by a gateway);
        # a JWT presented directly cannot be checked for revocation: 503, not a guess
        assert stack.call("GET", "/api/v1/keys", dev, base=opened.url)[0] == 200
        s, _, js = stack.call("GET", "/api/v1/keys", dev, base=stack.api.url)
        assert s == 503 and js["error"]["code"] == "auth_unavailable"
        # login falls back to api-gateway's local failed-login limiter
        from idstack import ADMIN_EMAIL, ADMIN_PASSWORD
        s, _, _ = stack.call("POST", "/auth/login", body={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
                             base=stack.api.url)
        assert s == 200
    finally:
        deps.start("redis")
    stack.gw.wait_ready(200, timeout=30)
    wait_for(lambda: stack.call("GET", "/v1/models", other)[0] == 200, 10, "closed gateway recovers")
    wait_for(lambda: metric(opened, "eco_gateway_ratelimit_backend", '{backend="redis"}') == 1 or
             stack.call("GET", "/v1/models", other, base=opened.url)[0] == 200 and
             metric(opened, "eco_gateway_ratelimit_backend", '{backend="redis"}') == 1, 10, "open gateway back on Redis")


def test_postgres_outage(make_stack, deps):
    stack = make_stack(gw_env={"ECO_KEY_CACHE_STALE_MS": "120000"})
    dev, _, _ = stack.user("developer")
    warm = stack.key(dev)["secret"]
    cold = stack.key(dev)["secret"]
    assert stack.call("GET", "/v1/models", warm)[0] == 200
    cold_gw = stack.gateway()
    deps.stop("postgres")
    time.sleep(0.6)  # past the cache TTL: the next use asks PostgreSQL
    try:
        # a key seen recently still authenticates (served stale); an unseen one cannot be checked
        s, _, _ = stack.call("GET", "/v1/models", warm)
        assert s == 200
        s, h, js = stack.call("GET", "/v1/models", cold)
        assert s == 503 and js["error"]["code"] == "auth_unavailable" and h["retry-after"]
        assert metric(stack.gw, "eco_gateway_key_cache_lookups_total", '{result="stale"}') >= 1
        # access tokens need no database at the edge
        s, _, _ = stack.call("GET", "/v1/models", dev)
        assert s == 200
        # api-gateway answers 503 for what needs the database, with a clean error (which the
        # gateway, as for every upstream 5xx, replaces by its own)
        s, _, js = stack.call("GET", "/api/v1/keys", dev, base=stack.api.url)
        assert s == 503 and js["error"]["code"] == "database_unavailable"
        s, _, js = stack.call("GET", "/api/v1/keys", dev)
        assert s == 503 and js["error"]["code"] == "upstream_error"
        # readiness: warm cache -> still ready (degraded); cold cache -> 503
        _, body = stack.gw.wait_ready(200, timeout=15, state="degraded")
        assert body["checks"]["postgres"]["state"] == "degraded"
        _, body = cold_gw.wait_ready(503, timeout=15)
        assert body["checks"]["postgres"]["state"] == "down"
        stack.api.wait_ready(503, timeout=15)
    finally:
        deps.start("postgres")
    wait_for(lambda: stack.call("GET", "/v1/models", cold)[0] == 200, 20, "key look-ups recover")
    wait_for(lambda: stack.call("GET", "/api/v1/keys", dev)[0] == 200, 20, "api-gateway recovers")
    cold_gw.wait_ready(200, timeout=30)
