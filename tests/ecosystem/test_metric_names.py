"""Every metric name that a Prometheus rule or a Grafana dashboard of ecosystem/ reads is one the
services emit: start the whole stack (engine-sims, engine-adapters, index-service, ai-service,
api-gateway, job-poller, root-gateway) on real PostgreSQL, Redis and Kafka, send one request of each
kind, scrape every /metrics and compare. Also: the services' log lines are what
ecosystem/logging/fluent-bit.yaml parses."""
import json
import re
import subprocess
import sys
import uuid
from datetime import datetime

import grpc
import pytest
import yaml

import ecotest
from ecotest import BIN, ROOT, Service, free_port, http, wait_until

sys.path.insert(0, str(ROOT / "ecosystem"))
import exprs  # noqa: E402

# Series that Prometheus records itself for every scrape target, not a service
PROMETHEUS_SERIES = {"up"}
ADMIN, PASSWORD = "admin@eco.test", "correct horse battery"


# ---------------------------------------------------------------- the name extraction itself
@pytest.mark.parametrize("expr, names", [
    ('sum by (job, le) (rate(eco_request_duration_seconds_bucket{code=~"5..", job="a b"}[5m]))',
     {"eco_request_duration_seconds_bucket"}),
    ("job:eco_requests:rate5m > 0.05", {"job:eco_requests:rate5m"}),
    ('max by (upstream) (a_total / ignoring(state) group_left(x) b{state="in_use"}) > 2 and on (job) up == 0',
     {"a_total", "b", "up"}),
    ('histogram_quantile(0.99, sum without (instance) (rate(vllm:time_to_first_token_seconds_bucket[1m])))',
     {"vllm:time_to_first_token_seconds_bucket"}),
    ("sum(increase(x_total[15m] offset 1h)) or vector(0)", {"x_total"}),
])
def test_metric_names_of_an_expression(expr, names):
    assert exprs.metric_names(expr) == names


def test_every_rule_and_dashboard_is_read():
    rules, recorded = exprs.rule_exprs()
    dashboards = exprs.dashboard_exprs()
    assert len(rules) >= 10 and len(dashboards) >= 30 and recorded
    files = {w.split(":")[0] for w, _ in dashboards}
    assert files == {"request-path.json", "engines.json", "jobs.json", "index.json"}


def missing_names(used, emitted):
    return {n: where for n, where in used.items() if n not in emitted and n not in PROMETHEUS_SERIES}


def test_an_unknown_name_is_reported():
    used = {"eco_requests_total": ["a"], "eco_made_up_total": ["b"], "up": ["c"]}
    assert missing_names(used, {"eco_requests_total"}) == {"eco_made_up_total": ["b"]}


# ---------------------------------------------------------------- the live stack
def parse_exposition(text):
    """(sample names, declared names): a family declared by # TYPE counts with its sample names."""
    samples, declared = set(), set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            declared.add(name)
            if kind in ("histogram", "summary"):
                declared.update({name + "_sum", name + "_count"} | ({name + "_bucket"} if kind == "histogram" else set()))
        elif line and not line.startswith("#"):
            samples.add(re.match(r"[^{\s]+", line).group(0))
    return samples, declared


def psql(url, sql):
    r = subprocess.run(["psql", url, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr


@pytest.fixture
def db(deps):
    name = "t_" + uuid.uuid4().hex[:12]
    psql(deps.postgres_url, f"CREATE DATABASE {name}")
    yield deps.postgres_url.rsplit("/", 1)[0] + "/" + name
    psql(deps.postgres_url, f"DROP DATABASE {name} WITH (FORCE)")


class Sim(Service):
    """engine-sim listens on --port, not ECO_HTTP_PORT."""

    def __init__(self, kind):
        port = free_port()
        super().__init__("engine-sim", {"ECO_SHUTDOWN_GRACE_MS": "1000"},
                         args=["--kind", kind, "--port", str(port), "--bind", "127.0.0.1"], wait_health=False)
        self.url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http("GET", self.url + ("/" if kind == "ollama" else "/health"), timeout=1)[0] == 200,
                   15, what=f"engine-sim {kind}")


@pytest.fixture
def stack(deps, db, tmp_path, start_service):
    started = []
    s = {}
    base = {"ECO_POSTGRES_URL": db, "ECO_REDIS_URL": deps.redis_url, "ECO_KAFKA_BROKERS": deps.kafka_brokers,
            "ECO_REDIS_KEY_PREFIX": "t" + uuid.uuid4().hex[:10] + ":",
            "ECO_JWT_KEYS": "k1:test-signing-secret-0123456789-abcdefghij",
            "ECO_INTERNAL_SECRET": "internal-secret-0123456789-abcdefghijklmn",
            "ECO_ARGON2_MEMORY_KIB": "1024", "ECO_ARGON2_ITERATIONS": "1",
            "ECO_MIGRATIONS_DIR": str(ROOT / "services/api-gateway/migrations"),
            "ECO_BOOTSTRAP_ADMIN_EMAIL": ADMIN, "ECO_BOOTSTRAP_ADMIN_PASSWORD": PASSWORD}
    env = {**ecotest.os.environ, **base}
    r = subprocess.run([str(BIN / "api-gateway"), "--migrate"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    keyfile = tmp_path / "key"
    r = subprocess.run([str(BIN / "api-gateway"), "--create-key", "--owner", ADMIN, "--name", "t", "--out", str(keyfile)],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    s["key"] = keyfile.read_text().strip()
    try:
        for kind in ("vllm", "tgi", "ollama"):
            sim = Sim(kind)
            started.append(sim)
            s["sim-" + kind] = sim
            s["adapter-" + kind] = start_service("engine-adapter", {
                "ECO_ENGINE_KIND": kind, "ECO_ENGINE_URL": sim.url, "ECO_ENGINE_FORWARD_METADATA": "x-sim-fault",
                "ECO_ENGINE_SCRAPE_INTERVAL_MS": "200"})
        models = tmp_path / "models.yaml"
        models.write_text(yaml.safe_dump({"default": "eco-chat", "models": [
            {"id": "eco-chat", "capabilities": ["chat", "completion"], "backends": [
                {"name": k, "address": f"127.0.0.1:{s['adapter-' + k].grpc_port}"} for k in ("vllm", "tgi")]},
            {"id": "eco-embed", "capabilities": ["embedding"], "backends": [
                {"name": "ollama", "address": f"127.0.0.1:{s['adapter-ollama'].grpc_port}"}]}]}))
        s["ai-service"] = start_service("ai-service", {**base, "ECO_MODELS_FILE": str(models)})
        s["index-service"] = start_service("index-service", {
            "ECO_INDEX_DATA_DIR": str(tmp_path / "index"), "ECO_AI_SERVICE_URL": s["ai-service"].url,
            "ECO_AI_GRPC_ADDR": f"127.0.0.1:{s['ai-service'].grpc_port}"})
        s["api-gateway"] = start_service("api-gateway", {**base, "ECO_AI_SERVICE_URL": s["ai-service"].url})
        # its own consumer group (a new group starts at the earliest offset of eco.jobs.events)
        s["job-poller"] = start_service("job-poller", {**base, "ECO_KAFKA_GROUP": "g-metrics-" + uuid.uuid4().hex[:8],
                                                       "ECO_KAFKA_STATS_INTERVAL_MS": "200"})
        s["root-gateway"] = start_service("root-gateway", {
            **base, "ECO_AI_SERVICE_URL": s["ai-service"].url, "ECO_API_GATEWAY_URL": s["api-gateway"].url,
            "ECO_AI_GRPC_ADDR": f"127.0.0.1:{s['ai-service'].grpc_port}"})
        s["root-gateway"].wait_ready(200, timeout=30)
        (tmp_path / "stubs").mkdir()
        s["db"], s["stubs"], s["brokers"] = db, str(tmp_path / "stubs"), deps.kafka_brokers
        yield s
    finally:
        for p in started:
            p.stop()


def one_request_of_each_kind(s, pb):
    gw, key = s["root-gateway"].url, s["key"]
    auth = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    calls = [
        ("GET", "/v1/models", None, auth), ("GET", "/v1/models/eco-chat", None, auth),
        ("GET", "/v1/models", None, {}),  # no credentials
        ("GET", "/v1/models", None, {"Authorization": "Bearer eco_sk_not-a-key"}),
        ("POST", "/v1/chat/completions", {"model": "eco-chat", "messages": [{"role": "user", "content": "hi"}]}, auth),
        ("POST", "/v1/embeddings", {"model": "eco-embed", "input": "hi"}, auth),
        ("GET", "/api/v1/keys", None, auth), ("GET", "/auth/me", None, auth),
        ("POST", "/auth/login", {"email": ADMIN, "password": PASSWORD}, {"Content-Type": "application/json"}),
        ("POST", "/auth/login", {"email": ADMIN, "password": "wrong"}, {"Content-Type": "application/json"}),
        ("POST", "/api/v1/ai/jobs", {"model": "eco-chat", "prompt": "hi"}, auth),
    ]
    for method, path, body, headers in calls:
        status, _, _ = http(method, gw + path, body=body, headers=headers)
        assert status < 600
    for name in ("api-gateway", "ai-service", "index-service", "job-poller"):
        assert s[name].get("/health")[0] == 200
    job_events_consumed(s)
    inference_pb2, inference_pb2_grpc = pb
    for kind in ("vllm", "tgi", "ollama"):
        with grpc.insecure_channel(f"127.0.0.1:{s['adapter-' + kind].grpc_port}") as ch:
            stub = inference_pb2_grpc.InferenceStub(ch)
            req = inference_pb2.GenerateRequest(messages=[inference_pb2.ChatMessage(role="user", content="hello")],
                                                max_tokens=8)
            stub.GenerateCompletion(req, timeout=10)
            assert list(stub.StreamCompletion(req, timeout=10))
            stub.GetLoad(inference_pb2.GetLoadRequest(), timeout=10)
            try:
                stub.GenerateEmbedding(inference_pb2.EmbeddingRequest(input=["hi"]), timeout=10)
            except grpc.RpcError:
                pass  # tgi serves no embeddings: counted as outcome="unimplemented"
            try:  # an engine stream that breaks off
                list(stub.StreamCompletion(req, timeout=10, metadata=[("x-sim-fault", "cut-after=2")]))
            except grpc.RpcError:
                pass


def job_events_consumed(s):
    """A job that failed, announced on eco.jobs.events as an ai-service worker would: job-poller
    applies it, so its job and consumer-lag series carry values."""
    from confluent_kafka import Producer
    db = s["db"]
    owner = subprocess.run(["psql", db, "-At", "-c", f"SELECT id FROM users WHERE email = '{ADMIN}'"],
                           capture_output=True, text=True, timeout=30).stdout.strip()
    job = subprocess.run(["psql", db, "-At", "-q", "-c", "INSERT INTO ai_jobs (owner_id, model, request) VALUES "
                          f"('{owner}', 'eco-chat', '{{}}') RETURNING id"],
                         capture_output=True, text=True, timeout=30).stdout.strip()
    assert len(job) == 36, job
    jobs_pb2 = ecotest.jobs_stubs(s["stubs"])
    p = Producer({"bootstrap.servers": s["brokers"]})
    for seq, kind in ((1, jobs_pb2.JOB_EVENT_TYPE_STARTED), (2, jobs_pb2.JOB_EVENT_TYPE_FAILED)):
        ev = jobs_pb2.JobEvent(job_id=job, type=kind, seq=seq, error_message="engine gone")
        p.produce("eco.jobs.events", value=ev.SerializeToString(), key=job.encode())
    assert p.flush(15) == 0
    jp = s["job-poller"]

    def consumed():
        text = jp.get("/metrics")[2].decode()
        return ('eco_jobs_finished_total{status="failed"} 1' in text
                and re.search(r'eco_kafka_consumer_lag\{topic="eco.jobs.events",partition="\d+",group="g-metrics-', text))
    wait_until(consumed, 30, what="job-poller applied the events and reports its consumer lag")


def scrape(s):
    skip = {"key", "sim-ollama", "db", "stubs", "brokers"}  # Ollama has no /metrics
    urls = {n: svc.url for n, svc in s.items() if n not in skip}
    out = {}
    for name, url in urls.items():
        status, headers, body = http("GET", url + "/metrics")
        assert status == 200, f"{name} /metrics: {status}"
        out[name] = body.decode()
    return out


@pytest.mark.deps
def test_every_metric_used_is_emitted(stack, pb):
    one_request_of_each_kind(stack, pb)
    samples, declared = set(), set()
    for text in scrape(stack).values():
        a, b = parse_exposition(text)
        samples |= a
        declared |= b
    used = exprs.used_names()
    assert len(used) >= 20
    missing = missing_names(used, samples | declared)
    assert not missing, "metrics used by ecosystem/ rules or dashboards that no service emits:\n" + "\n".join(
        f"  {n}: {', '.join(w)}" for n, w in sorted(missing.items()))
    # A family counts when its # TYPE line is exposed: some series only appear with their first event
    # (a Redis error, a shed request, a slow client), which one request of each kind does not make.
    # the log lines of the same run are what ecosystem/logging/fluent-bit.yaml parses
    fb = yaml.safe_load((ROOT / "ecosystem/logging/fluent-bit.yaml").read_text())
    parser = next(p for p in fb["parsers"] if p["name"] == "eco-json")
    fmt = parser["time_format"].replace("%L", "%f")
    for name, svc in stack.items():
        if name in ("key", "db", "stubs", "brokers") or name.startswith("sim-"):
            continue
        lines = [ln for ln in svc.output().splitlines() if ln.startswith("{")]
        assert lines, f"{name} logged no JSON line"
        for ln in lines:
            rec = json.loads(ln)
            datetime.strptime(rec[parser["time_key"]], fmt)
            assert {"level", "svc", "msg"} <= set(rec), ln
