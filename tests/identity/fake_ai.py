"""A scriptable stand-in for ai-service behind root-gateway: OpenAI-shaped answers, SSE streams
whose pace, length, usage and failures the request chooses, and a record of what arrived (so
tests can see the identity headers the gateway sent). PostgreSQL and Redis are always real."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Upstream:
    def __init__(self):
        self.requests = []          # (method, path, headers dict, body bytes)
        self.bytes_written = 0      # body bytes of streamed responses, for backpressure checks
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _record(self, body):
                with owner.lock:
                    owner.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                           body))

            def _json(self, status, obj, extra=None):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._record(b"")
                if self.path.startswith("/v1/models"):
                    self._json(200, {"object": "list", "data": [{"id": "sim-chat", "object": "model"}]})
                else:
                    self._json(404, {"error": {"message": "no such route", "code": "not_found"}})

            def do_POST(self):
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n) if n else b""
                self._record(body)
                try:
                    req = json.loads(body or b"{}")
                except ValueError:
                    req = {}
                test = req.get("x_test", {})
                if "status" in test:
                    # an internal failure whose body must never reach the client
                    self._json(test["status"], {"error": "Traceback: psycopg2 at 10.0.0.7:5432 password=hunter2"},
                               {"retry-after": "7"} if test["status"] == 503 else None)
                    return
                usage = test.get("usage", 10)
                if not req.get("stream"):
                    self._json(200, {"id": "cmpl-1", "object": "chat.completion", "model": req.get("model"),
                                     "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                                                  "finish_reason": "stop"}],
                                     "usage": {"prompt_tokens": usage // 2, "completion_tokens": usage - usage // 2,
                                               "total_tokens": usage}},
                               {"x-eco-overhead-us": "42", "x-eco-role": "admin"})
                    return
                chunks, delay, size = test.get("chunks", 5), test.get("delay", 0.0), test.get("size", 0)
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()

                def emit(s):
                    data = s.encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
                    with owner.lock:
                        owner.bytes_written += len(data)

                try:
                    for i in range(chunks):
                        delta = {"content": f"t{i} " + "x" * size}
                        emit("data: " + json.dumps({"choices": [{"index": 0, "delta": delta}]}) + "\n\n")
                        if delay:
                            time.sleep(delay)
                    if test.get("cut"):
                        self.close_connection = True
                        return  # no usage, no [DONE], no last chunk
                    if usage is not None:
                        emit("data: " + json.dumps({"choices": [], "usage": {"total_tokens": usage}}) + "\n\n")
                    emit("data: [DONE]\n\n")
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def last(self, path_prefix):
        with self.lock:
            for r in reversed(self.requests):
                if r[1].startswith(path_prefix):
                    return r
        return None

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
