"""Every service: /health, /metrics, JSON logs, bad settings exit 2, graceful SIGTERM drain."""
import json
import signal
import subprocess
import threading
import time

import pytest

from ecotest import BIN, Service, http

SERVICES = ["root-gateway", "api-gateway", "ai-service", "engine-adapter", "index-service", "job-poller"]


def service_env(name, deps, tmp_path):
    env = dict(deps.env())
    env["ECO_DEBUG_ENDPOINTS"] = "1"
    env["ECO_SHUTDOWN_GRACE_MS"] = "5000"
    if name == "index-service":
        env["ECO_INDEX_DATA_DIR"] = str(tmp_path / "index")
    if name == "engine-adapter":
        env["ECO_ENGINE_KIND"] = "vllm"
        env["ECO_ENGINE_URL"] = "http://127.0.0.1:9"
    if name == "ai-service":
        models = tmp_path / "models.yaml"
        models.write_text("models:\n  - id: m\n    capabilities: [chat]\n    backends: []\ndefault: m\n")
        env["ECO_MODELS_FILE"] = str(models)
    return env


@pytest.mark.parametrize("name", SERVICES)
def test_health_metrics_and_json_logs(name, deps, tmp_path, start_service):
    svc = start_service(name, service_env(name, deps, tmp_path))
    status, headers, body = svc.get("/health")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    assert len(headers.get("x-request-id", "")) == 32
    status, headers, body = svc.get("/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    for family in ("process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds",
                   "process_cpu_seconds_total", "eco_build_info", "eco_requests_total"):
        assert f"# TYPE {family} " in text, family
    assert f'eco_build_info{{service="{name}"' in text
    status, _, body = svc.get("/no/such/route", headers={"x-request-id": "req-abc.1"})
    err = json.loads(body)["error"]
    assert status == 404 and err["request_id"] == "req-abc.1" and err["code"] == "not_found"
    assert svc.stop() == 0
    lines = [line for line in svc.output().splitlines() if line.strip()]
    assert lines, "no log output"
    for line in lines:
        obj = json.loads(line)  # every line is one JSON object
        assert obj["svc"] == name and obj["level"] in ("debug", "info", "warn", "error") and obj["ts"].endswith("Z")
    assert any(json.loads(line).get("request_id") == "req-abc.1" for line in lines)


@pytest.mark.parametrize("name", SERVICES)
@pytest.mark.parametrize("var,value", [("ECO_HTTP_PORT", "99999"), ("ECO_SHUTDOWN_GRACE_MS", "soon"),
                                       ("ECO_LOG_LEVEL", "loud")])
def test_bad_setting_exits_2_naming_the_variable(name, var, value, deps, tmp_path):
    env = dict(service_env(name, deps, tmp_path))
    env[var] = value
    import os
    full = dict(os.environ)
    full.update(env)
    r = subprocess.run([str(BIN / name)], env=full, capture_output=True, text=True, timeout=20)
    assert r.returncode == 2, (r.returncode, r.stderr)
    err_lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(err_lines) == 1 and err_lines[0].startswith(var + ": expected"), r.stderr


@pytest.mark.parametrize("name", SERVICES)
def test_sigterm_drains_in_flight_work(name, deps, tmp_path, start_service):
    svc = start_service(name, service_env(name, deps, tmp_path))
    result = {}

    def slow():
        t0 = time.monotonic()
        result["resp"] = http("GET", svc.url + "/debug/sleep?ms=2000", timeout=10)
        result["elapsed"] = time.monotonic() - t0

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)  # the slow request is in flight
    sent = time.monotonic()
    svc.proc.send_signal(signal.SIGTERM)
    status, _, body = http("GET", svc.url + "/ready", timeout=2)
    ready_latency = time.monotonic() - sent
    assert status == 503 and json.loads(body)["status"] == "draining"
    assert ready_latency < 0.1, f"/ready answered 503 after {ready_latency * 1000:.0f} ms"
    rc = svc.proc.wait(6)
    t.join(5)
    assert rc == 0
    assert result["resp"][0] == 200 and json.loads(result["resp"][2]) == {"slept_ms": 2000}
    assert time.monotonic() - sent < 5.0


def test_grace_period_bounds_the_drain(deps, tmp_path, start_service):
    env = service_env("index-service", deps, tmp_path)
    env["ECO_SHUTDOWN_GRACE_MS"] = "500"
    svc = start_service("index-service", env)
    outcome = {}

    def abandoned():
        try:
            outcome["resp"] = http("GET", svc.url + "/debug/sleep?ms=5000", timeout=10)
        except OSError as e:  # the service exits at the end of its grace period
            outcome["error"] = e

    t = threading.Thread(target=abandoned)
    t.start()
    time.sleep(0.3)
    sent = time.monotonic()
    svc.proc.send_signal(signal.SIGTERM)
    assert svc.proc.wait(5) == 0
    assert time.monotonic() - sent < 1.5
    t.join(10)
    assert "error" in outcome, "a request longer than the grace period cannot have completed"


def test_oversized_body_gets_413_in_our_shape(deps, tmp_path, start_service):
    env = service_env("index-service", deps, tmp_path)
    env["ECO_MAX_BODY_BYTES"] = "4k"
    svc = start_service("index-service", env)
    status, headers, body = http("POST", svc.url + "/anything", body=b"x" * 10000,
                                 headers={"content-type": "application/json"})
    assert status == 413
    err = json.loads(body)["error"]
    assert err["code"] == "request_too_large" and "4096" in err["message"]


def test_method_not_allowed_lists_allow(deps, tmp_path, start_service):
    svc = start_service("index-service", service_env("index-service", deps, tmp_path))
    status, _, body = http("POST", svc.url + "/health")
    # /health is a built-in GET: other methods fall through to routing and get 404
    assert status == 404 and json.loads(body)["error"]["code"] == "not_found"
