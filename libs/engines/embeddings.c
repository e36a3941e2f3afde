/* Embeddings: OpenAI /v1/embeddings (vLLM, OpenAI), Ollama /api/embed, llama.cpp /embedding and
 * text-embeddings-inference /embed (next to TGI, which serves none itself). */
#include "engines_internal.h"

#include <stdlib.h>
#include <string.h>

static int unimplemented(eco_engine_error_t *e, const char *fmt, const char *name)
{
    eco_engine_error_set(e, GRPC_STATUS_UNIMPLEMENTED, "unimplemented", fmt, name);
    return -1;
}

int eco_engine_build_embed(const eco_engine_kind_t *k, int tei, const eco_engine_embed_req_t *r, eco_engine_http_t *out,
                           eco_engine_error_t *e)
{
    memset(out, 0, sizeof(*out));
    if (r->ninput == 0 || r->ninput > ECO_ENGINE_MAX_EMBEDDINGS) {
        eco_engine_error_set(e, GRPC_STATUS_INVALID_ARGUMENT, "invalid_request", "give 1-%d inputs",
                             ECO_ENGINE_MAX_EMBEDDINGS);
        return -1;
    }
    int dims_ok = !tei && (k->id == ECO_ENGINE_VLLM || k->id == ECO_ENGINE_OPENAI || k->id == ECO_ENGINE_OLLAMA);
    if (r->dimensions && dims_ok == 0 && (tei || k->caps.embeddings)) {
        eco_engine_error_set(e, GRPC_STATUS_INVALID_ARGUMENT, "invalid_request",
                             "%s cannot reduce embedding dimensions; leave dimensions at 0", tei ? "TEI" : k->name);
        return -1;
    }
    eco_buf_t *b;
    int first = 1;
    if (tei) {
        eco__http_start(out, ECO_ENGINE_WIRE_TEI_EMBED, "/embed");
        b = &out->body;
        eco_buf_addc(b, '{');
        eco__json_key(b, &first, "inputs");
        eco__json_str_array(b, r->input, r->ninput);
        eco__json_kv_raw(b, &first, "truncate", "false");
        eco_buf_addc(b, '}');
        return eco__http_check(out, e);
    }
    switch (k->id) {
    case ECO_ENGINE_VLLM:
    case ECO_ENGINE_OPENAI:
        eco__http_start(out, ECO_ENGINE_WIRE_OAI_EMBEDDINGS, "/v1/embeddings");
        b = &out->body;
        eco_buf_addc(b, '{');
        if (r->model && *r->model)
            eco__json_kv_str(b, &first, "model", r->model);
        eco__json_key(b, &first, "input");
        eco__json_str_array(b, r->input, r->ninput);
        eco__json_kv_str(b, &first, "encoding_format", "float");
        if (r->dimensions)
            eco__json_kv_int(b, &first, "dimensions", r->dimensions);
        eco_buf_addc(b, '}');
        break;
    case ECO_ENGINE_OLLAMA:
        eco__http_start(out, ECO_ENGINE_WIRE_OLLAMA_EMBED, "/api/embed");
        b = &out->body;
        eco_buf_addc(b, '{');
        eco__json_kv_str(b, &first, "model", r->model ? r->model : "");
        eco__json_key(b, &first, "input");
        eco__json_str_array(b, r->input, r->ninput);
        /* An input longer than the context is an error, not silently truncated. */
        eco__json_kv_raw(b, &first, "truncate", "false");
        if (r->dimensions)
            eco__json_kv_int(b, &first, "dimensions", r->dimensions);
        eco_buf_addc(b, '}');
        break;
    case ECO_ENGINE_LLAMACPP:
        eco__http_start(out, ECO_ENGINE_WIRE_LLAMACPP_EMBEDDING, "/embedding");
        b = &out->body;
        eco_buf_addc(b, '{');
        eco__json_key(b, &first, "content");
        eco__json_str_array(b, r->input, r->ninput);
        eco_buf_addc(b, '}');
        break;
    case ECO_ENGINE_TGI:
        return unimplemented(e, "%s serves no embeddings (configure a TEI server: ECO_ENGINE_TEI_URL)", k->name);
    default:
        return unimplemented(e, "%s serves no embeddings through this adapter", k->name);
    }
    return eco__http_check(out, e);
}

void eco_engine_embeddings_free(eco_engine_embeddings_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->v[i].values);
    free(r->v);
    r->v = NULL;
    r->n = 0;
}

/* A vector from [numbers] or a pooled [[numbers]]. 0 or -1. */
static int take_vector(json_t *arr, uint32_t index, eco_engine_embeddings_t *out)
{
    if (json_is_array(arr) && json_array_size(arr) == 1 && json_is_array(json_array_get(arr, 0)))
        arr = json_array_get(arr, 0);
    size_t n = json_array_size(arr);
    if (!json_is_array(arr) || n == 0 || n > ECO_ENGINE_MAX_EMBEDDING_DIM || out->n >= ECO_ENGINE_MAX_EMBEDDINGS)
        return -1;
    float *v = eco_malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) {
        json_t *x = json_array_get(arr, i);
        if (!json_is_number(x)) {
            free(v);
            return -1;
        }
        v[i] = (float)json_number_value(x);
    }
    out->v = eco_realloc(out->v, sizeof(*out->v) * (out->n + 1));
    out->v[out->n++] = (eco_engine_vector_t){v, n, index};
    return 0;
}

static int by_index(const void *a, const void *b)
{
    uint32_t x = ((const eco_engine_vector_t *)a)->index, y = ((const eco_engine_vector_t *)b)->index;
    return x < y ? -1 : x > y;
}

/* [{"index", "embedding"}...] (OpenAI data, llama.cpp); items without an index take their position. */
static int take_items(json_t *items, eco_engine_embeddings_t *out)
{
    size_t i;
    json_t *it;
    if (!json_is_array(items) || json_array_size(items) == 0)
        return -1;
    json_array_foreach(items, i, it)
    {
        uint32_t idx = (uint32_t)i;
        eco__json_u32(it, "index", &idx);
        if (take_vector(eco__json_get(it, "embedding"), idx, out) != 0)
            return -1;
    }
    return 0;
}

static int take_lists(json_t *lists, eco_engine_embeddings_t *out)
{
    size_t i;
    json_t *v;
    if (!json_is_array(lists) || json_array_size(lists) == 0)
        return -1;
    json_array_foreach(lists, i, v) if (take_vector(v, (uint32_t)i, out) != 0) return -1;
    return 0;
}

int eco_engine_parse_embeddings(const eco_engine_kind_t *k, eco_engine_wire_t wire, const char *body, size_t len,
                                eco_engine_embeddings_t *out, eco_engine_error_t *e)
{
    memset(out, 0, sizeof(*out));
    json_t *root = len <= ECO_ENGINE_MAX_RESPONSE_BODY * 4u ? eco__engine_json(body, len) : NULL;
    if (!root) {
        eco__malformed(e, "the embeddings answer is not JSON (or too large)");
        return -1;
    }
    if (eco__json_is_error(root)) {
        eco__engine_error_json(k, 200, root, e);
        json_decref(root);
        return -1;
    }
    int rc = -1;
    switch (wire) {
    case ECO_ENGINE_WIRE_OAI_EMBEDDINGS:
        rc = take_items(eco__json_get(root, "data"), out);
        out->has_prompt_tokens = eco__json_u32(eco__json_get(root, "usage"), "prompt_tokens", &out->prompt_tokens);
        break;
    case ECO_ENGINE_WIRE_OLLAMA_EMBED:
        rc = take_lists(eco__json_get(root, "embeddings"), out);
        out->has_prompt_tokens = eco__json_u32(root, "prompt_eval_count", &out->prompt_tokens);
        break;
    case ECO_ENGINE_WIRE_LLAMACPP_EMBEDDING:
        if (json_is_array(root))
            rc = take_items(root, out);
        else
            rc = take_vector(eco__json_get(root, "embedding"), 0, out);
        break;
    case ECO_ENGINE_WIRE_TEI_EMBED:
        rc = take_lists(root, out);
        break;
    default:
        break;
    }
    const char *model = eco__json_str(root, "model", NULL);
    if (model)
        snprintf(out->model, sizeof(out->model), "%s", model);
    json_decref(root);
    if (rc != 0) {
        eco_engine_embeddings_free(out);
        eco__malformed(e, "unexpected embeddings shape");
        return -1;
    }
    qsort(out->v, out->n, sizeof(*out->v), by_index);
    return 0;
}
