/* Conveniences for services that serve gRPC next to their HTTP port. */
#include "eco_rpc.h"

#include <stdio.h>

eco_rpc_server_t *eco_rpc_server_for_service(const char *bind_addr, int port, const eco_rpc_server_opts_t *base)
{
    char addr[96];
    snprintf(addr, sizeof(addr), "%s:%d", bind_addr, port);
    eco_rpc_server_opts_t o = {0};
    if (base)
        o = *base;
    o.addr = addr; /* copied by create */
    eco_rpc_server_t *srv = eco_rpc_server_create(&o);
    eco_rpc_health_register(srv, NULL, NULL, 0);
    return srv;
}

void eco_rpc_drain(void *srv, long grace_ms)
{
    eco_rpc_server_shutdown(srv, grace_ms);
}
