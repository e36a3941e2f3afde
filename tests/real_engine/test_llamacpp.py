"""One real engine end to end: llama.cpp (through llama-cpp-python's OpenAI-compatible server,
built from its PyPI sdist by scripts/deps.sh) serving a tiny 2-layer llama model that this test
writes with the `gguf` package (make_model.py), with engine-adapter in front of it.

What llama-cpp-python's server has (llama_cpp/server/app.py, 0.3.36): /v1/models,
/v1/completions, /v1/chat/completions, /v1/embeddings, /extras/tokenize[/count],
/extras/detokenize. It has no /health, no native /completion, no /props and no /metrics (those
are llama.cpp's own C++ `llama-server`, which no registry package ships). So:

  kind `openai`   everything works: ListModels, HealthCheck, unary and streamed chat and prompt
                  generation. Streamed usage is estimated by the adapter (the server's stream
                  has no usage); unary usage is the engine's own count.
  kind `llamacpp` only chat works (/v1/chat/completions, unary and streamed). The adapter's health
                  probe (/health) gets 404, so the adapter reports the engine down (/ready 503,
                  HealthCheck not SERVING) although it still forwards chat; prompts go to the
                  native /completion route, 404 here, and fail with gRPC UNIMPLEMENTED ("engine
                  endpoint not found": the engine does not speak this kind's API).

The server runs with --interrupt_requests False. Its default (True) ends a running stream
early, with "data: [DONE]" and no finish_reason, as soon as any other request waits for the
model lock, and /v1/models takes that lock: the adapter's own periodic /v1/models probe then cuts
streams at random, and the adapter reports such a cut stream as finish_reason "stop" with no
tokens (seen about once in 12 runs before the flag).

The test fails (never skips) when llama_cpp or gguf is not installed: run scripts/deps.sh."""
import importlib
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import time

import grpc
import pytest

from ecotest import ROOT, Service, free_port, get_json, http, terminate, wait_until

HERE = pathlib.Path(__file__).resolve().parent
MODEL = "eco-tiny-llama"  # make_model.NAME, served under this alias
CHAT = [("system", "You are terse."), ("user", "Name a colour.")]
PROMPT = "The quick brown fox"
MAX_TOKENS = 8
RPC_TIMEOUT = 60
LOAD_TIMEOUT = 120
pytestmark = pytest.mark.timeout(600)


def require(module):
    if importlib.util.find_spec(module) is None:
        pytest.fail(f"Python package {module!r} is not installed in {sys.prefix}: run scripts/deps.sh (step llama)")
    return importlib.import_module(module)


def run_dir():
    return pathlib.Path(os.environ.get("ECO_TEST_RUN_DIR", "/tmp"))


class LlamaServer:
    """python -m llama_cpp.server on a free loopback port, killed at teardown."""

    def __init__(self, model_path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = run_dir() / f"llama-cpp-server-{self.port}.log"
        self.log = open(self.log_path, "wb")
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--model_alias", MODEL,
               "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "512", "--n_threads", "2",
               "--n_threads_batch", "2", "--interrupt_requests", "False"]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self._wait_loaded()
        except BaseException:
            self.stop()
            raise

    def _wait_loaded(self):
        # The server loads the model before it starts listening: /v1/models answering with the
        # alias means llama.cpp loaded the GGUF file.
        deadline = time.monotonic() + LOAD_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"llama_cpp.server exited {self.proc.returncode}: {self.output()[-3000:]}")
            try:
                status, body = get_json(self.url + "/v1/models", timeout=2)
                if status == 200:
                    self.models = body
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"llama_cpp.server did not answer /v1/models in {LOAD_TIMEOUT}s: {self.output()[-3000:]}")

    def post(self, path, body, timeout=RPC_TIMEOUT):
        status, _, raw = http("POST", self.url + path, body, {"Content-Type": "application/json"}, timeout=timeout)
        return status, json.loads(raw) if raw else None

    def output(self):
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self):
        terminate(self.proc, 15)
        self.log.close()


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    require("llama_cpp")
    require("gguf")
    sys.path.insert(0, str(HERE))
    try:
        make_model = importlib.import_module("make_model")
    finally:
        sys.path.remove(str(HERE))
    path = make_model.write(tmp_path_factory.mktemp("model") / "tiny.gguf")
    assert make_model.NAME == MODEL
    srv = LlamaServer(path)
    yield srv
    srv.stop()


class Adapter(Service):
    def __init__(self, pb, kind, engine_url):
        super().__init__("engine-adapter", {"ECO_ENGINE_KIND": kind, "ECO_ENGINE_URL": engine_url,
                                            "ECO_ENGINE_SCRAPE_INTERVAL_MS": "200", "ECO_SHUTDOWN_GRACE_MS": "3000"})
        self.pb, pbg = pb
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}")
        self.stub = pbg.InferenceStub(self.channel)

    def req(self, messages=None, prompt=None, **kw):
        msgs = [self.pb.ChatMessage(role=r, content=c) for r, c in (messages or [])]
        return self.pb.GenerateRequest(messages=msgs, prompt=prompt or "", max_tokens=MAX_TOKENS, temperature=0.0,
                                       **kw)

    def unary(self, req):
        return self.stub.GenerateCompletion(req, timeout=RPC_TIMEOUT)

    def collect(self, req):
        return list(self.stub.StreamCompletion(req, timeout=RPC_TIMEOUT))

    def stop(self, *a, **kw):
        self.channel.close()
        return super().stop(*a, **kw)


@pytest.fixture
def adapter(pb):
    started = []

    def start(kind, url):
        a = Adapter(pb, kind, url)
        started.append(a)
        return a

    yield start
    errors = []
    for a in started:
        rc = a.stop()
        if rc != 0:
            errors.append(f"engine-adapter exited {rc}: {a.output()[-2000:]}")
    assert not errors, "\n".join(errors)


def direct(engine, chat):
    """The engine's own greedy answer, without the adapter (the oracle)."""
    if chat:
        status, body = engine.post("/v1/chat/completions", {
            "model": MODEL, "messages": [{"role": r, "content": c} for r, c in CHAT],
            "max_tokens": MAX_TOKENS, "temperature": 0})
        assert status == 200, body
        return body["choices"][0]["message"]["content"], body
    status, body = engine.post("/v1/completions", {"model": MODEL, "prompt": PROMPT, "max_tokens": MAX_TOKENS,
                                                   "temperature": 0})
    assert status == 200, body
    return body["choices"][0]["text"], body


def is_run(text):
    """MAX_TOKENS consecutive letters (z -> a): the rule planted in the tiny model's weights."""
    return (len(text) == MAX_TOKENS and all("a" <= c <= "z" for c in text) and
            all((ord(b) - ord(a)) % 26 == 1 for a, b in zip(text, text[1:])))


def check_unary_and_stream(ad, engine, chat):
    want, body = direct(engine, chat)
    req = ad.req(CHAT, None) if chat else ad.req(None, PROMPT)
    r = ad.unary(req)
    assert r.model == MODEL
    assert r.finish_reason == "length", r
    assert r.text == want and is_run(r.text), (r.text, want)
    assert r.usage.prompt_tokens == body["usage"]["prompt_tokens"] > 0
    assert r.usage.completion_tokens == body["usage"]["completion_tokens"] == MAX_TOKENS
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens

    chunks = ad.collect(req)
    assert len(chunks) >= 2, chunks
    assert "".join(c.delta for c in chunks) == r.text
    assert chunks[-1].finish_reason == "length" and not any(c.finish_reason for c in chunks[:-1])
    assert chunks[0].model == MODEL
    # llama-cpp-python's stream carries no usage (it ignores stream_options.include_usage), so the
    # adapter counts the chunks and estimates the prompt, and says so.
    assert chunks[-1].usage.completion_tokens == MAX_TOKENS and chunks[-1].usage.estimated, chunks[-1]
    assert not r.usage.estimated
    return r, chunks


def test_engine_loads_tiny_model(engine):
    """The real llama.cpp loaded the GGUF file the test wrote, tokenizes bytes and generates."""
    assert [m["id"] for m in engine.models["data"]] == [MODEL], engine.models
    status, body = engine.post("/extras/tokenize", {"model": MODEL, "input": "hi"})
    assert status == 200, body
    # Byte-level vocabulary: <unk> <s> </s> then <0x00>..<0xFF>; SPM prefixes a space ("\u2581").
    assert body["tokens"][-2:] == [3 + ord("h"), 3 + ord("i")], body
    text, body = direct(engine, chat=False)
    assert text == "yzabcdef", text  # "...fox" -> y z a b ...: llama.cpp computed the planted rule
    assert body["choices"][0]["finish_reason"] == "length"
    out = engine.output()
    assert "n_layer" in out and "= 2" in out.split("n_layer", 1)[1][:20], out[-3000:]


def test_kind_openai(engine, adapter):
    """Kind `openai` (the generic OpenAI-compatible kind): every RPC works against llama.cpp."""
    ad = adapter("openai", engine.url)
    ad.wait_ready(200, timeout=30)
    pb = ad.pb
    lm = ad.stub.ListModels(pb.ListModelsRequest(), timeout=RPC_TIMEOUT)
    assert lm.default_model == MODEL and [m.id for m in lm.models] == [MODEL]
    caps = lm.models[0].capabilities
    assert caps.streaming and caps.chat and caps.completion
    assert caps.engine == pb.ENGINE_KIND_OPENAI
    hc = ad.stub.HealthCheck(pb.HealthCheckRequest(), timeout=RPC_TIMEOUT)
    assert hc.status == pb.HealthCheckResponse.STATUS_SERVING, hc

    check_unary_and_stream(ad, engine, chat=True)
    r, _ = check_unary_and_stream(ad, engine, chat=False)
    assert r.text == "yzabcdef"


def test_kind_llamacpp(engine, adapter):
    """Kind `llamacpp` expects llama.cpp's own server (llama-server): against llama-cpp-python's
    server only chat works; the missing routes give clear errors, never a fake success."""
    ad = adapter("llamacpp", engine.url)
    pb = ad.pb
    # /health is 404 on this server: the adapter reports the engine down, not ready.
    def probed_down():
        status, body = ad.ready()
        return status == 503 and body["checks"]["engine"]["state"] == "down" and body
    body = wait_until(probed_down, 30, what="engine-adapter /ready: engine down")
    assert body["checks"]["engine"]["detail"] == "llamacpp unhealthy (HTTP 404)", body
    hc = ad.stub.HealthCheck(pb.HealthCheckRequest(), timeout=RPC_TIMEOUT)
    assert hc.status != pb.HealthCheckResponse.STATUS_SERVING, hc

    # Chat goes to /v1/chat/completions, which exists: a real answer.
    check_unary_and_stream(ad, engine, chat=True)

    # A prompt goes to llama.cpp's native /completion, which this server lacks (404 naming no
    # model): the adapter reports the missing route as UNIMPLEMENTED, not as an unknown model.
    for call in (lambda: ad.unary(ad.req(None, PROMPT)), lambda: ad.collect(ad.req(None, PROMPT))):
        with pytest.raises(grpc.RpcError) as e:
            call()
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED, e.value
        assert "HTTP 404" in e.value.details() and "endpoint not found" in e.value.details(), e.value.details()
