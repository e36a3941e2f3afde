/* Deterministic output generator and embeddings (see gen.h for the definition). Pure. */
#include "gen.h"

#include <math.h>
#include <string.h>

#define GOLDEN     0x9E3779B97F4A7C15ull
#define EMBED_SALT 0x656d6265645f7631ull

const char *const gen_vocab[GEN_VOCAB_SIZE] = {
    " the",   " of",  " and",   " a",     " to",   " in",    " is",    " it",   " that",  " for",   " on",
    " with",  " as",  " was",   " at",    " by",   " an",    " be",    " this", " from",  " or",    " are",
    " but",   " not", " which", " have",  " one",  " all",   " were",  " when", " there", " can",   " more",
    " if",    " out", " so",    " up",    " said", " what",  " about", " into", " than",  " them",  " only",
    " other", " new", " some",  " could", " time", " these", " two",   " may",  " then",  " first", " any",
    " like",  " now", " my",    " such",  " make", " over",  " our",   " even", " most",
};

uint64_t gen_fnv1a(const void *p, size_t n, uint64_t h)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t gen_next(uint64_t *state)
{
    uint64_t z = (*state += GOLDEN);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void gen_chat_render(const gen_msg_t *msgs, size_t n, eco_buf_t *out)
{
    for (size_t i = 0; i < n; i++) {
        const gen_msg_t *m = &msgs[i];
        eco_buf_adds(out, "<|im_start|>");
        eco_buf_add(out, m->role, m->role_len);
        eco_buf_addc(out, '\n');
        eco_buf_add(out, m->content, m->content_len);
        int open = i + 1 == n && m->role_len == 9 && memcmp(m->role, "assistant", 9) == 0;
        if (open)
            return;
        eco_buf_adds(out, GEN_END_MARK "\n");
    }
    eco_buf_adds(out, GEN_ASSISTANT_MARK);
}

size_t gen_count_words(const char *s, size_t n)
{
    size_t words = 0;
    int in = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int sp = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
        if (!sp && !in)
            words++;
        in = !sp;
    }
    return words;
}

long gen_prompt_tokens(const char *s, size_t n)
{
    return 1 + (long)gen_count_words(s, n);
}

typedef struct {
    uint64_t state;
    uint32_t left; /* tokens of the full output still to draw */
} seq_t;

static void seq_init(seq_t *q, const gen_cfg_t *cfg, const char *text, size_t len, int64_t seed)
{
    uint64_t s = seed < 0 ? 0 : (uint64_t)seed;
    q->state = gen_fnv1a(text, len, GEN_FNV_OFFSET) ^ (s * GOLDEN);
    uint32_t span = cfg->max_tokens - cfg->min_tokens + 1;
    q->left = cfg->min_tokens + (uint32_t)(gen_next(&q->state) % span);
}

static uint32_t seq_token(seq_t *q)
{
    q->left--;
    return (uint32_t)(gen_next(&q->state) % GEN_VOCAB_SIZE);
}

static const char *memmem_last(const char *hay, size_t n, const char *needle, size_t m)
{
    if (m > n)
        return NULL;
    for (size_t i = n - m + 1; i-- > 0;)
        if (memcmp(hay + i, needle, m) == 0)
            return hay + i;
    return NULL;
}

/* If tail is a prefix of the full output of base, fills *skip_tokens / *skip_bytes (tokens fully
 * covered, bytes of the next token covered) and returns 1. */
static int is_prefix_of_output(const gen_cfg_t *cfg, const char *base, size_t blen, int64_t seed, const char *tail,
                               size_t tlen, size_t *skip_tokens, size_t *skip_bytes)
{
    seq_t q;
    seq_init(&q, cfg, base, blen, seed);
    size_t pos = 0, k = 0;
    while (pos < tlen) {
        if (q.left == 0)
            return 0;
        const char *tok = gen_vocab[seq_token(&q)];
        size_t toklen = strlen(tok), rest = tlen - pos;
        size_t cmp = rest < toklen ? rest : toklen;
        if (memcmp(tail + pos, tok, cmp) != 0)
            return 0;
        if (rest < toklen) {
            *skip_tokens = k;
            *skip_bytes = rest;
            return 1;
        }
        pos += toklen;
        k++;
    }
    *skip_tokens = k;
    *skip_bytes = 0;
    return 1;
}

void gen_run(const gen_cfg_t *cfg, const char *text, size_t len, int64_t seed, long max_tokens, gen_out_t *out)
{
    out->n = 0;
    out->text_len = 0;
    out->finish_length = 0;
    out->continued = 0;
    out->prompt_tokens = gen_prompt_tokens(text, len);

    size_t base_len = len, skip_tokens = 0, skip_bytes = 0;
    const size_t ml = strlen(GEN_ASSISTANT_MARK);
    const char *mark = memmem_last(text, len, GEN_ASSISTANT_MARK, ml);
    if (mark) {
        size_t b = (size_t)(mark - text) + ml;
        const char *tail = text + b;
        size_t tlen = len - b;
        if (tlen > 0 && !memmem_last(tail, tlen, GEN_END_MARK, strlen(GEN_END_MARK)) &&
            is_prefix_of_output(cfg, text, b, seed, tail, tlen, &skip_tokens, &skip_bytes)) {
            base_len = b;
            out->continued = 1;
        }
    }

    seq_t q;
    seq_init(&q, cfg, text, base_len, seed);
    for (size_t i = 0; i < skip_tokens; i++)
        seq_token(&q);
    size_t rest = q.left;
    size_t emit = rest;
    if (max_tokens >= 0 && (size_t)max_tokens < rest) {
        emit = (size_t)max_tokens;
        out->finish_length = 1;
    }
    for (size_t i = 0; i < emit; i++) {
        uint32_t w = seq_token(&q);
        gen_piece_t *p = &out->pieces[i];
        size_t off = i == 0 ? skip_bytes : 0;
        p->p = gen_vocab[w] + off;
        p->len = (uint32_t)(strlen(gen_vocab[w]) - off);
        p->id = GEN_TOKEN_ID_BASE + w;
        out->text_len += p->len;
    }
    out->n = emit;
}

void gen_embed(const char *text, size_t len, float *out, size_t dim)
{
    uint64_t state = gen_fnv1a(text, len, GEN_FNV_OFFSET) ^ EMBED_SALT;
    double sum = 0;
    for (size_t i = 0; i < dim; i++) {
        double v = 2.0 * ((double)(gen_next(&state) >> 11) * 0x1.0p-53) - 1.0;
        sum += v * v;
    }
    /* Second pass over the same sequence: the result is computed in double, then rounded once. */
    double norm = sqrt(sum);
    state = gen_fnv1a(text, len, GEN_FNV_OFFSET) ^ EMBED_SALT;
    for (size_t i = 0; i < dim; i++) {
        double v = 2.0 * ((double)(gen_next(&state) >> 11) * 0x1.0p-53) - 1.0;
        out[i] = norm > 0 ? (float)(v / norm) : (i == 0 ? 1.0f : 0.0f);
    }
}
