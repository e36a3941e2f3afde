"""job-poller as a process: settings checked at start-up, the readiness contract, SIGTERM
(prompt exit 0, the group left so the next member takes over at once), and restarts that lose no
event because an offset is committed only after its event was applied."""
import os
import signal
import subprocess
import time

from ecotest import BIN, free_port, wait_until
from jobstack import events_count, job_row, metric, psql, wait_status


def test_bad_settings_stop_start_up_with_exit_2(poller_env):
    for var, value in [("ECO_OUTBOX_BATCH", "0"), ("ECO_OUTBOX_POLL_MS", "fast"),
                       ("ECO_KAFKA_EVENTS_TOPIC", "no spaces allowed"), ("ECO_KAFKA_GROUP", ""),
                       ("ECO_KAFKA_STATS_INTERVAL_MS", "10")]:
        env = {**os.environ, **poller_env, "ECO_HTTP_PORT": str(free_port()), var: value}
        r = subprocess.run([str(BIN / "job-poller")], env=env, capture_output=True, text=True, timeout=20)
        assert r.returncode == 2, (var, r.returncode, r.stdout[-500:], r.stderr)
        assert r.stderr.strip().startswith(var + ":"), r.stderr


def test_readiness_requires_postgres_and_kafka_not_redis(start_poller):
    jp = start_poller()
    status, body = jp.wait_ready(200)
    assert {k: v["required"] for k, v in body["checks"].items()} == {"postgres": True, "kafka": True, "redis": False}
    down = start_poller(ECO_REDIS_URL=f"redis://127.0.0.1:{free_port()}")
    wait_until(lambda: down.ready()[1]["checks"]["redis"]["state"] == "down", 10, what="redis reported down")
    status, body = down.wait_ready(200, state="degraded")  # reported, still ready
    nopg = start_poller(ECO_POSTGRES_URL=f"postgresql://eco@127.0.0.1:{free_port()}/eco")
    nopg.wait_ready(503)


def test_sigterm_exits_0_promptly_and_leaves_the_group(db, make_job, event, start_poller):
    job, _ = make_job()
    jp = start_poller()
    event(job, "started", 1)
    wait_status(db, job, "running")
    t0 = time.monotonic()
    assert jp.stop(sig=signal.SIGTERM, timeout=8) == 0
    assert time.monotonic() - t0 < 5
    out = jp.output()
    assert '"event consumer stopped"' in out and '"outbox relay stopped"' in out
    # the next member of the group gets the partitions at once (no session timeout to wait out)
    jp2 = start_poller()
    event(job, "succeeded", 2, text="x")
    wait_status(db, job, "succeeded", timeout=15)
    assert metric(jp2, "eco_job_events_total", type="started", outcome="duplicate") == 0  # seq 1 was committed


def test_restart_mid_stream_loses_no_event(db, make_job, event, start_poller):
    jobs = [make_job()[0] for _ in range(40)]
    jp = start_poller()
    for j in jobs:
        event(j, "started", 1)
    for j in jobs:
        event(j, "succeeded", 2, text="r")
    wait_until(lambda: int(psql(db, "SELECT count(*) FROM job_events")) >= 5, 20, what="some events applied")
    assert jp.stop() == 0  # mid-stream
    start_poller()
    for j in jobs:
        wait_status(db, j, "succeeded")
    assert int(psql(db, "SELECT count(*) FROM job_events")) == 80


def test_an_event_not_applied_is_not_committed(db, make_job, event, start_poller):
    job, _ = make_job()
    jp = start_poller()
    event(job, "started", 1)
    wait_status(db, job, "running")
    psql(db, "ALTER TABLE job_events RENAME TO job_events_away")  # applying now fails (42P01)
    try:
        event(job, "succeeded", 2, text="kept")
        wait_until(lambda: metric(jp, "eco_job_apply_retries_total") >= 2, 15, what="apply retried")
        assert job_row(db, job)["status"] == "running"
        t0 = time.monotonic()
        assert jp.stop() == 0  # stopping while the event cannot be applied: its offset stays uncommitted
        assert time.monotonic() - t0 < 5
    finally:
        psql(db, "ALTER TABLE job_events_away RENAME TO job_events")
    start_poller()
    row = wait_status(db, job, "succeeded")
    assert row["result"]["text"] == "kept" and events_count(db, job) == 2
