"""eco.ai.v1.Inference on ai-service's gRPC port with a Python gRPC client: the same answers as
REST, streaming, embeddings, errors as status codes, deadlines and cancellation reaching the
engine, mid-stream continuation, grpc.health.v1."""
import concurrent.futures
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from conftest import (CHAT, EMBED, MSGS, backend, close, elapsed, engine_chat, engine_completion, norm, unit)
from ecotest import wait_until

CODE = grpc.StatusCode
T = 10  # seconds, client deadline of a call expected to succeed


@pytest.fixture
def stack(ai_stack):
    return ai_stack(chat=[backend("vllm"), backend("vllm")], embed=[backend("ollama")])


def rpc_error(fn, *a, **kw):
    """Runs a call that must fail (unary, or a stream read to its end); returns the RpcError."""
    with pytest.raises(grpc.RpcError) as e:
        r = fn(*a, **kw)
        if hasattr(r, "__iter__"):
            for _ in r:
                pass
    return e.value


def test_list_models(stack):
    r = stack.stub.ListModels(stack.pb.ListModelsRequest(), timeout=T)
    models = {m.id: m for m in r.models}
    assert set(models) == {CHAT, EMBED} and r.default_model == CHAT
    chat = models[CHAT]
    assert chat.healthy_backends == 2 and chat.total_backends == 2 and chat.owned_by == "eco-test"
    assert chat.capabilities.chat and chat.capabilities.completion and not chat.capabilities.embeddings
    assert chat.created > 1_700_000_000
    assert models[EMBED].capabilities.embeddings and models[EMBED].healthy_backends == 1


def test_unary_chat_and_prompt(stack):
    r = stack.stub.GenerateCompletion(stack.greq(MSGS, max_tokens=24, seed=7), timeout=T)
    text, tokens, finish = engine_chat(stack["a"])
    assert r.text == text and r.model == CHAT and r.finish_reason == finish
    assert r.usage.completion_tokens == tokens
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    # No model: the registry default.
    r2 = stack.stub.GenerateCompletion(stack.greq(MSGS, max_tokens=24, seed=7, model=""), timeout=T)
    assert r2.text == text and r2.model == CHAT
    p = stack.stub.GenerateCompletion(stack.greq(prompt="Once upon a time", max_tokens=20, seed=3), timeout=T)
    assert p.text == engine_completion(stack["a"], "Once upon a time", max_tokens=20, seed=3)[0]


def test_stream_equals_unary(stack):
    req = stack.greq(MSGS, max_tokens=40, seed=7, model=CHAT)
    whole = stack.stub.GenerateCompletion(req, timeout=T)
    chunks = list(stack.stub.StreamCompletion(req, timeout=T))
    assert len(chunks) > 3
    assert "".join(c.delta for c in chunks) == whole.text
    assert chunks[0].model == CHAT
    assert [c.finish_reason for c in chunks if c.finish_reason] == [whole.finish_reason]
    assert chunks[-1].finish_reason and chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert not any(c.HasField("usage") for c in chunks[:-1])


def test_embeddings(stack):
    r = stack.stub.GenerateEmbedding(stack.pb.EmbeddingRequest(model=EMBED, input=["alpha", "beta gamma"]), timeout=T)
    assert r.model == EMBED and [d.index for d in r.data] == [0, 1]
    full = list(r.data[0].values)
    assert len(full) == 384 and r.usage.prompt_tokens > 0
    rest = stack.client.embeddings.create(model=EMBED, input="alpha", encoding_format="float").data[0].embedding
    assert close(full, rest, 1e-6)
    cut = stack.stub.GenerateEmbedding(stack.pb.EmbeddingRequest(model=EMBED, input=["alpha"], dimensions=32),
                                       timeout=T)
    v = list(cut.data[0].values)
    assert len(v) == 32 and abs(norm(v) - 1) < 1e-4 and close(v, unit(full[:32]), 1e-4)


def test_errors_are_status_codes(stack):
    g = stack.stub
    e = rpc_error(g.GenerateCompletion, stack.greq(MSGS, model="no-such-model"), timeout=T)
    assert e.code() == CODE.NOT_FOUND and "no-such-model" in e.details()
    e = rpc_error(g.StreamCompletion, stack.greq(MSGS, model="no-such-model"), timeout=T)
    assert e.code() == CODE.NOT_FOUND
    for bad in (stack.greq(), stack.greq(MSGS, prompt="both"), stack.greq(MSGS, temperature=5),
                stack.greq([{"role": "wizard", "content": "x"}]), stack.greq(MSGS, model=EMBED)):
        e = rpc_error(g.GenerateCompletion, bad, timeout=T)
        assert e.code() == CODE.INVALID_ARGUMENT, (bad, e)
    e = rpc_error(g.StreamCompletion, stack.greq(), timeout=T)
    assert e.code() == CODE.INVALID_ARGUMENT
    e = rpc_error(g.GenerateEmbedding, stack.pb.EmbeddingRequest(model=EMBED), timeout=T)
    assert e.code() == CODE.INVALID_ARGUMENT
    e = rpc_error(g.GenerateEmbedding, stack.pb.EmbeddingRequest(model=CHAT, input=["x"]), timeout=T)
    assert e.code() == CODE.INVALID_ARGUMENT
    e = rpc_error(g.GenerateEmbedding, stack.pb.EmbeddingRequest(model="nope", input=["x"]), timeout=T)
    assert e.code() == CODE.NOT_FOUND
    assert stack.stub.GenerateCompletion(stack.greq(MSGS, max_tokens=2), timeout=T).text


def test_no_backend_is_unavailable(ai_stack):
    stack = ai_stack(chat=[backend(dead=True)], wait=False)
    for call in (stack.stub.GenerateCompletion, stack.stub.StreamCompletion):
        e = rpc_error(call, stack.greq(MSGS, max_tokens=4), timeout=T)
        assert e.code() == CODE.UNAVAILABLE and CHAT in e.details(), e


def test_overload_is_resource_exhausted(ai_stack):
    stack = ai_stack(chat=[backend("vllm", "--ttft-ms", 1500)],
                     env={"ECO_BACKEND_MAX_INFLIGHT": "1", "ECO_QUEUE_MAX": "1"})
    req = stack.greq(MSGS, max_tokens=2)
    futures = [stack.stub.GenerateCompletion.future(req, timeout=T) for _ in range(6)]
    codes = []
    for f in futures:
        try:
            f.result()
            codes.append(CODE.OK)
        except grpc.RpcError as e:
            codes.append(e.code())
    assert CODE.RESOURCE_EXHAUSTED in codes and CODE.OK in codes, codes
    assert set(codes) <= {CODE.OK, CODE.RESOURCE_EXHAUSTED}, codes
    assert stack["a"].stats()["max_in_flight_seen"] <= 1


@pytest.mark.parametrize("streaming", [False, True])
def test_client_deadline_is_honoured_and_reaches_the_engine(ai_stack, streaming):
    stack = ai_stack(chat=[backend("vllm", "--ttft-ms", 4000)])
    call = stack.stub.StreamCompletion if streaming else stack.stub.GenerateCompletion
    t0 = time.monotonic()
    e = rpc_error(call, stack.greq(MSGS, max_tokens=4), timeout=0.5)
    assert e.code() == CODE.DEADLINE_EXCEEDED and elapsed(t0) < 2
    sim = stack["a"]
    wait_until(lambda: sim.stats()["requests"] == 1 and sim.stats()["in_flight"] == 0, 3,
               what="the engine to drop the expired request")
    assert sim.stats()["cancelled"] == 1 and sim.stats()["completed"] == 0
    stack.assert_alive()


def test_cancelled_stream_is_seen_by_the_engine(ai_stack):
    stack = ai_stack(chat=[backend("vllm", "--itl-ms", 100, "--min-output-tokens", 60)])
    it = stack.stub.StreamCompletion(stack.greq(MSGS, max_tokens=60), timeout=T)
    got = [next(it), next(it)]
    assert "".join(c.delta for c in got) is not None
    it.cancel()
    sim = stack["a"]
    wait_until(lambda: sim.stats()["cancelled"] == 1 and sim.stats()["in_flight"] == 0, 3,
               what="the cancellation to reach the engine")
    assert sim.stats()["completed"] == 0
    # The service is fine afterwards.
    assert stack.stub.GenerateCompletion(stack.greq(MSGS, max_tokens=2), timeout=T).text


def test_mid_stream_failover_over_grpc(ai_stack):
    out = ("--min-output-tokens", 40)
    stack = ai_stack(chat=[backend("vllm", *out, "--fault", "cut-after=5", tier=0), backend("vllm", *out, tier=1)])
    text, tokens, finish = engine_chat(stack["b"], max_tokens=40)
    chunks = list(stack.stub.StreamCompletion(stack.greq(MSGS, max_tokens=40, seed=7), timeout=T))
    assert "".join(c.delta for c in chunks) == text
    assert [c.finish_reason for c in chunks if c.finish_reason] == [finish]
    assert chunks[-1].usage.completion_tokens == tokens
    assert stack["a"].stats()["requests"] == 1 and 0 < stack["b"].stats()["generation_tokens"] < tokens


def test_mid_stream_failure_without_a_capable_backend_is_an_error(ai_stack):
    stack = ai_stack(chat=[backend("vllm", "--min-output-tokens", 40, "--fault", "cut-after=5")])
    chunks = []
    with pytest.raises(grpc.RpcError) as e:
        for c in stack.stub.StreamCompletion(stack.greq(MSGS, max_tokens=40), timeout=T):
            chunks.append(c)
    assert e.value.code() not in (CODE.OK, CODE.DEADLINE_EXCEEDED, CODE.CANCELLED), e.value
    assert "".join(c.delta for c in chunks) and not any(c.finish_reason for c in chunks)


def test_health(stack):
    with grpc.insecure_channel(f"127.0.0.1:{stack.svc.grpc_port}") as ch:
        h = health_pb2_grpc.HealthStub(ch)
        r = h.Check(health_pb2.HealthCheckRequest(service=""), timeout=3)
        assert r.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as e:
            h.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=3)
        assert e.value.code() == CODE.NOT_FOUND


def test_concurrent_streams(stack):
    req = stack.greq(MSGS, max_tokens=24, seed=7)
    want = engine_chat(stack["a"])[0]
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        texts = list(ex.map(lambda _: "".join(c.delta for c in stack.stub.StreamCompletion(req, timeout=T)),
                            range(16)))
    assert texts == [want] * 16
    assert stack["a"].stats()["requests"] + stack["b"].stats()["requests"] == 16
