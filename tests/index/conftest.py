"""Fixtures for the index-service tests. No other service or dependency is needed (text
embedding through ai-service is not part of this slice)."""
import pytest

from ixstack import Index


@pytest.fixture
def start_index(tmp_path):
    started = []

    def start(data_dir=None, **env):
        ix = Index(data_dir or tmp_path / "data", {k: str(v) for k, v in env.items()})
        started.append(ix)
        return ix

    yield start
    for ix in started:
        if ix.svc.proc.poll() is None:
            ix.stop()
        elif not ix.svc.log.closed:
            ix.svc.log.close()
