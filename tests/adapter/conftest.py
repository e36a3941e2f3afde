"""Harness for engine-adapter tests: gRPC stubs generated from proto/ at test time, and a
factory that starts an engine-sim of one kind plus an engine-adapter in front of it, both on
free loopback ports and stopped at teardown (also when a test fails)."""
import os
import pathlib
import socket
import subprocess
import time

import grpc
import pytest

from ecotest import BIN, PLAIN_BIN, ROOT, Service, free_port, get_json, http, wait_until

KINDS = ["vllm", "tgi", "ollama", "sglang", "trtllm", "triton", "mii", "lmdeploy", "llamacpp", "openai"]
EMBEDDING_KINDS = {"vllm", "openai", "ollama", "llamacpp"}
CONTINUATION_KINDS = {"vllm", "llamacpp", "triton"}
METRICS_KINDS = {"vllm", "tgi", "sglang", "trtllm", "triton", "lmdeploy", "llamacpp"}
SEEDLESS_KINDS = {"mii"}  # DeepSpeed-MII's server takes no seed: the adapter leaves it out
RPC_TIMEOUT = 10


def sim_bin():
    b = BIN / "engine-sim"
    return b if b.exists() else PLAIN_BIN / "engine-sim"


class Sim:
    """One engine-sim process (the engine behind the adapter)."""

    def __init__(self, kind, *args, listen=True):
        self.kind = kind
        self.port = free_port()
        run_dir = pathlib.Path(os.environ.get("ECO_TEST_RUN_DIR", "/tmp"))
        self.log_path = run_dir / f"adapter-sim-{kind}-{self.port}.log"
        self.log = open(self.log_path, "wb")
        cmd = [str(sim_bin()), "--kind", kind, "--port", str(self.port), "--bind", "127.0.0.1", *map(str, args)]
        env = dict(os.environ, ECO_SHUTDOWN_GRACE_MS="1000")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.url = f"http://127.0.0.1:{self.port}"
        if listen:
            wait_until(self._listening, 10, what=f"engine-sim {kind} listening")

    def _listening(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"engine-sim exited {self.proc.returncode}: {self.output()[-1500:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stats(self):
        status, body = get_json(self.url + "/sim/stats", timeout=3)
        assert status == 200, body
        return body

    def output(self):
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


class Adapter(Service):
    """engine-adapter in front of one sim, with a gRPC stub."""

    def __init__(self, pb, kind, engine_url, env=None):
        e = {"ECO_ENGINE_KIND": kind, "ECO_ENGINE_URL": engine_url, "ECO_ENGINE_FORWARD_METADATA": "x-sim-fault",
             "ECO_ENGINE_SCRAPE_INTERVAL_MS": "200", "ECO_SHUTDOWN_GRACE_MS": "3000"}
        e.update(env or {})
        super().__init__("engine-adapter", e)
        self.pb, self.pbg = pb
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}")
        self.stub = self.pbg.InferenceStub(self.channel)

    def req(self, messages=None, prompt=None, **kw):
        msgs = [self.pb.ChatMessage(role=r, content=c) for r, c in (messages or [])]
        return self.pb.GenerateRequest(messages=msgs, prompt=prompt or "", **kw)

    def unary(self, request, fault=None, timeout=RPC_TIMEOUT, **kw):
        md = [("x-sim-fault", fault)] if fault else None
        return self.stub.GenerateCompletion(request, timeout=timeout, metadata=md, **kw)

    def stream(self, request, fault=None, timeout=RPC_TIMEOUT):
        md = [("x-sim-fault", fault)] if fault else None
        return self.stub.StreamCompletion(request, timeout=timeout, metadata=md)

    def collect(self, request, **kw):
        """(text, chunks) of a whole stream."""
        chunks = list(self.stream(request, **kw))
        return "".join(c.delta for c in chunks), chunks

    def metrics(self):
        status, _, body = http("GET", self.url + "/metrics", timeout=5)
        assert status == 200
        return body.decode()

    def stop(self, *a, **kw):
        self.channel.close()
        return super().stop(*a, **kw)


@pytest.fixture
def stack(pb):
    """stack(kind, *sim_flags, env={...}, ready=True, listen=True) -> (sim, adapter)."""
    started = []

    def start(kind, *sim_args, env=None, ready=True, listen=True):
        sim = Sim(kind, *sim_args, listen=listen)
        started.append(sim)
        adapter = Adapter(pb, kind, sim.url, env)
        started.append(adapter)
        if ready:
            adapter.wait_ready(200, timeout=15)
        return sim, adapter

    yield start
    errors = []
    for p in reversed(started):
        try:
            rc = p.stop()
            if isinstance(p, Adapter) and rc != 0:
                errors.append(f"engine-adapter exited {rc}: {p.output()[-2000:]}")
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


def rpc_error(fn, *a, **kw):
    """Runs a call that must fail; returns the grpc.RpcError."""
    with pytest.raises(grpc.RpcError) as e:
        r = fn(*a, **kw)
        if hasattr(r, "__iter__") and not isinstance(r, (str, bytes)):
            for _ in r:
                pass
    return e.value


def trailing(err):
    return dict(err.trailing_metadata() or ())


def wait_stats(sim, key, want, timeout=5):
    return wait_until(lambda: sim.stats()[key] >= want and sim.stats(), timeout, what=f"sim {key} >= {want}")


def now():
    return time.monotonic()
