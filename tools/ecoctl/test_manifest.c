/* Unit tests for the manifest: schema, dependency order, cycles, expansion, port offsets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.c"
#include "expand.c"

static char err[1024];

static ecoctl_manifest_t *parse_ok(const char *yaml)
{
    ecoctl_manifest_t *m = NULL;
    err[0] = '\0';
    int rc = ecoctl_manifest_parse(yaml, strlen(yaml), "t.yaml", &m, err, sizeof(err));
    if (rc != 0)
        fail_msg("parse failed: %s", err);
    return m;
}

/* Parses and expects failure with msg somewhere in the error. */
static void parse_fails(const char *yaml, const char *msg)
{
    ecoctl_manifest_t *m = NULL;
    err[0] = '\0';
    assert_int_not_equal(ecoctl_manifest_parse(yaml, strlen(yaml), "t.yaml", &m, err, sizeof(err)), 0);
    assert_null(m);
    if (!strstr(err, msg))
        fail_msg("expected \"%s\" in \"%s\"", msg, err);
}

static const char *order_names(const ecoctl_manifest_t *m, const char **want, size_t nwant)
{
    static char out[512];
    size_t idx[ECOCTL_MAX_SERVICES], order[ECOCTL_MAX_SERVICES], n;
    for (size_t i = 0; i < nwant; i++)
        idx[i] = (size_t)ecoctl_manifest_find(m, want[i]);
    assert_int_equal(ecoctl_topo_order(m, nwant ? idx : NULL, nwant, order, &n, err, sizeof(err)), 0);
    out[0] = '\0';
    for (size_t k = 0; k < n; k++) {
        strcat(out, k ? " " : "");
        strcat(out, m->svcs[order[k]].name);
    }
    return out;
}

static const char graph[] = "services:\n"
                            "  web: {command: [w], depends_on: [api, db]}\n"
                            "  api: {command: [a], depends_on: [db, cache]}\n"
                            "  db: {command: [d]}\n"
                            "  cache: {command: [c]}\n"
                            "  worker: {command: [k], depends_on: [db]}\n";

static void test_topo_order(void **state)
{
    (void)state;
    ecoctl_manifest_t *m = parse_ok(graph);
    assert_string_equal(order_names(m, NULL, 0), "db cache api web worker");
    const char *api[] = {"api"};
    assert_string_equal(order_names(m, api, 1), "db cache api");
    const char *two[] = {"worker", "cache"};
    assert_string_equal(order_names(m, two, 2), "db cache worker");
    ecoctl_manifest_free(m);
}

static void test_cycle(void **state)
{
    (void)state;
    parse_fails("services:\n"
                "  a: {command: [x], depends_on: [b]}\n"
                "  b: {command: [x], depends_on: [c]}\n"
                "  c: {command: [x], depends_on: [a]}\n",
                "dependency cycle: a -> b -> c -> a");
    parse_fails("services:\n"
                "  ok: {command: [x]}\n"
                "  self: {command: [x], depends_on: [ok, self]}\n",
                "dependency cycle: self -> self");
    /* a cycle reached from an acyclic part is still named from where it closes */
    parse_fails("services:\n"
                "  top: {command: [x], depends_on: [p]}\n"
                "  p: {command: [x], depends_on: [q]}\n"
                "  q: {command: [x], depends_on: [p]}\n",
                "p -> q -> p");
}

static void test_unknown_dependency(void **state)
{
    (void)state;
    parse_fails("services:\n  a: {command: [x], depends_on: [nope]}\n",
                "t.yaml:2: service a depends on unknown service \"nope\"");
    parse_fails("services:\n  a: {command: [x]}\n  b: {command: [x], depends_on: [a, a]}\n", "twice");
}

static void test_schema_errors(void **state)
{
    (void)state;
    parse_fails("services:\n  a: {command: [x], comand: [y]}\n", "unknown key \"comand\"");
    parse_fails("services:\n  a: {ports: {http: 80}}\n", "\"command\" is required");
    parse_fails("services:\n  a: {command: [x], init: [y]}\n", "needs \"creates\"");
    parse_fails("services:\n  a: {command: [x], stop_signal: NOPE}\n", "stop_signal");
    parse_fails("services:\n  a: {command: [x], ports: {http: 70000}}\n", "1-65535");
    parse_fails("services:\n  a: {command: [x], critical: maybe}\n", "true or false");
    parse_fails("services:\n  a: {command: [x], health: {http: u, tcp: t}}\n", "exactly one");
    parse_fails("services:\n  Bad: {command: [x]}\n", "service name");
    parse_fails("services:\n  a: {command: []}\n", "empty list");
    parse_fails("services:\n  a: {command: [x]\n", "YAML error");
    parse_fails("nothing: here\n", "unknown top-level key");
    parse_fails("services:\n  a: {command: [x], env: {1BAD: v}}\n", "not a valid variable name");
}

static void test_defaults_and_shell_form(void **state)
{
    (void)state;
    ecoctl_manifest_t *m = parse_ok("x-note: ignored\n"
                                    "services:\n"
                                    "  a:\n"
                                    "    command: echo hi && sleep 1\n"
                                    "    x-extra: [1, 2]\n"
                                    "  b:\n"
                                    "    command: [b]\n"
                                    "    critical: false\n"
                                    "    stop_signal: SIGINT\n"
                                    "    stop_grace_ms: 1500\n"
                                    "    health: {tcp: \"127.0.0.1:1\", interval_ms: 20, start_timeout_ms: 900}\n");
    ecoctl_svc_t *a = &m->svcs[0], *b = &m->svcs[1];
    assert_int_equal(a->command.n, 3);
    assert_string_equal(a->command.v[0], "/bin/sh");
    assert_string_equal(a->command.v[1], "-c");
    assert_string_equal(a->command.v[2], "echo hi && sleep 1");
    assert_null(a->command.v[3]);
    assert_int_equal(a->critical, 1);
    assert_int_equal(a->stop_signal, SIGTERM);
    assert_int_equal(a->stop_grace_ms, 10000);
    assert_int_equal(a->health.kind, ECOCTL_HC_NONE);
    assert_int_equal(b->critical, 0);
    assert_int_equal(b->stop_signal, SIGINT);
    assert_int_equal(b->stop_grace_ms, 1500);
    assert_int_equal(b->health.kind, ECOCTL_HC_TCP);
    assert_int_equal(b->health.interval_ms, 20);
    assert_int_equal(b->health.start_timeout_ms, 900);
    assert_int_equal(b->health.attempt_timeout_ms, 2000);
    ecoctl_manifest_free(m);
}

static const char expand_yaml[] =
    "env:\n"
    "  SHARED: top\n"
    "  OVERRIDE: top\n"
    "services:\n"
    "  db:\n"
    "    ports: {postgres: 5432}\n"
    "    command: [postgres, -p, \"${PORT}\", -D, \"${DATA}\"]\n"
    "  web:\n"
    "    depends_on: [db]\n"
    "    ports: {grpc: 50051, http: 8000}\n"
    "    command: [\"${BIN}/web\", \"--root=${ROOT}\", \"--run=${RUN_DIR}\", \"--tools=${TOOLS}\"]\n"
    "    env:\n"
    "      OVERRIDE: mine\n"
    "      DB: postgresql://eco@127.0.0.1:${port:db.postgres}/eco\n"
    "      GRPC: ${port:grpc}\n"
    "      HOME_VAR: ${env:ECOCTL_TEST_VAR}\n"
    "      DEFAULTED: ${env:ECOCTL_TEST_UNSET:-fallback}\n"
    "      COST: $$5 and $PATH stays\n"
    "    health: {http: \"http://127.0.0.1:${PORT}/health\"}\n"
    "    creates: ${DATA}/marker\n"
    "    init: [init]\n";

static char *fake_data_dir(void *ud, const ecoctl_svc_t *s)
{
    (void)ud;
    if (strcmp(s->name, "db") != 0)
        return NULL;
    return eco_strdup("/var/tmp/elsewhere/db");
}

static const ecoctl_ctx_t base_ctx = {
    .root = "/repo", .run_dir = "/repo/.run", .tools = "/repo/.tools", .bin = "/repo/build/bin"};

static const char *env_of(const ecoctl_svc_t *s, const char *key)
{
    for (size_t i = 0; i < s->env.n; i++)
        if (!strcmp(s->env.v[i].key, key))
            return s->env.v[i].val;
    return NULL;
}

static void test_expansion(void **state)
{
    (void)state;
    setenv("ECOCTL_TEST_VAR", "from-env", 1);
    unsetenv("ECOCTL_TEST_UNSET");
    ecoctl_manifest_t *m = parse_ok(expand_yaml);
    ecoctl_ctx_t ctx = base_ctx;
    ctx.data_dir = fake_data_dir;
    assert_int_equal(ecoctl_manifest_resolve(m, &ctx, err, sizeof(err)), 0);
    ecoctl_svc_t *db = &m->svcs[0], *web = &m->svcs[1];
    assert_string_equal(db->command.v[2], "5432"); /* ${PORT}: the first port when none is "http" */
    assert_string_equal(db->command.v[4], "/var/tmp/elsewhere/db");
    assert_true(db->uses_data);
    assert_string_equal(web->command.v[0], "/repo/build/bin/web");
    assert_string_equal(web->command.v[1], "--root=/repo");
    assert_string_equal(web->command.v[2], "--run=/repo/.run");
    assert_string_equal(web->command.v[3], "--tools=/repo/.tools");
    assert_string_equal(web->health.target, "http://127.0.0.1:8000/health"); /* the "http" port */
    assert_string_equal(web->creates, "/repo/.run/data/web/marker");
    assert_string_equal(env_of(web, "DB"), "postgresql://eco@127.0.0.1:5432/eco");
    assert_string_equal(env_of(web, "GRPC"), "50051");
    assert_string_equal(env_of(web, "HOME_VAR"), "from-env");
    assert_string_equal(env_of(web, "DEFAULTED"), "fallback");
    assert_string_equal(env_of(web, "COST"), "$5 and $PATH stays");
    assert_string_equal(env_of(web, "SHARED"), "top");
    assert_string_equal(env_of(web, "OVERRIDE"), "mine");
    assert_string_equal(env_of(db, "OVERRIDE"), "top");
    ecoctl_manifest_free(m);
}

static void expand_fails(const char *in, const char *msg)
{
    ecoctl_manifest_t *m = parse_ok(expand_yaml);
    setenv("ECOCTL_TEST_VAR", "x", 1);
    assert_int_equal(ecoctl_manifest_resolve(m, &base_ctx, err, sizeof(err)), 0);
    char *out = NULL;
    assert_int_not_equal(ecoctl_expand(m, &m->svcs[1], &base_ctx, in, &out, err, sizeof(err)), 0);
    assert_null(out);
    if (!strstr(err, msg))
        fail_msg("expected \"%s\" in \"%s\"", msg, err);
    ecoctl_manifest_free(m);
}

static void test_expansion_errors(void **state)
{
    (void)state;
    unsetenv("ECOCTL_TEST_UNSET");
    expand_fails("${NOPE}", "unknown variable ${NOPE}");
    expand_fails("${root}", "unknown variable ${root}");
    expand_fails("${port:ghost.http}", "no service called \"ghost\"");
    expand_fails("${port:db.http}", "service db has no port called \"http\"");
    expand_fails("${port:nope}", "service web has no port called \"nope\"");
    expand_fails("${env:ECOCTL_TEST_UNSET}", "ECOCTL_TEST_UNSET is not set");
    expand_fails("abc ${ROOT", "unterminated");
    /* An unknown variable anywhere in the manifest fails resolve. */
    ecoctl_manifest_t *m = parse_ok("services:\n  a: {command: [\"${WHAT}\"]}\n");
    assert_int_not_equal(ecoctl_manifest_resolve(m, &base_ctx, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "unknown variable ${WHAT}"));
    ecoctl_manifest_free(m);
    m = parse_ok("services:\n  a: {command: [\"${PORT}\"]}\n");
    assert_int_not_equal(ecoctl_manifest_resolve(m, &base_ctx, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "declares no ports"));
    ecoctl_manifest_free(m);
}

static void test_port_offset(void **state)
{
    (void)state;
    setenv("ECOCTL_TEST_VAR", "x", 1);
    ecoctl_manifest_t *m = parse_ok(expand_yaml);
    ecoctl_ctx_t ctx = base_ctx;
    ctx.port_offset = 100;
    assert_int_equal(ecoctl_manifest_resolve(m, &ctx, err, sizeof(err)), 0);
    ecoctl_svc_t *db = &m->svcs[0], *web = &m->svcs[1];
    assert_int_equal(db->ports[0].declared, 5432);
    assert_int_equal(db->ports[0].port, 5532);
    assert_int_equal(ecoctl_svc_main_port(web), 8100);
    assert_string_equal(db->command.v[2], "5532");
    assert_string_equal(env_of(web, "DB"), "postgresql://eco@127.0.0.1:5532/eco");
    assert_string_equal(env_of(web, "GRPC"), "50151");
    assert_string_equal(web->health.target, "http://127.0.0.1:8100/health");
    ecoctl_manifest_free(m);

    m = parse_ok(expand_yaml);
    ctx.port_offset = 20000; /* 50051 + 20000 > 65535 */
    assert_int_not_equal(ecoctl_manifest_resolve(m, &ctx, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "web.grpc at 70051"));
    ecoctl_manifest_free(m);

    m = parse_ok(expand_yaml);
    ctx.port_offset = -5432; /* db.postgres would be port 0 */
    assert_int_not_equal(ecoctl_manifest_resolve(m, &ctx, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "db.postgres at 0"));
    ecoctl_manifest_free(m);

    m = parse_ok("services:\n  a: {command: [x], ports: {http: 80}}\n  b: {command: [x], ports: {x: 80}}\n");
    assert_int_not_equal(ecoctl_manifest_resolve(m, &base_ctx, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "port 80 is declared twice: a.http and b.x"));
    ecoctl_manifest_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topo_order),
        cmocka_unit_test(test_cycle),
        cmocka_unit_test(test_unknown_dependency),
        cmocka_unit_test(test_schema_errors),
        cmocka_unit_test(test_defaults_and_shell_form),
        cmocka_unit_test(test_expansion),
        cmocka_unit_test(test_expansion_errors),
        cmocka_unit_test(test_port_offset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
