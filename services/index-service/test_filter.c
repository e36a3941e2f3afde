/* Metadata filters of index-service: every operator on present and absent keys, numbers across
 * int and double, string order, booleans, all/any/none, and the validation messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "filter.c"

static ix_pb_value_t *sv(const char *s)
{
    ix_pb_value_t *v = ix_pb_new(&eco__index__v1__value__descriptor);
    v->kind_case = ECO__INDEX__V1__VALUE__KIND_STRING_VALUE;
    v->string_value = eco_strdup(s);
    return v;
}

static ix_pb_value_t *iv(int64_t i)
{
    ix_pb_value_t *v = ix_pb_new(&eco__index__v1__value__descriptor);
    v->kind_case = ECO__INDEX__V1__VALUE__KIND_INT_VALUE;
    v->int_value = i;
    return v;
}

static ix_pb_value_t *dv(double d)
{
    ix_pb_value_t *v = ix_pb_new(&eco__index__v1__value__descriptor);
    v->kind_case = ECO__INDEX__V1__VALUE__KIND_DOUBLE_VALUE;
    v->double_value = d;
    return v;
}

static ix_pb_value_t *bv(int b)
{
    ix_pb_value_t *v = ix_pb_new(&eco__index__v1__value__descriptor);
    v->kind_case = ECO__INDEX__V1__VALUE__KIND_BOOL_VALUE;
    v->bool_value = b;
    return v;
}

/* A condition with up to 3 values (NULL-terminated). */
static ix_pb_cond_t *cond(const char *key, int op, ix_pb_value_t *a, ix_pb_value_t *b, ix_pb_value_t *c)
{
    ix_pb_cond_t *k = ix_pb_new(&eco__index__v1__condition__descriptor);
    k->key = eco_strdup(key);
    k->op = (Eco__Index__V1__Condition__Op)op;
    ix_pb_value_t *vals[] = {a, b, c};
    k->values = eco_calloc(3, sizeof(ix_pb_value_t *));
    for (int i = 0; i < 3 && vals[i]; i++)
        k->values[k->n_values++] = vals[i];
    return k;
}

/* A filter with one condition in list 0 (all), 1 (any) or 2 (none). */
static ix_pb_filter_t *one(int list, ix_pb_cond_t *c)
{
    ix_pb_filter_t *f = ix_pb_new(&eco__index__v1__filter__descriptor);
    ix_pb_cond_t **arr = eco_calloc(1, sizeof(*arr));
    arr[0] = c;
    if (list == 0)
        f->all = arr, f->n_all = 1;
    else if (list == 1)
        f->any = arr, f->n_any = 1;
    else
        f->none = arr, f->n_none = 1;
    return f;
}

/* Record metadata: {"color":"red","n":5,"x":2.5,"ok":true} */
static ix_meta_t meta[4];
static void setup_meta(void)
{
    meta[0] = (ix_meta_t){.key = "color", .type = ECO__INDEX__V1__VALUE__KIND_STRING_VALUE, .u.s = "red"};
    meta[1] = (ix_meta_t){.key = "n", .type = ECO__INDEX__V1__VALUE__KIND_INT_VALUE, .u.i = 5};
    meta[2] = (ix_meta_t){.key = "x", .type = ECO__INDEX__V1__VALUE__KIND_DOUBLE_VALUE, .u.d = 2.5};
    meta[3] = (ix_meta_t){.key = "ok", .type = ECO__INDEX__V1__VALUE__KIND_BOOL_VALUE, .u.b = 1};
}

static int matches(ix_pb_cond_t *c)
{
    ix_pb_filter_t *f = one(0, c);
    ix_err_t e;
    assert_int_equal(ix_filter_validate(f, "filter", &e), 0);
    int r = ix_filter_match(f, meta, 4);
    protobuf_c_message_free_unpacked(&f->base, NULL);
    return r;
}

enum { EQ = 1, NE, IN, NOT_IN, GT, GTE, LT, LTE, EXISTS, NOT_EXISTS };

static void test_operators(void **state)
{
    setup_meta();
    assert_true(matches(cond("color", EQ, sv("red"), NULL, NULL)));
    assert_false(matches(cond("color", EQ, sv("blue"), NULL, NULL)));
    assert_false(matches(cond("color", EQ, iv(1), NULL, NULL))); /* other kind */
    assert_false(matches(cond("missing", EQ, sv("red"), NULL, NULL)));
    assert_true(matches(cond("n", EQ, dv(5.0), NULL, NULL))); /* int vs double */
    assert_true(matches(cond("ok", EQ, bv(1), NULL, NULL)));
    assert_false(matches(cond("ok", EQ, bv(0), NULL, NULL)));

    assert_true(matches(cond("color", NE, sv("blue"), NULL, NULL)));
    assert_false(matches(cond("color", NE, sv("red"), NULL, NULL)));
    assert_true(matches(cond("missing", NE, sv("red"), NULL, NULL))); /* absent holds */

    assert_true(matches(cond("color", IN, sv("blue"), sv("red"), NULL)));
    assert_false(matches(cond("color", IN, sv("blue"), sv("green"), NULL)));
    assert_false(matches(cond("missing", IN, sv("red"), NULL, NULL)));
    assert_true(matches(cond("n", IN, iv(4), iv(5), iv(6))));
    assert_false(matches(cond("color", NOT_IN, sv("red"), NULL, NULL)));
    assert_true(matches(cond("color", NOT_IN, sv("a"), sv("b"), NULL)));
    assert_true(matches(cond("missing", NOT_IN, sv("red"), NULL, NULL)));

    assert_true(matches(cond("n", GT, iv(4), NULL, NULL)));
    assert_false(matches(cond("n", GT, iv(5), NULL, NULL)));
    assert_true(matches(cond("n", GTE, iv(5), NULL, NULL)));
    assert_true(matches(cond("x", GT, iv(2), NULL, NULL)));
    assert_false(matches(cond("x", GT, dv(2.5), NULL, NULL)));
    assert_true(matches(cond("x", LT, dv(2.51), NULL, NULL)));
    assert_true(matches(cond("n", LTE, dv(5.0), NULL, NULL)));
    assert_false(matches(cond("n", LT, iv(5), NULL, NULL)));
    assert_true(matches(cond("color", GT, sv("blue"), NULL, NULL))); /* "red" > "blue" */
    assert_false(matches(cond("color", LT, sv("blue"), NULL, NULL)));
    assert_false(matches(cond("color", GT, iv(0), NULL, NULL))); /* string vs number: no order */
    assert_false(matches(cond("missing", LT, iv(100), NULL, NULL)));

    assert_true(matches(cond("ok", EXISTS, NULL, NULL, NULL)));
    assert_false(matches(cond("missing", EXISTS, NULL, NULL, NULL)));
    assert_true(matches(cond("missing", NOT_EXISTS, NULL, NULL, NULL)));
    assert_false(matches(cond("color", NOT_EXISTS, NULL, NULL, NULL)));
}

static void test_all_any_none(void **state)
{
    setup_meta();
    ix_pb_filter_t *f = ix_pb_new(&eco__index__v1__filter__descriptor);
    f->all = eco_calloc(2, sizeof(ix_pb_cond_t *));
    f->all[f->n_all++] = cond("n", GTE, iv(1), NULL, NULL);
    f->all[f->n_all++] = cond("ok", EQ, bv(1), NULL, NULL);
    f->any = eco_calloc(2, sizeof(ix_pb_cond_t *));
    f->any[f->n_any++] = cond("color", EQ, sv("blue"), NULL, NULL);
    f->any[f->n_any++] = cond("x", LT, iv(3), NULL, NULL);
    f->none = eco_calloc(1, sizeof(ix_pb_cond_t *));
    f->none[f->n_none++] = cond("color", EQ, sv("green"), NULL, NULL);
    ix_err_t e;
    assert_int_equal(ix_filter_validate(f, "filter", &e), 0);
    assert_true(ix_filter_match(f, meta, 4));
    meta[2].u.d = 3.5; /* no `any` holds any more */
    assert_false(ix_filter_match(f, meta, 4));
    meta[2].u.d = 2.5;
    meta[0].u.s = "green"; /* a `none` holds */
    assert_false(ix_filter_match(f, meta, 4));
    meta[0].u.s = "red";
    meta[1].u.i = 0; /* an `all` fails */
    assert_false(ix_filter_match(f, meta, 4));
    protobuf_c_message_free_unpacked(&f->base, NULL);
    assert_true(ix_filter_match(NULL, meta, 4));
    assert_true(ix_filter_empty(NULL));
}

static void refused(int list, ix_pb_cond_t *c, const char *param, const char *words)
{
    ix_pb_filter_t *f = one(list, c);
    ix_err_t e;
    assert_int_equal(ix_filter_validate(f, "filter", &e), -1);
    assert_int_equal(e.code, IX_INVALID);
    assert_string_equal(e.param, param);
    if (!strstr(e.msg, words))
        fail_msg("message \"%s\" lacks \"%s\"", e.msg, words);
    protobuf_c_message_free_unpacked(&f->base, NULL);
}

static void test_validation(void **state)
{
    refused(0, cond("n", EQ, NULL, NULL, NULL), "filter.all[0].values", "exactly one value");
    refused(1, cond("n", GT, iv(1), iv(2), NULL), "filter.any[0].values", "exactly one value");
    refused(2, cond("n", IN, NULL, NULL, NULL), "filter.none[0].values", "1-256 values");
    refused(0, cond("ok", GT, bv(1), NULL, NULL), "filter.all[0].values[0]", "no order");
    refused(0, cond("", EXISTS, NULL, NULL, NULL), "filter.all[0].key", "key");
    refused(0, cond("n", 0, iv(1), NULL, NULL), "filter.all[0].op", "expected one of");
    refused(0, cond("n", 99, iv(1), NULL, NULL), "filter.all[0].op", "expected one of");
    refused(0, cond("x", EQ, dv(NAN), NULL, NULL), "filter.all[0].values[0]", "finite");

    ix_pb_filter_t *f = ix_pb_new(&eco__index__v1__filter__descriptor);
    f->all = eco_calloc(IX_FILTER_MAX + 1, sizeof(ix_pb_cond_t *));
    for (int i = 0; i <= IX_FILTER_MAX; i++)
        f->all[f->n_all++] = cond("k", EXISTS, NULL, NULL, NULL);
    ix_err_t e;
    assert_int_equal(ix_filter_validate(f, "filter", &e), -1);
    assert_string_equal(e.param, "filter");
    protobuf_c_message_free_unpacked(&f->base, NULL);
}

static void test_metadata(void **state)
{
    ix_pb_meta_t *en[3];
    ix_pb_value_t *vals[3] = {sv("a"), iv(7), dv(1.5)};
    const char *keys[3] = {"s", "i", "d"};
    for (int i = 0; i < 3; i++) {
        en[i] = ix_pb_new(&eco__index__v1__record__metadata_entry__descriptor);
        en[i]->key = eco_strdup(keys[i]);
        en[i]->value = vals[i];
    }
    ix_err_t e;
    assert_int_equal(ix_meta_validate(en, 3, "records[0].metadata", &e), 0);
    ix_meta_t *m;
    size_t n;
    ix_meta_from_pb(en, 3, &m, &n);
    assert_int_equal(n, 3);
    assert_string_equal(m[0].u.s, "a");
    assert_int_equal(m[1].u.i, 7);
    void **back = ix_meta_to_pb(m, n, &eco__index__v1__record__metadata_entry__descriptor);
    assert_string_equal(((ix_pb_meta_t *)back[2])->key, "d");
    assert_true(((ix_pb_meta_t *)back[2])->value->double_value == 1.5);
    for (size_t i = 0; i < n; i++)
        protobuf_c_message_free_unpacked(back[i], NULL);
    free(back);
    ix_meta_free(m, n);

    /* a repeated key, a non-finite number, an unset value */
    free(en[1]->key);
    en[1]->key = eco_strdup("s");
    assert_int_equal(ix_meta_validate(en, 3, "records[0].metadata", &e), -1);
    assert_non_null(strstr(e.msg, "twice"));
    free(en[1]->key);
    en[1]->key = eco_strdup("i");
    en[2]->value->double_value = INFINITY;
    assert_int_equal(ix_meta_validate(en, 3, "records[0].metadata", &e), -1);
    assert_string_equal(e.param, "records[0].metadata.d");
    en[2]->value->kind_case = ECO__INDEX__V1__VALUE__KIND__NOT_SET;
    assert_int_equal(ix_meta_validate(en, 3, "records[0].metadata", &e), -1);
    assert_non_null(strstr(e.msg, "expected a string, number or boolean"));
    for (int i = 0; i < 3; i++)
        protobuf_c_message_free_unpacked(&en[i]->base, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_operators),
        cmocka_unit_test(test_all_any_none),
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
