"""index-service durability: every answered write is in the WAL (fsync'd) before the answer, so
kill -9 loses nothing; a torn WAL tail is logged and ignored; snapshots bound the WAL and are
loaded before the WAL after them; eco_index_wal_backlog follows; SIGTERM drains and exits 0."""
import json
import os
import random

from ixstack import wait_metric


def records(prefix, n, dims=8, seed=1):
    rnd = random.Random(seed)
    return [{"id": f"{prefix}{i}", "vector": [rnd.uniform(-1, 1) for _ in range(dims)],
             "text": f"text {prefix}{i}", "metadata": {"i": i, "p": prefix}} for i in range(n)]


def assert_all_there(ix, name, recs, gone=()):
    ids = [r["id"] for r in recs]
    got = ix.get(name, ids, include_vectors=True)
    want = {r["id"]: r for r in recs if r["id"] not in gone}
    assert sorted(got["missing"]) == sorted(gone)
    assert {r["id"] for r in got["records"]} == set(want)
    for r in got["records"]:
        w = want[r["id"]]
        assert r["text"] == w["text"] and r["metadata"] == w["metadata"]
        assert all(abs(a - b) < 1e-6 for a, b in zip(r["vector"], w["vector"]))
    assert ix.stats(name)["collection"]["count"] == len(want)


def test_kill9_loses_no_answered_write(start_index, tmp_path):
    data = tmp_path / "data"
    ix = start_index(data, ECO_INDEX_SNAPSHOT_ON_SHUTDOWN="false")
    ix.create("k", 8, "cosine")
    ix.create("gone", 2, "l2")
    recs = records("a", 120)
    for i in range(0, 120, 40):
        ix.upsert("k", recs[i:i + 40])
    ix.ok("POST", "/v1/collections/k/delete", {"ids": ["a1", "a2"]})
    ix.ok("DELETE", "/v1/collections/gone")
    seq = ix.stats("k")["wal_seq"]
    assert seq == 7 and ix.stats("k")["snapshot_seq"] == 0
    ix.kill9()
    assert not (data / "snapshot.ixs").exists()
    ix2 = start_index(data)
    assert [c["name"] for c in ix2.ok("GET", "/v1/collections")["collections"]] == ["k"]
    assert_all_there(ix2, "k", recs, gone=("a1", "a2"))
    st = ix2.stats("k")
    assert st["wal_seq"] == seq
    # search answers the same as before the crash
    q = recs[5]["vector"]
    assert ix2.search("k", vector=q, top_k=1)["matches"][0]["id"] == "a5"
    # the next write continues the sequence
    assert ix2.upsert("k", records("b", 1))["wal_seq"] == seq + 1
    assert '"wal_replayed":7' in ix2.output()


def test_torn_wal_tail_is_ignored(start_index, tmp_path):
    data = tmp_path / "data"
    ix = start_index(data, ECO_INDEX_SNAPSHOT_ON_SHUTDOWN="false")
    ix.create("t", 8, "l2")
    recs = records("r", 30)
    ix.upsert("t", recs[:15])
    ix.upsert("t", recs[15:])
    assert ix.stop() == 0
    wal = data / "wal.log"
    size = wal.stat().st_size
    assert size > 0
    with open(wal, "ab") as f:  # a torn write: a header that starts right, then garbage
        f.write(b"EIW1" + os.urandom(57))
    ix2 = start_index(data, ECO_INDEX_SNAPSHOT_ON_SHUTDOWN="false")
    assert_all_there(ix2, "t", recs)
    log = [json.loads(line) for line in ix2.output().splitlines() if line.startswith("{")]
    torn = [e for e in log if e.get("msg") == "index: ignoring a torn or corrupt WAL tail"]
    assert torn and torn[0]["offset"] == size and torn[0]["bytes_dropped"] == 61
    assert wal.stat().st_size == size  # cut back, so new entries follow the last good one
    ix2.upsert("t", records("n", 3, seed=2))
    ix2.kill9()
    ix3 = start_index(data)
    assert_all_there(ix3, "t", recs + records("n", 3, seed=2))
    assert "torn or corrupt" not in ix3.output()


def test_corrupt_entry_in_the_middle_stops_replay_there(start_index, tmp_path):
    data = tmp_path / "data"
    ix = start_index(data, ECO_INDEX_SNAPSHOT_ON_SHUTDOWN="false")
    ix.create("m", 8, "l2")
    first = ix.stats("m")["wal_bytes"]
    ix.upsert("m", records("x", 5))
    ix.upsert("m", records("y", 5))
    assert ix.stop() == 0
    wal = data / "wal.log"
    raw = bytearray(wal.read_bytes())
    raw[first + 40] ^= 0xFF  # a bit flip inside the first upsert's payload
    wal.write_bytes(bytes(raw))
    ix2 = start_index(data)
    assert ix2.stats("m")["collection"]["count"] == 0  # the entries from the bad one on are dropped, logged
    assert "checksum mismatch" in ix2.output()


def test_snapshot_then_more_writes_then_restart(start_index, tmp_path):
    data = tmp_path / "data"
    ix = start_index(data, ECO_INDEX_SNAPSHOT_EVERY=4, ECO_INDEX_SNAPSHOT_ON_SHUTDOWN="false")
    ix.create("s", 8, "inner_product")
    before = records("p", 60)
    for i in range(0, 60, 20):
        ix.upsert("s", before[i:i + 20])
    # 4 entries: the snapshot thread covers them and empties the WAL
    wait_metric(ix, "eco_index_wal_backlog", lambda v: v == 0)
    st = ix.stats("s")
    assert st["snapshot_seq"] == 4 and st["snapshot_at"] > 0 and st["wal_bytes"] == 0
    assert (data / "snapshot.ixs").stat().st_size > 0
    after = records("q", 10, seed=3)
    ix.upsert("s", after)
    ix.ok("POST", "/v1/collections/s/delete", {"filter": {"all": [{"key": "i", "op": "LT", "values": [5]},
                                                                  {"key": "p", "op": "EQ", "values": ["p"]}]}})
    assert ix.metric("eco_index_wal_backlog") == 2
    ix.kill9()
    ix2 = start_index(data)
    assert_all_there(ix2, "s", before + after, gone=tuple(f"p{i}" for i in range(5)))
    st = ix2.stats("s")
    assert st["snapshot_seq"] == 4 and st["wal_seq"] == 6
    assert ix2.metric("eco_index_wal_backlog") == 2


def test_wal_backlog_rises_with_writes_and_drops_after_a_snapshot(start_index):
    ix = start_index(ECO_INDEX_SNAPSHOT_EVERY=5)
    assert ix.metric("eco_index_wal_backlog") == 0
    assert ix.metric("eco_index_snapshots_total", 'outcome="ok"') == 0
    ix.create("w", 2, "l2")
    for i in range(3):
        ix.upsert("w", [{"id": str(i), "vector": [float(i), 1.0]}])
        assert ix.metric("eco_index_wal_backlog") == i + 2
    assert ix.metric("eco_index_wal_bytes") > 0
    assert ix.metric("eco_index_wal_entries_total", 'type="upsert"') == 3
    assert ix.metric("eco_index_wal_fsync_seconds_count") == 4
    assert ix.metric("eco_index_records", 'collection="w"') == 3
    ix.upsert("w", [{"id": "3", "vector": [3.0, 1.0]}])  # the 5th entry
    wait_metric(ix, "eco_index_wal_backlog", lambda v: v == 0)
    assert ix.metric("eco_index_snapshots_total", 'outcome="ok"') == 1
    assert ix.metric("eco_index_wal_bytes") == 0
    ix.upsert("w", [{"id": "4", "vector": [4.0, 1.0]}])
    assert ix.metric("eco_index_wal_backlog") == 1


def test_snapshot_by_interval(start_index):
    ix = start_index(ECO_INDEX_SNAPSHOT_INTERVAL_S=1)
    ix.create("i", 2, "l2")  # one entry: far below ECO_INDEX_SNAPSHOT_EVERY, only the interval covers it
    wait_metric(ix, "eco_index_wal_backlog", lambda v: v == 0, timeout=5)
    assert ix.stats("i")["snapshot_seq"] == 1


def test_sigterm_snapshots_and_exits_0(start_index, tmp_path):
    data = tmp_path / "data"
    ix = start_index(data)
    ix.create("g", 8, "cosine")
    recs = records("g", 25)
    ix.upsert("g", recs)
    assert ix.metric("eco_index_wal_backlog") == 2
    assert ix.stop() == 0
    assert "index: snapshot written" in ix.output()
    assert (data / "wal.log").stat().st_size == 0
    ix2 = start_index(data)
    assert_all_there(ix2, "g", recs)
    st = ix2.stats("g")
    assert st["snapshot_seq"] == 2 and st["wal_seq"] == 2
    assert ix2.metric("eco_index_wal_backlog") == 0


def test_damaged_snapshot_refuses_to_start(tmp_path, start_index):
    import subprocess
    from ecotest import BIN, free_port
    data = tmp_path / "data"
    ix = start_index(data)
    ix.create("d", 2, "l2")
    ix.upsert("d", [{"id": "a", "vector": [1, 2]}])
    assert ix.stop() == 0
    snap = data / "snapshot.ixs"
    snap.write_bytes(snap.read_bytes()[:-5])
    env = {**os.environ, "ECO_HTTP_PORT": str(free_port()), "ECO_GRPC_PORT": str(free_port()),
           "ECO_INDEX_DATA_DIR": str(data)}
    r = subprocess.run([str(BIN / "index-service")], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "snapshot is incomplete or corrupt" in r.stdout


def test_wal_that_does_not_continue_the_snapshot_refuses_to_start(tmp_path, start_index):
    import subprocess
    from ecotest import BIN, free_port
    data = tmp_path / "data"
    ix = start_index(data, ECO_INDEX_SNAPSHOT_EVERY=2)
    ix.create("w", 2, "l2")
    ix.upsert("w", [{"id": "a", "vector": [1, 2]}])
    wait_metric(ix, "eco_index_wal_backlog", lambda v: v == 0)
    ix.upsert("w", [{"id": "b", "vector": [2, 2]}])
    ix.kill9()
    (data / "snapshot.ixs").unlink()  # the WAL now starts at entry 3 with nothing before it
    env = {**os.environ, "ECO_HTTP_PORT": str(free_port()), "ECO_GRPC_PORT": str(free_port()),
           "ECO_INDEX_DATA_DIR": str(data)}
    r = subprocess.run([str(BIN / "index-service")], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "does not continue the snapshot" in r.stdout
    assert (data / "wal.log").stat().st_size > 0  # nothing was cut


def test_failing_snapshots_keep_the_backlog_and_are_retried(start_index, tmp_path):
    data = tmp_path / "data"
    ix = start_index(data, ECO_INDEX_SNAPSHOT_EVERY=2)
    blocker = data / "snapshot.ixs.tmp"
    blocker.mkdir()  # the snapshot's temporary file cannot be created
    ix.create("f", 2, "l2")
    ix.upsert("f", [{"id": "a", "vector": [1, 2]}])
    wait_metric(ix, "eco_index_snapshots_total", lambda v: v >= 1, labels='outcome="error"')
    for i in range(3):  # writes still succeed (the WAL has them), the backlog grows
        ix.upsert("f", [{"id": f"b{i}", "vector": [1, 2]}])
    assert ix.metric("eco_index_wal_backlog") == 5
    assert ix.metric("eco_index_snapshots_total", 'outcome="ok"') == 0
    assert "index: snapshot failed" in ix.output()
    blocker.rmdir()
    wait_metric(ix, "eco_index_wal_backlog", lambda v: v == 0, timeout=15)
    assert ix.metric("eco_index_snapshots_total", 'outcome="ok"') == 1
    ix.kill9()
    ix2 = start_index(data)
    assert ix2.stats("f")["collection"]["count"] == 4
