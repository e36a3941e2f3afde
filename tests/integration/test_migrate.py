"""api-gateway --migrate (versioned, idempotent, safe when run concurrently), the bootstrap admin
and the dev key, against the real PostgreSQL started by tests/run.sh."""
import concurrent.futures
import hashlib
import os
import subprocess
import uuid

import pytest

from ecotest import BIN, ROOT

pytestmark = pytest.mark.deps


def psql(url, sql):
    r = subprocess.run(["psql", url, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture
def fresh_db(deps):
    name = "t_" + uuid.uuid4().hex[:12]
    psql(deps.postgres_url, f"CREATE DATABASE {name}")
    base = deps.postgres_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    psql(deps.postgres_url, f"DROP DATABASE {name} WITH (FORCE)")


def run(url, *args, **env):
    full = dict(os.environ)
    full.update({"ECO_POSTGRES_URL": url, "ECO_MIGRATIONS_DIR": str(ROOT / "services/api-gateway/migrations"),
                 "ECO_ARGON2_MEMORY_KIB": "1024", "ECO_ARGON2_ITERATIONS": "1"})
    full.update(env)
    return subprocess.run([str(BIN / "api-gateway"), *args], env=full, capture_output=True, text=True, timeout=60)


ADMIN = {"ECO_BOOTSTRAP_ADMIN_EMAIL": "admin@eco.test", "ECO_BOOTSTRAP_ADMIN_PASSWORD": "correct horse battery"}


def test_migrate_is_idempotent_and_creates_the_schema(fresh_db):
    r = run(fresh_db, "--migrate", **ADMIN)
    assert r.returncode == 0, r.stdout + r.stderr
    tables = set(psql(fresh_db, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").split())
    for t in ("users", "api_keys", "refresh_tokens", "platforms", "ai_jobs", "job_events", "outbox",
              "yaml_documents", "governance_records", "schema_migrations"):
        assert t in tables, t
    versions = psql(fresh_db, "SELECT count(*) FROM schema_migrations")
    assert int(versions) == len(list((ROOT / "services/api-gateway/migrations").glob("*.sql")))
    r = run(fresh_db, "--migrate", **ADMIN)
    assert r.returncode == 0 and '"applied":0' in r.stdout
    assert psql(fresh_db, "SELECT count(*) FROM schema_migrations") == versions
    # the bootstrap admin exists once, with an argon2id hash and an audit row
    assert psql(fresh_db, "SELECT count(*) FROM users WHERE role = 'admin'") == "1"
    assert psql(fresh_db, "SELECT password_hash FROM users").startswith("$argon2id$v=19$")
    assert psql(fresh_db, "SELECT count(*) FROM governance_records WHERE action = 'user.create'") == "1"


def test_concurrent_migrations_apply_once(fresh_db):
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        results = list(ex.map(lambda _: run(fresh_db, "--migrate", **ADMIN), range(4)))
    assert all(r.returncode == 0 for r in results), [r.stdout + r.stderr for r in results]
    assert psql(fresh_db, "SELECT count(*) FROM users WHERE role = 'admin'") == "1"
    counts = psql(fresh_db, "SELECT count(*), count(DISTINCT version) FROM schema_migrations").split("|")
    assert counts[0] == counts[1]


def test_dev_key_is_stored_as_a_hash_only(fresh_db, tmp_path):
    assert run(fresh_db, "--migrate", **ADMIN).returncode == 0
    out = tmp_path / "dev.key"
    r = run(fresh_db, "--create-key", "--owner", "admin@eco.test", "--out", str(out))
    assert r.returncode == 0, r.stderr
    secret = out.read_text().strip()
    assert secret.startswith("eco_sk_") and len(secret) == 50
    stored = psql(fresh_db, "SELECT encode(secret_sha256, 'hex'), prefix, role FROM api_keys").split("|")
    assert stored == [hashlib.sha256(secret.encode()).hexdigest(), secret[:12], "admin"]
    assert secret not in psql(fresh_db, "SELECT row_to_json(k)::text FROM api_keys k")
    assert secret not in r.stdout + r.stderr
    r = run(fresh_db, "--create-key", "--owner", "nobody@eco.test")
    assert r.returncode == 1 and "no active user" in r.stdout


@pytest.mark.parametrize("env,var", [
    ({"ECO_BOOTSTRAP_ADMIN_EMAIL": "a@b.c", "ECO_BOOTSTRAP_ADMIN_PASSWORD": "short"}, "ECO_BOOTSTRAP_ADMIN_PASSWORD"),
    ({"ECO_BOOTSTRAP_ADMIN_EMAIL": "a@b.c"}, "ECO_BOOTSTRAP_ADMIN_PASSWORD"),
    ({"ECO_POSTGRES_URL": "localhost:5432"}, "ECO_POSTGRES_URL"),
])
def test_bad_bootstrap_settings_exit_2(fresh_db, env, var):
    r = run(fresh_db, "--migrate", **env)
    assert r.returncode == 2 and r.stderr.startswith(var + ": expected"), r.stderr


def test_migrate_fails_cleanly_without_postgres(tmp_path):
    r = run("postgresql://eco@127.0.0.1:9/eco", "--migrate")
    assert r.returncode == 1 and "migrations failed" in r.stdout
