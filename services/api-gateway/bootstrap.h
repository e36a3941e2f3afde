/* The bootstrap admin account (ARCHITECTURE §1): created once if no admin exists. */
#ifndef API_BOOTSTRAP_H
#define API_BOOTSTRAP_H

#include <stdint.h>

typedef struct {
    const char *pg_url;
    const char *email; /* "" = nothing to do */
    const char *password;
    uint32_t argon2_m_kib, argon2_t;
} bootstrap_opts_t;

/* Idempotent: inserts the admin only when no active admin exists. 0 or negative (logged). */
int bootstrap_admin(const bootstrap_opts_t *o);

/* Creates an API key for the active user with that email (role of the user), writes the secret
 * to out_path (mode of the umask; NULL = stdout) and stores only its SHA-256. 0 or negative. */
int bootstrap_create_key(const char *pg_url, const char *owner_email, const char *name, const char *out_path);

#endif
