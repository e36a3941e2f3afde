/*
 * The engine simulator's deterministic, tokenizer-free generator (pure: no I/O, no globals
 * that change). Every engine personality derives its output from here, so a conversation
 * gets the same text from every sim instance and every kind started with the same
 * --min-output-tokens/--max-output-tokens.
 *
 * Definition (an adapter author may rely on it; tests/engine_sim/simgen.py re-implements it):
 *   1. Canonical text T. A prompt is used verbatim. Chat messages are rendered as ChatML:
 *        for each message  "<|im_start|>" role "\n" content "<|im_end|>\n"
 *        then              "<|im_start|>assistant\n"
 *      except that a trailing assistant message is left open ("<|im_start|>assistant\n" content,
 *      no "<|im_end|>" and no new turn). Content parts [{type:"text",text}] are joined with "\n".
 *      So an adapter that renders chat into a prompt with this template gets identical output.
 *   2. Continuation. Let M be the last "<|im_start|>assistant\n" in T and X the text after it.
 *      If M exists, X holds no "<|im_end|>", and X is a byte prefix of the full output of
 *      T[..end of M] (step 3), the answer is exactly the rest of that output. Otherwise the
 *      answer is the full output of T.
 *   3. Full output of a text S with seed s (absent or negative seeds count as 0):
 *        h = FNV-1a 64 of S;  state = h XOR (s * 0x9E3779B97F4A7C15)  (mod 2^64)
 *        next(): state += 0x9E3779B97F4A7C15; z = state;
 *                z = (z ^ z>>30) * 0xBF58476D1CE4E5B9; z = (z ^ z>>27) * 0x94D049BB133111EB;
 *                return z ^ z>>31                                   (splitmix64)
 *        L = min + next() % (max - min + 1)        (min/max: --min/--max-output-tokens)
 *        token i (0 <= i < L) = gen_vocab[next() % GEN_VOCAB_SIZE]  (each word has a leading space)
 *   4. max_tokens >= 0 caps the tokens emitted; finish is "length" when it cut the answer,
 *      else "stop". When X ends inside a token, the first emitted token is the rest of it.
 *   5. prompt_tokens = 1 + number of whitespace-separated words of T;
 *      completion_tokens = tokens emitted.
 *   6. Embedding of a text E, dimension D: state = FNV-1a 64 of E XOR 0x656d6265645f7631;
 *      v_i = 2 * (next() >> 11) * 2^-53 - 1 for i < D; the result is v / |v| (as floats),
 *      so a smaller D gives a prefix of the same sequence, renormalised.
 */
#ifndef ENGINE_SIM_GEN_H
#define ENGINE_SIM_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "eco_core.h"

#define GEN_VOCAB_SIZE        64
#define GEN_MAX_OUTPUT_TOKENS 65536
#define GEN_ASSISTANT_MARK    "<|im_start|>assistant\n"
#define GEN_END_MARK          "<|im_end|>"

extern const char *const gen_vocab[GEN_VOCAB_SIZE];

typedef struct {
    uint32_t min_tokens; /* 1 <= min <= max <= GEN_MAX_OUTPUT_TOKENS */
    uint32_t max_tokens;
} gen_cfg_t;

/* One emitted token: a borrowed slice of a static vocabulary word (" word"). */
typedef struct {
    const char *p;
    uint32_t len;
    uint32_t id; /* vocabulary index + GEN_TOKEN_ID_BASE: a stable fake token id */
} gen_piece_t;
#define GEN_TOKEN_ID_BASE 1000

typedef struct {
    gen_piece_t *pieces; /* caller storage, at least cfg->max_tokens entries */
    size_t n;            /* tokens to emit */
    size_t text_len;     /* sum of the pieces' lengths */
    int finish_length;   /* 1: max_tokens cut the answer ("length"), 0: "stop" */
    int continued;       /* 1: T ended with a prefix of its own answer */
    long prompt_tokens;
} gen_out_t;

/* A chat message for gen_chat_render; strings are borrowed. */
typedef struct {
    const char *role;
    size_t role_len;
    const char *content;
    size_t content_len;
} gen_msg_t;

uint64_t gen_fnv1a(const void *p, size_t n, uint64_t h);
#define GEN_FNV_OFFSET 0xcbf29ce484222325ull
uint64_t gen_next(uint64_t *state);

/* Appends the canonical ChatML text of msgs to out (step 1 above). */
void gen_chat_render(const gen_msg_t *msgs, size_t n, eco_buf_t *out);

/* Runs steps 2-5 on T; max_tokens < 0 = no cap. out->pieces must hold cfg->max_tokens entries. */
void gen_run(const gen_cfg_t *cfg, const char *text, size_t len, int64_t seed, long max_tokens, gen_out_t *out);

/* Whitespace-separated words of s[0..n). */
size_t gen_count_words(const char *s, size_t n);
/* 1 + gen_count_words: the token count reported for a text (prompt or embedding input). */
long gen_prompt_tokens(const char *s, size_t n);

/* Writes the unit-norm embedding of text into out[0..dim) (step 6). dim >= 1. */
void gen_embed(const char *text, size_t len, float *out, size_t dim);

#endif
