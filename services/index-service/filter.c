/* Record metadata (scalar values) and the metadata filter of eco.index.v1: validation and
 * evaluation. Semantics: EQ, IN, GT, GTE, LT, LTE need the key present with a comparable value
 * (numbers compare with numbers, int and double alike; strings with strings, bytewise; booleans
 * only with booleans and only for equality); NE and NOT_IN also hold when the key is absent;
 * EXISTS / NOT_EXISTS look at presence only. */
#include "index.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void *ix_pb_new(const ProtobufCMessageDescriptor *desc)
{
    void *m = eco_malloc(desc->sizeof_message);
    protobuf_c_message_init(desc, m);
    return m;
}

static int value_validate(const ix_pb_value_t *v, const char *field, ix_err_t *e)
{
    if (!v)
        return ix_fail(e, IX_INVALID, field, "%s: a value is required", field);
    switch (v->kind_case) {
    case ECO__INDEX__V1__VALUE__KIND_STRING_VALUE:
        if (!v->string_value || strlen(v->string_value) > IX_META_STR_MAX)
            return ix_fail(e, IX_INVALID, field, "%s: strings are at most %d bytes", field, IX_META_STR_MAX);
        return 0;
    case ECO__INDEX__V1__VALUE__KIND_INT_VALUE:
    case ECO__INDEX__V1__VALUE__KIND_BOOL_VALUE:
        return 0;
    case ECO__INDEX__V1__VALUE__KIND_DOUBLE_VALUE:
        if (!isfinite(v->double_value))
            return ix_fail(e, IX_INVALID, field, "%s: numbers must be finite", field);
        return 0;
    default:
        return ix_fail(e, IX_INVALID, field, "%s: expected a string, number or boolean", field);
    }
}

int ix_meta_validate(ix_pb_meta_t *const *entries, size_t n, const char *field, ix_err_t *e)
{
    if (n > IX_META_KEYS_MAX)
        return ix_fail(e, IX_INVALID, field, "%s: at most %d keys", field, IX_META_KEYS_MAX);
    for (size_t i = 0; i < n; i++) {
        const char *k = entries[i]->key ? entries[i]->key : "";
        size_t kl = strlen(k);
        if (kl == 0 || kl > IX_META_KEY_MAX)
            return ix_fail(e, IX_INVALID, field, "%s: keys are 1-%d bytes", field, IX_META_KEY_MAX);
        for (size_t j = 0; j < i; j++)
            if (strcmp(entries[j]->key, k) == 0)
                return ix_fail(e, IX_INVALID, field, "%s: key \"%.64s\" appears twice", field, k);
        char path[160];
        snprintf(path, sizeof(path), "%s.%.64s", field, k);
        if (value_validate(entries[i]->value, path, e) != 0)
            return -1;
    }
    return 0;
}

void ix_meta_from_pb(ix_pb_meta_t *const *entries, size_t n, ix_meta_t **out, size_t *nout)
{
    *out = n ? eco_calloc(n, sizeof(ix_meta_t)) : NULL;
    *nout = n;
    for (size_t i = 0; i < n; i++) {
        ix_meta_t *m = &(*out)[i];
        const ix_pb_value_t *v = entries[i]->value;
        m->key = eco_strdup(entries[i]->key);
        m->type = (int)v->kind_case;
        switch (v->kind_case) {
        case ECO__INDEX__V1__VALUE__KIND_STRING_VALUE:
            m->u.s = eco_strdup(v->string_value);
            break;
        case ECO__INDEX__V1__VALUE__KIND_INT_VALUE:
            m->u.i = v->int_value;
            break;
        case ECO__INDEX__V1__VALUE__KIND_DOUBLE_VALUE:
            m->u.d = v->double_value;
            break;
        default:
            m->u.b = !!v->bool_value;
            break;
        }
    }
}

void ix_meta_free(ix_meta_t *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].key);
        if (m[i].type == ECO__INDEX__V1__VALUE__KIND_STRING_VALUE)
            free(m[i].u.s);
    }
    free(m);
}

size_t ix_meta_bytes(const ix_meta_t *m, size_t n)
{
    size_t b = n * sizeof(ix_meta_t);
    for (size_t i = 0; i < n; i++)
        b += strlen(m[i].key) + 1 + (m[i].type == ECO__INDEX__V1__VALUE__KIND_STRING_VALUE ? strlen(m[i].u.s) + 1 : 0);
    return b;
}

void **ix_meta_to_pb(const ix_meta_t *m, size_t n, const ProtobufCMessageDescriptor *desc)
{
    if (n == 0)
        return NULL;
    void **out = eco_calloc(n, sizeof(void *));
    for (size_t i = 0; i < n; i++) {
        /* Record.MetadataEntry and Match.MetadataEntry share one layout {base, key, value}. */
        ix_pb_meta_t *en = ix_pb_new(desc);
        ix_pb_value_t *v = ix_pb_new(&eco__index__v1__value__descriptor);
        en->key = eco_strdup(m[i].key);
        v->kind_case = (Eco__Index__V1__Value__KindCase)m[i].type;
        switch (m[i].type) {
        case ECO__INDEX__V1__VALUE__KIND_STRING_VALUE:
            v->string_value = eco_strdup(m[i].u.s);
            break;
        case ECO__INDEX__V1__VALUE__KIND_INT_VALUE:
            v->int_value = m[i].u.i;
            break;
        case ECO__INDEX__V1__VALUE__KIND_DOUBLE_VALUE:
            v->double_value = m[i].u.d;
            break;
        default:
            v->bool_value = m[i].u.b;
            break;
        }
        en->value = v;
        out[i] = en;
    }
    return out;
}

/* ---- filters ---- */

int ix_filter_empty(const ix_pb_filter_t *f)
{
    return !f || (f->n_all == 0 && f->n_any == 0 && f->n_none == 0);
}

static int cond_validate(const ix_pb_cond_t *c, const char *field, ix_err_t *e)
{
    char path[160];
    if (!c->key || !*c->key || strlen(c->key) > IX_META_KEY_MAX) {
        snprintf(path, sizeof(path), "%s.key", field);
        return ix_fail(e, IX_INVALID, path, "%s: a key of 1-%d bytes is required", path, IX_META_KEY_MAX);
    }
    snprintf(path, sizeof(path), "%s.values", field);
    switch (c->op) {
    case ECO__INDEX__V1__CONDITION__OP__OP_EXISTS:
    case ECO__INDEX__V1__CONDITION__OP__OP_NOT_EXISTS:
        return 0;
    case ECO__INDEX__V1__CONDITION__OP__OP_IN:
    case ECO__INDEX__V1__CONDITION__OP__OP_NOT_IN:
        if (c->n_values < 1 || c->n_values > IX_IN_VALUES_MAX)
            return ix_fail(e, IX_INVALID, path, "%s: IN and NOT_IN take 1-%d values", path, IX_IN_VALUES_MAX);
        break;
    case ECO__INDEX__V1__CONDITION__OP__OP_EQ:
    case ECO__INDEX__V1__CONDITION__OP__OP_NE:
    case ECO__INDEX__V1__CONDITION__OP__OP_GT:
    case ECO__INDEX__V1__CONDITION__OP__OP_GTE:
    case ECO__INDEX__V1__CONDITION__OP__OP_LT:
    case ECO__INDEX__V1__CONDITION__OP__OP_LTE:
        if (c->n_values != 1)
            return ix_fail(e, IX_INVALID, path, "%s: this operator takes exactly one value", path);
        break;
    default: {
        char opf[160];
        snprintf(opf, sizeof(opf), "%s.op", field);
        return ix_fail(e, IX_INVALID, opf,
                       "%s: expected one of EQ, NE, IN, NOT_IN, GT, GTE, LT, LTE, EXISTS, NOT_EXISTS", opf);
    }
    }
    for (size_t i = 0; i < c->n_values; i++) {
        char vp[192];
        snprintf(vp, sizeof(vp), "%s[%zu]", path, i);
        if (value_validate(c->values[i], vp, e) != 0)
            return -1;
        if (c->op >= ECO__INDEX__V1__CONDITION__OP__OP_GT && c->op <= ECO__INDEX__V1__CONDITION__OP__OP_LTE &&
            c->values[i]->kind_case == ECO__INDEX__V1__VALUE__KIND_BOOL_VALUE)
            return ix_fail(e, IX_INVALID, vp, "%s: booleans have no order (use EQ or NE)", vp);
    }
    return 0;
}

int ix_filter_validate(const ix_pb_filter_t *f, const char *field, ix_err_t *e)
{
    if (!f)
        return 0;
    if (f->n_all + f->n_any + f->n_none > IX_FILTER_MAX)
        return ix_fail(e, IX_INVALID, field, "%s: at most %d conditions in all, any and none together", field,
                       IX_FILTER_MAX);
    struct {
        const char *name;
        ix_pb_cond_t **v;
        size_t n;
    } lists[] = {{"all", f->all, f->n_all}, {"any", f->any, f->n_any}, {"none", f->none, f->n_none}};
    for (size_t l = 0; l < 3; l++)
        for (size_t i = 0; i < lists[l].n; i++) {
            char path[128];
            snprintf(path, sizeof(path), "%s.%s[%zu]", field, lists[l].name, i);
            if (cond_validate(lists[l].v[i], path, e) != 0)
                return -1;
        }
    return 0;
}

static const ix_meta_t *lookup(const ix_meta_t *m, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].key, key) == 0)
            return &m[i];
    return NULL;
}

/* Compares a stored value with a filter value: 0 equal, <0 / >0 ordered, 2 incomparable
 * (different kinds, or booleans asked for an order). */
#define INCOMPARABLE 2
static int compare(const ix_meta_t *a, const ix_pb_value_t *b, int ordered)
{
    int bt = (int)b->kind_case;
    int anum = a->type == ECO__INDEX__V1__VALUE__KIND_INT_VALUE || a->type == ECO__INDEX__V1__VALUE__KIND_DOUBLE_VALUE;
    int bnum = bt == ECO__INDEX__V1__VALUE__KIND_INT_VALUE || bt == ECO__INDEX__V1__VALUE__KIND_DOUBLE_VALUE;
    if (anum && bnum) {
        if (a->type == ECO__INDEX__V1__VALUE__KIND_INT_VALUE && bt == ECO__INDEX__V1__VALUE__KIND_INT_VALUE)
            return a->u.i < b->int_value ? -1 : a->u.i > b->int_value ? 1 : 0;
        double x = a->type == ECO__INDEX__V1__VALUE__KIND_INT_VALUE ? (double)a->u.i : a->u.d;
        double y = bt == ECO__INDEX__V1__VALUE__KIND_INT_VALUE ? (double)b->int_value : b->double_value;
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a->type != bt)
        return INCOMPARABLE;
    if (bt == ECO__INDEX__V1__VALUE__KIND_STRING_VALUE) {
        int c = strcmp(a->u.s, b->string_value);
        return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    if (ordered) /* booleans */
        return INCOMPARABLE;
    return (!!a->u.b == !!b->bool_value) ? 0 : 1;
}

static int in_list(const ix_meta_t *v, const ix_pb_cond_t *c)
{
    for (size_t i = 0; i < c->n_values; i++)
        if (compare(v, c->values[i], 0) == 0)
            return 1;
    return 0;
}

static int cond_holds(const ix_pb_cond_t *c, const ix_meta_t *m, size_t n)
{
    const ix_meta_t *v = lookup(m, n, c->key);
    int r;
    switch (c->op) {
    case ECO__INDEX__V1__CONDITION__OP__OP_EXISTS:
        return v != NULL;
    case ECO__INDEX__V1__CONDITION__OP__OP_NOT_EXISTS:
        return v == NULL;
    case ECO__INDEX__V1__CONDITION__OP__OP_EQ:
        return v && compare(v, c->values[0], 0) == 0;
    case ECO__INDEX__V1__CONDITION__OP__OP_NE:
        return !v || compare(v, c->values[0], 0) != 0;
    case ECO__INDEX__V1__CONDITION__OP__OP_IN:
        return v && in_list(v, c);
    case ECO__INDEX__V1__CONDITION__OP__OP_NOT_IN:
        return !v || !in_list(v, c);
    case ECO__INDEX__V1__CONDITION__OP__OP_GT:
        return v && (r = compare(v, c->values[0], 1)) != INCOMPARABLE && r > 0;
    case ECO__INDEX__V1__CONDITION__OP__OP_GTE:
        return v && (r = compare(v, c->values[0], 1)) != INCOMPARABLE && r >= 0;
    case ECO__INDEX__V1__CONDITION__OP__OP_LT:
        return v && (r = compare(v, c->values[0], 1)) != INCOMPARABLE && r < 0;
    case ECO__INDEX__V1__CONDITION__OP__OP_LTE:
        return v && (r = compare(v, c->values[0], 1)) != INCOMPARABLE && r <= 0;
    default:
        return 0; /* rejected by validation */
    }
}

int ix_filter_match(const ix_pb_filter_t *f, const ix_meta_t *m, size_t n)
{
    if (!f)
        return 1;
    for (size_t i = 0; i < f->n_all; i++)
        if (!cond_holds(f->all[i], m, n))
            return 0;
    if (f->n_any) {
        int any = 0;
        for (size_t i = 0; i < f->n_any && !any; i++)
            any = cond_holds(f->any[i], m, n);
        if (!any)
            return 0;
    }
    for (size_t i = 0; i < f->n_none; i++)
        if (cond_holds(f->none[i], m, n))
            return 0;
    return 1;
}
