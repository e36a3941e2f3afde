/* The operations of eco.index.v1.Index by number: one dispatch to the typed store functions for
 * the gRPC methods (rpc.c) and the REST routes (rest.c). */
#include "index.h"

const char *const ix_op_method[IX_OP_N] = {
    [IX_OP_CREATE] = "CreateCollection",
    [IX_OP_DROP] = "DeleteCollection",
    [IX_OP_LIST] = "ListCollections",
    [IX_OP_UPSERT] = "Upsert",
    [IX_OP_DELETE] = "Delete",
    [IX_OP_SEARCH] = "Search",
    [IX_OP_GET] = "Get",
    [IX_OP_STATS] = "Stats",
};

/* Calls fn with the request as its own type and hands back its answer as a ProtobufCMessage. */
#define RUN(fn, Req, Resp)                                                                                             \
    do {                                                                                                               \
        Resp *o = NULL;                                                                                                \
        int rc = fn(st, (const Req *)req, &o, e);                                                                      \
        *out = o ? &o->base : NULL;                                                                                    \
        return rc;                                                                                                     \
    } while (0)

int ix_op_run(ix_store_t *st, ix_op_id_t op, const ProtobufCMessage *req, ProtobufCMessage **out, ix_err_t *e)
{
    *out = NULL;
    switch (op) {
    case IX_OP_CREATE:
        RUN(ix_store_create, Eco__Index__V1__CreateCollectionRequest, Eco__Index__V1__Collection);
    case IX_OP_DROP:
        RUN(ix_store_drop, Eco__Index__V1__DeleteCollectionRequest, Eco__Index__V1__DeleteCollectionResponse);
    case IX_OP_LIST: {
        Eco__Index__V1__ListCollectionsResponse *o = NULL;
        int rc = ix_store_list(st, &o, e);
        *out = o ? &o->base : NULL;
        return rc;
    }
    case IX_OP_UPSERT:
        RUN(ix_store_upsert, Eco__Index__V1__UpsertRequest, Eco__Index__V1__UpsertResponse);
    case IX_OP_DELETE:
        RUN(ix_store_delete, Eco__Index__V1__DeleteRequest, Eco__Index__V1__DeleteResponse);
    case IX_OP_SEARCH:
        RUN(ix_store_search, Eco__Index__V1__SearchRequest, Eco__Index__V1__SearchResponse);
    case IX_OP_GET:
        RUN(ix_store_get, Eco__Index__V1__GetRequest, Eco__Index__V1__GetResponse);
    case IX_OP_STATS:
        RUN(ix_store_stats, Eco__Index__V1__StatsRequest, Eco__Index__V1__StatsResponse);
    case IX_OP_N:
        break;
    }
    return ix_fail(e, IX_INTERNAL, "", "unknown operation %d", (int)op);
}
