/* Request builders, complete-answer parsers, error mapping, embeddings, discovery and load
 * gauges, on fixtures from reference/engines.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "eco_engines.h"

static const eco_engine_msg_t CHAT[] = {{"system", "be brief"}, {"user", "hi"}};
static const eco_engine_msg_t CONT[] = {{"user", "hi"}, {"assistant", "Hello, I"}};

/* Builds kind's request and returns its body parsed (caller decrefs); h is filled. */
static json_t *build(const char *kind, const eco_engine_gen_req_t *r, eco_engine_http_t *h)
{
    eco_engine_error_t e;
    assert_int_equal(eco_engine_build_generate(eco_engine_kind(kind), r, h, &e), 0);
    json_error_t je;
    json_t *body = json_loadb(h->body.base, h->body.len, 0, &je);
    assert_non_null(body);
    return body;
}

static const char *str(json_t *o, const char *path)
{
    /* "a.b.c" lookups */
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *v = o;
    for (char *tok = strtok(buf, "."); tok && v; tok = strtok(NULL, "."))
        v = json_object_get(v, tok);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *at(json_t *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *v = o;
    for (char *tok = strtok(buf, "."); tok && v; tok = strtok(NULL, "."))
        v = json_object_get(v, tok);
    return v;
}

/* ---------- builders ---------- */

static void test_build_vllm_chat_and_continuation(void **state)
{
    const char *stop[] = {"\n", "END"};
    eco_engine_gen_req_t r = {.model = "m",
                              .messages = CHAT,
                              .nmessages = 2,
                              .has_max_tokens = 1,
                              .max_tokens = 5,
                              .has_temperature = 1,
                              .temperature = 0,
                              .stop = stop,
                              .nstop = 2,
                              .has_seed = 1,
                              .seed = 7,
                              .stream = 1};
    eco_engine_http_t h;
    json_t *b = build("vllm", &r, &h);
    assert_string_equal(h.path, "/v1/chat/completions");
    assert_int_equal(h.wire, ECO_ENGINE_WIRE_OAI_CHAT);
    assert_true(h.stream && !h.ndjson);
    assert_string_equal(str(b, "model"), "m");
    assert_int_equal(json_array_size(at(b, "messages")), 2); /* roles kept, not flattened */
    assert_string_equal(json_string_value(json_object_get(json_array_get(at(b, "messages"), 0), "role")), "system");
    assert_int_equal(json_integer_value(at(b, "max_tokens")), 5);
    assert_true(json_is_true(at(b, "stream_options.include_usage")));
    assert_int_equal(json_integer_value(at(b, "seed")), 7);
    assert_int_equal(json_array_size(at(b, "stop")), 2);
    assert_null(at(b, "continue_final_message"));
    assert_null(at(b, "top_p")); /* absent stays absent */
    json_decref(b);
    eco_engine_http_free(&h);

    r.messages = CONT;
    r.stream = 0;
    b = build("vllm", &r, &h);
    assert_true(json_is_true(at(b, "continue_final_message")));
    assert_true(json_is_false(at(b, "add_generation_prompt")));
    assert_null(at(b, "stream_options")); /* vLLM rejects stream_options without stream */
    json_decref(b);
    eco_engine_http_free(&h);
}

static void test_build_continuation_refused_where_unsupported(void **state)
{
    eco_engine_gen_req_t r = {.messages = CONT, .nmessages = 2};
    eco_engine_http_t h;
    eco_engine_error_t e;
    assert_int_equal(eco_engine_build_generate(eco_engine_kind("tgi"), &r, &h, &e), -1);
    assert_int_equal(e.status, GRPC_STATUS_UNIMPLEMENTED);
    /* llama.cpp prefills a trailing assistant message on its chat route: sent as is. */
    json_t *b = build("llamacpp", &r, &h);
    assert_string_equal(h.path, "/v1/chat/completions");
    assert_null(at(b, "continue_final_message"));
    json_decref(b);
    eco_engine_http_free(&h);
}

static void test_build_tgi_native(void **state)
{
    eco_engine_gen_req_t r = {.prompt = "Once",
                              .has_max_tokens = 1,
                              .max_tokens = 20,
                              .has_temperature = 1,
                              .temperature = 0,
                              .has_top_p = 1,
                              .top_p = 1.0,
                              .has_presence_penalty = 1,
                              .presence_penalty = 0.5,
                              .stream = 1};
    eco_engine_http_t h;
    json_t *b = build("tgi", &r, &h);
    assert_string_equal(h.path, "/generate_stream");
    assert_string_equal(str(b, "inputs"), "Once");
    assert_true(json_is_true(at(b, "parameters.details")));
    assert_int_equal(json_integer_value(at(b, "parameters.max_new_tokens")), 20);
    assert_true(json_is_false(at(b, "parameters.do_sample"))); /* temperature 0 is greedy, never sent as 0 */
    assert_null(at(b, "parameters.temperature"));
    assert_null(at(b, "parameters.top_p")); /* 1.0 is outside TGI's open interval: left out */
    json_decref(b);
    eco_engine_http_free(&h);
    /* Chat goes to the Messages API with its roles; top_p 1.0 still left out. */
    r.prompt = NULL;
    r.messages = CHAT;
    r.nmessages = 2;
    b = build("tgi", &r, &h);
    assert_string_equal(h.path, "/v1/chat/completions");
    assert_null(at(b, "top_p"));
    json_decref(b);
    eco_engine_http_free(&h);
}

static void test_build_ollama(void **state)
{
    eco_engine_gen_req_t r = {
        .model = "llama3.2", .prompt = "x", .has_max_tokens = 1, .max_tokens = 3, .has_seed = 1, .seed = 2};
    eco_engine_http_t h;
    json_t *b = build("ollama", &r, &h);
    assert_string_equal(h.path, "/api/generate");
    assert_true(h.ndjson);
    assert_true(json_is_true(at(b, "raw")));
    assert_true(json_is_false(at(b, "stream"))); /* streaming is Ollama's default: always explicit */
    assert_int_equal(json_integer_value(at(b, "options.num_predict")), 3);
    assert_int_equal(json_integer_value(at(b, "options.seed")), 2);
    json_decref(b);
    eco_engine_http_free(&h);
    r.prompt = NULL;
    r.messages = CHAT;
    r.nmessages = 2;
    b = build("ollama", &r, &h);
    assert_string_equal(h.path, "/api/chat");
    assert_int_equal(json_array_size(at(b, "messages")), 2);
    json_decref(b);
    eco_engine_http_free(&h);
}

static void test_build_sglang_triton_llamacpp(void **state)
{
    eco_engine_gen_req_t r = {.prompt = "p", .has_max_tokens = 1, .max_tokens = 9, .has_seed = 1, .seed = 4};
    eco_engine_http_t h;
    json_t *b = build("sglang", &r, &h);
    assert_string_equal(h.path, "/generate");
    assert_string_equal(str(b, "text"), "p");
    assert_int_equal(json_integer_value(at(b, "sampling_params.max_new_tokens")), 9);
    assert_int_equal(json_integer_value(at(b, "sampling_params.sampling_seed")), 4);
    json_decref(b);
    eco_engine_http_free(&h);

    b = build("llamacpp", &r, &h);
    assert_string_equal(h.path, "/completion");
    assert_int_equal(json_integer_value(at(b, "n_predict")), 9);
    json_decref(b);
    eco_engine_http_free(&h);

    /* Triton: raw text only, so chat is rendered as ChatML, a trailing assistant message open. */
    eco_engine_gen_req_t t = {.model = "my model",
                              .messages = CONT,
                              .nmessages = 2,
                              .stream = 1,
                              .default_max_tokens = 64,
                              .has_temperature = 1,
                              .temperature = 0};
    b = build("triton", &t, &h);
    assert_string_equal(h.path, "/v2/models/my%20model/generate_stream");
    assert_string_equal(str(b, "text_input"), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nHello, I");
    assert_int_equal(json_integer_value(at(b, "max_tokens")), 64);
    assert_int_equal(json_integer_value(at(b, "top_k")), 1);
    assert_true(json_is_true(at(b, "exclude_input_in_output")));
    json_decref(b);
    eco_engine_http_free(&h);
    eco_buf_t out = ECO_BUF_INIT;
    eco_engine_render_chatml(CHAT, 2, &out);
    assert_string_equal(
        eco_buf_cstr(&out),
        "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    eco_buf_free(&out);
}

static void test_build_rejects(void **state)
{
    eco_engine_gen_req_t r = {0};
    eco_engine_http_t h;
    eco_engine_error_t e;
    assert_int_equal(eco_engine_build_generate(eco_engine_kind("vllm"), &r, &h, &e), -1);
    assert_int_equal(e.status, GRPC_STATUS_INVALID_ARGUMENT);
    eco_engine_gen_req_t t = {.prompt = "x"}; /* Triton needs a length */
    assert_int_equal(eco_engine_build_generate(eco_engine_kind("triton"), &t, &h, &e), -1);
    assert_int_equal(e.status, GRPC_STATUS_INVALID_ARGUMENT);
}

/* ---------- complete answers ---------- */

static void parse_ok(const char *kind, eco_engine_wire_t wire, const char *body, eco_engine_result_t *r)
{
    eco_engine_error_t e;
    eco_engine_result_init(r);
    int rc = eco_engine_parse_generate(eco_engine_kind(kind), wire, body, strlen(body), r, &e);
    if (rc != 0)
        fail_msg("parse failed: %s", e.message);
}

static void test_parse_unary_answers(void **state)
{
    eco_engine_result_t r;
    parse_ok("vllm", ECO_ENGINE_WIRE_OAI_CHAT,
             "{\"id\":\"chatcmpl-x\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"m\","
             "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Hi\",\"tool_calls\":null},"
             "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,"
             "\"total_tokens\":11,\"prompt_tokens_details\":{\"cached_tokens\":0}}}",
             &r);
    assert_string_equal(eco_buf_cstr(&r.text), "Hi");
    assert_string_equal(r.finish_reason, "stop");
    assert_true(r.has_prompt_tokens && r.has_completion_tokens);
    assert_int_equal(r.prompt_tokens, 9);
    assert_string_equal(r.model, "m");
    eco_engine_result_free(&r);

    parse_ok(
        "tgi", ECO_ENGINE_WIRE_TGI_GENERATE,
        "{\"generated_text\":\"abc\",\"details\":{\"finish_reason\":\"length\",\"generated_tokens\":20,\"seed\":null,"
        "\"prefill\":[],\"tokens\":[{\"id\":1,\"text\":\"a\",\"logprob\":-0.1,\"special\":false}]}}",
        &r);
    assert_string_equal(r.finish_reason, "length");
    assert_int_equal(r.completion_tokens, 20);
    assert_false(r.has_prompt_tokens);
    eco_engine_usage_header(&r, "x-prompt-tokens", 15, "12", 2);
    assert_true(r.has_prompt_tokens);
    assert_int_equal(r.prompt_tokens, 12);
    eco_engine_usage_header(&r, "x-generated-tokens", 18, "1x", 2); /* garbage is ignored */
    assert_int_equal(r.completion_tokens, 20);
    eco_engine_result_free(&r);

    parse_ok(
        "ollama", ECO_ENGINE_WIRE_OLLAMA_GENERATE,
        "{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:00Z\",\"response\":\"text\",\"done\":true,"
        "\"done_reason\":\"stop\",\"context\":[1,2],\"total_duration\":5043500667,\"load_duration\":5025959,"
        "\"prompt_eval_count\":26,\"prompt_eval_duration\":325953000,\"eval_count\":290,\"eval_duration\":4709213000}",
        &r);
    assert_string_equal(eco_buf_cstr(&r.text), "text");
    assert_int_equal(r.completion_tokens, 290);
    eco_engine_result_free(&r);

    parse_ok("sglang", ECO_ENGINE_WIRE_SGLANG_GENERATE,
             "{\"text\":\" Paris "
             "...\",\"output_ids\":[1],\"meta_info\":{\"id\":\"x\",\"finish_reason\":{\"type\":\"length\","
             "\"length\":32},\"prompt_tokens\":5,\"completion_tokens\":32,\"cached_tokens\":2,\"e2e_latency\":0.24}}",
             &r);
    assert_string_equal(r.finish_reason, "length");
    assert_int_equal(r.completion_tokens, 32);
    eco_engine_result_free(&r);

    parse_ok("triton", ECO_ENGINE_WIRE_TRITON_GENERATE,
             "{\"model_name\":\"ensemble\",\"model_version\":\"1\",\"text_output\":\"...\",\"cum_log_probs\":0.0,"
             "\"output_log_probs\":[0.1,0.2],\"context_logits\":0.0,\"generation_logits\":0.0,\"batch_index\":0}",
             &r);
    assert_string_equal(r.finish_reason, "");
    assert_false(r.has_completion_tokens);
    assert_int_equal(r.inferred_tokens, 2);
    eco_engine_result_free(&r);

    parse_ok(
        "llamacpp", ECO_ENGINE_WIRE_LLAMACPP_COMPLETION,
        "{\"content\":\"...\",\"tokens\":[],\"id_slot\":0,\"stop\":true,\"model\":\"alias\",\"tokens_predicted\":32,"
        "\"tokens_evaluated\":12,\"stop_type\":\"word\",\"stopping_word\":\"\",\"tokens_cached\":11,\"truncated\":"
        "false}",
        &r);
    assert_string_equal(r.finish_reason, "stop");
    assert_int_equal(r.prompt_tokens, 12);
    eco_engine_result_free(&r);

    /* Truncated JSON is malformed, not an empty success. */
    eco_engine_error_t e;
    eco_engine_result_init(&r);
    assert_int_equal(
        eco_engine_parse_generate(eco_engine_kind("vllm"), ECO_ENGINE_WIRE_OAI_CHAT, "{\"choices\":[{\"in", 16, &r, &e),
        -1);
    assert_int_equal(e.status, GRPC_STATUS_INTERNAL);
    assert_string_equal(e.reason, "malformed_response");
    eco_engine_result_free(&r);
}

/* ---------- errors ---------- */

typedef struct {
    const char *kind;
    int status;
    const char *body;
    grpc_status_code want;
    const char *reason;
    const char *code; /* NULL: not checked */
} err_case_t;

static void test_error_mapping(void **state)
{
    static const err_case_t cases[] = {
        {"vllm", 400,
         "{\"error\":{\"message\":\"This model's maximum context length is 4096 tokens. However, you requested 5000 "
         "tokens\",\"type\":\"BadRequestError\",\"param\":null,\"code\":400}}",
         GRPC_STATUS_INVALID_ARGUMENT, "context_length_exceeded", "BadRequestError"},
        {"openai", 400,
         "{\"error\":{\"message\":\"too long\",\"type\":\"invalid_request_error\",\"param\":\"messages\","
         "\"code\":\"context_length_exceeded\"}}",
         GRPC_STATUS_INVALID_ARGUMENT, "context_length_exceeded", "context_length_exceeded"},
        {"llamacpp", 400,
         "{\"error\":{\"code\":400,\"message\":\"the request exceeds the available context size\","
         "\"type\":\"exceed_context_size_error\",\"n_prompt_tokens\":5000,\"n_ctx\":4096}}",
         GRPC_STATUS_INVALID_ARGUMENT, "context_length_exceeded", "exceed_context_size_error"},
        {"tgi", 422,
         "{\"error\":\"Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096\","
         "\"error_type\":\"validation\"}",
         GRPC_STATUS_INVALID_ARGUMENT, "context_length_exceeded", "validation"},
        {"tgi", 422,
         "{\"error\":\"Input validation error: `top_p` must be > 0.0 and < 1.0\",\"error_type\":\"validation\"}",
         GRPC_STATUS_INVALID_ARGUMENT, "invalid_request", "validation"},
        {"tgi", 429, "{\"error\":\"Model is overloaded\",\"error_type\":\"overloaded\"}",
         GRPC_STATUS_RESOURCE_EXHAUSTED, "overloaded", "overloaded"},
        {"ollama", 503, "{\"error\":\"server busy, please try again.  maximum pending requests exceeded\"}",
         GRPC_STATUS_RESOURCE_EXHAUSTED, "overloaded", NULL},
        {"ollama", 404, "{\"error\":\"model \\\"x\\\" not found, try pulling it first\"}", GRPC_STATUS_NOT_FOUND,
         "model_not_found", NULL},
        {"vllm", 404,
         "{\"error\":{\"message\":\"The model `x` does not exist.\",\"type\":\"NotFoundError\",\"param\":null,"
         "\"code\":404}}",
         GRPC_STATUS_NOT_FOUND, "model_not_found", NULL},
        {"llamacpp", 503, "{\"error\":{\"code\":503,\"message\":\"Loading model\",\"type\":\"unavailable_error\"}}",
         GRPC_STATUS_UNAVAILABLE, "engine_loading", "unavailable_error"},
        {"sglang", 503, "{\"error\":{\"message\":\"Server is starting\"}}", GRPC_STATUS_UNAVAILABLE, "engine_loading",
         NULL},
        {"vllm", 503, "", GRPC_STATUS_UNAVAILABLE, "engine_unavailable", NULL},
        /* A missing route (wrong ECO_ENGINE_KIND, e.g. llama-cpp-python without /completion). */
        {"llamacpp", 404, "{\"detail\":\"Not Found\"}", GRPC_STATUS_UNIMPLEMENTED, "endpoint_not_found", NULL},
        {"tgi", 404, "", GRPC_STATUS_UNIMPLEMENTED, "endpoint_not_found", NULL},
        {"mii", 400, "{\"object\":\"error\",\"message\":\"Model x not found. Available model: m\",\"code\":400}",
         GRPC_STATUS_NOT_FOUND, "model_not_found", NULL},
        {"triton", 400, "{\"error\":\"Exceeds maximum queue size\"}", GRPC_STATUS_RESOURCE_EXHAUSTED, "overloaded",
         NULL},
        {"triton", 400, "{\"error\":\"Request for unknown model: 'x' is not found\"}", GRPC_STATUS_NOT_FOUND,
         "model_not_found", NULL},
        {"trtllm", 400,
         "{\"object\":\"error\",\"message\":\"bad\",\"type\":\"BadRequestError\",\"param\":null,\"code\":400}",
         GRPC_STATUS_INVALID_ARGUMENT, "invalid_request", "BadRequestError"},
        {"lmdeploy", 500,
         "{\"message\":\"engine unavailable\",\"type\":\"server_error\",\"code\":500,\"param\":null,"
         "\"object\":\"error\"}",
         GRPC_STATUS_INTERNAL, "engine_error", "server_error"},
        {"vllm", 422, "{\"detail\":[{\"loc\":[\"body\",\"messages\"],\"msg\":\"field required\"}]}",
         GRPC_STATUS_INVALID_ARGUMENT, "invalid_request", NULL},
        {"vllm", 401, "{\"error\":\"Unauthorized\"}", GRPC_STATUS_UNAVAILABLE, "engine_auth", NULL},
        {"vllm", 501, "{\"error\":{\"message\":\"no\",\"type\":\"NotImplementedError\",\"code\":501}}",
         GRPC_STATUS_UNIMPLEMENTED, "unimplemented", NULL},
        {"vllm", 504, "upstream timed out", GRPC_STATUS_DEADLINE_EXCEEDED, "engine_timeout", NULL},
        {"mii", 500, "<html>Internal Server Error</html>", GRPC_STATUS_INTERNAL, "engine_error", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const err_case_t *c = &cases[i];
        eco_engine_error_t e;
        eco_engine_error_from_http(eco_engine_kind(c->kind), c->status, c->body, strlen(c->body), &e);
        if (e.status != c->want || strcmp(e.reason, c->reason) != 0 || (c->code && strcmp(e.code, c->code) != 0))
            fail_msg("case %zu (%s %d): got %d %s code=%s msg=%s", i, c->kind, c->status, e.status, e.reason, e.code,
                     e.message);
        assert_int_equal(e.http_status, c->status);
        assert_int_equal(e.loading, strcmp(c->reason, "engine_loading") == 0);
    }
    /* Details keep the engine's code next to our reason. */
    eco_engine_error_t e;
    eco_engine_error_from_http(eco_engine_kind("openai"), 400, cases[1].body, strlen(cases[1].body), &e);
    char d[256];
    eco_engine_error_details(&e, "openai", d, sizeof(d));
    assert_string_equal(d, "context_length_exceeded: too long [openai HTTP 400, context_length_exceeded]");
    eco_engine_error_from_http(eco_engine_kind("llamacpp"), 503, cases[9].body, strlen(cases[9].body), &e);
    eco_engine_error_details(&e, "llamacpp", d, sizeof(d));
    assert_non_null(strstr(d, "engine loading"));
    /* Control bytes never reach gRPC details. */
    eco_engine_error_from_http(eco_engine_kind("vllm"), 500,
                               "a\nb\x01"
                               "c",
                               5, &e);
    assert_string_equal(e.message, "a b c");
}

static void test_finish_reasons(void **state)
{
    static const char *const map[][2] = {{"eos_token", "stop"},
                                         {"stop_sequence", "stop"},
                                         {"eos", "stop"},
                                         {"word", "stop"},
                                         {"limit", "length"},
                                         {"length", "length"},
                                         {"tool_calls", "tool_calls"},
                                         {"Content Filter", "content_filter"},
                                         {"", ""}};
    char out[24];
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        eco_engine_finish_reason(map[i][0], out, sizeof(out));
        assert_string_equal(out, map[i][1]);
    }
}

/* ---------- embeddings ---------- */

static void test_embeddings(void **state)
{
    const char *in[] = {"a", "b"};
    eco_engine_embed_req_t r = {.model = "m", .input = in, .ninput = 2};
    eco_engine_http_t h;
    eco_engine_error_t e;
    assert_int_equal(eco_engine_build_embed(eco_engine_kind("ollama"), 0, &r, &h, &e), 0);
    assert_string_equal(h.path, "/api/embed");
    eco_engine_http_free(&h);
    assert_int_equal(eco_engine_build_embed(eco_engine_kind("sglang"), 0, &r, &h, &e), -1);
    assert_int_equal(e.status, GRPC_STATUS_UNIMPLEMENTED);
    assert_int_equal(eco_engine_build_embed(eco_engine_kind("tgi"), 0, &r, &h, &e), -1);
    assert_int_equal(e.status, GRPC_STATUS_UNIMPLEMENTED);
    assert_int_equal(eco_engine_build_embed(eco_engine_kind("tgi"), 1, &r, &h, &e), 0);
    assert_string_equal(h.path, "/embed");
    eco_engine_http_free(&h);
    r.dimensions = 8;
    assert_int_equal(eco_engine_build_embed(eco_engine_kind("llamacpp"), 0, &r, &h, &e), -1);
    assert_int_equal(e.status, GRPC_STATUS_INVALID_ARGUMENT);

    static const struct {
        const char *kind;
        eco_engine_wire_t wire;
        const char *body;
    } shapes[] = {
        {"vllm", ECO_ENGINE_WIRE_OAI_EMBEDDINGS,
         "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":1,\"embedding\":[0.3,0.4]},"
         "{\"object\":\"embedding\",\"index\":0,\"embedding\":[0.1,-0.2]}],\"model\":\"m\","
         "\"usage\":{\"prompt_tokens\":5,\"total_tokens\":5}}"},
        {"ollama", ECO_ENGINE_WIRE_OLLAMA_EMBED,
         "{\"model\":\"m\",\"embeddings\":[[0.1,-0.2],[0.3,0.4]],\"total_duration\":1,\"prompt_eval_count\":5}"},
        {"llamacpp", ECO_ENGINE_WIRE_LLAMACPP_EMBEDDING,
         "[{\"index\":0,\"embedding\":[[0.1,-0.2]]},{\"index\":1,\"embedding\":[[0.3,0.4]]}]"},
        {"tgi", ECO_ENGINE_WIRE_TEI_EMBED, "[[0.1,-0.2],[0.3,0.4]]"},
    };
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        eco_engine_embeddings_t out;
        int rc = eco_engine_parse_embeddings(eco_engine_kind(shapes[i].kind), shapes[i].wire, shapes[i].body,
                                             strlen(shapes[i].body), &out, &e);
        if (rc != 0)
            fail_msg("shape %zu: %s", i, e.message);
        assert_int_equal(out.n, 2);
        assert_int_equal(out.v[0].n, 2);
        assert_true(out.v[0].values[1] < -0.19f && out.v[0].values[1] > -0.21f); /* ordered by index */
        assert_true(out.v[1].values[0] > 0.29f);
        eco_engine_embeddings_free(&out);
    }
    eco_engine_embeddings_t out;
    assert_int_equal(eco_engine_parse_embeddings(eco_engine_kind("vllm"), ECO_ENGINE_WIRE_OAI_EMBEDDINGS,
                                                 "{\"data\":[{\"embedding\":[\"x\"]}]}", 30, &out, &e),
                     -1);
    assert_int_equal(e.status, GRPC_STATUS_INTERNAL);
}

/* ---------- discovery and load ---------- */

static void test_models_and_info(void **state)
{
    eco_engine_models_t m;
    static const char vllm[] =
        "{\"object\":\"list\",\"data\":[{\"id\":\"m\",\"object\":\"model\",\"created\":1700000000,"
        "\"owned_by\":\"org\",\"root\":\"m\",\"parent\":null,\"max_model_len\":4096},"
        "{\"id\":\"lora1\",\"object\":\"model\",\"parent\":\"m\"}]}";
    assert_int_equal(eco_engine_parse_models(eco_engine_kind("vllm"), vllm, strlen(vllm), &m), 0);
    assert_int_equal(m.n, 2);
    assert_string_equal(m.ids[1], "lora1");
    assert_int_equal(m.context_length, 4096);
    static const char tags[] = "{\"models\":[{\"name\":\"llama3.2:latest\",\"model\":\"llama3.2:latest\",\"size\":1}]}";
    assert_int_equal(eco_engine_parse_models(eco_engine_kind("ollama"), tags, strlen(tags), &m), 0);
    assert_string_equal(m.ids[0], "llama3.2:latest");
    assert_int_equal(eco_engine_parse_models(eco_engine_kind("vllm"), "[]", 2, &m), -1);

    eco_engine_info_t info;
    static const char props[] = "{\"default_generation_settings\":{\"n_ctx\":8192},\"total_slots\":4,"
                                "\"model_path\":\"x.gguf\",\"build_info\":\"b6000\",\"is_sleeping\":false}";
    assert_int_equal(eco_engine_parse_info(eco_engine_kind("llamacpp"), props, strlen(props), &info), 0);
    assert_int_equal(info.slots, 4);
    assert_int_equal(info.context_length, 8192);
    assert_string_equal(info.version, "b6000");
    static const char sg[] = "{\"version\":\"0.5.0\",\"incremental_streaming_output\":true,\"context_length\":2048}";
    assert_int_equal(eco_engine_parse_info(eco_engine_kind("sglang"), sg, strlen(sg), &info), 0);
    assert_true(info.incremental_stream);
}

static void test_prometheus_load(void **state)
{
    /* vLLM V1 with two data-parallel engines, the KV gauge only under its old name. */
    static const char vllm[] = "# HELP vllm:num_requests_running Number of requests.\n"
                               "# TYPE vllm:num_requests_running gauge\n"
                               "vllm:num_requests_running{engine=\"0\",model_name=\"m\"} 3.0\n"
                               "vllm:num_requests_running{engine=\"1\",model_name=\"m\"} 1.0\n"
                               "vllm:num_requests_waiting{engine=\"0\",model_name=\"m\"} 2\n"
                               "vllm:num_requests_waiting_by_reason{engine=\"0\"} 9\n"
                               "vllm:gpu_cache_usage_perc{engine=\"0\",model_name=\"m\"} 0.5\n"
                               "vllm:gpu_cache_usage_perc{engine=\"1\",model_name=\"m\"} 0.25\n";
    eco_engine_load_t l;
    assert_int_equal(eco_engine_parse_load(eco_engine_kind("vllm"), vllm, strlen(vllm), &l), 0);
    assert_true(l.running == 4 && l.waiting == 2);
    assert_true(l.has_kv && l.kv_cache_usage > 0.374 && l.kv_cache_usage < 0.376);
    double s = eco_engine_load_score(&l, 8);
    assert_true(s > 2.874 && s < 2.876); /* 2 + 4/8 + 0.375 */

    static const char triton[] =
        "nv_trt_llm_request_metrics{model=\"tensorrt_llm\",request_type=\"active\",version=\"1\"} 5\n"
        "nv_trt_llm_request_metrics{model=\"tensorrt_llm\",request_type=\"max\",version=\"1\"} 10\n"
        "nv_trt_llm_request_metrics{model=\"tensorrt_llm\",request_type=\"waiting\",version=\"1\"} 1\n"
        "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=\"fraction\",model=\"tensorrt_llm\"} 0.5\n";
    assert_int_equal(eco_engine_parse_load(eco_engine_kind("triton"), triton, strlen(triton), &l), 0);
    assert_true(l.running == 5 && l.waiting == 1 && l.max_running == 10);
    s = eco_engine_load_score(&l, 0);
    assert_true(s > 1.99 && s < 2.01); /* 1 + 5/10 + 0.5 */

    double v;
    /* A label value containing "}" and a quoted comma does not confuse the reader. */
    static const char odd[] = "x{a=\"}\",b=\"q,r\"} 7\nx{b=\"q\"} 1\nx_total 5\n";
    assert_int_equal(eco_prom_sum(odd, strlen(odd), "x", "b=\"q\"", &v), 1);
    assert_true(v == 1);
    assert_int_equal(eco_prom_sum(odd, strlen(odd), "x", NULL, &v), 2);
    assert_true(v == 8);
    assert_int_equal(eco_prom_sum(odd, strlen(odd), "y", NULL, &v), 0);
    assert_int_equal(eco_engine_parse_load(eco_engine_kind("ollama"), odd, strlen(odd), &l), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_vllm_chat_and_continuation),
        cmocka_unit_test(test_build_continuation_refused_where_unsupported),
        cmocka_unit_test(test_build_tgi_native),
        cmocka_unit_test(test_build_ollama),
        cmocka_unit_test(test_build_sglang_triton_llamacpp),
        cmocka_unit_test(test_build_rejects),
        cmocka_unit_test(test_parse_unary_answers),
        cmocka_unit_test(test_error_mapping),
        cmocka_unit_test(test_finish_reasons),
        cmocka_unit_test(test_embeddings),
        cmocka_unit_test(test_models_and_info),
        cmocka_unit_test(test_prometheus_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
