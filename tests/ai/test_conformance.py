"""ai-service as an OpenAI endpoint, checked with the official openai SDK against engine-sims:
models, chat (roles preserved: the answer is the engine's own answer to the same messages),
streaming (reassembled text equals the non-streamed text, one role delta, one finish reason,
the usage chunk), completions, embeddings (float, base64, dimensions), the headers, and every
error type raised as the SDK's matching exception."""
import concurrent.futures
import re
import time

import openai
import pytest

from conftest import (CHAT, CHAT_ALIAS, EMBED, MSGS, b64_floats, backend, close, engine_chat, engine_completion,
                      error_of, metric_series, norm, stream_chat, unit)
from ecotest import free_port

LONELY = "lonely-m"


@pytest.fixture
def stack(ai_stack):
    extra = (f"  - id: {LONELY}\n    capabilities: [chat, completion]\n    backends:\n"
             f"      - {{name: gone, address: \"127.0.0.1:{free_port()}\"}}\n")
    return ai_stack(chat=[backend("vllm"), backend("vllm")], embed=[backend("ollama")], extra_models=extra)


def chat(stack, **kw):
    args = dict(model=CHAT, messages=MSGS, max_tokens=24, seed=7)
    args.update(kw)
    return stack.client.chat.completions.create(**{k: v for k, v in args.items() if v is not None})


# ---------------------------------------------------------------- models


def test_models_lists_the_registry_with_backends_up(stack):
    models = {m.id: m for m in stack.client.models.list().data}
    assert set(models) == {CHAT, EMBED, LONELY}
    extra = models[CHAT].model_extra
    assert extra["backends_up"] == 2 and extra["capabilities"] == ["chat", "completion"]
    assert extra["aliases"] == [CHAT_ALIAS] and extra["default"] is True and extra["context_length"] == 4096
    assert models[EMBED].model_extra["backends_up"] == 1 and models[LONELY].model_extra["backends_up"] == 0
    assert stack.client.models.retrieve(CHAT_ALIAS).id == CHAT
    with pytest.raises(openai.NotFoundError):
        stack.client.models.retrieve("no-such-model")


# ---------------------------------------------------------------- chat


def test_chat_is_the_engines_answer_to_the_same_messages(stack):
    r = chat(stack)
    want, tokens, finish = engine_chat(stack["a"])
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-") and r.created > 1_700_000_000
    assert r.model == CHAT and len(r.choices) == 1
    c = r.choices[0]
    assert c.index == 0 and c.message.role == "assistant" and c.finish_reason == finish
    assert c.message.content == want  # roles and turns preserved, not flattened
    assert r.usage.completion_tokens == tokens and r.usage.prompt_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_chat_by_alias_answers_with_the_registry_id(stack):
    assert chat(stack, model=CHAT_ALIAS).model == CHAT


def test_max_completion_tokens_and_sampling_fields(stack):
    r = chat(stack, max_tokens=None, max_completion_tokens=5, temperature=0.7, top_p=0.9, stop=["zzz", "qqq"],
             presence_penalty=0.5, frequency_penalty=0.1, user="tester")
    assert r.usage.completion_tokens == 5 and r.choices[0].finish_reason == "length"
    assert r.choices[0].message.content == engine_chat(stack["a"], max_tokens=5)[0]
    assert chat(stack, stop="zzz").choices[0].message.content == engine_chat(stack["a"])[0]


def test_request_id_and_overhead_headers(stack):
    raw = stack.client.chat.completions.with_raw_response.create(model=CHAT, messages=MSGS, max_tokens=4, seed=1)
    assert raw.headers.get("x-request-id")
    assert re.fullmatch(r"\d+", raw.headers.get("x-eco-overhead-us", "")), dict(raw.headers)
    assert raw.parse().choices[0].message.content
    raw = stack.client.chat.completions.with_raw_response.create(
        model=CHAT, messages=MSGS, max_tokens=4, extra_headers={"x-request-id": "req-conformance-1"})
    assert raw.headers["x-request-id"] == "req-conformance-1"
    # Errors and streams carry one too.
    r = stack.post("/v1/chat/completions", {"model": "nope", "messages": MSGS}, {"x-request-id": "req-err-1"})
    assert r.status == 404 and r.headers.get("x-request-id") == "req-err-1"
    s = stream_chat(stack, headers={"x-request-id": "req-stream-1"})
    assert s.status == 200 and s.headers.get("x-request-id") == "req-stream-1"


# ---------------------------------------------------------------- streaming


def test_stream_equals_non_stream_with_the_usage_chunk(stack):
    whole = chat(stack, max_tokens=40)
    chunks = list(chat(stack, max_tokens=40, stream=True, stream_options={"include_usage": True}))
    assert all(c.object == "chat.completion.chunk" and c.model == CHAT for c in chunks)
    assert len({c.id for c in chunks}) == 1
    content = [c for c in chunks if c.choices]
    assert content[0].choices[0].delta.role == "assistant"
    assert sum(1 for c in content if c.choices[0].delta.role) == 1
    assert sum(1 for c in content if c.choices[0].finish_reason) == 1
    assert content[-1].choices[0].finish_reason == whole.choices[0].finish_reason
    text = "".join(c.choices[0].delta.content or "" for c in content)
    assert text == whole.choices[0].message.content
    assert len(content) > 3  # real token streaming, not one blob
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens == whole.usage.completion_tokens
    assert last.usage.prompt_tokens == whole.usage.prompt_tokens
    assert isinstance(last.model_extra.get("eco_overhead_us"), int)


def test_stream_wire_shape(stack):
    s = stream_chat(stack, max_tokens=16)
    assert s.check_chat() == engine_chat(stack["a"], max_tokens=16)[0]
    assert s.usage["completion_tokens"] == 16
    no_usage = stack.stream("/v1/chat/completions", {"model": CHAT, "messages": MSGS, "max_tokens": 16, "seed": 7,
                                                      "stream": True})
    assert no_usage.check_chat(usage=False) == s.text()
    assert all(not c.get("usage") for c in no_usage.chunks)


# ---------------------------------------------------------------- completions


def test_completions_string_list_and_stream(stack):
    r = stack.client.completions.create(model=CHAT, prompt="Once upon a time", max_tokens=20, seed=3)
    want, tokens, finish = engine_completion(stack["a"], "Once upon a time", max_tokens=20, seed=3)
    assert r.object == "text_completion" and r.model == CHAT and len(r.choices) == 1
    c = r.choices[0]
    assert c.index == 0 and c.text == want and c.finish_reason == finish and c.logprobs is None
    assert r.usage.completion_tokens == tokens

    both = stack.client.completions.create(model=CHAT, prompt=["Once upon a time", "The end"], max_tokens=20, seed=3)
    assert [c.index for c in both.choices] == [0, 1]
    assert both.choices[0].text == want
    assert both.choices[1].text == engine_completion(stack["a"], "The end", max_tokens=20, seed=3)[0]

    chunks = list(stack.client.completions.create(model=CHAT, prompt="Once upon a time", max_tokens=20, seed=3,
                                                  stream=True, stream_options={"include_usage": True}))
    assert all(c.object == "text_completion" for c in chunks)
    content = [c for c in chunks if c.choices]
    assert "".join(c.choices[0].text for c in content) == want
    assert sum(1 for c in content if c.choices[0].finish_reason) == 1
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == tokens

    raw = stack.stream("/v1/completions", {"model": CHAT, "prompt": "Once upon a time", "max_tokens": 20, "seed": 3,
                                           "stream": True, "stream_options": {"include_usage": True}})
    assert raw.status == 200 and raw.done and raw.text() == want, raw
    for c in raw.content_chunks:
        assert set(c["choices"][0]) >= {"index", "text", "finish_reason"} and "delta" not in c["choices"][0]
    assert raw.chunks[-1]["choices"] == [] and isinstance(raw.chunks[-1].get("eco_overhead_us"), int)

    with pytest.raises(openai.BadRequestError) as e:
        stack.client.completions.create(model=CHAT, prompt=["a", "b"], max_tokens=5, stream=True)
    assert e.value.body["param"] == "prompt"


# ---------------------------------------------------------------- embeddings


def test_embeddings_float_base64_and_dimensions(stack):
    r = stack.client.embeddings.create(model=EMBED, input=["alpha", "beta gamma"], encoding_format="float")
    assert r.object == "list" and r.model == EMBED and [d.index for d in r.data] == [0, 1]
    assert all(d.object == "embedding" for d in r.data)
    full = r.data[0].embedding
    assert len(full) == 384 and r.data[0].embedding != r.data[1].embedding
    assert r.usage.prompt_tokens > 0 and r.usage.total_tokens == r.usage.prompt_tokens

    one = stack.client.embeddings.create(model=EMBED, input="alpha", encoding_format="float")
    assert len(one.data) == 1 and close(one.data[0].embedding, full)

    b64 = stack.post("/v1/embeddings", {"model": EMBED, "input": "alpha", "encoding_format": "base64"})
    assert b64.status == 200, b64
    assert close(b64_floats(b64.json["data"][0]["embedding"]), full, 1e-6)
    # The SDK's own default asks for base64 and decodes it.
    assert close(stack.client.embeddings.create(model=EMBED, input="alpha").data[0].embedding, full, 1e-6)

    cut = stack.client.embeddings.create(model=EMBED, input="alpha", dimensions=64, encoding_format="float")
    v = cut.data[0].embedding
    assert len(v) == 64 and abs(norm(v) - 1.0) < 1e-4
    assert close(v, unit(full[:64]), 1e-4)


# ---------------------------------------------------------------- errors as SDK exceptions


@pytest.mark.parametrize("kw, param", [
    (dict(messages=[]), "messages"),
    (dict(messages=[MSGS[0], {"role": "wizard", "content": "x"}]), "messages[1].role"),
    (dict(temperature=5), "temperature"),
    (dict(max_tokens=-1), "max_tokens"),
    (dict(n=2), "n"),
    (dict(stop=["a", "b", "c", "d", "e"]), "stop"),
    (dict(tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]), "tools"),
    (dict(stream_options={"include_usage": True}), "stream_options"),
])
def test_chat_invalid_fields_are_bad_requests(stack, kw, param):
    with pytest.raises(openai.BadRequestError) as e:
        chat(stack, **kw)
    assert e.value.status_code == 400 and e.value.body["param"] == param, e.value.body
    assert e.value.body["type"] == "invalid_request_error"


@pytest.mark.parametrize("kw, param", [
    (dict(input=[]), "input"),
    (dict(input="x", encoding_format="hex"), "encoding_format"),
    (dict(input="x", dimensions=0), "dimensions"),
    (dict(input="x", dimensions=100000), "dimensions"),
])
def test_embedding_invalid_fields_are_bad_requests(stack, kw, param):
    with pytest.raises(openai.BadRequestError) as e:
        stack.client.embeddings.create(model=EMBED, **kw)
    assert e.value.body["param"] == param, e.value.body


def test_unknown_model_is_not_found(stack):
    with pytest.raises(openai.NotFoundError) as e:
        chat(stack, model="no-such-model")
    assert e.value.body["code"] == "model_not_found" and e.value.body["param"] == "model"
    assert "no-such-model" in e.value.body["message"]
    with pytest.raises(openai.NotFoundError):
        stack.client.embeddings.create(model="no-such-model", input="x")


def test_model_without_the_capability_is_a_bad_request(stack):
    with pytest.raises(openai.BadRequestError) as e:
        chat(stack, model=EMBED)
    assert e.value.body["param"] == "model"
    with pytest.raises(openai.BadRequestError) as e:
        stack.client.embeddings.create(model=CHAT, input="x")
    assert e.value.body["param"] == "model"


def test_no_backend_is_503_naming_the_model(stack):
    with pytest.raises(openai.InternalServerError) as e:
        chat(stack, model=LONELY)
    assert e.value.status_code == 503
    assert e.value.body["code"] == "no_healthy_backend" and LONELY in e.value.body["message"]


def test_bad_priority_header(stack):
    with pytest.raises(openai.BadRequestError) as e:
        chat(stack, extra_headers={"x-eco-priority": "urgent"})
    assert e.value.body["param"] == "x-eco-priority"
    for p in ("high", "normal", "low"):
        assert chat(stack, max_tokens=2, extra_headers={"x-eco-priority": p}).choices[0].message.content


def test_body_too_large_is_413(ai_stack):
    stack = ai_stack(env={"ECO_MAX_BODY_BYTES": "65536"})
    with pytest.raises(openai.APIStatusError) as e:
        chat(stack, messages=[{"role": "user", "content": "x" * 100_000}])
    assert e.value.status_code == 413, e.value
    assert isinstance(e.value.body, dict) and e.value.body["message"], e.value.body  # the OpenAI error shape
    stack.assert_alive()


def test_deadline_is_504(ai_stack):
    stack = ai_stack(chat=[backend("vllm", "--ttft-ms", 3000)])
    t0 = time.monotonic()
    with pytest.raises(openai.InternalServerError) as e:
        chat(stack, extra_headers={"x-eco-timeout-ms": "300"})
    assert e.value.status_code == 504 and e.value.body["code"] == "deadline_exceeded"
    assert time.monotonic() - t0 < 2


def test_overload_is_429_with_retry_after(ai_stack):
    stack = ai_stack(chat=[backend("vllm", "--ttft-ms", 1500)],
                     env={"ECO_BACKEND_MAX_INFLIGHT": "1", "ECO_QUEUE_MAX": "1"})

    def one(_):
        try:
            return chat(stack, max_tokens=2)
        except openai.APIStatusError as e:
            return e

    with concurrent.futures.ThreadPoolExecutor(6) as ex:
        results = list(ex.map(one, range(6)))
    limited = [r for r in results if isinstance(r, openai.RateLimitError)]
    assert limited and any(not isinstance(r, Exception) for r in results), results
    for e in limited:
        assert e.body["code"] == "overloaded" and int(e.response.headers["retry-after"]) >= 1


def test_mid_stream_failure_raises_api_error(ai_stack):
    stack = ai_stack(chat=[backend("vllm", "--fault", "cut-after=3", "--min-output-tokens", 20)])
    stream = chat(stack, max_tokens=40, stream=True)
    got = []
    with pytest.raises(openai.APIError) as e:
        for c in stream:
            got.append(c)
    assert not isinstance(e.value, openai.APIConnectionError), e.value
    assert got and not any(c.choices and c.choices[0].finish_reason for c in got)


def test_requests_are_counted_by_route_and_code(stack):
    chat(stack, max_tokens=2)
    with pytest.raises(openai.BadRequestError):
        chat(stack, temperature=9)
    series = metric_series(stack.metrics(), "eco_requests_total")
    routes = {(ls.get("route"), ls.get("code")) for ls, v in series if v > 0}
    assert any("chat/completions" in (r or "") and c == "200" for r, c in routes), routes
    assert any("chat/completions" in (r or "") and c == "400" for r, c in routes), routes
