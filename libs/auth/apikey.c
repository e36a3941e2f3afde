/* API keys: "eco_sk_" + 43 base64url characters (256 random bits); only the SHA-256 is stored. */
#include "eco_auth.h"

#include <openssl/sha.h>
#include <string.h>

void eco_auth_apikey_generate(char secret[ECO_AUTH_APIKEY_LEN + 1], char prefix[ECO_AUTH_APIKEY_PREFIX_LEN + 1],
                              uint8_t sha256[32])
{
    uint8_t raw[32];
    eco_random_bytes(raw, sizeof(raw));
    memcpy(secret, ECO_AUTH_APIKEY_TAG, strlen(ECO_AUTH_APIKEY_TAG));
    char *o = secret + strlen(ECO_AUTH_APIKEY_TAG);
    /* 32 bytes -> 43 characters without padding. */
    eco_b64_encode(raw, sizeof(raw), o, ECO_B64_URL | ECO_B64_NOPAD);
    memcpy(prefix, secret, ECO_AUTH_APIKEY_PREFIX_LEN);
    prefix[ECO_AUTH_APIKEY_PREFIX_LEN] = '\0';
    eco_auth_apikey_hash(secret, strlen(secret), sha256);
    eco_random_bytes(raw, sizeof(raw)); /* do not leave the secret's bytes on the stack */
}

void eco_auth_apikey_hash(const char *secret, size_t len, uint8_t sha256[32])
{
    SHA256((const unsigned char *)secret, len, sha256);
}

int eco_auth_apikey_looks_valid(const char *s, size_t len)
{
    size_t tag = strlen(ECO_AUTH_APIKEY_TAG);
    if (len != ECO_AUTH_APIKEY_LEN || memcmp(s, ECO_AUTH_APIKEY_TAG, tag) != 0)
        return 0;
    for (size_t i = tag; i < len; i++)
        if (eco_b64_value(s[i], ECO_B64_URL) < 0)
            return 0;
    return 1;
}

/* ---------- refresh tokens: the same shape with their own tag ---------- */

void eco_auth_refresh_generate(char token[ECO_AUTH_REFRESH_LEN + 1], uint8_t sha256[32])
{
    char prefix[ECO_AUTH_APIKEY_PREFIX_LEN + 1];
    eco_auth_apikey_generate(token, prefix, sha256);
    memcpy(token, ECO_AUTH_REFRESH_TAG, strlen(ECO_AUTH_REFRESH_TAG));
    eco_auth_apikey_hash(token, strlen(token), sha256);
}

int eco_auth_refresh_looks_valid(const char *s, size_t len)
{
    size_t tag = strlen(ECO_AUTH_REFRESH_TAG);
    if (len != ECO_AUTH_REFRESH_LEN || memcmp(s, ECO_AUTH_REFRESH_TAG, tag) != 0)
        return 0;
    for (size_t i = tag; i < len; i++)
        if (eco_b64_value(s[i], ECO_B64_URL) < 0)
            return 0;
    return 1;
}
