"""Failure matrix with engine-sim faults. Backend a (tier 0, preferred) carries the fault,
backend b (tier 1) is healthy: every request meets the fault first, and either recovers
transparently (the answer is byte for byte the engine's no-fault answer; for mid-stream failures
with exactly one role delta, one finish reason and the true usage) or fails with the documented
error. Then: circuit breaker open/close, all backends down, overload and priority shedding,
deadlines."""
import concurrent.futures
import threading
import time

import pytest

from conftest import (CHAT, backend, chat_body, elapsed, engine_chat, engine_completion, error_of, port_refuses,
                      stream_chat)
from ecotest import wait_until

OUT = ("--min-output-tokens", 40)   # every answer at least 40 tokens: room to fail in the middle
N = 40                              # max_tokens of the requests


def pair(ai_stack, fault=(), b_kind="vllm", a_up=True, a_dead=False, env=None):
    """a: vLLM sim with `fault` on tier 0; b: healthy sim of b_kind on tier 1."""
    return ai_stack(chat=[backend("vllm", *OUT, *fault, tier=0, up=a_up, dead=a_dead),
                          backend(b_kind, *OUT, tier=1)], env=env)


def want(stack):
    """The no-fault answer: (text, completion_tokens, finish_reason)."""
    return engine_chat(stack["b"], max_tokens=N)


def unary_ok(stack, headers=None):
    r = stack.post("/v1/chat/completions", chat_body(max_tokens=N), headers)
    assert r.status == 200, r
    text, tokens, finish = want(stack)
    c = r.json["choices"][0]
    assert c["message"]["content"] == text and c["finish_reason"] == finish, (c, text)
    assert r.json["usage"]["completion_tokens"] == tokens and r.json["model"] == CHAT
    return r


def stream_ok(stack, timeout=10):
    s = stream_chat(stack, max_tokens=N, timeout=timeout)
    text, tokens, finish = want(stack)
    got = s.check_chat()  # one role delta, one finish reason, usage chunk, [DONE]
    assert got == text, f"\n got: {got!r}\nwant: {text!r}"
    assert s.finish_reasons == [finish] and s.usage["completion_tokens"] == tokens, (s.finish_reasons, s.usage)
    return s


def retries(stack):
    return stack.metric("eco_ai_retries_total") or 0


def failovers(stack):
    return stack.metric("eco_ai_failovers_total") or 0


# ---------------------------------------------------------------- before any output


@pytest.mark.parametrize("how", ["no-adapter", "engine-refusing", "engine-loading"])
def test_unusable_backend_is_skipped(ai_stack, how):
    if how == "no-adapter":
        stack = pair(ai_stack, a_dead=True)
    else:
        stack = pair(ai_stack, ("--refuse",) if how == "engine-refusing" else ("--never-ready",), a_up=False)
    assert stack.backends_up(CHAT) == 1
    unary_ok(stack)
    stream_ok(stack)
    if how != "no-adapter":
        assert stack["a"].sim.proc.poll() is None
    if how == "engine-loading":
        assert stack["a"].stats()["completed"] == 0


def test_backend_refusing_connections_after_its_probe(ai_stack):
    stack = pair(ai_stack)
    stack["a"].kill_adapter()
    assert port_refuses(stack["a"].address)
    for _ in range(3):  # before and after the health monitor notices
        unary_ok(stack)
        stream_ok(stack)
    stack.assert_alive()


@pytest.mark.parametrize("fault", ["status=500", "status=503", "status=429,retry-after=1"])
def test_engine_error_before_output_is_retried_elsewhere(ai_stack, fault):
    stack = pair(ai_stack, ("--fault", fault))
    unary_ok(stack)
    stream_ok(stack)
    # a was tried first (a 503/429 carries retry-after, so a may be left alone after it).
    assert stack["a"].stats()["requests"] >= 1, "backend a was never tried"
    assert stack["b"].stats()["requests"] == 2
    assert retries(stack) >= 1


@pytest.mark.parametrize("streaming", [True, False])
def test_slow_first_token_moves_to_another_backend(ai_stack, streaming):
    """ECO_TTFT_TIMEOUT_MS bounds the first token (for a non-streamed request: the first byte of
    the answer) of each attempt; then the request moves to another backend."""
    stack = pair(ai_stack, ("--ttft-ms", 5000), env={"ECO_TTFT_TIMEOUT_MS": "300"})
    t0 = time.monotonic()
    if streaming:
        stream_ok(stack)
    else:
        unary_ok(stack)
    assert elapsed(t0) < 2, "the time-to-first-token limit did not move the request on"
    assert stack["a"].stats()["requests"] == 1 and stack["b"].stats()["requests"] == 1
    assert retries(stack) >= 1
    # The abandoned attempt is cancelled in the engine, not left running.
    wait_until(lambda: stack["a"].stats()["in_flight"] == 0, 5, what="the abandoned attempt cancelled")
    assert stack["a"].stats()["cancelled"] == 1


def test_context_length_error_is_not_retried(ai_stack):
    stack = ai_stack(chat=[backend("vllm", "--max-model-len", 200), backend("vllm", "--max-model-len", 200)])
    long = [{"role": "user", "content": " ".join(["word"] * 600)}]
    r = stack.post("/v1/chat/completions", chat_body(long, max_tokens=5))
    error_of(r, 400)
    assert sum(stack[n].stats()["requests"] for n in "ab") <= 1
    assert retries(stack) == 0


# ---------------------------------------------------------------- mid-stream: continuation


@pytest.mark.parametrize("fault", ["cut-after=5", "malformed-after=5"])
def test_stream_broken_mid_way_continues_on_another_backend(ai_stack, fault):
    stack = pair(ai_stack, ("--fault", fault))
    stream_ok(stack)
    a, b = stack["a"].stats(), stack["b"].stats()
    assert a["requests"] == 1 and b["requests"] == 1
    _, tokens, _ = want(stack)
    # b continued the answer (the text so far as a trailing assistant message), it did not
    # generate it again from the start.
    assert 0 < b["generation_tokens"] < tokens, b
    assert failovers(stack) >= 1


def test_completion_stream_broken_mid_way_continues_or_ends_with_an_error(ai_stack):
    """A prompt completion broken mid-way: continued exactly (the text equals the no-fault
    text), or, where the service cannot continue a prompt exactly, the documented end: an error
    event and no [DONE]; never a truncated stream presented as finished."""
    stack = pair(ai_stack, ("--fault", "cut-after=5"))
    text, tokens, finish = engine_completion(stack["b"], "Once upon a time", max_tokens=N)
    s = stack.stream("/v1/completions", {"model": CHAT, "prompt": "Once upon a time", "max_tokens": N, "seed": 7,
                                         "stream": True, "stream_options": {"include_usage": True}})
    assert s.status == 200, s
    assert all(c["object"] == "text_completion" for c in s.chunks if "error" not in c)
    if s.done:
        assert s.error is None
        assert s.text() == text and s.finish_reasons == [finish] and s.usage["completion_tokens"] == tokens
    else:
        assert s.error is not None and "error" in s.chunks[-1], s.events[-2:]
        assert s.text() and text.startswith(s.text()) and not s.finish_reasons


def test_stalled_stream_continues_on_another_backend(ai_stack):
    stack = pair(ai_stack, ("--fault", "stall-after=5"), env={"ECO_STREAM_STALL_MS": "400"})
    t0 = time.monotonic()
    stream_ok(stack)
    assert elapsed(t0) < 4
    assert stack["b"].stats()["requests"] == 1
    assert 0 < stack["b"].stats()["generation_tokens"] < want(stack)[1]


def test_unary_cut_recovers(ai_stack):
    stack = pair(ai_stack, ("--fault", "cut-after=5"))
    unary_ok(stack)
    assert stack["a"].stats()["requests"] == 1 and stack["b"].stats()["requests"] == 1


@pytest.mark.parametrize("b_kind", [None, "tgi"])
def test_mid_stream_failure_without_a_capable_backend_ends_with_an_error_event(ai_stack, b_kind):
    """No backend left (b_kind None) or only one without continuation (TGI): the stream ends
    with data: {"error": ...} and no [DONE], never as a silently truncated success."""
    chat = [backend("vllm", *OUT, "--fault", "cut-after=5")]
    if b_kind:
        chat.append(backend(b_kind, *OUT, tier=1))
    stack = ai_stack(chat=chat)
    s = stream_chat(stack, max_tokens=N)
    assert s.status == 200, s
    assert not s.done and s.error is not None, s.events[-3:]
    assert s.events[-1].startswith("{") and "error" in s.chunks[-1]
    assert {"message", "type", "code"} <= set(s.error)
    assert s.text() and not s.finish_reasons  # output had started; no finish reason presented
    if b_kind:
        assert stack["b"].stats()["requests"] == 0
    stack.assert_alive()


# ---------------------------------------------------------------- circuit breaker


def test_circuit_opens_after_n_failures_and_closes_after_cooldown(ai_stack):
    # 500: no retry-after, so nothing but the breaker keeps a from being tried again.
    stack = pair(ai_stack, ("--fault", "status=500"),
                 env={"ECO_BREAKER_FAILURES": "3", "ECO_BREAKER_COOLDOWN_MS": "1500"})
    a = stack["a"]
    assert stack.circuit_state(a) == 0, stack.metrics()
    for _ in range(3):
        unary_ok(stack)
    wait_until(lambda: stack.circuit_state(a) == 1, 2, what="circuit of a open")
    opened = time.monotonic()
    assert a.stats()["requests"] == 3
    for _ in range(3):  # while open, a gets nothing
        unary_ok(stack)
    assert a.stats()["requests"] == 3
    assert stack.circuit_state(stack["b"]) == 0

    a.restart_sim(*OUT)  # the engine recovers
    wait_until(lambda: a.adapter.ready()[0] == 200, 10, what="a's adapter ready again")

    def closed():
        unary_ok(stack)
        return stack.circuit_state(a) == 0

    wait_until(closed, 8, interval=0.2, what="circuit of a closed again")
    assert elapsed(opened) >= 1.2, "closed before the cool-down"
    before = a.stats()["requests"]
    for _ in range(2):
        unary_ok(stack)
    assert a.stats()["requests"] == before + 2  # tier 0 serves again


# ---------------------------------------------------------------- nothing can serve


def test_all_backends_down_is_503_with_a_clear_message(ai_stack):
    stack = ai_stack(chat=[backend(dead=True), backend("vllm", "--refuse", up=False)], wait=False)
    stack.svc.wait_ready(503)
    for body in (chat_body(), chat_body(stream=True)):
        r = stack.post("/v1/chat/completions", body)
        err = error_of(r, 503, code="no_healthy_backend")
        assert CHAT in err["message"]
    stack.assert_alive()


def test_backends_dying_at_runtime_give_503(ai_stack):
    stack = ai_stack(chat=[backend(), backend()])
    unary_ok_plain = stack.post("/v1/chat/completions", chat_body())
    assert unary_ok_plain.status == 200
    for n in "ab":
        stack[n].kill_adapter()
    t0 = time.monotonic()
    r = stack.post("/v1/chat/completions", chat_body(), timeout=8)
    err = error_of(r, 503, code="no_healthy_backend")
    assert CHAT in err["message"] and elapsed(t0) < 5
    stack.svc.wait_ready(503)


# ---------------------------------------------------------------- admission control


def test_overload_sheds_with_retry_after_and_no_backend_above_its_limit(ai_stack):
    stack = ai_stack(chat=[backend("vllm", "--ttft-ms", 400)],
                     env={"ECO_BACKEND_MAX_INFLIGHT": "2", "ECO_QUEUE_MAX": "3"})
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        results = list(ex.map(lambda _: stack.post("/v1/chat/completions", chat_body(max_tokens=2)), range(16)))
    codes = [r.status for r in results]
    assert set(codes) <= {200, 429}, codes
    assert codes.count(200) >= 2 and codes.count(429) >= 1, codes
    for r in results:
        if r.status == 429:
            error_of(r, 429, code="overloaded")
            assert int(r.headers["retry-after"]) >= 1
    assert stack["a"].stats()["max_in_flight_seen"] <= 2, stack["a"].stats()
    assert (stack.metric("eco_ai_shed_total", model=CHAT) or 0) >= codes.count(429)
    assert stack.metric("eco_ai_queue_depth", model=CHAT) == 0
    stack.assert_alive()


def test_streams_count_against_the_backend_limit(ai_stack):
    stack = ai_stack(chat=[backend("vllm", "--itl-ms", 40)],
                     env={"ECO_BACKEND_MAX_INFLIGHT": "3", "ECO_QUEUE_MAX": "64"})
    with concurrent.futures.ThreadPoolExecutor(10) as ex:
        results = list(ex.map(lambda _: stream_chat(stack, max_tokens=10), range(10)))
    for s in results:
        s.check_chat()
    assert stack["a"].stats()["max_in_flight_seen"] <= 3
    assert stack.backend_metric("eco_ai_backend_inflight", stack["a"]) == 0


def test_low_priority_is_shed_first(ai_stack):
    stack = ai_stack(chat=[backend("vllm", "--ttft-ms", 1200)],
                     env={"ECO_BACKEND_MAX_INFLIGHT": "1", "ECO_QUEUE_MAX": "2"})
    results = {}

    def send(key, prio):
        results[key] = stack.post("/v1/chat/completions", chat_body(max_tokens=2), {"x-eco-priority": prio})

    threads = [threading.Thread(target=send, args=("running", "normal"))]
    threads[0].start()
    wait_until(lambda: stack["a"].stats()["in_flight"] == 1, 5, what="the first request in the engine")
    for k in ("low1", "low2"):
        threads.append(threading.Thread(target=send, args=(k, "low")))
        threads[-1].start()
    wait_until(lambda: stack.metric("eco_ai_queue_depth", model=CHAT) == 2, 3, what="two low requests queued")
    send("high", "high")  # queue full: a low one makes room
    for t in threads:
        t.join(15)
    assert results["high"].status == 200, results["high"]
    assert results["running"].status == 200
    lows = [results["low1"].status, results["low2"].status]
    assert 429 in lows, lows
    for k in ("low1", "low2"):
        if results[k].status == 429:
            error_of(results[k], 429, code="overloaded")
            assert "retry-after" in results[k].headers


# ---------------------------------------------------------------- deadlines


@pytest.mark.parametrize("stream", [False, True])
def test_request_deadline_is_504_and_the_engine_stops(ai_stack, stream):
    stack = ai_stack(chat=[backend("vllm", "--ttft-ms", 4000)])
    t0 = time.monotonic()
    r = stack.post("/v1/chat/completions", chat_body(stream=stream), {"x-eco-timeout-ms": "300"})
    error_of(r, 504, code="deadline_exceeded")
    assert elapsed(t0) < 2
    wait_until(lambda: stack["a"].stats()["in_flight"] == 0, 3, what="the engine to drop the expired request")
    assert stack["a"].stats()["cancelled"] >= 1


def test_service_request_timeout_is_504(ai_stack):
    stack = ai_stack(chat=[backend("vllm", "--ttft-ms", 4000)], env={"ECO_REQUEST_TIMEOUT_MS": "500"})
    t0 = time.monotonic()
    r = stack.post("/v1/chat/completions", chat_body())
    error_of(r, 504, code="deadline_exceeded")
    assert elapsed(t0) < 2.5
