/*
 * eco_auth: credentials for eco-base services.
 *   - password hashing: argon2id (libargon2), PHC strings
 *     "$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt b64>$<hash b64>".
 * (API-key hashing, JWT, RBAC and HMAC verification will join this header.)
 */
#ifndef ECO_AUTH_H
#define ECO_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "eco_core.h"

enum {
    ECO_AUTH_EMISMATCH = -1201, /* the password does not match the hash */
};

/* argon2id cost parameters. */
typedef struct {
    uint32_t m_cost_kib;  /* memory in KiB, 8 * parallelism .. ECO_AUTH_ARGON2_MAX_M_KIB */
    uint32_t t_cost;      /* passes, 1 .. ECO_AUTH_ARGON2_MAX_T */
    uint32_t parallelism; /* lanes, 1 .. ECO_AUTH_ARGON2_MAX_P */
} eco_auth_argon2_params_t;

/* Production defaults: 64 MiB, 3 passes, 1 lane (each hash or verify costs that memory). */
#define ECO_AUTH_ARGON2_DEFAULTS ((eco_auth_argon2_params_t){.m_cost_kib = 65536, .t_cost = 3, .parallelism = 1})

/* Upper bounds accepted when hashing and when verifying a stored hash, so a corrupted or
 * hostile hash cannot make a login allocate gigabytes or spin for minutes. */
#define ECO_AUTH_ARGON2_MAX_M_KIB (1u << 20) /* 1 GiB */
#define ECO_AUTH_ARGON2_MAX_T     32u
#define ECO_AUTH_ARGON2_MAX_P     16u

#define ECO_AUTH_PASSWORD_MAX_LEN  4096u /* longer passwords are rejected (ECO_EINVAL) */
#define ECO_AUTH_PASSWORD_HASH_MAX 160u  /* buffer size that holds any PHC string we produce */
#define ECO_AUTH_PASSWORD_SALT_LEN 16u
#define ECO_AUTH_PASSWORD_HASH_LEN 32u

/* Hashes password[0..len) (any bytes, NUL included) with a fresh 16-byte random salt and writes
 * the PHC string into out (outlen >= ECO_AUTH_PASSWORD_HASH_MAX). Returns 0, ECO_EINVAL for
 * parameters or a password outside the bounds, ECO_ENOSPC when out is too small. Thread-safe;
 * blocks for the whole computation (tens of ms at the defaults), so call it off the event loop. */
int eco_auth_password_hash(const char *password, size_t len, const eco_auth_argon2_params_t *params, char *out,
                           size_t outlen);

/* Checks password[0..len) against a PHC string (borrowed). Returns 0 on a match,
 * ECO_AUTH_EMISMATCH when it does not match, ECO_EINVAL when phc is not an argon2id v19 string
 * within the bounds above. The hash comparison is constant-time (libargon2 compares every byte). */
int eco_auth_password_verify(const char *phc, const char *password, size_t len);

/* 1 when phc was made with parameters other than params (hash the password again after a
 * successful login), 0 when they match, ECO_EINVAL when phc does not parse. */
int eco_auth_password_needs_rehash(const char *phc, const eco_auth_argon2_params_t *params);

/* Costs what one verify with params costs, and checks nothing: call it when the account does
 * not exist so that response time does not tell which emails are registered. */
void eco_auth_password_verify_dummy(const eco_auth_argon2_params_t *params);

/* ---------- API keys ---------- */

#define ECO_AUTH_APIKEY_TAG        "eco_sk_"
#define ECO_AUTH_APIKEY_LEN        50 /* "eco_sk_" + 43 base64url characters = 256 random bits */
#define ECO_AUTH_APIKEY_PREFIX_LEN 12 /* shown in listings; not secret */

/* Makes a new key: the secret (shown once), its display prefix, and the SHA-256 to store. */
void eco_auth_apikey_generate(char secret[ECO_AUTH_APIKEY_LEN + 1], char prefix[ECO_AUTH_APIKEY_PREFIX_LEN + 1],
                              uint8_t sha256[32]);
/* SHA-256 of a presented secret, for the look-up by hash. */
void eco_auth_apikey_hash(const char *secret, size_t len, uint8_t sha256[32]);
/* 1 when s has the shape of a key (cheap check before any look-up). */
int eco_auth_apikey_looks_valid(const char *s, size_t len);

#endif
