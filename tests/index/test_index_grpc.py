"""eco.index.v1.Index over gRPC: the same store and semantics as REST (writes through either are
seen by both), status codes for refusals, and grpc.health.v1 next to it."""
import grpc
import pytest

from ecotest import index_stubs


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    return index_stubs(tmp_path_factory.mktemp("index_pb"))


def test_index_over_grpc(start_index, pb):
    pb2, pb2_grpc = pb
    ix = start_index()
    with grpc.insecure_channel(f"127.0.0.1:{ix.svc.grpc_port}") as ch:
        stub = pb2_grpc.IndexStub(ch)
        c = stub.CreateCollection(pb2.CreateCollectionRequest(name="g", dimensions=3, metric=pb2.METRIC_L2), timeout=5)
        assert (c.name, c.dimensions, c.metric, c.index_kind) == ("g", 3, pb2.METRIC_L2, pb2.INDEX_KIND_FLAT)
        recs = [pb2.Record(id=f"r{i}", vector=[float(i), 0, 0], text=f"t{i}",
                           metadata={"i": pb2.Value(int_value=i), "even": pb2.Value(bool_value=i % 2 == 0)})
                for i in range(6)]
        up = stub.Upsert(pb2.UpsertRequest(collection="g", records=recs), timeout=5)
        assert up.upserted == 6 and up.wal_seq == 2
        res = stub.Search(pb2.SearchRequest(collection="g", vector=[2.2, 0, 0], top_k=2, include_metadata=True),
                          timeout=5)
        assert [m.id for m in res.matches] == ["r2", "r3"] and res.searched == 6
        assert res.matches[0].score == pytest.approx(0.04, rel=1e-3)
        assert res.matches[0].metadata["i"].int_value == 2
        flt = pb2.Filter(all=[pb2.Condition(key="even", op=pb2.Condition.OP_EQ, values=[pb2.Value(bool_value=True)])])
        res = stub.Search(pb2.SearchRequest(collection="g", vector=[5, 0, 0], top_k=10, filter=flt), timeout=5)
        assert [m.id for m in res.matches] == ["r4", "r2", "r0"]
        got = stub.Get(pb2.GetRequest(collection="g", ids=["r1", "zz"], include_vectors=True), timeout=5)
        assert [r.id for r in got.records] == ["r1"] and list(got.records[0].vector) == [1, 0, 0]
        assert got.records[0].text == "t1" and list(got.missing) == ["zz"]
        d = stub.Delete(pb2.DeleteRequest(collection="g", ids=["r0"], filter=flt), timeout=5)
        assert d.deleted == 3 and d.wal_seq == 3
        st = stub.Stats(pb2.StatsRequest(collection="g"), timeout=5)
        assert st.collection.count == 3 and st.wal_seq == 3 and st.snapshot_seq == 0 and st.index_bytes > 0
        # REST sees what gRPC wrote
        assert sorted(r["id"] for r in ix.get("g", ["r0", "r1", "r3", "r5"])["records"]) == ["r1", "r3", "r5"]
        assert [c.name for c in stub.ListCollections(pb2.ListCollectionsRequest(), timeout=5).collections] == ["g"]

        def code(fn, req):
            with pytest.raises(grpc.RpcError) as e:
                fn(req, timeout=5)
            return e.value.code(), e.value.details()

        assert code(stub.CreateCollection, pb2.CreateCollectionRequest(name="g", dimensions=3))[0] == \
            grpc.StatusCode.ALREADY_EXISTS
        st, msg = code(stub.CreateCollection, pb2.CreateCollectionRequest(name="h", dimensions=3,
                                                                          index_kind=pb2.INDEX_KIND_HNSW))
        assert st == grpc.StatusCode.UNIMPLEMENTED and "HNSW" in msg
        st, msg = code(stub.Upsert, pb2.UpsertRequest(collection="g", records=[pb2.Record(id="x", vector=[1, 2])]))
        assert st == grpc.StatusCode.INVALID_ARGUMENT and "records[0].vector: expected 3 values" in msg
        st, msg = code(stub.Upsert, pb2.UpsertRequest(collection="g", records=[pb2.Record(id="x", text="hi")]))
        assert st == grpc.StatusCode.INVALID_ARGUMENT and "embedding from text not available yet" in msg
        st, msg = code(stub.Search, pb2.SearchRequest(collection="g", vector=[1, 0, 0], top_k=1001))
        assert st == grpc.StatusCode.INVALID_ARGUMENT and "top_k" in msg
        assert code(stub.Search, pb2.SearchRequest(collection="nope", vector=[1, 0, 0]))[0] == \
            grpc.StatusCode.NOT_FOUND
        # top_k 0 is the proto's default of 10
        assert len(stub.Search(pb2.SearchRequest(collection="g", vector=[0, 0, 0]), timeout=5).matches) == 3
        assert stub.DeleteCollection(pb2.DeleteCollectionRequest(name="g"), timeout=5).deleted is True
        assert stub.DeleteCollection(pb2.DeleteCollectionRequest(name="g"), timeout=5).deleted is False
    assert ix.metric("eco_index_operations_total", 'op="upsert",code="INVALID_ARGUMENT"') == 2
