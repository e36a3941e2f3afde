/* Unit tests for the Bearer credential checks every entry point shares (eco_auth_bearer_parse),
 * the revocation key, and the permission rows of the gRPC methods. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "eco_auth.h"

#define S1   "first-secret-0123456789abcdef-0123456789"
#define NOW  1700000000LL
#define USER "0b8c7f3e-1d2a-4c5b-9e8f-123456789abc"

static eco_auth_jwt_keyring_t kr;

static int setup(void **state)
{
    (void)state;
    char err[128];
    assert_int_equal(eco_auth_jwt_keyring_parse("k1:" S1, &kr, err, sizeof(err)), 0);
    return 0;
}

static int parse(const char *v, eco_auth_bearer_t *b)
{
    return eco_auth_bearer_parse(v, v ? strlen(v) : 0, &kr, "eco-base", "eco-base", NOW + 5, b);
}

static void token(const char *sub, int64_t exp, const eco_auth_jwt_keyring_t *k, char *out, size_t n)
{
    eco_auth_jwt_claims_t c = {.role = ECO_ROLE_DEVELOPER, .iat = exp - 900, .exp = exp};
    snprintf(c.sub, sizeof(c.sub), "%s", sub);
    snprintf(c.jti, sizeof(c.jti), "jti-1");
    snprintf(c.aud, sizeof(c.aud), "eco-base");
    char tok[ECO_AUTH_JWT_MAX_LEN];
    assert_int_equal(eco_auth_jwt_sign(k, "eco-base", &c, tok, sizeof(tok)), 0);
    snprintf(out, n, "Bearer %s", tok);
}

static void test_missing_and_malformed(void **state)
{
    (void)state;
    eco_auth_bearer_t b;
    assert_int_equal(parse(NULL, &b), ECO_AUTH_EMISSING);
    assert_int_equal(b.kind, ECO_AUTH_KIND_NONE);
    assert_string_equal(b.code, "missing_credentials");
    assert_non_null(strstr(b.message, "Bearer"));
    const char *bad[] = {"", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token eco_sk_x", "Bearer no-dots-here"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse(bad[i], &b), ECO_AUTH_ESCHEME);
        assert_string_equal(b.code, "invalid_credentials");
        assert_true(b.message[0] != '\0');
    }
    /* oversized: rejected before any decoding */
    char big[ECO_AUTH_JWT_MAX_LEN + 64];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "Bearer a.b.", 11);
    assert_int_equal(parse(big, &b), ECO_AUTH_ESCHEME);
}

static void test_api_key(void **state)
{
    (void)state;
    char secret[ECO_AUTH_APIKEY_LEN + 1], prefix[ECO_AUTH_APIKEY_PREFIX_LEN + 1], hdr[128];
    uint8_t sha[32];
    eco_auth_apikey_generate(secret, prefix, sha);
    snprintf(hdr, sizeof(hdr), "Bearer %s", secret);
    eco_auth_bearer_t b;
    assert_int_equal(parse(hdr, &b), 0);
    assert_int_equal(b.kind, ECO_AUTH_KIND_API_KEY);
    assert_memory_equal(b.key_sha, sha, 32);
    /* the scheme is case-insensitive */
    snprintf(hdr, sizeof(hdr), "bearer %s", secret);
    assert_int_equal(parse(hdr, &b), 0);
    assert_memory_equal(b.key_sha, sha, 32);
    /* a key-shaped secret with a bad character is neither a key nor a token */
    snprintf(hdr, sizeof(hdr), "Bearer %s", secret);
    hdr[20] = '!';
    assert_int_equal(parse(hdr, &b), ECO_AUTH_ESCHEME);
}

static void test_access_token(void **state)
{
    (void)state;
    char hdr[ECO_AUTH_JWT_MAX_LEN + 16];
    eco_auth_bearer_t b;
    token(USER, NOW + 900, &kr, hdr, sizeof(hdr));
    assert_int_equal(parse(hdr, &b), 0);
    assert_int_equal(b.kind, ECO_AUTH_KIND_JWT);
    assert_int_equal(b.id.kind, ECO_AUTH_KIND_JWT);
    assert_int_equal(b.id.role, ECO_ROLE_DEVELOPER);
    assert_string_equal(b.id.user_id, USER);
    assert_string_equal(b.id.jti, "jti-1");
    assert_int_equal(b.id.exp, NOW + 900);
    /* expired (beyond the leeway) */
    token(USER, NOW - ECO_AUTH_JWT_LEEWAY_S - 10, &kr, hdr, sizeof(hdr));
    assert_int_equal(parse(hdr, &b), ECO_AUTH_EEXPIRED);
    assert_string_equal(b.code, "token_expired");
    assert_non_null(strstr(b.message, "token_expired"));
    /* signed by a key this keyring does not have */
    eco_auth_jwt_keyring_t other;
    char err[128];
    assert_int_equal(eco_auth_jwt_keyring_parse("k1:other-secret-0123456789abcdef-012345678", &other, err, sizeof(err)),
                     0);
    token(USER, NOW + 900, &other, hdr, sizeof(hdr));
    assert_int_equal(parse(hdr, &b), ECO_AUTH_ESIG);
    assert_string_equal(b.code, "invalid_signature");
    /* sub must be a user id */
    token("not-a-uuid", NOW + 900, &kr, hdr, sizeof(hdr));
    assert_int_equal(parse(hdr, &b), ECO_AUTH_EMALFORMED);
    assert_string_equal(b.code, "malformed_token");
    /* no keys: no token verifies */
    eco_auth_jwt_keyring_t none = {.n = 0};
    token(USER, NOW + 900, &kr, hdr, sizeof(hdr));
    assert_int_equal(eco_auth_bearer_parse(hdr, strlen(hdr), &none, "eco-base", "eco-base", NOW, &b), ECO_AUTH_EKID);
}

static void test_revoked_key(void **state)
{
    (void)state;
    eco_auth_identity_t id = {.kind = ECO_AUTH_KIND_JWT};
    snprintf(id.user_id, sizeof(id.user_id), USER);
    snprintf(id.jti, sizeof(id.jti), "j1");
    char k[128];
    eco_auth_revoked_key("eco:", &id, k, sizeof(k));
    assert_string_equal(k, "eco:revoked:{user:" USER "}:j1");
    id.kind = ECO_AUTH_KIND_API_KEY;
    eco_auth_revoked_key("eco:", &id, k, sizeof(k));
    assert_string_equal(k, "");
}

static void test_grpc_rules(void **state)
{
    (void)state;
    const eco_auth_rule_t *gen = eco_auth_grpc_rule("/eco.ai.v1.Inference/GenerateCompletion");
    const eco_auth_rule_t *str = eco_auth_grpc_rule("/eco.ai.v1.Inference/StreamCompletion");
    const eco_auth_rule_t *emb = eco_auth_grpc_rule("/eco.ai.v1.Inference/GenerateEmbedding");
    const eco_auth_rule_t *list = eco_auth_grpc_rule("/eco.ai.v1.Inference/ListModels");
    assert_non_null(gen);
    assert_ptr_equal(gen, eco_auth_rule_find("POST", "/v1/chat/completions"));
    assert_ptr_equal(str, gen);
    assert_ptr_equal(emb, eco_auth_rule_find("POST", "/v1/embeddings"));
    assert_ptr_equal(list, eco_auth_rule_find("GET", "/v1/models"));
    /* spending model tokens needs developer; listing models is open to viewers */
    const eco_auth_rule_t *spend[] = {gen, str, emb};
    for (size_t i = 0; i < 3; i++) {
        assert_true(spend[i]->flags & ECO_RULE_INFERENCE);
        assert_false(eco_auth_rule_allows(spend[i], ECO_ROLE_VIEWER));
        assert_true(eco_auth_rule_allows(spend[i], ECO_ROLE_DEVELOPER));
        assert_true(eco_auth_rule_allows(spend[i], ECO_ROLE_ADMIN));
        assert_false(eco_auth_rule_allows(spend[i], ECO_ROLE_NONE));
    }
    assert_true(eco_auth_rule_allows(list, ECO_ROLE_VIEWER));
    assert_false(eco_auth_rule_allows(list, ECO_ROLE_NONE));
    assert_null(eco_auth_grpc_rule("/eco.ai.v1.Inference/GetLoad"));
    assert_null(eco_auth_grpc_rule("/grpc.health.v1.Health/Check"));
    assert_null(eco_auth_grpc_rule(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_missing_and_malformed),
        cmocka_unit_test(test_api_key),
        cmocka_unit_test(test_access_token),
        cmocka_unit_test(test_revoked_key),
        cmocka_unit_test(test_grpc_rules),
    };
    return cmocka_run_group_tests_name("auth_bearer", tests, setup, NULL);
}
