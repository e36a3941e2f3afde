"""Slow-client and per-IP connection protections of root-gateway: ECO_CLIENT_TIMEOUT_MS bounds
how long a connection may take to deliver a whole request (drip-fed headers or bodies do not
extend it), and ECO_MAX_CONNS_PER_IP answers requests on connections beyond the cap with 429 and
closes them. Raw sockets, because ordinary clients never misbehave this way."""
import os
import socket
import subprocess
import time
from urllib.parse import urlparse

import pytest

import ecotest
from ecotest import BIN

pytestmark = pytest.mark.deps


def connect(url):
    u = urlparse(url)
    s = socket.create_connection((u.hostname, u.port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def closed_by_peer(s, wait=0.0):
    """True when the server has closed the connection (EOF or reset), waiting up to `wait` s."""
    s.settimeout(wait if wait > 0 else 0.001)
    try:
        return s.recv(65536) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except (socket.timeout, BlockingIOError):
        return False


def drip(s, data, every, deadline):
    """Sends data one byte per `every` seconds until the peer closes; returns seconds until closed
    (None if still open at the deadline)."""
    t0 = time.monotonic()
    for b in data:
        if time.monotonic() - t0 > deadline:
            return None
        try:
            s.sendall(bytes([b]))
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - t0
        if closed_by_peer(s, every):
            return time.monotonic() - t0
    return None


def read_response(s):
    s.settimeout(10)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    n = int(headers.get("content-length", "0"))
    while len(body) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


@pytest.fixture
def slow_stack(make_stack):
    return make_stack(gw_env={"ECO_CLIENT_TIMEOUT_MS": "1000"})


def test_drip_fed_headers_are_cut_off(slow_stack):
    s = connect(slow_stack.gw.url)
    data = b"GET /auth/me HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 200
    took = drip(s, data, 0.1, deadline=5)
    s.close()
    assert took is not None, "a client dripping its headers kept the connection for 5 s"
    assert 0.8 <= took <= 2.5, took


def test_drip_fed_body_is_cut_off(slow_stack):
    s = connect(slow_stack.gw.url)
    s.sendall(b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n")
    took = drip(s, b"{" + b" " * 399, 0.1, deadline=5)
    s.close()
    assert took is not None and 0.8 <= took <= 2.5, took


def test_an_idle_connection_is_closed_and_prompt_clients_are_served(slow_stack):
    s = connect(slow_stack.gw.url)
    t0 = time.monotonic()
    assert closed_by_peer(s, 3.0)
    assert 0.8 <= time.monotonic() - t0 <= 2.5
    s.close()
    # a prompt client is not affected: two requests on one keep-alive connection
    s = connect(slow_stack.gw.url)
    for _ in range(2):
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = read_response(s)
        assert status == 200 and b"ok" in body
    s.close()


def test_the_default_timeout_is_longer(stack):
    s = connect(stack.gw.url)
    s.sendall(b"GET /auth/me HTTP/1.1\r\nHost: x\r\n")
    assert not closed_by_peer(s, 1.5)  # the 10 s default still holds it open
    s.sendall(b"\r\n")
    status, _, _ = read_response(s)
    assert status == 401
    s.close()


def test_connections_beyond_the_per_ip_cap_get_429_and_are_closed(make_stack):
    stack = make_stack(gw_env={"ECO_MAX_CONNS_PER_IP": "3"})
    held = [connect(stack.gw.url) for _ in range(3)]
    time.sleep(0.3)  # accepted (and counted) before the next one arrives
    extra = connect(stack.gw.url)
    extra.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    status, headers, body = read_response(extra)
    assert status == 429 and b"too_many_connections" in body, (status, body)
    assert headers.get("connection") == "close" and headers.get("retry-after") == "1"
    assert closed_by_peer(extra, 2.0)
    extra.close()
    # the held connections still work
    held[0].sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_response(held[0])[0] == 200
    # closing one makes room for a new one
    held.pop().close()
    time.sleep(0.3)
    s = connect(stack.gw.url)
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    status, _, body = read_response(s)
    assert status == 200
    assert b"eco_http_conn_limit_rejections_total 1\n" in body, body[-2000:]
    for c in held + [s]:
        c.close()


def test_no_cap_by_default(stack):
    socks = [connect(stack.gw.url) for _ in range(20)]
    time.sleep(0.2)
    s, _, _ = ecotest.http("GET", stack.gw.url + "/health")
    assert s == 200
    for c in socks:
        c.close()


@pytest.mark.parametrize("var,value", [("ECO_CLIENT_TIMEOUT_MS", "5"), ("ECO_CLIENT_TIMEOUT_MS", "soon"),
                                       ("ECO_MAX_CONNS_PER_IP", "-1"), ("ECO_MAX_CONNS_PER_IP", "many")])
def test_bad_settings_stop_start_up(var, value):
    env = {**os.environ, var: value, "ECO_HTTP_PORT": "1", "ECO_BIND_ADDR": "127.0.0.1"}
    r = subprocess.run([str(BIN / "root-gateway")], env=env, capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith(var + ":"), r.stderr


def test_settings_are_in_config_help():
    r = subprocess.run([str(BIN / "root-gateway"), "--config-help"], capture_output=True, text=True, timeout=20)
    assert "ECO_CLIENT_TIMEOUT_MS" in r.stdout and "ECO_MAX_CONNS_PER_IP" in r.stdout
