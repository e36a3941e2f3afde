/* api-gateway: users, sessions, API keys, RBAC, platforms, async jobs, .qyaml endpoints; owns the
 * schema migrations (`api-gateway --migrate`). This stage: migrations + bootstrap admin, and the
 * readiness contract (PostgreSQL required; Redis and Kafka reported). */
#include "bootstrap.h"
#include "eco_deps.h"
#include "eco_http.h"
#include "eco_store.h"

#include <string.h>

static const char *pg_url, *redis_url, *kafka, *migrations_dir, *admin_email, *admin_password;
static long argon2_m, argon2_t;

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

int main(int argc, char **argv)
{
    eco_service_opts_t opts = {.name = "api-gateway", .default_http_port = 3000, .specs = specs,
                               .nspecs = ECO_ARRAY_SIZE(specs)};
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
    eco_deps_ready_postgres("postgres", ECO_READY_REQUIRED, pg_url);
    eco_deps_ready_redis("redis", ECO_READY_INFO, redis_url);
    eco_deps_ready_kafka("kafka", ECO_READY_INFO, kafka);
    return eco_service_run(svc);
}
