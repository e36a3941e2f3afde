"""engine-sim behaviour under load and faults: health while loading, injected faults (flags and
the x-sim-fault header), concurrency limits, cancellation reaching the engine, latency, flags."""
import json
import socket
import subprocess
import threading
import time

import pytest

from ecotest import BIN, wait_until
from simwire import KINDS, RawConn, assert_shape, data_json, fixture, metric_value, ndjson, sse_events
from test_wire import MESSAGES, TEXT, expected, native_unary

# ---------- health and loading ----------

# kind: (path, not-ready status, ready status, exact not-ready body or None, exact ready body or None)
HEALTH = {
    "vllm": ("/health", 503, 200, "", ""),
    "tgi": ("/health", 503, 200, fixture("tgi")["health_unhealthy"], ""),
    "sglang": ("/health_generate", 503, 200, "", ""),
    "trtllm": ("/health", 503, 200, None, ""),
    "triton": ("/v2/health/ready", 400, 200, "", ""),
    "mii": ("/healthz", 503, 200, None, fixture("mii")["healthz_body"]),
    "lmdeploy": ("/health", 503, 200, None, fixture("lmdeploy")["health_ok"]),
    "llamacpp": ("/health", 503, 200, fixture("llamacpp")["loading_exact"], fixture("llamacpp")["health_ok_exact"]),
    "openai": ("/health", 503, 200, "", ""),
}


def body_is(resp, want):
    return want is None or (resp.json() == want if isinstance(want, dict) else resp.text == want)


@pytest.mark.parametrize("kind", sorted(HEALTH))
def test_health_while_loading_then_ready(sim, kind):
    path, not_ready, ready, nr_body, r_body = HEALTH[kind]
    s = sim(kind, "--load-ms", "1500")
    r = s.get(path)
    assert r.status == not_ready and body_is(r, nr_body), r
    gen_path, body, _ = native_unary(kind, 3)
    r = s.post(gen_path, body)
    assert r.status == 503, r  # generation answers the engine's "loading" error
    if kind == "llamacpp":
        assert r.json() == fixture("llamacpp")["loading_exact"]
    wait_until(lambda: s.get(path).status == ready, 10, what=f"{kind} ready")
    r = s.get(path)
    assert body_is(r, r_body), r
    assert s.post(gen_path, body).status == 200
    if kind == "triton":
        assert s.get("/v2/health/live").status == 200
        assert s.get("/v2/models/ensemble/ready").status == 200


@pytest.mark.parametrize("kind", ["vllm", "tgi", "triton", "llamacpp", "ollama"])
def test_never_ready(sim, kind):
    s = sim(kind, "--never-ready")
    path, not_ready = HEALTH[kind][:2] if kind in HEALTH else ("/", 503)  # Ollama: only a broken server says no
    assert s.get(path).status == not_ready
    gen_path, body, _ = native_unary(kind, 3)
    assert s.post(gen_path, body).status == 503
    st = s.stats()
    assert st["ready"] is False and st["in_flight"] == 0


def test_ollama_waits_for_the_model_to_load(sim):
    s = sim("ollama", "--load-ms", "600")
    assert s.get("/").status == 200  # always up; the model loads lazily
    t0 = time.monotonic()
    j = s.post("/api/generate", {"model": "eco-sim", "prompt": "x", "stream": False}).json()
    assert time.monotonic() - t0 >= 0.3
    assert j["done"] is True and j["load_duration"] > 100_000_000


# ---------- injected status faults ----------

ERROR_SHAPES = {
    "vllm": fixture("vllm")["error"], "tgi": fixture("tgi")["error"], "ollama": fixture("ollama")["error"],
    "sglang": fixture("sglang")["native_error"], "trtllm": fixture("trtllm")["error"], "triton": fixture("triton")["error"],
    "mii": fixture("mii")["rest_error"], "lmdeploy": fixture("lmdeploy")["error"], "llamacpp": fixture("llamacpp")["error"],
    "openai": {"error": {"message": "", "type": "", "param": None, "code": None}},
}


@pytest.mark.parametrize("kind", KINDS)
def test_status_faults_flag_and_header(sim, kind):
    s = sim(kind, "--fail-status", "503")
    path, body, _ = native_unary(kind, 3)
    r = s.post(path, body)
    assert r.status == 503 and r.headers.get("retry-after") == "1", r
    assert_shape(ERROR_SHAPES[kind], r.json())
    s.stop()
    s = sim(kind)
    r = s.post(path, body, {"x-sim-fault": "status=429;retry-after=7"})
    assert r.status == 429 and r.headers["retry-after"] == "7"
    assert_shape(ERROR_SHAPES[kind], r.json())
    r = s.post(path, body, {"x-sim-fault": "status=500"})
    assert r.status == 500 and "retry-after" not in r.headers
    assert_shape(ERROR_SHAPES[kind], r.json())
    r = s.post(path, body, {"x-sim-fault": "cut-after=x"})
    assert r.status == (500 if kind == "mii" else 400), r  # the engine's bad request (MII REST: a bare 500)
    assert s.post(path, body).status == 200  # header faults are per request
    assert s.stats()["faults"] == 2  # the bad header is a bad request, not an injected fault


def test_fault_spec_flag(sim):
    s = sim("tgi", "--fault", "status=429,retry-after=2")
    r = s.post("/generate", {"inputs": "x"})
    assert r.status == 429 and r.headers["retry-after"] == "2"
    assert r.json()["error_type"] == "overloaded"
    assert s.get("/health").status == 200  # faults hit generation, not health
    assert metric_value(s.get("/sim/metrics").text, "eco_sim_faults_total", fault="status") == 1


def test_fault_every(sim):
    s = sim("vllm", "--fail-status", "500", "--fault-every", "2")
    body = {"model": "eco-sim", "messages": MESSAGES, "max_tokens": 2}
    assert [s.post("/v1/chat/completions", body).status for _ in range(4)] == [200, 500, 200, 500]


# ---------- stream faults, per framing family ----------

# kind: (path, body, prefix, parse(body)-> list of token texts, terminator check)
def _oai(b):
    return [c["choices"][0]["delta"].get("content") for c in data_json(sse_events(b, "data: "))
            if c["choices"] and c["choices"][0]["delta"].get("content")]


STREAMS = {
    "vllm": ("/v1/chat/completions", {"model": "eco-sim", "messages": MESSAGES, "stream": True}, _oai),
    "tgi": ("/generate_stream", {"inputs": TEXT}, lambda b: [o["token"]["text"] for o in data_json(sse_events(b, "data:"))]),
    "ollama": ("/api/chat", {"model": "eco-sim", "messages": MESSAGES},
               lambda b: [o["message"]["content"] for o in ndjson(b) if not o["done"]]),
    "triton": ("/v2/models/ensemble/generate_stream", {"text_input": TEXT, "max_tokens": 100},
               lambda b: [o["text_output"] for o in data_json(sse_events(b, "data: "))]),
    "llamacpp": ("/completion", {"prompt": TEXT, "stream": True},
                 lambda b: [o["content"] for o in data_json(sse_events(b, "data: ")) if not o["stop"]]),
    "sglang": ("/generate", {"text": TEXT, "stream": True, "_cumulative": True},
               lambda b: [o["text"] for o in data_json(sse_events(b, "data: "))]),
}
TERMINATED = {"vllm": b"data: [DONE]\n\n", "tgi": b'"generated_text":"', "ollama": b'"done":true', "llamacpp": b'"stop":true',
              "sglang": b"data: [DONE]\n\n"}


def stream_body(kind):
    path, body, parse = STREAMS[kind]
    return path, {k: v for k, v in body.items() if not k.startswith("_")}, parse


@pytest.mark.parametrize("kind", sorted(STREAMS))
def test_cut_mid_stream_is_abrupt(sim, kind):
    s = sim(kind)
    path, body, parse = stream_body(kind)
    c = RawConn(s.port, "POST", path, body, {"x-sim-fault": "cut-after=3"})
    r = c.read_all()
    c.close()
    assert r.status == 200 and not r.complete and r.eof, r  # no last chunk: the connection just ends
    tokens = parse(r.body)
    assert len(tokens) == 3
    if kind == "sglang":  # cumulative text: each event holds everything so far
        assert all(b.startswith(a) for a, b in zip(tokens, tokens[1:])) and expected(TEXT)[0].startswith(tokens[-1])
    else:
        assert "".join(tokens) == expected()[0][: len("".join(tokens))]
    if kind in TERMINATED:
        assert TERMINATED[kind] not in r.body
    wait_until(lambda: s.stats()["in_flight"] == 0, 5, what="cut request released")


def test_cut_unary_gives_no_response(sim):
    s = sim("vllm", "--cut-after", "2")
    with pytest.raises(ConnectionError):
        s.post("/v1/chat/completions", {"model": "eco-sim", "messages": MESSAGES})
    wait_until(lambda: s.stats()["in_flight"] == 0, 5, what="released")


@pytest.mark.parametrize("kind", ["vllm", "tgi", "ollama", "llamacpp"])
def test_stall_keeps_connection_then_cancel_is_seen(sim, kind):
    s = sim(kind)
    path, body, parse = stream_body(kind)
    c = RawConn(s.port, "POST", path, body, {"x-sim-fault": "stall-after=2"}, timeout=0.6)
    assert c.read_until(lambda b: len(parse_partial(kind, b)) >= 2, timeout=5)
    assert not c.read_some()
    assert c.resp.timed_out and not c.resp.eof  # nothing more, connection still open
    assert len(parse_partial(kind, c.resp.body)) == 2
    st = s.stats()
    assert st["in_flight"] == 1 and st["cancelled"] == 0
    c.close()
    wait_until(lambda: s.stats()["cancelled"] == 1, 5, what="cancellation seen by the engine")
    assert s.stats()["in_flight"] == 0


def parse_partial(kind, body):
    """Token texts from a body that may end mid-stream (complete frames only)."""
    text = body.decode()
    cut = text.rfind("\n") if kind == "ollama" else text.rfind("\n\n")
    if cut < 0:
        return []
    part = text[: cut + (1 if kind == "ollama" else 2)].encode()
    try:
        return STREAMS[kind][2](part)
    except (json.JSONDecodeError, KeyError, IndexError):
        return []


@pytest.mark.parametrize("kind", ["vllm", "tgi", "ollama", "lmdeploy", "mii"])
def test_malformed_chunk(sim, kind):
    s = sim(kind)
    if kind == "lmdeploy":
        path, body = "/generate", {"prompt": "x", "max_tokens": 5, "stream": True}
    elif kind == "mii":
        path, body = "/generate", {"prompt": "x", "max_tokens": 5, "stream": True}
    else:
        path, body, _ = stream_body(kind)
    r = s.post(path, body, {"x-sim-fault": "malformed-after=2"})
    assert r.status == 200 and r.complete
    if kind == "ollama":
        lines = [line for line in r.text.split("\n") if line]
    else:
        prefix = "data:" if kind == "tgi" else "data: "
        lines = [v for f, v in sse_events(r.body, prefix) if f == "data" and v != "[DONE]"]
    bad = []
    for line in lines:
        try:
            json.loads(line)
        except json.JSONDecodeError:
            bad.append(line)
    assert len(bad) == 1 and len(lines) >= 4, lines
    # unary: a truncated JSON body with status 200
    upath, ubody, _ = native_unary(kind, 5)
    r = s.post(upath, ubody, {"x-sim-fault": "malformed-after=0"})
    assert r.status == 200 and r.complete
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.body)


def test_refuse_flag(sim):
    s = sim("vllm", "--refuse", wait=False)
    time.sleep(0.3)
    assert s.proc.poll() is None  # alive, just not listening
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", s.port), timeout=1).close()


def test_refuse_for_a_while_then_listen(sim):
    s = sim("tgi", "--refuse-ms", "700", wait=False)
    time.sleep(0.2)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", s.port), timeout=1).close()
    s.wait_listening(10)
    assert s.get("/health").status == 200


# ---------- latency ----------

def arrival_times(s, path, body, headers=None, frames=None):
    """Returns (time of the response head, [time each data frame arrived]) relative to the request."""
    t0 = time.monotonic()
    c = RawConn(s.port, "POST", path, body, headers)
    c.read_head()
    head = time.monotonic() - t0
    times, seen = [], 0
    while c.read_some():
        n = c.resp.body.count(b"\n\n")
        times += [time.monotonic() - t0] * (n - seen)
        seen = n
    c.close()
    return head, times


def test_ttft_itl_and_slow_tokens(sim):
    s = sim("vllm", "--ttft-ms", "300", "--itl-ms", "40")
    head, t = arrival_times(s, "/v1/chat/completions",
                            {"model": "eco-sim", "messages": MESSAGES, "max_tokens": 4, "stream": True})
    assert head < 0.25  # the status line and headers go out before the first token
    # frames: role and token 0 (one write), tokens 1..3, [DONE]
    assert len(t) == 6 and t[0] >= 0.28
    gaps = [b - a for a, b in zip(t, t[1:])]
    assert all(g >= 0.03 for g in gaps[1:4]), gaps
    head, t = arrival_times(s, "/v1/chat/completions",
                            {"model": "eco-sim", "messages": MESSAGES, "max_tokens": 5, "stream": True},
                            {"x-sim-fault": "ttft-ms=0,itl-ms=0,slow-ms=200,slow-after=3"})
    # frames: role, tokens 0..4, [DONE]; tokens 3 and 4 each wait slow-ms
    gaps = [b - a for a, b in zip(t, t[1:])]
    assert len(t) == 7 and t[0] < 0.15 and max(gaps[:3]) < 0.1 and min(gaps[3:5]) >= 0.18, (t, gaps)


def test_zero_latency_is_fast(sim):
    s = sim("vllm", "--log-level", "warn")
    c = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    body = json.dumps({"model": "eco-sim", "messages": MESSAGES, "max_tokens": 8}).encode()
    req = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    t0 = time.monotonic()
    for _ in range(200):  # keep-alive: one connection, sequential requests
        c.sendall(req)
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += c.recv(65536)
        head, rest = buf.split(b"\r\n\r\n", 1)
        n = int([h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")][0].split(b":")[1])
        while len(rest) < n:
            rest += c.recv(65536)
        assert b"chat.completion" in rest
    per_request = (time.monotonic() - t0) / 200
    c.close()
    assert per_request < 0.01, per_request  # generous for sanitizer builds; plain builds answer in microseconds


# ---------- concurrency ----------

OVERLOAD = {"vllm": 503, "tgi": 429, "ollama": 503, "llamacpp": 503, "triton": 400, "openai": 429, "sglang": 503,
            "lmdeploy": 503, "trtllm": 503}
# kind: (metrics path, (running metric, labels), (waiting metric, labels)) from engines.md's metric tables
LOAD_METRICS = {
    "vllm": ("/metrics", ("vllm:num_requests_running", {}), ("vllm:num_requests_waiting", {})),
    "tgi": ("/metrics", ("tgi_batch_current_size", {}), ("tgi_queue_size", {})),
    "llamacpp": ("/metrics", ("llamacpp:requests_processing", {}), ("llamacpp:requests_deferred", {})),
    "sglang": ("/metrics", ("sglang:num_running_reqs", {}), ("sglang:num_queue_reqs", {})),
    "lmdeploy": ("/metrics", ("lmdeploy:num_requests_running", {}), ("lmdeploy:num_requests_waiting", {})),
    "triton": ("/metrics", ("nv_trt_llm_request_metrics", {"request_type": "active"}),
               ("nv_trt_llm_request_metrics", {"request_type": "waiting"})),
    "trtllm": ("/prometheus/metrics", ("trtllm_num_requests_running", {}), ("trtllm_num_requests_waiting", {})),
}


@pytest.mark.parametrize("kind", sorted(OVERLOAD))
def test_concurrency_limit_and_overload_answer(sim, kind):
    s = sim(kind, "--max-concurrency", "2", "--queue-size", "1", "--ttft-ms", "600")
    path, body, _ = native_unary(kind, 3)
    results = []

    def one():
        results.append(s.post(path, body, timeout=15))

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    wait_until(lambda: s.stats()["in_flight"] == 3, 5, what="2 running + 1 queued")
    st = s.stats()
    assert st["running"] == 2 and st["waiting"] == 1
    if kind in LOAD_METRICS:
        mpath, (running, rl), (waiting, wl) = LOAD_METRICS[kind]
        m = s.get(mpath).text
        assert metric_value(m, running, **rl) == 2 and metric_value(m, waiting, **wl) == 1
    if kind == "vllm":
        assert metric_value(m, "vllm:kv_cache_usage_perc") > 0
    if kind == "trtllm":
        assert s.get("/metrics").json()[0]["numQueuedRequests"] == 1
    rejected = [s.post(path, body) for _ in range(2)]
    assert all(r.status == OVERLOAD[kind] for r in rejected), rejected
    if kind == "tgi":
        assert rejected[0].json() == {"error": "Model is overloaded", "error_type": "overloaded"}
    if kind == "ollama":
        assert rejected[0].json()["error"] == fixture("ollama")["busy_message"]
    if kind == "triton":
        assert "queue" in rejected[0].json()["error"]
    for t in threads:
        t.join(15)
    assert [r.status for r in results] == [200, 200, 200]
    st = s.stats()
    assert st["max_running_seen"] == 2 and st["max_in_flight_seen"] == 3 and st["rejected"] == 2
    assert st["in_flight"] == 0


def test_tgi_stream_overload_is_an_event(sim):
    s = sim("tgi", "--max-concurrency", "1", "--queue-size", "0", "--ttft-ms", "500")
    c = RawConn(s.port, "POST", "/generate_stream", {"inputs": "x"})
    wait_until(lambda: s.stats()["running"] == 1, 5, what="one running")
    r = s.post("/generate_stream", {"inputs": "x"})
    assert r.status == 200
    assert data_json(sse_events(r.body, "data:")) == [{"error": "Model is overloaded", "error_type": "overloaded"}]
    first = c.read_all()
    c.close()
    assert first.complete and data_json(sse_events(first.body, "data:"))[-1]["generated_text"]  # unaffected


# ---------- cancellation ----------

def test_stream_cancellation_reaches_the_engine(sim):
    s = sim("vllm", "--itl-ms", "100", "--max-output-tokens", "64", "--min-output-tokens", "64")
    c = RawConn(s.port, "POST", "/v1/chat/completions", {"model": "eco-sim", "messages": MESSAGES, "stream": True})
    assert c.read_until(lambda b: b.count(b"\n\n") >= 3, 5)
    assert s.stats()["in_flight"] == 1
    c.close()
    wait_until(lambda: s.stats()["cancelled"] == 1, 5, what="cancelled")
    st = s.stats()
    assert st["in_flight"] == 0 and st["completed"] == 0
    assert metric_value(s.get("/sim/metrics").text, "eco_sim_cancelled_total") == 1
    assert metric_value(s.get("/metrics").text, "vllm:request_success_total", finished_reason="abort") == 1


@pytest.mark.parametrize("kind", ["vllm", "ollama", "triton"])
def test_unary_and_queued_cancellation(sim, kind):
    s = sim(kind, "--ttft-ms", "3000", "--max-concurrency", "1", "--queue-size", "4")
    path, body, _ = native_unary(kind, 3)
    running = RawConn(s.port, "POST", path, body, timeout=0.3)
    wait_until(lambda: s.stats()["running"] == 1, 5, what="running")
    queued = RawConn(s.port, "POST", path, body, timeout=0.3) if kind != "ollama" else None
    if queued:
        wait_until(lambda: s.stats()["waiting"] == 1, 5, what="queued")
        queued.close()
        wait_until(lambda: s.stats()["cancelled"] == 1 and s.stats()["waiting"] == 0, 5, what="queued cancel")
    running.close()
    wait_until(lambda: s.stats()["cancelled"] == (2 if queued else 1), 5, what="running cancel")
    assert s.stats()["in_flight"] == 0
    # the slot is free again
    r = s.post(path, body, {"x-sim-fault": "ttft-ms=0"})
    assert r.status == 200


def test_drain_finishes_in_flight_stream(sim):
    s = sim("vllm", "--itl-ms", "50")
    c = RawConn(s.port, "POST", "/v1/chat/completions",
                {"model": "eco-sim", "messages": MESSAGES, "max_tokens": 10, "stream": True})
    assert c.read_until(lambda b: b.count(b"\n\n") >= 2, 5)
    s.proc.send_signal(15)
    r = c.read_all()
    c.close()
    assert r.complete and r.body.endswith(b"data: [DONE]\n\n")
    assert s.proc.wait(10) == 0


# ---------- flags and logs ----------

FLAGS = ["--kind", "--port", "--bind", "--model", "--ttft-ms", "--itl-ms", "--min-output-tokens", "--max-output-tokens",
         "--embedding-dim", "--max-concurrency", "--queue-size", "--max-model-len", "--kv-cache-tokens", "--load-ms",
         "--never-ready", "--refuse", "--refuse-ms", "--fault", "--fail-status", "--retry-after", "--cut-after",
         "--stall-after", "--malformed-after", "--slow-ms", "--slow-after", "--fault-every", "--keepalive-ms",
         "--incremental-streaming-output", "--watch-ms", "--log-level"]


def run(*args):
    return subprocess.run([str(BIN / "engine-sim"), *args], capture_output=True, text=True, timeout=10)


def test_help_documents_every_flag():
    r = run("--help")
    assert r.returncode == 0
    for flag in FLAGS:
        assert flag in r.stdout, flag


@pytest.mark.parametrize("args", [
    ["--port", "1"], ["--kind", "vllm"], ["--kind", "bogus", "--port", "1"], ["--kind", "vllm", "--port", "0"],
    ["--kind", "vllm", "--port", "1", "--ttft-ms", "-1"], ["--kind", "vllm", "--port", "1", "--nope", "1"],
    ["--kind", "vllm", "--port", "1", "--fault", "explode=1"], ["--kind", "vllm", "--port", "1", "--fail-status", "200"],
    ["--kind", "vllm", "--port", "1", "--min-output-tokens", "9", "--max-output-tokens", "3"],
    ["--kind", "vllm", "--port", "1", "--never-ready=1"], ["--kind", "vllm", "--port"],
])
def test_bad_flags_exit_2_with_one_line(args):
    r = run(*args)
    assert r.returncode == 2, (args, r)
    assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_port_in_use_exits_1(sim):
    s = sim("vllm")
    r = run("--kind", "vllm", "--port", str(s.port), "--bind", "127.0.0.1")
    assert r.returncode == 1 and "cannot listen" in r.stdout + r.stderr, r
    assert s.get("/health").status == 200  # the first one is unaffected


def test_logs_are_json_lines(sim):
    s = sim("vllm", "--log-level", "debug")
    s.post("/v1/chat/completions", {"model": "eco-sim", "messages": MESSAGES})
    s.stop()
    lines = [line for line in s.output().splitlines() if line]
    assert lines and all(isinstance(json.loads(line), dict) for line in lines)
    assert any(json.loads(line)["msg"] == "engine-sim configured" for line in lines)
