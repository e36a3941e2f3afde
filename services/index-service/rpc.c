/* eco.index.v1.Index over gRPC: each method hands its (already parsed) request to the store and
 * answers with the store's message or its status. The handlers run on the gRPC worker threads
 * and wait for the store (a write waits for its WAL fsync): fine for this slice's volumes; a
 * write queue with group commit would take that wait off the workers. */
#include "eco_rpc.h"
#include "index.h"

typedef struct {
    ix_store_t *st;
    ix_op_id_t op;
} method_t;

static method_t methods[IX_OP_N];

static void handle(eco_rpc_call_t *call, const ProtobufCMessage *req, void *data)
{
    const method_t *m = data;
    ProtobufCMessage *out = NULL;
    ix_err_t e;
    if (ix_op_run(m->st, m->op, req, &out, &e) == 0) {
        eco_rpc_call_respond(call, out, NULL, 0);
        protobuf_c_message_free_unpacked(out, NULL);
    } else {
        eco_rpc_call_finish(call, (grpc_status_code)e.code, e.msg, NULL, 0);
    }
}

int ix_rpc_register(eco_rpc_server_t *srv, ix_store_t *st)
{
    for (int op = 0; op < IX_OP_N; op++) {
        methods[op] = (method_t){st, (ix_op_id_t)op};
        if (eco_rpc_server_add_method(srv, &eco__index__v1__index__descriptor, ix_op_method[op], ECO_RPC_UNARY, handle,
                                      &methods[op]) != 0)
            return -1;
    }
    return 0;
}
