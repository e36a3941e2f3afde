/* OpenAI request validation and answer writers of ai-service. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "oai_out.c"
#include "oai_req.c"

#include <openssl/evp.h>

static int parse(oai_kind_t kind, const char *body, oai_req_t *r, oai_err_t *e)
{
    json_error_t je;
    json_t *root = json_loads(body, JSON_REJECT_DUPLICATES, &je);
    assert_non_null(root);
    int rc = oai_req_parse(kind, root, r, e);
    json_decref(root);
    return rc;
}

/* The request is refused with this param and code. */
static void refused(oai_kind_t kind, const char *body, const char *param, const char *code)
{
    oai_req_t r;
    oai_err_t e;
    assert_int_equal(parse(kind, body, &r, &e), -1);
    assert_int_equal(e.status, 400);
    assert_string_equal(e.param, param);
    assert_string_equal(e.code, code);
    assert_true(strlen(e.message) > 0);
    oai_req_free(&r);
}

static void test_chat_fields(void **state)
{
    (void)state;
    oai_req_t r;
    oai_err_t e;
    assert_int_equal(parse(OAI_CHAT,
                           "{\"model\":\"m\",\"messages\":[{\"role\":\"developer\",\"content\":\"be brief\"},"
                           "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},{\"type\":\"text\","
                           "\"text\":\"b\"}]}],\"max_completion_tokens\":7,\"temperature\":0.5,\"top_p\":1,"
                           "\"stop\":[\"x\",\"y\"],\"seed\":-3,\"presence_penalty\":1,\"frequency_penalty\":-1,"
                           "\"user\":\"u\",\"n\":1,\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                           "\"logprobs\":false,\"tools\":[],\"response_format\":{\"type\":\"text\"}}",
                           &r, &e),
                     0);
    assert_string_equal(r.model, "m");
    assert_int_equal(r.gen.n_messages, 2);
    assert_string_equal(r.gen.messages[0]->role, "system"); /* developer = system */
    assert_string_equal(r.gen.messages[1]->content, "ab");  /* text parts joined */
    assert_true(r.gen._max_tokens_case && r.gen.max_tokens == 7);
    assert_true(r.gen._temperature_case && r.gen.temperature == 0.5);
    assert_true(r.gen._seed_case && r.gen.seed == -3);
    assert_int_equal(r.gen.n_stop, 2);
    assert_string_equal(r.gen.stop[1], "y");
    assert_true(r.stream && r.include_usage);
    oai_req_free(&r);

    /* Unset sampling fields stay unset (presence matters). */
    assert_int_equal(parse(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"\"}],\"stop\":\"s\"}", &r, &e),
                     0);
    assert_null(r.model);
    assert_false(r.gen._max_tokens_case || r.gen._temperature_case || r.gen._seed_case || r.stream);
    assert_int_equal(r.gen.n_stop, 1);
    oai_req_free(&r);
}

static void test_chat_refusals(void **state)
{
    (void)state;
    refused(OAI_CHAT, "{}", "messages", "missing_required_parameter");
    refused(OAI_CHAT, "{\"messages\":[]}", "messages", "invalid_value");
    refused(OAI_CHAT, "{\"messages\":\"hi\"}", "messages", "invalid_type");
    refused(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"bot\",\"content\":\"b\"}]}",
            "messages[1].role", "invalid_value");
    refused(OAI_CHAT, "{\"messages\":[{\"content\":\"a\"}]}", "messages[0].role", "missing_required_parameter");
    refused(OAI_CHAT, "{\"messages\":[{\"role\":\"user\"}]}", "messages[0].content", "missing_required_parameter");
    refused(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}",
            "messages[0].content", "unsupported_parameter");
    refused(OAI_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":7}]}", "messages[0].content", "invalid_type");
    const char *m = "\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]";
    char body[256];
#define REFUSE(extra, param, code)                                                                                     \
    do {                                                                                                               \
        snprintf(body, sizeof(body), "{%s,%s}", m, extra);                                                             \
        refused(OAI_CHAT, body, param, code);                                                                          \
    } while (0)
    REFUSE("\"model\":3", "model", "invalid_type");
    REFUSE("\"temperature\":2.5", "temperature", "invalid_value");
    REFUSE("\"temperature\":\"hot\"", "temperature", "invalid_type");
    REFUSE("\"top_p\":-0.1", "top_p", "invalid_value");
    REFUSE("\"max_tokens\":0", "max_tokens", "invalid_value");
    REFUSE("\"max_tokens\":1.5", "max_tokens", "invalid_type");
    REFUSE("\"max_completion_tokens\":99999999999", "max_completion_tokens", "invalid_value");
    REFUSE("\"presence_penalty\":3", "presence_penalty", "invalid_value");
    REFUSE("\"seed\":\"1\"", "seed", "invalid_type");
    REFUSE("\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]", "stop", "invalid_value");
    REFUSE("\"stop\":[\"\"]", "stop", "invalid_value");
    REFUSE("\"stop\":5", "stop", "invalid_type");
    REFUSE("\"n\":2", "n", "unsupported_parameter");
    REFUSE("\"n\":0", "n", "invalid_value");
    REFUSE("\"tools\":[{\"type\":\"function\"}]", "tools", "unsupported_parameter");
    REFUSE("\"logprobs\":true", "logprobs", "unsupported_parameter");
    REFUSE("\"logit_bias\":{\"1\":2}", "logit_bias", "unsupported_parameter");
    REFUSE("\"response_format\":{\"type\":\"json_schema\"}", "response_format.type", "unsupported_parameter");
    REFUSE("\"stream\":\"yes\"", "stream", "invalid_type");
    REFUSE("\"stream_options\":{\"include_usage\":true}", "stream_options", "invalid_value");
    REFUSE("\"stream\":true,\"stream_options\":{\"include_usage\":1}", "stream_options.include_usage", "invalid_type");
    REFUSE("\"user\":5", "user", "invalid_type");
#undef REFUSE
}

static void test_completion_and_embedding(void **state)
{
    (void)state;
    oai_req_t r;
    oai_err_t e;
    assert_int_equal(parse(OAI_COMPLETION, "{\"prompt\":[\"a\",\"b\"],\"max_tokens\":3}", &r, &e), 0);
    assert_int_equal(r.nprompts, 2);
    assert_string_equal(r.gen.prompt, "a");
    oai_req_free(&r);
    refused(OAI_COMPLETION, "{\"prompt\":[\"a\",\"b\"],\"stream\":true}", "prompt", "unsupported_parameter");
    refused(OAI_COMPLETION, "{\"prompt\":[1,2,3]}", "prompt", "unsupported_parameter");
    refused(OAI_COMPLETION, "{\"prompt\":[]}", "prompt", "invalid_value");
    refused(OAI_COMPLETION, "{}", "prompt", "missing_required_parameter");
    refused(OAI_COMPLETION, "{\"prompt\":\"a\",\"echo\":true}", "echo", "unsupported_parameter");
    refused(OAI_COMPLETION, "{\"prompt\":\"a\",\"best_of\":3}", "best_of", "unsupported_parameter");

    assert_int_equal(parse(OAI_EMBEDDING, "{\"input\":\"x\",\"encoding_format\":\"base64\",\"dimensions\":8}", &r, &e),
                     0);
    assert_int_equal(r.emb.n_input, 1);
    assert_true(r.base64);
    assert_int_equal(r.emb.dimensions, 8);
    oai_req_free(&r);
    refused(OAI_EMBEDDING, "{\"input\":\"x\",\"encoding_format\":\"hex\"}", "encoding_format", "invalid_value");
    refused(OAI_EMBEDDING, "{\"input\":\"x\",\"dimensions\":0}", "dimensions", "invalid_value");
    refused(OAI_EMBEDDING, "{\"input\":[\"x\",\"\"]}", "input", "invalid_value");
    refused(OAI_EMBEDDING, "{\"input\":[[1,2]]}", "input", "unsupported_parameter");
    refused(OAI_EMBEDDING, "{\"input\":{}}", "input", "invalid_type");
    refused(OAI_EMBEDDING, "{}", "input", "missing_required_parameter");
}

static json_t *load(eco_buf_t *b)
{
    json_error_t je;
    json_t *v = json_loadb(b->base, b->len, 0, &je);
    assert_non_null(v);
    return v;
}

static void test_writers(void **state)
{
    (void)state;
    eco_buf_t b;
    eco_buf_init(&b, 0);
    Eco__Ai__V1__Usage u = ECO__AI__V1__USAGE__INIT;
    u.prompt_tokens = 3;
    u.completion_tokens = 2;
    u.total_tokens = 5;
    const char *texts[] = {"he said \"hi\"\n"}, *fin[] = {"stop"};
    oai_write_completion(&b, OAI_CHAT, "chatcmpl-1", 7, "m", texts, fin, 1, &u);
    json_t *v = load(&b);
    assert_string_equal(json_string_value(json_object_get(v, "object")), "chat.completion");
    json_t *c0 = json_array_get(json_object_get(v, "choices"), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(c0, "message"), "content")), texts[0]);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(v, "usage"), "total_tokens")), 5);
    json_decref(v);

    eco_buf_reset(&b);
    oai_write_chunk(&b, OAI_CHAT, "chatcmpl-1", 7, "m", 1, "", 0, NULL);
    v = load(&b);
    json_t *d = json_object_get(json_array_get(json_object_get(v, "choices"), 0), "delta");
    assert_string_equal(json_string_value(json_object_get(d, "role")), "assistant");
    assert_true(json_is_null(json_object_get(json_array_get(json_object_get(v, "choices"), 0), "finish_reason")));
    json_decref(v);

    eco_buf_reset(&b);
    oai_write_usage_chunk(&b, OAI_COMPLETION, "cmpl-1", 7, "m", &u, 42);
    v = load(&b);
    assert_int_equal(json_array_size(json_object_get(v, "choices")), 0);
    assert_int_equal(json_integer_value(json_object_get(v, "eco_overhead_us")), 42);
    json_decref(v);

    /* Embeddings: truncation re-normalises; base64 carries the same float32 values. */
    float vals[4] = {3, 4, 12, 0};
    Eco__Ai__V1__Embedding emb = ECO__AI__V1__EMBEDDING__INIT, *embp = &emb;
    emb.values = vals;
    emb.n_values = 4;
    Eco__Ai__V1__EmbeddingResponse er = ECO__AI__V1__EMBEDDING_RESPONSE__INIT;
    er.data = &embp;
    er.n_data = 1;
    eco_buf_reset(&b);
    oai_write_embeddings(&b, &er, "e", 2, 0);
    v = load(&b);
    json_t *arr = json_object_get(json_array_get(json_object_get(v, "data"), 0), "embedding");
    assert_int_equal(json_array_size(arr), 2);
    assert_true(fabs(json_real_value(json_array_get(arr, 0)) - 0.6) < 1e-6);
    assert_true(fabs(json_real_value(json_array_get(arr, 1)) - 0.8) < 1e-6);
    json_decref(v);
    eco_buf_reset(&b);
    oai_write_embeddings(&b, &er, "e", 0, 1);
    v = load(&b);
    const char *b64 = json_string_value(json_object_get(json_array_get(json_object_get(v, "data"), 0), "embedding"));
    unsigned char raw[32];
    assert_int_equal(EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)strlen(b64)), 18); /* 16 + padding */
    float back[4];
    memcpy(back, raw, sizeof(back));
    assert_true(back[2] == 12.0f && back[1] == 4.0f);
    json_decref(v);

    eco_buf_reset(&b);
    oai_write_error(&b, "broke", "server_error", "stream_interrupted", NULL);
    v = load(&b);
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "error"), "code")), "stream_interrupted");
    json_decref(v);
    eco_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_fields),
        cmocka_unit_test(test_chat_refusals),
        cmocka_unit_test(test_completion_and_embedding),
        cmocka_unit_test(test_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
