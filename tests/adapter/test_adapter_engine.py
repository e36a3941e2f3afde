"""engine-adapter and its engine's life: readiness while the engine loads (per kind) or refuses
connections, the adapter's own admission limits, engine load gauges in GetLoad, metrics,
draining on SIGTERM, bad settings, and no leaked descriptors or sockets after 1,000 requests."""
import concurrent.futures
import os
import signal
import subprocess
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conftest import KINDS, RPC_TIMEOUT, rpc_error, trailing, wait_stats
from ecotest import BIN, free_port, wait_until

CHAT = [("user", "Hello there.")]
CODE = grpc.StatusCode


def grpc_health(ad):
    stub = health_pb2_grpc.HealthStub(ad.channel)
    return health_pb2.HealthCheckResponse.ServingStatus.Name(
        stub.Check(health_pb2.HealthCheckRequest(), timeout=RPC_TIMEOUT).status)


def health(ad):
    pb = ad.pb
    return pb.HealthCheckResponse.Status.Name(ad.stub.HealthCheck(pb.HealthCheckRequest(), timeout=RPC_TIMEOUT).status)


@pytest.mark.parametrize("kind", KINDS)
def test_health_while_loading(stack, kind):
    sim, ad = stack(kind, "--load-ms", "1500", ready=False)
    req = ad.req(CHAT, max_tokens=4)
    if kind == "ollama":
        # Always up; the first request simply waits for the model to load.
        ad.wait_ready(200)
        assert health(ad) == "STATUS_SERVING"
        t0 = time.monotonic()
        assert ad.unary(req).text
        return
    ad.wait_ready(503)
    assert health(ad) == "STATUS_LOADING"
    assert grpc_health(ad) == "NOT_SERVING"
    e = rpc_error(ad.unary, req)
    assert e.code() == CODE.UNAVAILABLE and e.details().startswith("engine loading"), e.details()
    assert trailing(e)["eco-error-reason"] == "engine_loading"
    ad.wait_ready(200, timeout=10)
    assert health(ad) == "STATUS_SERVING"
    assert grpc_health(ad) == "SERVING"
    assert ad.unary(req).text


def test_refused_engine(stack):
    sim, ad = stack("vllm", "--refuse", ready=False, listen=False)
    _, body = ad.wait_ready(503)
    assert "unreachable" in body["checks"]["engine"]["detail"]
    assert health(ad) == "STATUS_NOT_SERVING"
    t0 = time.monotonic()
    e = rpc_error(ad.unary, ad.req(CHAT, max_tokens=4))
    assert e.code() == CODE.UNAVAILABLE and time.monotonic() - t0 < 3, e.details()
    assert trailing(e)["eco-error-reason"] == "engine_unreachable"


def test_adapter_queue_bounds(stack):
    """One connection to the engine and one waiting place: a third concurrent call is refused by
    the adapter itself, with retry-after; GetLoad shows the adapter's in-flight and queue."""
    sim, ad = stack("vllm", "--ttft-ms", "800", env={"ECO_ENGINE_MAX_CONNS": "1", "ECO_ENGINE_MAX_QUEUE": "1"})
    pb = ad.pb
    req = ad.req(CHAT, max_tokens=3)
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        futs = [ex.submit(ad.unary, req)]
        wait_until(lambda: ad.stub.GetLoad(pb.GetLoadRequest(), timeout=5).in_flight == 1, 5, what="in flight")
        futs.append(ex.submit(ad.unary, req))
        rep = wait_until(lambda: (r := ad.stub.GetLoad(pb.GetLoadRequest(), timeout=5)).queue_depth == 1 and r, 5,
                         what="one queued")
        assert rep.in_flight == 1 and rep.max_concurrency == 1 and rep.load_score >= 1
        e = rpc_error(ad.unary, req)
        assert e.code() == CODE.RESOURCE_EXHAUSTED and trailing(e)["retry-after"] == "1", e.details()
        assert [f.result(timeout=10).text != "" for f in futs] == [True, True]
    assert sim.stats()["max_in_flight_seen"] == 1  # the engine never saw more than one


def test_getload_reports_engine_gauges(stack):
    """vLLM's running/waiting/KV gauges, scraped from its /metrics, reach GetLoad."""
    sim, ad = stack("vllm", "--max-concurrency", "1", "--ttft-ms", "1500")
    pb = ad.pb
    req = ad.req(CHAT, max_tokens=3)
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        futs = [ex.submit(ad.unary, req) for _ in range(2)]
        rep = wait_until(lambda: (r := ad.stub.GetLoad(pb.GetLoadRequest(), timeout=5)).running == 1
                         and r.waiting == 1 and r, 5, what="engine gauges")
        assert rep.in_flight == 2 and rep.kv_cache_usage > 0 and rep.load_score > 1
        assert abs(rep.scraped_at / 1000 - time.time()) < 5
        [f.result(timeout=10) for f in futs]


def test_metrics(stack):
    sim, ad = stack("tgi")
    req = ad.req(CHAT, max_tokens=5, seed=1)
    ad.unary(req)
    ad.collect(req)
    rpc_error(ad.unary, req, fault="status=429")
    rpc_error(ad.stub.GenerateEmbedding, ad.pb.EmbeddingRequest(input=["x"]), timeout=RPC_TIMEOUT)
    m = ad.metrics()
    for line in ['eco_adapter_requests_total{kind="tgi",method="generate",outcome="ok"} 1',
                 'eco_adapter_requests_total{kind="tgi",method="stream",outcome="ok"} 1',
                 'eco_adapter_requests_total{kind="tgi",method="generate",outcome="resource_exhausted"} 1',
                 'eco_adapter_requests_total{kind="tgi",method="embed",outcome="unimplemented"} 1',
                 'eco_adapter_inflight{kind="tgi"} 0']:
        assert line in m, line
    for family in ["eco_adapter_upstream_seconds_bucket{kind=\"tgi\",method=\"stream\"",
                   "eco_adapter_ttft_seconds_count{kind=\"tgi\"}", "eco_adapter_tokens_total{kind=\"tgi\",direction=\"prompt\"}",
                   "eco_adapter_tokens_total{kind=\"tgi\",direction=\"completion\"}"]:
        assert family in m, family
    completion = [l for l in m.splitlines() if l.startswith('eco_adapter_tokens_total{kind="tgi",direction="completion"}')]
    assert float(completion[0].split()[-1]) == 10  # 5 unary + 5 streamed
    # A request id is passed on as x-request-id only if it is a plain id: no header injection.
    evil = ad.req(CHAT, max_tokens=2, request_id="r1\r\nx-sim-fault: status=500")
    assert ad.unary(evil).text
    assert ad.unary(ad.req(CHAT, max_tokens=2, request_id="req-42.a")).text


def test_drain_lets_a_stream_finish(stack):
    sim, ad = stack("vllm", "--itl-ms", "30")
    it = ad.stream(ad.req(CHAT, max_tokens=40, seed=2), timeout=15)
    first = next(it)
    ad.proc.send_signal(signal.SIGTERM)
    rest = list(it)
    assert rest[-1].finish_reason and len(rest) >= 30 and first.delta
    assert ad.proc.wait(10) == 0


def test_bad_settings_exit_2():
    base = dict(os.environ, ECO_ENGINE_KIND="vllm", ECO_HTTP_PORT=str(free_port()), ECO_GRPC_PORT=str(free_port()),
                ECO_BIND_ADDR="127.0.0.1")
    for var, val in [("ECO_ENGINE_URL", "http://127.0.0.1:1/v1"), ("ECO_ENGINE_URL", "https://h:1"),
                     ("ECO_ENGINE_FORWARD_METADATA", "Bad Key"), ("ECO_ENGINE_KIND", "nope")]:
        env = dict(base, ECO_ENGINE_URL="http://127.0.0.1:1")
        env[var] = val
        r = subprocess.run([str(BIN / "engine-adapter")], env=env, capture_output=True, text=True, timeout=20)
        assert r.returncode == 2 and r.stderr.startswith(var + ":"), (var, r.returncode, r.stderr)


# ---------- no leaks ----------

def fds(pid):
    return os.listdir(f"/proc/{pid}/fd")


def established(pid):
    """TCP sockets of the process in state ESTABLISHED."""
    inodes = set()
    for fd in fds(pid):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == "01" and cols[9] in inodes:
                n += 1
    return n


def test_no_leaks_after_1000_requests(stack):
    sim, ad = stack("vllm", env={"ECO_ENGINE_MAX_CONNS": "8"})
    pid = ad.proc.pid
    req = ad.req(CHAT, max_tokens=4, seed=3)
    lock = threading.Lock()
    outcomes = {}

    def one(i):
        kind = i % 20
        try:
            if kind < 8:
                ad.unary(req)
                what = "unary"
            elif kind < 16:
                ad.collect(req)
                what = "stream"
            elif kind == 16:
                rpc_error(ad.unary, req, fault="status=429")
                what = "429"
            elif kind == 17:
                rpc_error(ad.collect, req, fault="cut-after=2")
                what = "cut"
            elif kind == 18:
                it = ad.stream(ad.req(CHAT, max_tokens=20), fault="itl-ms=20")
                next(it)
                it.cancel()
                what = "cancel"
            else:
                rpc_error(ad.unary, req, fault="ttft-ms=2000", timeout=0.05)
                what = "deadline"
        except Exception as e:  # noqa: BLE001 - counted and reported below
            what = f"unexpected {type(e).__name__}: {e}"
        with lock:
            outcomes[what] = outcomes.get(what, 0) + 1

    def run(n):
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(one, range(n)))

    run(80)  # warm up: the connection pool and the gRPC channel reach their steady size
    wait_until(lambda: sim.stats()["in_flight"] == 0, 10, what="the engine idle")
    time.sleep(0.3)
    base_fds, base_est = len(fds(pid)), established(pid)
    outcomes.clear()
    run(1000)
    assert sum(outcomes.values()) == 1000 and not [k for k in outcomes if k.startswith("unexpected")], outcomes
    wait_until(lambda: sim.stats()["in_flight"] == 0, 10, what="the engine idle")

    def settled():
        now_fds, now_est = len(fds(pid)), established(pid)
        return abs(now_fds - base_fds) <= 2 and abs(now_est - base_est) <= 2 and (now_fds, now_est)
    wait_until(settled, 10, what=f"fds back to {base_fds}±2 and sockets to {base_est}±2")
    assert ad.stub.GetLoad(ad.pb.GetLoadRequest(), timeout=5).in_flight == 0
    assert 'eco_adapter_inflight{kind="vllm"} 0' in ad.metrics()


def test_first_byte_timeout(stack):
    """The engine accepts the request but sends nothing for too long (its headers do not count as
    an answer for a stream): DEADLINE_EXCEEDED, and the engine is told to stop."""
    sim, ad = stack("ollama", env={"ECO_ENGINE_FIRST_BYTE_TIMEOUT_MS": "400"})
    req = ad.req(CHAT, max_tokens=3)
    for call in (ad.collect, ad.unary):
        t0 = time.monotonic()
        e = rpc_error(call, req, fault="ttft-ms=3000")
        assert e.code() == CODE.DEADLINE_EXCEEDED and "within 400 ms" in e.details(), e.details()
        assert time.monotonic() - t0 < 2
    wait_stats(sim, "cancelled", 2)
    assert ad.unary(req).text
