/* ${...} expansion and port offsets. Pure apart from getenv() for ${env:VAR}. */
#include "ecoctl.h"

#include <stdlib.h>
#include <string.h>

static int port_of(const ecoctl_svc_t *s, const char *name)
{
    for (size_t i = 0; i < s->nports; i++)
        if (!strcmp(s->ports[i].name, name))
            return s->ports[i].port;
    return 0;
}

/* Appends the value of the variable `var` (the text between "${" and "}"). */
static int expand_var(const ecoctl_manifest_t *m, const ecoctl_svc_t *self, const ecoctl_ctx_t *ctx, const char *var,
                      eco_buf_t *b, char *err, size_t errlen)
{
    const char *who = self ? self->name : "manifest";
    const char *fixed = NULL;
    if (!strcmp(var, "ROOT"))
        fixed = ctx->root;
    else if (!strcmp(var, "RUN_DIR"))
        fixed = ctx->run_dir;
    else if (!strcmp(var, "TOOLS"))
        fixed = ctx->tools;
    else if (!strcmp(var, "BIN"))
        fixed = ctx->bin;
    else if (!strcmp(var, "DATA")) {
        if (!self || !self->data_dir) {
            snprintf(err, errlen, "%s: ${DATA} is only known inside a service", who);
            return ECO_EINVAL;
        }
        fixed = self->data_dir;
    } else if (!strcmp(var, "PORT")) {
        int port = self ? ecoctl_svc_main_port(self) : 0;
        if (!port) {
            snprintf(err, errlen, "%s: ${PORT} used but the service declares no ports", who);
            return ECO_EINVAL;
        }
        eco_buf_addf(b, "%d", port);
        return 0;
    } else if (!strncmp(var, "port:", 5)) {
        const char *ref = var + 5, *dot = strchr(ref, '.');
        const ecoctl_svc_t *target = self;
        const char *pname = ref;
        char svc[128];
        if (dot) {
            snprintf(svc, sizeof(svc), "%.*s", (int)(dot - ref), ref);
            int i = ecoctl_manifest_find(m, svc);
            if (i < 0) {
                snprintf(err, errlen, "%s: ${%s}: no service called \"%s\"", who, var, svc);
                return ECO_EINVAL;
            }
            target = &m->svcs[i];
            pname = dot + 1;
        }
        int port = target ? port_of(target, pname) : 0;
        if (!port) {
            snprintf(err, errlen, "%s: ${%s}: service %s has no port called \"%s\"", who, var,
                     target ? target->name : "?", pname);
            return ECO_EINVAL;
        }
        eco_buf_addf(b, "%d", port);
        return 0;
    } else if (!strncmp(var, "env:", 4)) {
        char name[256];
        const char *def = strstr(var + 4, ":-");
        size_t n = def ? (size_t)(def - (var + 4)) : strlen(var + 4);
        if (n == 0 || n >= sizeof(name)) {
            snprintf(err, errlen, "%s: ${%s}: bad variable name", who, var);
            return ECO_EINVAL;
        }
        memcpy(name, var + 4, n);
        name[n] = '\0';
        const char *v = getenv(name);
        if (!v && !def) {
            snprintf(err, errlen, "%s: ${%s}: environment variable %s is not set (use ${env:%s:-default})", who, var,
                     name, name);
            return ECO_EINVAL;
        }
        eco_buf_adds(b, v ? v : def + 2);
        return 0;
    } else {
        snprintf(err, errlen, "%s: unknown variable ${%s}", who, var);
        return ECO_EINVAL;
    }
    if (!fixed) {
        snprintf(err, errlen, "%s: ${%s} is not set", who, var);
        return ECO_EINVAL;
    }
    eco_buf_adds(b, fixed);
    return 0;
}

int ecoctl_expand(const ecoctl_manifest_t *m, const ecoctl_svc_t *self, const ecoctl_ctx_t *ctx, const char *in,
                  char **out, char *err, size_t errlen)
{
    eco_buf_t b;
    eco_buf_init(&b, ECOCTL_MAX_STR);
    eco_buf_adds(&b, "");
    *out = NULL;
    for (const char *p = in; *p;) {
        if (p[0] == '$' && p[1] == '$') {
            eco_buf_addc(&b, '$');
            p += 2;
        } else if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p + 2, '}');
            if (!end || end - (p + 2) > 255) {
                snprintf(err, errlen, "%s: unterminated ${ in \"%s\"", self ? self->name : "manifest", in);
                eco_buf_free(&b);
                return ECO_EINVAL;
            }
            char var[256];
            memcpy(var, p + 2, (size_t)(end - (p + 2)));
            var[end - (p + 2)] = '\0';
            if (expand_var(m, self, ctx, var, &b, err, errlen) != 0) {
                eco_buf_free(&b);
                return ECO_EINVAL;
            }
            p = end + 1;
        } else {
            eco_buf_addc(&b, *p++);
        }
    }
    if (!eco_buf_ok(&b)) {
        snprintf(err, errlen, "%s: \"%.40s...\" expands past %d bytes", self ? self->name : "manifest", in,
                 ECOCTL_MAX_STR);
        eco_buf_free(&b);
        return ECO_ENOSPC;
    }
    *out = eco_buf_detach(&b, NULL);
    return 0;
}

static int expand_str(const ecoctl_manifest_t *m, const ecoctl_svc_t *s, const ecoctl_ctx_t *ctx, char **str, char *err,
                      size_t errlen)
{
    char *x;
    if (!*str)
        return 0;
    if (ecoctl_expand(m, s, ctx, *str, &x, err, errlen) != 0)
        return ECO_EINVAL;
    free(*str);
    *str = x;
    return 0;
}

static int expand_argv(const ecoctl_manifest_t *m, const ecoctl_svc_t *s, const ecoctl_ctx_t *ctx, ecoctl_argv_t *a,
                       char *err, size_t errlen)
{
    for (size_t i = 0; a->v && i < a->n; i++)
        if (expand_str(m, s, ctx, &a->v[i], err, errlen) != 0)
            return ECO_EINVAL;
    return 0;
}

static int mentions_data(const ecoctl_svc_t *s, const ecoctl_env_t *top)
{
    const ecoctl_argv_t *lists[] = {&s->command, &s->init, &s->pre_start, &s->post_start, &s->path, &s->health.cmd};
    const char *strs[] = {s->creates, s->cwd, s->health.target};
    for (size_t l = 0; l < ECO_ARRAY_SIZE(lists); l++)
        for (size_t i = 0; lists[l]->v && i < lists[l]->n; i++)
            if (strstr(lists[l]->v[i], "${DATA}"))
                return 1;
    for (size_t i = 0; i < ECO_ARRAY_SIZE(strs); i++)
        if (strs[i] && strstr(strs[i], "${DATA}"))
            return 1;
    for (size_t i = 0; i < s->env.n; i++)
        if (strstr(s->env.v[i].val, "${DATA}"))
            return 1;
    for (size_t i = 0; i < top->n; i++)
        if (strstr(top->v[i].val, "${DATA}"))
            return 1;
    return 0;
}

/* Prepends the top-level env to the service's (the service's own value wins). */
static void merge_env(ecoctl_svc_t *s, const ecoctl_env_t *top)
{
    ecoctl_env_t e = {eco_calloc(top->n + s->env.n + 1, sizeof(ecoctl_env_kv_t)), 0};
    for (size_t i = 0; i < top->n; i++) {
        int overridden = 0;
        for (size_t j = 0; j < s->env.n && !overridden; j++)
            overridden = !strcmp(s->env.v[j].key, top->v[i].key);
        if (!overridden) {
            e.v[e.n].key = eco_strdup(top->v[i].key);
            e.v[e.n++].val = eco_strdup(top->v[i].val);
        }
    }
    for (size_t j = 0; j < s->env.n; j++)
        e.v[e.n++] = s->env.v[j];
    free(s->env.v);
    s->env = e;
}

static int resolve_ports(ecoctl_manifest_t *m, long offset, char *err, size_t errlen)
{
    for (size_t i = 0; i < m->nsvcs; i++) {
        ecoctl_svc_t *s = &m->svcs[i];
        for (size_t k = 0; k < s->nports; k++) {
            long port = (long)s->ports[k].declared + offset;
            if (port < 1 || port > 65535) {
                snprintf(err, errlen, "port offset %ld puts %s.%s at %ld (ports must be 1-65535)", offset, s->name,
                         s->ports[k].name, port);
                return ECO_ERANGE;
            }
            s->ports[k].port = (int)port;
        }
    }
    for (size_t i = 0; i < m->nsvcs; i++)
        for (size_t k = 0; k < m->svcs[i].nports; k++)
            for (size_t j = i; j < m->nsvcs; j++)
                for (size_t l = (j == i ? k + 1 : 0); l < m->svcs[j].nports; l++)
                    if (m->svcs[i].ports[k].port == m->svcs[j].ports[l].port) {
                        snprintf(err, errlen, "port %d is declared twice: %s.%s and %s.%s", m->svcs[i].ports[k].port,
                                 m->svcs[i].name, m->svcs[i].ports[k].name, m->svcs[j].name, m->svcs[j].ports[l].name);
                        return ECO_EINVAL;
                    }
    return 0;
}

int ecoctl_manifest_resolve(ecoctl_manifest_t *m, const ecoctl_ctx_t *ctx, char *err, size_t errlen)
{
    ECO_BUG_ON(m->resolved);
    m->resolved = 1;
    if (resolve_ports(m, ctx->port_offset, err, errlen) != 0)
        return ECO_EINVAL;
    for (size_t i = 0; i < m->nsvcs; i++) {
        ecoctl_svc_t *s = &m->svcs[i];
        s->uses_data = mentions_data(s, &m->env) || s->user != NULL;
        char *dd = ctx->data_dir ? ctx->data_dir(ctx->ud, s) : NULL;
        if (!dd) {
            eco_buf_t b;
            eco_buf_init(&b, ECOCTL_MAX_STR);
            eco_buf_addf(&b, "%s/data/%s", ctx->run_dir ? ctx->run_dir : ".", s->name);
            dd = eco_buf_detach(&b, NULL);
        }
        s->data_dir = dd;
        merge_env(s, &m->env);
    }
    for (size_t i = 0; i < m->nsvcs; i++) {
        ecoctl_svc_t *s = &m->svcs[i];
        if (expand_argv(m, s, ctx, &s->command, err, errlen) || expand_argv(m, s, ctx, &s->init, err, errlen) ||
            expand_argv(m, s, ctx, &s->pre_start, err, errlen) || expand_argv(m, s, ctx, &s->post_start, err, errlen) ||
            expand_argv(m, s, ctx, &s->path, err, errlen) || expand_argv(m, s, ctx, &s->health.cmd, err, errlen) ||
            expand_str(m, s, ctx, &s->health.target, err, errlen) || expand_str(m, s, ctx, &s->creates, err, errlen) ||
            expand_str(m, s, ctx, &s->cwd, err, errlen))
            return ECO_EINVAL;
        for (size_t e = 0; e < s->env.n; e++)
            if (expand_str(m, s, ctx, &s->env.v[e].val, err, errlen) != 0)
                return ECO_EINVAL;
    }
    return 0;
}
