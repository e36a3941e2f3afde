/* The service manifest: YAML parsing and schema checks (libyaml document API), dependency
 * graph checks and start order. Expansion of ${...} lives in expand.c. Pure: reads only the
 * text it is given (ecoctl_manifest_load reads the file), starts nothing. */
#include "ecoctl.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct {
    yaml_document_t *doc;
    const char *name;
    char *err;
    size_t errlen;
} pctx_t;

__attribute__((format(printf, 3, 4))) static int perr(pctx_t *p, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n)
        snprintf(p->err, p->errlen, "%s:%zu: %s", p->name, (size_t)n->start_mark.line + 1, msg);
    else
        snprintf(p->err, p->errlen, "%s: %s", p->name, msg);
    return ECO_EINVAL;
}

static yaml_node_t *node(pctx_t *p, int id)
{
    return yaml_document_get_node(p->doc, id);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A scalar that is not YAML null ("~", "null", or empty and plain). */
static int get_str(pctx_t *p, const char *key, yaml_node_t *n, char **out)
{
    const char *s = scalar(n);
    if (!s)
        return perr(p, n, "%s: expected a string", key);
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && (!*s || !strcmp(s, "~") || !strcmp(s, "null")))
        return perr(p, n, "%s: expected a string, got null", key);
    if (strlen(s) > ECOCTL_MAX_STR)
        return perr(p, n, "%s: string too long", key);
    free(*out);
    *out = eco_strdup(s);
    return 0;
}

static int get_long(pctx_t *p, const char *key, yaml_node_t *n, long min, long max, long *out)
{
    const char *s = scalar(n);
    char *end = NULL;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || v < min || v > max)
        return perr(p, n, "%s: expected an integer %ld-%ld, got \"%s\"", key, min, max, s ? s : "(not a scalar)");
    *out = v;
    return 0;
}

static int get_bool(pctx_t *p, const char *key, yaml_node_t *n, int *out)
{
    const char *s = scalar(n);
    static const char *yes[] = {"true", "yes", "on", "True", "TRUE"}, *no[] = {"false", "no", "off", "False", "FALSE"};
    for (size_t i = 0; s && i < ECO_ARRAY_SIZE(yes); i++) {
        if (!strcmp(s, yes[i]))
            return *out = 1, 0;
        if (!strcmp(s, no[i]))
            return *out = 0, 0;
    }
    return perr(p, n, "%s: expected true or false, got \"%s\"", key, s ? s : "(not a scalar)");
}

static void argv_free(ecoctl_argv_t *a)
{
    for (size_t i = 0; a->v && i < a->n; i++)
        free(a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = 0;
}

/* A list of strings is an argv; one string runs under /bin/sh -c. */
static int get_argv(pctx_t *p, const char *key, yaml_node_t *n, int allow_empty, ecoctl_argv_t *out)
{
    argv_free(out);
    if (n->type == YAML_SCALAR_NODE) {
        char *s = NULL;
        if (get_str(p, key, n, &s) != 0)
            return ECO_EINVAL;
        out->v = eco_calloc(4, sizeof(char *));
        out->v[0] = eco_strdup("/bin/sh");
        out->v[1] = eco_strdup("-c");
        out->v[2] = s;
        out->n = 3;
        return 0;
    }
    if (n->type != YAML_SEQUENCE_NODE)
        return perr(p, n, "%s: expected a list of strings or one shell command string", key);
    size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (cnt == 0 && !allow_empty)
        return perr(p, n, "%s: empty list", key);
    if (cnt > ECOCTL_MAX_ARGS)
        return perr(p, n, "%s: more than %d items", key, ECOCTL_MAX_ARGS);
    out->v = eco_calloc(cnt + 1, sizeof(char *));
    for (size_t i = 0; i < cnt; i++) {
        if (get_str(p, key, node(p, n->data.sequence.items.start[i]), &out->v[i]) != 0)
            return ECO_EINVAL;
        out->n = i + 1;
    }
    return 0;
}

static int valid_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max || !(islower((unsigned char)s[0]) || isdigit((unsigned char)s[0])))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-' || s[i] == '_'))
            return 0;
    return 1;
}

static int valid_env_key(const char *s)
{
    if (!*s || isdigit((unsigned char)*s))
        return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_'))
            return 0;
    return 1;
}

/* Iterates a mapping's pairs; KEY(pr) is the key string (NULL when not a scalar), VAL(pr) the value node. */
#define PAIRS(map, pr)                                                                                                 \
    for (yaml_node_pair_t *pr = (map)->data.mapping.pairs.start; pr < (map)->data.mapping.pairs.top; pr++)
#define KEY(pr) scalar(node(p, (pr)->key))
#define VAL(pr) node(p, (pr)->value)

static int expect_map(pctx_t *p, const char *key, yaml_node_t *n)
{
    if (!n || n->type != YAML_MAPPING_NODE)
        return perr(p, n, "%s: expected a mapping", key);
    PAIRS(n, pr)
    {
        const char *k = KEY(pr);
        yaml_node_t *v = VAL(pr);
        (void)v;
        if (!k)
            return perr(p, n, "%s: keys must be strings", key);
    }
    return 0;
}

static int parse_env(pctx_t *p, const char *key, yaml_node_t *n, ecoctl_env_t *env)
{
    if (expect_map(p, key, n) != 0)
        return ECO_EINVAL;
    size_t cnt = (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
    if (cnt > ECOCTL_MAX_ENV)
        return perr(p, n, "%s: more than %d variables", key, ECOCTL_MAX_ENV);
    env->v = eco_calloc(cnt ? cnt : 1, sizeof(*env->v));
    PAIRS(n, pr)
    {
        const char *k = KEY(pr);
        yaml_node_t *v = VAL(pr);
        if (!valid_env_key(k))
            return perr(p, v, "%s: \"%s\" is not a valid variable name", key, k);
        for (size_t i = 0; i < env->n; i++)
            if (!strcmp(env->v[i].key, k))
                return perr(p, v, "%s: %s given twice", key, k);
        char *val = NULL;
        if (get_str(p, k, v, &val) != 0)
            return ECO_EINVAL;
        env->v[env->n].key = eco_strdup(k);
        env->v[env->n++].val = val;
    }
    return 0;
}

static int parse_ports(pctx_t *p, yaml_node_t *n, ecoctl_svc_t *s)
{
    if (expect_map(p, "ports", n) != 0)
        return ECO_EINVAL;
    PAIRS(n, pr)
    {
        const char *k = KEY(pr);
        yaml_node_t *v = VAL(pr);
        if (!valid_name(k, 32))
            return perr(p, v, "ports: \"%s\" is not a valid port name ([a-z0-9_-])", k);
        if (s->nports == ECOCTL_MAX_PORTS)
            return perr(p, v, "ports: more than %d ports", ECOCTL_MAX_PORTS);
        for (size_t i = 0; i < s->nports; i++)
            if (!strcmp(s->ports[i].name, k))
                return perr(p, v, "ports: %s given twice", k);
        long port;
        if (get_long(p, k, v, 1, 65535, &port) != 0)
            return ECO_EINVAL;
        s->ports[s->nports].name = eco_strdup(k);
        s->ports[s->nports].declared = s->ports[s->nports].port = (int)port;
        s->nports++;
    }
    return 0;
}

static int parse_health(pctx_t *p, yaml_node_t *n, ecoctl_health_t *h)
{
    if (expect_map(p, "health", n) != 0)
        return ECO_EINVAL;
    int kinds = 0;
    PAIRS(n, pr)
    {
        const char *k = KEY(pr);
        yaml_node_t *v = VAL(pr);
        int rc = 0;
        if (!strcmp(k, "http") || !strcmp(k, "tcp")) {
            h->kind = k[0] == 'h' ? ECOCTL_HC_HTTP : ECOCTL_HC_TCP;
            rc = get_str(p, k, v, &h->target);
            kinds++;
        } else if (!strcmp(k, "cmd")) {
            h->kind = ECOCTL_HC_CMD;
            rc = get_argv(p, k, v, 0, &h->cmd);
            kinds++;
        } else if (!strcmp(k, "interval_ms")) {
            rc = get_long(p, k, v, 10, 600000, &h->interval_ms);
        } else if (!strcmp(k, "attempt_timeout_ms")) {
            rc = get_long(p, k, v, 10, 600000, &h->attempt_timeout_ms);
        } else if (!strcmp(k, "start_timeout_ms")) {
            rc = get_long(p, k, v, 10, 3600000, &h->start_timeout_ms);
        } else {
            rc = perr(p, v,
                      "health: unknown key \"%s\" (http, tcp, cmd, interval_ms, attempt_timeout_ms, "
                      "start_timeout_ms)",
                      k);
        }
        if (rc != 0)
            return rc;
    }
    if (kinds > 1)
        return perr(p, n, "health: give exactly one of http, tcp, cmd");
    return 0;
}

static int parse_signal(pctx_t *p, yaml_node_t *n, int *out)
{
    static const struct {
        const char *name;
        int sig;
    } sigs[] = {{"TERM", SIGTERM}, {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"HUP", SIGHUP},
                {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"KILL", SIGKILL}};
    const char *s = scalar(n);
    if (s && !strncmp(s, "SIG", 3))
        s += 3;
    for (size_t i = 0; s && i < ECO_ARRAY_SIZE(sigs); i++)
        if (!strcmp(s, sigs[i].name))
            return *out = sigs[i].sig, 0;
    return perr(p, n, "stop_signal: expected TERM, INT, QUIT, HUP, USR1, USR2 or KILL");
}

static int parse_service(pctx_t *p, const char *name, yaml_node_t *n, ecoctl_svc_t *s)
{
    s->name = eco_strdup(name);
    s->line = (int)n->start_mark.line + 1;
    s->critical = 1;
    s->stop_signal = SIGTERM;
    s->stop_grace_ms = 10000;
    s->hook_timeout_ms = 300000;
    s->health.interval_ms = 250;
    s->health.attempt_timeout_ms = 2000;
    s->health.start_timeout_ms = 30000;
    if (!valid_name(name, 63))
        return perr(p, n, "service name \"%s\": use [a-z0-9_-], starting with a letter or digit", name);
    if (expect_map(p, name, n) != 0)
        return ECO_EINVAL;
    PAIRS(n, pr)
    {
        const char *k = KEY(pr);
        yaml_node_t *v = VAL(pr);
        int rc;
        if (!strcmp(k, "command"))
            rc = get_argv(p, k, v, 0, &s->command);
        else if (!strcmp(k, "init"))
            rc = get_argv(p, k, v, 0, &s->init);
        else if (!strcmp(k, "pre_start"))
            rc = get_argv(p, k, v, 0, &s->pre_start);
        else if (!strcmp(k, "post_start"))
            rc = get_argv(p, k, v, 0, &s->post_start);
        else if (!strcmp(k, "creates"))
            rc = get_str(p, k, v, &s->creates);
        else if (!strcmp(k, "user"))
            rc = get_str(p, k, v, &s->user);
        else if (!strcmp(k, "cwd"))
            rc = get_str(p, k, v, &s->cwd);
        else if (!strcmp(k, "description"))
            rc = scalar(v) ? 0 : perr(p, v, "description: expected a string");
        else if (!strcmp(k, "env"))
            rc = s->env.v ? perr(p, v, "env given twice") : parse_env(p, k, v, &s->env);
        else if (!strcmp(k, "path"))
            rc = get_argv(p, k, v, 1, &s->path);
        else if (!strcmp(k, "ports"))
            rc = s->nports ? perr(p, v, "ports given twice") : parse_ports(p, v, s);
        else if (!strcmp(k, "depends_on")) {
            ecoctl_argv_t d = {0};
            rc = get_argv(p, k, v, 1, &d);
            if (rc == 0 && v->type != YAML_SEQUENCE_NODE)
                rc = perr(p, v, "depends_on: expected a list of service names");
            if (rc == 0 && d.n > ECOCTL_MAX_DEPS)
                rc = perr(p, v, "depends_on: more than %d services", ECOCTL_MAX_DEPS);
            s->deps = d.v;
            s->ndeps = d.n;
        } else if (!strcmp(k, "critical"))
            rc = get_bool(p, k, v, &s->critical);
        else if (!strcmp(k, "stop_grace_ms"))
            rc = get_long(p, k, v, 0, 3600000, &s->stop_grace_ms);
        else if (!strcmp(k, "hook_timeout_ms"))
            rc = get_long(p, k, v, 10, 3600000, &s->hook_timeout_ms);
        else if (!strcmp(k, "stop_signal"))
            rc = parse_signal(p, v, &s->stop_signal);
        else if (!strcmp(k, "health"))
            rc = parse_health(p, v, &s->health);
        else if (!strncmp(k, "x-", 2))
            rc = 0;
        else
            rc = perr(p, v, "service %s: unknown key \"%s\"", name, k);
        if (rc != 0)
            return rc;
    }
    if (!s->command.v)
        return perr(p, n, "service %s: \"command\" is required", name);
    if (s->init.v && !s->creates)
        return perr(p, n, "service %s: \"init\" needs \"creates\" (the path whose absence makes it run)", name);
    if (s->creates && !s->init.v)
        return perr(p, n, "service %s: \"creates\" without \"init\"", name);
    if (s->user && !valid_name(s->user, 32))
        return perr(p, n, "service %s: user \"%s\" is not a valid user name", name, s->user);
    return 0;
}

int ecoctl_manifest_find(const ecoctl_manifest_t *m, const char *name)
{
    for (size_t i = 0; i < m->nsvcs; i++)
        if (!strcmp(m->svcs[i].name, name))
            return (int)i;
    return -1;
}

int ecoctl_svc_main_port(const ecoctl_svc_t *s)
{
    for (size_t i = 0; i < s->nports; i++)
        if (!strcmp(s->ports[i].name, "http"))
            return s->ports[i].port;
    return s->nports ? s->ports[0].port : 0;
}

/* Depth-first search for a cycle; on finding one writes "a -> b -> a" into err. */
static int dfs_cycle(const ecoctl_manifest_t *m, size_t i, char *color, size_t *stack, size_t depth, char *err,
                     size_t errlen)
{
    color[i] = 1;
    stack[depth] = i;
    for (size_t d = 0; d < m->svcs[i].ndeps; d++) {
        size_t j = m->svcs[i].dep_idx[d];
        if (color[j] == 1) {
            eco_buf_t b;
            eco_buf_init(&b, 4096);
            eco_buf_adds(&b, "dependency cycle: ");
            size_t from = depth;
            while (stack[from] != j)
                from--;
            for (size_t k = from; k <= depth; k++)
                eco_buf_addf(&b, "%s -> ", m->svcs[stack[k]].name);
            eco_buf_adds(&b, m->svcs[j].name);
            snprintf(err, errlen, "%s: %s", m->path, eco_buf_cstr(&b));
            eco_buf_free(&b);
            return ECO_EINVAL;
        }
        if (color[j] == 0 && dfs_cycle(m, j, color, stack, depth + 1, err, errlen) != 0)
            return ECO_EINVAL;
    }
    color[i] = 2;
    return 0;
}

static int check_graph(pctx_t *p, ecoctl_manifest_t *m)
{
    for (size_t i = 0; i < m->nsvcs; i++) {
        ecoctl_svc_t *s = &m->svcs[i];
        s->dep_idx = eco_calloc(s->ndeps ? s->ndeps : 1, sizeof(size_t));
        for (size_t d = 0; d < s->ndeps; d++) {
            int j = ecoctl_manifest_find(m, s->deps[d]);
            if (j < 0) {
                snprintf(p->err, p->errlen, "%s:%d: service %s depends on unknown service \"%s\"", p->name, s->line,
                         s->name, s->deps[d]);
                return ECO_EINVAL;
            }
            for (size_t e = 0; e < d; e++)
                if ((int)s->dep_idx[e] == j) {
                    snprintf(p->err, p->errlen, "%s:%d: service %s lists dependency %s twice", p->name, s->line,
                             s->name, s->deps[d]);
                    return ECO_EINVAL;
                }
            s->dep_idx[d] = (size_t)j;
        }
    }
    char color[ECOCTL_MAX_SERVICES] = {0};
    size_t stack[ECOCTL_MAX_SERVICES];
    for (size_t i = 0; i < m->nsvcs; i++)
        if (color[i] == 0 && dfs_cycle(m, i, color, stack, 0, p->err, p->errlen) != 0)
            return ECO_EINVAL;
    return 0;
}

static int parse_root(pctx_t *p, ecoctl_manifest_t *m)
{
    yaml_node_t *root = yaml_document_get_root_node(p->doc);
    if (!root)
        return perr(p, NULL, "empty file");
    if (expect_map(p, "top level", root) != 0)
        return ECO_EINVAL;
    yaml_node_t *svcs = NULL;
    PAIRS(root, pr)
    {
        const char *k = KEY(pr);
        yaml_node_t *v = VAL(pr);
        long ver;
        if (!strcmp(k, "services"))
            svcs = v;
        else if (!strcmp(k, "env")) {
            if (parse_env(p, k, v, &m->env) != 0)
                return ECO_EINVAL;
        } else if (!strcmp(k, "version")) {
            if (get_long(p, k, v, 1, 1, &ver) != 0)
                return ECO_EINVAL;
        } else if (strncmp(k, "x-", 2) != 0)
            return perr(p, v, "unknown top-level key \"%s\" (version, env, services, x-*)", k);
    }
    if (!svcs)
        return perr(p, root, "\"services\" is required");
    if (expect_map(p, "services", svcs) != 0)
        return ECO_EINVAL;
    size_t cnt = (size_t)(svcs->data.mapping.pairs.top - svcs->data.mapping.pairs.start);
    if (cnt == 0 || cnt > ECOCTL_MAX_SERVICES)
        return perr(p, svcs, "services: expected 1-%d services", ECOCTL_MAX_SERVICES);
    m->svcs = eco_calloc(cnt, sizeof(ecoctl_svc_t));
    PAIRS(svcs, pr)
    {
        const char *k = KEY(pr);
        yaml_node_t *v = VAL(pr);
        if (ecoctl_manifest_find(m, k) >= 0)
            return perr(p, v, "service %s declared twice", k);
        m->nsvcs++;
        if (parse_service(p, k, v, &m->svcs[m->nsvcs - 1]) != 0)
            return ECO_EINVAL;
    }
    return check_graph(p, m);
}

int ecoctl_manifest_parse(const char *text, size_t len, const char *name, ecoctl_manifest_t **out, char *err,
                          size_t errlen)
{
    *out = NULL;
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        eco_fatal("yaml_parser_initialize failed");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "%s:%zu: YAML error: %s%s%s", name, (size_t)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "unknown", parser.context ? " " : "",
                 parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        return ECO_EINVAL;
    }
    ecoctl_manifest_t *m = eco_calloc(1, sizeof(*m));
    m->path = eco_strdup(name);
    pctx_t p = {&doc, name, err, errlen};
    int rc = parse_root(&p, m);
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    if (rc != 0) {
        ecoctl_manifest_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int ecoctl_manifest_load(const char *path, ecoctl_manifest_t **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -errno;
    }
    char *buf = eco_malloc(ECOCTL_MAX_FILE + 1);
    size_t n = fread(buf, 1, ECOCTL_MAX_FILE + 1, f);
    int bad = ferror(f);
    fclose(f);
    int rc;
    if (bad)
        rc = (snprintf(err, errlen, "%s: read error", path), ECO_EIO);
    else if (n > ECOCTL_MAX_FILE)
        rc = (snprintf(err, errlen, "%s: larger than %u bytes", path, ECOCTL_MAX_FILE), ECO_ENOSPC);
    else
        rc = ecoctl_manifest_parse(buf, n, path, out, err, errlen);
    free(buf);
    return rc;
}

static void env_free(ecoctl_env_t *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->v[i].key);
        free(e->v[i].val);
    }
    free(e->v);
    e->v = NULL;
    e->n = 0;
}

void ecoctl_manifest_free(ecoctl_manifest_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nsvcs; i++) {
        ecoctl_svc_t *s = &m->svcs[i];
        free(s->name);
        argv_free(&s->command);
        argv_free(&s->init);
        argv_free(&s->pre_start);
        argv_free(&s->post_start);
        argv_free(&s->path);
        argv_free(&s->health.cmd);
        free(s->health.target);
        free(s->creates);
        free(s->user);
        free(s->cwd);
        free(s->data_dir);
        env_free(&s->env);
        for (size_t d = 0; d < s->ndeps; d++)
            free(s->deps[d]);
        free(s->deps);
        free(s->dep_idx);
        for (size_t k = 0; k < s->nports; k++)
            free(s->ports[k].name);
    }
    free(m->svcs);
    env_free(&m->env);
    free(m->path);
    free(m);
}

static void mark_closure(const ecoctl_manifest_t *m, size_t i, char *in)
{
    if (in[i])
        return;
    in[i] = 1;
    for (size_t d = 0; d < m->svcs[i].ndeps; d++)
        mark_closure(m, m->svcs[i].dep_idx[d], in);
}

int ecoctl_topo_order(const ecoctl_manifest_t *m, const size_t *want, size_t nwant, size_t *out, size_t *nout,
                      char *err, size_t errlen)
{
    char in[ECOCTL_MAX_SERVICES] = {0}, done[ECOCTL_MAX_SERVICES] = {0};
    size_t total = 0;
    *nout = 0;
    for (size_t i = 0; i < (want ? nwant : m->nsvcs); i++)
        mark_closure(m, want ? want[i] : i, in);
    for (size_t i = 0; i < m->nsvcs; i++)
        total += in[i] ? 1 : 0;
    /* Kahn's algorithm, always taking the first ready service in declaration order. */
    while (*nout < total) {
        size_t pick = m->nsvcs;
        for (size_t i = 0; i < m->nsvcs && pick == m->nsvcs; i++) {
            if (!in[i] || done[i])
                continue;
            int ready = 1;
            for (size_t d = 0; d < m->svcs[i].ndeps && ready; d++)
                ready = done[m->svcs[i].dep_idx[d]];
            if (ready)
                pick = i;
        }
        if (pick == m->nsvcs) {
            snprintf(err, errlen, "%s: dependency cycle", m->path);
            return ECO_EINVAL;
        }
        done[pick] = 1;
        out[(*nout)++] = pick;
    }
    return 0;
}
