"""Fixtures for the job-poller tests: a fresh migrated database per test, topics and a consumer
group of its own on the real Kafka broker (so tests never see each other's messages), a Redis
key prefix of its own, and a factory that starts the real job-poller on them."""
import json
import os
import subprocess
import uuid

import pytest

from ecotest import BIN, ROOT, jobs_stubs
from jobstack import Kafka, psql


@pytest.fixture(scope="session")
def pb2(tmp_path_factory):
    return jobs_stubs(tmp_path_factory.mktemp("jobs_pb"))


@pytest.fixture(scope="session")
def kafka(deps):
    return Kafka(deps.kafka_brokers)


@pytest.fixture
def db(deps):
    name = "t_" + uuid.uuid4().hex[:12]
    psql(deps.postgres_url, f"CREATE DATABASE {name}")
    url = deps.postgres_url.rsplit("/", 1)[0] + "/" + name
    env = {**os.environ, "ECO_POSTGRES_URL": url, "ECO_MIGRATIONS_DIR": str(ROOT / "services/api-gateway/migrations")}
    try:
        r = subprocess.run([str(BIN / "api-gateway"), "--migrate"], env=env, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        yield url
    finally:
        psql(deps.postgres_url, f"DROP DATABASE {name} WITH (FORCE)")


class Names:
    def __init__(self):
        t = uuid.uuid4().hex[:10]
        self.events = f"t.{t}.events"
        self.dlq = f"t.{t}.dlq"
        self.requested = f"t.{t}.requested"
        self.group = f"g-{t}"
        self.prefix = f"t{t}:"


@pytest.fixture
def names(kafka):
    n = Names()
    kafka.create_topics(n.events, partitions=3)
    kafka.create_topics(n.dlq, n.requested)
    return n


@pytest.fixture
def poller_env(deps, db, names):
    return {"ECO_POSTGRES_URL": db, "ECO_REDIS_URL": deps.redis_url, "ECO_KAFKA_BROKERS": deps.kafka_brokers,
            "ECO_KAFKA_EVENTS_TOPIC": names.events, "ECO_KAFKA_DLQ_TOPIC": names.dlq,
            "ECO_KAFKA_GROUP": names.group, "ECO_REDIS_KEY_PREFIX": names.prefix,
            "ECO_OUTBOX_POLL_MS": "50", "ECO_KAFKA_STATS_INTERVAL_MS": "200",
            "ECO_KAFKA_DELIVERY_TIMEOUT_MS": "5000", "ECO_SHUTDOWN_GRACE_MS": "10000"}


@pytest.fixture
def start_poller(start_service, poller_env):
    def start(**env):
        return start_service("job-poller", {**poller_env, **env})
    return start


@pytest.fixture
def make_job(db):
    """Inserts a user and a queued job; returns (job_id, owner_id)."""
    def make(status="queued"):
        owner = psql(db, f"INSERT INTO users (email, password_hash) VALUES ('u{uuid.uuid4().hex[:10]}@eco.test', "
                         f"'$argon2id$x') RETURNING id").splitlines()[0]
        job = psql(db, "INSERT INTO ai_jobs (owner_id, model, request) VALUES "
                       f"('{owner}', 'eco-chat', '{json.dumps({'prompt': 'hi'})}') RETURNING id").splitlines()[0]
        if status == "running":
            psql(db, f"UPDATE ai_jobs SET status = 'running', started_at = now() WHERE id = '{job}'")
        return job, owner
    return make


@pytest.fixture
def event(pb2, kafka, names):
    """Produces one eco.jobs.v1.JobEvent (key = job id) to the test's events topic."""
    types = {"queued": 1, "started": 2, "progress": 3, "succeeded": 4, "failed": 5, "cancelled": 6, "expired": 7}

    def send(job_id, type_, seq, topic=None, **fields):
        usage = fields.pop("usage", None)
        ev = pb2.JobEvent(job_id=job_id, type=types[type_], seq=seq, **fields)
        for k, v in (usage or {}).items():
            setattr(ev.usage, k, v)
        kafka.produce(topic or names.events, ev.SerializeToString(), key=job_id.encode())
        return ev
    return send
