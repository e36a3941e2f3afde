/* GET /v1/models: the registry in the OpenAI list shape, with eco-base's extra fields
 * (context length, capabilities, which backends are up). */
#include "models.h"

#include <time.h>

static json_t *capabilities(unsigned caps)
{
    json_t *a = json_array();
    if (caps & REG_CAP_CHAT)
        json_array_append_new(a, json_string("chat"));
    if (caps & REG_CAP_COMPLETION)
        json_array_append_new(a, json_string("completion"));
    if (caps & REG_CAP_EMBEDDING)
        json_array_append_new(a, json_string("embedding"));
    return a;
}

static json_t *model_json(const models_ctx_t *ctx, const reg_model_t *m)
{
    json_t *backends = json_array();
    size_t up = 0;
    for (size_t k = 0; k < m->nbackends; k++) {
        int healthy = backends_healthy(ctx->backends, m->backends[k].address);
        up += healthy != 0;
        json_array_append_new(backends, json_pack("{s:s, s:i, s:b}", "name", m->backends[k].name, "tier",
                                                  m->backends[k].tier, "healthy", healthy));
    }
    json_t *aliases = json_array();
    for (size_t a = 0; a < m->naliases; a++)
        json_array_append_new(aliases, json_string(m->aliases[a]));
    return json_pack("{s:s, s:s, s:I, s:s, s:I, s:o, s:o, s:o, s:I, s:b}", "id", m->id, "object", "model", "created",
                     (json_int_t)ctx->created, "owned_by", m->owned_by, "context_length", (json_int_t)m->context_length,
                     "capabilities", capabilities(m->caps), "aliases", aliases, "backends", backends, "backends_up",
                     (json_int_t)up, "default",
                     (*ctx->registry)->default_model && m == registry_find(*ctx->registry, NULL));
}

int models_list(eco_http_call_t *call)
{
    const models_ctx_t *ctx = call->data;
    json_t *data = json_array();
    for (size_t i = 0; i < (*ctx->registry)->nmodels; i++)
        json_array_append_new(data, model_json(ctx, &(*ctx->registry)->models[i]));
    eco_http_send_json(call, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
    return 0;
}

int models_get(eco_http_call_t *call)
{
    const models_ctx_t *ctx = call->data;
    h2o_iovec_t id = eco_http_param(call, "model");
    char name[256];
    snprintf(name, sizeof(name), "%.*s", (int)(id.len < 255 ? id.len : 255), id.base);
    const reg_model_t *m = id.len < 255 ? registry_find(*ctx->registry, name) : NULL;
    if (!m) {
        eco_http_send_error(call, 404, "model_not_found", "model", "The model '%s' does not exist", name);
        return 0;
    }
    eco_http_send_json(call, 200, model_json(ctx, m));
    return 0;
}

void models_init(models_ctx_t *ctx, registry_t *const *reg, backends_t *b)
{
    ctx->registry = reg;
    ctx->backends = b;
    ctx->created = (long long)time(NULL);
}
