"""index-service REST API: collections CRUD, records (upsert replaces by id, get, delete by ids and
by filter), search checked against a brute-force computation for cosine, l2 and inner product,
every filter operator, and precise 4xx answers for bad input."""
import math
import random

import pytest

from ixstack import error


def test_collection_crud(start_index):
    ix = start_index()
    c = ix.create("docs", 4, "l2")
    assert {k: c[k] for k in ("name", "dimensions", "metric", "index_kind", "count")} == \
        {"name": "docs", "dimensions": 4, "metric": "l2", "index_kind": "flat", "count": 0}
    assert c["created_at"] > 1_600_000_000_000
    ix.create("alpha_1", 8)  # metric defaults to cosine
    assert ix.ok("GET", "/v1/collections/alpha_1")["metric"] == "cosine"
    names = [c["name"] for c in ix.ok("GET", "/v1/collections")["collections"]]
    assert names == ["alpha_1", "docs"]
    status, param, msg, code = error(ix.call("POST", "/v1/collections", {"name": "docs", "dimensions": 4}))
    assert (status, param, code) == (409, "name", "already_exists") and "docs" in msg
    assert ix.ok("DELETE", "/v1/collections/docs") == {"deleted": True}
    assert ix.ok("DELETE", "/v1/collections/docs") == {"deleted": False}
    status, param, msg, code = error(ix.call("GET", "/v1/collections/docs"))
    assert status == 404 and code == "not_found" and '"docs" not found' in msg
    assert [c["name"] for c in ix.ok("GET", "/v1/collections")["collections"]] == ["alpha_1"]


@pytest.mark.parametrize("body, status, param, words", [
    ({"name": "Bad", "dimensions": 4}, 400, "name", "[a-z0-9_-]"),
    ({"name": "", "dimensions": 4}, 400, "name", "1-64"),
    ({"name": "a" * 65, "dimensions": 4}, 400, "name", "1-64"),
    ({"name": "a/b", "dimensions": 4}, 400, "name", "[a-z0-9_-]"),
    ({"dimensions": 4}, 400, "name", "required"),
    ({"name": "x", "dimensions": 0}, 400, "dimensions", "1-4096"),
    ({"name": "x", "dimensions": 4097}, 400, "dimensions", "1-4096"),
    ({"name": "x", "dimensions": "4"}, 400, "dimensions", "integer"),
    ({"name": "x", "dimensions": 4, "metric": "hamming"}, 400, "metric", "cosine, l2 or inner_product"),
    ({"name": "x", "dimensions": 4, "index_kind": "hnsw"}, 501, "index_kind", "HNSW is not implemented yet"),
    ({"name": "x", "dimensions": 4, "index_kind": "ivf_flat"}, 501, "index_kind", "IVF_FLAT is not implemented"),
    ({"name": "x", "dimensions": 4, "index_kind": "lsh"}, 400, "index_kind", "flat, hnsw or ivf_flat"),
    ({"name": "x", "dimensions": 4, "dimension": 4}, 400, "dimension", "unknown field"),
])
def test_create_refusals(start_index, body, status, param, words):
    ix = start_index()
    got = error(ix.call("POST", "/v1/collections", body))
    assert got[0] == status and got[1] == param and words in got[2], got
    assert ix.ok("GET", "/v1/collections")["collections"] == []


def test_upsert_get_replace_delete(start_index):
    ix = start_index()
    ix.create("c", 3, "inner_product")
    r = ix.upsert("c", [
        {"id": "a", "vector": [1, 0, 0], "text": "alpha", "metadata": {"k": "x", "n": 1, "f": 0.5, "b": True}},
        {"id": "b", "vector": [0, 1, 0]},
        {"id": "c", "vector": [0, 0, 1], "metadata": {"k": "y"}},
    ])
    assert r["upserted"] == 3 and r["wal_seq"] == 2  # the create was entry 1
    got = ix.get("c", ["a", "zz", "c"], include_vectors=True)
    assert got["missing"] == ["zz"]
    a, c = got["records"]
    assert a == {"id": "a", "vector": [1.0, 0.0, 0.0], "text": "alpha",
                 "metadata": {"k": "x", "n": 1, "f": 0.5, "b": True}}
    assert c["id"] == "c" and c["metadata"] == {"k": "y"}
    assert "vector" not in ix.get("c", ["b"])["records"][0]
    # replace by id: new vector and metadata, same count
    ix.upsert("c", [{"id": "a", "vector": [0, 2, 0], "metadata": {"k": "z"}}])
    assert ix.stats("c")["collection"]["count"] == 3
    a = ix.get("c", ["a"], include_vectors=True)["records"][0]
    assert a == {"id": "a", "vector": [0.0, 2.0, 0.0], "metadata": {"k": "z"}}
    top = ix.search("c", vector=[0, 1, 0], top_k=2)["matches"]
    assert [m["id"] for m in top] == ["a", "b"] and top[0]["score"] == pytest.approx(2.0)
    # delete by ids (an unknown one is not counted), then by filter
    assert ix.ok("POST", "/v1/collections/c/delete", {"ids": ["b", "nope"]})["deleted"] == 1
    d = ix.ok("POST", "/v1/collections/c/delete", {"filter": {"all": [{"key": "k", "op": "EQ", "values": ["y"]}]}})
    assert d["deleted"] == 1
    assert ix.get("c", ["a", "b", "c"])["missing"] == ["b", "c"]
    assert ix.stats("c")["collection"]["count"] == 1
    assert [m["id"] for m in ix.search("c", vector=[1, 1, 1], top_k=10)["matches"]] == ["a"]


def brute(metric, q, vecs):
    """[(id, score)] best first, as the index must answer."""
    def dot(a, b):
        return sum(x * y for x, y in zip(a, b))
    out = []
    for rid, v in vecs.items():
        if metric == "l2":
            s = sum((x - y) ** 2 for x, y in zip(q, v))
        elif metric == "inner_product":
            s = dot(q, v)
        else:
            s = dot(q, v) / math.sqrt(dot(q, q) * dot(v, v))
        out.append((rid, s))
    out.sort(key=lambda t: t[1], reverse=metric != "l2")
    return out


@pytest.mark.parametrize("metric", ["cosine", "l2", "inner_product"])
def test_search_matches_brute_force(start_index, metric):
    rnd = random.Random(7)
    ix = start_index()
    ix.create("v", 16, metric)
    vecs = {f"r{i}": [rnd.uniform(-1, 1) for _ in range(16)] for i in range(300)}
    items = list(vecs.items())
    for i in range(0, len(items), 100):
        ix.upsert("v", [{"id": k, "vector": v, "metadata": {"i": int(k[1:])}} for k, v in items[i:i + 100]])
    for _ in range(8):
        q = [rnd.uniform(-1, 1) for _ in range(16)]
        want = brute(metric, q, vecs)[:10]
        res = ix.search("v", vector=q, top_k=10)
        assert res["searched"] == 300
        assert [m["id"] for m in res["matches"]] == [w[0] for w in want]
        for m, w in zip(res["matches"], want):
            assert m["score"] == pytest.approx(w[1], rel=1e-4, abs=1e-4)
        # the same through the filtered path (every record matches)
        f = ix.search("v", vector=q, top_k=10, filter={"all": [{"key": "i", "op": "GTE", "values": [0]}]})
        assert [m["id"] for m in f["matches"]] == [w[0] for w in want]
        # a filter keeps only the candidates that match, still exactly ranked
        even = {k: v for k, v in vecs.items() if int(k[1:]) % 2 == 0}
        g = ix.search("v", vector=q, top_k=5,
                      filter={"all": [{"key": "i", "op": "IN", "values": list(range(0, 300, 2))}]})
        assert g["searched"] == 150
        assert [m["id"] for m in g["matches"]] == [w[0] for w in brute(metric, q, even)[:5]]
    # top_k larger than the collection
    assert len(ix.search("v", vector=vecs["r0"], top_k=1000)["matches"]) == 300


META = {
    "r1": {"color": "red", "n": 1, "x": 0.5, "ok": True},
    "r2": {"color": "blue", "n": 2, "x": 1.5, "ok": False},
    "r3": {"color": "green", "n": 3, "x": 2.5},
    "r4": {"color": "red", "n": 4},
    "r5": {"n": 5, "x": 4.5, "ok": True},
}


def holds(op, meta, key, values):
    v = meta.get(key)
    num = lambda a: isinstance(a, (int, float)) and not isinstance(a, bool)  # noqa: E731
    if op == "EXISTS":
        return v is not None
    if op == "NOT_EXISTS":
        return v is None
    comparable = v is not None and (num(v) and num(values[0]) or type(v) is type(values[0]))
    if op == "EQ":
        return v is not None and comparable and v == values[0]
    if op == "NE":
        return not (v is not None and comparable and v == values[0])
    if op == "IN":
        return v is not None and any(v == w and (num(v) and num(w) or type(v) is type(w)) for w in values)
    if op == "NOT_IN":
        return not (v is not None and any(v == w and (num(v) and num(w) or type(v) is type(w)) for w in values))
    if not comparable:
        return False
    return {"GT": v > values[0], "GTE": v >= values[0], "LT": v < values[0], "LTE": v <= values[0]}[op]


@pytest.mark.parametrize("op, key, values", [
    ("EQ", "color", ["red"]), ("EQ", "n", [2.0]), ("EQ", "ok", [True]),
    ("NE", "color", ["red"]), ("NE", "ok", [False]),
    ("IN", "color", ["red", "green"]), ("IN", "n", [1, 5, 9]),
    ("NOT_IN", "color", ["red", "green"]),
    ("GT", "n", [2]), ("GTE", "x", [1.5]), ("LT", "x", [2]), ("LTE", "n", [3]), ("GT", "color", ["green"]),
    ("LTE", "color", ["blue"]),
    ("EXISTS", "ok", []), ("NOT_EXISTS", "x", []),
])
def test_every_filter_op(start_index, op, key, values):
    ix = start_index()
    ix.create("f", 2, "l2")
    ix.upsert("f", [{"id": k, "vector": [float(i), 0.0], "metadata": m} for i, (k, m) in enumerate(META.items())])
    want = {k for k, m in META.items() if holds(op, m, key, values)}
    assert want and want != set(META), "the case must split the records"
    cond = {"key": key, "op": op, "values": values}
    res = ix.search("f", vector=[0, 0], top_k=10, filter={"all": [cond]}, include_metadata=True)
    assert {m["id"] for m in res["matches"]} == want and res["searched"] == len(want)
    for m in res["matches"]:
        assert m["metadata"] == META[m["id"]]
    # none = the complement; the proto's "OP_" spelling is accepted too
    cond["op"] = "OP_" + op
    res = ix.search("f", vector=[0, 0], top_k=10, filter={"none": [cond]})
    assert {m["id"] for m in res["matches"]} == set(META) - want


def test_any_all_none_together(start_index):
    ix = start_index()
    ix.create("f", 2, "l2")
    ix.upsert("f", [{"id": k, "vector": [float(i), 0.0], "metadata": m} for i, (k, m) in enumerate(META.items())])
    flt = {"all": [{"key": "n", "op": "GTE", "values": [2]}],
           "any": [{"key": "color", "op": "EQ", "values": ["red"]}, {"key": "ok", "op": "EXISTS"}],
           "none": [{"key": "x", "op": "GT", "values": [4]}]}
    res = ix.search("f", vector=[0, 0], top_k=10, filter=flt)
    assert [m["id"] for m in res["matches"]] == ["r2", "r4"]  # r5 is excluded by none, r3 has neither any


def test_search_options(start_index):
    ix = start_index()
    ix.create("o", 2, "l2")
    ix.upsert("o", [{"id": "near", "vector": [1, 0], "text": "t1", "metadata": {"a": 1}},
                    {"id": "far", "vector": [5, 0], "text": "t2"}])
    res = ix.search("o", vector=[0, 0], include_vectors=True, include_text=True, include_metadata=True)
    assert res["matches"][0] == {"id": "near", "score": 1.0, "vector": [1.0, 0.0], "text": "t1", "metadata": {"a": 1}}
    bare = ix.search("o", vector=[0, 0])["matches"][0]
    assert bare == {"id": "near", "score": 1.0}
    # l2: lower is better, min_score drops the worse ones
    assert [m["id"] for m in ix.search("o", vector=[0, 0], min_score=2)["matches"]] == ["near"]
    ix.create("p", 2, "inner_product")
    ix.upsert("p", [{"id": "hi", "vector": [3, 0]}, {"id": "lo", "vector": [1, 0]}])
    assert [m["id"] for m in ix.search("p", vector=[1, 0], min_score=2)["matches"]] == ["hi"]
    assert ix.search("p", vector=[1, 0], top_k=1)["matches"][0]["id"] == "hi"


def test_bad_inputs_get_precise_errors(start_index):
    ix = start_index()
    ix.create("b", 4, "cosine")
    ix.upsert("b", [{"id": "x", "vector": [1, 0, 0, 0]}])
    p = "/v1/collections/b"
    cases = [
        ("POST", p + "/upsert", {"records": [{"id": "ok", "vector": [1, 0, 0, 0]}, {"id": "y", "vector": [1, 2, 3]}]},
         400, "records[1].vector", "expected 4 values"),
        ("POST", p + "/upsert", {"records": [{"id": "t", "text": "hello"}]},
         400, "records[0].vector", "vector required (embedding from text not available yet)"),
        ("POST", p + "/upsert", {"records": [{"id": "z", "vector": [0, 0, 0, 0]}]},
         400, "records[0].vector", "all zeros"),
        ("POST", p + "/upsert", {"records": [{"id": "", "vector": [1, 0, 0, 0]}]}, 400, "records[0].id", "1-256"),
        ("POST", p + "/upsert", {"records": [{"id": "i" * 257, "vector": [1, 0, 0, 0]}]},
         400, "records[0].id", "256"),
        ("POST", p + "/upsert", {"records": [{"id": "d", "vector": [1, 0, 0, 0]}, {"id": "d", "vector": [0, 1, 0, 0]}]},
         400, "records", "more than once"),
        ("POST", p + "/upsert", {"records": [{"id": "m", "vector": [1, 0, 0, 0], "metadata": {"k": {"a": 1}}}]},
         400, "records[0].metadata.k", "string, number or boolean"),
        ("POST", p + "/upsert", {"records": [{"id": "m", "vector": [1, "x", 0, 0]}]},
         400, "records[0].vector[1]", "finite number"),
        ("POST", p + "/upsert", {"records": []}, 400, "records", "at least one"),
        ("POST", p + "/upsert", {"records": [{"id": "m", "vector": [1, 0, 0, 0], "colour": 1}]},
         400, "records[0].colour", "unknown field"),
        ("POST", p + "/search", {"vector": [1, 0, 0, 0], "top_k": 0}, 400, "top_k", "1-1000"),
        ("POST", p + "/search", {"vector": [1, 0, 0, 0], "top_k": 1001}, 400, "top_k", "1-1000"),
        ("POST", p + "/search", {"vector": [1, 0]}, 400, "vector", "expected 4 values"),
        ("POST", p + "/search", {"text": "find me"}, 400, "vector", "embedding from text not available yet"),
        ("POST", p + "/search", {"vector": [1, 0, 0, 0], "filter": {"all": [{"key": "a", "op": "LIKE"}]}},
         400, "filter.all[0].op", "expected one of"),
        ("POST", p + "/search", {"vector": [1, 0, 0, 0], "filter": {"any": [{"key": "a", "op": "EQ"}]}},
         400, "filter.any[0].values", "exactly one value"),
        ("POST", p + "/search", {"vector": [1, 0, 0, 0], "filter": {"all": [{"key": "a", "op": "GT",
                                                                               "values": [True]}]}},
         400, "filter.all[0].values[0]", "no order"),
        ("POST", p + "/search", {"vector": [1, 0, 0, 0], "collection": "other"}, 400, "collection", "does not match"),
        ("POST", p + "/get", {"ids": []}, 400, "ids", "at least one"),
        ("POST", p + "/get", {"ids": [7]}, 400, "ids[0]", "expected a string"),
        ("POST", p + "/delete", {}, 400, "ids", "ids, a filter, or both"),
    ]
    for method, path, body, status, param, words in cases:
        got = error(ix.call(method, path, body))
        assert got[0] == status and got[1] == param and words in got[2], (body, got)
    for method, path in [("POST", "/v1/collections/nope/upsert"), ("POST", "/v1/collections/nope/search"),
                         ("POST", "/v1/collections/nope/get"), ("GET", "/v1/collections/nope/stats")]:
        bodies = {"upsert": {"records": [{"id": "a", "vector": [1]}]}, "search": {"vector": [1]}, "get": {"ids": ["a"]}}
        got = error(ix.call(method, path, bodies.get(path.rsplit("/", 1)[1])))
        assert got[0] == 404 and got[3] == "not_found" and '"nope" not found' in got[2], (path, got)
    got = error(ix.call("GET", "/v1/collections/Not_Valid"))
    assert got[0] == 400 and got[1] == "name"
    status, body = ix.call("POST", p + "/upsert", raw=b'{"records": [')
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    status, body = ix.call("POST", p + "/search", raw=b'[1, 2]')
    assert status == 400
    # nothing of the refused writes landed
    assert ix.stats("b")["collection"]["count"] == 1 and ix.stats("b")["wal_seq"] == 2


def test_bounds(start_index):
    ix = start_index(ECO_INDEX_MAX_COLLECTIONS=2, ECO_INDEX_MAX_RECORDS=3, ECO_INDEX_MAX_BATCH=2)
    ix.create("a", 2, "l2")
    ix.create("b", 2, "l2")
    got = error(ix.call("POST", "/v1/collections", {"name": "c", "dimensions": 2}))
    assert got[0] == 409 and got[3] == "capacity_exceeded" and "ECO_INDEX_MAX_COLLECTIONS" in got[2]
    got = error(ix.call("POST", "/v1/collections/a/upsert",
                        {"records": [{"id": str(i), "vector": [1, 0]} for i in range(3)]}))
    assert got[0] == 400 and got[1] == "records" and "ECO_INDEX_MAX_BATCH" in got[2]
    ix.upsert("a", [{"id": "1", "vector": [1, 0]}, {"id": "2", "vector": [1, 0]}])
    ix.upsert("a", [{"id": "3", "vector": [1, 0]}, {"id": "1", "vector": [0, 1]}])  # a replacement is no new record
    got = error(ix.call("POST", "/v1/collections/a/upsert", {"records": [{"id": "4", "vector": [1, 0]}]}))
    assert got[0] == 409 and "ECO_INDEX_MAX_RECORDS" in got[2]
    assert ix.stats("a")["collection"]["count"] == 3


def test_bad_settings_stop_start_up_with_exit_2(tmp_path):
    import os
    import subprocess
    from ecotest import BIN, free_port
    for var, value in [("ECO_INDEX_MAX_COLLECTIONS", "0"), ("ECO_INDEX_SNAPSHOT_EVERY", "many"),
                       ("ECO_INDEX_MAX_MEMORY", "1k"), ("ECO_INDEX_SNAPSHOT_ON_SHUTDOWN", "perhaps")]:
        env = {**os.environ, "ECO_HTTP_PORT": str(free_port()), "ECO_GRPC_PORT": str(free_port()),
               "ECO_INDEX_DATA_DIR": str(tmp_path / "d"), var: value}
        r = subprocess.run([str(BIN / "index-service")], env=env, capture_output=True, text=True, timeout=20)
        assert r.returncode == 2, (var, r.returncode, r.stderr)
        assert r.stderr.strip().startswith(var + ":"), r.stderr


def test_garbage_never_crashes(start_index):
    ix = start_index()
    ix.create("g", 3, "cosine")
    junk = [None, 0, -1, 1.5, "x", True, [], {}, [None], [[1]], {"a": None}, "\u0000", 2 ** 63, -2 ** 63, 1e308]
    fields = {
        "/v1/collections": ["name", "dimensions", "metric", "index_kind", "embedding_model"],
        "/v1/collections/g/upsert": ["records", "collection"],
        "/v1/collections/g/search": ["vector", "text", "top_k", "filter", "include_vectors", "min_score"],
        "/v1/collections/g/get": ["ids", "include_vectors"],
        "/v1/collections/g/delete": ["ids", "filter"],
    }
    record_fields = ["id", "vector", "text", "metadata"]
    cond_fields = ["key", "op", "values"]
    sent = 0
    for path, names in fields.items():
        for name in names:
            for v in junk:
                status, body = ix.call("POST", path, {name: v})
                assert 400 <= status < 500 or status == 200, (path, name, v, status, body)
                sent += 1
    for name in record_fields:
        for v in junk:
            rec = {"id": "r", "vector": [1, 0, 0], name: v}
            status, _ = ix.call("POST", "/v1/collections/g/upsert", {"records": [rec]})
            assert status in (200, 400), (name, v, status)
    for name in cond_fields:
        for v in junk:
            cond = {"key": "k", "op": "EQ", "values": [1], name: v}
            status, _ = ix.call("POST", "/v1/collections/g/search", {"vector": [1, 0, 0], "filter": {"any": [cond]}})
            assert status in (200, 400), (name, v, status)
    for raw in [b"", b"{", b"[]", b"null", b'{"records": [1, 2', b"\xff\xfe", b'{"a":1,"a":2}', b"{" * 5000]:
        status, _ = ix.call("POST", "/v1/collections/g/upsert", raw=raw)
        assert status in (400, 413), (raw[:20], status)
    assert sent == 17 * len(junk)
    assert ix.svc.proc.poll() is None and ix.svc.get("/health")[0] == 200


def test_concurrent_writers_and_readers(start_index):
    import threading
    ix = start_index()
    ix.create("c", 4, "l2")
    errors = []

    def writer(w):
        try:
            for i in range(25):
                ix.upsert("c", [{"id": f"w{w}-{i}-{j}", "vector": [w, i, j, 1.0]} for j in range(4)])
                if i % 5 == 0:
                    ix.ok("POST", "/v1/collections/c/delete", {"ids": [f"w{w}-{i}-0"]})
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def reader():
        try:
            for _ in range(40):
                ix.search("c", vector=[1, 1, 1, 1], top_k=5, filter={"none": [{"key": "x", "op": "EXISTS"}]})
                ix.stats("c")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)] + \
        [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    st = ix.stats("c")
    assert st["collection"]["count"] == 4 * 25 * 4 - 4 * 5
    assert st["wal_seq"] == 1 + 4 * 25 + 4 * 5
