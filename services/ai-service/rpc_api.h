/* ai-service's public gRPC API (eco.ai.v1.Inference). */
#ifndef AI_RPC_API_H
#define AI_RPC_API_H

#include "ai.h"

/* Registers GenerateCompletion, StreamCompletion, GenerateEmbedding and ListModels on srv. */
void rpc_api_register(eco_rpc_server_t *srv, ai_t *ai);

#endif
