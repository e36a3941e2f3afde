"""Engine faults (engine-sim's x-sim-fault, forwarded by the adapter) mapped to gRPC status codes
for every kind: 429 with retry-after, 5xx, 400, context length, unknown model, a stream cut or a
malformed chunk mid-stream (an error, never a clean finish), a stalled stream (idle timeout),
and cancellation / client deadlines reaching the engine."""
import time

import grpc
import pytest

from conftest import KINDS, rpc_error, trailing, wait_stats
from ecotest import wait_until

CHAT = [("system", "Be brief."), ("user", "Say something.")]
CODE = grpc.StatusCode
NOT_FOUND_KINDS = {"vllm", "openai", "ollama", "lmdeploy", "mii", "triton"}  # the rest ignore the model field


def stream_until_error(ad, req, fault, timeout=10):
    """Reads a stream that must fail: (chunks received, error)."""
    chunks = []
    with pytest.raises(grpc.RpcError) as e:
        for c in ad.stream(req, fault=fault, timeout=timeout):
            chunks.append(c)
    return chunks, e.value


@pytest.mark.parametrize("kind", KINDS)
def test_faults_map_to_status(stack, kind):
    sim, ad = stack(kind, "--itl-ms", "2", "--max-model-len", "300", "--min-output-tokens", "30",
                    env={"ECO_ENGINE_IDLE_TIMEOUT_MS": "600"})
    req = ad.req(CHAT, max_tokens=20, seed=1)

    for call in (ad.unary, ad.collect):
        e = rpc_error(call, req, fault="status=429,retry-after=3")
        assert e.code() == CODE.RESOURCE_EXHAUSTED, e.details()
        assert trailing(e)["retry-after"] == "3"
        assert trailing(e)["eco-error-reason"] == "overloaded"
    e = rpc_error(ad.unary, req, fault="status=503")
    assert e.code() == CODE.UNAVAILABLE and "retry-after" in trailing(e)
    e = rpc_error(ad.unary, req, fault="status=500")
    assert e.code() == CODE.INTERNAL, e.details()
    e = rpc_error(ad.unary, req, fault="status=400")
    assert e.code() == CODE.INVALID_ARGUMENT, e.details()

    # Context length: a prompt longer than --max-model-len (Ollama truncates silently instead).
    long_chat = [("user", " ".join(["word"] * 400))]
    if kind == "ollama":
        assert ad.unary(ad.req(long_chat, max_tokens=5)).text
    else:
        e = rpc_error(ad.unary, ad.req(long_chat, max_tokens=5))
        assert e.code() == CODE.INVALID_ARGUMENT and "context_length_exceeded" in e.details(), e.details()

    unknown = ad.req(CHAT, max_tokens=5, model="no-such-model")
    if kind in NOT_FOUND_KINDS:
        e = rpc_error(ad.unary, unknown)
        assert e.code() == CODE.NOT_FOUND, e.details()
    else:
        assert ad.unary(unknown).text

    # Mid-stream failures: some tokens arrive, then an error; never a finished last chunk.
    chunks, e = stream_until_error(ad, req, "cut-after=4")
    assert e.code() == CODE.UNAVAILABLE and "stream cut" in e.details(), e.details()
    assert "".join(c.delta for c in chunks) and not any(c.finish_reason for c in chunks)
    e = rpc_error(ad.unary, req, fault="cut-after=4")
    assert e.code() == CODE.UNAVAILABLE
    chunks, e = stream_until_error(ad, req, "malformed-after=3")
    assert e.code() == CODE.INTERNAL and "malformed" in e.details(), e.details()
    assert not any(c.finish_reason for c in chunks)
    e = rpc_error(ad.unary, req, fault="malformed-after=3")
    assert e.code() == CODE.INTERNAL and "malformed" in e.details(), e.details()
    t0 = time.monotonic()
    chunks, e = stream_until_error(ad, req, "stall-after=3")
    assert e.code() == CODE.DEADLINE_EXCEEDED and "stalled" in e.details(), e.details()
    assert 0.5 < time.monotonic() - t0 < 5 and not any(c.finish_reason for c in chunks)
    assert f'eco_adapter_stream_cuts_total{{kind="{kind}"}} 1' in ad.metrics()

    # The client goes away mid-stream: the engine sees the disconnect.
    wait_until(lambda: sim.stats()["in_flight"] == 0, 5, what="the failed requests to end in the engine")
    base = sim.stats()["cancelled"]
    it = ad.stream(req, fault="itl-ms=200", timeout=10)
    assert next(it).delta
    it.cancel()
    wait_stats(sim, "cancelled", base + 1)
    # A client deadline before the first token: DEADLINE_EXCEEDED, and the engine is told too.
    e = rpc_error(ad.unary, req, fault="ttft-ms=3000", timeout=0.4)
    assert e.code() == CODE.DEADLINE_EXCEEDED
    wait_stats(sim, "cancelled", base + 2)
    assert sim.stats()["in_flight"] == 0
    # Still healthy afterwards.
    assert ad.unary(req).text
