"""Helpers for the index-service tests: the real binary on free loopback ports with a data
directory (WAL and snapshots) of its own, and a small client for its REST API."""
import json
import re
import signal

from ecotest import Service, http, wait_until


class Index:
    """One running index-service and helpers for its /v1/collections API."""

    def __init__(self, data_dir, env=None):
        self.data_dir = data_dir
        self.env = {"ECO_INDEX_DATA_DIR": str(data_dir), **(env or {})}
        self.svc = Service("index-service", self.env)
        self.url = self.svc.url

    def call(self, method, path, body=None, raw=None):
        """(status, parsed JSON body)."""
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        headers = {"content-type": "application/json"} if data is not None else {}
        status, _, out = http(method, self.url + path, body=data, headers=headers)
        return status, (json.loads(out) if out else None)

    def ok(self, method, path, body=None):
        status, out = self.call(method, path, body)
        assert status == 200, (method, path, status, out)
        return out

    def create(self, name, dims, metric="cosine", **kw):
        return self.ok("POST", "/v1/collections", {"name": name, "dimensions": dims, "metric": metric, **kw})

    def upsert(self, name, records):
        return self.ok("POST", f"/v1/collections/{name}/upsert", {"records": records})

    def search(self, name, **body):
        return self.ok("POST", f"/v1/collections/{name}/search", body)

    def get(self, name, ids, **kw):
        return self.ok("POST", f"/v1/collections/{name}/get", {"ids": ids, **kw})

    def stats(self, name):
        return self.ok("GET", f"/v1/collections/{name}/stats")

    def metric(self, name, labels=""):
        """The value of one sample of /metrics (labels: the exact label text, e.g. 'outcome="ok"')."""
        _, _, body = http("GET", self.url + "/metrics")
        want = f"{name}{{{labels}}}" if labels else name
        for line in body.decode().splitlines():
            m = re.match(r"^(\S+) (\S+)$", line)
            if m and m.group(1) == want:
                return float(m.group(2))
        raise AssertionError(f"{want} not in /metrics")

    def kill9(self):
        self.svc.proc.send_signal(signal.SIGKILL)
        self.svc.proc.wait(10)
        self.svc.stop()

    def stop(self):
        return self.svc.stop(sig=signal.SIGTERM, timeout=20)

    def output(self):
        return self.svc.output()


def error(resp):
    """(status, param, message, code) of an error answer."""
    status, body = resp
    assert body and "error" in body, (status, body)
    e = body["error"]
    return status, e.get("param"), e["message"], e.get("code")


def wait_metric(ix, name, pred, timeout=10, labels=""):
    return wait_until(lambda: pred(ix.metric(name, labels)), timeout, what=f"{name} condition")
