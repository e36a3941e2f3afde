"""Fixtures for the identity and edge tests: a fresh migrated database per test and Stacks of
the real gateways (see idstack.py)."""
import os
import subprocess
import uuid

import pytest

from ecotest import BIN, ROOT
from idstack import ADMIN_EMAIL, ADMIN_PASSWORD, Stack, psql


@pytest.fixture
def fresh_db(deps):
    name = "t_" + uuid.uuid4().hex[:12]
    psql(deps.postgres_url, f"CREATE DATABASE {name}")
    url = deps.postgres_url.rsplit("/", 1)[0] + "/" + name
    env = {"ECO_POSTGRES_URL": url, "ECO_MIGRATIONS_DIR": str(ROOT / "services/api-gateway/migrations"),
           "ECO_ARGON2_MEMORY_KIB": "1024", "ECO_ARGON2_ITERATIONS": "1",
           "ECO_BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL, "ECO_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD}
    try:
        r = subprocess.run([str(BIN / "api-gateway"), "--migrate"], env={**os.environ, **env},
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        yield url
    finally:
        psql(deps.postgres_url, f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def make_stack(deps, fresh_db, start_service):
    stacks = []

    def make(**kw):
        s = Stack(deps, fresh_db, start_service, **kw)
        stacks.append(s)
        return s

    yield make
    for s in stacks:
        s.up.stop()


@pytest.fixture
def stack(make_stack):
    return make_stack()


