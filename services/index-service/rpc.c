/* eco.index.v1.Index over gRPC: each method hands its (already parsed) request to the store and
 * answers with the store's message or its status. The handlers run on the gRPC worker threads
 * and wait for the store (a write waits for its WAL fsync): fine for this slice's volumes; a
 * write queue with group commit would take that wait off the workers. */
#include "eco_rpc.h"
#include "index.h"

static void answer(eco_rpc_call_t *call, int rc, ProtobufCMessage *out, const ix_err_t *e)
{
    if (rc == 0) {
        eco_rpc_call_respond(call, out, NULL, 0);
        protobuf_c_message_free_unpacked(out, NULL);
    } else
        eco_rpc_call_finish(call, (grpc_status_code)e->code, e->msg, NULL, 0);
}

static void h_create(eco_rpc_call_t *call, const ProtobufCMessage *req, void *data)
{
    Eco__Index__V1__Collection *out = NULL;
    ix_err_t e;
    int rc = ix_store_create(data, (const Eco__Index__V1__CreateCollectionRequest *)req, &out, &e);
    answer(call, rc, rc == 0 ? &out->base : NULL, &e);
}

static void h_drop(eco_rpc_call_t *call, const ProtobufCMessage *req, void *data)
{
    Eco__Index__V1__DeleteCollectionResponse *out = NULL;
    ix_err_t e;
    int rc = ix_store_drop(data, (const Eco__Index__V1__DeleteCollectionRequest *)req, &out, &e);
    answer(call, rc, rc == 0 ? &out->base : NULL, &e);
}

static void h_list(eco_rpc_call_t *call, const ProtobufCMessage *req, void *data)
{
    Eco__Index__V1__ListCollectionsResponse *out = NULL;
    ix_err_t e;
    int rc = ix_store_list(data, &out, &e);
    answer(call, rc, rc == 0 ? &out->base : NULL, &e);
}

static void h_upsert(eco_rpc_call_t *call, const ProtobufCMessage *req, void *data)
{
    Eco__Index__V1__UpsertResponse *out = NULL;
    ix_err_t e;
    int rc = ix_store_upsert(data, (const Eco__Index__V1__UpsertRequest *)req, &out, &e);
    answer(call, rc, rc == 0 ? &out->base : NULL, &e);
}

static void h_delete(eco_rpc_call_t *call, const ProtobufCMessage *req, void *data)
{
    Eco__Index__V1__DeleteResponse *out = NULL;
    ix_err_t e;
    int rc = ix_store_delete(data, (const Eco__Index__V1__DeleteRequest *)req, &out, &e);
    answer(call, rc, rc == 0 ? &out->base : NULL, &e);
}

static void h_search(eco_rpc_call_t *call, const ProtobufCMessage *req, void *data)
{
    Eco__Index__V1__SearchResponse *out = NULL;
    ix_err_t e;
    int rc = ix_store_search(data, (const Eco__Index__V1__SearchRequest *)req, &out, &e);
    answer(call, rc, rc == 0 ? &out->base : NULL, &e);
}

static void h_get(eco_rpc_call_t *call, const ProtobufCMessage *req, void *data)
{
    Eco__Index__V1__GetResponse *out = NULL;
    ix_err_t e;
    int rc = ix_store_get(data, (const Eco__Index__V1__GetRequest *)req, &out, &e);
    answer(call, rc, rc == 0 ? &out->base : NULL, &e);
}

static void h_stats(eco_rpc_call_t *call, const ProtobufCMessage *req, void *data)
{
    Eco__Index__V1__StatsResponse *out = NULL;
    ix_err_t e;
    int rc = ix_store_stats(data, (const Eco__Index__V1__StatsRequest *)req, &out, &e);
    answer(call, rc, rc == 0 ? &out->base : NULL, &e);
}

int ix_rpc_register(eco_rpc_server_t *srv, ix_store_t *st)
{
    static const struct {
        const char *name;
        eco_rpc_handler_fn fn;
    } methods[] = {
        {"CreateCollection", h_create},
        {"DeleteCollection", h_drop},
        {"ListCollections", h_list},
        {"Upsert", h_upsert},
        {"Delete", h_delete},
        {"Search", h_search},
        {"Get", h_get},
        {"Stats", h_stats},
    };
    for (size_t i = 0; i < ECO_ARRAY_SIZE(methods); i++)
        if (eco_rpc_server_add_method(srv, &eco__index__v1__index__descriptor, methods[i].name, ECO_RPC_UNARY,
                                      methods[i].fn, st) != 0)
            return -1;
    return 0;
}
