/* Model registry: a small YAML document read with libyaml's document API. */
#include "registry.h"

#include "eco_core.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

typedef struct {
    yaml_document_t *doc;
    const char *path;
    char *err;
    size_t errlen;
} ctx_t;

static int fail(ctx_t *c, yaml_node_t *n, const char *fmt, const char *arg)
{
    char msg[256];
    snprintf(msg, sizeof(msg), fmt, arg ? arg : "");
    snprintf(c->err, c->errlen, "%s:%lu: %s", c->path, n ? (unsigned long)n->start_mark.line + 1 : 0UL, msg);
    return -1;
}

static yaml_node_t *map_get(ctx_t *c, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(c->doc, p->value);
    }
    return NULL;
}

/* Copies a scalar, expanding ${VAR} from the environment; NULL (and err) on a problem. */
static char *scalar(ctx_t *c, yaml_node_t *n, const char *what)
{
    if (!n || n->type != YAML_SCALAR_NODE) {
        fail(c, n, "%s: expected a string", what);
        return NULL;
    }
    const char *s = (const char *)n->data.scalar.value;
    eco_buf_t b;
    eco_buf_init(&b, 4096);
    while (*s) {
        const char *d = strstr(s, "${");
        if (!d) {
            eco_buf_adds(&b, s);
            break;
        }
        eco_buf_add(&b, s, (size_t)(d - s));
        const char *end = strchr(d, '}');
        if (!end) {
            eco_buf_free(&b);
            fail(c, n, "%s: unterminated ${", what);
            return NULL;
        }
        char var[128];
        snprintf(var, sizeof(var), "%.*s", (int)(end - d - 2), d + 2);
        const char *v = getenv(var);
        if (!v) {
            eco_buf_free(&b);
            fail(c, n, "environment variable %s is not set", var);
            return NULL;
        }
        eco_buf_adds(&b, v);
        s = end + 1;
    }
    return eco_buf_detach(&b, NULL);
}

static int parse_long_node(ctx_t *c, yaml_node_t *n, const char *what, long min, long max, long *out)
{
    char *s = scalar(c, n, what);
    if (!s)
        return -1;
    char *end;
    long v = strtol(s, &end, 10);
    int bad = *s == '\0' || *end != '\0' || v < min || v > max;
    free(s);
    if (bad) {
        char m[128];
        snprintf(m, sizeof(m), "%s: expected an integer in %ld-%ld", what, min, max);
        return fail(c, n, "%s", m);
    }
    *out = v;
    return 0;
}

static int parse_backend(ctx_t *c, yaml_node_t *n, reg_backend_t *b)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail(c, n, "backend: expected a mapping", NULL);
    if (!(b->name = scalar(c, map_get(c, n, "name"), "backends[].name")))
        return -1;
    if (!(b->address = scalar(c, map_get(c, n, "address"), "backends[].address")))
        return -1;
    if (!strchr(b->address, ':'))
        return fail(c, n, "backends[].address: expected host:port, got \"%s\"", b->address);
    long v = 1;
    yaml_node_t *w = map_get(c, n, "weight");
    if (w && parse_long_node(c, w, "backends[].weight", 1, 1000, &v) != 0)
        return -1;
    b->weight = (int)v;
    v = 0;
    yaml_node_t *t = map_get(c, n, "tier");
    if (t && parse_long_node(c, t, "backends[].tier", 0, 9, &v) != 0)
        return -1;
    b->tier = (int)v;
    return 0;
}

static int parse_model(ctx_t *c, yaml_node_t *n, reg_model_t *m)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail(c, n, "models[]: expected a mapping", NULL);
    if (!(m->id = scalar(c, map_get(c, n, "id"), "models[].id")))
        return -1;
    yaml_node_t *caps = map_get(c, n, "capabilities");
    if (!caps || caps->type != YAML_SEQUENCE_NODE)
        return fail(c, caps ? caps : n, "models[].capabilities: expected a list of chat|completion|embedding", NULL);
    for (yaml_node_item_t *i = caps->data.sequence.items.start; i < caps->data.sequence.items.top; i++) {
        yaml_node_t *cn = yaml_document_get_node(c->doc, *i);
        const char *v = cn && cn->type == YAML_SCALAR_NODE ? (const char *)cn->data.scalar.value : "";
        if (!strcmp(v, "chat"))
            m->caps |= REG_CAP_CHAT;
        else if (!strcmp(v, "completion"))
            m->caps |= REG_CAP_COMPLETION;
        else if (!strcmp(v, "embedding"))
            m->caps |= REG_CAP_EMBEDDING;
        else
            return fail(c, cn, "models[].capabilities: unknown capability \"%s\"", v);
    }
    m->context_length = 4096;
    yaml_node_t *cl = map_get(c, n, "context_length");
    if (cl && parse_long_node(c, cl, "models[].context_length", 1, 10000000, &m->context_length) != 0)
        return -1;
    yaml_node_t *ob = map_get(c, n, "owned_by");
    if (!(m->owned_by = ob ? scalar(c, ob, "models[].owned_by") : eco_strdup("eco-base")))
        return -1;
    yaml_node_t *al = map_get(c, n, "aliases");
    if (al && al->type == YAML_SEQUENCE_NODE)
        for (yaml_node_item_t *i = al->data.sequence.items.start; i < al->data.sequence.items.top; i++) {
            if (m->naliases >= REG_MAX_ALIASES)
                return fail(c, al, "models[].aliases: at most 8", NULL);
            if (!(m->aliases[m->naliases++] = scalar(c, yaml_document_get_node(c->doc, *i), "models[].aliases[]")))
                return -1;
        }
    yaml_node_t *fb = map_get(c, n, "fallbacks");
    if (fb && fb->type == YAML_SEQUENCE_NODE)
        for (yaml_node_item_t *i = fb->data.sequence.items.start; i < fb->data.sequence.items.top; i++) {
            if (m->nfallbacks >= REG_MAX_FALLBACKS)
                return fail(c, fb, "models[].fallbacks: at most 4", NULL);
            if (!(m->fallbacks[m->nfallbacks++] =
                      scalar(c, yaml_document_get_node(c->doc, *i), "models[].fallbacks[]")))
                return -1;
        }
    yaml_node_t *bs = map_get(c, n, "backends");
    if (bs && bs->type != YAML_SEQUENCE_NODE)
        return fail(c, bs, "models[].backends: expected a list", NULL);
    if (bs)
        for (yaml_node_item_t *i = bs->data.sequence.items.start; i < bs->data.sequence.items.top; i++) {
            if (m->nbackends >= REG_MAX_BACKENDS)
                return fail(c, bs, "models[].backends: at most 16", NULL);
            if (parse_backend(c, yaml_document_get_node(c->doc, *i), &m->backends[m->nbackends++]) != 0)
                return -1;
        }
    return 0;
}

const reg_model_t *registry_find(const registry_t *r, const char *name)
{
    if (!name || !*name)
        name = r->default_model;
    for (size_t i = 0; i < r->nmodels; i++) {
        const reg_model_t *m = &r->models[i];
        if (strcmp(m->id, name) == 0)
            return m;
        for (size_t a = 0; a < m->naliases; a++)
            if (strcmp(m->aliases[a], name) == 0)
                return m;
    }
    return NULL;
}

static int check_references(ctx_t *c, registry_t *r, yaml_node_t *root)
{
    for (size_t i = 0; i < r->nmodels; i++) {
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->models[i].id, r->models[j].id) == 0)
                return fail(c, root, "duplicate model id \"%s\"", r->models[i].id);
        for (size_t f = 0; f < r->models[i].nfallbacks; f++)
            if (!registry_find(r, r->models[i].fallbacks[f]))
                return fail(c, root, "fallback model \"%s\" is not defined", r->models[i].fallbacks[f]);
    }
    if (!r->default_model)
        return fail(c, root, "default: expected the id of the default model", NULL);
    if (!registry_find(r, r->default_model))
        return fail(c, root, "default: model \"%s\" is not defined", r->default_model);
    return 0;
}

registry_t *registry_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", path);
        return NULL;
    }
    yaml_parser_t parser;
    yaml_document_t doc;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, f);
    if (!yaml_parser_load(&parser, &doc)) {
        snprintf(err, errlen, "%s:%lu: %s", path, (unsigned long)parser.problem_mark.line + 1,
                 parser.problem ? parser.problem : "YAML error");
        yaml_parser_delete(&parser);
        fclose(f);
        return NULL;
    }
    yaml_parser_delete(&parser);
    fclose(f);
    ctx_t c = {&doc, path, err, errlen};
    registry_t *r = eco_calloc(1, sizeof(*r));
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int rc = -1;
    yaml_node_t *models = map_get(&c, root, "models");
    if (!models || models->type != YAML_SEQUENCE_NODE) {
        fail(&c, root, "models: expected a list of models", NULL);
        goto out;
    }
    for (yaml_node_item_t *i = models->data.sequence.items.start; i < models->data.sequence.items.top; i++) {
        if (r->nmodels >= REG_MAX_MODELS) {
            fail(&c, models, "models: at most 64", NULL);
            goto out;
        }
        if (parse_model(&c, yaml_document_get_node(&doc, *i), &r->models[r->nmodels++]) != 0)
            goto out;
    }
    yaml_node_t *def = map_get(&c, root, "default");
    if (def && !(r->default_model = scalar(&c, def, "default")))
        goto out;
    rc = check_references(&c, r, root);
out:
    yaml_document_delete(&doc);
    if (rc != 0) {
        registry_free(r);
        return NULL;
    }
    return r;
}

void registry_free(registry_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nmodels; i++) {
        reg_model_t *m = &r->models[i];
        free(m->id);
        free(m->owned_by);
        for (size_t a = 0; a < m->naliases; a++)
            free(m->aliases[a]);
        for (size_t f = 0; f < m->nfallbacks; f++)
            free(m->fallbacks[f]);
        for (size_t b = 0; b < m->nbackends; b++) {
            free(m->backends[b].name);
            free(m->backends[b].address);
        }
    }
    free(r->default_model);
    free(r);
}
