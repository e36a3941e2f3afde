/* Tree accessors, YAML 1.2 core-schema scalar resolution and the value formats of
 * docs/qyaml.md §4 (UUID v1, DNS-1123 names, RFC 3339, URI/URN grammars). */
#include "governance_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ---------- tree helpers ---------- */

static int eq(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n == l && memcmp(s, lit, l) == 0;
}

const eco__gov_node_t *eco__gov_get(const eco__gov_node_t *map, const char *key)
{
    if (!map || map->kind != ECO__GOV_MAP)
        return NULL;
    for (size_t i = 0; i < map->n; i++) {
        const eco__gov_node_t *k = map->items[2 * i];
        if (k->kind == ECO__GOV_SCALAR && eq(k->value, k->len, key))
            return map->items[2 * i + 1];
    }
    return NULL;
}

int eco__gov_is_str(const eco__gov_node_t *n)
{
    return n && n->kind == ECO__GOV_SCALAR && n->type == ECO__GOV_STR;
}

int eco__gov_is_nonempty_str(const eco__gov_node_t *n)
{
    return eco__gov_is_str(n) && n->len > 0;
}

int eco__gov_str_eq(const eco__gov_node_t *n, const char *s)
{
    return eco__gov_is_str(n) && eq(n->value, n->len, s);
}

int eco__gov_is_null(const eco__gov_node_t *n)
{
    return !n || (n->kind == ECO__GOV_SCALAR && n->type == ECO__GOV_NULL);
}

int eco__gov_is_int(const eco__gov_node_t *n, long long *v)
{
    if (!n || n->kind != ECO__GOV_SCALAR || n->type != ECO__GOV_INT)
        return 0;
    *v = n->ival;
    return 1;
}

int eco__gov_is_number(const eco__gov_node_t *n, double *v)
{
    if (!n || n->kind != ECO__GOV_SCALAR)
        return 0;
    if (n->type == ECO__GOV_INT) {
        *v = (double)n->ival;
        return 1;
    }
    if (n->type == ECO__GOV_FLOAT) {
        *v = n->dval;
        return 1;
    }
    return 0;
}

/* ---------- scalar resolution (YAML 1.2 core schema, as yaml.v3/conftest) ---------- */

static int all_in(const char *s, size_t n, const char *set)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!s[i] || !strchr(set, s[i]))
            return 0;
    return 1;
}

static int parse_int(const char *s, size_t n, long long *out)
{
    const char *digits = s;
    size_t dn = n;
    int base = 10;
    if (n > 2 && s[0] == '0' && s[1] == 'o') {
        base = 8, digits = s + 2, dn = n - 2;
        if (!all_in(digits, dn, "01234567"))
            return 0;
    } else if (n > 2 && s[0] == '0' && s[1] == 'x') {
        base = 16, digits = s + 2, dn = n - 2;
        if (!all_in(digits, dn, "0123456789abcdefABCDEF"))
            return 0;
    } else {
        size_t o = (n > 0 && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
        if (!all_in(s + o, n - o, "0123456789"))
            return 0;
    }
    char buf[72];
    if (dn >= sizeof(buf))
        return -1; /* too long for a 64-bit integer: a float */
    memcpy(buf, digits, dn);
    buf[dn] = '\0';
    errno = 0;
    char *end;
    long long v = strtoll(buf, &end, base);
    if (errno == ERANGE || *end)
        return -1;
    *out = v;
    return 1;
}

static int parse_float(const char *s, size_t n, double *out)
{
    size_t i = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    if (eq(s + i, n - i, ".inf") || eq(s + i, n - i, ".Inf") || eq(s + i, n - i, ".INF")) {
        *out = s[0] == '-' ? -INFINITY : INFINITY;
        return 1;
    }
    if (eq(s, n, ".nan") || eq(s, n, ".NaN") || eq(s, n, ".NAN")) {
        *out = NAN;
        return 1;
    }
    /* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
    size_t int_digits = 0, frac_digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, int_digits++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, frac_digits++;
        if (int_digits == 0 && frac_digits == 0)
            return 0;
    } else if (int_digits == 0) {
        return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t e = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, e++;
        if (e == 0)
            return 0;
    }
    if (i != n || n > 512)
        return 0;
    char buf[520];
    memcpy(buf, s, n);
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    return 1;
}

static void set_str(eco__gov_node_t *n)
{
    n->type = ECO__GOV_STR;
}

static void resolve_plain(eco__gov_node_t *n)
{
    const char *s = n->value;
    size_t len = n->len;
    if (len == 0 || eq(s, len, "~") || eq(s, len, "null") || eq(s, len, "Null") || eq(s, len, "NULL")) {
        n->type = ECO__GOV_NULL;
        return;
    }
    if (eq(s, len, "true") || eq(s, len, "True") || eq(s, len, "TRUE")) {
        n->type = ECO__GOV_BOOL, n->ival = 1;
        return;
    }
    if (eq(s, len, "false") || eq(s, len, "False") || eq(s, len, "FALSE")) {
        n->type = ECO__GOV_BOOL, n->ival = 0;
        return;
    }
    int r = parse_int(s, len, &n->ival);
    if (r > 0) {
        n->type = ECO__GOV_INT;
        return;
    }
    if (parse_float(s, len, &n->dval)) {
        n->type = ECO__GOV_FLOAT;
        return;
    }
    set_str(n);
}

void eco__gov_resolve(eco__gov_node_t *n)
{
    if (n->kind != ECO__GOV_SCALAR || n->alias)
        return;
    const char *t = n->tag;
    if (t) {
        static const char pre[] = "tag:yaml.org,2002:";
        if (strncmp(t, pre, sizeof(pre) - 1) != 0) {
            set_str(n); /* "!" and application tags: the text as a string */
            return;
        }
        t += sizeof(pre) - 1;
        eco__gov_node_t tmp = *n;
        resolve_plain(&tmp);
        if (strcmp(t, "null") == 0 || strcmp(t, "bool") == 0 || strcmp(t, "int") == 0 || strcmp(t, "float") == 0) {
            eco__gov_type_t want = t[0] == 'n'   ? ECO__GOV_NULL
                                   : t[0] == 'b' ? ECO__GOV_BOOL
                                   : t[0] == 'i' ? ECO__GOV_INT
                                                 : ECO__GOV_FLOAT;
            if (tmp.type == want || (want == ECO__GOV_FLOAT && tmp.type == ECO__GOV_INT)) {
                *n = tmp;
                if (want == ECO__GOV_FLOAT && tmp.type == ECO__GOV_INT)
                    n->type = ECO__GOV_FLOAT, n->dval = (double)tmp.ival;
                return;
            }
        }
        set_str(n);
        return;
    }
    if (n->style != YAML_PLAIN_SCALAR_STYLE) {
        set_str(n);
        return;
    }
    resolve_plain(n);
}

/* ---------- formats ---------- */

static int lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int eco_governance_is_uuid_v1(const char *s, size_t n)
{
    /* ^[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ */
    if (n != 36)
        return 0;
    for (size_t i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return 0;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    return s[14] == '1' && (s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])? */
static int label_ok(const char *s, size_t n)
{
    if (n == 0 || !lower_alnum(s[0]) || !lower_alnum(s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!lower_alnum(s[i]) && s[i] != '-')
            return 0;
    return 1;
}

int eco__gov_is_dns1123_label(const char *s, size_t n)
{
    return n <= 63 && label_ok(s, n);
}

int eco__gov_is_dns1123_subdomain(const char *s, size_t n)
{
    if (n == 0 || n > 253)
        return 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (!label_ok(s + start, i - start))
                return 0;
            start = i + 1;
        }
    }
    return 1;
}

int eco__gov_is_kebab(const char *s, size_t n)
{
    /* ^[a-z0-9]+(-[a-z0-9]+)*$ */
    if (!label_ok(s, n))
        return 0;
    for (size_t i = 1; i < n; i++)
        if (s[i] == '-' && s[i - 1] == '-')
            return 0;
    return 1;
}

int eco__gov_is_label_value(const char *s, size_t n)
{
    /* ^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$, at most 63 */
#define ALNUM(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || ((c) >= '0' && (c) <= '9'))
    if (n == 0 || n > 63 || !ALNUM(s[0]) || !ALNUM(s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!ALNUM(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return 0;
    return 1;
#undef ALNUM
}

static int digits(const char *s, size_t n, int *v)
{
    int x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return 1;
}

int eco__gov_is_rfc3339_utc(const char *s, size_t n)
{
    /* ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z$ and a real date/time */
    int y, mo, d, h, mi, se;
    if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[n - 1] != 'Z')
        return 0;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) || !digits(s + 11, 2, &h) ||
        !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se))
        return 0;
    if (n > 20) {
        size_t frac = n - 21; /* between '.' and 'Z' */
        int ignored;
        if (s[19] != '.' || frac < 1 || frac > 9 || !digits(s + 20, frac, &ignored))
            return 0;
    }
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int maxd = mdays[mo - 1] + (mo == 2 && leap);
    return d <= maxd;
}

/* Copies s[0..n) into dst[cap] when it fits. */
static int copy_seg(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return 0;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 1;
}

/* <ns>, <kind>, <name> segments shared by the URI and the URN grammars. */
static int kind_ok(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!lower_alnum(s[i]))
            return 0;
    return 1;
}

/* [a-z0-9]([-a-z0-9.]*[a-z0-9])? */
static int name_ok(const char *s, size_t n)
{
    if (n == 0 || !lower_alnum(s[0]) || !lower_alnum(s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!lower_alnum(s[i]) && s[i] != '-' && s[i] != '.')
            return 0;
    return 1;
}

/* <namespace> (at most 63), <kind> (at most 63), <name> (at most 253). */
static int segments_ok(const char *const *seg, const size_t *segn)
{
    return segn[0] <= 63 && label_ok(seg[0], segn[0]) && segn[1] <= 63 && kind_ok(seg[1], segn[1]) && segn[2] <= 253 &&
           name_ok(seg[2], segn[2]);
}

static int split(const char *s, size_t n, char sep, const char **seg, size_t *segn, size_t want)
{
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == sep) {
            if (k == want)
                return 0;
            seg[k] = s + start;
            segn[k] = i - start;
            k++;
            start = i + 1;
        }
    }
    return k == want;
}

int eco__gov_parse_uri(const char *s, size_t n, eco__gov_ref_t *ref)
{
    static const char pre[] = "eco-base://k8s/";
    size_t pl = sizeof(pre) - 1;
    const char *seg[3];
    size_t segn[3];
    memset(ref, 0, sizeof(*ref));
    if (n <= pl || memcmp(s, pre, pl) != 0 || !split(s + pl, n - pl, '/', seg, segn, 3))
        return 0;
    if (!segments_ok(seg, segn))
        return 0;
    return copy_seg(ref->ns, sizeof(ref->ns), seg[0], segn[0]) &&
           copy_seg(ref->kind, sizeof(ref->kind), seg[1], segn[1]) &&
           copy_seg(ref->name, sizeof(ref->name), seg[2], segn[2]);
}

int eco__gov_parse_urn(const char *s, size_t n, eco__gov_ref_t *ref)
{
    static const char pre[] = "urn:eco-base:k8s:";
    size_t pl = sizeof(pre) - 1;
    const char *seg[4];
    size_t segn[4];
    memset(ref, 0, sizeof(*ref));
    if (n <= pl || memcmp(s, pre, pl) != 0 || !split(s + pl, n - pl, ':', seg, segn, 4))
        return 0;
    if (!segments_ok(seg, segn) || !eco_governance_is_uuid_v1(seg[3], segn[3]))
        return 0;
    return copy_seg(ref->ns, sizeof(ref->ns), seg[0], segn[0]) &&
           copy_seg(ref->kind, sizeof(ref->kind), seg[1], segn[1]) &&
           copy_seg(ref->name, sizeof(ref->name), seg[2], segn[2]) &&
           copy_seg(ref->uuid, sizeof(ref->uuid), seg[3], segn[3]);
}
