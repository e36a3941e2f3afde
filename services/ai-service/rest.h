/* ai-service's OpenAI REST routes. */
#ifndef AI_REST_H
#define AI_REST_H

#include "ai.h"

void rest_routes(eco_service_t *svc, ai_t *ai);

#endif
