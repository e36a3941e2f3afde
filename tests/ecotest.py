"""Shared helpers for eco-base black-box tests: start real binaries on free loopback ports,
talk HTTP to them, and control the test dependencies (PostgreSQL, Redis, Kafka) through ecoctl."""
import importlib
import json
import os
import sys
import pathlib
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(os.environ.get("ECO_BIN_DIR", ROOT / "build" / "bin"))
PLAIN_BIN = ROOT / "build" / "bin"


_PORTS = (21000, 32000)  # below Linux's ephemeral range: outgoing connections never take these
_next_port = [None]


def free_port():
    """A loopback port that binds now and that this process has not handed out before (ports
    are taken in turn from a per-process starting point, so two servers of one test run never
    get the same port, and no client connection's ephemeral port can collide with it)."""
    lo, hi = _PORTS
    if _next_port[0] is None:
        _next_port[0] = lo + (os.getpid() * 7919) % (hi - lo)
    for _ in range(hi - lo):
        p = _next_port[0]
        _next_port[0] = lo + (p + 1 - lo) % (hi - lo)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                continue
            return p
    raise AssertionError("no free loopback port in %d-%d" % _PORTS)


def http(method, url, body=None, headers=None, timeout=10):
    """Returns (status, headers, body bytes); never raises for HTTP error statuses."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def get_json(url, timeout=10):
    status, _, body = http("GET", url, timeout=timeout)
    return status, json.loads(body) if body else None


def wait_until(fn, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last={last!r}")


def terminate(proc, timeout, sig=signal.SIGTERM):
    """Sends sig to a running process and waits; kills it after timeout s. True if it exited in time."""
    if proc.poll() is not None:
        return True
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        return False


class Service:
    """One real service binary on free ports, stopped (SIGTERM) at teardown."""

    def __init__(self, name, env=None, args=(), wait_health=True, bin_dir=None):
        self.name = name
        self.http_port = free_port()
        self.grpc_port = free_port()
        self.env = dict(os.environ)
        self.env.update({
            "ECO_HTTP_PORT": str(self.http_port),
            "ECO_GRPC_PORT": str(self.grpc_port),
            "ECO_BIND_ADDR": "127.0.0.1",
            "ECO_READY_INTERVAL_MS": "200",
            "ECO_LOG_LEVEL": "info",
        })
        self.env.update(env or {})
        self.log_path = pathlib.Path(os.environ.get("ECO_TEST_RUN_DIR", "/tmp")) / f"{name}-{self.http_port}.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([str((bin_dir or BIN) / name), *args], env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.http_port}"
        if wait_health:
            wait_until(self._healthy, 15, what=f"{name} /health")

    def _healthy(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.output()[-2000:]}")
        return http("GET", self.url + "/health", timeout=1)[0] == 200

    def get(self, path, **kw):
        return http("GET", self.url + path, **kw)

    def ready(self):
        status, body = get_json(self.url + "/ready", timeout=3)
        return status, body

    def wait_ready(self, status, timeout=15, state=None):
        def check():
            s, body = self.ready()
            return (s == status and (state is None or body["status"] == state)) and (s, body)
        return wait_until(check, timeout, what=f"{self.name} /ready == {status} {state or ''}")

    def output(self):
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if not terminate(self.proc, timeout, sig):
            raise AssertionError(f"{self.name} did not exit within {timeout}s of {sig}")
        self.log.close()
        return self.proc.returncode


class Deps:
    """The test dependencies started by tests/run.sh with ecoctl (real servers)."""

    def __init__(self):
        self.offset = int(os.environ.get("ECO_TEST_PORT_OFFSET", "11000"))
        self.run_dir = os.environ.get("ECO_TEST_RUN_DIR")
        self.postgres_url = os.environ.get("ECO_TEST_POSTGRES_URL")
        self.redis_url = os.environ.get("ECO_TEST_REDIS_URL")
        self.kafka_brokers = os.environ.get("ECO_TEST_KAFKA_BROKERS")
        if not (self.run_dir and self.postgres_url and self.redis_url and self.kafka_brokers):
            raise AssertionError("test dependencies are not running: run these tests through `make test` "
                                 "(tests/run.sh starts PostgreSQL, Redis and Kafka)")

    def ecoctl(self, *args, timeout=120):
        cmd = [str(PLAIN_BIN / "ecoctl"), "--root", str(ROOT), "--run-dir", self.run_dir,
               "--port-offset", str(self.offset), "--bin-dir", str(BIN), *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, f"ecoctl {' '.join(args)} failed: {r.stdout}\n{r.stderr}"
        return r.stdout

    def stop(self, name):
        self.ecoctl("down", name)

    def start(self, name):
        self.ecoctl("up", name)

    def env(self):
        return {"ECO_POSTGRES_URL": self.postgres_url, "ECO_REDIS_URL": self.redis_url,
                "ECO_KAFKA_BROKERS": self.kafka_brokers}


_stubs_dir = [None]


def _stubs(out):
    """Generates the Python modules of proto/ (messages and gRPC stubs) once per process, into the
    first directory asked for: every later caller imports the same `eco` package."""
    if _stubs_dir[0] is None:
        from grpc_tools import protoc
        rc = protoc.main(["protoc", f"-I{ROOT / 'proto'}", f"--python_out={out}", f"--grpc_python_out={out}",
                          str(ROOT / "proto/eco/ai/v1/inference.proto"), str(ROOT / "proto/eco/jobs/v1/jobs.proto"),
                          str(ROOT / "proto/eco/index/v1/index.proto")])
        assert rc == 0, "protoc failed"
        for d in ("eco", "eco/ai", "eco/ai/v1", "eco/jobs", "eco/jobs/v1", "eco/index", "eco/index/v1"):
            (pathlib.Path(out) / d / "__init__.py").touch()
        _stubs_dir[0] = str(out)
    return _stubs_dir[0]


def _import_stubs(out, *modules):
    d = _stubs(out)
    sys.path.insert(0, d)
    try:
        return tuple(importlib.import_module(m) for m in modules)
    finally:
        sys.path.remove(d)


def inference_stubs(out):
    """(inference_pb2, inference_pb2_grpc) for eco.ai.v1, generated from proto/ with grpcio-tools
    (outside clients are compiled from the same file)."""
    return _import_stubs(out, "eco.ai.v1.inference_pb2", "eco.ai.v1.inference_pb2_grpc")


def jobs_stubs(out):
    """jobs_pb2: the eco.jobs.v1 messages (Kafka payloads JobRequested, JobEvent)."""
    return _import_stubs(out, "eco.jobs.v1.jobs_pb2")[0]


def index_stubs(out):
    """(index_pb2, index_pb2_grpc) for eco.index.v1 (index-service's gRPC API)."""
    return _import_stubs(out, "eco.index.v1.index_pb2", "eco.index.v1.index_pb2_grpc")
