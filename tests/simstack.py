"""engine-sim processes and engine-adapters in front of them, shared by the adapter tests
(tests/adapter) and the ai-service tests (tests/ai): each on free loopback ports, stopped by its
owner at teardown."""
import os
import pathlib
import socket
import subprocess
import time

import grpc

from ecotest import BIN, PLAIN_BIN, Service, free_port, get_json, http, terminate

RPC_TIMEOUT = 10


class Exited(AssertionError):
    """The process ended while we waited for it to come up (its output tail in the message)."""


def wait_started(proc, ready, output, timeout, what):
    """Waits for ready() like ecotest.wait_until, but fails at once if the process exits."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise Exited(f"{what} exited {proc.returncode}: {output()[-2000:]}")
        try:
            if ready():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()  # nobody would stop it: the caller never gets the object
            proc.wait(5)
            raise AssertionError(f"timed out after {timeout}s waiting for {what}: {output()[-2000:]}")
        time.sleep(0.05)


def start_service(name, env=None, start=None, timeout=15):
    """An ecotest.Service (or what start(name, env, wait_health=False) returns, e.g. the
    start_service fixture) waited for with wait_started: a process that cannot start (e.g. its
    port was taken) fails at once instead of after the whole timeout."""
    svc = (start or Service)(name, env, wait_health=False)
    wait_started(svc.proc, lambda: http("GET", svc.url + "/health", timeout=1)[0] == 200, svc.output, timeout,
                 f"{name} /health")
    return svc


def sim_bin():
    b = BIN / "engine-sim"
    return b if b.exists() else PLAIN_BIN / "engine-sim"


class Sim:
    """One engine-sim process (the engine behind an adapter). `port` reuses a port, e.g. to
    restart an engine where its adapter expects it."""

    def __init__(self, kind, *args, listen=True, port=None, log_prefix="adapter-sim"):
        self.kind = kind
        self.args = tuple(map(str, args))
        self.port = port or free_port()
        run_dir = pathlib.Path(os.environ.get("ECO_TEST_RUN_DIR", "/tmp"))
        self.log_path = run_dir / f"{log_prefix}-{kind}-{self.port}.log"
        self.log = open(self.log_path, "ab")
        cmd = [str(sim_bin()), "--kind", kind, "--port", str(self.port), "--bind", "127.0.0.1", *self.args]
        env = dict(os.environ, ECO_SHUTDOWN_GRACE_MS="1000")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.url = f"http://127.0.0.1:{self.port}"
        if listen:
            wait_started(self.proc, self._listening, self.output, 10, f"engine-sim {kind} listening")

    def _listening(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stats(self):
        status, body = get_json(self.url + "/sim/stats", timeout=3)
        assert status == 200, body
        return body

    def reset(self):
        status, _, body = http("POST", self.url + "/sim/reset", b"", timeout=3)
        assert status == 200, body

    def output(self):
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self):
        terminate(self.proc, 10)
        self.log.close()
        return self.proc.returncode


class Adapter(Service):
    """engine-adapter in front of one sim, with a gRPC stub (pb: the eco.ai.v1 stubs)."""

    def __init__(self, pb, kind, engine_url, env=None):
        e = {"ECO_ENGINE_KIND": kind, "ECO_ENGINE_URL": engine_url, "ECO_ENGINE_FORWARD_METADATA": "x-sim-fault",
             "ECO_ENGINE_SCRAPE_INTERVAL_MS": "200", "ECO_SHUTDOWN_GRACE_MS": "3000"}
        e.update(env or {})
        super().__init__("engine-adapter", e, wait_health=False)
        wait_started(self.proc, lambda: http("GET", self.url + "/health", timeout=1)[0] == 200, self.output, 15,
                     "engine-adapter /health")
        self.pb, self.pbg = pb
        self.address = f"127.0.0.1:{self.grpc_port}"
        self.channel = grpc.insecure_channel(self.address)
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
