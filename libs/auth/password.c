/* argon2id password hashing and verification (libargon2), PHC string format. */
#include "eco_auth.h"

#include <argon2.h>
#include <string.h>

static int params_ok(uint32_t m, uint32_t t, uint32_t p)
{
    return p >= 1 && p <= ECO_AUTH_ARGON2_MAX_P && t >= 1 && t <= ECO_AUTH_ARGON2_MAX_T && m >= 8 * p &&
           m <= ECO_AUTH_ARGON2_MAX_M_KIB;
}

/* Reads a decimal uint32 at *s, advancing it; -1 when there is none or it overflows. */
static int read_u32(const char **s, uint32_t *out)
{
    const char *p = *s;
    uint64_t v = 0;
    if (*p < '0' || *p > '9' || (*p == '0' && p[1] >= '0' && p[1] <= '9'))
        return -1;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (uint64_t)(*p++ - '0');
        if (v > UINT32_MAX)
            return -1;
    }
    *out = (uint32_t)v;
    *s = p;
    return 0;
}

static int is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* Parses "$argon2id$v=19$m=M,t=T,p=P$SALT$HASH" strictly enough to bound the work verify does
 * before libargon2 decodes it again. Salt at least 8 bytes (11 chars), hash 16..64 bytes. */
static int parse_phc(const char *phc, eco_auth_argon2_params_t *out)
{
    static const char prefix[] = "$argon2id$v=19$m=";
    if (!phc || strnlen(phc, ECO_AUTH_PASSWORD_HASH_MAX * 4) >= ECO_AUTH_PASSWORD_HASH_MAX * 4 ||
        strncmp(phc, prefix, sizeof(prefix) - 1) != 0)
        return ECO_EINVAL;
    const char *s = phc + sizeof(prefix) - 1;
    uint32_t m, t, p;
    if (read_u32(&s, &m) || strncmp(s, ",t=", 3) || (s += 3, read_u32(&s, &t)) || strncmp(s, ",p=", 3) ||
        (s += 3, read_u32(&s, &p)) || *s != '$')
        return ECO_EINVAL;
    if (!params_ok(m, t, p))
        return ECO_EINVAL;
    const char *salt = ++s;
    while (is_b64(*s))
        s++;
    size_t salt_chars = (size_t)(s - salt);
    if (*s != '$')
        return ECO_EINVAL;
    const char *hash = ++s;
    while (is_b64(*s))
        s++;
    size_t hash_chars = (size_t)(s - hash);
    if (*s != '\0' || salt_chars < 11 || salt_chars > 86 || hash_chars < 22 || hash_chars > 86)
        return ECO_EINVAL;
    out->m_cost_kib = m;
    out->t_cost = t;
    out->parallelism = p;
    return 0;
}

int eco_auth_password_hash(const char *password, size_t len, const eco_auth_argon2_params_t *params, char *out,
                           size_t outlen)
{
    if (out && outlen)
        out[0] = '\0';
    if ((!password && len) || len > ECO_AUTH_PASSWORD_MAX_LEN || !params || !out ||
        !params_ok(params->m_cost_kib, params->t_cost, params->parallelism))
        return ECO_EINVAL;
    size_t need = argon2_encodedlen(params->t_cost, params->m_cost_kib, params->parallelism, ECO_AUTH_PASSWORD_SALT_LEN,
                                    ECO_AUTH_PASSWORD_HASH_LEN, Argon2_id);
    if (outlen < need)
        return ECO_ENOSPC;
    uint8_t salt[ECO_AUTH_PASSWORD_SALT_LEN];
    eco_random_bytes(salt, sizeof(salt));
    int rc = argon2id_hash_encoded(params->t_cost, params->m_cost_kib, params->parallelism, password, len, salt,
                                   sizeof(salt), ECO_AUTH_PASSWORD_HASH_LEN, out, outlen);
    if (rc == ARGON2_MEMORY_ALLOCATION_ERROR)
        eco_fatal("out of memory hashing a password (m=%u KiB)", params->m_cost_kib);
    if (rc != ARGON2_OK) {
        out[0] = '\0';
        return ECO_EINVAL;
    }
    return 0;
}

int eco_auth_password_verify(const char *phc, const char *password, size_t len)
{
    eco_auth_argon2_params_t p;
    if ((!password && len) || len > ECO_AUTH_PASSWORD_MAX_LEN || parse_phc(phc, &p) != 0)
        return ECO_EINVAL;
    /* libargon2 wants a non-NULL pointer even for an empty password. */
    int rc = argon2id_verify(phc, password ? password : "", len);
    switch (rc) {
    case ARGON2_OK:
        return 0;
    case ARGON2_VERIFY_MISMATCH:
        return ECO_AUTH_EMISMATCH;
    case ARGON2_MEMORY_ALLOCATION_ERROR:
        eco_fatal("out of memory verifying a password (m=%u KiB)", p.m_cost_kib);
    default:
        return ECO_EINVAL;
    }
}

int eco_auth_password_needs_rehash(const char *phc, const eco_auth_argon2_params_t *params)
{
    eco_auth_argon2_params_t p;
    if (!params || parse_phc(phc, &p) != 0)
        return ECO_EINVAL;
    return p.m_cost_kib != params->m_cost_kib || p.t_cost != params->t_cost || p.parallelism != params->parallelism;
}

void eco_auth_password_verify_dummy(const eco_auth_argon2_params_t *params)
{
    static const uint8_t salt[ECO_AUTH_PASSWORD_SALT_LEN] = "eco-dummy-salt!";
    uint8_t out[ECO_AUTH_PASSWORD_HASH_LEN];
    if (!params || !params_ok(params->m_cost_kib, params->t_cost, params->parallelism))
        return;
    if (argon2id_hash_raw(params->t_cost, params->m_cost_kib, params->parallelism, "x", 1, salt, sizeof(salt), out,
                          sizeof(out)) == ARGON2_MEMORY_ALLOCATION_ERROR)
        eco_fatal("out of memory in a dummy password verify");
}
