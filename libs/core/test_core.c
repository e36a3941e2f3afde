/* Unit tests for eco_core: config validation, JSON escaping, log lines, ids. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "eco_core.h"

static long port_l;
static int port;
static long grace;
static int flag;
static const char *level;
static long size;
static const char *url;

static eco_cfg_spec_t specs[] = {
    {"ECO_T_PORT", ECO_CFG_PORT, "8000", 0, 0, NULL, "port", &port},
    {"ECO_T_GRACE", ECO_CFG_MS, "10000", 0, 600000, NULL, "grace", &grace},
    {"ECO_T_FLAG", ECO_CFG_BOOL, "0", 0, 0, NULL, "flag", &flag},
    {"ECO_T_LEVEL", ECO_CFG_ENUM, "info", 0, 0, "debug|info|warn|error", "level", &level},
    {"ECO_T_SIZE", ECO_CFG_BYTES, "1m", 1, 1L << 30, NULL, "size", &size},
    {"ECO_T_URL", ECO_CFG_URL, "", 0, 0, NULL, "url", &url},
};

static void clear_env(void)
{
    for (size_t i = 0; i < ECO_ARRAY_SIZE(specs); i++)
        unsetenv(specs[i].name);
}

static void test_config_defaults(void **state)
{
    (void)state;
    clear_env();
    char err[256] = "";
    assert_int_equal(eco_config_load(specs, ECO_ARRAY_SIZE(specs), err, sizeof(err)), 0);
    assert_int_equal(port, 8000);
    assert_int_equal(grace, 10000);
    assert_int_equal(flag, 0);
    assert_string_equal(level, "info");
    assert_int_equal(size, 1 << 20);
    assert_string_equal(url, "");
}

static void expect_error(const char *name, const char *value, const char *needle)
{
    clear_env();
    setenv(name, value, 1);
    char err[256] = "";
    assert_int_equal(eco_config_load(specs, ECO_ARRAY_SIZE(specs), err, sizeof(err)), ECO_EINVAL);
    assert_non_null(strstr(err, name));
    if (!strstr(err, needle))
        fail_msg("error \"%s\" lacks \"%s\"", err, needle);
}

static void test_config_errors(void **state)
{
    (void)state;
    expect_error("ECO_T_PORT", "abc", "expected a port 1-65535, got \"abc\"");
    expect_error("ECO_T_PORT", "0", "port");
    expect_error("ECO_T_PORT", "70000", "port");
    expect_error("ECO_T_PORT", "80 ", "port");
    expect_error("ECO_T_GRACE", "-1", "milliseconds in 0-600000");
    expect_error("ECO_T_GRACE", "99999999999999999999999", "milliseconds");
    expect_error("ECO_T_FLAG", "maybe", "boolean");
    expect_error("ECO_T_LEVEL", "loud", "one of debug|info|warn|error");
    expect_error("ECO_T_SIZE", "2x", "bytes");
    expect_error("ECO_T_SIZE", "2g", "bytes in");
    expect_error("ECO_T_URL", "localhost:5432", "URL");
    clear_env();
    (void)port_l;
}

static void test_config_values(void **state)
{
    (void)state;
    clear_env();
    setenv("ECO_T_PORT", "65535", 1);
    setenv("ECO_T_FLAG", "TRUE", 1);
    setenv("ECO_T_SIZE", "64KiB", 1);
    setenv("ECO_T_URL", "postgres://x@127.0.0.1/db", 1);
    char err[256];
    assert_int_equal(eco_config_load(specs, ECO_ARRAY_SIZE(specs), err, sizeof(err)), 0);
    assert_int_equal(port, 65535);
    assert_int_equal(flag, 1);
    assert_int_equal(size, 64 * 1024);
    assert_string_equal(url, "postgres://x@127.0.0.1/db");
    clear_env();
}

static void test_config_required(void **state)
{
    (void)state;
    const char *v;
    eco_cfg_spec_t req[] = {{"ECO_T_REQ", ECO_CFG_STR, NULL, 0, 0, NULL, "", &v}};
    unsetenv("ECO_T_REQ");
    char err[256];
    assert_int_equal(eco_config_load(req, 1, err, sizeof(err)), ECO_EINVAL);
    assert_string_equal(err, "ECO_T_REQ: required but not set");
}

static void test_json_escape(void **state)
{
    (void)state;
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco_buf_add_json_str(&b, "a\"b\\c\n\x01", (size_t)-1);
    assert_string_equal(eco_buf_cstr(&b), "\"a\\\"b\\\\c\\n\\u0001\"");
    eco_buf_reset(&b);
    /* valid 2- and 4-byte sequences pass; a lone continuation byte and an overlong form do not */
    eco_buf_add_json_str(&b, "\xc3\xa9\xf0\x9f\x98\x80\x80\xc0\xaf", (size_t)-1);
    assert_string_equal(eco_buf_cstr(&b), "\"\xc3\xa9\xf0\x9f\x98\x80\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    eco_buf_reset(&b);
    eco_buf_add_json_str(&b, "x\0y", 3);
    assert_string_equal(eco_buf_cstr(&b), "\"x\\u0000y\"");
    eco_buf_free(&b);
}

static void test_buf_bound(void **state)
{
    (void)state;
    eco_buf_t b;
    eco_buf_init(&b, 8);
    eco_buf_adds(&b, "1234");
    assert_true(eco_buf_ok(&b));
    eco_buf_adds(&b, "56789");
    assert_false(eco_buf_ok(&b));
    assert_int_equal(b.len, 4);
    eco_buf_reset(&b);
    eco_buf_addf(&b, "%d-%s", 42, "x");
    assert_string_equal(eco_buf_cstr(&b), "42-x");
    eco_buf_free(&b);
}

static void test_log_line(void **state)
{
    (void)state;
    eco_log_init("unit", "info");
    assert_false(eco_log_enabled(ECO_LOG_DEBUG));
    assert_true(eco_log_enabled(ECO_LOG_WARN));
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco_kv_t kv[] = {ECO_KS("request_id", "r\"1"), ECO_KI("status", 503), ECO_KB("ok", 0), ECO_KD("dur_ms", 1.5)};
    eco_log_format(&b, ECO_LOG_WARN, "done", kv, 4);
    const char *s = eco_buf_cstr(&b);
    assert_true(strncmp(s, "{\"ts\":\"", 7) == 0);
    assert_non_null(strstr(s, ",\"level\":\"warn\",\"svc\":\"unit\",\"msg\":\"done\",\"request_id\":\"r\\\"1\","
                              "\"status\":503,\"ok\":false,\"dur_ms\":1.5}\n"));
    assert_int_equal(s[b.len - 1], '\n');
    eco_buf_free(&b);
}

static void test_ids(void **state)
{
    (void)state;
    char a[33], b2[33], u[37];
    eco_random_hex_id(a);
    eco_random_hex_id(b2);
    assert_int_equal(strlen(a), 32);
    assert_string_not_equal(a, b2);
    eco_uuid_v4(u);
    assert_int_equal(strlen(u), 36);
    assert_int_equal(u[14], '4');
    assert_true(strchr("89ab", u[19]) != NULL);
}

static void test_b64(void **state)
{
    (void)state;
    /* RFC 4648 §10 vectors, padded and not. */
    const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *std[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    char out[32];
    uint8_t bin[32];
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(eco_b64_encode(plain[i], strlen(plain[i]), out, 0), strlen(std[i]));
        assert_string_equal(out, std[i]);
        assert_int_equal(eco_b64_decode(std[i], strlen(std[i]), bin, sizeof(bin), 0), strlen(plain[i]));
        assert_memory_equal(bin, plain[i], strlen(plain[i]));
        size_t n = eco_b64_encode(plain[i], strlen(plain[i]), out, ECO_B64_NOPAD);
        assert_int_equal(n, strcspn(std[i], "="));
        assert_int_equal(eco_b64_decode(out, n, bin, sizeof(bin), ECO_B64_STRICT), strlen(plain[i]));
    }
    /* The alphabets differ in two characters. */
    const uint8_t hi[] = {0xfb, 0xff};
    eco_b64_encode(hi, 2, out, 0);
    assert_string_equal(out, "+/8=");
    eco_b64_encode(hi, 2, out, ECO_B64_URL | ECO_B64_NOPAD);
    assert_string_equal(out, "-_8");
    assert_int_equal(eco_b64_decode("-_8", 3, bin, 2, 0), -1);
    assert_int_equal(eco_b64_decode("-_8", 3, bin, 2, ECO_B64_URL), 2);
    /* Strict: no padding, no stray bits; every mode: no bad length, bad character or overflow. */
    assert_int_equal(eco_b64_decode("Zg==", 4, bin, sizeof(bin), ECO_B64_STRICT), -1);
    assert_int_equal(eco_b64_decode("Zh", 2, bin, sizeof(bin), ECO_B64_STRICT), -1);
    assert_int_equal(eco_b64_decode("Zh", 2, bin, sizeof(bin), 0), 1);
    assert_int_equal(eco_b64_decode("Zm9vY", 5, bin, sizeof(bin), 0), -1);
    assert_int_equal(eco_b64_decode("Zm 9", 4, bin, sizeof(bin), 0), -1);
    assert_int_equal(eco_b64_decode("Zm9v", 4, bin, 2, 0), -1);
    assert_int_equal(eco_b64_value('_', ECO_B64_URL), 63);
    assert_int_equal(eco_b64_value('/', ECO_B64_URL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_config_values),
        cmocka_unit_test(test_config_required),
        cmocka_unit_test(test_json_escape),
        cmocka_unit_test(test_buf_bound),
        cmocka_unit_test(test_log_line),
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_b64),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
