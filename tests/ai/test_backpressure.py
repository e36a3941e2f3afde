"""A slow reader of a stream: ai-service stops reading from the adapter (its read-ahead
included), holds what already arrived, and delivers every byte in order, with one finish and
true usage, once the client reads again. gRPC makes the slow reader deterministic: its flow
control window (unlike a loopback TCP socket's megabytes of buffer) fills within a few hundred
messages."""
import json
import time

from ecotest import http
from simstack import Adapter, Sim

N = 20000


def test_slow_reader_gets_the_whole_stream(tmp_path, start_service, pb):
    sim = Sim("vllm", "--max-output-tokens", N, "--min-output-tokens", N, "--max-model-len", 2 * N)
    adapter = Adapter(pb, "vllm", sim.url)
    try:
        models = tmp_path / "models.yaml"
        models.write_text(f"""default: m
models:
  - id: m
    capabilities: [chat]
    backends:
      - {{name: a, address: "{adapter.address}"}}
""")
        svc = start_service("ai-service", {"ECO_MODELS_FILE": str(models), "ECO_KAFKA_BROKERS": "127.0.0.1:9",
                                           "ECO_GRPC_AUTH": "off"})
        svc.wait_ready(200)
        body = {"model": "m", "messages": [{"role": "user", "content": "long"}], "max_tokens": N, "seed": 5}
        status, _, whole = http("POST", svc.url + "/v1/chat/completions", json.dumps(body).encode(),
                                {"content-type": "application/json"}, timeout=60)
        assert status == 200
        want = json.loads(whole)["choices"][0]["message"]["content"]
        want_finish = json.loads(whole)["choices"][0]["finish_reason"]

        import grpc
        pb2, pbg = pb
        req = pb2.GenerateRequest(messages=[pb2.ChatMessage(role="user", content="long")], max_tokens=N, seed=5)
        # A small, fixed HTTP/2 window (no bandwidth-delay probing growing it to megabytes). Whether
        # ai-service's send queue fills during the pause depends on gRPC's own buffering, so the slow
        # read is repeated until the pause path was taken; every run must deliver the exact text.
        opts = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 16384)]
        paused = 0.0
        for _ in range(6):
            with grpc.insecure_channel(f"127.0.0.1:{svc.grpc_port}", options=opts) as ch:
                it = pbg.InferenceStub(ch).StreamCompletion(req, timeout=60)
                first = next(it)
                time.sleep(1.5)  # not reading: the service must pause, not drop or buffer without bound
                chunks = [first, *it]
            text = "".join(c.delta for c in chunks)
            finishes = [c.finish_reason for c in chunks if c.finish_reason]
            assert text == want and finishes == [want_finish] and chunks[-1].usage.completion_tokens == N
            _, _, metrics = http("GET", svc.url + "/metrics")
            line = [ln for ln in metrics.decode().splitlines() if ln.startswith("eco_ai_stream_pauses_total ")]
            paused = float(line[0].split()[1]) if line else 0.0
            if paused >= 1:
                break
        assert paused >= 1, "no run paused: the held-text path was not exercised"
    finally:
        adapter.stop()
        sim.stop()
