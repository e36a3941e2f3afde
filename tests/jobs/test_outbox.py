"""The outbox relay of the real job-poller against real PostgreSQL and Kafka: pending rows are
published in id order with their key and headers and marked published; while Kafka cannot take
them they stay pending (attempts, last_error), and are published once it can."""
import json

from ecotest import free_port, wait_until
from jobstack import metric, psql


def add_rows(db, topic, n, start=0):
    values = ", ".join(
        f"('{topic}', 'job-{i % 3}', convert_to('payload-{i}', 'UTF8'), '{json.dumps({'eco-seq': str(i)})}')"
        for i in range(start, start + n))
    psql(db, f"INSERT INTO outbox (topic, key, payload, headers) VALUES {values}")


def pending(db):
    return int(psql(db, "SELECT count(*) FROM outbox WHERE published_at IS NULL"))


def test_rows_are_published_in_order_and_marked(db, names, kafka, start_poller):
    add_rows(db, names.requested, 25)
    jp = start_poller(ECO_OUTBOX_BATCH="10")  # three batches, the last one partial
    wait_until(lambda: pending(db) == 0, 30, what="every outbox row published")
    msgs = kafka.read_all(names.requested, 25)
    assert [m[1] for m in msgs] == [f"payload-{i}".encode() for i in range(25)]  # one partition: id order
    assert [m[0] for m in msgs] == [f"job-{i % 3}".encode() for i in range(25)]
    assert [m[2]["eco-seq"] for m in msgs] == [str(i).encode() for i in range(25)]
    assert psql(db, "SELECT count(*) FROM outbox WHERE attempts = 0 AND last_error IS NULL") == "25"
    wait_until(lambda: metric(jp, "eco_outbox_published_total") == 25, 5, what="published counter")
    wait_until(lambda: metric(jp, "eco_outbox_backlog") == 0, 5, what="backlog gauge 0")
    assert metric(jp, "eco_outbox_publish_errors_total") == 0
    # rows written later are relayed too, after the earlier ones
    add_rows(db, names.requested, 3, start=25)
    wait_until(lambda: pending(db) == 0, 15, what="later rows published")
    assert [m[1] for m in kafka.read_all(names.requested, 28)][25:] == [b"payload-25", b"payload-26", b"payload-27"]


def test_rows_stay_pending_while_kafka_is_unreachable(db, names, kafka, start_poller):
    add_rows(db, names.requested, 3)
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    jp = start_poller(ECO_KAFKA_BROKERS=dead, ECO_KAFKA_DELIVERY_TIMEOUT_MS="1000")
    wait_until(lambda: psql(db, "SELECT min(attempts) FROM outbox") not in ("", "0"), 30,
               what="a failed publication recorded on every row")
    assert pending(db) == 3
    assert int(psql(db, "SELECT count(*) FROM outbox WHERE last_error <> ''")) == 3
    wait_until(lambda: metric(jp, "eco_outbox_publish_errors_total") >= 3, 5, what="publish errors counted")
    wait_until(lambda: metric(jp, "eco_outbox_backlog") == 3, 5, what="backlog gauge 3")
    assert metric(jp, "eco_outbox_published_total") == 0
    status, body = jp.ready()
    assert status == 503 and body["checks"]["kafka"]["state"] == "down", body
    assert jp.stop() == 0

    # Kafka reachable again: the same rows go out, in order, and are marked
    start_poller()
    wait_until(lambda: pending(db) == 0, 30, what="pending rows published after the outage")
    assert [m[1] for m in kafka.read_all(names.requested, 3)] == [b"payload-0", b"payload-1", b"payload-2"]
