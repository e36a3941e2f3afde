/* The OpenAI wire format of ai-service: request validation into eco.ai.v1 messages
 * (oai_req.c) and the answers, chunks and errors (oai_out.c). Pure functions. */
#ifndef AI_OAI_H
#define AI_OAI_H

#include "eco/ai/v1/inference.pb-c.h"
#include "eco_core.h"

#include <jansson.h>

typedef enum { OAI_CHAT = 0, OAI_COMPLETION = 1, OAI_EMBEDDING = 2 } oai_kind_t;

#define OAI_MAX_MESSAGES 1024
#define OAI_MAX_PROMPTS  64
#define OAI_MAX_INPUTS   2048
#define OAI_MAX_STOP     4

typedef struct {
    oai_kind_t kind;
    json_t *root;      /* holds every string below */
    const char *model; /* NULL: the registry default */
    int stream, include_usage;
    /* chat / completion */
    Eco__Ai__V1__GenerateRequest gen; /* prompt = prompts[0] for completions */
    Eco__Ai__V1__ChatMessage *msgs;   /* n = gen.n_messages */
    Eco__Ai__V1__ChatMessage **msgp;
    char **stop;
    char **content_bufs; /* joined content parts, freed with the request */
    size_t ncontent_bufs;
    const char **prompts;
    size_t nprompts;
    /* embeddings */
    Eco__Ai__V1__EmbeddingRequest emb;
    int base64;
} oai_req_t;

typedef struct {
    int status;       /* 400 */
    const char *code; /* "invalid_value", "invalid_type", "missing_required_parameter", "unsupported_parameter" */
    char param[64];
    char message[256];
} oai_err_t;

/* Validates root (a JSON object; a reference is taken) as a request of kind. 0, or -1 with err
 * filled. out must be freed with oai_req_free in both cases. */
int oai_req_parse(oai_kind_t kind, json_t *root, oai_req_t *out, oai_err_t *err);
void oai_req_free(oai_req_t *r);

/* ---- answers (oai_out.c); ids like "chatcmpl-<32 hex>" ---- */

void oai_new_id(oai_kind_t kind, char out[48]);

/* A whole chat.completion / text_completion answer with choices texts[0..n). */
void oai_write_completion(eco_buf_t *b, oai_kind_t kind, const char *id, long created, const char *model,
                          const char *const *texts, const char *const *finish, size_t n,
                          const Eco__Ai__V1__Usage *usage);
/* One streamed chunk: role (first chat chunk) and/or delta text, or finish_reason. */
void oai_write_chunk(eco_buf_t *b, oai_kind_t kind, const char *id, long created, const char *model, int role,
                     const char *delta, size_t len, const char *finish);
/* The usage chunk (choices []) with eco_overhead_us. */
void oai_write_usage_chunk(eco_buf_t *b, oai_kind_t kind, const char *id, long created, const char *model,
                           const Eco__Ai__V1__Usage *usage, long overhead_us);
/* The embeddings list; dims > 0 truncates and re-normalises; base64 = little-endian float32. */
void oai_write_embeddings(eco_buf_t *b, const Eco__Ai__V1__EmbeddingResponse *r, const char *model, unsigned dims,
                          int base64);
/* {"error":{...}} as a stream event payload. */
void oai_write_error(eco_buf_t *b, const char *message, const char *type, const char *code, const char *param);

#endif
