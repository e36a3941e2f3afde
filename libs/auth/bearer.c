/* "Authorization: Bearer <API key or access token>": the checks every entry point makes before
 * any I/O, with the same codes and messages everywhere (REST at root-gateway, gRPC at
 * ai-service). */
#include "eco_auth.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

__attribute__((format(printf, 3, 4))) static int fail(eco_auth_bearer_t *out, int err, const char *fmt, ...)
{
    out->kind = ECO_AUTH_KIND_NONE;
    out->err = err;
    out->code = eco_auth_code(err);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->message, sizeof(out->message), fmt, ap);
    va_end(ap);
    return err;
}

int eco_auth_bearer_parse(const char *value, size_t len, const eco_auth_jwt_keyring_t *kr, const char *iss,
                          const char *aud, int64_t now, eco_auth_bearer_t *out)
{
    memset(out, 0, sizeof(*out));
    if (!value)
        return fail(out, ECO_AUTH_EMISSING, "send Authorization: Bearer <API key or access token>");
    if (len < 8 || len > ECO_AUTH_JWT_MAX_LEN + 7 || strncasecmp(value, "Bearer ", 7) != 0)
        return fail(out, ECO_AUTH_ESCHEME, "expected Authorization: Bearer <API key or access token>");
    const char *t = value + 7;
    size_t n = len - 7;
    if (eco_auth_apikey_looks_valid(t, n)) {
        out->kind = ECO_AUTH_KIND_API_KEY;
        eco_auth_apikey_hash(t, n, out->key_sha);
        return 0;
    }
    if (!memchr(t, '.', n))
        return fail(out, ECO_AUTH_ESCHEME, "the credential is neither an API key nor an access token");
    eco_auth_jwt_claims_t c;
    int rc = eco_auth_jwt_verify(kr, t, n, iss, aud, now, ECO_AUTH_JWT_LEEWAY_S, &c);
    if (rc == 0 && !eco_auth_is_uuid(c.sub, strlen(c.sub)))
        rc = ECO_AUTH_EMALFORMED;
    if (rc != 0)
        return fail(out, rc, "the access token is not valid (%s)", eco_auth_code(rc));
    out->kind = ECO_AUTH_KIND_JWT;
    out->id.kind = ECO_AUTH_KIND_JWT;
    out->id.role = c.role;
    memcpy(out->id.user_id, c.sub, 37);
    snprintf(out->id.jti, sizeof(out->id.jti), "%s", c.jti);
    out->id.exp = c.exp;
    return 0;
}

void eco_auth_revoked_key(const char *prefix, const eco_auth_identity_t *id, char *out, size_t outlen)
{
    if (id->kind != ECO_AUTH_KIND_JWT || !id->jti[0]) {
        if (outlen)
            out[0] = '\0';
        return;
    }
    snprintf(out, outlen, "%srevoked:{user:%s}:%s", prefix, id->user_id, id->jti);
}
