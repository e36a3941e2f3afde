/* Configuration from ECO_* environment variables: typed, defaulted, validated. */
#include "eco_core.h"

#include <ctype.h>
#include <limits.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int fail(char *err, size_t errlen, const eco_cfg_spec_t *s, const char *expected, const char *got)
{
    snprintf(err, errlen, "%s: expected %s, got \"%.80s\"", s->name, expected, got);
    return ECO_EINVAL;
}

/* Parses a base-10 integer with an optional unit multiplier suffix table; returns 0 or -1. */
static int parse_long(const char *v, long *out, int allow_size_suffix)
{
    if (!*v || isspace((unsigned char)*v))
        return -1;
    errno = 0;
    char *end;
    long n = strtol(v, &end, 10);
    if (errno || end == v)
        return -1;
    if (allow_size_suffix && *end) {
        long mult;
        switch (tolower((unsigned char)*end)) {
        case 'k':
            mult = 1L << 10;
            break;
        case 'm':
            mult = 1L << 20;
            break;
        case 'g':
            mult = 1L << 30;
            break;
        default:
            return -1;
        }
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
        if (*end == 'b' || *end == 'B')
            end++;
        if (n > LONG_MAX / mult || n < LONG_MIN / mult)
            return -1;
        n *= mult;
    }
    if (*end)
        return -1;
    *out = n;
    return 0;
}

static int in_choices(const char *choices, const char *v)
{
    size_t vl = strlen(v);
    const char *p = choices;
    while (p && *p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == vl && strncmp(p, v, len) == 0)
            return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

static int load_one(const eco_cfg_spec_t *s, char *err, size_t errlen)
{
    const char *v = getenv(s->name);
    if (v == NULL)
        v = s->def;
    if (v == NULL) {
        snprintf(err, errlen, "%s: required but not set", s->name);
        return ECO_EINVAL;
    }
    char range[96];
    switch (s->type) {
    case ECO_CFG_STR:
        *(const char **)s->out = v;
        return 0;
    case ECO_CFG_URL:
        if (*v && !strstr(v, "://"))
            return fail(err, errlen, s, "a URL (scheme://host...)", v);
        if (!*v && s->def == NULL)
            return fail(err, errlen, s, "a URL (scheme://host...)", v);
        *(const char **)s->out = v;
        return 0;
    case ECO_CFG_ENUM:
        if (!in_choices(s->choices, v)) {
            snprintf(range, sizeof(range), "one of %s", s->choices);
            return fail(err, errlen, s, range, v);
        }
        *(const char **)s->out = v;
        return 0;
    case ECO_CFG_BOOL:
        if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
            *(int *)s->out = 1;
        else if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
            *(int *)s->out = 0;
        else
            return fail(err, errlen, s, "a boolean (1/0/true/false)", v);
        return 0;
    case ECO_CFG_PORT: {
        long n;
        if (parse_long(v, &n, 0) != 0 || n < 1 || n > 65535)
            return fail(err, errlen, s, "a port 1-65535", v);
        *(int *)s->out = (int)n;
        return 0;
    }
    case ECO_CFG_INT:
    case ECO_CFG_MS:
    case ECO_CFG_BYTES: {
        long n;
        const char *what = s->type == ECO_CFG_MS ? "milliseconds" : s->type == ECO_CFG_BYTES ? "bytes" : "an integer";
        int bounded = !(s->min == 0 && s->max == 0);
        if (bounded)
            snprintf(range, sizeof(range), "%s in %ld-%ld", what, s->min, s->max);
        else
            snprintf(range, sizeof(range), "%s", what);
        if (parse_long(v, &n, s->type == ECO_CFG_BYTES) != 0)
            return fail(err, errlen, s, range, v);
        if (bounded && (n < s->min || n > s->max))
            return fail(err, errlen, s, range, v);
        *(long *)s->out = n;
        return 0;
    }
    }
    snprintf(err, errlen, "%s: unknown setting type", s->name);
    return ECO_EINVAL;
}

int eco_config_load(const eco_cfg_spec_t *specs, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        int rc = load_one(&specs[i], err, errlen);
        if (rc != 0)
            return rc;
    }
    return 0;
}

void eco_config_print_table(FILE *fp, const eco_cfg_spec_t *specs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const eco_cfg_spec_t *s = &specs[i];
        fprintf(fp, "| `%s` | %s%s%s | %s |\n", s->name, s->def ? "`" : "",
                s->def ? (*s->def ? s->def : "(empty)") : "required", s->def ? "`" : "", s->help ? s->help : "");
    }
}

void eco_config_load_or_exit(const eco_cfg_spec_t *specs, size_t n, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config-help") == 0) {
            eco_config_print_table(stdout, specs, n);
            exit(0);
        }
    }
    char err[256];
    if (eco_config_load(specs, n, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(2);
    }
}
