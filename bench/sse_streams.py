#!/usr/bin/env python3
"""Streaming (SSE) timing client for `make bench`: time to first token and inter-token gaps.

Raw non-blocking sockets on one selector, HTTP/1.1, chunked or identity bodies. Each stream
is a new connection; an event's timestamp is the time the recv() holding its end returned.
A "token" is an SSE event whose choices[0] carries non-empty delta.content (chat) or text
(completions); the role-only first chunk and the finish chunk are not tokens.

  sse_streams.py URL BODY_JSON --streams K [--rounds N] [--stagger-ms S] [--gap-limit-ms G]
                 [--expect-tokens T] [--timeout S] [--from-send]
  sse_streams.py URL BODY_JSON --rate R --seconds S [--from-send] ...

--rounds N runs N rounds of K concurrent streams one after another (K=1: a sequential client).
--rate R --seconds S: a fixed rate instead, one round of R*S streams started 1/R s apart.
--from-send: time to first token from the moment the request is sent on the connected socket
(not from the connect; a client behind a connection pool, such as a gRPC channel, pays no connect).
Prints one JSON object: streams, ok, failed, errors {message: count}, ttft_ms {p50,p99,max},
gap_ms {p50,p99,max}, gaps_over_limit, streams_with_gap_over_limit, elapsed_s (all rounds,
first start to last end).
"""
import argparse
import json
import selectors
import socket
import sys
import time
from urllib.parse import urlsplit

now = time.perf_counter


def pct(v, p):
    if not v:
        return None
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))]


class Stream:
    def __init__(self, sel, addr, request, deadline, from_send=False):
        self.sel, self.request, self.deadline, self.from_send = sel, request, deadline, from_send
        self.buf = b""  # raw bytes not yet parsed (headers / chunk framing)
        self.sse = b""  # decoded body bytes not yet split into events
        self.headers_done = False
        self.chunked = False
        self.chunk_left = 0  # bytes left in the current chunk
        self.cstate = "size"  # chunked framing: size line, data, CRLF after data, end
        self.tokens = []  # token timestamps
        self.done = False
        self.error = None
        self.sent = 0
        self.t0 = now()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        try:
            self.sock.connect(addr)
        except BlockingIOError:
            pass
        except OSError as e:
            self.fail("connect: %s" % e)
            return
        sel.register(self.sock, selectors.EVENT_WRITE, self)

    def finished(self):
        return self.done or self.error is not None

    def fail(self, msg):
        if self.finished():
            return
        self.error = msg
        self.close()

    def close(self):
        try:
            self.sel.unregister(self.sock)
        except (KeyError, ValueError):
            pass
        self.sock.close()

    def on_event(self, mask):
        if mask & selectors.EVENT_WRITE:
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                return self.fail("connect: errno %d" % err)
            if self.from_send and self.sent == 0:
                self.t0 = now()
            try:
                self.sent += self.sock.send(self.request[self.sent:])
            except OSError as e:
                return self.fail("send: %s" % e)
            if self.sent == len(self.request):
                self.sel.modify(self.sock, selectors.EVENT_READ, self)
            return
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as e:
            return self.fail("recv: %s" % e)
        t = now()
        if not data:
            return self.fail("connection closed before [DONE] after %d tokens" % len(self.tokens))
        self.buf += data
        self.parse(t)

    def parse(self, t):
        if not self.headers_done:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].decode("latin-1").split("\r\n")
            self.buf = self.buf[end + 4:]
            self.headers_done = True
            status = head[0].split(" ", 2)
            if len(status) < 2 or status[1] != "200":
                self.status_line = head[0]
                self.error_pending = True
            hdrs = {h.split(":", 1)[0].strip().lower(): h.split(":", 1)[1].strip() for h in head[1:] if ":" in h}
            self.chunked = "chunked" in hdrs.get("transfer-encoding", "").lower()
            self.cstate = "size"
        if self.chunked:
            while True:
                if self.cstate == "size":
                    nl = self.buf.find(b"\r\n")
                    if nl < 0:
                        break
                    size = int(self.buf[:nl].split(b";")[0], 16)
                    self.buf = self.buf[nl + 2:]
                    if size == 0:
                        self.cstate = "end"
                        break
                    self.chunk_left, self.cstate = size, "data"
                elif self.cstate == "data":
                    if not self.buf:
                        break
                    take = self.buf[:self.chunk_left]
                    self.sse += take
                    self.buf = self.buf[len(take):]
                    self.chunk_left -= len(take)
                    if self.chunk_left == 0:
                        self.cstate = "crlf"
                elif self.cstate == "crlf":
                    if len(self.buf) < 2:
                        break
                    self.buf, self.cstate = self.buf[2:], "size"
                else:
                    self.buf = b""
                    break
        else:
            self.sse += self.buf
            self.buf = b""
        if getattr(self, "error_pending", False):
            # Non-200: keep reading until the body is there (or a short one), then report it.
            if len(self.sse) > 0:
                return self.fail("%s: %s" % (self.status_line, self.sse[:200].decode("utf-8", "replace").strip()))
            return
        while True:
            sep = self.sse.find(b"\n\n")
            if sep < 0:
                break
            ev, self.sse = self.sse[:sep], self.sse[sep + 2:]
            for line in ev.split(b"\n"):
                if not line.startswith(b"data:"):
                    continue
                d = line[5:].strip()
                if d == b"[DONE]":
                    self.done = True
                    self.close()
                    return
                try:
                    j = json.loads(d)
                except ValueError:
                    return self.fail("malformed event: %r" % d[:120])
                if "error" in j:
                    return self.fail("error event: %s" % json.dumps(j["error"])[:200])
                ch = j.get("choices") or []
                if ch and ((ch[0].get("delta") or {}).get("content") or ch[0].get("text")):
                    self.tokens.append(t)


def run_round(addr, request, k, stagger, timeout, from_send=False):
    sel = selectors.DefaultSelector()
    streams = []
    deadline = now() + timeout
    start = now()
    pending = k
    while True:
        # Start stream i at start + i*stagger/k.
        while pending and now() >= start + (k - pending) * stagger / max(k, 1):
            streams.append(Stream(sel, addr, request, deadline, from_send))
            pending -= 1
        if not pending and all(s.finished() for s in streams):
            break
        if now() > deadline:
            for s in streams:
                s.fail("timeout after %d tokens" % len(s.tokens))
            break
        wait = 0.05
        if pending:
            wait = max(0.0, start + (k - pending) * stagger / k - now())
        for key, mask in sel.select(wait):
            key.data.on_event(mask)
    sel.close()
    return streams


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("body")
    ap.add_argument("--streams", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--stagger-ms", type=float, default=20.0)
    ap.add_argument("--gap-limit-ms", type=float, default=40.0)
    ap.add_argument("--expect-tokens", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--rate", type=float, default=0, help="streams started per second (with --seconds)")
    ap.add_argument("--seconds", type=float, default=0)
    ap.add_argument("--from-send", action="store_true")
    a = ap.parse_args()
    if a.rate > 0:  # stream i starts at i * stagger / streams = i / rate
        a.streams, a.rounds = max(1, int(round(a.rate * a.seconds))), 1
        a.stagger_ms = 1000.0 * a.streams / a.rate
        a.timeout += a.seconds  # the deadline counts from the round's start
    u = urlsplit(a.url)
    addr = (u.hostname, u.port or 80)
    body = a.body.encode()
    request = (
        "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\n"
        "Content-Length: %d\r\nConnection: close\r\n\r\n" % (u.path or "/", u.netloc, len(body))
    ).encode() + body
    ttft, gaps, errors = [], [], {}
    ok = failed = over = streams_over = 0
    t_start = now()
    for _ in range(a.rounds):
        for s in run_round(addr, request, a.streams, a.stagger_ms / 1000.0, a.timeout, a.from_send):
            if s.error is None and a.expect_tokens and len(s.tokens) != a.expect_tokens:
                s.error = "got %d tokens, expected %d" % (len(s.tokens), a.expect_tokens)
            if s.error is not None:
                failed += 1
                key = s.error if len(s.error) < 300 else s.error[:300]
                # Count by message without the varying token count.
                errors[key] = errors.get(key, 0) + 1
                continue
            ok += 1
            if s.tokens:
                ttft.append((s.tokens[0] - s.t0) * 1000)
            g = [(b - a_) * 1000 for a_, b in zip(s.tokens, s.tokens[1:])]
            gaps += g
            n = sum(1 for x in g if x > a.gap_limit_ms)
            over += n
            streams_over += 1 if n else 0
    r = lambda v: None if v is None else round(v, 3)
    print(json.dumps({
        "streams": a.streams * a.rounds, "ok": ok, "failed": failed, "errors": errors,
        "ttft_ms": {"p50": r(pct(ttft, 50)), "p99": r(pct(ttft, 99)), "max": r(max(ttft) if ttft else None)},
        "gap_ms": {"p50": r(pct(gaps, 50)), "p99": r(pct(gaps, 99)), "max": r(max(gaps) if gaps else None),
                   "n": len(gaps)},
        "gaps_over_limit": over, "streams_with_gap_over_limit": streams_over,
        "elapsed_s": r(now() - t_start),
    }))


if __name__ == "__main__":
    sys.exit(main())
