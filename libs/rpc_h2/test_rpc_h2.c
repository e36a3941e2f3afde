/* libs/rpc_h2 unit tests: the server tests of libs/rpc_grpc/test_rpc.c (unary, streaming with
 * backpressure, unknown method, deadlines, cancellation, metadata, health, graceful shutdown,
 * overload, lifecycle, the asynchronous client) run against the nghttp2 server, called by the
 * gRPC core client: the two transports must be indistinguishable to a gRPC client. */
#define ECO_RPC_TEST_TRANSPORT "h2"
#include "../rpc_grpc/test_rpc.c"
