"""Harness for engine-adapter tests: gRPC stubs generated from proto/ at test time, and a
factory that starts an engine-sim of one kind plus an engine-adapter in front of it, both on
free loopback ports and stopped at teardown (also when a test fails)."""
import time

import grpc
import pytest

from ecotest import wait_until
from simstack import RPC_TIMEOUT, Adapter, Sim, sim_bin  # noqa: F401 - the adapter tests import them from here

KINDS = ["vllm", "tgi", "ollama", "sglang", "trtllm", "triton", "mii", "lmdeploy", "llamacpp", "openai"]
EMBEDDING_KINDS = {"vllm", "openai", "ollama", "llamacpp"}
CONTINUATION_KINDS = {"vllm", "llamacpp", "triton"}
METRICS_KINDS = {"vllm", "tgi", "sglang", "trtllm", "triton", "lmdeploy", "llamacpp"}
SEEDLESS_KINDS = {"mii"}  # DeepSpeed-MII's server takes no seed: the adapter leaves it out


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
