/* JWT access tokens: HS256 only (OpenSSL HMAC), a kid-indexed keyring, strict parsing.
 * Order of checks in verify: shape -> header (alg, typ, crit, kid) -> signature (constant-time)
 * -> payload claims. Nothing of the payload is looked at before the signature holds. */
#include "eco_auth.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

const char *eco_auth_code(int err)
{
    switch (err) {
    case 0:
        return "ok";
    case ECO_AUTH_EMISMATCH:
        return "invalid_credentials";
    case ECO_AUTH_EMALFORMED:
        return "malformed_token";
    case ECO_AUTH_EALG:
        return "unsupported_algorithm";
    case ECO_AUTH_EKID:
        return "unknown_key_id";
    case ECO_AUTH_ESIG:
        return "invalid_signature";
    case ECO_AUTH_EEXPIRED:
        return "token_expired";
    case ECO_AUTH_EAUD:
        return "invalid_audience";
    case ECO_AUTH_ENOTYET:
        return "token_not_yet_valid";
    case ECO_AUTH_EMISSING:
        return "missing_credentials";
    case ECO_AUTH_ESCHEME:
        return "invalid_credentials";
    default:
        return "invalid_token";
    }
}

/* ---------- base64url without padding; decoding is strict (one encoding per token) ---------- */

static size_t b64url_encode(const uint8_t *in, size_t n, char *out)
{
    return eco_b64_encode(in, n, out, ECO_B64_URL | ECO_B64_NOPAD);
}

static long b64url_decode(const char *in, size_t n, uint8_t *out, size_t outcap)
{
    return eco_b64_decode(in, n, out, outcap, ECO_B64_URL | ECO_B64_STRICT);
}

/* ---------- keyring ---------- */

static int kid_ok(const char *s, size_t n)
{
    return eco_is_token(s, n, ECO_AUTH_JWT_KID_MAX);
}

int eco_auth_jwt_keyring_parse(const char *spec, eco_auth_jwt_keyring_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!spec || !*spec)
        return 0;
    const char *p = spec;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', n);
        if (out->n >= ECO_AUTH_JWT_MAX_KEYS) {
            snprintf(err, errlen, "expected at most %d keys", ECO_AUTH_JWT_MAX_KEYS);
            goto fail;
        }
        if (!colon || !kid_ok(p, (size_t)(colon - p))) {
            snprintf(err, errlen, "expected kid:secret pairs separated by commas (kid: 1-%d of [A-Za-z0-9._-])",
                     ECO_AUTH_JWT_KID_MAX);
            goto fail;
        }
        size_t klen = (size_t)(colon - p), slen = n - klen - 1;
        if (slen < ECO_AUTH_JWT_SECRET_MIN || slen > ECO_AUTH_JWT_SECRET_MAX) {
            snprintf(err, errlen, "secret of key \"%.*s\" must be %d-%d bytes long", (int)klen, p,
                     ECO_AUTH_JWT_SECRET_MIN, ECO_AUTH_JWT_SECRET_MAX);
            goto fail;
        }
        for (size_t i = 0; i < out->n; i++)
            if (strlen(out->keys[i].kid) == klen && memcmp(out->keys[i].kid, p, klen) == 0) {
                snprintf(err, errlen, "duplicate kid \"%.*s\"", (int)klen, p);
                goto fail;
            }
        eco_auth_jwt_key_t *k = &out->keys[out->n++];
        memcpy(k->kid, p, klen);
        memcpy(k->secret, colon + 1, slen);
        k->secret_len = slen;
        if (!end)
            break;
        p = end + 1;
        if (!*p) {
            snprintf(err, errlen, "trailing comma");
            goto fail;
        }
    }
    return 0;
fail:
    eco_auth_jwt_keyring_wipe(out);
    return ECO_EINVAL;
}

void eco_auth_jwt_keyring_wipe(eco_auth_jwt_keyring_t *kr)
{
    OPENSSL_cleanse(kr, sizeof(*kr));
    kr->n = 0;
}

/* ---------- sign ---------- */

static int hmac(const eco_auth_jwt_key_t *k, const char *msg, size_t n, uint8_t mac[32])
{
    unsigned int len = 0;
    if (!HMAC(EVP_sha256(), k->secret, (int)k->secret_len, (const unsigned char *)msg, n, mac, &len) || len != 32)
        return ECO_EIO;
    return 0;
}

int eco_auth_jwt_sign(const eco_auth_jwt_keyring_t *kr, const char *iss, const eco_auth_jwt_claims_t *c, char *out,
                      size_t outlen)
{
    if (!kr || kr->n == 0 || !c->sub[0] || !c->jti[0] || !c->aud[0] || c->role == ECO_ROLE_NONE || c->exp <= c->iat)
        return ECO_EINVAL;
    const eco_auth_jwt_key_t *k = &kr->keys[0];
    json_t *hdr = json_pack("{s:s, s:s, s:s}", "alg", "HS256", "typ", "JWT", "kid", k->kid);
    json_t *pl =
        json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "iss", iss, "sub", c->sub, "aud", c->aud, "role",
                  eco_auth_role_name(c->role), "iat", (json_int_t)c->iat, "exp", (json_int_t)c->exp, "jti", c->jti);
    if (!hdr || !pl)
        eco_fatal("json_pack failed");
    char *hs = json_dumps(hdr, JSON_COMPACT | JSON_PRESERVE_ORDER);
    char *ps = json_dumps(pl, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(hdr);
    json_decref(pl);
    if (!hs || !ps)
        eco_fatal("json_dumps failed");
    size_t hl = strlen(hs), pll = strlen(ps);
    size_t need = (hl + 2) / 3 * 4 + 1 + (pll + 2) / 3 * 4 + 1 + 43 + 1;
    int rc = 0;
    if (need > outlen || need > ECO_AUTH_JWT_MAX_LEN) {
        rc = ECO_ENOSPC;
        goto done;
    }
    size_t o = b64url_encode((const uint8_t *)hs, hl, out);
    out[o++] = '.';
    o += b64url_encode((const uint8_t *)ps, pll, out + o);
    uint8_t mac[32];
    if ((rc = hmac(k, out, o, mac)) != 0)
        goto done;
    out[o++] = '.';
    b64url_encode(mac, sizeof(mac), out + o);
    OPENSSL_cleanse(mac, sizeof(mac));
done:
    free(hs);
    free(ps);
    return rc;
}

/* ---------- verify ---------- */

static json_t *decode_json(const char *b64, size_t n)
{
    uint8_t buf[ECO_AUTH_JWT_MAX_LEN];
    long len = b64url_decode(b64, n, buf, sizeof(buf));
    if (len <= 0)
        return NULL;
    json_error_t je;
    json_t *j = json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, &je);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static int check_header(const eco_auth_jwt_keyring_t *kr, json_t *h, const eco_auth_jwt_key_t **key)
{
    json_t *alg = json_object_get(h, "alg"), *typ = json_object_get(h, "typ"), *kid = json_object_get(h, "kid");
    if (!json_is_string(alg) || strcmp(json_string_value(alg), "HS256") != 0)
        return ECO_AUTH_EALG;
    if (typ && (!json_is_string(typ) || strcmp(json_string_value(typ), "JWT") != 0))
        return ECO_AUTH_EALG;
    if (json_object_get(h, "crit") || json_object_get(h, "jku") || json_object_get(h, "jwk") ||
        json_object_get(h, "x5u"))
        return ECO_AUTH_EALG;
    if (!json_is_string(kid))
        return ECO_AUTH_EKID;
    for (size_t i = 0; i < kr->n; i++)
        if (strcmp(kr->keys[i].kid, json_string_value(kid)) == 0) {
            *key = &kr->keys[i];
            return 0;
        }
    return ECO_AUTH_EKID;
}

static int copy_str(json_t *o, const char *name, char *dst, size_t cap)
{
    json_t *v = json_object_get(o, name);
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) >= cap)
        return -1;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return strlen(dst) == json_string_length(v) ? 0 : -1; /* no embedded NUL */
}

static int aud_matches(json_t *a, const char *aud)
{
    if (json_is_string(a))
        return strcmp(json_string_value(a), aud) == 0;
    if (!json_is_array(a))
        return 0;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) if (json_is_string(v) && strcmp(json_string_value(v), aud) == 0) return 1;
    return 0;
}

static int check_claims(json_t *p, const char *iss, const char *aud, int64_t now, int64_t leeway,
                        eco_auth_jwt_claims_t *out)
{
    json_t *exp = json_object_get(p, "exp"), *iat = json_object_get(p, "iat"), *nbf = json_object_get(p, "nbf");
    json_t *jiss = json_object_get(p, "iss"), *jaud = json_object_get(p, "aud");
    if (!json_is_integer(exp) || !json_is_integer(iat) || (nbf && !json_is_integer(nbf)))
        return ECO_AUTH_EMALFORMED;
    if (!json_is_string(jiss) || strcmp(json_string_value(jiss), iss) != 0 || !aud_matches(jaud, aud))
        return ECO_AUTH_EAUD;
    char role[16];
    if (copy_str(p, "sub", out->sub, sizeof(out->sub)) || copy_str(p, "jti", out->jti, sizeof(out->jti)) ||
        copy_str(p, "role", role, sizeof(role)))
        return ECO_AUTH_EMALFORMED;
    out->role = eco_auth_role_parse(role);
    if (out->role == ECO_ROLE_NONE)
        return ECO_AUTH_EMALFORMED;
    out->exp = json_integer_value(exp);
    out->iat = json_integer_value(iat);
    snprintf(out->aud, sizeof(out->aud), "%s", aud);
    if (out->exp <= now - leeway)
        return ECO_AUTH_EEXPIRED;
    if (out->iat > now + leeway || (nbf && json_integer_value(nbf) > now + leeway))
        return ECO_AUTH_ENOTYET;
    return 0;
}

int eco_auth_jwt_verify(const eco_auth_jwt_keyring_t *kr, const char *token, size_t len, const char *iss,
                        const char *aud, int64_t now, int64_t leeway, eco_auth_jwt_claims_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!token || len < 5 || len > ECO_AUTH_JWT_MAX_LEN || memchr(token, '\0', len))
        return ECO_AUTH_EMALFORMED;
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)) || d1 == token || d2 == d1 + 1 ||
        d2 + 1 == token + len)
        return ECO_AUTH_EMALFORMED;
    json_t *h = decode_json(token, (size_t)(d1 - token));
    if (!h)
        return ECO_AUTH_EMALFORMED;
    const eco_auth_jwt_key_t *key = NULL;
    int rc = check_header(kr, h, &key);
    json_decref(h);
    if (rc)
        return rc;

    uint8_t sig[64], mac[32];
    long slen = b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - token), sig, sizeof(sig));
    if (slen != 32)
        return ECO_AUTH_ESIG;
    if (hmac(key, token, (size_t)(d2 - token), mac) != 0)
        return ECO_AUTH_ESIG;
    int same = CRYPTO_memcmp(sig, mac, 32) == 0;
    OPENSSL_cleanse(mac, sizeof(mac));
    if (!same)
        return ECO_AUTH_ESIG;

    json_t *p = decode_json(d1 + 1, (size_t)(d2 - d1 - 1));
    if (!p)
        return ECO_AUTH_EMALFORMED;
    rc = check_claims(p, iss, aud, now, leeway, out);
    json_decref(p);
    if (rc)
        memset(out, 0, sizeof(*out));
    return rc;
}
