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


@pytest.fixture(scope="session")
def pb(tmp_path_factory):
    """(inference_pb2, inference_pb2_grpc) for eco.ai.v1, generated once per test session."""
    return ecotest.inference_stubs(tmp_path_factory.mktemp("stubs"))
