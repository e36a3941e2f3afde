/* protobuf-c messages <-> grpc_byte_buffer, and deadlines. */
#include "rpc_internal.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/slice.h>
#include <grpc/support/time.h>
#include <string.h>

grpc_byte_buffer *eco_rpc_pack(const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    grpc_slice s = grpc_slice_malloc(n); /* n == 0 is fine: an all-default proto3 message */
    size_t w = protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(s));
    ECO_BUG_ON(w != n);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1); /* takes its own ref */
    grpc_slice_unref(s);
    return bb;
}

int eco_rpc_unpack(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb, ProtobufCMessage **out)
{
    *out = NULL;
    if (!bb)
        return ECO_RPC_EPROTO;
    ProtobufCMessage *m;
    if (bb->type == GRPC_BB_RAW && bb->data.raw.compression == GRPC_COMPRESS_NONE &&
        bb->data.raw.slice_buffer.count == 1) {
        /* The common case: one uncompressed slice, parsed in place without a copy. */
        grpc_slice s = bb->data.raw.slice_buffer.slices[0];
        m = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    } else {
        grpc_byte_buffer_reader r;
        if (!grpc_byte_buffer_reader_init(&r, bb)) /* also decompresses */
            return ECO_RPC_EPROTO;
        grpc_slice all = grpc_byte_buffer_reader_readall(&r);
        grpc_byte_buffer_reader_destroy(&r);
        m = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
        grpc_slice_unref(all);
    }
    if (!m)
        return ECO_RPC_EPROTO;
    *out = m;
    return 0;
}

gpr_timespec eco__rpc_deadline_ms(long ms)
{
    if (ms <= 0)
        return gpr_inf_future(GPR_CLOCK_MONOTONIC);
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}
