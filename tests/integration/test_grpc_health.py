"""grpc.health.v1 on every gRPC port agrees with /ready, needs no credentials, and drains."""
import signal

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ecotest import Service, free_port, wait_until

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def check(port, service=""):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        return health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=service), timeout=3).status


def test_index_service_health_follows_readiness(tmp_path, start_service):
    svc = start_service("index-service", {"ECO_INDEX_DATA_DIR": str(tmp_path / "wal")})
    svc.wait_ready(200)
    assert check(svc.grpc_port) == SERVING
    with pytest.raises(grpc.RpcError) as e:
        check(svc.grpc_port, "no.such.Service")
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    (tmp_path / "wal").rename(tmp_path / "gone")
    (tmp_path / "wal").write_text("x")
    svc.wait_ready(503)
    wait_until(lambda: check(svc.grpc_port) == NOT_SERVING, 5, what="NOT_SERVING")


def test_ai_service_health_and_drain(tmp_path, start_service):
    backend = start_service("index-service", {"ECO_INDEX_DATA_DIR": str(tmp_path / "wal")})
    models = tmp_path / "models.yaml"
    models.write_text(f"default: m\nmodels:\n  - id: m\n    capabilities: [chat]\n    backends:\n"
                      f"      - name: b\n        address: 127.0.0.1:{backend.grpc_port}\n")
    ai = start_service("ai-service", {"ECO_MODELS_FILE": str(models), "ECO_KAFKA_BROKERS": "127.0.0.1:9"})
    _, body = ai.wait_ready(200)
    assert body["checks"]["models"]["state"] == "up" and body["checks"]["kafka"]["required"] is False
    assert body["status"] == "degraded"  # Kafka (job workers only) is down: reported, still ready
    assert check(ai.grpc_port) == SERVING
    backend.stop()
    _, body = ai.wait_ready(503)
    assert body["checks"]["models"]["state"] == "down"
    assert check(ai.grpc_port) == NOT_SERVING


def test_ai_service_degraded_when_a_model_has_no_backend(tmp_path, start_service):
    backend = start_service("index-service", {"ECO_INDEX_DATA_DIR": str(tmp_path / "wal")})
    models = tmp_path / "models.yaml"
    models.write_text(f"default: m\nmodels:\n  - id: m\n    capabilities: [chat]\n    backends:\n"
                      f"      - name: b\n        address: 127.0.0.1:{backend.grpc_port}\n"
                      f"  - id: lonely\n    capabilities: [embedding]\n")
    ai = start_service("ai-service", {"ECO_MODELS_FILE": str(models), "ECO_KAFKA_BROKERS": "127.0.0.1:9"})
    _, body = ai.wait_ready(200, state="degraded")
    assert "lonely" in body["checks"]["models"]["detail"]
    assert check(ai.grpc_port) == SERVING


def test_ai_service_rejects_a_bad_registry(tmp_path):
    import subprocess
    from ecotest import BIN
    bad = tmp_path / "models.yaml"
    bad.write_text("default: nope\nmodels:\n  - id: m\n    capabilities: [chat]\n")
    r = subprocess.run([str(BIN / "ai-service")], env={"ECO_MODELS_FILE": str(bad), "PATH": "/usr/bin"},
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2
    assert r.stderr.startswith("ECO_MODELS_FILE: ") and 'model "nope" is not defined' in r.stderr


def test_engine_adapter_grpc_health_without_engine(start_service):
    adapter = start_service("engine-adapter", {"ECO_ENGINE_KIND": "tgi",
                                               "ECO_ENGINE_URL": f"http://127.0.0.1:{free_port()}"})
    adapter.wait_ready(503)
    assert check(adapter.grpc_port) == NOT_SERVING


def test_grpc_drain_with_sigterm(tmp_path):
    svc = Service("index-service", {"ECO_INDEX_DATA_DIR": str(tmp_path / "wal")})
    svc.wait_ready(200)
    svc.proc.send_signal(signal.SIGTERM)
    assert svc.proc.wait(10) == 0
    with pytest.raises(grpc.RpcError) as e:
        check(svc.grpc_port)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    svc.stop()
