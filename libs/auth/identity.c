/* The caller identity root-gateway hands to upstreams, and the shared-secret check that lets an
 * upstream believe it. Header values are re-validated on the way in: a bug or a spoof upstream
 * cannot smuggle text into SQL, logs or headers through them. */
#include "eco_auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

int eco_auth_is_uuid(const char *s, size_t len)
{
    if (!s || len != 36)
        return 0;
    for (size_t i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

int eco_auth_secret_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    uint8_t ha[32], hb[32];
    SHA256((const unsigned char *)a, alen, ha);
    SHA256((const unsigned char *)b, blen, hb);
    return CRYPTO_memcmp(ha, hb, 32) == 0 && alen == blen;
}

void eco_auth_identity_headers(const eco_auth_identity_t *id, const char *secret, eco_buf_t *out)
{
    eco_buf_addf(out, "%s: %s\r\n", ECO_AUTH_HDR_SECRET, secret);
    if (id->kind == ECO_AUTH_KIND_NONE)
        return;
    eco_buf_addf(out, "%s: %s\r\n%s: %s\r\n%s: %s\r\n", ECO_AUTH_HDR_KIND,
                 id->kind == ECO_AUTH_KIND_API_KEY ? "api_key" : "jwt", ECO_AUTH_HDR_USER, id->user_id,
                 ECO_AUTH_HDR_ROLE, eco_auth_role_name(id->role));
    if (id->kind == ECO_AUTH_KIND_API_KEY)
        eco_buf_addf(out, "%s: %s\r\n", ECO_AUTH_HDR_KEY, id->key_id);
    else
        eco_buf_addf(out, "%s: %s\r\n%s: %lld\r\n", ECO_AUTH_HDR_JTI, id->jti, ECO_AUTH_HDR_EXP, (long long)id->exp);
}

static int eq(eco_auth_str_t s, const char *lit)
{
    return s.p && s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

/* jti: what eco-base issues (uuid or 32 hex) -- letters, digits and '-' only, bounded. */
static int token_id_ok(eco_auth_str_t s)
{
    if (!s.p || s.len == 0 || s.len >= sizeof(((eco_auth_identity_t *)0)->jti))
        return 0;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'))
            return 0;
    }
    return 1;
}

int eco_auth_identity_parse(eco_auth_str_t kind, eco_auth_str_t user, eco_auth_str_t role, eco_auth_str_t key,
                            eco_auth_str_t jti, eco_auth_str_t exp, eco_auth_identity_t *out)
{
    memset(out, 0, sizeof(*out));
    if (eq(kind, "api_key"))
        out->kind = ECO_AUTH_KIND_API_KEY;
    else if (eq(kind, "jwt"))
        out->kind = ECO_AUTH_KIND_JWT;
    else
        return ECO_EINVAL;
    char rbuf[16];
    if (!role.p || role.len >= sizeof(rbuf))
        return ECO_EINVAL;
    memcpy(rbuf, role.p, role.len);
    rbuf[role.len] = '\0';
    out->role = eco_auth_role_parse(rbuf);
    if (out->role == ECO_ROLE_NONE || !eco_auth_is_uuid(user.p, user.len))
        return ECO_EINVAL;
    memcpy(out->user_id, user.p, 36);
    if (out->kind == ECO_AUTH_KIND_API_KEY) {
        if (!eco_auth_is_uuid(key.p, key.len))
            return ECO_EINVAL;
        memcpy(out->key_id, key.p, 36);
        return 0;
    }
    if (!token_id_ok(jti) || !exp.p || exp.len == 0 || exp.len > 12)
        return ECO_EINVAL;
    memcpy(out->jti, jti.p, jti.len);
    char ebuf[16];
    memcpy(ebuf, exp.p, exp.len);
    ebuf[exp.len] = '\0';
    char *end;
    long long e = strtoll(ebuf, &end, 10);
    if (*end || e <= 0)
        return ECO_EINVAL;
    out->exp = e;
    return 0;
}
