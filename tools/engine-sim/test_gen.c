/* Unit tests for the deterministic generator (gen.c): determinism, the ChatML canonical form,
 * continuation, max_tokens cuts, token counts and embeddings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "gen.c"

#include <math.h>
#include <stdlib.h>

static const gen_cfg_t CFG = {4, 64};

typedef struct {
    gen_out_t g;
    gen_piece_t pieces[GEN_MAX_OUTPUT_TOKENS > 4096 ? 4096 : GEN_MAX_OUTPUT_TOKENS];
    char text[8192];
} run_t;

static void run(run_t *r, const gen_cfg_t *cfg, const char *text, int64_t seed, long max_tokens)
{
    r->g.pieces = r->pieces;
    gen_run(cfg, text, strlen(text), seed, max_tokens, &r->g);
    size_t off = 0;
    for (size_t i = 0; i < r->g.n; i++) {
        assert_true(off + r->g.pieces[i].len < sizeof(r->text));
        memcpy(r->text + off, r->g.pieces[i].p, r->g.pieces[i].len);
        off += r->g.pieces[i].len;
    }
    r->text[off] = '\0';
    assert_int_equal(off, r->g.text_len);
}

static char *chat(const char *user)
{
    gen_msg_t m[] = {{"system", 6, "be brief", 8}, {"user", 4, user, strlen(user)}};
    eco_buf_t b;
    eco_buf_init(&b, 0);
    gen_chat_render(m, 2, &b);
    return eco_buf_detach(&b, NULL);
}

static void test_known_answer(void **state)
{
    /* Computed by tests/engine_sim/simgen.py, an independent implementation of gen.h's definition. */
    gen_msg_t m[] = {{"user", 4, "hello there", 11}};
    eco_buf_t b;
    eco_buf_init(&b, 0);
    gen_chat_render(m, 1, &b);
    assert_string_equal(eco_buf_cstr(&b), "<|im_start|>user\nhello there<|im_end|>\n<|im_start|>assistant\n");
    run_t *r = calloc(1, sizeof(*r));
    run(r, &CFG, eco_buf_cstr(&b), 0, -1);
    assert_string_equal(r->text, " is more by it a the them some with that our such from at so time now for it can "
                                 "may the said these");
    assert_int_equal(r->g.prompt_tokens, 5);
    assert_false(r->g.finish_length);
    run(r, &CFG, "Hello world", 42, 5);
    assert_string_equal(r->text, " my for first if this");
    assert_true(r->g.finish_length);
    eco_buf_free(&b);
    free(r);
}

static void test_deterministic(void **state)
{
    run_t *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    char *t = chat("What is the capital of France?");
    run(a, &CFG, t, 7, -1);
    run(b, &CFG, t, 7, -1);
    assert_string_equal(a->text, b->text);
    assert_int_equal(a->g.n, b->g.n);
    assert_true(a->g.n >= CFG.min_tokens && a->g.n <= CFG.max_tokens);
    for (size_t i = 0; i < a->g.n; i++) {
        assert_int_equal(a->g.pieces[i].id, b->g.pieces[i].id);
        assert_int_equal(a->g.pieces[i].p[0], ' '); /* every token is one word with a leading space */
    }
    /* Another seed or another text gives another answer (for these inputs). */
    run(b, &CFG, t, 8, -1);
    assert_string_not_equal(a->text, b->text);
    free(t);
    t = chat("What is the capital of Spain?");
    run(b, &CFG, t, 7, -1);
    assert_string_not_equal(a->text, b->text);
    /* Absent (0) and negative seeds are the same seed. */
    run(a, &CFG, t, 0, -1);
    run(b, &CFG, t, -1, -1);
    assert_string_equal(a->text, b->text);
    free(t);
    free(a);
    free(b);
}

static void test_lengths_within_bounds(void **state)
{
    run_t *r = calloc(1, sizeof(*r));
    gen_cfg_t cfg = {10, 12};
    size_t seen[13] = {0};
    for (int i = 0; i < 300; i++) {
        char t[32];
        snprintf(t, sizeof(t), "prompt %d", i);
        run(r, &cfg, t, 0, -1);
        assert_true(r->g.n >= 10 && r->g.n <= 12);
        seen[r->g.n]++;
    }
    assert_true(seen[10] && seen[11] && seen[12]); /* the length really depends on the input */
    gen_cfg_t one = {5, 5};
    run(r, &one, "x", 0, -1);
    assert_int_equal(r->g.n, 5);
    free(r);
}

static void test_max_tokens_cut(void **state)
{
    run_t *full = calloc(1, sizeof(*full)), *r = calloc(1, sizeof(*r));
    char *t = chat("tell me a story");
    run(full, &CFG, t, 0, -1);
    size_t n = full->g.n;
    assert_true(n > 2);
    run(r, &CFG, t, 0, 2);
    assert_int_equal(r->g.n, 2);
    assert_true(r->g.finish_length);
    assert_memory_equal(r->text, full->text, strlen(r->text)); /* a cut answer is a prefix of the full one */
    run(r, &CFG, t, 0, (long)n);
    assert_int_equal(r->g.n, n);
    assert_false(r->g.finish_length); /* exactly enough room: a natural stop */
    run(r, &CFG, t, 0, (long)n + 10);
    assert_false(r->g.finish_length);
    run(r, &CFG, t, 0, 0);
    assert_int_equal(r->g.n, 0);
    assert_true(r->g.finish_length);
    free(t);
    free(full);
    free(r);
}

/* For every split point of the answer, including inside tokens, continuing emits exactly the rest. */
static void test_continuation_emits_rest(void **state)
{
    run_t *full = calloc(1, sizeof(*full)), *r = calloc(1, sizeof(*r));
    const char *user = "Explain continuation";
    char *t = chat(user);
    run(full, &CFG, t, 3, -1);
    size_t L = strlen(full->text);
    for (size_t p = 0; p <= L; p++) {
        gen_msg_t m[] = {
            {"system", 6, "be brief", 8}, {"user", 4, user, strlen(user)}, {"assistant", 9, full->text, p}};
        eco_buf_t b;
        eco_buf_init(&b, 0);
        gen_chat_render(m, 3, &b);
        run(r, &CFG, eco_buf_cstr(&b), 3, -1);
        assert_string_equal(r->text, full->text + p);
        assert_int_equal(r->g.continued, p > 0);
        assert_false(r->g.finish_length);
        /* Tokens counted: one per remaining token, a partial one counting once. */
        size_t covered = 0, pos = 0;
        for (size_t i = 0; i < full->g.n; i++) {
            if (pos + full->g.pieces[i].len <= p)
                covered++;
            pos += full->g.pieces[i].len;
        }
        assert_int_equal(r->g.n, full->g.n - covered);
        /* The prompt grows with the partial answer. */
        assert_int_equal(r->g.prompt_tokens, gen_prompt_tokens(b.base, b.len));
        /* max_tokens applies to what is emitted. */
        if (r->g.n > 1) {
            run(r, &CFG, eco_buf_cstr(&b), 3, 1);
            assert_int_equal(r->g.n, 1);
            assert_true(r->g.finish_length);
            assert_memory_equal(r->text, full->text + p, strlen(r->text));
        }
        eco_buf_free(&b);
    }
    free(t);
    free(full);
    free(r);
}

static void test_not_a_prefix_is_fresh(void **state)
{
    run_t *r = calloc(1, sizeof(*r)), *f = calloc(1, sizeof(*f));
    gen_msg_t m[] = {{"user", 4, "hi", 2}, {"assistant", 9, " zebra", 6}};
    eco_buf_t b;
    eco_buf_init(&b, 0);
    gen_chat_render(m, 2, &b);
    assert_string_equal(eco_buf_cstr(&b), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n zebra");
    run(r, &CFG, eco_buf_cstr(&b), 0, -1);
    assert_false(r->g.continued);
    run(f, &CFG, eco_buf_cstr(&b), 0, -1); /* a fresh answer for the whole text: deterministic too */
    assert_string_equal(r->text, f->text);
    /* A closed assistant turn is history, not a continuation. */
    eco_buf_reset(&b);
    gen_msg_t m2[] = {{"user", 4, "hi", 2}, {"assistant", 9, "", 0}, {"user", 4, "again", 5}};
    gen_chat_render(m2, 3, &b);
    assert_string_equal(eco_buf_cstr(&b), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<|im_end|>\n"
                                          "<|im_start|>user\nagain<|im_end|>\n<|im_start|>assistant\n");
    run(r, &CFG, eco_buf_cstr(&b), 0, -1);
    assert_false(r->g.continued);
    eco_buf_free(&b);
    free(r);
    free(f);
}

/* A chat and the same conversation rendered into a prompt by an adapter give the same answer:
 * every engine kind shares this core. */
static void test_chat_equals_templated_prompt(void **state)
{
    run_t *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    char *t = chat("same everywhere");
    run(a, &CFG, t, 11, 9);
    const char *manual = "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nsame everywhere<|im_end|>\n"
                         "<|im_start|>assistant\n";
    assert_string_equal(t, manual);
    run(b, &CFG, manual, 11, 9);
    assert_string_equal(a->text, b->text);
    assert_int_equal(a->g.prompt_tokens, b->g.prompt_tokens);
    free(t);
    free(a);
    free(b);
}

static void test_word_counts(void **state)
{
    assert_int_equal(gen_count_words("", 0), 0);
    assert_int_equal(gen_count_words("   ", 3), 0);
    assert_int_equal(gen_count_words("a", 1), 1);
    assert_int_equal(gen_count_words(" a  b\tc\nd ", 10), 4);
    assert_int_equal(gen_prompt_tokens("one two", 7), 3);
}

static void test_embeddings(void **state)
{
    float a[384], b[384], small[16];
    gen_embed("hello", 5, a, 384);
    gen_embed("hello", 5, b, 384);
    assert_memory_equal(a, b, sizeof(a));
    double n = 0;
    for (int i = 0; i < 384; i++)
        n += (double)a[i] * a[i];
    assert_true(fabs(sqrt(n) - 1.0) < 1e-5);
    gen_embed("hellp", 5, b, 384);
    double dot = 0;
    for (int i = 0; i < 384; i++)
        dot += (double)a[i] * b[i];
    assert_true(fabs(dot) < 0.3); /* unrelated inputs are far apart */
    /* A smaller dimension is the renormalised prefix of the same sequence. */
    gen_embed("hello", 5, small, 16);
    double pn = 0;
    for (int i = 0; i < 16; i++)
        pn += (double)a[i] * a[i];
    for (int i = 0; i < 16; i++)
        assert_true(fabs(small[i] - a[i] / sqrt(pn)) < 1e-5);
    float one;
    gen_embed("", 0, &one, 1);
    assert_true(fabs(fabs(one) - 1.0f) < 1e-6);
    /* Known answer from simgen.py. */
    float k[4];
    gen_embed("abc", 3, k, 4);
    assert_true(fabsf(k[0] - 0.5214858055114746f) < 1e-7 && fabsf(k[1] + 0.39723435044288635f) < 1e-7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_answer),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_lengths_within_bounds),
        cmocka_unit_test(test_max_tokens_cut),
        cmocka_unit_test(test_continuation_emits_rest),
        cmocka_unit_test(test_not_a_prefix_is_fresh),
        cmocka_unit_test(test_chat_equals_templated_prompt),
        cmocka_unit_test(test_word_counts),
        cmocka_unit_test(test_embeddings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
