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
        with grpc.insecure_channel(f"127.0.0.1:{svc.grpc_port}") as ch:
            stub = pbg.InferenceStub(ch)
            req = pb2.GenerateRequest(messages=[pb2.ChatMessage(role="user", content="long")], max_tokens=N, seed=5)
            it = stub.StreamCompletion(req, timeout=60)
            first = next(it)
            time.sleep(1.5)  # not reading: the service must pause, not drop or buffer without bound
            chunks = [first, *it]
        text = "".join(c.delta for c in chunks)
        finishes = [c.finish_reason for c in chunks if c.finish_reason]
        assert text == want and finishes == [want_finish] and chunks[-1].usage.completion_tokens == N
        _, _, metrics = http("GET", svc.url + "/metrics")
        paused = [ln for ln in metrics.decode().splitlines() if ln.startswith("eco_ai_stream_pauses_total ")]
        assert paused and float(paused[0].split()[1]) >= 1, paused  # the slow path was taken
    finally:
        adapter.stop()
        sim.stop()
