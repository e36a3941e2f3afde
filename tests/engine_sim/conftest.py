import pytest

from simwire import Sim


@pytest.fixture
def sim():
    """Factory: sim(kind, *flags) starts engine-sim. At teardown every process is stopped; the
    test fails if one exited non-zero, hung on SIGTERM, or printed a sanitizer report (its log is
    kept then, and removed otherwise)."""
    started = []

    def start(kind, *args, **kw):
        s = Sim(kind, *args, **kw)
        started.append(s)
        return s

    yield start
    errors = []
    for s in started:
        try:
            rc = s.stop()
        except AssertionError as e:
            errors.append(f"{e} (log: {s.log_path})")
            continue
        if rc != 0:
            errors.append(f"engine-sim --kind {s.kind} exited {rc} (log: {s.log_path}): {s.output()[-1500:]}")
        else:
            s.log_path.unlink(missing_ok=True)
    assert not errors, "\n".join(errors)
