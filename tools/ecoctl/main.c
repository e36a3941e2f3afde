/* ecoctl: the local orchestrator. Command line, paths and dispatch. */
#include "ecoctl.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
    "usage: ecoctl [options] <command> [service...]\n"
    "\n"
    "commands:\n"
    "  up [svc...]       start services (and what they depend on) in dependency order, wait until\n"
    "                    healthy, leave them running; a critical failure rolls back and exits 1\n"
    "  down [svc...]     stop services (default: all) in reverse dependency order\n"
    "  status            table of name, pid, state, ports, health\n"
    "  health            run the health checks; exit 0 iff every running service is healthy\n"
    "  logs [-f] [svc...]  print the log files; -f follows them\n"
    "  run               up, print the endpoints, follow every log until Ctrl-C, then down\n"
    "  clean [svc...]    down, then delete the data (databases!) and logs of services (default: all)\n"
    "  config            print the resolved manifest in start order\n"
    "\n"
    "options (also as environment variables):\n"
    "  -f, --file FILE      manifest (ECO_SERVICES_FILE; default <root>/deploy/local/services.yaml);\n"
    "                       after `logs`, -f means --follow\n"
    "  --root DIR           repo root, ${ROOT} (ECO_ROOT; default: the nearest directory up from\n"
    "                       here that holds deploy/local/services.yaml, else the current one)\n"
    "  --run-dir DIR        logs, PID files, data (ECO_RUN_DIR; default <root>/.run)\n"
    "  --bin-dir DIR        ${BIN} (ECO_BIN_DIR; default <root>/build/bin)\n"
    "  --port-offset N      added to every port (ECO_PORT_OFFSET; default 0)\n"
    "  --color, --no-color  colour the output (default: when stdout is a terminal and NO_COLOR is unset)\n"
    "\n"
    "exit codes: 0 ok, 1 a start, stop or health failure, 2 usage or manifest error\n";

typedef struct {
    const char *file, *root, *run_dir, *bin_dir, *offset, *cmd;
    const char *names[ECOCTL_MAX_SERVICES];
    size_t nnames;
    int follow, color;
} opts_t;

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "ecoctl: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nrun 'ecoctl --help' for usage\n");
    return ECOCTL_EXIT_USAGE;
}

/* Matches "--name VALUE" and "--name=VALUE". */
static int long_opt(int argc, char **argv, int *i, const char *name, const char **out)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *out = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *out = argv[++*i];
    return 1;
}

static int parse_args(int argc, char **argv, opts_t *o)
{
    int rest = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = 0;
        if (!rest && !strcmp(a, "--")) {
            rest = 1;
            continue;
        }
        if (!rest && a[0] == '-') {
            if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
                fputs(usage, stdout);
                exit(0);
            }
            if (!strcmp(a, "--version")) {
                printf("ecoctl %s\n", ECO_VERSION);
                exit(0);
            }
            if ((!strcmp(a, "-f") && o->cmd && !strcmp(o->cmd, "logs")) || !strcmp(a, "--follow")) {
                o->follow = 1;
                continue;
            }
            if (!strcmp(a, "-f")) {
                if (i + 1 >= argc)
                    return usage_error("%s needs a value", a);
                o->file = argv[++i];
                continue;
            }
            if (!strcmp(a, "--color") || !strcmp(a, "--no-color")) {
                o->color = a[2] == 'c' ? 1 : 0;
                continue;
            }
            if ((r = long_opt(argc, argv, &i, "--file", &o->file)) ||
                (r = long_opt(argc, argv, &i, "--root", &o->root)) ||
                (r = long_opt(argc, argv, &i, "--run-dir", &o->run_dir)) ||
                (r = long_opt(argc, argv, &i, "--bin-dir", &o->bin_dir)) ||
                (r = long_opt(argc, argv, &i, "--port-offset", &o->offset))) {
                if (r < 0)
                    return usage_error("%s needs a value", a);
                continue;
            }
            return usage_error("unknown option %s", a);
        }
        if (!o->cmd)
            o->cmd = a;
        else if (o->nnames < ECOCTL_MAX_SERVICES)
            o->names[o->nnames++] = a;
        else
            return usage_error("too many service names%s", "");
    }
    if (!o->cmd)
        return usage_error("no command given%s", "");
    static const char *cmds[] = {"up", "down", "status", "health", "logs", "run", "config", "clean"};
    for (size_t i = 0; i < ECO_ARRAY_SIZE(cmds); i++)
        if (!strcmp(o->cmd, cmds[i]))
            return 0;
    return usage_error("unknown command \"%s\"", o->cmd);
}

/* An absolute, canonical (when it exists) version of path. Caller frees. */
static char *absolute(const char *path)
{
    char buf[PATH_MAX];
    if (realpath(path, buf))
        return eco_strdup(buf);
    if (path[0] == '/')
        return eco_strdup(path);
    if (!getcwd(buf, sizeof(buf)))
        eco_fatal("getcwd: %s", strerror(errno));
    eco_buf_t b;
    eco_buf_init(&b, 0);
    eco_buf_addf(&b, "%s/%s", buf, path);
    return eco_buf_detach(&b, NULL);
}

static char *joined(const char *a, const char *b)
{
    eco_buf_t buf;
    eco_buf_init(&buf, 0);
    eco_buf_addf(&buf, "%s/%s", a, b);
    return eco_buf_detach(&buf, NULL);
}

static const char *pick(const char *opt, const char *env)
{
    const char *v = getenv(env);
    return opt ? opt : (v && *v ? v : NULL);
}

/* The repo root: --root/ECO_ROOT; else the nearest directory up from here holding
 * deploy/local/services.yaml; else the current directory. */
static char *find_root(const char *given)
{
    if (given)
        return absolute(given);
    char dir[PATH_MAX];
    if (!getcwd(dir, sizeof(dir)))
        eco_fatal("getcwd: %s", strerror(errno));
    for (;;) {
        char probe[PATH_MAX + 64];
        snprintf(probe, sizeof(probe), "%s/deploy/local/services.yaml", dir);
        if (access(probe, R_OK) == 0)
            return eco_strdup(dir);
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir)
            break;
        *slash = '\0';
    }
    return absolute(".");
}

static int setup(ecoctl_rt_t *rt, const opts_t *o)
{
    char err[1024];
    rt->root = find_root(pick(o->root, "ECO_ROOT"));
    const char *f = pick(o->file, "ECO_SERVICES_FILE");
    rt->manifest_path = f ? absolute(f) : joined(rt->root, "deploy/local/services.yaml");
    const char *rd = pick(o->run_dir, "ECO_RUN_DIR"), *bd = pick(o->bin_dir, "ECO_BIN_DIR");
    rt->run_dir = rd ? absolute(rd) : joined(rt->root, ".run");
    rt->bin = bd ? absolute(bd) : joined(rt->root, "build/bin");
    rt->tools = joined(rt->root, ".tools");
    const char *off = pick(o->offset, "ECO_PORT_OFFSET");
    if (off) {
        char *end;
        errno = 0;
        rt->port_offset = strtol(off, &end, 10);
        if (!*off || *end || errno || rt->port_offset < -65535 || rt->port_offset > 65535)
            return usage_error("port offset must be an integer, got \"%s\"", off);
    }
    if (ecoctl_manifest_load(rt->manifest_path, &rt->m, err, sizeof(err)) != 0) {
        fprintf(stderr, "ecoctl: %s\n", err);
        return ECOCTL_EXIT_USAGE;
    }
    rt->ctx = (ecoctl_ctx_t){.root = rt->root,
                             .run_dir = rt->run_dir,
                             .tools = rt->tools,
                             .bin = rt->bin,
                             .port_offset = rt->port_offset,
                             .data_dir = ecoctl_data_dir_cb,
                             .ud = rt};
    if (ecoctl_manifest_resolve(rt->m, &rt->ctx, err, sizeof(err)) != 0) {
        fprintf(stderr, "ecoctl: %s: %s\n", rt->manifest_path, err);
        return ECOCTL_EXIT_USAGE;
    }
    return 0;
}

/* Prints an argument so that a shell would read it back as one word. */
static void print_word(const char *w)
{
    if (*w && !strpbrk(w, " \t\n'\"\\$`*?;&|<>(){}[]#~!")) {
        printf(" %s", w);
        return;
    }
    printf(" '");
    for (; *w; w++)
        printf(*w == '\'' ? "'\\''" : "%c", *w);
    printf("'");
}

static int cmd_config(ecoctl_rt_t *rt)
{
    size_t order[ECOCTL_MAX_SERVICES], n;
    char err[512];
    if (ecoctl_topo_order(rt->m, NULL, 0, order, &n, err, sizeof(err)) != 0)
        return ECOCTL_EXIT_USAGE;
    printf("manifest: %s\nroot: %s\nrun dir: %s\nbin: %s\nport offset: %ld\n", rt->manifest_path, rt->root, rt->run_dir,
           rt->bin, rt->port_offset);
    for (size_t k = 0; k < n; k++) {
        const ecoctl_svc_t *s = &rt->m->svcs[order[k]];
        printf("\n%zu. %s%s\n   command:", k + 1, s->name, s->critical ? "" : " (not critical)");
        for (size_t i = 0; i < s->command.n; i++)
            print_word(s->command.v[i]);
        printf("\n   depends_on:");
        for (size_t d = 0; d < s->ndeps; d++)
            printf(" %s", s->deps[d]);
        printf("\n   ports:");
        for (size_t i = 0; i < s->nports; i++)
            printf(" %s=%d", s->ports[i].name, s->ports[i].port);
        printf("\n   data: %s%s\n", s->data_dir, s->uses_data ? "" : " (unused)");
        for (size_t e = 0; e < s->env.n; e++)
            printf("   env %s=%s\n", s->env.v[e].key, s->env.v[e].val);
    }
    return ECOCTL_EXIT_OK;
}

static void rt_free(ecoctl_rt_t *rt)
{
    ecoctl_manifest_free(rt->m);
    free(rt->root);
    free(rt->run_dir);
    free(rt->bin);
    free(rt->tools);
    free(rt->manifest_path);
}

int main(int argc, char **argv)
{
    opts_t o = {.color = -1};
    int rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc;
    ecoctl_rt_t rt = {.sigfd = -1, .lock_fd = -1};
    if ((rc = setup(&rt, &o)) != 0) {
        rt_free(&rt);
        return rc;
    }
    const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
    rt.color = o.color >= 0 ? o.color : isatty(1) && !(nc && *nc) && !(term && !strcmp(term, "dumb"));
    size_t want[ECOCTL_MAX_SERVICES];
    for (size_t i = 0; i < o.nnames; i++) {
        int idx = ecoctl_manifest_find(rt.m, o.names[i]);
        if (idx < 0) {
            fprintf(stderr, "ecoctl: no service called \"%s\" in %s\n", o.names[i], rt.manifest_path);
            rt_free(&rt);
            return ECOCTL_EXIT_USAGE;
        }
        want[i] = (size_t)idx;
    }
    if (o.nnames &&
        (!strcmp(o.cmd, "status") || !strcmp(o.cmd, "health") || !strcmp(o.cmd, "run") || !strcmp(o.cmd, "config"))) {
        fprintf(stderr, "ecoctl: %s takes no service names\n", o.cmd);
        rt_free(&rt);
        return ECOCTL_EXIT_USAGE;
    }
    rt.sigfd = eco_lifecycle_init(); /* SIGINT/SIGTERM/SIGHUP arrive on a fd; children get them unblocked */
    ecoctl_health_global_init();
    const size_t *w = o.nnames ? want : NULL;
    if (!strcmp(o.cmd, "up") || !strcmp(o.cmd, "run") || !strcmp(o.cmd, "logs"))
        ecoctl_sweep(&rt);
    if (!strcmp(o.cmd, "up"))
        rc = ecoctl_up(&rt, w, o.nnames);
    else if (!strcmp(o.cmd, "down"))
        rc = ecoctl_down(&rt, w, o.nnames);
    else if (!strcmp(o.cmd, "status"))
        rc = ecoctl_status(&rt);
    else if (!strcmp(o.cmd, "health"))
        rc = ecoctl_health(&rt);
    else if (!strcmp(o.cmd, "run"))
        rc = ecoctl_run(&rt);
    else if (!strcmp(o.cmd, "config"))
        rc = cmd_config(&rt);
    else if (!strcmp(o.cmd, "clean"))
        rc = ecoctl_clean(&rt, w, o.nnames);
    else {
        size_t order[ECOCTL_MAX_SERVICES], n;
        char err[256];
        if (ecoctl_topo_order(rt.m, w, o.nnames, order, &n, err, sizeof(err)) != 0)
            rc = ECOCTL_EXIT_USAGE;
        else if (w) /* just the named ones, not their dependencies */
            rc = ecoctl_logs_show(&rt, want, o.nnames, o.follow, o.nnames > 1, NULL, NULL);
        else
            rc = ecoctl_logs_show(&rt, order, n, o.follow, 1, NULL, NULL);
    }
    rt_free(&rt);
    return rc;
}
