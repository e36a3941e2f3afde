/*
 * eco_auth: credentials for eco-base services.
 *   - password hashing: argon2id (libargon2), PHC strings
 *     "$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt b64>$<hash b64>",
 *   - API keys and refresh tokens (random secrets, only their SHA-256 stored),
 *   - JWT access tokens: HS256 only, a keyring of kid -> secret (the first key signs, every key
 *     verifies, so signing keys rotate without logging anyone out),
 *   - roles and the one permission table (route x role) every gateway enforces,
 *   - the caller identity that root-gateway passes upstream, guarded by a shared secret.
 * Everything here is pure computation: thread-safe, no I/O, callable from any thread.
 */
#ifndef ECO_AUTH_H
#define ECO_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "eco_core.h"

enum {
    ECO_AUTH_EMISMATCH = -1201,  /* the password does not match the hash */
    ECO_AUTH_EMALFORMED = -1202, /* token: not a well-formed compact JWS with the required claims */
    ECO_AUTH_EALG = -1203,       /* token: alg other than HS256 ("none" included) or a bad typ/crit */
    ECO_AUTH_EKID = -1204,       /* token: kid missing or not in the keyring */
    ECO_AUTH_ESIG = -1205,       /* token: signature does not match (tampered or foreign key) */
    ECO_AUTH_EEXPIRED = -1206,   /* token: exp is past */
    ECO_AUTH_EAUD = -1207,       /* token: wrong audience or issuer */
    ECO_AUTH_ENOTYET = -1208,    /* token: issued in the future (iat/nbf beyond the leeway) */
    ECO_AUTH_EMISSING = -1209,   /* bearer: no credential was sent */
    ECO_AUTH_ESCHEME = -1210,    /* bearer: not "Bearer <API key or access token>" */
};

/* A machine-readable name for an ECO_AUTH_* code ("token_expired", "invalid_signature", ...). */
const char *eco_auth_code(int err);

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

/* ---------- refresh tokens ---------- */

#define ECO_AUTH_REFRESH_TAG "eco_rt_"
#define ECO_AUTH_REFRESH_LEN 50 /* "eco_rt_" + 43 base64url characters = 256 random bits */

/* Makes a new refresh token (handed to the client once) and the SHA-256 to store. */
void eco_auth_refresh_generate(char token[ECO_AUTH_REFRESH_LEN + 1], uint8_t sha256[32]);
/* 1 when s has the shape of a refresh token. Hash a presented one with eco_auth_apikey_hash. */
int eco_auth_refresh_looks_valid(const char *s, size_t len);

/* ---------- roles ---------- */

typedef enum {
    ECO_ROLE_NONE = 0, /* unauthenticated */
    ECO_ROLE_VIEWER = 1,
    ECO_ROLE_DEVELOPER = 2,
    ECO_ROLE_ADMIN = 3,
} eco_auth_role_t;
#define ECO_ROLE_COUNT  4
#define ECO_ROLE_BIT(r) (1u << (r))

/* "viewer" -> ECO_ROLE_VIEWER; NONE for anything else (including NULL). */
eco_auth_role_t eco_auth_role_parse(const char *s);
/* "viewer", "developer", "admin"; "none" for ECO_ROLE_NONE. */
const char *eco_auth_role_name(eco_auth_role_t r);

/* ---------- JWT (HS256) ---------- */

#define ECO_AUTH_JWT_MAX_KEYS   8
#define ECO_AUTH_JWT_KID_MAX    32 /* kid: 1..32 characters of [A-Za-z0-9._-] */
#define ECO_AUTH_JWT_SECRET_MIN 32 /* bytes; HS256 wants at least the hash size */
#define ECO_AUTH_JWT_SECRET_MAX 256
#define ECO_AUTH_JWT_MAX_LEN    2048 /* longer tokens are rejected before any decoding */

typedef struct {
    char kid[ECO_AUTH_JWT_KID_MAX + 1];
    uint8_t secret[ECO_AUTH_JWT_SECRET_MAX];
    size_t secret_len;
} eco_auth_jwt_key_t;

typedef struct {
    eco_auth_jwt_key_t keys[ECO_AUTH_JWT_MAX_KEYS];
    size_t n; /* keys[0] signs */
} eco_auth_jwt_keyring_t;

/* Parses "kid1:secret1,kid2:secret2" (ECO_JWT_KEYS). Secrets are taken as bytes (no decoding),
 * ECO_AUTH_JWT_SECRET_MIN..MAX long; kids unique. An empty spec gives an empty keyring (n = 0:
 * nothing can be signed or verified). Returns 0 or ECO_EINVAL with a reason in err that never
 * quotes a secret. Wipe the keyring with eco_auth_jwt_keyring_wipe when done. */
int eco_auth_jwt_keyring_parse(const char *spec, eco_auth_jwt_keyring_t *out, char *err, size_t errlen);
void eco_auth_jwt_keyring_wipe(eco_auth_jwt_keyring_t *kr);

/* The settings of every service that verifies access tokens (one definition of each). */
#define ECO_AUTH_SPEC_JWT_KEYS(out)                                                                                    \
    {                                                                                                                  \
        "ECO_JWT_KEYS", ECO_CFG_STR, "", 0, 0, NULL,                                                                   \
            "access-token keys \"kid:secret,...\" (secrets >= 32 bytes): api-gateway signs with the first, "           \
            "root-gateway and ai-service (gRPC) verify with all; empty: no sessions",                                  \
            (out)                                                                                                      \
    }
#define ECO_AUTH_SPEC_JWT_ISSUER(out)                                                                                  \
    {                                                                                                                  \
        "ECO_JWT_ISSUER", ECO_CFG_STR, "eco-base", 0, 0, NULL, "iss of access tokens", (out)                           \
    }
#define ECO_AUTH_SPEC_JWT_AUDIENCE(out)                                                                                \
    {                                                                                                                  \
        "ECO_JWT_AUDIENCE", ECO_CFG_STR, "eco-base", 0, 0, NULL, "aud of access tokens", (out)                         \
    }

/* The claims eco-base puts in an access token. */
typedef struct {
    char sub[64]; /* user id */
    char jti[40]; /* token id (revocation) */
    char aud[64];
    eco_auth_role_t role;
    int64_t iat, exp; /* seconds since the epoch */
} eco_auth_jwt_claims_t;

/* Signs {"iss","sub","aud","role","iat","exp","jti"} with keys[0] under header
 * {"alg":"HS256","typ":"JWT","kid":...}. Returns 0, ECO_EINVAL (empty keyring, bad claims),
 * ECO_ENOSPC (out too small; ECO_AUTH_JWT_MAX_LEN always suffices). */
int eco_auth_jwt_sign(const eco_auth_jwt_keyring_t *kr, const char *iss, const eco_auth_jwt_claims_t *c, char *out,
                      size_t outlen);

/* Verifies token[0..len): strict base64url, header alg exactly "HS256" (anything else, "none"
 * included: ECO_AUTH_EALG), typ "JWT" if present, no "crit", a known kid, then the HMAC
 * (constant-time) before the payload is parsed; then iss, aud (string or array), exp, iat/nbf
 * with `leeway` seconds, a role and a sub. Duplicate JSON keys are rejected. On success fills
 * *out and returns 0; otherwise one of the ECO_AUTH_E* token codes. */
int eco_auth_jwt_verify(const eco_auth_jwt_keyring_t *kr, const char *token, size_t len, const char *iss,
                        const char *aud, int64_t now, int64_t leeway, eco_auth_jwt_claims_t *out);

/* ---------- the permission table ---------- */

/* Where root-gateway sends a route. */
typedef enum { ECO_UPSTREAM_API = 0, ECO_UPSTREAM_AI = 1 } eco_auth_upstream_t;

enum {
    ECO_RULE_PUBLIC = 1u << 0,    /* no credential needed (roles is 0) */
    ECO_RULE_INFERENCE = 1u << 1, /* spends model tokens: reserved at admission, reconciled after */
};

typedef struct {
    const char *method;
    const char *pattern; /* "/api/v1/keys/{id}/rotate": {x} matches one non-empty segment */
    unsigned roles;      /* ECO_ROLE_BIT(...) of the roles allowed */
    eco_auth_upstream_t upstream;
    unsigned flags;
} eco_auth_rule_t;

/* The table (static storage). Every route a gateway serves has exactly one row. */
const eco_auth_rule_t *eco_auth_rules(size_t *n);
/* The row for a route template (exact pattern string), or NULL. */
const eco_auth_rule_t *eco_auth_rule_find(const char *method, const char *pattern);
/* The row matching a concrete request path, or NULL (*path_known = 1 when the path matched a
 * row with another method: 405 rather than 404). */
const eco_auth_rule_t *eco_auth_rule_match(const char *method, size_t mlen, const char *path, size_t plen,
                                           int *path_known);
/* The row whose permission a gRPC method of the public API carries (full name,
 * "/eco.ai.v1.Inference/GenerateCompletion"): that of the REST route doing the same thing, so one
 * table decides both. NULL for a method without one (refuse it). */
const eco_auth_rule_t *eco_auth_grpc_rule(const char *method);
/* 1 when the rule lets `role` in (public rules let everybody in). */
int eco_auth_rule_allows(const eco_auth_rule_t *r, eco_auth_role_t role);

/* ---------- identity passed upstream ---------- */

typedef enum { ECO_AUTH_KIND_NONE = 0, ECO_AUTH_KIND_API_KEY, ECO_AUTH_KIND_JWT } eco_auth_kind_t;

typedef struct {
    eco_auth_kind_t kind;
    eco_auth_role_t role;
    char user_id[37];
    char key_id[37]; /* API key callers */
    char jti[40];    /* JWT callers */
    int64_t exp;     /* JWT callers: token expiry (seconds since the epoch) */
} eco_auth_identity_t;

/* The headers root-gateway sets upstream (and strips from every client request). Upstreams
 * accept them only when x-eco-internal-secret equals their ECO_INTERNAL_SECRET. */
#define ECO_AUTH_HDR_SECRET          "x-eco-internal-secret"
#define ECO_AUTH_HDR_KIND            "x-eco-auth-kind"
#define ECO_AUTH_HDR_USER            "x-eco-user-id"
#define ECO_AUTH_HDR_ROLE            "x-eco-role"
#define ECO_AUTH_HDR_KEY             "x-eco-key-id"
#define ECO_AUTH_HDR_JTI             "x-eco-token-id"
#define ECO_AUTH_HDR_EXP             "x-eco-token-exp"
#define ECO_AUTH_HDR_PREFIX          "x-eco-"
#define ECO_AUTH_INTERNAL_SECRET_MIN 32

/* Appends "name: value\r\n" lines for the secret and the identity (kind NONE: the secret only). */
void eco_auth_identity_headers(const eco_auth_identity_t *id, const char *secret, eco_buf_t *out);

/* Rebuilds an identity from the header values (each may be NULL/absent; lengths given). Checks
 * shapes strictly (uuid ids, known role and kind). Returns 0 or ECO_EINVAL. */
typedef struct {
    const char *p;
    size_t len;
} eco_auth_str_t;
int eco_auth_identity_parse(eco_auth_str_t kind, eco_auth_str_t user, eco_auth_str_t role, eco_auth_str_t key,
                            eco_auth_str_t jti, eco_auth_str_t exp, eco_auth_identity_t *out);

/* ---------- bearer credentials ---------- */

#define ECO_AUTH_JWT_LEEWAY_S 30 /* clock skew tolerated on iat/nbf/exp */

/* A presented "Bearer <API key or access token>", as far as it can be checked without I/O. */
typedef struct {
    eco_auth_kind_t kind;   /* API_KEY: look key_sha up; JWT: id is ready */
    uint8_t key_sha[32];    /* API keys */
    eco_auth_identity_t id; /* access tokens: kind, role, user_id, jti, exp */
    int err;                /* on failure: ECO_AUTH_EMISSING, ECO_AUTH_ESCHEME or a token code */
    const char *code;       /* on failure: machine-readable (eco_auth_code(err)); static */
    char message[128];      /* on failure: for the caller, never quoting the credential */
} eco_auth_bearer_t;

/* Checks the value of an Authorization header (or gRPC `authorization` metadata): value NULL
 * means it was not sent. An API key ("eco_sk_...") is hashed for the look-up; anything with a
 * dot is verified as an access token (kr, iss, aud, `now` in epoch seconds, leeway
 * ECO_AUTH_JWT_LEEWAY_S; sub must be a uuid). Returns 0 with out->kind set, or out->err (also
 * filling code and message). Borrows value. Thread-safe. */
int eco_auth_bearer_parse(const char *value, size_t len, const eco_auth_jwt_keyring_t *kr, const char *iss,
                          const char *aud, int64_t now, eco_auth_bearer_t *out);

/* The Redis key that marks an access token revoked (api-gateway sets it at logout, until the
 * token's exp): "<prefix>revoked:{user:<user_id>}:<jti>". Empty for callers without a jti. */
void eco_auth_revoked_key(const char *prefix, const eco_auth_identity_t *id, char *out, size_t outlen);

/* Constant-time equality of two secrets of any lengths (compares their SHA-256). */
int eco_auth_secret_equal(const char *a, size_t alen, const char *b, size_t blen);

/* 1 when s[0..len) is a canonical lower-case uuid "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx". */
int eco_auth_is_uuid(const char *s, size_t len);

#endif
