"""ai-service believes root-gateway's x-eco-* identity headers only with ECO_INTERNAL_SECRET."""
import json

import pytest

from ecotest import free_port, http

SECRET = "test-internal-secret-0123456789abcdef"
BODY = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def ai(tmp_path, start_service):
    models = tmp_path / "models.yaml"
    models.write_text(f"""default: m
models:
  - id: m
    capabilities: [chat]
    backends:
      - {{name: gone, address: "127.0.0.1:{free_port()}"}}
""")
    return start_service("ai-service", {"ECO_MODELS_FILE": str(models), "ECO_KAFKA_BROKERS": "127.0.0.1:9",
                                        "ECO_INTERNAL_SECRET": SECRET})


def post(ai, headers):
    status, _, body = http("POST", ai.url + "/v1/chat/completions", json.dumps(BODY).encode(),
                        {"content-type": "application/json", **headers})
    return status, json.loads(body)


@pytest.mark.parametrize("headers", [
    {"x-eco-user-id": "6f1c2b9e-1111-4222-8333-944455556666"},
    {"x-eco-role": "admin", "x-eco-internal-secret": "wrong-secret-wrong-secret-wrong-secret"},
    {"x-eco-internal-secret": ""},
])
def test_identity_headers_without_the_secret_are_refused(ai, headers):
    status, body = post(ai, headers)
    assert status == 401 and body["error"]["code"] == "untrusted_identity_headers"


def test_malformed_identity_with_the_secret_is_400(ai):
    status, body = post(ai, {"x-eco-internal-secret": SECRET, "x-eco-auth-kind": "api_key", "x-eco-user-id": "bob"})
    assert status == 400 and body["error"]["code"] == "invalid_identity_headers"


def test_trusted_or_absent_identity_reaches_routing(ai):
    # No backend is up: routing answers 503, which shows the request got past the identity check.
    for headers in ({}, {"x-eco-internal-secret": SECRET}):
        status, body = post(ai, headers)
        assert status == 503 and body["error"]["code"] == "no_healthy_backend", body
