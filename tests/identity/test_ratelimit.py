"""Limits after authentication, shared by gateway replicas through Redis: exact under
concurrency, tokens reserved at admission from max_tokens and reconciled with real usage on
normal, failed and client-aborted streams; 429 with Retry-After and x-ratelimit-* headers."""
import concurrent.futures
import http.client
import json
import threading
import time

import pytest

from idstack import wait_for

pytestmark = pytest.mark.deps


def chat(**over):
    body = {"model": "sim-chat", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 50}
    body.update(over)
    return body


def usage(stack, owner, kid):
    s, _, js = stack.call("GET", f"/api/v1/keys/{kid}/usage", owner)
    assert s == 200, js
    return js


def test_limit_is_exact_across_two_gateways_and_32_clients(stack):
    n = 40
    dev, _, _ = stack.user("developer")
    key = stack.key(dev, rpm_limit=n)
    second = stack.gateway()
    bases = [stack.gw.url, second.url]
    barrier = threading.Barrier(32)

    def client(i):
        barrier.wait()
        out = []
        for j in range(4 * n // 32):
            s, h, js = stack.call("GET", "/v1/models", key["secret"], base=bases[(i + j) % 2])
            out.append((s, h, js))
        return out

    with concurrent.futures.ThreadPoolExecutor(32) as ex:
        results = [r for rs in ex.map(client, range(32)) for r in rs]
    statuses = [s for s, _, _ in results]
    assert len(statuses) == 4 * n
    assert statuses.count(200) == n, {s: statuses.count(s) for s in set(statuses)}
    assert statuses.count(429) == 3 * n
    for s, h, js in results:
        assert h["x-ratelimit-limit-requests"] == str(n)
        if s == 429:
            assert js["error"]["code"] == "rate_limited" and js["error"]["type"] == "rate_limit_error"
            assert 1 <= int(h["retry-after"]) <= 60 and h["x-ratelimit-remaining-requests"] == "0"
    assert usage(stack, dev, key["id"])["requests"] == n


def test_tokens_are_reserved_at_admission_and_reconciled(stack):
    dev, _, _ = stack.user("developer")
    key = stack.key(dev, tpm_limit=1000)
    slow = chat(stream=True, max_tokens=600, x_test={"chunks": 10, "delay": 0.15, "usage": 25})
    host, port = stack.gw.url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("POST", "/v1/chat/completions", json.dumps(slow),
                 {"Authorization": "Bearer " + key["secret"], "Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200
    reserved = 1000 - int(resp.getheader("x-ratelimit-remaining-tokens"))
    assert reserved >= 600
    # while the stream runs its 600+ tokens are held: another 600 does not fit
    s, h, js = stack.call("POST", "/v1/chat/completions", key["secret"], chat(max_tokens=600))
    assert s == 429 and js["error"]["code"] == "rate_limited" and int(h["retry-after"]) >= 1
    # a small one does
    s, _, _ = stack.call("POST", "/v1/chat/completions", key["secret"], chat(max_tokens=5, x_test={"usage": 4}))
    assert s == 200
    body = resp.read()
    assert body.endswith(b"data: [DONE]\n\n")
    conn.close()
    # the stream's real usage (25) replaces its reservation: now 600 fits again
    wait_for(lambda: usage(stack, dev, key["id"])["tokens"] == 25 + 4, 5, "reconciliation")
    s, _, _ = stack.call("POST", "/v1/chat/completions", key["secret"], chat(max_tokens=600, x_test={"usage": 600}))
    assert s == 200
    # a request that could never fit
    s, _, js = stack.call("POST", "/v1/chat/completions", key["secret"], chat(max_tokens=5000))
    assert s == 429 and js["error"]["code"] == "tokens_exceed_limit"


def test_failed_requests_are_refunded(stack):
    dev, _, _ = stack.user("developer")
    key = stack.key(dev, tpm_limit=100000)
    for status in (500, 503):
        s, _, _ = stack.call("POST", "/v1/chat/completions", key["secret"],
                             chat(max_tokens=700, x_test={"status": status}))
        assert s in (502, 503)
    s, _, _ = stack.call("POST", "/v1/chat/completions", key["secret"],
                         chat(max_tokens=700, model="", messages="not a list", x_test={"status": 400}))
    wait_for(lambda: usage(stack, dev, key["id"])["tokens"] == 0, 5, "refund of failed requests")
    assert usage(stack, dev, key["id"])["requests"] == 3


def test_client_abort_mid_stream_charges_what_was_streamed(stack):
    dev, _, _ = stack.user("developer")
    key = stack.key(dev, tpm_limit=100000)
    body = chat(stream=True, max_tokens=2000, x_test={"chunks": 200, "delay": 0.05, "usage": 5000})
    raw = json.dumps(body)
    host, port = stack.gw.url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("POST", "/v1/chat/completions", raw,
                 {"Authorization": "Bearer " + key["secret"], "Content-Type": "application/json"})
    resp = conn.getresponse()
    got = b""
    while got.count(b"\n\n") < 5:
        got += resp.read1(4096)
    conn.sock.close()
    conn.close()
    prompt_estimate = len(raw) // 4 + 1

    def settled():
        t = usage(stack, dev, key["id"])["tokens"]
        return prompt_estimate + 5 <= t < prompt_estimate + 60 and t

    tokens = wait_for(settled, 5, "the aborted stream's charge")
    assert tokens < prompt_estimate + 2000  # far below the reservation, and not the usage never sent


def test_success_headers_and_per_user_limits_for_jwt_callers(make_stack):
    stack = make_stack(gw_env={"ECO_DEFAULT_RPM": "3", "ECO_PUBLIC_RPM": "4"})
    dev, _, _ = stack.user("developer")
    s, h, _ = stack.call("POST", "/v1/chat/completions", dev, chat())
    assert s == 200 and h["x-ratelimit-limit-requests"] == "3" and h["x-ratelimit-remaining-requests"] == "2"
    assert h["x-ratelimit-limit-tokens"] == "200000" and 0 < int(h["x-ratelimit-reset-requests"]) <= 60
    assert [stack.call("GET", "/v1/models", dev)[0] for _ in range(3)] == [200, 200, 429]
    # unauthenticated routes are limited per client IP (signup + 2 logins in user() used 3 of 4)
    statuses = [stack.call("POST", "/auth/login", body={"email": "x@y.z", "password": "p" * 12})[0]
                for _ in range(3)]
    assert statuses == [401, 429, 429], statuses
