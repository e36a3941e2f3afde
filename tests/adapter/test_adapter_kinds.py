"""engine-adapter against engine-sim, one kind at a time: unary and streamed generation give the
simulator's deterministic answer (so roles, seed and length reached the engine intact), a
stream is real token-by-token streaming whose text equals the unary answer, continuation of a
trailing assistant message, embeddings or UNIMPLEMENTED, ListModels / HealthCheck / GetLoad."""
import pathlib
import sys
import time

import grpc
import pytest

from conftest import (CONTINUATION_KINDS, EMBEDDING_KINDS, KINDS, METRICS_KINDS, RPC_TIMEOUT, SEEDLESS_KINDS,
                      rpc_error)
from ecotest import wait_until

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "engine_sim"))
import simgen  # noqa: E402  (the simulator's generator, re-implemented: the oracle)

CHAT = [("system", "You answer in short lists."), ("user", "Name some colours, please.")]
PROMPT = "The quick brown fox jumps over"
MODEL = {"ollama": "eco-sim:latest", "triton": "ensemble"}
ENGINE_ENUM = {"vllm": "ENGINE_KIND_VLLM", "tgi": "ENGINE_KIND_TGI", "ollama": "ENGINE_KIND_OLLAMA",
               "sglang": "ENGINE_KIND_SGLANG", "trtllm": "ENGINE_KIND_TRTLLM", "triton": "ENGINE_KIND_TRITON",
               "mii": "ENGINE_KIND_DEEPSPEED_MII", "lmdeploy": "ENGINE_KIND_LMDEPLOY",
               "llamacpp": "ENGINE_KIND_LLAMA_CPP", "openai": "ENGINE_KIND_OPENAI"}
REPORTS_USAGE = set(KINDS) - {"triton", "mii"}


def expected(text, seed, max_tokens, min_out=4, max_out=64):
    pieces, finish, prompt_tokens = simgen.generate(text, seed, max_tokens, min_out, max_out)
    return "".join(pieces), finish, len(pieces), prompt_tokens


def check_generation(ad, kind, seed, messages=None, prompt=None, max_tokens=12):
    text_in = simgen.chatml(messages) if messages else prompt
    want, finish, n, prompt_tokens = expected(text_in, 0 if kind in SEEDLESS_KINDS else seed, max_tokens)
    req = ad.req(messages, prompt, max_tokens=max_tokens, seed=seed)
    r = ad.unary(req)
    assert r.text == want, (kind, r.text, want)
    assert r.finish_reason == finish
    assert r.model == MODEL.get(kind, "eco-sim")
    if kind in REPORTS_USAGE:
        assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (prompt_tokens, n)
        assert not r.usage.estimated
    elif kind == "triton":
        assert r.usage.estimated and r.usage.completion_tokens == n  # counted from per-token log-probs
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens

    text, chunks = ad.collect(req)
    assert text == r.text
    # Token by token: one chunk per token, then the last chunk with finish reason and usage.
    assert len(chunks) == n + 1, [c.delta for c in chunks]
    assert all(c.delta for c in chunks[:-1]) and chunks[-1].delta == ""
    assert chunks[0].model == r.model and all(not c.model for c in chunks[1:])
    assert chunks[-1].finish_reason == r.finish_reason and not any(c.finish_reason for c in chunks[:-1])
    assert chunks[-1].usage.completion_tokens == r.usage.completion_tokens
    if kind in REPORTS_USAGE:
        assert not chunks[-1].usage.estimated
    return r


@pytest.mark.parametrize("kind", KINDS)
def test_kind_end_to_end(stack, kind):
    sim, ad = stack(kind, "--itl-ms", "1")
    pb = ad.pb

    check_generation(ad, kind, 7, messages=CHAT)
    check_generation(ad, kind, 3, prompt=PROMPT, max_tokens=9)
    check_generation(ad, kind, 11, messages=CHAT, max_tokens=64)  # a natural "stop" (answers are 4-64 tokens)

    # A trailing assistant message that is a prefix of the answer (ending inside a token).
    seed = 0 if kind in SEEDLESS_KINDS else 5
    full = expected(simgen.chatml(CHAT), seed, None)[0]
    prefix = full[:len(full) // 3]
    cont = CHAT + [("assistant", prefix)]
    if kind in CONTINUATION_KINDS:
        r = ad.unary(ad.req(cont, seed=5))
        assert r.text == full[len(prefix):]
        text, _ = ad.collect(ad.req(cont, seed=5))
        assert text == r.text
    else:
        e = rpc_error(ad.unary, ad.req(cont, seed=5))
        assert e.code() == grpc.StatusCode.UNIMPLEMENTED and "continue" in e.details()

    # Embeddings where the engine serves them.
    er = pb.EmbeddingRequest(input=["alpha beta", "gamma"])
    if kind in EMBEDDING_KINDS:
        resp = ad.stub.GenerateEmbedding(er, timeout=RPC_TIMEOUT)
        assert [d.index for d in resp.data] == [0, 1]
        for d, text in zip(resp.data, ["alpha beta", "gamma"]):
            want = simgen.embed(text, 384)
            assert len(d.values) == 384
            assert max(abs(a - b) for a, b in zip(d.values, want)) < 1e-6
        assert resp.usage.prompt_tokens > 0
    else:
        e = rpc_error(ad.stub.GenerateEmbedding, er, timeout=RPC_TIMEOUT)
        assert e.code() == grpc.StatusCode.UNIMPLEMENTED and "embeddings" in e.details()

    # What the backend advertises.
    lm = ad.stub.ListModels(pb.ListModelsRequest(), timeout=RPC_TIMEOUT)
    assert lm.default_model == MODEL.get(kind, "eco-sim")
    assert [m.id for m in lm.models] == [lm.default_model]
    caps = lm.models[0].capabilities
    assert caps.streaming and caps.chat and caps.completion
    assert caps.continuation == (kind in CONTINUATION_KINDS)
    assert caps.embeddings == (kind in EMBEDDING_KINDS)
    assert caps.usage == (kind in REPORTS_USAGE)
    assert pb.EngineKind.Name(caps.engine) == ENGINE_ENUM[kind]
    if kind in EMBEDDING_KINDS:
        assert caps.embedding_dimensions == 384
    if kind in {"vllm", "sglang", "lmdeploy", "llamacpp"}:
        assert caps.context_length == 4096  # from the model card / engine info

    h = ad.stub.HealthCheck(pb.HealthCheckRequest(), timeout=RPC_TIMEOUT)
    assert pb.HealthCheckResponse.Status.Name(h.status) == "STATUS_SERVING"
    assert pb.EngineKind.Name(h.engine) == ENGINE_ENUM[kind]

    def load():
        rep = ad.stub.GetLoad(pb.GetLoadRequest(), timeout=RPC_TIMEOUT)
        return (rep.scraped_at > 0) == (kind in METRICS_KINDS) and rep
    rep = wait_until(load, 5, what="a metrics scrape")
    assert rep.ready and rep.max_concurrency == 64 and list(rep.models) == [lm.default_model]
    assert rep.in_flight == 0 and rep.queue_depth == 0
    if kind in METRICS_KINDS:
        assert rep.kv_cache_usage >= 0 or kind in {"tgi", "llamacpp"}
    else:
        assert rep.kv_cache_usage < 0 and rep.load_score == 0


def test_sglang_incremental_stream_output(stack):
    """With --incremental-streaming-output the stream's text is a delta, as /get_server_info says."""
    sim, ad = stack("sglang", "--incremental-streaming-output")
    r = check_generation(ad, "sglang", 2, prompt=PROMPT, max_tokens=20)
    assert len(r.text) > 20


def test_large_stream_through_backpressure(stack):
    """A 20000-token stream to a client that stops reading: the adapter pauses the engine while
    the gRPC send queue is full and resumes it; nothing is lost or reordered."""
    sim, ad = stack("vllm", "--min-output-tokens", "20000", "--max-output-tokens", "20000",
                    "--max-model-len", "100000")
    want, finish, n, _ = expected(PROMPT, 1, 20000, 20000, 20000)
    it = ad.stream(ad.req(prompt=PROMPT, max_tokens=20000, seed=1), timeout=60)
    first = next(it)
    time.sleep(1.5)  # the send queue and the HTTP/2 window fill up; the engine must wait
    rest = list(it)
    chunks = [first] + rest
    assert "".join(c.delta for c in chunks) == want
    assert chunks[-1].finish_reason == finish and chunks[-1].usage.completion_tokens == n
    assert sim.stats()["completed"] >= 1
    paused = [line for line in ad.metrics().splitlines() if line.startswith("eco_adapter_stream_pauses_total{")]
    assert paused and float(paused[0].split()[-1]) >= 1, paused
