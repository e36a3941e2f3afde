#!/usr/bin/env python3
"""Highest sustained fixed request rate (vegeta, or ghz for gRPC) for `make bench`.

A step runs `vegeta attack` at a fixed rate for --seconds and passes when p99 < --p99-ms,
errors (non-2xx or transport) < --max-errors, and vegeta really sent at least 95% of the rate
(otherwise the load generator, not the server, is the limit). The search doubles from
--start until a step fails, then bisects --bisect times between the last pass and the first
failure. --fixed RATE runs one step only (no search).

  rate_search.py URL BODY_FILE [--start R] [--seconds S] [--bisect N] [--fixed R] [--settle STATS_URL]...
                [--header 'NAME: VALUE']...

A URL grpc://HOST:PORT/package.Service/Method runs the same steps with ghz against that gRPC
method instead (BODY_FILE: the request as JSON; proto/eco/ai/v1/inference.proto): `ghz --rps R
--async` (a request per tick, not waiting for the previous ones, like vegeta), --duration-stop wait,
--count-errors (failed calls count in the latencies, as in vegeta); an error is any status but OK.

Prints one JSON object: max_rate (0 if even the first step failed), steps [{rate, sent_rate,
requests, ok, p50_ms, p99_ms, success, listen_overflows, pass, why}], errors {"code|error|body": count} over all
steps, and for --fixed the single step's figures.
"""
import argparse
import base64
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VEGETA = os.path.join(ROOT, ".tools", "bin", "vegeta")
GHZ = os.path.join(ROOT, ".tools", "bin", "ghz")
PROTO = "eco/ai/v1/inference.proto"  # under ROOT/proto


def listen_overflows():
    """System-wide TcpExt ListenOverflows (a SYN dropped because an accept queue was full)."""
    try:
        lines = [l.split() for l in open("/proc/net/netstat") if l.startswith("TcpExt:")]
        return int(dict(zip(lines[0], lines[1]))["ListenOverflows"])
    except (OSError, KeyError, IndexError, ValueError):
        return 0


def attack_vegeta(a, rate):
    """One vegeta step: (requests, ok, sent_rate, latencies {50th, 99th, max} in ns, errors)."""
    errors = {}
    with tempfile.TemporaryDirectory(prefix="eco-vegeta.") as d:
        tgt = os.path.join(d, "targets")
        with open(tgt, "w") as f:
            f.write("POST %s\nContent-Type: application/json\n%s@%s\n" % (
                a.url, "".join(h.strip() + "\n" for h in a.header), os.path.abspath(a.body_file)))
        res = os.path.join(d, "results.bin")
        subprocess.run([VEGETA, "attack", "-targets", tgt, "-rate", "%d/1s" % rate, "-duration", "%ss" % a.seconds,
                        "-timeout", "%ss" % a.timeout, "-max-body", "512", "-max-connections", str(a.max_connections), "-output", res], check=True)
        rep = json.loads(subprocess.run([VEGETA, "report", "-type", "json", res], check=True,
                                        capture_output=True, text=True).stdout)
        n = rep["requests"]
        ok = rep["status_codes"].get("200", 0)
        if ok < n:  # count every distinct failure: status, transport error, start of the body
            enc = subprocess.Popen([VEGETA, "encode", "--to", "json", res], stdout=subprocess.PIPE, text=True)
            for line in enc.stdout:
                r = json.loads(line)
                if r["code"] == 200:
                    continue
                body = base64.b64decode(r.get("body") or "").decode("utf-8", "replace").strip()
                body = re.sub(r"[0-9a-f]{16,}", "<id>", body)[:240]  # request ids differ
                key = "%s | %s | %s" % (r["code"], r.get("error", ""), body)
                errors[key] = errors.get(key, 0) + 1
            enc.wait()
    return n, ok, rep["rate"], rep["latencies"], errors


def attack_ghz(a, rate):
    """One ghz step against grpc://HOST:PORT/Service/Method, same figures as attack_vegeta. ghz's
    workers (-c) only hand each tick to a new goroutine (--async), so a few suffice; the calls
    are spread over --ghz-connections HTTP/2 connections."""
    u = urlsplit(a.url)
    conns = max(1, a.ghz_connections)
    cmd = [GHZ, "--insecure", "--proto", os.path.join(ROOT, "proto", PROTO), "--import-paths", os.path.join(ROOT, "proto"),
           "--call", u.path.lstrip("/"), "-D", os.path.abspath(a.body_file), "--rps", str(rate), "--async",
           "-c", str(max(conns, 8) // conns * conns), "--connections", str(conns), "-z", "%gs" % a.seconds,
           "-t", "%gs" % a.timeout, "--duration-stop", "wait", "--count-errors", "-O", "json", u.netloc]
    r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    n = r.get("count", 0)
    codes = r.get("statusCodeDistribution") or {}
    ok = codes.get("OK", 0)
    errors = {}
    for msg, c in (r.get("errorDistribution") or {}).items():
        msg = re.sub(r"[0-9a-f]{16,}", "<id>", msg)[:240]
        errors[msg] = errors.get(msg, 0) + c
    if n - ok > sum(errors.values()):  # statuses ghz did not describe
        for code, c in codes.items():
            if code != "OK":
                errors["status " + code] = errors.get("status " + code, 0) + c
    d = {p["percentage"]: p["latency"] for p in r.get("latencyDistribution") or []}
    lat = {"50th": d.get(50, 0), "99th": d.get(99, 0), "max": r.get("slowest", 0)}
    # The rate ghz really sent: calls started within the --seconds window (--duration-stop wait
    # adds the time the last ones took to "total", which would understate it).
    return n, ok, n / a.seconds, lat, errors


def step(a, rate, all_errors):
    ov0 = listen_overflows()
    n, ok, sent, lat, errors = (attack_ghz if a.url.startswith("grpc://") else attack_vegeta)(a, rate)
    overflows = listen_overflows() - ov0
    s = {"rate": rate, "sent_rate": round(sent, 1), "requests": n, "ok": ok,
         "p50_ms": round(lat["50th"] / 1e6, 3), "p99_ms": round(lat["99th"] / 1e6, 3),
         "max_ms": round(lat["max"] / 1e6, 3), "success": ok / n if n else 0,
         "listen_overflows": overflows, "errors": errors}
    for k, v in errors.items():
        all_errors[k] = all_errors.get(k, 0) + v
    why = []
    if s["p99_ms"] >= a.p99_ms:
        why.append("p99 %.0f ms" % s["p99_ms"])
    if n == 0 or (n - ok) / n >= a.max_errors:
        why.append("errors %.2f%%" % (100.0 * (n - ok) / max(n, 1)))
    if sent < 0.95 * rate:
        why.append("sent only %.0f/s" % sent)
    s["pass"] = not why
    s["why"] = ", ".join(why)
    print("  rate %6d/s: sent %8.1f/s  p50 %8.2f ms  p99 %8.2f ms  ok %d/%d  listen overflows %d  %s" % (
        rate, sent, s["p50_ms"], s["p99_ms"], ok, n, overflows, "pass" if s["pass"] else "FAIL (" + s["why"] + ")"),
        file=sys.stderr)
    settle(a.settle, 1.5 if why else 0.5)
    return s


BUSY_GAUGES = ("eco_ai_backend_inflight", "eco_ai_queue_depth", "eco_adapter_inflight")


def busy(url):
    """Work a server still holds: engine-sim /sim/stats in_flight, or for a /metrics URL the sum of
    ai-service's and engine-adapter's in-flight and queue gauges."""
    import urllib.request
    try:
        text = urllib.request.urlopen(url, timeout=2).read().decode()
    except OSError:
        return 0
    if not url.endswith("/metrics"):
        try:
            return json.loads(text).get("in_flight", 0)
        except ValueError:
            return 0
    n = 0
    for line in text.splitlines():
        if line.startswith(BUSY_GAUGES):
            try:
                n += float(line.rsplit(" ", 1)[1])
            except ValueError:
                pass
    return n


def settle(urls, pause):
    """Wait until no server holds work (twice in a row, at most 15 s): requests a failed step
    left behind must not load the next step. Then pause for the connections to close."""
    end, quiet = time.time() + 15, 0
    while urls and time.time() < end and quiet < 2:
        quiet = quiet + 1 if sum(busy(u) for u in urls) == 0 else 0
        time.sleep(0.1)
    time.sleep(pause)


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: temporary files go
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("body_file")
    ap.add_argument("--start", type=int, default=500)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--bisect", type=int, default=3)
    ap.add_argument("--max-rate", type=int, default=128000)
    ap.add_argument("--p99-ms", type=float, default=1000)
    ap.add_argument("--max-errors", type=float, default=0.001)
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("--fixed", type=int, default=0)
    ap.add_argument("--max-connections", type=int, default=2048,
                    help="vegeta's cap on connections: an overloaded step queues in the client instead of opening "
                         "thousands of sockets whose TIME_WAITs would slow the steps after it")
    ap.add_argument("--ghz-connections", type=int, default=4,
                    help="grpc:// URLs: HTTP/2 connections ghz spreads the calls over")
    ap.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                    help="extra request header for vegeta (e.g. 'Authorization: Bearer KEY'); repeatable")
    ap.add_argument("--settle", action="append", default=[],
                    help="engine-sim /sim/stats or ai-service/adapter /metrics URL to wait on after each step; repeatable")
    a = ap.parse_args()
    errors, steps = {}, []
    if a.fixed:
        s = step(a, a.fixed, errors)
        print(json.dumps(dict(s, errors=errors)))
        return 0
    lo, hi, r = 0, None, a.start
    while hi is None:
        s = step(a, r, errors)
        steps.append(s)
        if s["pass"]:
            lo = r
            if r >= a.max_rate:
                break
            r = min(2 * r, a.max_rate)
        else:
            hi = r
    if hi is not None:
        if lo == 0:  # the first step failed: search below it
            lo_bound = 0
        else:
            lo_bound = lo
        for _ in range(a.bisect):
            mid = (lo_bound + hi) // 2
            if mid <= lo_bound or hi - mid < max(10, hi // 50):
                break
            s = step(a, mid, errors)
            steps.append(s)
            if s["pass"]:
                lo = lo_bound = mid
            else:
                hi = mid
    print(json.dumps({"max_rate": lo, "first_fail": hi, "steps": steps, "errors": errors}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
