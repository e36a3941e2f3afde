"""The readiness table of ARCHITECTURE §1, row by row, against real PostgreSQL, Redis and Kafka:
stop the dependency -> the stated status; start it again -> 200."""
import os

import pytest

from ecotest import Service, free_port

pytestmark = pytest.mark.deps


def checks(body):
    return {name: c["state"] for name, c in body["checks"].items()}


def test_postgres_outage(deps, start_service):
    env = deps.env()
    api = start_service("api-gateway", env)
    poller = start_service("job-poller", env)
    edge = start_service("root-gateway", {**env, "ECO_REDIS_FAIL_MODE": "open"})
    for s in (api, poller, edge):
        s.wait_ready(200, timeout=30)
    deps.stop("postgres")
    try:
        for s in (api, poller, edge):  # edge: PostgreSQL down and the key cache cold
            _, body = s.wait_ready(503, timeout=15)
            assert checks(body)["postgres"] == "down"
    finally:
        deps.start("postgres")
    for s in (api, poller, edge):
        s.wait_ready(200, timeout=30)


def test_redis_outage(deps, start_service):
    env = deps.env()
    api = start_service("api-gateway", env)
    poller = start_service("job-poller", env)
    closed = start_service("root-gateway", {**env, "ECO_REDIS_FAIL_MODE": "closed"})
    opened = start_service("root-gateway", {**env, "ECO_REDIS_FAIL_MODE": "open"})
    for s in (api, poller, closed, opened):
        s.wait_ready(200, timeout=30)
    deps.stop("redis")
    try:
        _, body = closed.wait_ready(503, timeout=15)
        assert checks(body)["redis"] == "down"
        for s in (api, poller, opened):  # reported, still ready
            def reported(s=s):
                status, body = s.ready()
                return status == 200 and checks(body)["redis"] == "down" and body["status"] == "degraded"
            from ecotest import wait_until
            wait_until(reported, 15, what=f"{s.name} reports redis down while ready")
    finally:
        deps.start("redis")
    for s in (api, poller, closed, opened):
        _, body = s.wait_ready(200, timeout=30, state="ready")
        assert checks(body)["redis"] == "up"


def test_kafka_outage(deps, start_service):
    env = deps.env()
    api = start_service("api-gateway", env)
    poller = start_service("job-poller", env)
    for s in (api, poller):
        s.wait_ready(200, timeout=30)
    deps.stop("kafka")
    try:
        _, body = poller.wait_ready(503, timeout=20)
        assert checks(body)["kafka"] == "down"
        from ecotest import wait_until
        wait_until(lambda: api.ready()[0] == 200 and checks(api.ready()[1])["kafka"] == "down", 20,
                   what="api-gateway reports kafka down while ready")
    finally:
        deps.start("kafka")
    for s in (api, poller):
        s.wait_ready(200, timeout=60, state="ready")


def test_index_service_wal_dir(tmp_path, start_service):
    wal = tmp_path / "wal"
    svc = start_service("index-service", {"ECO_INDEX_DATA_DIR": str(wal)})
    _, body = svc.wait_ready(200)
    assert checks(body)["wal_dir"] == "up" and body["checks"]["ai-service"]["required"] is False
    os.rename(wal, tmp_path / "wal.moved")
    wal.write_text("not a directory")  # root ignores permission bits, so make it impossible instead
    try:
        _, body = svc.wait_ready(503)
        assert checks(body)["wal_dir"] == "down"
    finally:
        wal.unlink()
        os.rename(tmp_path / "wal.moved", wal)
    svc.wait_ready(200)


def test_engine_adapter_follows_its_engine(tmp_path, start_service):
    port = free_port()
    adapter = start_service("engine-adapter", {"ECO_ENGINE_KIND": "vllm", "ECO_ENGINE_URL": f"http://127.0.0.1:{port}"})
    _, body = adapter.wait_ready(503)  # engine refusing connections
    assert checks(body)["engine"] == "down"
    sim = Service("engine-sim", args=["--kind", "vllm", "--port", str(port)], wait_health=False)
    try:
        adapter.wait_ready(200)
    finally:
        sim.stop()
    adapter.wait_ready(503)
    sim = Service("engine-sim", args=["--kind", "vllm", "--port", str(port), "--never-ready"], wait_health=False)
    try:
        import time
        time.sleep(1.0)
        status, body = adapter.ready()
        assert status == 503 and checks(body)["engine"] == "down"
    finally:
        sim.stop()
