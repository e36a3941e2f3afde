/* gRPC status codes: names, and the mappings to and from HTTP statuses. */
#include "eco_core.h"
#include "eco_rpc.h"

#include <strings.h>

static const char *const status_names[] = {
    [GRPC_STATUS_OK] = "OK",
    [GRPC_STATUS_CANCELLED] = "CANCELLED",
    [GRPC_STATUS_UNKNOWN] = "UNKNOWN",
    [GRPC_STATUS_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
    [GRPC_STATUS_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
    [GRPC_STATUS_NOT_FOUND] = "NOT_FOUND",
    [GRPC_STATUS_ALREADY_EXISTS] = "ALREADY_EXISTS",
    [GRPC_STATUS_PERMISSION_DENIED] = "PERMISSION_DENIED",
    [GRPC_STATUS_RESOURCE_EXHAUSTED] = "RESOURCE_EXHAUSTED",
    [GRPC_STATUS_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
    [GRPC_STATUS_ABORTED] = "ABORTED",
    [GRPC_STATUS_OUT_OF_RANGE] = "OUT_OF_RANGE",
    [GRPC_STATUS_UNIMPLEMENTED] = "UNIMPLEMENTED",
    [GRPC_STATUS_INTERNAL] = "INTERNAL",
    [GRPC_STATUS_UNAVAILABLE] = "UNAVAILABLE",
    [GRPC_STATUS_DATA_LOSS] = "DATA_LOSS",
    [GRPC_STATUS_UNAUTHENTICATED] = "UNAUTHENTICATED",
};

const char *eco_rpc_status_name(grpc_status_code code)
{
    if ((unsigned)code >= ECO_ARRAY_SIZE(status_names))
        return "UNKNOWN";
    return status_names[code];
}

int eco_rpc_status_from_name(const char *name, grpc_status_code *out)
{
    if (!name)
        return ECO_EINVAL;
    for (size_t i = 0; i < ECO_ARRAY_SIZE(status_names); i++) {
        if (strcasecmp(name, status_names[i]) == 0) {
            *out = (grpc_status_code)i;
            return 0;
        }
    }
    return ECO_EINVAL;
}

int eco_rpc_status_to_http(grpc_status_code code)
{
    switch (code) {
    case GRPC_STATUS_OK:
        return 200;
    case GRPC_STATUS_INVALID_ARGUMENT:
    case GRPC_STATUS_FAILED_PRECONDITION:
    case GRPC_STATUS_OUT_OF_RANGE:
        return 400;
    case GRPC_STATUS_UNAUTHENTICATED:
        return 401;
    case GRPC_STATUS_PERMISSION_DENIED:
        return 403;
    case GRPC_STATUS_NOT_FOUND:
        return 404;
    case GRPC_STATUS_ALREADY_EXISTS:
    case GRPC_STATUS_ABORTED:
        return 409;
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
        return 429;
    case GRPC_STATUS_CANCELLED:
        return 499; /* client closed request */
    case GRPC_STATUS_UNIMPLEMENTED:
        return 501;
    case GRPC_STATUS_UNAVAILABLE:
        return 503;
    case GRPC_STATUS_DEADLINE_EXCEEDED:
        return 504;
    default:
        return 500;
    }
}

grpc_status_code eco_rpc_status_from_http(int http_status)
{
    switch (http_status) {
    case 400:
    case 413:
    case 422:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case 401:
        return GRPC_STATUS_UNAUTHENTICATED;
    case 403:
        return GRPC_STATUS_PERMISSION_DENIED;
    case 404:
        return GRPC_STATUS_NOT_FOUND;
    case 408:
    case 504:
        return GRPC_STATUS_DEADLINE_EXCEEDED;
    case 409:
        return GRPC_STATUS_ABORTED;
    case 429:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case 499:
        return GRPC_STATUS_CANCELLED;
    case 501:
        return GRPC_STATUS_UNIMPLEMENTED;
    case 502:
    case 503:
        return GRPC_STATUS_UNAVAILABLE;
    default:
        break;
    }
    if (http_status >= 200 && http_status < 300)
        return GRPC_STATUS_OK;
    if (http_status >= 400 && http_status < 500)
        return GRPC_STATUS_FAILED_PRECONDITION;
    if (http_status >= 500 && http_status < 600)
        return GRPC_STATUS_INTERNAL;
    return GRPC_STATUS_UNKNOWN;
}
