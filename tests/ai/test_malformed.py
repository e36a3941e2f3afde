"""Malformed input corpus against the three POST routes: broken JSON, wrong types, huge numbers,
invalid UTF-8, deep nesting, oversized bodies. Each gets a precise 4xx in the OpenAI error shape
(param naming the field where there is one) and the service keeps answering /health. One
ai-service for the whole module: the corpus runs against the same process in turn."""
import http.client
import json

import pytest

from conftest import CHAT, EMBED, backend, error_of

MAX_BODY = 65536
ANY = "__any__"

CHAT_OK = {"model": CHAT, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
EMB_OK = {"model": EMBED, "input": "hi"}
CMP_OK = {"model": CHAT, "prompt": "hi", "max_tokens": 4}


def with_(base, **kw):
    b = dict(base)
    for k, v in kw.items():
        if v is DROP:
            b.pop(k, None)
        else:
            b[k] = v
    return json.dumps(b).encode()


def raw_field(base, key, raw):
    """base with field `key` set to the literal JSON text `raw` (numbers JSON can spell but a
    double or int64 cannot hold)."""
    b = dict(base)
    b[key] = "@@@"
    return json.dumps(b).encode().replace(b'"@@@"', raw)


DROP = object()
CH, EM, CM = "/v1/chat/completions", "/v1/embeddings", "/v1/completions"
DEEP = 20_000      # arrays: 40 KB, under the body limit
DEEP_OBJ = 8_000   # objects: 48 KB

# (id, path, body, status, param or ANY, or a tuple of acceptable params)
CORPUS = [
    # broken JSON
    ("truncated", CH, b'{"model": "chat-m", "messages": [', 400, ANY),
    ("trailing-garbage", CH, json.dumps(CHAT_OK).encode() + b"}x", 400, ANY),
    ("empty-body", CH, b"", 400, ANY),
    ("single-quotes", CH, b"{'model': 'chat-m'}", 400, ANY),
    ("bare-nan", CH, raw_field(CHAT_OK, "temperature", b"NaN"), 400, ANY),
    ("array-body", CH, b"[1, 2]", 400, ANY),
    ("null-body", CH, b"null", 400, ANY),
    ("string-body", CH, b'"hello"', 400, ANY),
    ("embeddings-truncated", EM, b'{"input": ["a", ', 400, ANY),
    ("completions-truncated", CM, b'{"prompt": "a', 400, ANY),
    # wrong types and values
    ("messages-string", CH, with_(CHAT_OK, messages="hi"), 400, "messages"),
    ("messages-empty", CH, with_(CHAT_OK, messages=[]), 400, "messages"),
    ("messages-missing", CH, with_(CHAT_OK, messages=DROP), 400, "messages"),
    ("message-not-object", CH, with_(CHAT_OK, messages=["hi"]), 400, "messages[0]"),
    ("content-number", CH, with_(CHAT_OK, messages=[{"role": "user", "content": 5}]), 400, "messages[0].content"),
    ("role-missing", CH, with_(CHAT_OK, messages=[{"content": "x"}]), 400, "messages[0].role"),
    ("role-number", CH, with_(CHAT_OK, messages=[{"role": 7, "content": "x"}]), 400, "messages[0].role"),
    ("role-unknown", CH, with_(CHAT_OK, messages=[{"role": "user", "content": "a"}, {"role": "god", "content": "b"}]),
     400, "messages[1].role"),
    ("model-number", CH, with_(CHAT_OK, model=5), 400, "model"),
    ("max-tokens-string", CH, with_(CHAT_OK, max_tokens="ten"), 400, "max_tokens"),
    ("max-tokens-fraction", CH, with_(CHAT_OK, max_tokens=3.5), 400, "max_tokens"),
    ("max-tokens-zero", CH, with_(CHAT_OK, max_tokens=0), 400, "max_tokens"),
    ("max-tokens-negative", CH, with_(CHAT_OK, max_tokens=-1), 400, "max_tokens"),
    ("max-completion-tokens-string", CH, with_(CHAT_OK, max_completion_tokens="x"), 400, "max_completion_tokens"),
    ("temperature-string", CH, with_(CHAT_OK, temperature="hot"), 400, "temperature"),
    ("temperature-negative", CH, with_(CHAT_OK, temperature=-0.5), 400, "temperature"),
    ("top-p-above-one", CH, with_(CHAT_OK, top_p=1.5), 400, "top_p"),
    ("presence-penalty-range", CH, with_(CHAT_OK, presence_penalty=3), 400, "presence_penalty"),
    ("frequency-penalty-string", CH, with_(CHAT_OK, frequency_penalty="x"), 400, "frequency_penalty"),
    ("seed-string", CH, with_(CHAT_OK, seed="x"), 400, "seed"),
    ("stream-string", CH, with_(CHAT_OK, stream="yes"), 400, "stream"),
    ("stop-number", CH, with_(CHAT_OK, stop=5), 400, "stop"),
    ("stop-list-of-numbers", CH, with_(CHAT_OK, stop=[1, 2]), 400, "stop"),
    ("stop-five", CH, with_(CHAT_OK, stop=["a", "b", "c", "d", "e"]), 400, "stop"),
    ("n-two", CH, with_(CHAT_OK, n=2), 400, "n"),
    ("n-string", CH, with_(CHAT_OK, n="1"), 400, "n"),
    ("stream-options-string", CH, with_(CHAT_OK, stream=True, stream_options="x"), 400, "stream_options"),
    ("stream-options-without-stream", CH, with_(CHAT_OK, stream_options={"include_usage": True}), 400,
     "stream_options"),
    ("tools", CH, with_(CHAT_OK, tools=[{"type": "function", "function": {"name": "f"}}]), 400, "tools"),
    ("embeddings-input-missing", EM, with_(EMB_OK, input=DROP), 400, "input"),
    ("embeddings-input-number", EM, with_(EMB_OK, input=5), 400, "input"),
    ("embeddings-input-empty-list", EM, with_(EMB_OK, input=[]), 400, "input"),
    ("embeddings-input-mixed", EM, with_(EMB_OK, input=["a", 1]), 400, "input"),
    ("embeddings-input-object", EM, with_(EMB_OK, input={"a": 1}), 400, "input"),
    ("embeddings-format-unknown", EM, with_(EMB_OK, encoding_format="hex"), 400, "encoding_format"),
    ("embeddings-format-number", EM, with_(EMB_OK, encoding_format=1), 400, "encoding_format"),
    ("embeddings-dimensions-string", EM, with_(EMB_OK, dimensions="8"), 400, "dimensions"),
    ("embeddings-dimensions-negative", EM, with_(EMB_OK, dimensions=-8), 400, "dimensions"),
    ("embeddings-dimensions-fraction", EM, with_(EMB_OK, dimensions=1.5), 400, "dimensions"),
    ("completions-prompt-missing", CM, with_(CMP_OK, prompt=DROP), 400, "prompt"),
    ("completions-prompt-number", CM, with_(CMP_OK, prompt=5), 400, "prompt"),
    ("completions-prompt-empty-list", CM, with_(CMP_OK, prompt=[]), 400, "prompt"),
    ("completions-max-tokens-negative", CM, with_(CMP_OK, max_tokens=-5), 400, "max_tokens"),
    # huge numbers
    ("max-tokens-huge", CH, with_(CHAT_OK, max_tokens=1e30), 400, "max_tokens"),
    ("max-tokens-bigint", CH, raw_field(CHAT_OK, "max_tokens", b"123456789012345678901234567890"), 400,
     ("max_tokens", None)),
    ("max-tokens-uint32-wrap", CH, with_(CHAT_OK, max_tokens=2**32 + 4), 400, "max_tokens"),
    ("temperature-overflow", CH, raw_field(CHAT_OK, "temperature", b"1e999"), 400, ("temperature", None)),
    ("temperature-huge", CH, with_(CHAT_OK, temperature=1e300), 400, "temperature"),
    ("seed-bigint", CH, raw_field(CHAT_OK, "seed", b"1" + b"0" * 40), 400, ("seed", None)),
    ("seed-float-huge", CH, with_(CHAT_OK, seed=1e30), 400, "seed"),
    ("dimensions-bigint", EM, raw_field(EMB_OK, "dimensions", b"99999999999999999999999"), 400,
     ("dimensions", None)),
    ("dimensions-uint32-wrap", EM, with_(EMB_OK, dimensions=2**32 + 8), 400, "dimensions"),
    # invalid UTF-8 and bad escapes
    ("utf8-invalid-content", CH, with_(CHAT_OK, messages=[{"role": "user", "content": "@@"}]).replace(b"@@", b"\xff\xfe"),
     400, ANY),
    ("utf8-overlong", CH, with_(CHAT_OK, messages=[{"role": "user", "content": "@@"}]).replace(b"@@", b"\xc0\xaf"),
     400, ANY),
    ("utf8-truncated-sequence", CH, with_(CHAT_OK, messages=[{"role": "user", "content": "@@"}]).replace(b"@@", b"\xe2\x82"),
     400, ANY),
    ("utf8-invalid-key", CH, json.dumps(CHAT_OK).encode()[:-1] + b', "\xff": 1}', 400, ANY),
    ("lone-surrogate-escape", CH, with_(CHAT_OK, messages=[{"role": "user", "content": "@@"}]).replace(b"@@", b"\\ud800"),
     400, ANY),
    ("bad-escape", CH, with_(CHAT_OK, messages=[{"role": "user", "content": "@@"}]).replace(b"@@", b"\\q"), 400, ANY),
    ("control-character", CH, with_(CHAT_OK, messages=[{"role": "user", "content": "@@"}]).replace(b"@@", b"a\x01b"),
     400, ANY),
    ("embeddings-invalid-utf8", EM, with_(EMB_OK, input="@@").replace(b"@@", b"\xed\xa0\x80"), 400, ANY),
    # deep nesting
    ("deep-arrays", CH, json.dumps(CHAT_OK).encode()[:-1] + b', "metadata": ' + b"[" * DEEP + b"]" * DEEP + b"}",
     400, ANY),
    ("deep-objects", CH, json.dumps(CHAT_OK).encode()[:-1] + b', "x": ' + b'{"a":' * DEEP_OBJ + b"1" + b"}" * DEEP_OBJ + b"}",
     400, ANY),
    ("deep-unclosed", EM, b'{"input": ' + b"[" * DEEP, 400, ANY),
    ("deep-in-messages", CH, with_(CHAT_OK, messages="@@").replace(b'"@@"', b"[" * DEEP + b"]" * DEEP), 400, ANY),
]


@pytest.fixture(scope="module")
def stack(module_harness):
    return module_harness(chat=[backend("vllm")], embed=[backend("ollama")], env={"ECO_MAX_BODY_BYTES": str(MAX_BODY)})


@pytest.mark.parametrize("path, body, status, param", [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS])
def test_corpus(stack, path, body, status, param):
    assert len(body) < MAX_BODY
    r = stack.post(path, body, timeout=5)
    if isinstance(param, tuple):
        err = error_of(r, status)
        assert err["param"] in param, err
    else:
        error_of(r, status, param=param)
    assert r.headers.get("x-request-id")
    stack.assert_alive()


def send_then_read(stack, path, body=None, chunks=None):
    """Sends the whole body (Content-Length, or chunked from `chunks`) before reading, as a
    simple client does: a server that closes without reading the rest makes this a reset."""
    host, port = stack.url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        try:
            if chunks is not None:
                conn.request("POST", path, body=iter(chunks), headers={"content-type": "application/json"},
                             encode_chunked=True)
            else:
                conn.request("POST", path, body=body, headers={"content-type": "application/json"})
        except (BrokenPipeError, ConnectionResetError) as e:
            pytest.fail(f"the connection was reset while sending the body: {e!r}")
        try:
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        except (ConnectionResetError, http.client.RemoteDisconnected) as e:
            pytest.fail(f"no answer, the connection was reset: {e!r}")
    finally:
        conn.close()


@pytest.mark.parametrize("size", [MAX_BODY + 1, 2 * MAX_BODY])
@pytest.mark.parametrize("path", [CH, EM])
def test_oversized_body_is_413(stack, path, size):
    """Up to twice the limit: our own 413 in the OpenAI shape, read by the client in full (the
    body is sent completely before reading, so a server closing early would show as a reset)."""
    filler = "x" * size
    body = json.dumps({"model": CHAT, "messages": [{"role": "user", "content": filler}]} if path == CH
                      else {"model": EMBED, "input": filler}).encode()
    status, headers, raw = send_then_read(stack, path, body)
    assert status == 413, raw[:300]
    err = json.loads(raw)["error"]  # the OpenAI error shape, not h2o's plain text
    assert {"message", "type", "param", "code"} <= set(err) and err["message"]
    assert headers.get("content-type", "").startswith("application/json")
    stack.assert_alive()


def test_oversized_chunked_body_is_413(stack):
    head = b'{"model": "chat-m", "messages": [{"role": "user", "content": "'
    status, _, raw = send_then_read(stack, CH, chunks=[head] + [b"y" * 16384] * 6 + [b'"}]}'])  # 1.5x the limit
    assert status == 413, raw[:300]
    assert json.loads(raw)["error"]["message"]
    stack.assert_alive()


def test_far_oversized_body_is_refused_and_the_service_lives(stack):
    """Far above the limit (h2o's own cap, above ours, answers): a 413 or a closed connection,
    never a crash or an accepted request."""
    body = json.dumps({"model": CHAT, "messages": [{"role": "user", "content": "x" * (64 * MAX_BODY)}]}).encode()
    host, port = stack.url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", CH, body=body, headers={"content-type": "application/json"})
        assert conn.getresponse().status == 413
    except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
        pass
    finally:
        conn.close()
    stack.assert_alive()


def test_valid_requests_still_served_after_the_corpus(stack):
    r = stack.post(CH, CHAT_OK)
    assert r.status == 200, r
    assert r.json["choices"][0]["message"]["content"]
    r = stack.post(EM, EMB_OK)
    assert r.status == 200, r
    # A body just under the limit is accepted.
    body = json.dumps(dict(CHAT_OK, messages=[{"role": "user", "content": "z " * 100}]))
    assert stack.post(CH, body.encode()).status == 200
    stack.assert_alive()
