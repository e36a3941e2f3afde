/* The incremental stream parser on fixtures from reference/engines.md: SSE framing quirks,
 * every family's deltas / finish / usage / end, errors inside a 200 stream, cuts, bounds.
 * Every fixture is also fed one byte at a time: the result must not depend on how the body is
 * split into reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "eco_engines.h"

typedef struct {
    eco_buf_t text;
    int deltas;
    char finish[24];
    int finishes;
    int has_p, has_c;
    uint32_t p, c;
    int ends;
    int errors;
    eco_engine_error_t err;
    int after_over; /* events delivered after END/ERROR (must stay 0) */
} got_t;

static int collect(const eco_engine_event_t *ev, void *data)
{
    got_t *g = data;
    if (g->ends || g->errors)
        g->after_over++;
    switch (ev->type) {
    case ECO_ENGINE_EV_DELTA:
        assert_true(ev->len > 0);
        eco_buf_add(&g->text, ev->text, ev->len);
        g->deltas++;
        break;
    case ECO_ENGINE_EV_FINISH:
        snprintf(g->finish, sizeof(g->finish), "%s", ev->finish_reason);
        g->finishes++;
        break;
    case ECO_ENGINE_EV_USAGE:
        if (ev->has_prompt_tokens) {
            g->has_p = 1;
            g->p = ev->prompt_tokens;
        }
        if (ev->has_completion_tokens) {
            g->has_c = 1;
            g->c = ev->completion_tokens;
        }
        break;
    case ECO_ENGINE_EV_END:
        g->ends++;
        break;
    case ECO_ENGINE_EV_ERROR:
        g->errors++;
        g->err = *ev->error;
        break;
    }
    return 0;
}

/* Parses body for (kind, a request of wire w); step 0 = all at once, else that many bytes per feed.
 * eof: call stream_end afterwards. */
static void run(got_t *g, const char *kind, int chat, const char *body, size_t step, int eof, int sglang_incremental)
{
    memset(g, 0, sizeof(*g));
    eco_buf_init(&g->text, 0);
    const eco_engine_kind_t *k = eco_engine_kind(kind);
    assert_non_null(k);
    eco_engine_msg_t m[1] = {{"user", "hi"}};
    eco_engine_gen_req_t r = {.model = "m", .stream = 1, .default_max_tokens = 16};
    if (chat) {
        r.messages = m;
        r.nmessages = 1;
    } else {
        r.prompt = "hi";
    }
    eco_engine_http_t h;
    eco_engine_error_t e;
    assert_int_equal(eco_engine_build_generate(k, &r, &h, &e), 0);
    eco_engine_stream_t s;
    eco_engine_stream_init(&s, k, &h, sglang_incremental, 0);
    size_t n = strlen(body);
    if (!step)
        step = n ? n : 1;
    for (size_t i = 0; i < n; i += step)
        eco_engine_stream_feed(&s, body + i, n - i < step ? n - i : step, collect, g);
    if (eof)
        eco_engine_stream_end(&s, collect, g);
    eco_engine_stream_free(&s);
    eco_engine_http_free(&h);
    assert_int_equal(g->after_over, 0);
}

static void both(got_t *g, const char *kind, int chat, const char *body, int eof)
{
    got_t one;
    run(&one, kind, chat, body, 1, eof, 0);
    run(g, kind, chat, body, 0, eof, 0);
    assert_string_equal(eco_buf_cstr(&one.text), eco_buf_cstr(&g->text));
    assert_string_equal(one.finish, g->finish);
    assert_int_equal(one.ends, g->ends);
    assert_int_equal(one.errors, g->errors);
    assert_int_equal(one.c, g->c);
    eco_buf_free(&one.text);
}

/* ---- OpenAI SSE (§1, §2) ---- */

static const char VLLM_CHAT[] =
    "data: {\"id\":\"chatcmpl-x\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
    "\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-x\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"logprobs\":null,\"finish_reason\":null}],"
    "\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-x\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
    "\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-x\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m\","
    "\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\n\n"
    "data: [DONE]\n\n";

static void test_openai_chat_stream(void **state)
{
    got_t g;
    both(&g, "vllm", 1, VLLM_CHAT, 0);
    assert_string_equal(eco_buf_cstr(&g.text), "Hi there");
    assert_int_equal(g.deltas, 2); /* the empty role chunk is no delta */
    assert_string_equal(g.finish, "stop");
    assert_true(g.has_p && g.has_c);
    assert_int_equal(g.p, 9);
    assert_int_equal(g.c, 2);
    assert_int_equal(g.ends, 1); /* [DONE] ends it without waiting for the body's end */
    assert_int_equal(g.errors, 0);
    eco_buf_free(&g.text);
}

static void test_sse_framing_variants(void **state)
{
    /* TGI's "data:" without a space, CRLF line ends, ":" keep-alives, id:/retry: fields, and
     * one JSON object split over two data lines (joined with a newline, still valid JSON). */
    static const char body[] =
        ": keep-alive\r\n\r\n"
        "retry: 100\r\nid: 1\r\n"
        "data:{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":null}]}\r\n\r\n"
        ":\n\n"
        "data: {\"choices\":[{\"index\":0,\n"
        "data: \"delta\":{\"content\":\"b\"},\"finish_reason\":\"length\"}]}\n\n"
        "data:[DONE]\n\n";
    got_t g;
    both(&g, "tgi", 1, body, 0);
    assert_string_equal(eco_buf_cstr(&g.text), "ab");
    assert_string_equal(g.finish, "length");
    assert_int_equal(g.ends, 1);
    assert_int_equal(g.errors, 0);
    eco_buf_free(&g.text);
}

static void test_complete_stream_without_done_is_success(void **state)
{
    static const char body[] = "data: {\"choices\":[{\"index\":0,\"text\":\"x\",\"finish_reason\":null}]}\n\n"
                               "data: {\"choices\":[{\"index\":0,\"text\":\"y\",\"finish_reason\":\"length\"}]}\n\n";
    got_t g;
    both(&g, "openai", 0, body, 1);
    assert_string_equal(eco_buf_cstr(&g.text), "xy");
    assert_int_equal(g.ends, 1);
    assert_int_equal(g.errors, 0);
    eco_buf_free(&g.text);
}

static void test_cut_before_finish_is_an_error(void **state)
{
    static const char body[] =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":null}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"con";
    got_t g;
    both(&g, "vllm", 1, body, 1);
    assert_string_equal(eco_buf_cstr(&g.text), "x");
    assert_int_equal(g.ends, 0);
    assert_int_equal(g.errors, 1);
    assert_int_equal(g.err.status, GRPC_STATUS_UNAVAILABLE);
    assert_string_equal(g.err.reason, "stream_cut");
    eco_buf_free(&g.text);
}

static void test_done_without_output_is_an_error(void **state)
{
    static const char empty[] =
        "data: "
        "{\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n"
        "data: [DONE]\n\n";
    got_t g;
    both(&g, "vllm", 1, empty, 1);
    assert_int_equal(g.ends, 0);
    assert_int_equal(g.errors, 1);
    assert_string_equal(g.err.reason, "empty_stream");
    eco_buf_free(&g.text);
    /* Text, then [DONE] without a finish reason: cut short (an interrupted stream)... */
    static const char text[] =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":null}]}\n\n"
        "data: [DONE]\n\n";
    both(&g, "vllm", 1, text, 1);
    assert_int_equal(g.ends, 0);
    assert_int_equal(g.errors, 1);
    assert_string_equal(g.err.reason, "stream_cut");
    eco_buf_free(&g.text);
    /* ... except from DeepSpeed-MII, whose streams carry no finish reason at all. */
    both(&g, "mii", 1, text, 1);
    assert_int_equal(g.ends, 1);
    assert_int_equal(g.errors, 0);
    eco_buf_free(&g.text);
}

static void test_last_event_without_blank_line_counts(void **state)
{
    static const char body[] =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":\"stop\"}]}\n";
    got_t g;
    both(&g, "vllm", 1, body, 1);
    assert_string_equal(eco_buf_cstr(&g.text), "x");
    assert_int_equal(g.ends, 1);
    eco_buf_free(&g.text);
}

static void test_vllm_mid_stream_error_then_done(void **state)
{
    static const char body[] =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":null}]}\n\n"
        "data: {\"error\":{\"message\":\"boom\",\"type\":\"InternalServerError\",\"param\":null,\"code\":500}}\n\n"
        "data: [DONE]\n\n";
    got_t g;
    both(&g, "vllm", 1, body, 1);
    assert_int_equal(g.errors, 1);
    assert_int_equal(g.ends, 0); /* [DONE] after an error does not make it a success */
    assert_int_equal(g.err.status, GRPC_STATUS_INTERNAL);
    assert_string_equal(g.err.message, "boom");
    eco_buf_free(&g.text);
}

static void test_tgi_chat_mid_stream_error(void **state)
{
    static const char body[] = "data:{\"error\":{\"message\":\"Input validation error\",\"http_status_code\":422}}\n\n";
    got_t g;
    both(&g, "tgi", 1, body, 1);
    assert_int_equal(g.errors, 1);
    assert_int_equal(g.err.status, GRPC_STATUS_INVALID_ARGUMENT);
    assert_int_equal(g.err.http_status, 422);
    eco_buf_free(&g.text);
}

static void test_llamacpp_error_field(void **state)
{
    static const char body[] =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":null}]}\n\n"
        "error: {\"code\":500,\"message\":\"slot failed\",\"type\":\"server_error\"}\n\n";
    got_t g;
    both(&g, "llamacpp", 1, body, 1);
    assert_int_equal(g.errors, 1);
    assert_int_equal(g.err.status, GRPC_STATUS_INTERNAL);
    assert_string_equal(g.err.message, "slot failed");
    eco_buf_free(&g.text);
}

static void test_event_error_type(void **state)
{
    static const char body[] = "event: error\ndata: {\"message\":\"overloaded\",\"code\":503}\n\n";
    got_t g;
    both(&g, "vllm", 1, body, 1);
    assert_int_equal(g.errors, 1);
    assert_int_equal(g.err.status, GRPC_STATUS_RESOURCE_EXHAUSTED);
    eco_buf_free(&g.text);
}

static void test_malformed_event_is_an_error(void **state)
{
    static const char body[] =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"x\"},\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"chatcmpl-1\",\"obj\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"y\"},\"finish_reason\":\"stop\"}]}\n\n";
    got_t g;
    both(&g, "vllm", 1, body, 1);
    assert_string_equal(eco_buf_cstr(&g.text), "x");
    assert_int_equal(g.errors, 1);
    assert_int_equal(g.err.status, GRPC_STATUS_INTERNAL);
    assert_string_equal(g.err.reason, "malformed_response");
    eco_buf_free(&g.text);
}

static void test_line_bound(void **state)
{
    const eco_engine_kind_t *k = eco_engine_kind("vllm");
    eco_engine_msg_t m[1] = {{"user", "hi"}};
    eco_engine_gen_req_t r = {.messages = m, .nmessages = 1, .stream = 1};
    eco_engine_http_t h;
    eco_engine_error_t e;
    assert_int_equal(eco_engine_build_generate(k, &r, &h, &e), 0);
    eco_engine_stream_t s;
    eco_engine_stream_init(&s, k, &h, 0, 0);
    got_t g;
    memset(&g, 0, sizeof(g));
    eco_buf_init(&g.text, 0);
    static char chunk[64 << 10];
    memset(chunk, 'a', sizeof(chunk));
    memcpy(chunk, "data: ", 6);
    int rc = 0;
    for (int i = 0; i < 17 && rc == 0; i++) /* 1 MiB + 64 KiB without a newline */
        rc = eco_engine_stream_feed(&s, chunk, sizeof(chunk), collect, &g);
    assert_int_not_equal(rc, 0);
    assert_int_equal(g.errors, 1);
    assert_string_equal(g.err.reason, "malformed_response");
    assert_true(s.line.len <= ECO_ENGINE_MAX_LINE);
    eco_engine_stream_free(&s);
    eco_engine_http_free(&h);
    eco_buf_free(&g.text);
}

/* ---- TGI native (§3) ---- */

static const char TGI_STREAM[] =
    "data:{\"index\":1,\"token\":{\"id\":1,\"text\":\"Hello\",\"logprob\":-0.1,\"special\":false},"
    "\"generated_text\":null,\"details\":null}\n\n"
    ":\n\n"
    "data:{\"index\":2,\"token\":{\"id\":2,\"text\":\"</s>\",\"logprob\":-0.1,\"special\":true},"
    "\"generated_text\":null,\"details\":null}\n\n"
    "data:{\"index\":3,\"token\":{\"id\":3,\"text\":\" world\",\"logprob\":-0.1,\"special\":false},"
    "\"generated_text\":\"Hello world\",\"details\":{\"finish_reason\":\"eos_token\",\"generated_tokens\":3,"
    "\"seed\":null,\"input_length\":4}}\n\n";

static void test_tgi_native_stream(void **state)
{
    got_t g;
    both(&g, "tgi", 0, TGI_STREAM, 1);
    assert_string_equal(eco_buf_cstr(&g.text), "Hello world"); /* special tokens are not text */
    assert_string_equal(g.finish, "stop");
    assert_int_equal(g.p, 4);
    assert_int_equal(g.c, 3);
    assert_int_equal(g.ends, 1);
    eco_buf_free(&g.text);
}

static void test_tgi_native_error_event(void **state)
{
    static const char body[] = "data:{\"error\":\"Model is overloaded\",\"error_type\":\"overloaded\"}\n\n";
    got_t g;
    both(&g, "tgi", 0, body, 1);
    assert_int_equal(g.errors, 1);
    assert_int_equal(g.err.status, GRPC_STATUS_RESOURCE_EXHAUSTED);
    assert_string_equal(g.err.code, "overloaded");
    eco_buf_free(&g.text);
}

/* ---- Ollama NDJSON (§4) ---- */

static const char OLLAMA_CHAT[] =
    "{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":"
    "\"Hi\"},\"done\":false}\n"
    "\n"
    "{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":"
    "\"!\"},\"done\":false}\r\n"
    "{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:00Z\",\"message\":{\"role\":\"assistant\",\"content\":"
    "\"\"},"
    "\"done\":true,\"done_reason\":\"length\",\"total_duration\":5043500667,\"load_duration\":5025959,"
    "\"prompt_eval_count\":26,\"prompt_eval_duration\":325953000,\"eval_count\":2,\"eval_duration\":4709213000}\n";

static void test_ollama_ndjson(void **state)
{
    got_t g;
    both(&g, "ollama", 1, OLLAMA_CHAT, 1);
    assert_string_equal(eco_buf_cstr(&g.text), "Hi!");
    assert_string_equal(g.finish, "length");
    assert_int_equal(g.p, 26);
    assert_int_equal(g.c, 2);
    assert_int_equal(g.ends, 1);
    eco_buf_free(&g.text);
}

static void test_ollama_generate_missing_counts_and_error(void **state)
{
    static const char ok[] =
        "{\"response\":\"a\",\"done\":false}\n{\"response\":\"\",\"done\":true,\"done_reason\":\"stop\"}\n";
    got_t g;
    both(&g, "ollama", 0, ok, 1);
    assert_string_equal(eco_buf_cstr(&g.text), "a");
    assert_true(g.has_p && g.has_c); /* omitempty counts are 0 */
    assert_int_equal(g.p, 0);
    eco_buf_free(&g.text);
    static const char bad[] = "{\"response\":\"a\",\"done\":false}\n{\"error\":\"model runner crashed\"}\n";
    both(&g, "ollama", 0, bad, 1);
    assert_int_equal(g.errors, 1);
    assert_string_equal(g.err.message, "model runner crashed");
    eco_buf_free(&g.text);
    static const char cut[] = "{\"response\":\"a\",\"done\":false}\n{\"response\":\"b\",\"do";
    both(&g, "ollama", 0, cut, 1);
    assert_int_equal(g.errors, 1);
    assert_string_equal(g.err.reason, "stream_cut");
    eco_buf_free(&g.text);
}

/* ---- SGLang native (§5): cumulative text ---- */

static void test_sglang_cumulative(void **state)
{
    static const char body[] =
        "data: {\"text\":\" Paris\",\"output_ids\":[1],\"meta_info\":{\"id\":\"a\",\"finish_reason\":null,"
        "\"prompt_tokens\":5,\"completion_tokens\":1}}\n\n"
        "data: {\"text\":\" Paris is\",\"output_ids\":[1,2],\"meta_info\":{\"id\":\"a\",\"finish_reason\":null,"
        "\"prompt_tokens\":5,\"completion_tokens\":2}}\n\n"
        "data: {\"text\":\" Paris is big\",\"output_ids\":[1,2,3],\"meta_info\":{\"id\":\"a\","
        "\"finish_reason\":{\"type\":\"length\",\"length\":3},\"prompt_tokens\":5,\"completion_tokens\":3}}\n\n"
        "data: [DONE]\n\n";
    got_t g;
    both(&g, "sglang", 0, body, 1);
    assert_string_equal(eco_buf_cstr(&g.text), " Paris is big");
    assert_int_equal(g.deltas, 3);
    assert_string_equal(g.finish, "length");
    assert_int_equal(g.c, 3);
    assert_int_equal(g.ends, 1);
    eco_buf_free(&g.text);
}

static void test_sglang_incremental_and_mismatch(void **state)
{
    static const char inc[] =
        "data: {\"text\":\"a\",\"meta_info\":{\"finish_reason\":null}}\n\n"
        "data: {\"text\":\"a\",\"meta_info\":{\"finish_reason\":{\"type\":\"stop\",\"matched\":2}}}\n\n"
        "data: [DONE]\n\n";
    got_t g;
    run(&g, "sglang", 0, inc, 0, 1, 1);
    assert_string_equal(eco_buf_cstr(&g.text), "aa"); /* a repeated delta is not mistaken for cumulative */
    assert_int_equal(g.ends, 1);
    eco_buf_free(&g.text);
    /* In cumulative mode a text that does not extend the previous one is a protocol error. */
    run(&g, "sglang", 0, "data: {\"text\":\"ab\",\"meta_info\":{}}\n\ndata: {\"text\":\"x\",\"meta_info\":{}}\n\n", 0,
        1, 0);
    assert_int_equal(g.errors, 1);
    assert_string_equal(g.err.reason, "malformed_response");
    eco_buf_free(&g.text);
    static const char abort_[] = "data: {\"text\":\"a\",\"meta_info\":{\"finish_reason\":{\"type\":\"abort\"}}}\n\n";
    run(&g, "sglang", 0, abort_, 0, 1, 0);
    assert_int_equal(g.errors, 1);
    assert_int_equal(g.err.status, GRPC_STATUS_UNAVAILABLE);
    eco_buf_free(&g.text);
}

/* ---- Triton (§6b): no terminator, the body's end completes it ---- */

static void test_triton_stream(void **state)
{
    static const char body[] =
        "data: {\"model_name\":\"ensemble\",\"model_version\":\"1\",\"text_output\":\" What\"}\n\n"
        "data: {\"model_name\":\"ensemble\",\"model_version\":\"1\",\"text_output\":\" is\"}\n\n";
    got_t g;
    both(&g, "triton", 1, body, 1);
    assert_string_equal(eco_buf_cstr(&g.text), " What is");
    assert_int_equal(g.finishes, 0);
    assert_int_equal(g.ends, 1);
    eco_buf_free(&g.text);
    both(&g, "triton", 0, "data: {\"error\":\"Exceeds maximum queue size\"}\n\n", 1);
    assert_int_equal(g.errors, 1);
    assert_int_equal(g.err.status, GRPC_STATUS_RESOURCE_EXHAUSTED);
    eco_buf_free(&g.text);
}

/* ---- llama.cpp /completion (§9) ---- */

static void test_llamacpp_completion_stream(void **state)
{
    static const char body[] =
        "data: {\"content\":\"tok\",\"stop\":false,\"id_slot\":0}\n\n"
        "data: {\"content\":\"en\",\"stop\":false}\n\n"
        "data: {\"content\":\"\",\"stop\":true,\"stop_type\":\"limit\",\"tokens_predicted\":2,\"tokens_evaluated\":12,"
        "\"timings\":{\"prompt_n\":12,\"predicted_n\":2}}\n\n";
    got_t g;
    both(&g, "llamacpp", 0, body, 1);
    assert_string_equal(eco_buf_cstr(&g.text), "token");
    assert_string_equal(g.finish, "length");
    assert_int_equal(g.p, 12);
    assert_int_equal(g.c, 2);
    assert_int_equal(g.ends, 1);
    eco_buf_free(&g.text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openai_chat_stream),
        cmocka_unit_test(test_sse_framing_variants),
        cmocka_unit_test(test_complete_stream_without_done_is_success),
        cmocka_unit_test(test_cut_before_finish_is_an_error),
        cmocka_unit_test(test_done_without_output_is_an_error),
        cmocka_unit_test(test_last_event_without_blank_line_counts),
        cmocka_unit_test(test_vllm_mid_stream_error_then_done),
        cmocka_unit_test(test_tgi_chat_mid_stream_error),
        cmocka_unit_test(test_llamacpp_error_field),
        cmocka_unit_test(test_event_error_type),
        cmocka_unit_test(test_malformed_event_is_an_error),
        cmocka_unit_test(test_line_bound),
        cmocka_unit_test(test_tgi_native_stream),
        cmocka_unit_test(test_tgi_native_error_event),
        cmocka_unit_test(test_ollama_ndjson),
        cmocka_unit_test(test_ollama_generate_missing_counts_and_error),
        cmocka_unit_test(test_sglang_cumulative),
        cmocka_unit_test(test_sglang_incremental_and_mismatch),
        cmocka_unit_test(test_triton_stream),
        cmocka_unit_test(test_llamacpp_completion_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
