"""ai-service routing details: session and prefix affinity, and registry reload on SIGHUP."""
import json
import signal

import pytest

from ecotest import http, wait_until
from simstack import Adapter, Sim

CHAT = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "hi"}]


@pytest.fixture
def two(tmp_path, start_service, pb):
    sims = [Sim("vllm"), Sim("vllm")]
    adapters = [Adapter(pb, "vllm", s.url) for s in sims]
    models = tmp_path / "models.yaml"

    def write(extra_alias=None, broken=False):
        aliases = f"\n    aliases: [{extra_alias}]" if extra_alias else ""
        models.write_text("default: chat\nmodels:\n  - id: chat" + aliases + """
    capabilities: [chat, completion]
    backends:
""" + "".join(f"      - {{name: b{i}, address: \"{a.address}\"}}\n" for i, a in enumerate(adapters))
                          + ("  - id: [broken\n" if broken else ""))

    write()

    def start(**env):
        svc = start_service("ai-service", {"ECO_MODELS_FILE": str(models), "ECO_KAFKA_BROKERS": "127.0.0.1:9", **env})
        svc.wait_ready(200)
        return svc

    yield start, sims, write
    for a in adapters:
        a.stop()
    for s in sims:
        s.stop()


def chat(svc, headers=None, messages=CHAT, model="chat"):
    status, _, body = http("POST", svc.url + "/v1/chat/completions",
                           json.dumps({"model": model, "messages": messages, "max_tokens": 2}).encode(),
                           {"content-type": "application/json", **(headers or {})})
    return status, json.loads(body)


def served(sims):
    return [s.stats()["requests"] for s in sims]


def test_session_header_pins_one_backend_and_sessions_spread(two):
    start, sims, _ = two
    svc = start()
    for _ in range(12):
        assert chat(svc, {"x-eco-session": "alice"})[0] == 200
    counts = served(sims)
    assert sorted(counts) == [0, 12], counts
    # Without a session both backends get work (power of two choices among equals).
    for _ in range(30):
        assert chat(svc)[0] == 200
    assert all(c > 0 for c in (b - a for a, b in zip(counts, served(sims)))), served(sims)


def test_prefix_affinity_keeps_a_conversation_prefix_on_one_backend(two):
    start, sims, _ = two
    svc = start(ECO_PREFIX_AFFINITY="true")
    for i in range(12):  # same leading messages, different last message
        msgs = CHAT[:1] + [{"role": "user", "content": f"question {i}"}]
        assert chat(svc, messages=msgs)[0] == 200
    assert sorted(served(sims)) == [0, 12], served(sims)


def test_sighup_reloads_the_registry_and_keeps_it_when_invalid(two):
    start, _, write = two
    svc = start()
    assert chat(svc, model="fresh")[0] == 404
    write(extra_alias="fresh")
    svc.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: chat(svc, model="fresh")[0] == 200, 5, what="reloaded alias")
    write(extra_alias="fresh", broken=True)
    svc.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "registry reload failed" in svc.output(), 5, what="reload refusal logged")
    status, body = chat(svc, model="fresh")
    assert status == 200, body  # the previous registry still serves


def test_fallback_model_answers_when_the_model_has_no_backend(tmp_path, start_service, pb):
    from ecotest import free_port
    sim = Sim("vllm")
    adapter = Adapter(pb, "vllm", sim.url)
    try:
        models = tmp_path / "models.yaml"
        models.write_text(f"""default: primary
models:
  - id: primary
    capabilities: [chat]
    fallbacks: [backup]
    backends:
      - {{name: dead, address: "127.0.0.1:{free_port()}"}}
  - id: backup
    capabilities: [chat]
    backends:
      - {{name: live, address: "{adapter.address}"}}
""")
        svc = start_service("ai-service", {"ECO_MODELS_FILE": str(models), "ECO_KAFKA_BROKERS": "127.0.0.1:9"})
        svc.wait_ready(200)  # degraded: primary has no healthy backend
        status, body = chat(svc, model="primary")
        assert status == 200 and body["model"] == "backup", body
        assert sim.stats()["requests"] == 1
    finally:
        adapter.stop()
        sim.stop()
