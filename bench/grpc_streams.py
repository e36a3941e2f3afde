#!/usr/bin/env python3
"""gRPC streaming timing client for `make bench`: eco.ai.v1.Inference/StreamCompletion at a fixed
rate, time to first token and gaps between tokens (the gRPC counterpart of sse_streams.py, same
JSON out). Needs grpcio and grpcio-tools (.tools/venv/bin/python); the stubs are generated from
proto/ at start, as the tests do (tests/ecotest.py inference_stubs).

One asyncio loop and one channel (HTTP/2 connection, connected before the first call); stream i
is started at start + i/R. A "token" is a CompletionChunk with a non-empty delta, timed when the
client library hands it over; time to first token counts from the call. A stream succeeds when it
ends with status OK after a chunk carrying finish_reason.

  grpc_streams.py HOST:PORT REQUEST_JSON --rate R --seconds S [--expect-tokens T] [--timeout S] [--unary]

--unary calls GenerateCompletion instead and reports its whole latency as ttft_ms (the answer is
the first token): the same call ghz times, so the two give this client's own overhead.

Prints one JSON object: streams, ok, failed, errors {message: count}, ttft_ms {p50,p99,max},
gap_ms {p50,p99,max,n}, tokens {min,max} (per successful stream), elapsed_s (first start to last end).
"""
import argparse
import asyncio
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
from sse_streams import pct  # noqa: E402  (same percentile definition for both paths)
import ecotest  # noqa: E402

import grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402

now = time.perf_counter


async def one(stub, req, timeout, res):
    t0 = now()
    toks, finish, err = [], "", None
    try:
        async for ch in stub.StreamCompletion(req, timeout=timeout):
            if ch.delta:
                toks.append(now())
            if ch.finish_reason:
                finish = ch.finish_reason
    except grpc.aio.AioRpcError as e:
        err = "%s: %s" % (e.code().name, (e.details() or "")[:200])
    if err is None and not finish:
        err = "stream ended without finish_reason"
    res.append((t0, toks, err))


async def one_unary(stub, req, timeout, res):
    t0 = now()
    try:
        r = await stub.GenerateCompletion(req, timeout=timeout)
        res.append((t0, [now()] if r.text else [], None if r.finish_reason else "answer without finish_reason"))
    except grpc.aio.AioRpcError as e:
        res.append((t0, [], "%s: %s" % (e.code().name, (e.details() or "")[:200])))


async def run(a, pb, pb_grpc):
    req = json_format.Parse(a.request, pb.GenerateRequest())
    async with grpc.aio.insecure_channel(a.addr) as ch:
        await asyncio.wait_for(ch.channel_ready(), 10)
        stub = pb_grpc.InferenceStub(ch)
        n = max(1, int(round(a.rate * a.seconds)))
        res, tasks = [], []
        start = now()
        for i in range(n):
            d = start + i / a.rate - now()
            if d > 0:
                await asyncio.sleep(d)
            tasks.append(asyncio.ensure_future((one_unary if a.unary else one)(stub, req, a.timeout, res)))
        await asyncio.gather(*tasks)
        return res, now() - start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("addr")
    ap.add_argument("request")
    ap.add_argument("--rate", type=float, required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--expect-tokens", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=30.0)
    ap.add_argument("--unary", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="eco-stubs.") as d:
        pb, pb_grpc = ecotest.inference_stubs(d)
        res, elapsed = asyncio.run(run(a, pb, pb_grpc))
    ttft, gaps, errors, ntok = [], [], {}, []
    for t0, toks, err in res:
        if err is None and a.expect_tokens and len(toks) != a.expect_tokens:
            err = "got %d tokens, expected %d" % (len(toks), a.expect_tokens)
        if err is not None:
            errors[err] = errors.get(err, 0) + 1
            continue
        ntok.append(len(toks))
        if toks:
            ttft.append((toks[0] - t0) * 1000)
        gaps += [(y - x) * 1000 for x, y in zip(toks, toks[1:])]
    r = lambda v: None if v is None else round(v, 3)
    ok = len(res) - sum(errors.values())
    print(json.dumps({
        "streams": len(res), "ok": ok, "failed": len(res) - ok, "errors": errors,
        "ttft_ms": {"p50": r(pct(ttft, 50)), "p99": r(pct(ttft, 99)), "max": r(max(ttft) if ttft else None)},
        "gap_ms": {"p50": r(pct(gaps, 50)), "p99": r(pct(gaps, 99)), "max": r(max(gaps) if gaps else None),
                   "n": len(gaps)},
        "tokens": {"min": min(ntok) if ntok else None, "max": max(ntok) if ntok else None},
        "elapsed_s": r(elapsed),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
