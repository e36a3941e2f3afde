/* Backend health probing over grpc.health.v1 (runs on the readiness checker thread). */
#include "backends.h"

#include "eco_rpc.h"
#include "grpc/health/v1/health.pb-c.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_TIMEOUT_MS 500

typedef struct {
    const char *address; /* borrowed from the registry */
    eco_rpc_channel_t *ch;
    atomic_int healthy; /* written by the readiness thread, read by request handlers */
} probe_t;

struct backends {
    const registry_t *reg;
    probe_t probes[REG_MAX_MODELS * REG_MAX_BACKENDS];
    size_t nprobes;
};

static probe_t *probe_for(backends_t *b, const char *address)
{
    for (size_t i = 0; i < b->nprobes; i++)
        if (strcmp(b->probes[i].address, address) == 0)
            return &b->probes[i];
    probe_t *p = &b->probes[b->nprobes++];
    p->address = address;
    p->ch = eco_rpc_channel_create(address, NULL);
    return p;
}

backends_t *backends_new(const registry_t *reg)
{
    backends_t *b = eco_calloc(1, sizeof(*b));
    b->reg = reg;
    for (size_t m = 0; m < reg->nmodels; m++)
        for (size_t k = 0; k < reg->models[m].nbackends; k++)
            probe_for(b, reg->models[m].backends[k].address);
    return b;
}

void backends_free(backends_t *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->nprobes; i++)
        eco_rpc_channel_destroy(b->probes[i].ch);
    free(b);
}

static int probe(probe_t *p)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "";
    eco_rpc_call_opts_t opts = {.timeout_ms = PROBE_TIMEOUT_MS};
    ProtobufCMessage *resp = NULL;
    int rc = eco_rpc_client_unary(p->ch, &grpc__health__v1__health__descriptor, "Check", &req.base, &opts, &resp, NULL);
    int ok = rc == 0 && ((Grpc__Health__V1__HealthCheckResponse *)resp)->status ==
                            GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    if (resp)
        protobuf_c_message_free_unpacked(resp, NULL);
    return ok;
}

eco_dep_state_t backends_check_models(void *data, char *detail, size_t len)
{
    backends_t *b = data;
    for (size_t i = 0; i < b->nprobes; i++)
        atomic_store(&b->probes[i].healthy, probe(&b->probes[i]));
    size_t served = 0, unserved = 0;
    eco_buf_t names;
    eco_buf_init(&names, len);
    for (size_t m = 0; m < b->reg->nmodels; m++) {
        const reg_model_t *model = &b->reg->models[m];
        int any = 0;
        for (size_t k = 0; k < model->nbackends && !any; k++)
            any = backends_healthy(b, model->backends[k].address);
        if (any) {
            served++;
        } else {
            unserved++;
            eco_buf_addf(&names, "%s%s", names.len ? "," : "", model->id);
        }
    }
    snprintf(detail, len, "%zu of %zu models have a healthy backend%s%s", served, served + unserved,
             unserved ? "; none for: " : "", unserved ? eco_buf_cstr(&names) : "");
    eco_buf_free(&names);
    if (served == 0)
        return ECO_DEP_DOWN;
    return unserved ? ECO_DEP_DEGRADED : ECO_DEP_UP;
}

int backends_healthy(const backends_t *b, const char *address)
{
    for (size_t i = 0; i < b->nprobes; i++)
        if (strcmp(b->probes[i].address, address) == 0)
            return atomic_load(&b->probes[i].healthy);
    return 0;
}
