"""ai-service's gRPC API (eco.ai.v1.Inference) checks the same credentials and limits as
root-gateway's REST API, through the same libraries: API keys and access tokens in `authorization`
metadata, the permission table, per-key limits shared with REST (same Redis keys), revocation within
the key-cache TTL, stale keys while PostgreSQL is down; grpc.health.v1 needs no credentials.

Real api-gateway + root-gateway (the identity Stack: users, keys, sessions) and a real ai-service
on the same PostgreSQL and Redis, in front of an engine-sim behind an engine-adapter."""
import time
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from idstack import JWT_SECRET, forge_jwt, now, wait_for
from simstack import Adapter, Sim

pytestmark = pytest.mark.deps

CODE = grpc.StatusCode
CHAT = "chat-m"
TTL_MS = 500
T = 10  # seconds, any single call


@pytest.fixture(scope="module")
def backend(pb):
    sim = Sim("vllm", "--model", CHAT, log_prefix="grpc-auth-sim")
    adapter = Adapter(pb, "vllm", sim.url)
    adapter.sim = sim
    try:
        adapter.wait_ready(200, timeout=15)
        yield adapter
    finally:
        adapter.stop()
        sim.stop()


class AI:
    """ai-service (ECO_GRPC_AUTH left at its default) sharing the Stack's database, Redis prefix and
    signing keys, with a gRPC client."""

    def __init__(self, stack, svc, pb, backend):
        self.stack, self.svc, self.backend = stack, svc, backend
        self.pb, self.pbg = pb
        self.channel = grpc.insecure_channel(f"127.0.0.1:{svc.grpc_port}")
        self.stub = self.pbg.InferenceStub(self.channel)

    @staticmethod
    def md(cred=None, raw=None):
        if raw is not None:
            return [("authorization", raw)]
        return [("authorization", "Bearer " + cred)] if cred else None

    def req(self, max_tokens=16, **kw):
        msgs = [self.pb.ChatMessage(role="user", content="Name three colours.")]
        return self.pb.GenerateRequest(messages=msgs, model=CHAT, max_tokens=max_tokens, seed=7, **kw)

    def generate(self, cred=None, raw=None, **kw):
        """(response, initial metadata dict) of a GenerateCompletion."""
        resp, call = self.stub.GenerateCompletion.with_call(self.req(**kw), timeout=T, metadata=self.md(cred, raw))
        return resp, dict(call.initial_metadata())

    def stream(self, cred=None, **kw):
        return list(self.stub.StreamCompletion(self.req(**kw), timeout=T, metadata=self.md(cred)))

    def models(self, cred=None, raw=None):
        return self.stub.ListModels(self.pb.ListModelsRequest(), timeout=T, metadata=self.md(cred, raw))

    def embed(self, cred=None, model="no-such-embedder"):
        return self.stub.GenerateEmbedding(self.pb.EmbeddingRequest(model=model, input=["x"]), timeout=T,
                                           metadata=self.md(cred))

    def close(self):
        self.channel.close()


def refused(fn, *a, **kw):
    """Runs a call that must fail; returns (code, details, trailing metadata dict)."""
    with pytest.raises(grpc.RpcError) as e:
        fn(*a, **kw)
    err = e.value
    return err.code(), err.details(), dict(err.trailing_metadata() or ())


@pytest.fixture
def make_ai(make_stack, backend, start_service, tmp_path, pb):
    made = []

    def make(gw_env=None, ai_env=None):
        stack = make_stack(gw_env={"ECO_KEY_CACHE_TTL_MS": str(TTL_MS), **(gw_env or {})})
        models = tmp_path / f"models-{uuid.uuid4().hex[:6]}.yaml"
        models.write_text(f"default: {CHAT}\nmodels:\n  - id: {CHAT}\n    owned_by: eco-test\n"
                          f"    capabilities: [chat, completion]\n    context_length: 4096\n"
                          f"    backends:\n      - {{name: a, address: \"{backend.address}\"}}\n")
        env = {**stack.common, "ECO_MODELS_FILE": str(models), "ECO_KAFKA_BROKERS": "127.0.0.1:9",
               "ECO_HEALTH_INTERVAL_MS": "200", "ECO_KEY_CACHE_TTL_MS": str(TTL_MS),
               "ECO_SHUTDOWN_GRACE_MS": "2000", **(ai_env or {})}
        svc = start_service("ai-service", env)
        svc.wait_ready(200, timeout=15)
        ai = AI(stack, svc, pb, backend)
        made.append(ai)
        return ai

    yield make
    for ai in made:
        ai.close()


def test_api_key_and_access_token_work(make_ai):
    ai = make_ai()
    stack = ai.stack
    dev, dev_id, _ = stack.user("developer")
    created = stack.key(dev, rpm_limit=50)
    key = created["secret"]
    # an API key: unary, streaming, model list; the REST rate-limit headers come as metadata
    r, md = ai.generate(key)
    assert r.text and r.model == CHAT and r.usage.total_tokens > 0
    assert md["x-ratelimit-limit-requests"] == "50" and int(md["x-ratelimit-remaining-requests"]) == 49
    assert "x-ratelimit-limit-tokens" in md
    chunks = ai.stream(key)
    assert "".join(c.delta for c in chunks) == r.text and chunks[-1].finish_reason
    assert [m.id for m in ai.models(key).models] == [CHAT]
    # an access token (verified locally with ECO_JWT_KEYS), and the scheme is case-insensitive
    r2, md2 = ai.generate(raw="bearer " + dev)
    assert r2.text == r.text
    assert md2["x-ratelimit-limit-requests"] == "600"  # ECO_DEFAULT_RPM: sessions have no own limit
    # viewers may list models but not spend tokens (the permission table's /v1/models row)
    viewer, _, _ = stack.user("viewer")
    assert [m.id for m in ai.models(viewer).models] == [CHAT]
    # the key is a developer's: a model the registry lacks is the next problem, not the credential
    code, details, _ = refused(ai.embed, key)
    assert code == CODE.NOT_FOUND, details
    _, _, body = ai.svc.get("/metrics")
    assert 'eco_ai_grpc_auth_total{kind="api_key",result="ok"}' in body.decode()
    assert 'eco_ai_grpc_auth_total{kind="jwt",result="ok"}' in body.decode()


def test_missing_and_invalid_credentials_are_refused(make_ai):
    ai = make_ai()
    stack = ai.stack
    dev, dev_id, _ = stack.user("developer")
    viewer, _, _ = stack.user("viewer")
    engine_requests = ai.backend.sim.stats()["requests"]
    cases = [
        (None, None, "missing_credentials"),
        (None, "Basic dXNlcjpwYXNz", "invalid_credentials"),
        (None, "Bearer", "invalid_credentials"),
        ("garbage", None, "invalid_credentials"),
        ("eco_sk_" + "A" * 43, None, "invalid_api_key"),  # well-formed, unknown
        (forge_jwt({"alg": "HS256", "typ": "JWT", "kid": "k1"},
                   {"iss": "eco-base", "sub": dev_id, "aud": "eco-base", "role": "admin", "iat": now(),
                    "exp": now() + 600, "jti": "x"}, secret="not-the-signing-secret-0123456789abcdef"),
         None, "invalid_signature"),
        (forge_jwt({"alg": "HS256", "typ": "JWT", "kid": "k1"},
                   {"iss": "eco-base", "sub": dev_id, "aud": "eco-base", "role": "developer", "iat": now() - 900,
                    "exp": now() - 300, "jti": "y"}, secret=JWT_SECRET), None, "token_expired"),
        (forge_jwt({"alg": "none", "typ": "JWT", "kid": "k1"},
                   {"iss": "eco-base", "sub": dev_id, "aud": "eco-base", "role": "admin", "iat": now(),
                    "exp": now() + 600, "jti": "z"}), None, "unsupported_algorithm"),
    ]
    for cred, raw, code in cases:
        for call in (ai.generate, ai.models):
            got, details, tr = refused(call, cred, raw)
            assert got == CODE.UNAUTHENTICATED and tr.get("eco-error-code") == code, (cred, raw, got, details, tr)
            if code in ("missing_credentials", "invalid_credentials"):
                assert "authorization" in details and "Bearer" in details, details
            else:
                assert details, code
    # streams are checked before anything is streamed
    got, _, tr = refused(ai.stream)
    assert got == CODE.UNAUTHENTICATED and tr["eco-error-code"] == "missing_credentials"
    # a viewer's token and key are authentic but may not spend model tokens
    vkey = stack.key(stack.admin(), role="viewer")["secret"]
    for cred in (viewer, vkey):
        for call in (ai.generate, ai.stream, ai.embed):
            got, details, tr = refused(call, cred)
            assert got == CODE.PERMISSION_DENIED and tr["eco-error-code"] == "insufficient_role", (cred, details)
            assert "viewer" in details
    # nothing got through to the engine
    assert ai.backend.sim.stats()["requests"] == engine_requests


def test_revocation_takes_effect_within_the_cache_ttl(make_ai):
    ai = make_ai()
    stack = ai.stack
    dev, _, email = stack.user("developer")
    created = stack.key(dev)
    key, kid = created["secret"], created["id"]
    assert ai.models(key).models  # now cached
    s, _, js = stack.call("DELETE", f"/api/v1/keys/{kid}", dev)
    assert s == 200 and js["revoked"] is True
    t0 = time.monotonic()

    def refused_now():
        try:
            ai.models(key)
            return False
        except grpc.RpcError as e:
            assert e.code() == CODE.UNAUTHENTICATED, e
            assert dict(e.trailing_metadata())["eco-error-code"] == "invalid_api_key"
            return True

    wait_for(refused_now, 3, "the revoked key to be refused")
    assert time.monotonic() - t0 < TTL_MS / 1000 + 0.4
    # a logged-out access token is refused at once (its id is revoked in Redis, as for REST)
    sess = stack.login(email)
    assert ai.models(sess["access_token"]).models
    s, _, _ = stack.call("POST", "/auth/logout", sess["access_token"], {"refresh_token": sess["refresh_token"]})
    assert s == 200
    got, _, tr = refused(ai.models, sess["access_token"])
    assert got == CODE.UNAUTHENTICATED and tr["eco-error-code"] == "token_revoked"


def test_limits_are_shared_with_rest_and_exhaustion_says_when_to_retry(make_ai):
    ai = make_ai()
    stack = ai.stack
    dev, _, _ = stack.user("developer")
    created = stack.key(dev, rpm_limit=4, tpm_limit=100000)
    key = created["secret"]
    ai.generate(key)
    assert ai.models(key).models
    assert stack.call("GET", "/v1/models", key)[0] == 200  # the same key over REST, same window
    assert ai.models(key).models
    got, details, tr = refused(ai.models, key)
    assert got == CODE.RESOURCE_EXHAUSTED and tr["eco-error-code"] == "rate_limited", details
    assert 1 <= int(tr["retry-after"]) <= 60
    s, h, js = stack.call("GET", "/v1/models", key)
    assert s == 429 and js["error"]["code"] == "rate_limited"
    # a reservation beyond the token limit can never fit
    small = stack.key(dev, rpm_limit=100, tpm_limit=100)["secret"]
    got, details, tr = refused(ai.generate, small, max_tokens=500)
    assert got == CODE.RESOURCE_EXHAUSTED and tr["eco-error-code"] == "tokens_exceed_limit", details
    # tokens reserved at admission are reconciled with the real usage (visible in the key's usage)
    k = stack.key(dev, rpm_limit=100, tpm_limit=100000)
    r, _ = ai.generate(k["secret"], max_tokens=300)
    total = r.usage.total_tokens
    assert total > 0

    def settled():
        s, _, js = stack.call("GET", f"/api/v1/keys/{k['id']}/usage", dev)
        return s == 200 and js["requests"] == 1 and js["tokens"] == total and js

    wait_for(settled, 5, f"usage to settle at 1 request and {total} tokens")
    _, _, body = ai.svc.get("/metrics")
    assert 'eco_ai_grpc_ratelimit_decisions_total{result="limited"}' in body.decode()


def test_postgres_down_cached_key_still_works_within_the_stale_window(make_ai, deps):
    ai = make_ai(ai_env={"ECO_KEY_CACHE_STALE_MS": "120000"})
    stack = ai.stack
    dev, _, _ = stack.user("developer")
    warm = stack.key(dev)["secret"]
    cold = stack.key(dev)["secret"]
    assert ai.models(warm).models
    deps.stop("postgres")
    time.sleep(TTL_MS / 1000 + 0.1)  # past the TTL: the next use asks PostgreSQL
    try:
        r, _ = ai.generate(warm)
        assert r.text
        got, details, tr = refused(ai.models, cold)
        assert got == CODE.UNAVAILABLE and tr["eco-error-code"] == "auth_unavailable", details
        assert int(tr["retry-after"]) >= 1
        assert ai.models(dev).models  # access tokens need no database
        _, _, body = ai.svc.get("/metrics")
        assert 'eco_ai_grpc_key_cache_lookups_total{result="stale"}' in body.decode()
        # reported in /ready, but ai-service stays ready (REST and cached keys still work)
        status, body = ai.svc.ready()
        assert status == 200 and body["checks"]["postgres"]["required"] is False
    finally:
        deps.start("postgres")
    wait_for(lambda: _works(ai, cold), 20, "key look-ups recover")


def _works(ai, cred):
    try:
        return bool(ai.models(cred).models)
    except grpc.RpcError:
        return False


def test_health_needs_no_credentials(make_ai):
    ai = make_ai()
    health = health_pb2_grpc.HealthStub(ai.channel)
    for service in ("", "eco.ai.v1.Inference"):
        r = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=T)
        assert r.status == health_pb2.HealthCheckResponse.SERVING, service
    got, _, _ = refused(ai.models)
    assert got == CODE.UNAUTHENTICATED
