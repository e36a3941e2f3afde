"""The job event consumer of the real job-poller: eco.jobs.v1.JobEvent messages on a real Kafka
topic move real ai_jobs rows through the state machine; duplicates are no-ops, refused
transitions are counted, unknown jobs and malformed payloads are dead-lettered, final states are
announced on Redis and counted in the metrics the alerts read."""
import uuid

from ecotest import wait_until
from jobstack import RedisSub, events_count, job_row, metric, metrics, psql, wait_status


def counted(jp, name, value, **labels):
    wait_until(lambda: metric(jp, name, **labels) == value, 10, what=f"{name}{labels} == {value}")


def test_started_then_succeeded_with_result_and_notification(db, names, deps, make_job, event, start_poller):
    job, owner = make_job()
    sub = RedisSub(deps.redis_url, f"{names.prefix}jobs:{owner}")
    jp = start_poller()
    assert metric(jp, "eco_jobs_finished_total", status="succeeded") == 0  # registered before any job ends
    event(job, "started", 1, attempt=1, worker="w-1")
    row = wait_status(db, job, "running")
    assert row["started"] and not row["finished"] and row["attempts"] == 1
    event(job, "progress", 2, text="Hel")
    event(job, "succeeded", 3, text="Hello", finish_reason="stop", model="eco-chat",
          usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})
    row = wait_status(db, job, "succeeded")
    assert row["finished"] and row["error"] is None
    assert row["result"]["text"] == "Hello" and row["result"]["finish_reason"] == "stop"
    assert row["result"]["usage"]["total_tokens"] == 5
    assert psql(db, f"SELECT string_agg(seq || ':' || type, ',' ORDER BY seq) FROM job_events WHERE job_id = '{job}'") \
        == "1:started,2:progress,3:succeeded"
    assert psql(db, f"SELECT payload->>'text' FROM job_events WHERE job_id = '{job}' AND seq = 2") == "Hel"
    note = sub.next_message()
    assert note == {"job_id": job, "status": "succeeded", "seq": 3}
    sub.close()
    counted(jp, "eco_jobs_finished_total", 1, status="succeeded")
    counted(jp, "eco_job_events_total", 1, type="succeeded", outcome="applied")
    assert metric(jp, "eco_job_events_total", type="progress", outcome="applied") == 1
    wait_until(lambda: metric(jp, "eco_job_notifications_total", outcome="sent") == 1, 10, what="notification sent")


def test_failed_with_error_counts_failure_and_retry_requeues(db, names, make_job, event, start_poller):
    job, _ = make_job()
    retried, _ = make_job()
    jp = start_poller()
    assert metric(jp, "eco_jobs_finished_total", status="failed") == 0
    event(job, "started", 1, attempt=1)
    event(job, "failed", 2, error_code="UNAVAILABLE", error_message="engine gone", attempt=1)
    row = wait_status(db, job, "failed")
    assert row["error"] == "engine gone" and row["finished"]
    counted(jp, "eco_jobs_finished_total", 1, status="failed")

    # a retryable failure puts the job back in the queue; the next attempt succeeds
    event(retried, "started", 1, attempt=1)
    event(retried, "failed", 2, error_message="transient", retryable=True, attempt=1)
    row = wait_status(db, retried, "queued")
    assert row["error"] == "transient" and not row["finished"]
    event(retried, "started", 3, attempt=2)
    event(retried, "succeeded", 4, text="ok", attempt=2)
    row = wait_status(db, retried, "succeeded")
    assert row["attempts"] == 2 and row["result"]["text"] == "ok"
    counted(jp, "eco_jobs_finished_total", 1, status="succeeded")
    assert metric(jp, "eco_jobs_finished_total", status="failed") == 1  # the retried failure is not final


def test_duplicate_delivery_is_a_noop(db, names, make_job, event, start_poller):
    job, _ = make_job()
    jp = start_poller()
    for ev in [("started", 1), ("started", 1), ("succeeded", 2), ("succeeded", 2), ("started", 1)]:
        event(job, ev[0], ev[1], text="done")
    wait_status(db, job, "succeeded")
    counted(jp, "eco_job_events_total", 2, type="started", outcome="duplicate")  # both replays of seq 1
    counted(jp, "eco_job_events_total", 1, type="succeeded", outcome="duplicate")
    assert events_count(db, job) == 2
    assert metric(jp, "eco_jobs_finished_total", status="succeeded") == 1
    assert job_row(db, job)["status"] == "succeeded"


def test_refused_transition_is_counted_not_a_crash(db, names, make_job, event, start_poller):
    job, _ = make_job()
    done, _ = make_job()
    jp = start_poller()
    event(job, "succeeded", 1, text="too early")  # queued -> succeeded: the trigger refuses it
    counted(jp, "eco_job_events_total", 1, type="succeeded", outcome="rejected")
    assert job_row(db, job)["status"] == "queued" and events_count(db, job) == 0
    # the consumer went on: later events of the same partition are applied
    event(job, "started", 2)
    wait_status(db, job, "running")
    # a final job stays final
    event(done, "started", 1)
    event(done, "cancelled", 2)
    wait_status(db, done, "cancelled")
    event(done, "succeeded", 3, text="late")
    counted(jp, "eco_job_events_total", 2, type="succeeded", outcome="rejected")
    assert job_row(db, done)["status"] == "cancelled"
    assert metric(jp, "eco_jobs_finished_total", status="cancelled") == 1
    assert metric(jp, "eco_jobs_finished_total", status="succeeded") == 0
    assert jp.proc.poll() is None and jp.get("/health")[0] == 200
    assert '"job event rejected"' in jp.output()


def test_unknown_job_goes_to_the_dead_letter_topic(db, names, kafka, make_job, event, start_poller):
    jp = start_poller()
    ghost = str(uuid.uuid4())
    ev = event(ghost, "started", 1)
    msgs = kafka.read_all(names.dlq, 1)
    assert len(msgs) == 1
    key, value, headers, _ = msgs[0]
    assert key == ghost.encode() and value == ev.SerializeToString()
    assert headers["eco-dlq-reason"] == b"unknown_job"
    assert headers["eco-dlq-source"].startswith(names.events.encode() + b"/")
    counted(jp, "eco_job_events_total", 1, type="started", outcome="dlq")
    # and the consumer went on
    job, _ = make_job()
    event(job, "started", 1)
    wait_status(db, job, "running")


def test_malformed_payloads_go_to_the_dead_letter_topic(db, names, kafka, pb2, make_job, event, start_poller):
    jp = start_poller()
    kafka.produce(names.events, b"\xff\xff\xff not a protobuf", key=b"k1")
    kafka.produce(names.events, pb2.JobEvent(job_id="not-a-uuid", type=2, seq=1).SerializeToString(), key=b"k2")
    kafka.produce(names.events, pb2.JobEvent(job_id=str(uuid.uuid4()), type=99, seq=1).SerializeToString(), key=b"k3")
    kafka.produce(names.events, b"", key=b"k4")  # empty: decodes, but has no job id
    msgs = kafka.read_all(names.dlq, 4)
    assert len(msgs) == 4
    by_key = {m[0]: m for m in msgs}
    assert by_key[b"k1"][1] == b"\xff\xff\xff not a protobuf"
    for k in (b"k1", b"k2", b"k3", b"k4"):
        assert by_key[k][2]["eco-dlq-reason"].startswith(b"malformed: "), by_key[k][2]
    assert b"UUID" in by_key[b"k2"][2]["eco-dlq-reason"]
    counted(jp, "eco_job_events_total", 3, type="unknown", outcome="malformed")  # undecodable, type 99, empty
    assert metric(jp, "eco_job_events_total", type="started", outcome="malformed") == 1
    assert jp.proc.poll() is None
    job, _ = make_job()
    event(job, "started", 1)
    wait_status(db, job, "running")


def test_consumer_lag_is_reported_per_partition(db, names, make_job, event, start_poller):
    jp = start_poller()
    jobs = [make_job()[0] for _ in range(6)]
    for j in jobs:
        event(j, "started", 1)
    for j in jobs:
        wait_status(db, j, "running")

    def lag_series():
        return {dict(k[1])["partition"]: v for k, v in metrics(jp).items()
                if k[0] == "eco_kafka_consumer_lag" and dict(k[1])["topic"] == names.events
                and dict(k[1])["group"] == names.group}
    series = wait_until(lambda: len(lag_series()) >= 1 and all(v == 0 for v in lag_series().values())
                        and lag_series(), 15, what="eco_kafka_consumer_lag for the events topic")
    assert set(series) <= {"0", "1", "2"}
