/* Generation: which native route each kind uses for chat and for prompts, and the parser of
 * complete answers. Chat keeps its roles wherever the engine has a chat API; only Triton (raw
 * text only) gets messages rendered here, as ChatML. */
#include "engines_internal.h"

#include <string.h>

int eco_engine_build_generate(const eco_engine_kind_t *k, const eco_engine_gen_req_t *r, eco_engine_http_t *out,
                              eco_engine_error_t *e)
{
    memset(out, 0, sizeof(*out));
    int chat = r->nmessages > 0;
    if (!chat && !r->prompt) {
        eco_engine_error_set(e, GRPC_STATUS_INVALID_ARGUMENT, "invalid_request", "give messages or a prompt");
        return -1;
    }
    for (size_t i = 0; i < r->nmessages; i++) {
        if (!r->messages[i].role || !*r->messages[i].role) {
            eco_engine_error_set(e, GRPC_STATUS_INVALID_ARGUMENT, "invalid_request", "messages[%zu] has no role", i);
            return -1;
        }
    }
    if (chat && eco__last_is_assistant(r) && !k->caps.continuation) {
        eco_engine_error_set(e, GRPC_STATUS_UNIMPLEMENTED, "unimplemented",
                             "%s cannot continue a trailing assistant message", k->name);
        return -1;
    }
    switch (k->id) {
    case ECO_ENGINE_TGI:
        return chat ? eco__oai_build(k, r, 1, out, e) : eco__tgi_build(r, out, e);
    case ECO_ENGINE_OLLAMA:
        return eco__ollama_build(r, out, e);
    case ECO_ENGINE_SGLANG:
        return chat ? eco__oai_build(k, r, 1, out, e) : eco__sglang_build(r, out, e);
    case ECO_ENGINE_TRITON:
        return eco__triton_build(r, out, e);
    case ECO_ENGINE_LLAMACPP:
        return chat ? eco__oai_build(k, r, 1, out, e) : eco__llamacpp_build(r, out, e);
    default:
        return eco__oai_build(k, r, chat, out, e);
    }
}

int eco_engine_parse_generate(const eco_engine_kind_t *k, eco_engine_wire_t wire, const char *body, size_t len,
                              eco_engine_result_t *r, eco_engine_error_t *e)
{
    if (len > ECO_ENGINE_MAX_RESPONSE_BODY) {
        eco_engine_error_set(e, GRPC_STATUS_RESOURCE_EXHAUSTED, "response_too_large", "the answer exceeds %u bytes",
                             ECO_ENGINE_MAX_RESPONSE_BODY);
        return -1;
    }
    json_t *root = eco__engine_json(body, len);
    if (!root) {
        eco__malformed(e, "the body is not JSON");
        return -1;
    }
    int rc;
    if (eco__json_is_error(root)) {
        eco__engine_error_json(k, 200, root, e);
        rc = -1;
    } else {
        switch (wire) {
        case ECO_ENGINE_WIRE_OAI_CHAT:
        case ECO_ENGINE_WIRE_OAI_COMPLETION:
            rc = eco__oai_parse(wire, root, r, e);
            break;
        case ECO_ENGINE_WIRE_TGI_GENERATE:
            rc = eco__tgi_parse(root, r, e);
            break;
        case ECO_ENGINE_WIRE_OLLAMA_CHAT:
        case ECO_ENGINE_WIRE_OLLAMA_GENERATE:
            rc = eco__ollama_parse(root, r, e);
            break;
        case ECO_ENGINE_WIRE_SGLANG_GENERATE:
            rc = eco__sglang_parse(root, r, e);
            break;
        case ECO_ENGINE_WIRE_TRITON_GENERATE:
            rc = eco__triton_parse(root, r, e);
            break;
        case ECO_ENGINE_WIRE_LLAMACPP_COMPLETION:
            rc = eco__llamacpp_parse(root, r, e);
            break;
        default:
            eco__malformed(e, "not a generation answer");
            rc = -1;
            break;
        }
    }
    json_decref(root);
    if (rc == 0 && !eco_buf_ok(&r->text)) {
        eco_engine_error_set(e, GRPC_STATUS_RESOURCE_EXHAUSTED, "response_too_large", "the answer exceeds %u bytes",
                             ECO_ENGINE_MAX_RESPONSE_BODY);
        rc = -1;
    }
    return rc;
}
