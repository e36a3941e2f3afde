"""engine-sim wire fidelity: each kind's response shapes against fixtures written from
shared/reference/engines.md, stream framing per engine, and the deterministic output (checked
byte for byte against simgen.py, an independent implementation of gen.h's definition)."""
import math
import struct
import base64

import pytest

import simgen
from simwire import KINDS, assert_shape, data_json, fixture, metric_names, ndjson, sse_events

OAI = fixture("openai")
CHAT = [("system", "be brief"), ("user", "What is a simulator?")]
TEXT = simgen.chatml(CHAT)
MESSAGES = [{"role": r, "content": c} for r, c in CHAT]
OPENAI_KINDS = ["vllm", "tgi", "ollama", "sglang", "trtllm", "mii", "lmdeploy", "llamacpp", "openai"]


def expected(text=TEXT, seed=0, max_tokens=None):
    pieces, finish, prompt_tokens = simgen.generate(text, seed, max_tokens)
    return "".join(pieces), finish, len(pieces), prompt_tokens


def model_of(kind):
    return {"triton": "ensemble", "ollama": "eco-sim:latest"}.get(kind, "eco-sim")


# ---------- native unary generation per kind: (path, body, extract(resp) -> (text, finish, completion_tokens)) ----------

def native_unary(kind, n):
    if kind == "tgi":
        return "/generate", {"inputs": TEXT, "parameters": {"max_new_tokens": n, "details": True}}, \
            lambda j: (j["generated_text"], {"eos_token": "stop"}.get(j["details"]["finish_reason"], j["details"]["finish_reason"]),
                       j["details"]["generated_tokens"])
    if kind == "ollama":
        return "/api/chat", {"model": "eco-sim", "messages": MESSAGES, "stream": False, "options": {"num_predict": n}}, \
            lambda j: (j["message"]["content"], j["done_reason"], j["eval_count"])
    if kind == "sglang":
        return "/generate", {"text": TEXT, "sampling_params": {"max_new_tokens": n}}, \
            lambda j: (j["text"], j["meta_info"]["finish_reason"]["type"], j["meta_info"]["completion_tokens"])
    if kind == "triton":
        return "/v2/models/ensemble/generate", {"text_input": TEXT, "max_tokens": n}, \
            lambda j: (j["text_output"], None, None)
    if kind == "mii":
        return "/mii/eco-sim", {"prompts": [TEXT], "max_new_tokens": n}, \
            lambda j: (j[0]["generated_text"], j[0]["finish_reason"], j[0]["generated_length"])
    if kind == "lmdeploy":
        return "/generate", {"prompt": TEXT, "max_tokens": n}, \
            lambda j: (j["text"], j["meta_info"]["finish_reason"]["type"], j["meta_info"]["completion_tokens"])
    if kind == "llamacpp":
        return "/completion", {"prompt": TEXT, "n_predict": n}, \
            lambda j: (j["content"], {"eos": "stop", "limit": "length"}[j["stop_type"]], j["tokens_predicted"])
    return "/v1/chat/completions", {"model": "eco-sim", "messages": MESSAGES, "max_tokens": n}, \
        lambda j: (j["choices"][0]["message"]["content"], j["choices"][0]["finish_reason"], j["usage"]["completion_tokens"])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [3, 1000])
def test_native_unary_output_is_the_definition(sim, kind, n):
    s = sim(kind)
    path, body, extract = native_unary(kind, n)
    r = s.post(path, body)
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("application/json")
    text, finish, ntok = extract(r.json())
    want, want_finish, want_n, _ = expected(max_tokens=n)
    assert text == want
    if finish is not None:
        assert finish == want_finish
        assert ntok == want_n
    assert (want_finish == "length") == (n == 3)


@pytest.mark.parametrize("kind", OPENAI_KINDS)
def test_openai_chat_shape_and_usage(sim, kind):
    s = sim(kind)
    r = s.post("/v1/chat/completions", {"model": model_of(kind), "messages": MESSAGES, "max_tokens": 5, "seed": 9})
    assert r.status == 200, r
    j = r.json()
    assert_shape(OAI["chat_completion"], j)
    assert j["object"] == "chat.completion"
    want, finish, n, prompt_tokens = expected(seed=9, max_tokens=5)
    assert j["choices"][0]["message"]["content"] == want
    assert j["choices"][0]["finish_reason"] == finish == "length"
    assert j["usage"] == {**j["usage"], "prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n}
    if kind == "tgi":
        assert j["id"] == fixture("tgi")["chat_id"]  # TGI answers with an empty id
    else:
        assert j["id"].startswith("chatcmpl-")


@pytest.mark.parametrize("kind", OPENAI_KINDS)
def test_openai_completions_shape(sim, kind):
    s = sim(kind)
    r = s.post("/v1/completions", {"model": model_of(kind), "prompt": "Once upon a time", "max_tokens": 4})
    assert r.status == 200, r
    j = r.json()
    assert_shape(OAI["text_completion"], j)
    want, finish, n, pt = expected("Once upon a time", max_tokens=4)
    assert j["choices"][0]["text"] == want and j["choices"][0]["finish_reason"] == finish
    assert j["usage"]["prompt_tokens"] == pt == 5


def test_openai_completions_default_max_tokens_is_16(sim):
    s = sim("vllm", "--min-output-tokens", "40", "--max-output-tokens", "60")
    j = s.post("/v1/completions", {"model": "eco-sim", "prompt": "x"}).json()
    assert j["usage"]["completion_tokens"] == 16 and j["choices"][0]["finish_reason"] == "length"


# ---------- streaming framing ----------

def openai_stream_text(events):
    chunks = data_json(events)
    text = "".join((c["choices"][0].get("delta", {}).get("content") or "") for c in chunks if c.get("choices"))
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c.get("choices") and c["choices"][0]["finish_reason"]]
    return text, finishes, chunks


@pytest.mark.parametrize("kind", OPENAI_KINDS)
def test_openai_chat_stream_framing(sim, kind):
    s = sim(kind)
    fr = fixture("tgi")["chat_framing"] if kind == "tgi" else OAI["framing"]
    body = {"model": model_of(kind), "messages": MESSAGES, "max_tokens": 6, "stream": True,
            "stream_options": {"include_usage": True}}
    r = s.post("/v1/chat/completions", body)
    assert r.status == 200 and r.complete, r
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.body, fr["prefix"])
    assert events[-1] == ("data", fr["terminator"][len(fr["prefix"]):]), events[-1]
    assert sum(1 for e in events if e[1] == "[DONE]") == 1
    text, finishes, chunks = openai_stream_text(events)
    want, finish, n, pt = expected(max_tokens=6)
    assert text == want
    assert finishes == [finish]
    for c in chunks:
        if c["choices"]:
            assert_shape(OAI["chat_chunk"], c)
    if kind == "vllm":
        assert chunks[0]["choices"][0]["delta"] == fixture("vllm")["first_chunk_delta"]
    if kind != "mii":  # MII's stream carries no usage
        usage = chunks[-1]
        assert_shape(OAI["usage_chunk"], usage)
        assert usage["usage"]["completion_tokens"] == n and usage["usage"]["prompt_tokens"] == pt
        assert all(c.get("usage", None) is None for c in chunks[:-1])  # include_usage: usage:null before
    # one content token per chunk: tokens are flushed as produced
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0].get("delta", {}).get("content")) == n


@pytest.mark.parametrize("kind", ["vllm", "sglang", "lmdeploy", "llamacpp", "openai"])
def test_openai_completions_stream(sim, kind):
    s = sim(kind)
    r = s.post("/v1/completions", {"model": "eco-sim", "prompt": "abc", "max_tokens": 3, "stream": True})
    events = sse_events(r.body, "data: ")
    assert events[-1] == ("data", "[DONE]")
    chunks = data_json(events)
    for c in chunks:
        assert_shape(OAI["text_completion_chunk"], c)
    assert "".join(c["choices"][0]["text"] for c in chunks) == expected("abc", max_tokens=3)[0]


def test_tgi_generate_shape_headers_and_stream(sim):
    tgi = fixture("tgi")
    s = sim("tgi")
    r = s.post("/generate", {"inputs": "Hello there", "parameters": {"max_new_tokens": 4, "details": True, "seed": 5}})
    assert r.status == 200
    j = r.json()
    assert_shape(tgi["generate"], j)
    want, finish, n, pt = expected("Hello there", seed=5, max_tokens=4)
    assert j["generated_text"] == want and j["details"]["finish_reason"] in tgi["finish_reasons"]
    assert j["details"]["seed"] == 5 and "".join(t["text"] for t in j["details"]["tokens"]) == want
    for h in tgi["headers"]:
        assert h in r.headers, h
    assert int(r.headers["x-prompt-tokens"]) == pt and int(r.headers["x-generated-tokens"]) == n
    # without details: only generated_text
    j = s.post("/generate", {"inputs": "Hello there", "parameters": {"max_new_tokens": 4, "seed": 5}}).json()
    assert j == {"generated_text": want}

    r = s.post("/generate_stream", {"inputs": "Hello there", "parameters": {"max_new_tokens": 4, "details": True, "seed": 5}})
    assert r.status == 200 and r.headers["content-type"].startswith(tgi["framing"]["content_type"])
    events = sse_events(r.body, tgi["framing"]["prefix"])
    assert all(v != "[DONE]" for _, v in events)  # native TGI streams have no [DONE]
    objs = data_json(events)
    for o in objs:
        assert_shape(tgi["stream_event"], o)
    assert [o["index"] for o in objs] == list(range(1, n + 1))
    assert "".join(o["token"]["text"] for o in objs) == want
    assert all(o["generated_text"] is None and o["details"] is None for o in objs[:-1])
    assert objs[-1]["generated_text"] == want
    assert_shape(tgi["stream_last_details"], objs[-1]["details"])
    assert objs[-1]["details"]["input_length"] == pt
    # POST / dispatches on "stream"; non-streaming answers a list
    assert s.post("/", {"inputs": "Hello there", "parameters": {"max_new_tokens": 4, "seed": 5}}).json() == \
        [{"generated_text": want}]
    r = s.post("/", {"inputs": "Hello there", "stream": True, "parameters": {"max_new_tokens": 4, "seed": 5}})
    assert "".join(o["token"]["text"] for o in data_json(sse_events(r.body, "data:"))) == want


def test_tgi_keepalive_comments(sim):
    s = sim("tgi", "--keepalive-ms", "50", "--ttft-ms", "300")
    r = s.post("/generate_stream", {"inputs": "x", "parameters": {"max_new_tokens": 2}})
    events = sse_events(r.body, "data:")
    first_data = next(i for i, e in enumerate(events) if e[0] == "data")
    assert first_data >= 2 and all(e[0] == ":" for e in events[:first_data]), events[:4]


def test_tgi_info_models_tokenize(sim):
    tgi = fixture("tgi")
    s = sim("tgi", "--model", "org/model")
    info = s.get("/info").json()
    assert set(tgi["info_fields"]) <= set(info) and info["model_id"] == "org/model"
    models = s.get("/v1/models").json()
    assert_shape(tgi["models"], models)
    assert models["data"][0]["created"] == 0 and models["data"][0]["owned_by"] == "org/model"
    toks = s.post("/tokenize", {"inputs": "ab cd"}).json()
    assert_shape(tgi["tokenize"], toks)
    assert [(t["start"], t["stop"]) for t in toks] == [(0, 2), (3, 5)]


def test_ollama_native_ndjson_stream_and_shapes(sim):
    ol = fixture("ollama")
    s = sim("ollama")
    r = s.post("/api/chat", {"model": "eco-sim", "messages": MESSAGES, "options": {"num_predict": 5}})  # stream by default
    assert r.status == 200 and r.complete
    assert r.headers["content-type"].startswith(ol["framing"]["content_type"])
    lines = ndjson(r.body)
    want, finish, n, pt = expected(max_tokens=5)
    for line in lines[:-1]:
        assert_shape(ol["chat_chunk"], line)
        assert line["done"] is False
    assert_shape(ol["chat_final"], lines[-1])
    assert lines[-1]["done"] is True and lines[-1]["done_reason"] == finish and lines[-1]["message"]["content"] == ""
    assert "".join(line["message"]["content"] for line in lines) == want
    assert lines[-1]["eval_count"] == n and lines[-1]["prompt_eval_count"] == pt
    # /api/generate applies the model template (system + user as ChatML); raw uses the prompt as is
    j = s.post("/api/generate", {"model": "eco-sim", "prompt": "What is a simulator?", "system": "be brief",
                                 "stream": False}).json()
    assert_shape(ol["generate_final"], j)
    assert j["response"] == expected()[0]
    r = s.post("/api/generate", {"model": "eco-sim", "prompt": "plain", "raw": True, "options": {"num_predict": 2}})
    lines = ndjson(r.body)
    for line in lines[:-1]:
        assert_shape(ol["generate_chunk"], line)
    assert "".join(line["response"] for line in lines) == expected("plain", max_tokens=2)[0]
    # empty prompt: the model loads, nothing is generated
    j = s.post("/api/generate", {"model": "eco-sim", "stream": False}).json()
    assert j["done"] is True and j["done_reason"] == "load"


def test_ollama_models_and_errors(sim):
    ol = fixture("ollama")
    s = sim("ollama")
    r = s.get("/")
    assert r.status == 200 and r.text == ol["root_body"]
    assert s.req("HEAD", "/").status == 200
    assert_shape(ol["tags"], s.get("/api/tags").json())
    assert s.get("/api/ps").json() == {"models": []}  # nothing loaded yet
    s.post("/api/generate", {"model": "eco-sim", "prompt": "x", "stream": False})
    assert_shape(ol["ps"], s.get("/api/ps").json())
    assert_shape(ol["version"], s.get("/api/version").json())
    r = s.post("/api/chat", {"model": "other", "messages": MESSAGES})
    assert r.status == 404
    assert_shape(ol["error"], r.json())
    r = s.post("/api/chat", {"messages": MESSAGES})
    assert r.status == 400 and r.json() == {"error": "model is required"}
    r = s.post("/v1/chat/completions", {"model": "nope", "messages": MESSAGES})
    assert r.status == 404
    assert_shape(ol["openai_error"], r.json())


def test_sglang_native_cumulative_and_incremental(sim):
    sg = fixture("sglang")
    for flags, cumulative in (((), True), (("--incremental-streaming-output",), False)):
        s = sim("sglang", *flags)
        j = s.post("/generate", {"text": "The capital of France is", "sampling_params": {"max_new_tokens": 5}}).json()
        assert_shape(sg["generate"], j)
        want, finish, n, pt = expected("The capital of France is", max_tokens=5)
        assert j["text"] == want and j["meta_info"]["finish_reason"]["type"] == finish
        r = s.post("/generate", {"text": "The capital of France is", "stream": True, "sampling_params": {"max_new_tokens": 5}})
        events = sse_events(r.body, sg["framing"]["prefix"])
        assert events[-1] == ("data", "[DONE]")
        objs = data_json(events)
        texts = [o["text"] for o in objs]
        if cumulative:
            assert texts[-1] == want and all(want.startswith(t) for t in texts)
            assert [len(t) for t in texts] == sorted(len(t) for t in texts)
        else:
            assert "".join(texts) == want
        assert all(o["meta_info"]["finish_reason"] is None for o in objs[:-1])
        assert objs[-1]["meta_info"]["finish_reason"]["type"] == finish
        s.stop()
    s = sim("sglang")
    batch = s.post("/generate", {"text": ["a", "b"], "sampling_params": {"max_new_tokens": 2}}).json()
    assert [o["text"] for o in batch] == [expected("a", max_tokens=2)[0], expected("b", max_tokens=2)[0]]
    assert_shape(sg["model_info"], s.get("/get_model_info").json())
    assert_shape(sg["get_load"], s.get("/get_load").json())
    r = s.post("/generate", {"text": "a", "sampling_params": {"top_p": 1.5}})
    assert r.status == 400
    assert_shape(sg["native_error"], r.json())
    r = s.post("/v1/chat/completions", {"messages": MESSAGES, "top_p": 0})
    assert r.status == 400
    assert_shape(sg["openai_error"], r.json())


def test_triton_generate_and_stream(sim):
    tr = fixture("triton")
    s = sim("triton")
    r = s.post("/v2/models/ensemble/generate", tr["request"])
    assert r.status == 200, r
    j = r.json()
    assert_shape(tr["generate"], j)
    want = expected(tr["request"]["text_input"], seed=42, max_tokens=64)[0]
    assert j["text_output"] == want
    r = s.post("/v2/models/ensemble/versions/1/generate_stream", {**tr["request"], "stream": True})
    assert r.status == 200 and r.complete
    events = sse_events(r.body, tr["framing"]["prefix"])
    assert all(v != "[DONE]" for _, v in events)
    objs = data_json(events)
    for o in objs:
        assert_shape(tr["generate"], o)
    assert "".join(o["text_output"] for o in objs) == want
    r = s.post("/v2/models/ensemble/generate", {**tr["request"], "no_such_tensor": 1})
    assert r.status == 400
    assert_shape(tr["error"], r.json())
    assert "no_such_tensor" in r.json()["error"]
    r = s.post("/v2/models/ensemble/generate", {"text_input": "x"})  # max_tokens is a required input
    assert r.status == 400
    assert s.post("/v2/models/other/generate", tr["request"]).status == 400


def test_mii_rest_api_server_and_openai(sim):
    mii = fixture("mii")
    s = sim("mii")
    r = s.post("/mii/eco-sim", mii["rest_request"])
    assert r.status == 200
    j = r.json()
    assert_shape(mii["rest_response"], j)
    assert [o["generated_text"] for o in j] == [expected(p, max_tokens=128)[0] for p in mii["rest_request"]["prompts"]]
    assert all(o["finish_reason"] in mii["finish_reasons"] for o in j)
    assert s.get("/healthz").text == mii["healthz_body"]
    assert s.get("/health").json() == mii["health"]
    j = s.post("/generate", {"prompt": ["a"], "max_tokens": 3}).json()
    assert_shape(mii["api_generate"], j)
    r = s.post("/generate", {"prompt": "a", "max_tokens": 3, "stream": True})
    events = sse_events(r.body, "data: ")
    assert events[-1] == ("data", "[DONE]")
    assert "".join(o["text"][0] for o in data_json(events)) == expected("a", max_tokens=3)[0]
    r = s.post("/v1/chat/completions", {"model": "wrong", "messages": MESSAGES})
    assert r.status == mii["openai_error_status"]
    assert_shape(mii["openai_error"], r.json())
    # max_tokens defaults to 128 on the OpenAI server
    j = s.post("/v1/chat/completions", {"model": "eco-sim", "messages": MESSAGES}).json()
    assert j["choices"][0]["message"]["content"] == expected(max_tokens=128)[0]


def test_lmdeploy_native(sim):
    lm = fixture("lmdeploy")
    s = sim("lmdeploy")
    j = s.post("/generate", {"prompt": "hello", "max_tokens": 3}).json()
    assert_shape(lm["generate"], j)
    want, finish, n, pt = expected("hello", max_tokens=3)
    assert j["text"] == want and j["meta_info"]["finish_reason"]["type"] == finish
    r = s.post("/generate", {"prompt": "hello", "max_tokens": 3, "stream": True})
    events = sse_events(r.body, "data: ")
    assert events[-1] == ("data", "[DONE]")
    objs = data_json(events)
    assert "".join(o["text"] for o in objs) == want  # deltas
    assert [o["meta_info"]["finish_reason"] for o in objs[:-1]] == [None] * (len(objs) - 1)
    r = s.post("/generate", {"prompt": "a", "input_ids": [1]})
    assert r.status == 400
    assert_shape(lm["error"], r.json())
    r = s.post("/v1/embeddings", {"input": "x"})
    assert r.status == 400 and r.json()["message"] == lm["embeddings_message"]
    assert_shape(lm["encode"], s.post("/v1/encode", {"input": "a b"}).json())
    assert s.get("/health").json() == lm["health_ok"]


def test_llamacpp_native(sim):
    lc = fixture("llamacpp")
    s = sim("llamacpp")
    j = s.post("/completion", {"prompt": "hello", "n_predict": 3}).json()
    assert_shape(lc["completion"], j)
    want, finish, n, pt = expected("hello", max_tokens=3)
    assert j["content"] == want and j["stop_type"] == "limit" and j["tokens_evaluated"] == pt
    r = s.post("/completions", {"prompt": "hello", "n_predict": 3, "stream": True})
    events = sse_events(r.body, lc["framing"]["prefix"])
    assert all(v != "[DONE]" for _, v in events)
    objs = data_json(events)
    for o in objs[:-1]:
        assert_shape(lc["stream_token"], o)
        assert o["stop"] is False
    assert_shape(lc["stream_last"], objs[-1])
    assert "".join(o["content"] for o in objs) == want
    r = s.post("/v1/chat/completions", {"messages": MESSAGES, "max_tokens": 2, "stream": True})
    assert sse_events(r.body, "data: ")[-1] == ("data", "[DONE]")
    assert s.get("/health").json() == lc["health_ok_exact"]
    assert_shape(lc["props"], s.get("/props").json())
    assert_shape(lc["tokenize"], s.post("/tokenize", {"content": "a b c"}).json())
    card = s.get("/v1/models").json()["data"][0]
    assert all(k in card for k in lc["model_card_extra"]) and card == s.get("/models").json()["data"][0]
    r = s.post("/completion", {"prompt": " ".join(["w"] * 5000)})
    assert r.status == 400
    assert_shape(lc["exceed_context"], r.json())


# ---------- the same answer everywhere ----------

def test_same_output_across_kinds_and_instances(sim):
    answers = {}
    for kind in KINDS:
        s = sim(kind)
        path, body, extract = native_unary(kind, 1000)
        answers[kind] = extract(s.post(path, body).json())[0]
        if kind in OPENAI_KINDS:
            j = s.post("/v1/chat/completions", {"model": model_of(kind), "messages": MESSAGES}).json()
            answers[kind + "/v1"] = j["choices"][0]["message"]["content"]
        s.stop()
    assert len(set(answers.values())) == 1, answers
    assert set(answers.values()) == {expected()[0]}


@pytest.mark.parametrize("kind", ["vllm", "ollama", "tgi", "llamacpp"])
def test_continuation_emits_exactly_the_rest(sim, kind):
    s = sim(kind)
    full, _, n, _ = expected()
    for cut in (0, 7, len(full) // 2, len(full)):
        partial = full[:cut]
        if kind == "vllm":
            msgs = MESSAGES + [{"role": "assistant", "content": partial}]
            j = s.post("/v1/chat/completions", {"model": "eco-sim", "messages": msgs}).json()
            got, toks = j["choices"][0]["message"]["content"], j["usage"]["completion_tokens"]
        elif kind == "ollama":
            msgs = MESSAGES + [{"role": "assistant", "content": partial}]
            j = s.post("/api/chat", {"model": "eco-sim", "messages": msgs, "stream": False}).json()
            got, toks = j["message"]["content"], j["eval_count"]
        elif kind == "tgi":  # a prompt-only API: the adapter renders ChatML with the partial answer
            j = s.post("/generate", {"inputs": TEXT + partial, "parameters": {"details": True}}).json()
            got, toks = j["generated_text"], j["details"]["generated_tokens"]
        else:
            j = s.post("/completion", {"prompt": TEXT + partial}).json()
            got, toks = j["content"], j["tokens_predicted"]
        assert partial + got == full, (cut, got)
        rest, _, nrest, _ = expected(TEXT + partial)
        assert got == rest and toks == nrest


# ---------- embeddings and models ----------

EMBED_KINDS = {
    "vllm": ("/v1/embeddings", lambda t: {"model": "eco-sim", "input": t}, lambda j: [d["embedding"] for d in j["data"]]),
    "openai": ("/v1/embeddings", lambda t: {"model": "eco-sim", "input": t}, lambda j: [d["embedding"] for d in j["data"]]),
    "sglang": ("/encode", lambda t: {"text": t}, lambda j: [d["embedding"] for d in (j if isinstance(j, list) else [j])]),
    "ollama": ("/api/embed", lambda t: {"model": "eco-sim", "input": t}, lambda j: j["embeddings"]),
    "llamacpp": ("/embedding", lambda t: {"content": t}, lambda j: [d["embedding"][0] for d in j]),
}


@pytest.mark.parametrize("kind", sorted(EMBED_KINDS))
def test_embeddings_unit_norm_and_deterministic(sim, kind):
    s = sim(kind, "--embedding-dim", "32")
    path, body, vecs = EMBED_KINDS[kind]
    inputs = ["alpha", "beta gamma"]
    r = s.post(path, body(inputs))
    assert r.status == 200, r
    got = vecs(r.json())
    assert len(got) == 2
    for text, v in zip(inputs, got):
        assert len(v) == 32
        assert abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-5
        ref = simgen.embed(text, 32)
        assert max(abs(a - b) for a, b in zip(v, ref)) < 1e-6
    assert vecs(s.post(path, body(inputs)).json()) == got
    if kind in ("vllm", "openai"):
        j = r.json()
        assert_shape(OAI["embeddings"], j)
        assert j["usage"]["prompt_tokens"] == 2 + 3
        j = s.post(path, {"model": "eco-sim", "input": "alpha", "dimensions": 8, "encoding_format": "base64"}).json()
        raw = base64.b64decode(j["data"][0]["embedding"])
        v = struct.unpack("<8f", raw)
        assert max(abs(a - b) for a, b in zip(v, simgen.embed("alpha", 8))) < 1e-6
    if kind == "ollama":
        assert_shape(fixture("ollama")["embed"], r.json())
        legacy = s.post("/api/embeddings", {"model": "eco-sim", "prompt": "alpha"}).json()
        assert_shape(fixture("ollama")["embeddings_legacy"], legacy)
    if kind == "sglang":
        assert_shape(fixture("sglang")["encode"], s.post(path, {"text": "alpha"}).json())


@pytest.mark.parametrize("kind", OPENAI_KINDS)
def test_models_list(sim, kind):
    s = sim(kind, "--model", "m1")
    j = s.get("/v1/models").json()
    assert_shape(OAI["models"], j)
    assert [d["id"] for d in j["data"]] == ["m1:latest" if kind == "ollama" else "m1"]
    if kind == "vllm":
        assert_shape(fixture("vllm")["model_card"], j["data"][0])
    if kind == "sglang":
        assert all(k in j["data"][0] for k in fixture("sglang")["model_card_extra"])


# ---------- validation and errors ----------

def test_vllm_errors(sim):
    vl = fixture("vllm")
    s = sim("vllm", "--max-model-len", "64")
    r = s.post("/v1/chat/completions", {"model": "nope", "messages": MESSAGES})
    assert r.status == 404
    assert_shape(vl["error"], r.json())
    assert r.json()["error"]["type"] == vl["error_types"]["404"] and r.json()["error"]["code"] == 404
    r = s.post("/v1/chat/completions", {"model": "eco-sim", "messages": MESSAGES, "max_tokens": 0})
    assert r.status == 400 and r.json()["error"]["type"] == vl["error_types"]["400"]
    r = s.post("/v1/chat/completions", {"model": "eco-sim", "messages": MESSAGES, "max_tokens": 100})
    assert r.status == 400 and "maximum context length is 64 tokens" in r.json()["error"]["message"]
    r = s.post("/v1/chat/completions", {"model": "eco-sim", "messages": "hi"})
    assert r.status == 400
    r = s.post("/v1/chat/completions", b"{not json")
    assert r.status == 400 and "error" in r.json()
    assert_shape(vl["version"], s.get("/version").json())
    assert_shape(vl["load"], s.get("/load").json())


def test_openai_error_shape(sim):
    s = sim("openai", "--max-model-len", "32")
    r = s.post("/v1/chat/completions", {"model": "eco-sim", "messages": MESSAGES, "max_tokens": 100})
    assert r.status == 400
    assert_shape(OAI["error"], r.json())
    assert r.json()["error"]["code"] == OAI["error"]["error"]["code"]
    r = s.post("/v1/chat/completions", {"messages": MESSAGES})
    assert r.status == 400 and set(r.json()["error"]) == set(OAI["error"]["error"])
    r = s.post("/v1/chat/completions", {"model": "eco-sim", "messages": MESSAGES, "temperature": 3})
    assert r.status == 400
    r = s.post("/v1/chat/completions", {"model": "x", "messages": MESSAGES})
    assert r.status == 404 and r.json()["error"]["code"] == "model_not_found"


def test_tgi_validation(sim):
    tgi = fixture("tgi")
    s = sim("tgi")
    cases = [({"top_p": 1.0}, tgi["top_p_one_message"]), ({"temperature": 0}, "`temperature` must be strictly positive"),
             ({"stop": ["a", "b", "c", "d", "e"]}, "`stop` supports up to 4 stop sequences"),
             ({"max_new_tokens": 0}, "`max_new_tokens` must be strictly positive")]
    for params, msg in cases:
        r = s.post("/generate", {"inputs": "x", "parameters": params})
        assert r.status == tgi["validation_status"], (params, r)
        assert_shape(tgi["error"], r.json())
        assert msg in r.json()["error"] and r.json()["error_type"] == "validation"
        # once streaming, the same error is an event of a 200 stream
        r = s.post("/generate_stream", {"inputs": "x", "parameters": params})
        assert r.status == 200
        ev = data_json(sse_events(r.body, "data:"))
        assert len(ev) == 1 and msg in ev[0]["error"] and ev[0]["error_type"] == "validation"
    r = s.post("/generate", {"inputs": "x", "parameters": {"max_new_tokens": "5"}})
    assert r.status == 422 and r.json()["error_type"] == "validation"
    r = s.post("/generate", {"inputs": " ".join(["w"] * 4000), "parameters": {"max_new_tokens": 500}})
    assert r.status == 422 and "must be <= 4096" in r.json()["error"]
    r = s.post("/v1/chat/completions", {"messages": MESSAGES, "top_p": 1.0})
    assert r.status == 422 and r.json()["error_type"] == "validation"


# ---------- metrics ----------

@pytest.mark.parametrize("kind,path", [("vllm", "/metrics"), ("tgi", "/metrics"), ("sglang", "/metrics"),
                                       ("trtllm", "/prometheus/metrics"), ("triton", "/metrics"),
                                       ("lmdeploy", "/metrics"), ("llamacpp", "/metrics")])
def test_engine_metric_names(sim, kind, path):
    s = sim(kind)
    path_, body, _ = native_unary(kind, 3)
    assert s.post(path_, body).status == 200
    r = s.get(path)
    assert r.status == 200 and r.headers["content-type"].startswith("text/plain")
    names = metric_names(r.text)
    fx = fixture(kind)
    missing = [m for m in fx["metrics"] if m not in names]
    assert not missing, missing
    assert "eco_sim_cancelled_total" in names
    for label in fx.get("metric_labels", []):
        assert f'{label}="eco-sim"' in r.text
    if kind == "triton":
        for t in fx["request_types"]:
            assert f'request_type="{t}"' in r.text
        for t in fx["kv_block_types"]:
            assert f'kv_cache_block_type="{t}"' in r.text


def test_trtllm_json_metrics_and_health(sim):
    tr = fixture("trtllm")
    s = sim("trtllm")
    assert_shape(tr["json_metrics"], s.get("/metrics").json())
    assert s.get("/health").status == tr["health"]["ready"]
    assert s.get("/health_generate").text == tr["health_generate_ok"]
    r = s.post("/v1/chat/completions", {"messages": "x"})  # request validation: {"error": "<string>"}
    assert r.status == 400 and set(r.json()) == {"error"}
    assert_shape(tr["validation_error"], r.json())
    s.stop()
    s = sim("trtllm", "--max-model-len", "16")
    r = s.post("/v1/chat/completions", {"messages": MESSAGES, "max_tokens": 100})  # a handler error: the flat shape
    assert r.status == 400
    assert_shape(tr["error"], r.json())


def test_sim_endpoints_on_every_kind(sim):
    for kind in KINDS:
        s = sim(kind)
        st = s.stats()
        assert {"requests", "cancelled", "in_flight", "max_in_flight_seen"} <= set(st) and st["kind"] == kind
        assert "eco_sim_cancelled_total" in s.get("/sim/metrics").text
        s.stop()
