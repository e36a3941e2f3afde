"""GET /v1/models and /v1/models/{id} through the official openai SDK: the registry, with which
backends are up."""
import openai
import pytest

from ecotest import free_port, wait_until


@pytest.fixture
def ai(tmp_path, start_service):
    backend = start_service("index-service", {"ECO_INDEX_DATA_DIR": str(tmp_path / "wal")})
    models = tmp_path / "models.yaml"
    models.write_text(f"""default: chat-a
models:
  - id: chat-a
    aliases: [a]
    owned_by: team-a
    capabilities: [chat, completion]
    context_length: 8192
    backends:
      - {{name: up, address: "127.0.0.1:{backend.grpc_port}"}}
      - {{name: down, address: "127.0.0.1:{free_port()}", tier: 1}}
  - id: embed-b
    capabilities: [embedding]
""")
    svc = start_service("ai-service", {"ECO_MODELS_FILE": str(models), "ECO_KAFKA_BROKERS": "127.0.0.1:9"})
    svc.wait_ready(200)
    return svc


def test_list_models_with_the_sdk(ai):
    client = openai.OpenAI(base_url=ai.url + "/v1", api_key="unused", max_retries=0, timeout=5)
    models = {m.id: m for m in client.models.list().data}
    assert set(models) == {"chat-a", "embed-b"}
    a = models["chat-a"]
    assert a.object == "model" and a.owned_by == "team-a" and a.created > 1_700_000_000
    extra = a.model_extra
    assert extra["context_length"] == 8192 and extra["capabilities"] == ["chat", "completion"]
    assert extra["default"] is True and extra["aliases"] == ["a"]
    wait_until(lambda: client.models.retrieve("chat-a").model_extra["backends_up"] == 1, 5, what="probe results")
    backends = {b["name"]: b["healthy"] for b in client.models.retrieve("chat-a").model_extra["backends"]}
    assert backends == {"up": True, "down": False}
    assert models["embed-b"].model_extra["backends_up"] == 0 and models["embed-b"].owned_by == "eco-base"


def test_retrieve_by_alias_and_unknown_model(ai):
    client = openai.OpenAI(base_url=ai.url + "/v1", api_key="unused", max_retries=0, timeout=5)
    assert client.models.retrieve("a").id == "chat-a"
    with pytest.raises(openai.NotFoundError) as e:
        client.models.retrieve("nope")
    body = e.value.body
    assert body["code"] == "model_not_found" and body["param"] == "model" and "nope" in body["message"]
