"""Integration tests for ecoctl, driving the real binary against small manifests of fake services
(sh, sleep, python3 -m http.server) written to temporary directories, plus one test (marked
`deps`) that starts the real PostgreSQL, Redis and Kafka from deploy/local/services.yaml.

Every ecoctl call has a timeout. Every process a test starts carries a random token in its
environment; the `stacks` fixture stops them and fails the test if any such process is left.
"""
import json
import os
import pathlib
import pwd
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
import uuid

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN_DIR = pathlib.Path(os.environ.get("ECO_BIN_DIR") or REPO / "build" / "bin")
ECOCTL = BIN_DIR / "ecoctl"
SCRUB = ("ECO_ROOT", "ECO_RUN_DIR", "ECO_PORT_OFFSET", "ECO_SERVICES_FILE", "ECO_BIN_DIR", "NO_COLOR")


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) != 0


def free_base(count, lo=21000, hi=30000):
    """A random port p with p..p+count-1 all free."""
    for _ in range(200):
        base = random.randrange(lo, hi)
        if all(port_free(base + i) for i in range(count)):
            return base
    raise AssertionError("no free port range")


def wait_until(fn, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if fn():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def pid_alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def processes_matching(token=None, paths=()):
    """Live processes whose environment holds token, or whose cwd or command line is under one of paths."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        pid = int(entry)
        try:
            hit = False
            if token:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    hit = token.encode() in f.read()
            if not hit and paths:
                cwd = os.readlink(f"/proc/{pid}/cwd")
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
                hit = any(cwd.startswith(str(p)) or str(p) in cmd for p in paths)
            if hit and pid_alive(pid):
                found.append(pid)
        except (FileNotFoundError, ProcessLookupError, PermissionError, OSError):
            continue
    return found


def describe(pids):
    out = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            out.append(f"{pid}: {cmd}")
        except OSError:
            pass
    return "; ".join(out)


class Stack:
    """One ecoctl run dir + manifest; every process started from it carries self.token."""

    def __init__(self, base, manifest, offset=0, name="stack"):
        self.dir = base / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.run_dir = self.dir / "run"
        self.manifest = self.dir / "services.yaml"
        self.offset = offset
        self.token = f"ecoctl-test-{uuid.uuid4().hex}"
        self.env = {k: v for k, v in os.environ.items() if k not in SCRUB}
        self.env.update(ECOCTL_TEST_TOKEN=self.token, NO_COLOR="1")
        self.write(manifest)

    def write(self, manifest):
        self.manifest.write_text(manifest if isinstance(manifest, str) else json.dumps(manifest, indent=1))

    def args(self):
        return [str(ECOCTL), "-f", str(self.manifest), "--root", str(self.dir), "--run-dir", str(self.run_dir),
                "--port-offset", str(self.offset)]

    def ecoctl(self, *args, timeout=60, expect=None):
        r = subprocess.run(self.args() + list(args), capture_output=True, text=True, timeout=timeout,
                           env=self.env, stdin=subprocess.DEVNULL)
        if expect is not None:
            assert r.returncode == expect, (f"ecoctl {' '.join(args)}: exit {r.returncode}, want {expect}\n"
                                            f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        return r

    def popen(self, *args):
        return subprocess.Popen(self.args() + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                env=self.env, stdin=subprocess.DEVNULL, start_new_session=True)

    def procs(self):
        return processes_matching(self.token)

    def pidfile(self, svc):
        return self.run_dir / "pids" / f"{svc}.pid"

    def pid(self, svc):
        return int(self.pidfile(svc).read_text().split()[0])

    def log(self, svc):
        return (self.run_dir / "logs" / f"{svc}.log").read_text()

    def status(self):
        """{name: (pid, state, ports, health)} from `ecoctl status`."""
        r = self.ecoctl("status", expect=0)
        rows = {}
        for line in r.stdout.splitlines()[1:]:
            parts = line.split(None, 4)
            rows[parts[0]] = tuple(parts[1:4]) + ((parts[4] if len(parts) > 4 else ""),)
        return rows


@pytest.fixture
def stacks(tmp_path):
    """Factory for stacks; at teardown: `down`, then fail if any of their processes survived."""
    made = []

    def make(manifest, offset=0, name=None):
        s = Stack(tmp_path, manifest, offset, name or f"stack{len(made)}")
        made.append(s)
        return s

    yield make
    leftovers = []
    for s in made:
        try:
            s.ecoctl("down", timeout=90)
        except subprocess.TimeoutExpired:
            pass
        left = s.procs()
        if left:
            leftovers.append(describe(left))
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
    assert not leftovers, f"processes left behind: {leftovers}"


def recorder(name, events, extra=""):
    """A service that appends 'start NAME' and, on SIGTERM, 'stop NAME' to the events file."""
    return ["sh", "-c", f'trap "echo stop {name} >> {events}; exit 0" TERM; echo start {name} >> {events}; '
                        f'{extra}while :; do sleep 0.1; done']


def recorded(events, name, deps=(), **kw):
    svc = {"command": recorder(name, events), "depends_on": list(deps),
           "health": {"cmd": ["grep", "-qx", f"start {name}", str(events)], "interval_ms": 20},
           "stop_grace_ms": 5000}
    svc.update(kw)
    return svc


def events_of(path):
    return path.read_text().split("\n")[:-1] if path.exists() else []


# ------------------------------------------------------------------------------------------ order


def test_start_order_then_reverse_stop_order(stacks, tmp_path):
    ev = tmp_path / "events"
    st = stacks({"services": {
        "web": recorded(ev, "web", ["api", "db"]),
        "api": recorded(ev, "api", ["db", "cache"]),
        "db": recorded(ev, "db"),
        "cache": recorded(ev, "cache"),
        "worker": recorded(ev, "worker", ["db"]),
    }})
    r = st.ecoctl("up", expect=0)
    assert events_of(ev) == ["start db", "start cache", "start api", "start web", "start worker"], r.stdout
    rows = st.status()
    assert {n: row[1] for n, row in rows.items()} == dict.fromkeys(["db", "cache", "api", "web", "worker"], "running")
    assert all(row[3] == "healthy" for row in rows.values()), rows
    st.ecoctl("down", expect=0)
    assert events_of(ev)[5:] == ["stop worker", "stop web", "stop api", "stop cache", "stop db"]
    assert not st.procs()
    assert not list((st.run_dir / "pids").iterdir())


def test_up_named_starts_dependencies_only_and_is_idempotent(stacks, tmp_path):
    ev = tmp_path / "events"
    st = stacks({"services": {
        "web": recorded(ev, "web", ["api"]),
        "api": recorded(ev, "api", ["db"]),
        "db": recorded(ev, "db"),
        "other": recorded(ev, "other"),
    }})
    st.ecoctl("up", "api", expect=0)
    assert events_of(ev) == ["start db", "start api"]
    pids = {s: st.pid(s) for s in ("db", "api")}
    r = st.ecoctl("up", "api", expect=0)
    assert "already running" in r.stdout
    assert events_of(ev) == ["start db", "start api"]
    assert {s: st.pid(s) for s in ("db", "api")} == pids
    states = {n: row[1] for n, row in st.status().items()}
    assert states == {"db": "running", "api": "running", "web": "stopped", "other": "stopped"}
    # down of one service stops only that one, and says what still depends on it
    r = st.ecoctl("down", "db", expect=0)
    assert "api is still running and depends on db" in r.stderr
    assert not pid_alive(pids["db"]) and pid_alive(pids["api"])


# ---------------------------------------------------------------------------------- config errors


def test_cycle_is_a_usage_error_naming_the_cycle(stacks):
    st = stacks({"services": {
        "a": {"command": ["sleep", "1000"], "depends_on": ["b"]},
        "b": {"command": ["sleep", "1000"], "depends_on": ["c"]},
        "c": {"command": ["sleep", "1000"], "depends_on": ["a"]},
        "d": {"command": ["sleep", "1000"]},
    }})
    for cmd in ("up", "status"):
        r = st.ecoctl(cmd, expect=2)
        assert "dependency cycle: a -> b -> c -> a" in r.stderr
    assert not st.procs()


@pytest.mark.parametrize("manifest,args,message", [
    ({"services": {"a": {"command": ["true"], "depends_on": ["ghost"]}}}, ["up"],
     'service a depends on unknown service "ghost"'),
    ({"services": {"a": {"command": ["${NOPE}"]}}}, ["up"], "unknown variable ${NOPE}"),
    ({"services": {"a": {"command": ["x"], "ports": {"http": 65000}}}}, ["--port-offset", "1000", "up"],
     "a.http at 66000"),
    ({"services": {"a": {"command": ["true"], "bogus": 1}}}, ["up"], 'unknown key "bogus"'),
    ({"services": {"a": {"command": ["true"]}}}, ["up", "zzz"], 'no service called "zzz"'),
    ({"services": {"a": {"command": ["true"]}}}, ["frobnicate"], 'unknown command "frobnicate"'),
])
def test_manifest_and_usage_errors_exit_2(stacks, manifest, args, message):
    st = stacks(manifest)
    r = st.ecoctl(*args, expect=2)
    assert message in r.stderr
    assert not st.procs()


# ------------------------------------------------------------------------------ failure handling


@pytest.mark.parametrize("mode", ["exits", "never-healthy"])
def test_critical_failure_rolls_back_in_reverse_order(stacks, tmp_path, mode):
    ev = tmp_path / "events"
    broken = ({"command": ["sh", "-c", "echo broken on purpose >&2; exit 3"]} if mode == "exits" else
              {"command": recorder("c", ev), "health": {"cmd": ["false"], "interval_ms": 50,
                                                         "start_timeout_ms": 800}})
    st = stacks({"services": {
        "a": recorded(ev, "a"),
        "b": recorded(ev, "b", ["a"]),
        "c": dict(broken, depends_on=["b"]),
        "d": recorded(ev, "d", ["c"]),
    }})
    r = st.ecoctl("up", expect=1)
    assert "c failed to start and is critical" in r.stderr
    assert "rolling back" in r.stderr
    if mode == "exits":
        assert "exited with status 3" in r.stderr and "broken on purpose" in r.stderr
        assert events_of(ev) == ["start a", "start b", "stop b", "stop a"]
    else:
        assert "not healthy after 800 ms" in r.stderr
        assert events_of(ev) == ["start a", "start b", "start c", "stop c", "stop b", "stop a"]
    assert not st.procs()
    assert not list((st.run_dir / "pids").iterdir())
    assert {row[1] for row in st.status().values()} == {"stopped"}


def test_non_critical_failure_skips_dependents_and_continues(stacks, tmp_path):
    ev = tmp_path / "events"
    st = stacks({"services": {
        "a": recorded(ev, "a"),
        "b": {"command": ["sh", "-c", "exit 1"], "critical": False},
        "c": recorded(ev, "c", ["b"]),
        "d": recorded(ev, "d", ["a"]),
    }})
    r = st.ecoctl("up", expect=0)
    assert "b failed to start (not critical" in r.stderr
    assert "c: skipped because b is not up" in r.stderr
    assert "up finished without: b (failed) c (skipped)" in r.stderr
    assert events_of(ev) == ["start a", "start d"]
    assert {n: row[1] for n, row in st.status().items()} == {
        "a": "running", "b": "stopped", "c": "stopped", "d": "running"}
    st.ecoctl("health", expect=0)


# ---------------------------------------------------------------------------------------- stopping


def test_down_leaves_no_orphans(stacks):
    st = stacks({"services": {
        # children of children in the service's process group
        "tree": {"command": ["sh", "-c", "sleep 1000 & sleep 1000"]},
        # a grandchild that escapes into its own session
        "escaper": {"command": ["sh", "-c", "setsid sleep 1000 & sleep 1000"]},
        # everything ignores SIGTERM: needs the SIGKILL after the grace period
        "stubborn": {"command": ["sh", "-c", 'trap "" TERM; sleep 1000 & while :; do sleep 0.1; done'],
                     "stop_grace_ms": 600},
    }})
    st.ecoctl("up", expect=0)
    wait_until(lambda: len(st.procs()) >= 7, 5, "all service processes")
    t0 = time.monotonic()
    r = st.ecoctl("down", expect=0)
    took = time.monotonic() - t0
    assert "stubborn: still running after 600 ms, sending SIGKILL" in r.stdout
    assert took >= 0.6
    assert not st.procs(), describe(st.procs())


def test_down_stops_services_no_longer_in_the_manifest(stacks, tmp_path):
    ev = tmp_path / "events"
    st = stacks({"services": {"a": recorded(ev, "a"), "old": recorded(ev, "old")}})
    st.ecoctl("up", expect=0)
    st.write({"services": {"a": recorded(ev, "a")}})
    r = st.ecoctl("down", expect=0)
    assert "old: not in" in r.stdout
    assert events_of(ev)[2:] == ["stop old", "stop a"]
    assert not st.procs()


def test_health_command_reports_unhealthy_service(stacks, tmp_path):
    flag = tmp_path / "flag"
    flag.write_text("ok")
    st = stacks({"services": {
        "checked": {"command": ["sleep", "1000"], "health": {"cmd": ["test", "-f", str(flag)]}},
        "plain": {"command": ["sleep", "1000"]},
    }})
    st.ecoctl("up", expect=0)
    r = st.ecoctl("health", expect=0)
    assert "checked: healthy" in r.stdout and "plain: healthy" in r.stdout
    flag.unlink()
    r = st.ecoctl("health", expect=1)
    assert "checked: unhealthy" in r.stdout
    assert st.status()["checked"][3].startswith("unhealthy")
    st.ecoctl("down", expect=0)
    r = st.ecoctl("health", expect=0)
    assert "no services are running" in r.stdout


# ---------------------------------------------------------------------------------- PID files


def test_stale_pid_files_are_detected_and_cleaned(stacks, tmp_path):
    st = stacks({"services": {
        "gone": {"command": ["sleep", "1000"]},
        "reused": {"command": ["sleep", "1000"]},
        "garbage": {"command": ["sleep", "1000"]},
    }})
    (st.run_dir / "pids").mkdir(parents=True)
    boot = pathlib.Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    # a pid that no longer exists
    dead = subprocess.Popen(["true"])
    dead.wait(10)
    st.pidfile("gone").write_text(f"{dead.pid} 12345 {boot}\n")
    # a live process of someone else, recorded with another start time (= the pid was reused)
    bystander = subprocess.Popen(["sleep", "1000"])
    try:
        start = int(pathlib.Path(f"/proc/{bystander.pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        st.pidfile("reused").write_text(f"{bystander.pid} {start - 1} {boot}\n")
        st.pidfile("garbage").write_text("not a pid file\n")
        rows = st.status()
        assert rows["gone"][:2] == (str(dead.pid), "dead")
        assert rows["reused"][:2] == (str(bystander.pid), "dead")
        assert rows["garbage"][1] == "dead"
        assert not list((st.run_dir / "pids").iterdir()), "stale PID files were not removed"
        assert {row[1] for row in st.status().values()} == {"stopped"}
        st.pidfile("reused").write_text(f"{bystander.pid} {start - 1} {boot}\n")
        r = st.ecoctl("up", expect=0)
        assert "reused: removed a stale PID file" in r.stderr
        assert st.pid("reused") != bystander.pid
        st.ecoctl("down", expect=0)
        assert bystander.poll() is None, "ecoctl killed a process that was not its own"
    finally:
        bystander.kill()
        bystander.wait(10)


def test_dead_leader_leftovers_are_cleaned(stacks):
    st = stacks({"services": {"svc": {"command": ["sh", "-c", "sleep 1000 & sleep 1000"]}}})
    st.ecoctl("up", expect=0)
    leader = st.pid("svc")
    wait_until(lambda: len(st.procs()) == 3, 5, "sh and two sleeps")
    os.kill(leader, signal.SIGKILL)
    wait_until(lambda: not pid_alive(leader), 5, "leader gone")
    assert len(st.procs()) == 2  # the two sleeps, orphaned but still in the service's group
    r = st.ecoctl("health", expect=1)
    assert f"svc: dead (pid {leader} is gone)" in r.stdout
    wait_until(lambda: not st.procs(), 5, "leftovers killed")
    assert not st.pidfile("svc").exists()


# ------------------------------------------------------------------------------ ports and offsets


def http_stack_manifest(base):
    return {"services": {
        "web": {"ports": {"http": base}, "cwd": "${DATA}",
                "command": ["python3", "-m", "http.server", "--bind", "127.0.0.1", "${PORT}"],
                "health": {"http": "http://127.0.0.1:${PORT}/", "interval_ms": 50}},
        "echo": {"ports": {"tcp": base + 1}, "depends_on": ["web"],
                 "command": ["python3", "-m", "http.server", "--bind", "127.0.0.1", "${port:tcp}"],
                 "env": {"WEB_URL": "http://127.0.0.1:${port:web.http}/"},
                 "health": {"tcp": "127.0.0.1:${PORT}", "interval_ms": 50}},
    }}


def get_status(url):
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=5) as r:
        return r.status


def test_two_stacks_side_by_side_on_port_offsets(stacks):
    base = free_base(12)
    a = stacks(http_stack_manifest(base), offset=0, name="a")
    b = stacks(http_stack_manifest(base), offset=10, name="b")
    a.ecoctl("up", expect=0)
    b.ecoctl("up", expect=0)
    assert a.status()["web"][2] == f"http={base}" and b.status()["web"][2] == f"http={base + 10}"
    assert a.status()["echo"][2] == f"tcp={base + 1}" and b.status()["echo"][2] == f"tcp={base + 11}"
    for port in (base, base + 1, base + 10, base + 11):
        assert get_status(f"http://127.0.0.1:{port}/") == 200
    env = pathlib.Path(f"/proc/{b.pid('echo')}/environ").read_bytes().split(b"\0")
    assert f"WEB_URL=http://127.0.0.1:{base + 10}/".encode() in env
    # a third stack on the same ports fails cleanly instead of checking someone else's service
    c = stacks(http_stack_manifest(base), offset=10, name="c")
    r = c.ecoctl("up", expect=1)
    assert f"port {base + 10} (web.http) is already in use" in r.stderr
    assert not c.procs()
    a.ecoctl("down", expect=0)
    assert not a.procs()
    b.ecoctl("health", expect=0)
    assert get_status(f"http://127.0.0.1:{base + 10}/") == 200
    b.ecoctl("down", expect=0)


# --------------------------------------------------------------------------------- logs and run


def chatty(name, extra=""):
    return {"command": ["sh", "-c", f"echo hello from {name}; echo oops {name} >&2; {extra}"
                                    f"while :; do sleep 0.2; done"]}


def test_logs_command(stacks):
    st = stacks({"services": {"a": chatty("a"), "b": chatty("b", "echo no newline at end | tr -d '\\n'; ")}})
    st.ecoctl("up", expect=0)
    wait_until(lambda: "no newline" in st.log("b"), 5, "b's output")
    r = st.ecoctl("logs", "a", expect=0)
    assert "hello from a\n" in r.stdout and "oops a\n" in r.stdout and "| hello" not in r.stdout
    r = st.ecoctl("logs", expect=0)
    for line in ("a | hello from a", "b | oops b", "b | no newline at end"):
        assert line in r.stdout, r.stdout
    p = st.popen("logs", "-f", "a")
    try:
        Reader(p).until([r"^hello from a$"], 10)
        p.send_signal(signal.SIGINT)
        assert p.wait(10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)


class Reader:
    """Reads a child's stdout without ever blocking past a deadline."""

    def __init__(self, proc):
        self.proc, self.text = proc, ""

    def until(self, patterns, timeout):
        """Reads until every regex in patterns matches (multiline) what was read since the start."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while not all(re.search(p, self.text, re.M) for p in patterns):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"did not see {patterns} within {timeout}s; got:\n{self.text}")
            if select.select([fd], [], [], min(left, 0.5))[0]:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError(f"output ended before {patterns}; got:\n{self.text}")
                self.text += chunk.decode(errors="replace")
        return self.text

    def rest(self, timeout):
        """Everything until the process exits (bounded)."""
        out, _ = self.proc.communicate(timeout=timeout)
        self.text += out.decode(errors="replace")
        return self.text


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_run_follows_logs_and_stops_everything_on_signal(stacks, sig):
    base = free_base(2)
    st = stacks({"services": {
        "web": {"ports": {"http": base}, "command": ["python3", "-m", "http.server", "--bind", "127.0.0.1",
                                                      "${PORT}"],
                "health": {"http": "http://127.0.0.1:${PORT}/"}},
        "a": chatty("a"),
        "tree": {"command": ["sh", "-c", "echo tree up; sleep 1000 & sleep 1000"], "depends_on": ["a"]},
    }})
    st.run_dir.mkdir()
    (st.run_dir / "dev.key").write_text("eco_test_key_123\n")
    p = st.popen("run")
    try:
        rd = Reader(p)
        rd.until([r"^a +\| hello from a$", r"^a +\| oops a$", r"^tree +\| tree up$", r"dev API key.*: eco_test_key_123$",
                  rf"^  web +\d+ +http://127\.0\.0\.1:{base}$"], 30)
        assert get_status(f"http://127.0.0.1:{base}/?from-test") == 200
        rd.until([r'^web +\| .*"GET /\?from-test HTTP'], 10)  # followed live
        p.send_signal(sig)
        out = rd.rest(60)
        assert p.returncode == 0, out
        stopping = out[out.index("stopping everything"):]
        assert re.findall(r"^stopping (\S+) \(pid", stopping, re.M) == ["tree", "a", "web"], out
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    assert not st.procs(), describe(st.procs())
    assert not list((st.run_dir / "pids").iterdir())


def test_run_returns_when_everything_was_stopped_elsewhere(stacks):
    st = stacks({"services": {"a": chatty("a"), "b": chatty("b")}})
    p = st.popen("run")
    try:
        rd = Reader(p)
        rd.until([r"^b +\| hello from b$"], 30)
        st.ecoctl("down", expect=0)
        out = rd.rest(30)
        assert p.returncode == 0, out
        assert "no service is running any more" in out
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)


def test_run_interrupted_while_starting_leaves_nothing(stacks):
    st = stacks({"services": {
        "a": chatty("a"),
        "slow": {"command": ["sh", "-c", "sleep 1000 & sleep 1000"], "depends_on": ["a"],
                 "health": {"cmd": ["false"], "start_timeout_ms": 60000}},
    }})
    p = st.popen("run")
    try:
        rd = Reader(p)
        rd.until([r"^starting slow$"], 30)
        wait_until(lambda: len(st.procs()) >= 4, 5, "slow's processes")
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out = rd.rest(30)
        assert time.monotonic() - t0 < 10
        assert p.returncode == 1, out
        assert "interrupted while starting slow" in out
        assert re.findall(r"^stopping (\S+) \(pid", out, re.M) == ["slow", "a"], out
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    assert not st.procs(), describe(st.procs())


def test_second_signal_skips_the_grace_period(stacks):
    st = stacks({"services": {"stubborn": {
        "command": ["sh", "-c", 'trap "" TERM; echo ready; while :; do sleep 0.1; done'],
        "stop_grace_ms": 60000}}})
    p = st.popen("run")
    try:
        rd = Reader(p)
        rd.until([r"^stubborn +\| ready$"], 30)
        p.send_signal(signal.SIGINT)
        rd.until([r"^stopping stubborn \(pid"], 10)
        time.sleep(0.5)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out = rd.rest(20)
        assert time.monotonic() - t0 < 5, out
        assert p.returncode == 0, out
        assert "sending SIGKILL" in out
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    assert not st.procs(), describe(st.procs())


def test_run_rolls_back_on_critical_failure(stacks):
    st = stacks({"services": {"a": chatty("a"), "bad": {"command": ["false"], "depends_on": ["a"]}}})
    p = st.popen("run")
    out = Reader(p).rest(60)
    assert p.returncode == 1, out
    assert "bad failed to start and is critical" in out
    assert not st.procs()


# ------------------------------------------------------------------------------------- users


def test_user_switch_and_data_dir_outside_untraversable_run_dir(stacks, tmp_path):
    st = stacks({"services": {"svc": {
        "user": "ecoctl-no-such-user",  # falls back to nobody
        "init": ["sh", "-c", "id -u >> ${DATA}/init-uid"],
        "creates": "${DATA}/init-uid",
        "command": ["sh", "-c", "id -u > ${DATA}/uid; pwd > ${DATA}/cwd; exec sleep 1000"],
        "health": {"cmd": ["test", "-s", "${DATA}/uid"], "interval_ms": 20},
    }}})
    os.chmod(st.dir, 0o700)  # the run dir's parent is not traversable by other users
    link = st.run_dir / "data" / "svc"
    try:
        for _ in range(2):
            st.ecoctl("up", expect=0)
            st.ecoctl("down", expect=0)
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            assert link.is_symlink()
            real = pathlib.Path(os.readlink(link))
            assert real.parent.name.startswith("eco-base-nobody-") and str(real).startswith("/var/tmp/")
            assert real.stat().st_uid == nobody.pw_uid and (real.stat().st_mode & 0o777) == 0o700
            assert (real / "uid").read_text().strip() == str(nobody.pw_uid)
            assert (real / "cwd").read_text().strip() == str(real)
            assert (real / "init-uid").read_text().split() == [str(nobody.pw_uid)]  # init ran once
        else:  # `user` only applies when ecoctl runs as root
            real = link
            assert (link / "uid").read_text().strip() == str(os.geteuid())
            assert (link / "init-uid").read_text().split() == [str(os.geteuid())]
        st.ecoctl("clean", expect=0)
        assert not real.exists() and not link.exists() and not real.parent.exists()
        assert not st.run_dir.exists()
    finally:
        if os.geteuid() == 0 and link.is_symlink():
            shutil.rmtree(pathlib.Path(os.readlink(link)).parent, ignore_errors=True)


# ------------------------------------------------------------------ real PostgreSQL, Redis, Kafka


def kafka_libs():
    tools = pathlib.Path(os.environ.get("ECO_TOOLS_DIR") or pathlib.Path.home() / ".cache" / "eco-base")
    for d in (REPO / ".tools" / "kafka" / "libs", tools / "kafka" / "libs"):
        if list(d.glob("kafka_2.13-*.jar")):
            return d
    return None


@pytest.mark.deps
def test_real_postgres_redis_kafka_from_services_yaml(tmp_path):
    # An offset that keeps every declared port (the highest is 50063) valid and these ones free;
    # tests/run.sh runs its own dependencies on offset 11000 (the search skips offsets in use).
    needed = (5432, 6379, 9092, 9093)
    offset = next((o for o in range(11000, 15400, 200) if all(port_free(p + o) for p in needed)), None)
    assert offset is not None, "no free port offset"
    run_dir = tmp_path / "run"  # under pytest's 0700 temp dir: PostgreSQL's data goes to /var/tmp
    token = f"ecoctl-test-{uuid.uuid4().hex}"
    env = {k: v for k, v in os.environ.items() if k not in SCRUB}
    env.update(ECOCTL_TEST_TOKEN=token, NO_COLOR="1")
    base = [str(ECOCTL), "-f", str(REPO / "deploy/local/services.yaml"), "--root", str(REPO),
            "--run-dir", str(run_dir), "--port-offset", str(offset)]

    def ecoctl(*args, timeout=120):
        return subprocess.run(base + list(args), capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL)

    def ours():
        return processes_matching(token, paths=[run_dir] + [p for p in external if p])

    external = []
    libs = kafka_libs()
    try:
        r = ecoctl("up", "postgres", "redis")
        assert r.returncode == 0, r.stdout + r.stderr
        link = run_dir / "data" / "postgres"
        if link.is_symlink():
            external.append(pathlib.Path(os.readlink(link)).parent)
        if os.geteuid() == 0:  # pytest's temp root is mode 0700: the postgres user cannot reach the run dir
            assert link.is_symlink() and external[0].name.startswith("eco-base-"), list(link.parent.iterdir())
        r = ecoctl("health")
        assert r.returncode == 0 and "postgres: healthy" in r.stdout and "redis: healthy" in r.stdout, r.stdout
        pg = subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(5432 + offset), "-U", "eco", "-d", "eco", "-tAc",
                             "SELECT current_database() || ' ' || current_user"],
                            capture_output=True, text=True, timeout=30)
        assert pg.stdout.strip() == "eco eco", pg.stderr
        with socket.create_connection(("127.0.0.1", 6379 + offset), timeout=5) as s:
            s.sendall(b"PING\r\n")
            assert s.recv(64) == b"+PONG\r\n"
        if os.geteuid() == 0:
            owner = pwd.getpwuid(os.stat(os.path.realpath(link)).st_uid).pw_name
            assert owner in ("postgres", "nobody")
        if libs:
            r = ecoctl("up", "kafka", timeout=200)
            assert r.returncode == 0, r.stdout + r.stderr + ecoctl("logs", "kafka").stdout[-3000:]
            r = ecoctl("health")
            assert r.returncode == 0 and "kafka: healthy" in r.stdout, r.stdout
        r = ecoctl("status")
        assert r.returncode == 0
        assert ours(), "found none of the stack's processes (the leftover check below would prove nothing)"
        r = ecoctl("down", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        wait_until(lambda: not ours(), 10, "no process left")
        assert all(port_free(p + offset) for p in needed)
        r = ecoctl("clean", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert not any(d.exists() for d in external) and not run_dir.exists()
    finally:
        ecoctl("clean", timeout=120)
        for pid in ours():
            os.kill(pid, signal.SIGKILL)
        for d in external:
            shutil.rmtree(d, ignore_errors=True)
    assert libs, ("Kafka jars not found in .tools/kafka/libs or $ECO_TOOLS_DIR/kafka/libs (run `make deps`): "
                  "Kafka was not tested")
