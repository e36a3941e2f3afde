"""Harness for the ai-service tests: a factory that starts K engine-sims, each behind its own
engine-adapter (tests/simstack.py), writes a model registry naming those adapters, and starts
ai-service on it; everything is stopped at teardown (ai-service first, so that a crash or a hung
shutdown fails the test). Plus the helpers the test files share: raw HTTP and SSE, the error
body, Prometheus text, the engine's own answer for a request (the no-fault reference) and
embedding arithmetic.

Short timeouts everywhere: a hang fails within seconds instead of at the suite timeout."""
import base64
import http.client as httplib
import json
import math
import re
import signal
import socket
import struct
import time
from dataclasses import dataclass, field

import grpc
import openai
import pytest

from ecotest import free_port, get_json, http, wait_until
from simstack import Adapter, Exited, Sim, start_service

CHAT = "chat-m"           # chat + completion model (vLLM-kind sims: they advertise continuation)
CHAT_ALIAS = "chat-alias"
EMBED = "embed-m"         # embedding-only model
TIMEOUT = 15              # seconds, any single client call
MSGS = [{"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Name three colours."},
        {"role": "assistant", "content": "Red."},
        {"role": "user", "content": "Two more, please."}]

# Service settings used unless a test overrides them: fast health probes and retries, deadlines
# far below the defaults (a hang fails fast), breakers that do not open unless a test wants it
# (so that every request of a failure test really meets its fault).
AI_ENV = {
    "ECO_GRPC_AUTH": "off",
    "ECO_KAFKA_BROKERS": "127.0.0.1:9",
    "ECO_HEALTH_INTERVAL_MS": "200",
    "ECO_REQUEST_TIMEOUT_MS": "10000",
    "ECO_TTFT_TIMEOUT_MS": "5000",
    "ECO_STREAM_STALL_MS": "5000",
    "ECO_RETRY_BASE_MS": "10",
    "ECO_BREAKER_FAILURES": "100",
    "ECO_SHUTDOWN_GRACE_MS": "2000",
}


# ---------------------------------------------------------------- the stack


@dataclass
class Spec:
    """One backend: an engine-sim of `kind` with `flags`, behind an engine-adapter."""
    kind: str = "vllm"
    flags: tuple = ()
    tier: int = 0
    weight: int = 1
    name: str = None
    adapter_env: dict = field(default_factory=dict)
    up: bool = True      # expected healthy at start (False: loading/refusing engine, not waited for)
    dead: bool = False   # no adapter at all: its address refuses connections


BIND_FAILURES = ("Address already in use", "No address added", "cannot listen")


def bind_retry(start, attempts=5):
    """start() again when the process could not bind its port: ecotest.free_port() hands out a
    port it has just released (another process, an outgoing connection, or the same Service's
    second free_port() call may take it before the bind)."""
    for i in range(attempts):
        try:
            return start()
        except Exited as e:
            if not any(m in str(e) for m in BIND_FAILURES) or i == attempts - 1:
                raise


def backend(kind="vllm", *flags, **kw):
    return Spec(kind, tuple(map(str, flags)), **kw)


class Backend:
    def __init__(self, harness, spec, name, model):
        self.spec, self.name, self.model, self.harness = spec, name, model, harness
        self.sim = self.adapter = None
        if spec.dead:
            self.address = f"127.0.0.1:{free_port()}"
            return
        listen = "--refuse" not in spec.flags
        self.sim = bind_retry(lambda: Sim(spec.kind, "--model", model, *spec.flags, listen=listen,
                                          log_prefix=f"ai-sim-{name}"))
        harness.procs.append(self.sim)
        self.adapter = bind_retry(lambda: Adapter(harness.pb, spec.kind, self.sim.url, spec.adapter_env))
        harness.procs.append(self.adapter)
        self.address = self.adapter.address
        if spec.up:
            self.adapter.wait_ready(200, timeout=15)

    def stats(self):
        return self.sim.stats()

    def restart_sim(self, *flags):
        """The engine restarts on the same port with new flags (its adapter reconnects)."""
        self.sim.stop()
        self.sim = Sim(self.spec.kind, "--model", self.model, *map(str, flags), port=self.sim.port,
                       log_prefix=f"ai-sim-{self.name}")
        self.harness.procs.append(self.sim)

    def kill_adapter(self):
        """SIGKILL the adapter: its address refuses connections from now on."""
        self.adapter.channel.close()
        self.adapter.proc.send_signal(signal.SIGKILL)
        self.adapter.proc.wait(5)


class Stack:
    """ai-service on a registry of backends. .client is the official openai SDK client."""

    def __init__(self, harness, svc, backends, models_path):
        self.harness, self.svc, self.backends, self.models_path = harness, svc, backends, models_path
        self.url = svc.url
        self.client = openai.OpenAI(base_url=self.url + "/v1", api_key="unused", max_retries=0, timeout=TIMEOUT)
        self._channel = None
        self.pb, self.pbg = harness.pb

    def __getitem__(self, name):
        return self.backends[name]

    # gRPC
    @property
    def stub(self):
        if self._channel is None:
            self._channel = grpc.insecure_channel(f"127.0.0.1:{self.svc.grpc_port}")
            grpc.channel_ready_future(self._channel).result(timeout=5)
        return self.pbg.InferenceStub(self._channel)

    @property
    def channel(self):
        self.stub  # noqa: B018 - creates it
        return self._channel

    def greq(self, messages=None, prompt=None, **kw):
        msgs = [self.pb.ChatMessage(role=m["role"], content=m["content"]) for m in (messages or [])]
        return self.pb.GenerateRequest(messages=msgs, prompt=prompt or "", **kw)

    # HTTP
    def post(self, path, body, headers=None, timeout=TIMEOUT):
        return raw_request(self.url, "POST", path, body, headers, timeout)

    def stream(self, path, body, headers=None, timeout=TIMEOUT):
        return sse_request(self.url, path, body, headers, timeout)

    def models(self):
        status, body = get_json(self.url + "/v1/models", timeout=5)
        assert status == 200, body
        return {m["id"]: m for m in body["data"]}

    def backends_up(self, model):
        return self.models()[model]["backends_up"]

    def metrics(self):
        status, _, body = http("GET", self.url + "/metrics", timeout=5)
        assert status == 200
        return body.decode()

    def metric(self, name, **labels):
        return metric_value(self.metrics(), name, **labels)

    def backend_metric(self, name, b):
        """A per-backend metric of backend b (labelled with its registry name or its address)."""
        text = self.metrics()
        for label in (b.name, b.address):
            v = metric_value(text, name, backend=label)
            if v is not None:
                return v
        return None

    def circuit_state(self, b):
        """eco_ai_circuit_state of b: 0 closed, 1 open, 2 half-open."""
        return self.backend_metric("eco_ai_circuit_state", b)

    def health(self):
        return http("GET", self.url + "/health", timeout=3)[0]

    def assert_alive(self):
        assert self.svc.proc.poll() is None, f"ai-service exited: {self.svc.output()[-3000:]}"
        assert self.health() == 200

    def close(self):
        if self._channel is not None:
            self._channel.close()
        self.client.close()


def models_yaml(chat, embed, extra=""):
    def block(model_id, caps, ctx, backends, aliases=None):
        out = [f"  - id: {model_id}", "    owned_by: eco-test", f"    capabilities: [{', '.join(caps)}]",
               f"    context_length: {ctx}"]
        if aliases:
            out.append(f"    aliases: [{', '.join(aliases)}]")
        if backends:
            out.append("    backends:")
            for b in backends:
                out.append(f'      - {{name: {b.name}, address: "{b.address}", weight: {b.spec.weight}, '
                           f'tier: {b.spec.tier}}}')
        return "\n".join(out)

    return "\n".join([f"default: {CHAT}", "models:", block(CHAT, ["chat", "completion"], 4096, chat, [CHAT_ALIAS]),
                      block(EMBED, ["embedding"], 512, embed), extra]) + "\n"


class Harness:
    def __init__(self, pb, tmp_path, start_service=None):
        self.pb, self.tmp_path, self.start_service = pb, tmp_path, start_service
        self.procs, self.services, self.stacks = [], [], []

    def __call__(self, chat=None, embed=None, env=None, extra_models="", wait=True):
        """Starts backends and ai-service. chat/embed: lists of Spec (chat defaults to one
        vLLM-kind sim; embed to none). Backends are named a, b, c, ... (chat) and e0, e1, ...
        (embed) unless their Spec names them. wait: until /v1/models shows every `up` backend."""
        chat = [backend()] if chat is None else chat
        embed = embed or []
        backends, chat_b, embed_b = {}, [], []
        for i, spec in enumerate(chat):
            b = Backend(self, spec, spec.name or "abcdefgh"[i], CHAT)
            backends[b.name] = b
            chat_b.append(b)
        for i, spec in enumerate(embed):
            b = Backend(self, spec, spec.name or f"e{i}", EMBED)
            backends[b.name] = b
            embed_b.append(b)
        path = self.tmp_path / f"models-{len(self.stacks)}.yaml"
        path.write_text(models_yaml(chat_b, embed_b, extra_models))
        e = dict(AI_ENV, ECO_MODELS_FILE=str(path))
        e.update(env or {})
        svc = bind_retry(lambda: start_service("ai-service", e, self.start_service))
        self.services.append(svc)
        stack = Stack(self, svc, backends, path)
        self.stacks.append(stack)
        if wait:
            if any(b.spec.up and not b.spec.dead for b in backends.values()):
                svc.wait_ready(200, timeout=10)
            for model, bs in ((CHAT, chat_b), (EMBED, embed_b)):
                want = sum(1 for b in bs if b.spec.up and not b.spec.dead)
                if want:
                    wait_until(lambda m=model, w=want: stack.backends_up(m) == w, 10,
                               what=f"{model}: {want} backends up in /v1/models")
        return stack

    def close(self):
        errors = []
        for s in self.stacks:
            s.close()
        for svc in self.services:
            try:
                rc = svc.stop(timeout=15)
                if rc != 0:
                    errors.append(f"ai-service exited {rc} (log {svc.log_path}): {svc.output()[-2000:]}")
            except AssertionError as e:
                errors.append(f"{e} (log {svc.log_path})")
        for p in reversed(self.procs):
            try:
                p.stop()
            except AssertionError as e:
                errors.append(str(e))
        assert not errors, "\n".join(errors)


@pytest.fixture
def ai_stack(pb, tmp_path, start_service):
    """ai_stack(chat=[backend(...)], embed=[...], env={...}) -> Stack (see Harness.__call__)."""
    h = Harness(pb, tmp_path, start_service)
    yield h
    h.close()


@pytest.fixture(scope="module")
def module_harness(pb, tmp_path_factory):
    """The same factory for a module's shared stack (ai-service started directly)."""
    h = Harness(pb, tmp_path_factory.mktemp("ai"))
    yield h
    h.close()


# ---------------------------------------------------------------- HTTP, SSE, errors


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


def _conn(url, timeout):
    host, port = url.split("//", 1)[1].split(":")
    return httplib.HTTPConnection(host, int(port), timeout=timeout)


def _encode(body):
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    return json.dumps(body).encode()


def raw_request(url, method, path, body=None, headers=None, timeout=TIMEOUT):
    """Any bytes (or a JSON-able object) as the body; headers lower-cased in the answer."""
    conn = _conn(url, timeout)
    try:
        h = {"content-type": "application/json"}
        h.update(headers or {})
        conn.request(method, path, body=None if body is None else _encode(body), headers=h)
        r = conn.getresponse()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


class StreamResult:
    """An SSE answer: the data payloads, parsed; `done` when it ended with data: [DONE]."""

    def __init__(self, status, headers, events, body=b""):
        self.status, self.headers, self.events, self.body = status, headers, events, body
        self.done = bool(events) and events[-1] == "[DONE]"
        self.chunks = [json.loads(e) for e in events if e != "[DONE]"]
        errs = [c for c in self.chunks if "error" in c]
        self.error = errs[-1]["error"] if errs else None

    def __repr__(self):
        return f"<stream {self.status} events={self.events[:3]}...{self.events[-3:]} body={self.body[:300]!r}>"

    @property
    def content_chunks(self):
        return [c for c in self.chunks if "error" not in c and c.get("choices")]

    def text(self, index=0):
        out = []
        for c in self.content_chunks:
            for ch in c["choices"]:
                if ch.get("index", 0) == index:
                    out.append(ch["delta"].get("content") or "" if "delta" in ch else ch.get("text") or "")
        return "".join(out)

    @property
    def role_deltas(self):
        return [c for c in self.content_chunks if "role" in c["choices"][0].get("delta", {})]

    @property
    def finish_reasons(self):
        return [c["choices"][0]["finish_reason"] for c in self.content_chunks if c["choices"][0].get("finish_reason")]

    @property
    def usage(self):
        u = [c for c in self.chunks if c.get("usage")]
        return u[-1]["usage"] if u else None

    def check_chat(self, model=CHAT, usage=True):
        """The OpenAI chat stream shape of the contract; returns the text."""
        assert self.status == 200, self
        assert self.headers.get("content-type", "").startswith("text/event-stream"), self.headers
        assert self.error is None and self.done, self
        assert all(c["object"] == "chat.completion.chunk" for c in self.chunks), self.chunks[:2]
        assert len({c["id"] for c in self.chunks}) == 1 and self.chunks[0]["id"].startswith("chatcmpl-")
        assert all(c["model"] == model for c in self.chunks), {c["model"] for c in self.chunks}
        first = self.content_chunks[0]["choices"][0]
        assert first["delta"] == {"role": "assistant", "content": ""}, first
        assert len(self.role_deltas) == 1, self.role_deltas
        assert len(self.finish_reasons) == 1, self.finish_reasons
        last = self.content_chunks[-1]["choices"][0]
        assert last["finish_reason"] in ("stop", "length") and not last["delta"].get("content"), last
        if usage:
            tail = self.chunks[-1]
            assert tail["choices"] == [] and tail["usage"], tail
            u = tail["usage"]
            assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], u
            assert isinstance(tail.get("eco_overhead_us"), int) and tail["eco_overhead_us"] >= 0, tail
        return self.text()


def sse_request(url, path, body, headers=None, timeout=TIMEOUT):
    """POSTs and reads an SSE answer to its end (EOF); each socket read bounded by timeout."""
    conn = _conn(url, timeout)
    try:
        h = {"content-type": "application/json", "accept": "text/event-stream"}
        h.update(headers or {})
        conn.request("POST", path, body=_encode(body), headers=h)
        r = conn.getresponse()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if r.status != 200 or not hdrs.get("content-type", "").startswith("text/event-stream"):
            return StreamResult(r.status, hdrs, [], r.read())
        events, data = [], []
        while True:
            line = r.readline()
            if not line:
                break
            line = line.rstrip(b"\r\n")
            if not line:
                if data:
                    events.append("\n".join(data))
                    data = []
                continue
            if line.startswith(b":"):
                continue
            if line.startswith(b"data:"):
                data.append(line[5:].lstrip(b" ").decode())
        if data:
            events.append("\n".join(data))
        return StreamResult(r.status, hdrs, events)
    finally:
        conn.close()


def error_of(resp, status, param="__any__", code="__any__", type_=None):
    """Checks an OpenAI error answer ({"error":{message,type,param,code}}); returns the error."""
    assert resp.status == status, resp
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    body = resp.json
    assert set(body) == {"error"}, body
    err = body["error"]
    assert {"message", "type", "param", "code"} <= set(err), err
    assert isinstance(err["message"], str) and err["message"], err
    if param != "__any__":
        assert err["param"] == param, err
    if code != "__any__":
        assert err["code"] == code, err
    if type_:
        assert err["type"] == type_, err
    elif status == 400:
        assert err["type"] == "invalid_request_error", err
    return err


def chat_body(messages=None, model=CHAT, **kw):
    b = {"model": model, "messages": messages or MSGS, "max_tokens": 24, "seed": 7}
    b.update(kw)
    return b


def stream_chat(stack, headers=None, timeout=TIMEOUT, **kw):
    body = chat_body(stream=True, stream_options={"include_usage": True}, **kw)
    return stack.stream("/v1/chat/completions", body, headers, timeout)


# ---------------------------------------------------------------- the engine's own answers


def engine_chat(b, messages=None, max_tokens=24, seed=7, **extra):
    """What the engine itself answers (no fault: a fresh sim of the same kind, no flags; the sim's
    output is a function of messages, seed and max_tokens only): (content, completion_tokens,
    finish_reason)."""
    return _engine(b, "/v1/chat/completions", dict(extra, messages=messages or MSGS), max_tokens, seed,
                   lambda c: c["message"]["content"])


def engine_completion(b, prompt, max_tokens=24, seed=7, **extra):
    return _engine(b, "/v1/completions", dict(extra, prompt=prompt), max_tokens, seed, lambda c: c["text"])


_reference_sims = {}
OUTPUT_FLAGS = {"--min-output-tokens", "--max-output-tokens", "--max-model-len", "--embedding-dim"}


def _engine(b, path, body, max_tokens, seed, pick):
    kind, model = b.spec.kind, b.model
    out = []  # the flags that shape the output, taken over from the backend
    for i, f in enumerate(b.spec.flags[:-1]):
        if f in OUTPUT_FLAGS:
            out += [f, b.spec.flags[i + 1]]
    key = (kind, model, tuple(out))
    sim = _reference_sims.get(key)
    if sim is None or sim.proc.poll() is not None:
        sim = Sim(kind, "--model", model, *out, log_prefix="ai-ref")
        _reference_sims[key] = sim
    req = dict(body, model=model, max_tokens=max_tokens, seed=seed)
    status, _, raw = http("POST", sim.url + path, req, {"content-type": "application/json"}, timeout=TIMEOUT)
    assert status == 200, raw
    ans = json.loads(raw)
    return pick(ans["choices"][0]), ans["usage"]["completion_tokens"], ans["choices"][0]["finish_reason"]


@pytest.fixture(scope="session", autouse=True)
def _stop_reference_sims():
    yield
    for s in _reference_sims.values():
        s.stop()


# ---------------------------------------------------------------- metrics and vectors


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metric_value(text, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`; None when there is none."""
    total, seen = 0.0, False
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if not m or m.group(1) != name:
            continue
        ls = dict(_LABEL.findall(m.group(2) or ""))
        if all(ls.get(k) == str(v) for k, v in labels.items()):
            total += float(m.group(3))
            seen = True
    return total if seen else None


def metric_series(text, name):
    """[(labels, value)] of one metric."""
    out = []
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m and m.group(1) == name:
            out.append((dict(_LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return out


def norm(v):
    return math.sqrt(sum(x * x for x in v))


def unit(v):
    n = norm(v)
    return [x / n for x in v]


def b64_floats(s):
    raw = base64.b64decode(s)
    assert len(raw) % 4 == 0
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def close(a, b, tol=1e-5):
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b))


def elapsed(t0):
    return time.monotonic() - t0


def port_refuses(address):
    host, port = address.split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5):
            return False
    except OSError:
        return True
