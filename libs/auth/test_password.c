/* Unit tests for argon2id password hashing (no server needed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "eco_auth.h"

/* Cheap parameters for tests; production uses ECO_AUTH_ARGON2_DEFAULTS. */
static const eco_auth_argon2_params_t fast = {.m_cost_kib = 1024, .t_cost = 1, .parallelism = 1};

/* Vectors from the reference implementation (phc-winner-argon2 src/test.c): "password", salt "somesalt". */
static const char ref_64m[] = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";
static const char ref_256k_p1[] =
    "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";
static const char ref_256k_p2[] =
    "$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc";

static void test_reference_vectors(void **state)
{
    (void)state;
    assert_int_equal(eco_auth_password_verify(ref_64m, "password", 8), 0);
    assert_int_equal(eco_auth_password_verify(ref_256k_p1, "password", 8), 0);
    assert_int_equal(eco_auth_password_verify(ref_256k_p2, "password", 8), 0);
    assert_int_equal(eco_auth_password_verify(ref_256k_p1, "passwore", 8), ECO_AUTH_EMISMATCH);
    assert_int_equal(eco_auth_password_verify(ref_256k_p1, "password ", 9), ECO_AUTH_EMISMATCH);
    assert_int_equal(eco_auth_password_verify(ref_256k_p1, "passwor", 7), ECO_AUTH_EMISMATCH);
    /* one flipped character of the stored hash */
    char bad[sizeof(ref_256k_p1)];
    memcpy(bad, ref_256k_p1, sizeof(bad));
    bad[sizeof(bad) - 2] = bad[sizeof(bad) - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(eco_auth_password_verify(bad, "password", 8), ECO_AUTH_EMISMATCH);
}

/* The PHC string's shape: prefix with our parameters, 16-byte salt (22 chars), 32-byte hash (43). */
static void assert_phc_shape(const char *h, const eco_auth_argon2_params_t *p)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "$argon2id$v=19$m=%u,t=%u,p=%u$", p->m_cost_kib, p->t_cost, p->parallelism);
    assert_memory_equal(h, prefix, strlen(prefix));
    const char *salt = h + strlen(prefix);
    const char *dollar = strchr(salt, '$');
    assert_non_null(dollar);
    assert_int_equal(dollar - salt, 22);
    assert_int_equal(strlen(dollar + 1), 43);
    assert_null(strchr(dollar + 1, '$'));
    assert_null(strchr(salt, '=')); /* unpadded base64, as PHC requires */
    assert_true(strlen(h) < ECO_AUTH_PASSWORD_HASH_MAX);
}

static void test_hash_and_verify(void **state)
{
    (void)state;
    char h1[ECO_AUTH_PASSWORD_HASH_MAX], h2[ECO_AUTH_PASSWORD_HASH_MAX];
    const char *pw = "correct horse battery staple";
    assert_int_equal(eco_auth_password_hash(pw, strlen(pw), &fast, h1, sizeof(h1)), 0);
    assert_int_equal(eco_auth_password_hash(pw, strlen(pw), &fast, h2, sizeof(h2)), 0);
    assert_phc_shape(h1, &fast);
    assert_phc_shape(h2, &fast);
    /* fresh random salt every time */
    assert_string_not_equal(h1, h2);
    assert_int_equal(eco_auth_password_verify(h1, pw, strlen(pw)), 0);
    assert_int_equal(eco_auth_password_verify(h2, pw, strlen(pw)), 0);
    assert_int_equal(eco_auth_password_verify(h1, "correct horse battery stapl", strlen(pw) - 1), ECO_AUTH_EMISMATCH);
    assert_int_equal(eco_auth_password_verify(h1, "Correct horse battery staple", strlen(pw)), ECO_AUTH_EMISMATCH);
    assert_int_equal(eco_auth_password_verify(h1, "", 0), ECO_AUTH_EMISMATCH);
}

static void test_binary_and_unicode_passwords(void **state)
{
    (void)state;
    char h[ECO_AUTH_PASSWORD_HASH_MAX];
    /* lengths are explicit: an embedded NUL is part of the password, not its end */
    const char nul_pw[] = {'a', 'b', '\0', 'c'};
    assert_int_equal(eco_auth_password_hash(nul_pw, sizeof(nul_pw), &fast, h, sizeof(h)), 0);
    assert_int_equal(eco_auth_password_verify(h, nul_pw, sizeof(nul_pw)), 0);
    assert_int_equal(eco_auth_password_verify(h, "ab", 2), ECO_AUTH_EMISMATCH);
    const char *utf8 = "pässwörd-密码-🔑";
    assert_int_equal(eco_auth_password_hash(utf8, strlen(utf8), &fast, h, sizeof(h)), 0);
    assert_int_equal(eco_auth_password_verify(h, utf8, strlen(utf8)), 0);
    /* the empty password hashes and verifies (refusing it is the caller's policy) */
    assert_int_equal(eco_auth_password_hash("", 0, &fast, h, sizeof(h)), 0);
    assert_int_equal(eco_auth_password_verify(h, "", 0), 0);
    assert_int_equal(eco_auth_password_verify(h, "x", 1), ECO_AUTH_EMISMATCH);
}

static void test_production_defaults(void **state)
{
    (void)state;
    char h[ECO_AUTH_PASSWORD_HASH_MAX];
    eco_auth_argon2_params_t d = ECO_AUTH_ARGON2_DEFAULTS;
    assert_int_equal(d.m_cost_kib, 65536);
    assert_int_equal(d.t_cost, 3);
    assert_int_equal(d.parallelism, 1);
    assert_int_equal(eco_auth_password_hash("s3cret!", 7, &d, h, sizeof(h)), 0);
    assert_memory_equal(h, "$argon2id$v=19$m=65536,t=3,p=1$", 31);
    assert_int_equal(eco_auth_password_verify(h, "s3cret!", 7), 0);
    assert_int_equal(eco_auth_password_needs_rehash(h, &d), 0);
    assert_int_equal(eco_auth_password_needs_rehash(h, &fast), 1);
    /* the reference vector uses t=2: a login with it should trigger a rehash to t=3 */
    assert_int_equal(eco_auth_password_needs_rehash(ref_64m, &d), 1);
    eco_auth_argon2_params_t ref = {65536, 2, 1};
    assert_int_equal(eco_auth_password_needs_rehash(ref_64m, &ref), 0);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    char h[ECO_AUTH_PASSWORD_HASH_MAX];
    eco_auth_argon2_params_t p;
    p = (eco_auth_argon2_params_t){0, 1, 1};
    assert_int_equal(eco_auth_password_hash("x", 1, &p, h, sizeof(h)), ECO_EINVAL);
    p = (eco_auth_argon2_params_t){1024, 0, 1};
    assert_int_equal(eco_auth_password_hash("x", 1, &p, h, sizeof(h)), ECO_EINVAL);
    p = (eco_auth_argon2_params_t){1024, 1, 0};
    assert_int_equal(eco_auth_password_hash("x", 1, &p, h, sizeof(h)), ECO_EINVAL);
    p = (eco_auth_argon2_params_t){ECO_AUTH_ARGON2_MAX_M_KIB + 1, 1, 1};
    assert_int_equal(eco_auth_password_hash("x", 1, &p, h, sizeof(h)), ECO_EINVAL);
    p = (eco_auth_argon2_params_t){1024, ECO_AUTH_ARGON2_MAX_T + 1, 1};
    assert_int_equal(eco_auth_password_hash("x", 1, &p, h, sizeof(h)), ECO_EINVAL);
    assert_int_equal(eco_auth_password_hash("x", 1, NULL, h, sizeof(h)), ECO_EINVAL);
    assert_int_equal(eco_auth_password_hash(NULL, 3, &fast, h, sizeof(h)), ECO_EINVAL);
    assert_int_equal(eco_auth_password_hash("x", 1, &fast, h, 40), ECO_ENOSPC);
    assert_string_equal(h, "");
    char *big = calloc(1, ECO_AUTH_PASSWORD_MAX_LEN + 1);
    memset(big, 'a', ECO_AUTH_PASSWORD_MAX_LEN + 1);
    assert_int_equal(eco_auth_password_hash(big, ECO_AUTH_PASSWORD_MAX_LEN + 1, &fast, h, sizeof(h)), ECO_EINVAL);
    assert_int_equal(eco_auth_password_verify(ref_256k_p1, big, ECO_AUTH_PASSWORD_MAX_LEN + 1), ECO_EINVAL);
    assert_int_equal(eco_auth_password_hash(big, ECO_AUTH_PASSWORD_MAX_LEN, &fast, h, sizeof(h)), 0);
    assert_int_equal(eco_auth_password_verify(h, big, ECO_AUTH_PASSWORD_MAX_LEN), 0);
    free(big);
}

static void test_malformed_hashes(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "password",
        "$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2d$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=16$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=2$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$",
        "$argon2id$v=19$m=256,t=2,p=1$$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4$",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4=",
        "$argon2id$v=19$m=256,t=2,p=1$c29t*XNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=-256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=99999999999,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        /* over the bounds: would allocate 4 GiB or run 1000 passes if accepted */
        "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=1000,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=2,p=255$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        /* salt shorter than 8 bytes, hash shorter than 16 bytes */
        "$argon2id$v=19$m=256,t=2,p=1$c29tZQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR",
    };
    for (size_t i = 0; i < ECO_ARRAY_SIZE(bad); i++) {
        if (eco_auth_password_verify(bad[i], "password", 8) != ECO_EINVAL)
            fail_msg("accepted malformed hash #%zu: %s", i, bad[i]);
        if (eco_auth_password_needs_rehash(bad[i], &fast) != ECO_EINVAL)
            fail_msg("needs_rehash accepted malformed hash #%zu: %s", i, bad[i]);
    }
    assert_int_equal(eco_auth_password_verify(NULL, "password", 8), ECO_EINVAL);
    /* a very long string is rejected without being scanned to the end by libargon2 */
    size_t n = 100000;
    char *longh = malloc(n + 1);
    memcpy(longh, ref_256k_p1, sizeof(ref_256k_p1) - 1);
    memset(longh + sizeof(ref_256k_p1) - 1, 'A', n - (sizeof(ref_256k_p1) - 1));
    longh[n] = '\0';
    assert_int_equal(eco_auth_password_verify(longh, "password", 8), ECO_EINVAL);
    free(longh);
}

static void test_dummy_verify_costs_like_verify(void **state)
{
    (void)state;
    eco_auth_argon2_params_t p = {16384, 2, 1};
    char h[ECO_AUTH_PASSWORD_HASH_MAX];
    assert_int_equal(eco_auth_password_hash("pw", 2, &p, h, sizeof(h)), 0);
    /* Interleaved runs, fastest of each: the minimum is what the work costs, without the
     * preemption noise of a busy machine. */
    uint64_t verify = UINT64_MAX, dummy = UINT64_MAX;
    for (int i = 0; i < 7; i++) {
        uint64_t t0 = eco_now_ns();
        assert_int_equal(eco_auth_password_verify(h, "nope", 4), ECO_AUTH_EMISMATCH);
        uint64_t t1 = eco_now_ns();
        eco_auth_password_verify_dummy(&p);
        uint64_t t2 = eco_now_ns();
        if (t1 - t0 < verify)
            verify = t1 - t0;
        if (t2 - t1 < dummy)
            dummy = t2 - t1;
    }
    /* same work: within a factor of 2 either way */
    if (dummy < verify / 2 || dummy > verify * 2)
        fail_msg("dummy verify took %.1f ms vs %.1f ms for a real verify", dummy / 1e6, verify / 1e6);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_vectors),
        cmocka_unit_test(test_hash_and_verify),
        cmocka_unit_test(test_binary_and_unicode_passwords),
        cmocka_unit_test(test_production_defaults),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_malformed_hashes),
        cmocka_unit_test(test_dummy_verify_costs_like_verify),
    };
    return cmocka_run_group_tests_name("auth_password", tests, NULL, NULL);
}
