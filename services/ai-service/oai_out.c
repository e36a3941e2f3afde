/* OpenAI answers written straight into a buffer (no intermediate JSON tree on the hot path). */
#include "oai.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

void oai_new_id(oai_kind_t kind, char out[48])
{
    char hex[33];
    eco_random_hex_id(hex);
    snprintf(out, 48, "%s-%s", kind == OAI_CHAT ? "chatcmpl" : kind == OAI_COMPLETION ? "cmpl" : "emb", hex);
}

static void head(eco_buf_t *b, const char *id, const char *object, long created, const char *model)
{
    eco_buf_adds(b, "{\"id\":");
    eco_buf_add_json_str(b, id, (size_t)-1);
    eco_buf_addf(b, ",\"object\":\"%s\",\"created\":%ld,\"model\":", object, created);
    eco_buf_add_json_str(b, model, (size_t)-1);
}

static void usage_obj(eco_buf_t *b, const Eco__Ai__V1__Usage *u)
{
    eco_buf_addf(b, "\"usage\":{\"prompt_tokens\":%u,\"completion_tokens\":%u,\"total_tokens\":%u}",
                 u ? u->prompt_tokens : 0, u ? u->completion_tokens : 0, u ? u->total_tokens : 0);
}

static void finish_val(eco_buf_t *b, const char *finish)
{
    if (finish && finish[0])
        eco_buf_add_json_str(b, finish, (size_t)-1);
    else
        eco_buf_adds(b, "null");
}

void oai_write_completion(eco_buf_t *b, oai_kind_t kind, const char *id, long created, const char *model,
                          const char *const *texts, const char *const *finish, size_t n,
                          const Eco__Ai__V1__Usage *usage)
{
    head(b, id, kind == OAI_CHAT ? "chat.completion" : "text_completion", created, model);
    eco_buf_adds(b, ",\"choices\":[");
    for (size_t i = 0; i < n; i++) {
        eco_buf_addf(b, "%s{\"index\":%zu,", i ? "," : "", i);
        if (kind == OAI_CHAT) {
            eco_buf_adds(b, "\"message\":{\"role\":\"assistant\",\"content\":");
            eco_buf_add_json_str(b, texts[i], (size_t)-1);
            eco_buf_adds(b, "}");
        } else {
            eco_buf_adds(b, "\"text\":");
            eco_buf_add_json_str(b, texts[i], (size_t)-1);
        }
        eco_buf_adds(b, ",\"logprobs\":null,\"finish_reason\":");
        finish_val(b, finish[i]);
        eco_buf_adds(b, "}");
    }
    eco_buf_adds(b, "],");
    usage_obj(b, usage);
    eco_buf_adds(b, "}");
}

void oai_write_chunk(eco_buf_t *b, oai_kind_t kind, const char *id, long created, const char *model, int role,
                     const char *delta, size_t len, const char *finish)
{
    head(b, id, kind == OAI_CHAT ? "chat.completion.chunk" : "text_completion", created, model);
    eco_buf_adds(b, ",\"choices\":[{\"index\":0,");
    if (kind == OAI_CHAT) {
        eco_buf_adds(b, "\"delta\":{");
        if (role)
            eco_buf_adds(b, "\"role\":\"assistant\"");
        if (delta) {
            eco_buf_adds(b, role ? ",\"content\":" : "\"content\":");
            eco_buf_add_json_str(b, delta, len);
        }
        eco_buf_adds(b, "}");
    } else {
        eco_buf_adds(b, "\"text\":");
        eco_buf_add_json_str(b, delta ? delta : "", delta ? len : 0);
    }
    eco_buf_adds(b, ",\"logprobs\":null,\"finish_reason\":");
    finish_val(b, finish);
    eco_buf_adds(b, "}]}");
}

void oai_write_usage_chunk(eco_buf_t *b, oai_kind_t kind, const char *id, long created, const char *model,
                           const Eco__Ai__V1__Usage *usage, long overhead_us)
{
    head(b, id, kind == OAI_CHAT ? "chat.completion.chunk" : "text_completion", created, model);
    eco_buf_adds(b, ",\"choices\":[],");
    usage_obj(b, usage);
    eco_buf_addf(b, ",\"eco_overhead_us\":%ld}", overhead_us);
}

void oai_write_embeddings(eco_buf_t *b, const Eco__Ai__V1__EmbeddingResponse *r, const char *model, unsigned dims,
                          int base64)
{
    eco_buf_adds(b, "{\"object\":\"list\",\"data\":[");
    for (size_t i = 0; i < r->n_data; i++) {
        const Eco__Ai__V1__Embedding *e = r->data[i];
        size_t n = dims && dims < e->n_values ? dims : e->n_values;
        double norm = 1.0;
        if (n < e->n_values) { /* truncated: re-normalise to unit length */
            double ss = 0;
            for (size_t k = 0; k < n; k++)
                ss += (double)e->values[k] * e->values[k];
            norm = ss > 0 ? sqrt(ss) : 1.0;
        }
        eco_buf_addf(b, "%s{\"object\":\"embedding\",\"index\":%u,\"embedding\":", i ? "," : "", e->index);
        if (base64) {
            float *tmp = eco_calloc(n ? n : 1, sizeof(float));
            for (size_t k = 0; k < n; k++)
                tmp[k] = (float)(e->values[k] / norm); /* x86 and arm64: little-endian already */
            size_t blen = 4 * ((n * sizeof(float) + 2) / 3);
            unsigned char *enc = eco_calloc(blen + 1, 1);
            EVP_EncodeBlock(enc, (const unsigned char *)tmp, (int)(n * sizeof(float)));
            eco_buf_addc(b, '"');
            eco_buf_add(b, enc, blen);
            eco_buf_addc(b, '"');
            free(enc);
            free(tmp);
        } else {
            eco_buf_addc(b, '[');
            for (size_t k = 0; k < n; k++)
                eco_buf_addf(b, "%s%.9g", k ? "," : "", (double)(float)(e->values[k] / norm));
            eco_buf_addc(b, ']');
        }
        eco_buf_addc(b, '}');
    }
    eco_buf_adds(b, "],\"model\":");
    eco_buf_add_json_str(b, model, (size_t)-1);
    unsigned pt = r->usage ? r->usage->prompt_tokens : 0;
    eco_buf_addf(b, ",\"usage\":{\"prompt_tokens\":%u,\"total_tokens\":%u}}", pt, pt);
}

void oai_write_error(eco_buf_t *b, const char *message, const char *type, const char *code, const char *param)
{
    eco_buf_adds(b, "{\"error\":{\"message\":");
    eco_buf_add_json_str(b, message, (size_t)-1);
    eco_buf_adds(b, ",\"type\":");
    eco_buf_add_json_str(b, type, (size_t)-1);
    eco_buf_adds(b, ",\"param\":");
    if (param)
        eco_buf_add_json_str(b, param, (size_t)-1);
    else
        eco_buf_adds(b, "null");
    eco_buf_adds(b, ",\"code\":");
    if (code)
        eco_buf_add_json_str(b, code, (size_t)-1);
    else
        eco_buf_adds(b, "null");
    eco_buf_adds(b, "}}");
}
