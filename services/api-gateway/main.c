/* api-gateway: users, sessions, API keys, RBAC, platforms, async jobs, .qyaml endpoints; owns the
 * schema migrations (`api-gateway --migrate`). This stage: migrations + bootstrap admin, the
 * readiness contract (PostgreSQL required; Redis and Kafka reported), and identity: sign-up,
 * login/refresh/logout, API keys, users and the audit trail (see app.h for the threading). */
#include "app.h"
#include "bootstrap.h"
#include "eco_deps.h"
#include "eco_http.h"
#include "eco_store.h"

#include <string.h>

static const char *pg_url, *redis_url, *kafka, *migrations_dir, *admin_email, *admin_password, *jwt_keys;
static long argon2_m, argon2_t, access_ttl_ms, refresh_ttl_ms, login_window_ms, db_workers, db_queue;
static long redis_timeout_ms;

static const eco_cfg_spec_t specs[] = {
    ECO_DEPS_SPEC_POSTGRES(&pg_url),
    ECO_DEPS_SPEC_REDIS(&redis_url),
    ECO_DEPS_SPEC_KAFKA(&kafka),
    {"ECO_MIGRATIONS_DIR", ECO_CFG_STR, "/usr/share/eco-base/migrations", 0, 0, NULL,
     "directory of the versioned SQL migrations", &migrations_dir},
    {"ECO_BOOTSTRAP_ADMIN_EMAIL", ECO_CFG_STR, "", 0, 0, NULL, "creates this admin account if no admin exists",
     &admin_email},
    {"ECO_BOOTSTRAP_ADMIN_PASSWORD", ECO_CFG_STR, "", 0, 0, NULL, "password of the bootstrap admin (min 12 chars)",
     &admin_password},
    {"ECO_ARGON2_MEMORY_KIB", ECO_CFG_INT, "65536", 8, 4194304, NULL, "argon2id memory cost in KiB", &argon2_m},
    {"ECO_ARGON2_ITERATIONS", ECO_CFG_INT, "3", 1, 100, NULL, "argon2id time cost", &argon2_t},
    {"ECO_JWT_KEYS", ECO_CFG_STR, "", 0, 0, NULL,
     "access-token keys \"kid:secret,...\" (secrets >= 32 bytes): api-gateway signs with the first, both "
     "gateways verify with all; empty: no sessions",
     &jwt_keys},
    {"ECO_JWT_ISSUER", ECO_CFG_STR, "eco-base", 0, 0, NULL, "iss of access tokens", &app.issuer},
    {"ECO_JWT_AUDIENCE", ECO_CFG_STR, "eco-base", 0, 0, NULL, "aud of access tokens", &app.audience},
    {"ECO_ACCESS_TOKEN_TTL_MS", ECO_CFG_MS, "900000", 60000, 86400000, NULL, "lifetime of access tokens",
     &access_ttl_ms},
    {"ECO_REFRESH_TOKEN_TTL_MS", ECO_CFG_MS, "2592000000", 60000, 31622400000L, NULL,
     "lifetime of a refresh token (each refresh issues a new one)", &refresh_ttl_ms},
    {"ECO_INTERNAL_SECRET", ECO_CFG_STR, "", 0, 0, NULL,
     "shared by root-gateway and its upstreams (>= 32 bytes): x-eco-* identity headers are sent and believed "
     "only with it; empty: none (root-gateway forwards Authorization instead)",
     &app.internal_secret},
    {"ECO_PASSWORD_MIN_LENGTH", ECO_CFG_INT, "10", 8, 1024, NULL, "shortest password accepted at sign-up",
     &app.password_min},
    {"ECO_LOGIN_MAX_FAILURES", ECO_CFG_INT, "5", 1, 1000000, NULL,
     "failed logins per account within ECO_LOGIN_FAILURE_WINDOW_MS before 429", &app.login_max_account},
    {"ECO_LOGIN_MAX_FAILURES_PER_IP", ECO_CFG_INT, "50", 1, 1000000, NULL,
     "failed logins per client IP within the window before 429", &app.login_max_ip},
    {"ECO_LOGIN_FAILURE_WINDOW_MS", ECO_CFG_MS, "900000", 60000, 86400000, NULL,
     "sliding window of the failed-login limits", &login_window_ms},
    ECO_DEPS_SPEC_DB_WORKERS(&db_workers),
    ECO_DEPS_SPEC_DB_QUEUE(&db_queue),
    ECO_DEPS_SPEC_REDIS_TIMEOUT(&redis_timeout_ms),
    ECO_DEPS_SPEC_REDIS_PREFIX(&app.kv_prefix),
    {"ECO_DEFAULT_RPM", ECO_CFG_INT, "600", 1, 1000000000, NULL,
     "requests per minute of keys and users without their own limit", &app.default_rpm},
    {"ECO_DEFAULT_TPM", ECO_CFG_INT, "200000", 1, 1000000000, NULL,
     "tokens per minute of keys and users without their own limit", &app.default_tpm},
};

static int has_flag(int argc, char **argv, const char *flag)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], flag) == 0)
            return 1;
    return 0;
}

static const char *flag_value(int argc, char **argv, const char *flag)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], flag) == 0)
            return argv[i + 1];
    return NULL;
}

/* --migrate: apply migrations and create the bootstrap admin, then exit (0 ok, 1 failure). */
static int migrate(void)
{
    char err[512];
    if (eco_store_migrate(pg_url, migrations_dir, err, sizeof(err)) != 0) {
        eco_error("migrations failed", ECO_KS("error", err));
        return 1;
    }
    eco_info("migrations applied", ECO_KS("dir", migrations_dir));
    bootstrap_opts_t b = {pg_url, admin_email, admin_password, (uint32_t)argon2_m, (uint32_t)argon2_t};
    return bootstrap_admin(&b) == 0 ? 0 : 1;
}

static int settings_error(const char *var, const char *msg)
{
    fprintf(stderr, "%s: expected %s\n", var, msg);
    return 2;
}

static int serve(eco_service_t *svc)
{
    char err[256];
    if (eco_auth_jwt_keyring_parse(jwt_keys, &app.keys, err, sizeof(err)) != 0)
        return settings_error("ECO_JWT_KEYS", err);
    if (app.internal_secret[0] && strlen(app.internal_secret) < ECO_AUTH_INTERNAL_SECRET_MIN)
        return settings_error("ECO_INTERNAL_SECRET", "at least 32 bytes");
    if (strlen(app.kv_prefix) > 32)
        return settings_error("ECO_REDIS_KEY_PREFIX", "at most 32 characters");
    if (app.keys.n == 0)
        eco_warn("ECO_JWT_KEYS is empty: login and refresh answer 503; API keys still work");
    if (!app.internal_secret[0])
        eco_warn("ECO_INTERNAL_SECRET is empty: identity headers from root-gateway are refused");
    app.svc = svc;
    app.argon2 =
        (eco_auth_argon2_params_t){.m_cost_kib = (uint32_t)argon2_m, .t_cost = (uint32_t)argon2_t, .parallelism = 1};
    app.access_ttl_s = access_ttl_ms / 1000;
    app.refresh_ttl_s = refresh_ttl_ms / 1000;
    static char login_prefix[64], usage_prefix[64];
    snprintf(login_prefix, sizeof(login_prefix), "%slogin:", app.kv_prefix);
    snprintf(usage_prefix, sizeof(usage_prefix), "%srl:", app.kv_prefix);
    app.login_spec = (eco_store_rl_spec_t){login_prefix, login_window_ms, login_window_ms / 60};
    app.usage_spec = (eco_store_rl_spec_t){usage_prefix, 60000, 1000};
    app.login_local = eco_store_rl_local_new(&app.login_spec, 4096);
    eco_store_pool_opts_t po = {.name = "api-gateway",
                                .workers = (size_t)db_workers,
                                .queue_max = (size_t)db_queue,
                                .pg_url = pg_url,
                                .redis_url = redis_url,
                                .redis_timeout_ms = (int)redis_timeout_ms};
    if (eco_store_pool_new(&app.pool, &po, err, sizeof(err)) != 0)
        return settings_error("ECO_REDIS_URL", err);
    app.m_jobs_rejected = eco_metrics_counter("eco_api_jobs_rejected_total",
                                              "Requests refused with 503 because the worker queue was full.", NULL);
    app.m_logins = eco_metrics_counter("eco_api_logins_total", "Login attempts by outcome.", "outcome");
    app_register_routes();
    eco_deps_ready_postgres("postgres", ECO_READY_REQUIRED, pg_url);
    eco_deps_ready_redis("redis", ECO_READY_INFO, redis_url);
    eco_deps_ready_kafka("kafka", ECO_READY_INFO, kafka);
    int rc = eco_service_run(svc);
    eco_store_pool_free(app.pool);
    eco_store_rl_local_free(app.login_local);
    eco_auth_jwt_keyring_wipe(&app.keys);
    return rc;
}

int main(int argc, char **argv)
{
    eco_service_opts_t opts = {
        .name = "api-gateway", .default_http_port = 3000, .specs = specs, .nspecs = ECO_ARRAY_SIZE(specs)};
    eco_service_t *svc = eco_service_new(&opts, argc, argv);
    if ((admin_email[0] != '\0') != (admin_password[0] != '\0')) {
        fprintf(stderr, "ECO_BOOTSTRAP_ADMIN_PASSWORD: expected both ECO_BOOTSTRAP_ADMIN_EMAIL and "
                        "ECO_BOOTSTRAP_ADMIN_PASSWORD, or neither\n");
        return 2;
    }
    if (admin_password[0] && strlen(admin_password) < 12) {
        fprintf(stderr, "ECO_BOOTSTRAP_ADMIN_PASSWORD: expected at least 12 characters\n");
        return 2;
    }
    if (has_flag(argc, argv, "--migrate"))
        return migrate();
    if (has_flag(argc, argv, "--create-key")) {
        /* api-gateway --create-key --owner EMAIL [--name NAME] [--out FILE]: the dev key of `make run`. */
        const char *owner = flag_value(argc, argv, "--owner"), *name = flag_value(argc, argv, "--name");
        if (!owner) {
            fprintf(stderr, "--create-key: expected --owner EMAIL\n");
            return 2;
        }
        return bootstrap_create_key(pg_url, owner, name ? name : "dev", flag_value(argc, argv, "--out")) == 0 ? 0 : 1;
    }
    return serve(svc);
}
