"""Helpers for the job-poller tests (tests/jobs): psql, a real Kafka client (confluent-kafka), a
Redis subscriber on a raw socket, the Prometheus text of /metrics, and the job rows."""
import json
import re
import socket
import subprocess
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import ecotest


def psql(url, sql):
    r = subprocess.run(["psql", url, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


class Kafka:
    """A producer, topic creation and reading whole topics, on the test broker."""

    def __init__(self, brokers):
        self.brokers = brokers
        self.admin = AdminClient({"bootstrap.servers": brokers})
        self.producer = Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "linger.ms": 0})

    def create_topics(self, *names, partitions=1):
        fs = self.admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names],
                                      operation_timeout=15)
        for f in fs.values():
            f.result(timeout=30)
        # wait until the broker serves their metadata
        ecotest.wait_until(lambda: all(n in self.admin.list_topics(timeout=5).topics for n in names), 15,
                           what="topics created")

    def produce(self, topic, value, key=None, headers=None):
        errors = []
        self.producer.produce(topic, value=value, key=key, headers=headers,
                              on_delivery=lambda err, msg: err and errors.append(err))
        assert self.producer.flush(15) == 0, "kafka produce not acknowledged"
        assert not errors, errors

    def read_all(self, topic, expect, timeout=20):
        """Reads topic from the beginning until `expect` messages arrived (or timeout): a list of
        (key, value, headers dict, partition)."""
        c = Consumer({"bootstrap.servers": self.brokers, "group.id": "reader-" + uuid.uuid4().hex,
                      "auto.offset.reset": "earliest", "enable.auto.commit": False})
        md = c.list_topics(topic, timeout=10).topics[topic]
        c.assign([TopicPartition(topic, p, 0) for p in md.partitions])
        out = []
        try:
            def more():
                m = c.poll(0.2)
                if m is not None and not m.error():
                    out.append((m.key(), m.value(), dict(m.headers() or []), m.partition()))
                return len(out) >= expect
            ecotest.wait_until(more, timeout, interval=0, what=f"{expect} messages on {topic}")
            # anything beyond the expected count shows up within a short extra read
            end = time.monotonic() + 0.5
            while time.monotonic() < end:
                m = c.poll(0.1)
                if m is not None and not m.error():
                    out.append((m.key(), m.value(), dict(m.headers() or []), m.partition()))
        finally:
            c.close()
        return out


class RedisSub:
    """SUBSCRIBE on a raw socket (RESP), so a test sees exactly what was published."""

    def __init__(self, url, channel):
        m = re.match(r"redis://([^:/]+):(\d+)", url)
        self.sock = socket.create_connection((m.group(1), int(m.group(2))), timeout=10)
        self.buf = b""
        self._send("SUBSCRIBE", channel)
        reply = self._read()
        assert reply[0] == b"subscribe", reply

    def _send(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _read(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"*":
            return [self._read() for _ in range(int(rest))]
        if t == b"$":
            n = int(rest)
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(65536)
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if t == b":":
            return int(rest)
        return rest

    def next_message(self, timeout=10):
        self.sock.settimeout(timeout)
        reply = self._read()
        assert reply[0] == b"message", reply
        return json.loads(reply[2])

    def close(self):
        self.sock.close()


def metrics(svc):
    """{(name, frozenset(labels.items())): value} from the service's /metrics."""
    status, _, body = ecotest.http("GET", svc.url + "/metrics")
    assert status == 200
    out = {}
    for line in body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$', line)
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def metric(svc, name, **labels):
    """The value of one series, or None when it is not exposed."""
    return metrics(svc).get((name, frozenset(labels.items())))


def job_row(db, job):
    out = psql(db, "SELECT row_to_json(j) FROM (SELECT status, result, error, attempts, started_at IS NOT NULL AS "
                   f"started, finished_at IS NOT NULL AS finished FROM ai_jobs WHERE id = '{job}') j")
    return json.loads(out)


def wait_status(db, job, status, timeout=20):
    return ecotest.wait_until(lambda: job_row(db, job)["status"] == status and job_row(db, job), timeout,
                      what=f"job {job} {status}")


def events_count(db, job):
    return int(psql(db, f"SELECT count(*) FROM job_events WHERE job_id = '{job}'"))
