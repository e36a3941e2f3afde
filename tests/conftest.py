import sys
import pathlib

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import pytest  # noqa: E402

import ecotest  # noqa: E402


@pytest.fixture(scope="session")
def deps():
    return ecotest.Deps()


@pytest.fixture
def start_service():
    started = []

    def start(name, env=None, **kw):
        s = ecotest.Service(name, env, **kw)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop(timeout=20)
