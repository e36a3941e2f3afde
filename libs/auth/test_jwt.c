/* Unit tests for JWT (HS256), the keyring, the permission table, identity headers and refresh
 * tokens. Forged tokens are built here with an independent encoder and OpenSSL's HMAC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eco_auth.h"

#define S1  "first-secret-0123456789abcdef-0123456789"
#define S2  "second-secret-0123456789abcdef-012345678"
#define NOW 1700000000LL

static eco_auth_jwt_keyring_t kr1, kr21, kr2;

static int setup(void **state)
{
    (void)state;
    char err[128];
    assert_int_equal(eco_auth_jwt_keyring_parse("k1:" S1, &kr1, err, sizeof(err)), 0);
    assert_int_equal(eco_auth_jwt_keyring_parse("k2:" S2 ",k1:" S1, &kr21, err, sizeof(err)), 0);
    assert_int_equal(eco_auth_jwt_keyring_parse("k2:" S2, &kr2, err, sizeof(err)), 0);
    return 0;
}

static eco_auth_jwt_claims_t claims(int64_t iat, int64_t exp)
{
    eco_auth_jwt_claims_t c = {.role = ECO_ROLE_DEVELOPER, .iat = iat, .exp = exp};
    snprintf(c.sub, sizeof(c.sub), "0b8c7f3e-1d2a-4c5b-9e8f-123456789abc");
    snprintf(c.jti, sizeof(c.jti), "5f0c2e7a9b1d4e3f8a6b0c2d4e6f8a1b");
    snprintf(c.aud, sizeof(c.aud), "eco-base");
    return c;
}

static void b64(const void *in, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = in;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = t[v >> 6 & 63];
        if (i + 2 < n)
            out[o++] = t[v & 63];
    }
    out[o] = '\0';
}

/* header.payload.HMAC-SHA256(secret) with an arbitrary header and payload (JSON text). */
static void forge(const char *hdr, const char *payload, const char *secret, char *out)
{
    char h[1024], p[2048];
    b64(hdr, strlen(hdr), h);
    b64(payload, strlen(payload), p);
    sprintf(out, "%s.%s", h, p);
    unsigned char mac[32];
    unsigned int len;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)out, strlen(out), mac, &len);
    char s[64];
    b64(mac, 32, s);
    strcat(out, ".");
    strcat(out, s);
}

#define GOOD_PAYLOAD                                                                                                   \
    "{\"iss\":\"eco-base\",\"sub\":\"0b8c7f3e-1d2a-4c5b-9e8f-123456789abc\",\"aud\":\"eco-base\","                     \
    "\"role\":\"viewer\",\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"abc\"}"

static int verify(const eco_auth_jwt_keyring_t *kr, const char *tok)
{
    eco_auth_jwt_claims_t c;
    return eco_auth_jwt_verify(kr, tok, strlen(tok), "eco-base", "eco-base", NOW + 10, 30, &c);
}

static void test_sign_verify_roundtrip(void **state)
{
    (void)state;
    eco_auth_jwt_claims_t c = claims(NOW, NOW + 900), got;
    char tok[ECO_AUTH_JWT_MAX_LEN];
    assert_int_equal(eco_auth_jwt_sign(&kr1, "eco-base", &c, tok, sizeof(tok)), 0);
    assert_int_equal(eco_auth_jwt_verify(&kr1, tok, strlen(tok), "eco-base", "eco-base", NOW + 10, 30, &got), 0);
    assert_string_equal(got.sub, c.sub);
    assert_string_equal(got.jti, c.jti);
    assert_int_equal(got.role, ECO_ROLE_DEVELOPER);
    assert_int_equal(got.exp, NOW + 900);
    assert_int_equal(got.iat, NOW);
    /* the independent forger produces a token the verifier accepts: same algorithm */
    char forged[4096];
    forge("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}", GOOD_PAYLOAD, S1, forged);
    assert_int_equal(verify(&kr1, forged), 0);
    /* no typ is fine too */
    forge("{\"alg\":\"HS256\",\"kid\":\"k1\"}", GOOD_PAYLOAD, S1, forged);
    assert_int_equal(verify(&kr1, forged), 0);
    /* too small a buffer */
    assert_int_equal(eco_auth_jwt_sign(&kr1, "eco-base", &c, tok, 40), ECO_ENOSPC);
    eco_auth_jwt_keyring_t empty = {.n = 0};
    assert_int_equal(eco_auth_jwt_sign(&empty, "eco-base", &c, tok, sizeof(tok)), ECO_EINVAL);
    assert_int_equal(verify(&empty, forged), ECO_AUTH_EKID);
}

static void test_key_rotation(void **state)
{
    (void)state;
    eco_auth_jwt_claims_t c = claims(NOW, NOW + 900);
    char old[ECO_AUTH_JWT_MAX_LEN], fresh[ECO_AUTH_JWT_MAX_LEN];
    assert_int_equal(eco_auth_jwt_sign(&kr1, "eco-base", &c, old, sizeof(old)), 0);
    assert_int_equal(eco_auth_jwt_sign(&kr21, "eco-base", &c, fresh, sizeof(fresh)), 0);
    /* after rotation (k2 signs, k1 still verifies) both tokens are good */
    assert_int_equal(verify(&kr21, old), 0);
    assert_int_equal(verify(&kr21, fresh), 0);
    /* the new token names k2 */
    assert_int_equal(verify(&kr1, fresh), ECO_AUTH_EKID);
    /* once k1 is retired, its tokens stop working */
    assert_int_equal(verify(&kr2, old), ECO_AUTH_EKID);
    assert_int_equal(verify(&kr2, fresh), 0);
}

static void test_algorithms_rejected(void **state)
{
    (void)state;
    char t[4096], h[256], p[1024];
    /* alg none with an empty signature, and with a signature */
    const char *none_hdr = "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"k1\"}";
    b64(none_hdr, strlen(none_hdr), h);
    b64(GOOD_PAYLOAD, strlen(GOOD_PAYLOAD), p);
    sprintf(t, "%s.%s.", h, p);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EMALFORMED); /* empty signature part */
    forge("{\"alg\":\"none\",\"kid\":\"k1\"}", GOOD_PAYLOAD, S1, t);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EALG);
    forge("{\"alg\":\"None\",\"kid\":\"k1\"}", GOOD_PAYLOAD, S1, t);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EALG);
    forge("{\"alg\":\"HS512\",\"kid\":\"k1\"}", GOOD_PAYLOAD, S1, t);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EALG);
    forge("{\"alg\":\"RS256\",\"kid\":\"k1\"}", GOOD_PAYLOAD, S1, t);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EALG);
    forge("{\"alg\":\"hs256\",\"kid\":\"k1\"}", GOOD_PAYLOAD, S1, t);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EALG);
    forge("{\"kid\":\"k1\"}", GOOD_PAYLOAD, S1, t);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EALG);
    forge("{\"alg\":[\"HS256\"],\"kid\":\"k1\"}", GOOD_PAYLOAD, S1, t);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EALG);
    forge("{\"alg\":\"HS256\",\"typ\":\"JWE\",\"kid\":\"k1\"}", GOOD_PAYLOAD, S1, t);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EALG);
    forge("{\"alg\":\"HS256\",\"kid\":\"k1\",\"crit\":[\"exp\"]}", GOOD_PAYLOAD, S1, t);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EALG);
    forge("{\"alg\":\"HS256\",\"kid\":\"k1\",\"jwk\":{}}", GOOD_PAYLOAD, S1, t);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EALG);
    /* kid missing, unknown, not a string */
    forge("{\"alg\":\"HS256\"}", GOOD_PAYLOAD, S1, t);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EKID);
    forge("{\"alg\":\"HS256\",\"kid\":\"k9\"}", GOOD_PAYLOAD, S1, t);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EKID);
    forge("{\"alg\":\"HS256\",\"kid\":1}", GOOD_PAYLOAD, S1, t);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EKID);
    /* duplicate header keys: the second alg must not win */
    forge("{\"alg\":\"none\",\"alg\":\"HS256\",\"kid\":\"k1\"}", GOOD_PAYLOAD, S1, t);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EMALFORMED);
}

static void test_tampering(void **state)
{
    (void)state;
    eco_auth_jwt_claims_t c = claims(NOW, NOW + 900);
    char tok[ECO_AUTH_JWT_MAX_LEN], t[ECO_AUTH_JWT_MAX_LEN + 16];
    assert_int_equal(eco_auth_jwt_sign(&kr1, "eco-base", &c, tok, sizeof(tok)), 0);
    size_t n = strlen(tok);
    const char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
    /* flip a character in each part */
    size_t positions[] = {2, (size_t)(d1 - tok) + 5, (size_t)(d2 - tok) + 3, n - 2};
    for (size_t i = 0; i < 4; i++) {
        strcpy(t, tok);
        t[positions[i]] = t[positions[i]] == 'A' ? 'B' : 'A';
        int rc = verify(&kr1, t);
        assert_true(rc == ECO_AUTH_ESIG || rc == ECO_AUTH_EMALFORMED || rc == ECO_AUTH_EALG);
        assert_int_not_equal(rc, 0);
    }
    /* a payload with an elevated role, signed with a key we do not hold */
    char forged[4096];
    forge("{\"alg\":\"HS256\",\"kid\":\"k1\"}",
          "{\"iss\":\"eco-base\",\"sub\":\"0b8c7f3e-1d2a-4c5b-9e8f-123456789abc\",\"aud\":\"eco-base\","
          "\"role\":\"admin\",\"iat\":1700000000,\"exp\":1700000900,\"jti\":\"x\"}",
          S2, forged);
    assert_int_equal(verify(&kr1, forged), ECO_AUTH_ESIG);
    /* the signature of another token */
    eco_auth_jwt_claims_t c2 = claims(NOW, NOW + 901);
    char other[ECO_AUTH_JWT_MAX_LEN];
    assert_int_equal(eco_auth_jwt_sign(&kr1, "eco-base", &c2, other, sizeof(other)), 0);
    snprintf(t, sizeof(t), "%.*s%s", (int)(d2 - tok), tok, strrchr(other, '.'));
    assert_int_equal(verify(&kr1, t), ECO_AUTH_ESIG);
    /* truncated signature, signature with padding, extra part, missing parts */
    snprintf(t, sizeof(t), "%.*s", (int)n - 1, tok);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_ESIG);
    snprintf(t, sizeof(t), "%s=", tok);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_ESIG);
    snprintf(t, sizeof(t), "%s.abc", tok);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EMALFORMED);
    snprintf(t, sizeof(t), "%.*s", (int)(d2 - tok), tok);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EMALFORMED);
    assert_int_equal(verify(&kr1, ""), ECO_AUTH_EMALFORMED);
    assert_int_equal(verify(&kr1, ".."), ECO_AUTH_EMALFORMED);
    assert_int_equal(verify(&kr1, "a.b.c"), ECO_AUTH_EMALFORMED);
    assert_int_equal(verify(&kr1, "not a token at all"), ECO_AUTH_EMALFORMED);
    /* standard base64 characters are not base64url */
    strcpy(t, tok);
    t[1] = '+';
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EMALFORMED);
    /* embedded NUL and oversized input */
    char nul[ECO_AUTH_JWT_MAX_LEN];
    memcpy(nul, tok, n);
    nul[3] = '\0';
    eco_auth_jwt_claims_t got;
    assert_int_equal(eco_auth_jwt_verify(&kr1, nul, n, "eco-base", "eco-base", NOW, 30, &got), ECO_AUTH_EMALFORMED);
    char *big = malloc(ECO_AUTH_JWT_MAX_LEN + 10);
    memset(big, 'a', ECO_AUTH_JWT_MAX_LEN + 9);
    big[ECO_AUTH_JWT_MAX_LEN + 9] = '\0';
    big[10] = '.';
    big[20] = '.';
    assert_int_equal(verify(&kr1, big), ECO_AUTH_EMALFORMED);
    free(big);
}

static void test_claims(void **state)
{
    (void)state;
    eco_auth_jwt_claims_t c = claims(NOW - 1000, NOW - 100), got;
    char tok[ECO_AUTH_JWT_MAX_LEN];
    assert_int_equal(eco_auth_jwt_sign(&kr1, "eco-base", &c, tok, sizeof(tok)), 0);
    assert_int_equal(verify(&kr1, tok), ECO_AUTH_EEXPIRED);
    /* within the leeway it is still good, past it not */
    assert_int_equal(eco_auth_jwt_verify(&kr1, tok, strlen(tok), "eco-base", "eco-base", NOW - 120, 30, &got), 0);
    assert_int_equal(eco_auth_jwt_verify(&kr1, tok, strlen(tok), "eco-base", "eco-base", NOW - 70, 30, &got),
                     ECO_AUTH_EEXPIRED);
    /* wrong audience, wrong issuer */
    c = claims(NOW, NOW + 900);
    assert_int_equal(eco_auth_jwt_sign(&kr1, "eco-base", &c, tok, sizeof(tok)), 0);
    assert_int_equal(eco_auth_jwt_verify(&kr1, tok, strlen(tok), "eco-base", "other-api", NOW, 30, &got),
                     ECO_AUTH_EAUD);
    assert_int_equal(eco_auth_jwt_verify(&kr1, tok, strlen(tok), "someone-else", "eco-base", NOW, 30, &got),
                     ECO_AUTH_EAUD);
    /* issued in the future */
    c = claims(NOW + 3600, NOW + 7200);
    assert_int_equal(eco_auth_jwt_sign(&kr1, "eco-base", &c, tok, sizeof(tok)), 0);
    assert_int_equal(verify(&kr1, tok), ECO_AUTH_ENOTYET);
    /* hand-made payloads: aud as array, missing claims, wrong types, unknown role */
    char t[4096];
    const char *H = "{\"alg\":\"HS256\",\"kid\":\"k1\"}";
    forge(H,
          "{\"iss\":\"eco-base\",\"sub\":\"u\",\"aud\":[\"x\",\"eco-base\"],\"role\":\"admin\",\"iat\":1700000000,"
          "\"exp\":1700000900,\"jti\":\"j\"}",
          S1, t);
    assert_int_equal(verify(&kr1, t), 0);
    forge(
        H,
        "{\"iss\":\"eco-base\",\"sub\":\"u\",\"aud\":\"eco-base\",\"role\":\"admin\",\"iat\":1700000000,\"jti\":\"j\"}",
        S1, t);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EMALFORMED);
    forge(H,
          "{\"iss\":\"eco-base\",\"sub\":\"u\",\"aud\":\"eco-base\",\"role\":\"admin\",\"iat\":1700000000,"
          "\"exp\":\"1700000900\",\"jti\":\"j\"}",
          S1, t);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EMALFORMED);
    forge(H,
          "{\"iss\":\"eco-base\",\"sub\":\"u\",\"aud\":\"eco-base\",\"role\":\"root\",\"iat\":1700000000,"
          "\"exp\":1700000900,\"jti\":\"j\"}",
          S1, t);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EMALFORMED);
    forge(H,
          "{\"iss\":\"eco-base\",\"aud\":\"eco-base\",\"role\":\"admin\",\"iat\":1700000000,"
          "\"exp\":1700000900,\"jti\":\"j\"}",
          S1, t);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EMALFORMED);
    forge(H, "[1,2,3]", S1, t);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EMALFORMED);
    forge(H, "not json", S1, t);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EMALFORMED);
    forge(H,
          "{\"iss\":\"eco-base\",\"sub\":\"u\",\"aud\":\"eco-base\",\"role\":\"admin\",\"iat\":1700000000,"
          "\"exp\":1700000900,\"nbf\":1800000000,\"jti\":\"j\"}",
          S1, t);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_ENOTYET);
    /* a second "exp" must not override the first */
    forge(H,
          "{\"iss\":\"eco-base\",\"sub\":\"u\",\"aud\":\"eco-base\",\"role\":\"admin\",\"iat\":1700000000,"
          "\"exp\":1,\"exp\":1900000000,\"jti\":\"j\"}",
          S1, t);
    assert_int_equal(verify(&kr1, t), ECO_AUTH_EMALFORMED);
    assert_string_equal(eco_auth_code(ECO_AUTH_EEXPIRED), "token_expired");
    assert_string_equal(eco_auth_code(ECO_AUTH_EALG), "unsupported_algorithm");
}

static void test_keyring_parse(void **state)
{
    (void)state;
    eco_auth_jwt_keyring_t kr;
    char err[128];
    assert_int_equal(eco_auth_jwt_keyring_parse("", &kr, err, sizeof(err)), 0);
    assert_int_equal(kr.n, 0);
    assert_int_equal(eco_auth_jwt_keyring_parse("k1:short", &kr, err, sizeof(err)), ECO_EINVAL);
    assert_null(strstr(err, "short")); /* the secret is never echoed */
    assert_int_equal(eco_auth_jwt_keyring_parse("k1" S1, &kr, err, sizeof(err)), ECO_EINVAL);
    assert_int_equal(eco_auth_jwt_keyring_parse(":" S1, &kr, err, sizeof(err)), ECO_EINVAL);
    assert_int_equal(eco_auth_jwt_keyring_parse("k 1:" S1, &kr, err, sizeof(err)), ECO_EINVAL);
    assert_int_equal(eco_auth_jwt_keyring_parse("k1:" S1 ",k1:" S2, &kr, err, sizeof(err)), ECO_EINVAL);
    assert_non_null(strstr(err, "duplicate"));
    assert_int_equal(eco_auth_jwt_keyring_parse("k1:" S1 ",", &kr, err, sizeof(err)), ECO_EINVAL);
    assert_int_equal(eco_auth_jwt_keyring_parse("a:" S1 ",b:" S2 ",c:" S1, &kr, err, sizeof(err)), 0);
    assert_int_equal(kr.n, 3);
    assert_string_equal(kr.keys[0].kid, "a");
    assert_int_equal(kr.keys[1].secret_len, strlen(S2));
    /* secrets may contain ':' */
    assert_int_equal(eco_auth_jwt_keyring_parse("a:x:" S1, &kr, err, sizeof(err)), 0);
    assert_int_equal(kr.keys[0].secret_len, strlen(S1) + 2);
    eco_auth_jwt_keyring_wipe(&kr);
    assert_int_equal(kr.n, 0);
}

static void test_rules(void **state)
{
    (void)state;
    size_t n;
    const eco_auth_rule_t *r = eco_auth_rules(&n);
    assert_true(n > 20);
    for (size_t i = 0; i < n; i++) {
        /* public rows grant no role bits; others grant at least admin */
        if (r[i].flags & ECO_RULE_PUBLIC)
            assert_int_equal(r[i].roles, 0);
        else
            assert_true(r[i].roles & ECO_ROLE_BIT(ECO_ROLE_ADMIN));
        assert_false(eco_auth_rule_allows(&r[i], ECO_ROLE_NONE) && !(r[i].flags & ECO_RULE_PUBLIC));
        assert_ptr_equal(eco_auth_rule_find(r[i].method, r[i].pattern), &r[i]);
        for (size_t j = 0; j < i; j++)
            assert_false(strcmp(r[i].method, r[j].method) == 0 && strcmp(r[i].pattern, r[j].pattern) == 0);
    }
    int known;
    const eco_auth_rule_t *k = eco_auth_rule_match("POST", 4, "/api/v1/keys/abc/rotate", 23, &known);
    assert_non_null(k);
    assert_string_equal(k->pattern, "/api/v1/keys/{id}/rotate");
    assert_false(eco_auth_rule_allows(k, ECO_ROLE_VIEWER));
    assert_true(eco_auth_rule_allows(k, ECO_ROLE_DEVELOPER));
    assert_null(eco_auth_rule_match("GET", 3, "/api/v1/keys/abc/rotate", 23, &known));
    assert_int_equal(known, 1);
    assert_null(eco_auth_rule_match("GET", 3, "/api/v1/keys//rotate", 20, &known));
    assert_int_equal(known, 0);
    assert_null(eco_auth_rule_match("GET", 3, "/v1/models/", 11, &known));
    assert_non_null(eco_auth_rule_match("GET", 3, "/v1/models", 10, &known));
    assert_null(eco_auth_rule_match("GET", 3, "/v1/modelsx", 11, &known));
    assert_null(eco_auth_rule_match("GET", 3, "/internal/x", 11, &known));
    const eco_auth_rule_t *chat = eco_auth_rule_find("POST", "/v1/chat/completions");
    assert_true(chat->flags & ECO_RULE_INFERENCE);
    assert_int_equal(chat->upstream, ECO_UPSTREAM_AI);
    assert_true(eco_auth_rule_allows(eco_auth_rule_find("POST", "/auth/login"), ECO_ROLE_NONE));
    assert_int_equal(eco_auth_role_parse("admin"), ECO_ROLE_ADMIN);
    assert_int_equal(eco_auth_role_parse("Admin"), ECO_ROLE_NONE);
    assert_int_equal(eco_auth_role_parse(NULL), ECO_ROLE_NONE);
    assert_string_equal(eco_auth_role_name(ECO_ROLE_VIEWER), "viewer");
}

static eco_auth_str_t STR(const char *s)
{
    return (eco_auth_str_t){s, s ? strlen(s) : 0};
}

static void test_identity(void **state)
{
    (void)state;
    eco_auth_identity_t id = {.kind = ECO_AUTH_KIND_API_KEY, .role = ECO_ROLE_DEVELOPER}, got;
    strcpy(id.user_id, "0b8c7f3e-1d2a-4c5b-9e8f-123456789abc");
    strcpy(id.key_id, "1b8c7f3e-1d2a-4c5b-9e8f-123456789abc");
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco_auth_identity_headers(&id, "s3cret", &b);
    assert_non_null(strstr(eco_buf_cstr(&b), "x-eco-internal-secret: s3cret\r\n"));
    assert_non_null(strstr(b.base, "x-eco-key-id: 1b8c7f3e-1d2a-4c5b-9e8f-123456789abc\r\n"));
    assert_non_null(strstr(b.base, "x-eco-role: developer\r\n"));
    eco_buf_free(&b);
    assert_int_equal(eco_auth_identity_parse(STR("api_key"), STR(id.user_id), STR("developer"), STR(id.key_id),
                                             STR(NULL), STR(NULL), &got),
                     0);
    assert_int_equal(got.role, ECO_ROLE_DEVELOPER);
    assert_string_equal(got.key_id, id.key_id);
    assert_int_equal(eco_auth_identity_parse(STR("jwt"), STR(id.user_id), STR("admin"), STR(NULL), STR("abc-123"),
                                             STR("1700000000"), &got),
                     0);
    assert_int_equal(got.exp, 1700000000);
    /* malformed values */
    assert_int_not_equal(
        eco_auth_identity_parse(STR("root"), STR(id.user_id), STR("admin"), STR(id.key_id), STR(NULL), STR(NULL), &got),
        0);
    assert_int_not_equal(eco_auth_identity_parse(STR("api_key"), STR("1' OR '1'='1"), STR("admin"), STR(id.key_id),
                                                 STR(NULL), STR(NULL), &got),
                         0);
    assert_int_not_equal(eco_auth_identity_parse(STR("api_key"), STR(id.user_id), STR("superuser"), STR(id.key_id),
                                                 STR(NULL), STR(NULL), &got),
                         0);
    assert_int_not_equal(
        eco_auth_identity_parse(STR("jwt"), STR(id.user_id), STR("admin"), STR(NULL), STR("a\r\nx: y"), STR("1"), &got),
        0);
    assert_int_not_equal(
        eco_auth_identity_parse(STR("jwt"), STR(id.user_id), STR("admin"), STR(NULL), STR("abc"), STR("12x"), &got), 0);
    assert_true(eco_auth_secret_equal("abc", 3, "abc", 3));
    assert_false(eco_auth_secret_equal("abc", 3, "abd", 3));
    assert_false(eco_auth_secret_equal("abc", 3, "abcd", 4));
    assert_false(eco_auth_secret_equal("", 0, "a", 1));
    assert_true(eco_auth_is_uuid(id.user_id, 36));
    assert_false(eco_auth_is_uuid("0B8C7F3E-1D2A-4C5B-9E8F-123456789ABC", 36));
}

static void test_refresh_tokens(void **state)
{
    (void)state;
    char a[ECO_AUTH_REFRESH_LEN + 1], b[ECO_AUTH_REFRESH_LEN + 1];
    uint8_t ha[32], hb[32], h[32];
    eco_auth_refresh_generate(a, ha);
    eco_auth_refresh_generate(b, hb);
    assert_int_equal(strlen(a), ECO_AUTH_REFRESH_LEN);
    assert_memory_equal(a, "eco_rt_", 7);
    assert_true(eco_auth_refresh_looks_valid(a, strlen(a)));
    assert_false(eco_auth_apikey_looks_valid(a, strlen(a)));
    assert_string_not_equal(a, b);
    eco_auth_apikey_hash(a, strlen(a), h);
    assert_memory_equal(h, ha, 32);
    a[10] = '!';
    assert_false(eco_auth_refresh_looks_valid(a, strlen(a)));
    assert_false(eco_auth_refresh_looks_valid("eco_rt_", 7));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_verify_roundtrip),
        cmocka_unit_test(test_key_rotation),
        cmocka_unit_test(test_algorithms_rejected),
        cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_claims),
        cmocka_unit_test(test_keyring_parse),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_refresh_tokens),
    };
    return cmocka_run_group_tests_name("auth_jwt", tests, setup, NULL);
}
