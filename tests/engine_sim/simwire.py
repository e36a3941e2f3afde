"""Harness for engine-sim wire tests: start the real binary on a free loopback port, talk raw
HTTP/1.1 to it (so framing, chunked termination and abrupt closes are visible byte for byte),
parse SSE/NDJSON frames, and compare JSON shapes with the hand-written fixtures."""
import json
import os
import pathlib
import signal
import socket
import subprocess
import time

from ecotest import BIN, free_port

HERE = pathlib.Path(__file__).resolve().parent
# AddressSanitizer / LeakSanitizer reports start with "==PID==ERROR:"; UBSan with "file:line:col: runtime error:".
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "WARNING: AddressSanitizer")
KINDS = ["vllm", "tgi", "ollama", "sglang", "trtllm", "triton", "mii", "lmdeploy", "llamacpp", "openai"]


def fixture(name):
    with open(HERE / "fixtures" / f"{name}.json") as f:
        return json.load(f)


class Sim:
    """One engine-sim process; stop() (or the pytest fixture) ends it with SIGTERM."""

    def __init__(self, kind, *args, wait=True):
        self.kind = kind
        self.port = free_port()
        run_dir = pathlib.Path(os.environ.get("ECO_TEST_RUN_DIR", "/tmp"))
        self.log_path = run_dir / f"engine-sim-{kind}-{self.port}.log"
        open(self.log_path, "wb").close()
        self.log = open(self.log_path, "ab")  # O_APPEND: the process's stdout and stderr never overwrite each other
        cmd = [str(BIN / "engine-sim"), "--kind", kind, "--port", str(self.port), "--bind", "127.0.0.1", *map(str, args)]
        env = dict(os.environ, ECO_SHUTDOWN_GRACE_MS="2000")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        if wait:
            try:
                self.wait_listening()
            except BaseException:
                self.kill()
                raise

    def wait_listening(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"engine-sim exited with {self.proc.returncode}: {self.output()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        raise AssertionError(f"engine-sim --kind {self.kind} did not listen within {timeout}s")

    def output(self):
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def sanitizer_report(self):
        """The first lines of an ASan/LSan/UBSan report in the process output, or None."""
        out = self.output()
        for marker in SANITIZER_MARKERS:
            at = out.find(marker)
            if at >= 0:
                return out[max(0, out.rfind("\n", 0, at)):][:3000]
        return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.log.close()

    def stop(self, timeout=10):
        """SIGTERM, wait, and return the exit code; fails on a hang or a sanitizer report."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError(f"engine-sim did not exit within {timeout}s of SIGTERM")
        self.log.close()
        report = self.sanitizer_report()
        assert report is None, f"engine-sim --kind {self.kind} sanitizer report:\n{report}"
        return self.proc.returncode

    # -- HTTP helpers --
    def req(self, method, path, body=None, headers=None, timeout=10):
        return request(self.port, method, path, body, headers, timeout)

    def post(self, path, body, headers=None, timeout=10):
        return request(self.port, "POST", path, body, headers, timeout)

    def get(self, path, timeout=10):
        return request(self.port, "GET", path, None, None, timeout)

    def stats(self):
        r = self.get("/sim/stats")
        assert r.status == 200, r
        return r.json()


class Resp:
    def __init__(self):
        self.status = 0
        self.headers = {}
        self.body = b""
        self.complete = False  # the body ended properly (last chunk / full content-length)
        self.timed_out = False  # no byte arrived within the read timeout
        self.eof = False  # the server closed the connection

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode()

    def __repr__(self):
        return f"<Resp {self.status} complete={self.complete} timed_out={self.timed_out} body={self.body[:300]!r}>"


class RawConn:
    """An HTTP/1.1 request on its own connection, read incrementally (chunked aware). The
    response head is read by read_head() or the first read_*() call, so a request whose answer
    is delayed (queued, unary before its first token) can be opened without blocking."""

    def __init__(self, port, method, path, body=None, headers=None, timeout=10):
        data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs = {"Host": f"127.0.0.1:{port}", "Connection": "close"}
        if body is not None:
            hdrs["Content-Type"] = "application/json"
            hdrs["Content-Length"] = str(len(data))
        hdrs.update(headers or {})
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.settimeout(timeout)
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        self.sock.sendall(head.encode() + data)
        self.buf = b""
        self.resp = Resp()
        self.head_read = False

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            self.resp.timed_out = True
            return False
        except ConnectionResetError:
            self.resp.eof = True
            return False
        if not chunk:
            self.resp.eof = True
            return False
        self.buf += chunk
        return True

    def read_head(self):
        """Reads the status line and headers (once); ConnectionError if they do not arrive."""
        if self.head_read:
            return self.resp
        while b"\r\n\r\n" not in self.buf:
            if not self._fill():
                raise ConnectionError(f"no response head (timed_out={self.resp.timed_out}): {self.buf!r}")
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.resp.status = int(lines[0].split()[1])
        for line in lines[1:]:
            k, v = line.split(":", 1)
            self.resp.headers[k.strip().lower()] = v.strip()
        self.chunked = self.resp.headers.get("transfer-encoding", "").lower() == "chunked"
        self.length = int(self.resp.headers["content-length"]) if "content-length" in self.resp.headers else None
        self.done = False
        self.head_read = True
        return self.resp

    def read_some(self):
        """Appends newly arrived body bytes to resp.body; False when nothing more will come."""
        self.read_head()
        if self.done:
            return False
        if self.chunked:
            while True:
                if b"\r\n" not in self.buf:
                    if not self._fill():
                        return False
                    continue
                size_line, rest = self.buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                if len(rest) < size + 2:
                    if not self._fill():
                        return False
                    continue
                if size == 0:
                    self.done = self.resp.complete = True
                    return False
                assert rest[size:size + 2] == b"\r\n", f"bad chunk trailer {rest[size:size + 8]!r}"
                self.resp.body += rest[:size]
                self.buf = rest[size + 2:]
                return True
        if self.length is not None:
            if len(self.resp.body) + len(self.buf) >= self.length:
                self.resp.body += self.buf[: self.length - len(self.resp.body)]
                self.buf = b""
                self.done = self.resp.complete = True
                return False
            self.resp.body += self.buf
            self.buf = b""
            return self._fill() or bool(self.buf)
        self.resp.body += self.buf
        self.buf = b""
        if not self._fill():
            self.done = True
            self.resp.complete = self.resp.eof
            return False
        return True

    def read_all(self):
        while self.read_some():
            pass
        return self.resp

    def read_until(self, pred, timeout=5):
        deadline = time.monotonic() + timeout
        while not pred(self.resp.body):
            if time.monotonic() > deadline or not self.read_some():
                break
        return pred(self.resp.body)

    def close(self):
        self.sock.close()


def request(port, method, path, body=None, headers=None, timeout=10):
    c = RawConn(port, method, path, body, headers, timeout)
    try:
        return c.read_all()
    finally:
        c.close()


def sse_events(body: bytes, prefix="data: "):
    """Splits an SSE body into events; returns a list of (field, value) with comments as (":", text).
    Fails if a data line does not use exactly the expected prefix."""
    out = []
    text = body.decode()
    for block in text.split("\n\n"):
        if not block:
            continue
        for line in block.split("\n"):
            if line.startswith(":"):
                out.append((":", line[1:]))
            elif line.startswith("data:"):
                assert line.startswith(prefix), f"expected {prefix!r} framing, got {line[:40]!r}"
                if prefix == "data:":
                    assert not line.startswith("data: "), f"TGI framing has no space after the colon: {line[:40]!r}"
                out.append(("data", line[len(prefix):]))
            elif line.startswith("error:"):
                out.append(("error", line[6:].strip()))
            else:
                raise AssertionError(f"unexpected SSE line {line[:60]!r}")
    assert text.endswith("\n\n") or not text, f"SSE body must end with a blank line: {text[-40:]!r}"
    return out


def data_json(events):
    return [json.loads(v) for f, v in events if f == "data" and v != "[DONE]"]


def ndjson(body: bytes):
    text = body.decode()
    assert text.endswith("\n"), "NDJSON lines end with a newline"
    return [json.loads(line) for line in text.split("\n") if line]


def shape_errors(expected, actual, path="$"):
    """Every key of the fixture must be present with the same JSON type; null in the fixture
    means "present, any value"; a non-empty fixture list describes every element."""
    if expected is None:
        return []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, got {type(actual).__name__}"]
        errs = []
        for k, v in expected.items():
            if k.startswith("_"):
                continue
            if k not in actual:
                errs.append(f"{path}.{k}: missing")
            else:
                errs += shape_errors(v, actual[k], f"{path}.{k}")
        return errs
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list, got {type(actual).__name__}"]
        if expected and not actual:
            return [f"{path}: expected a non-empty list"]
        errs = []
        for i, a in enumerate(actual if expected else []):
            errs += shape_errors(expected[0], a, f"{path}[{i}]")
        return errs
    if isinstance(expected, bool):
        return [] if isinstance(actual, bool) else [f"{path}: expected a boolean, got {actual!r}"]
    if isinstance(expected, (int, float)):
        ok = isinstance(actual, (int, float)) and not isinstance(actual, bool)
        return [] if ok else [f"{path}: expected a number, got {actual!r}"]
    if isinstance(expected, str):
        return [] if isinstance(actual, str) else [f"{path}: expected a string, got {actual!r}"]
    return [f"{path}: unsupported fixture value {expected!r}"]


def assert_shape(expected, actual):
    errs = shape_errors(expected, actual)
    assert not errs, "shape mismatch:\n  " + "\n  ".join(errs) + f"\nactual: {json.dumps(actual)[:800]}"


def metric_names(text):
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            names.add(line.split()[2])
        elif line and not line.startswith("#"):
            names.add(line.split("{")[0].split()[0])
    return names


def metric_value(text, name, **labels):
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, value = line.rsplit(" ", 1)
        if series.split("{")[0] != name:
            continue
        if all(f'{k}="{v}"' in series for k, v in labels.items()):
            return float(value)
    raise AssertionError(f"no sample {name}{labels} in metrics")
