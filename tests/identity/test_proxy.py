"""The proxy stage of root-gateway: streams pass through as they come and no faster than the
client reads, request ids and traceparent travel upstream, upstream failures never leak their
bodies, and identity goes upstream only in the gateway's own headers."""
import http.client
import json
import re
import time

import pytest

from ecotest import free_port

pytestmark = pytest.mark.deps


def chat(**over):
    body = {"model": "sim-chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50}
    body.update(over)
    return body


def open_stream(stack, token, body, base=None):
    url = base or stack.gw.url
    host, port = url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("POST", "/v1/chat/completions", json.dumps(body),
                 {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    return conn, conn.getresponse()


def test_sse_streams_through_event_by_event(stack):
    dev, _, _ = stack.user("developer")
    t0 = time.monotonic()
    conn, resp = open_stream(stack, dev, chat(stream=True, x_test={"chunks": 6, "delay": 0.25}))
    assert resp.status == 200 and resp.getheader("content-type").startswith("text/event-stream")
    arrivals, events = [], []
    buf = b""
    while True:
        data = resp.read1(65536)
        if not data:
            break
        buf += data
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            events.append(ev)
            arrivals.append(time.monotonic() - t0)
    conn.close()
    assert len(events) == 8 and events[-1] == b"data: [DONE]"  # 6 deltas, usage, [DONE]
    assert arrivals[0] < 0.6, arrivals  # the first token did not wait for the whole answer
    assert arrivals[5] - arrivals[0] > 1.0, arrivals  # and the rest came as produced
    assert b"t5" in events[5]


def test_slow_reader_throttles_the_upstream(stack):
    dev, _, _ = stack.user("developer")
    n, size = 4000, 16000  # 64 MB of events
    conn, resp = open_stream(stack, dev, chat(stream=True, x_test={"chunks": n, "size": size}))
    assert resp.status == 200
    resp.read1(1000)
    time.sleep(2.0)  # the client stops reading; the gateway must stop reading upstream
    assert stack.up.bytes_written < 40 << 20, stack.up.bytes_written
    total, events = 0, 0
    while True:
        data = resp.read1(1 << 20)
        if not data:
            break
        total += len(data)
        events += data.count(b"\n\n")
    conn.close()
    assert stack.up.bytes_written > n * size  # then everything came through
    assert total + 1000 >= n * size


def test_request_id_and_traceparent_propagate(stack):
    dev, _, _ = stack.user("developer")
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    s, h, _ = stack.call("GET", "/v1/models", dev, headers={"x-request-id": "req-abc.123", "traceparent": tp})
    assert s == 200 and h["x-request-id"] == "req-abc.123"
    _, _, hdrs, _ = stack.up.last("/v1/models")
    assert hdrs["x-request-id"] == "req-abc.123" and hdrs["traceparent"] == tp
    assert hdrs["x-forwarded-for"] == "127.0.0.1"
    # none given: the gateway makes both up, and tells the client the request id
    s, h, _ = stack.call("GET", "/v1/models", dev)
    _, _, hdrs, _ = stack.up.last("/v1/models")
    assert re.fullmatch(r"[0-9a-f]{32}", h["x-request-id"]) and hdrs["x-request-id"] == h["x-request-id"]
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", hdrs["traceparent"])
    # the identity headers: the secret, the caller, and nothing a client tried to add
    s, _, _ = stack.call("GET", "/v1/models", dev, headers={"x-eco-role": "admin", "X-Eco-User-Id": "evil"})
    _, _, hdrs, _ = stack.up.last("/v1/models")
    assert hdrs["x-eco-role"] == "viewer" or hdrs["x-eco-role"] == "developer"
    assert hdrs["x-eco-role"] == "developer" and hdrs["x-eco-user-id"] != "evil"
    assert hdrs["x-eco-internal-secret"] and "authorization" not in hdrs


@pytest.mark.parametrize("status,expect", [(500, 502), (502, 502), (503, 503), (504, 504)])
def test_upstream_failures_do_not_leak(stack, status, expect):
    dev, _, _ = stack.user("developer")
    s, h, js = stack.call("POST", "/v1/chat/completions", dev, chat(x_test={"status": status}))
    assert s == expect and js["error"]["code"] == "upstream_error" and js["error"]["request_id"]
    text = json.dumps(js)
    assert "psycopg2" not in text and "hunter2" not in text and "10.0.0.7" not in text
    if status == 503:
        assert h["retry-after"] == "7"


def test_overhead_header_passes_but_upstream_identity_headers_do_not(stack):
    dev, _, _ = stack.user("developer")
    s, h, _ = stack.call("POST", "/v1/chat/completions", dev, body={"model": "m", "messages": []})
    h = {k.lower(): v for k, v in h.items()}
    assert s == 200 and h["x-eco-overhead-us"] == "42" and "x-eco-role" not in h


def test_upstream_4xx_passes_through(stack):
    dev, _, _ = stack.user("developer")
    s, _, js = stack.call("GET", "/api/v1/keys/00000000-0000-4000-8000-000000000000/usage", dev)
    assert s == 404 and js["error"]["code"] == "not_found"


def test_upstream_down_is_a_clean_502(make_stack):
    stack = make_stack(gw_env={"ECO_AI_SERVICE_URL": f"http://127.0.0.1:{free_port()}"})
    dev, _, _ = stack.user("developer")
    s, _, js = stack.call("GET", "/v1/models", dev)
    assert s == 502 and js["error"]["code"] == "upstream_unavailable"


def test_client_abort_mid_stream_is_survived(stack):
    dev, _, _ = stack.user("developer")
    for _ in range(3):
        conn, resp = open_stream(stack, dev, chat(stream=True, x_test={"chunks": 50, "delay": 0.05}))
        resp.read1(100)
        conn.sock.close()
        conn.close()
    time.sleep(0.5)
    s, _, _ = stack.call("GET", "/v1/models", dev)
    assert s == 200 and stack.gw.proc.poll() is None


def test_without_an_internal_secret_the_credential_travels_instead(make_stack):
    stack = make_stack(api_env={"ECO_INTERNAL_SECRET": ""}, gw_env={"ECO_INTERNAL_SECRET": ""})
    dev, uid, _ = stack.user("developer")
    key = stack.key(dev)["secret"]
    for cred in (dev, key):
        s, _, js = stack.call("GET", "/auth/me", cred)
        assert s == 200 and js["user"]["id"] == uid  # api-gateway authenticated it itself
    s, _, _ = stack.call("GET", "/v1/models", key)
    _, _, hdrs, _ = stack.up.last("/v1/models")
    assert hdrs["authorization"] == "Bearer " + key
    assert not any(h.startswith("x-eco-") for h in hdrs)
    # and api-gateway believes no identity headers at all
    s, _, js = stack.call("GET", "/auth/me", headers={"x-eco-auth-kind": "jwt", "x-eco-user-id": uid,
                                                      "x-eco-role": "admin", "x-eco-internal-secret": ""},
                          base=stack.api.url)
    assert s == 401 and js["error"]["code"] == "untrusted_identity_headers"


def test_openai_sdk_through_the_gateway_with_an_api_key(stack):
    import openai
    dev, _, _ = stack.user("developer")
    key = stack.key(dev)["secret"]
    client = openai.OpenAI(base_url=stack.gw.url + "/v1", api_key=key, max_retries=0)
    assert [m.id for m in client.models.list()] == ["sim-chat"]
    r = client.chat.completions.create(model="sim-chat", messages=[{"role": "user", "content": "hi"}], max_tokens=5)
    assert r.choices[0].message.content == "hi" and r.usage.total_tokens == 10
    chunks = list(client.chat.completions.create(model="sim-chat", messages=[{"role": "user", "content": "hi"}],
                                                 max_tokens=5, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).startswith("t0 t1")
    bad = openai.OpenAI(base_url=stack.gw.url + "/v1", api_key="eco_sk_" + "A" * 43, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        bad.models.list()
    assert e.value.status_code == 401
