/* libFuzzer target: OpenAI request bodies through ai-service's validation and back out through
 * the answer writers. The first byte picks the endpoint; the rest is the body.
 * fuzz-srcs: services/ai-service/oai_req.c services/ai-service/oai_out.c build/gen/eco/ai/v1/inference.pb-c.c
 * fuzz-libs: -lprotobuf-c -lcrypto */
#include "oai.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    oai_kind_t kind = (oai_kind_t)(data[0] % 3);
    json_error_t je;
    json_t *root = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return 0;
    oai_req_t r;
    oai_err_t e;
    int rc = oai_req_parse(kind, root, &r, &e);
    json_decref(root);
    eco_buf_t b;
    eco_buf_init(&b, 0);
    if (rc == 0 && kind != OAI_EMBEDDING) {
        const char *texts[1] = {r.gen.n_messages ? r.gen.messages[r.gen.n_messages - 1]->content : r.gen.prompt};
        const char *fin[1] = {"stop"};
        oai_write_completion(&b, kind, "id", 0, r.model ? r.model : "m", texts, fin, 1, NULL);
        oai_write_chunk(&b, kind, "id", 0, "m", 1, texts[0], strlen(texts[0]), NULL);
    } else if (rc != 0) {
        if (e.status != 400 || !e.code || !e.message[0])
            __builtin_trap(); /* every refusal is a precise 400 */
        oai_write_error(&b, e.message, "invalid_request_error", e.code, e.param);
    }
    eco_buf_free(&b);
    oai_req_free(&r);
    return 0;
}
