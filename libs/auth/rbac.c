/* Roles and THE permission table: one row per (method, route) of the public REST surface.
 * root-gateway serves exactly these routes (anything else is 404/405 at the edge) and checks
 * the role before forwarding; api-gateway refuses to register a route that has no row and
 * checks the role again. Resource ownership ("your own keys") is the handlers' business. */
#include "eco_auth.h"

#include <string.h>

#define V   ECO_ROLE_BIT(ECO_ROLE_VIEWER)
#define D   ECO_ROLE_BIT(ECO_ROLE_DEVELOPER)
#define A   ECO_ROLE_BIT(ECO_ROLE_ADMIN)
#define API ECO_UPSTREAM_API
#define AI  ECO_UPSTREAM_AI
#define PUB ECO_RULE_PUBLIC
#define INF ECO_RULE_INFERENCE

/* Viewers (self sign-up) read; developers also spend model tokens and manage their own keys;
 * admins also manage users, platforms and the audit trail. */
static const eco_auth_rule_t rules[] = {
    /* sessions */
    {"POST", "/auth/signup", 0, API, PUB},
    {"POST", "/auth/login", 0, API, PUB},
    {"POST", "/auth/refresh", 0, API, PUB},
    {"POST", "/auth/logout", V | D | A, API, 0},
    {"GET", "/auth/me", V | D | A, API, 0},
    /* API keys (own keys; admins any key) */
    {"GET", "/api/v1/keys", V | D | A, API, 0},
    {"POST", "/api/v1/keys", D | A, API, 0},
    {"DELETE", "/api/v1/keys/{id}", D | A, API, 0},
    {"POST", "/api/v1/keys/{id}/rotate", D | A, API, 0},
    {"GET", "/api/v1/keys/{id}/usage", V | D | A, API, 0},
    /* users and audit */
    {"GET", "/api/v1/users", A, API, 0},
    {"PATCH", "/api/v1/users/{id}", A, API, 0},
    {"GET", "/api/v1/audit", A, API, 0},
    /* platforms */
    {"GET", "/api/v1/platforms", V | D | A, API, 0},
    {"POST", "/api/v1/platforms", A, API, 0},
    {"GET", "/api/v1/platforms/{id}", V | D | A, API, 0},
    {"PATCH", "/api/v1/platforms/{id}", A, API, 0},
    {"DELETE", "/api/v1/platforms/{id}", A, API, 0},
    /* .qyaml */
    {"POST", "/api/v1/yaml/validate", V | D | A, API, 0},
    {"POST", "/api/v1/yaml/generate", D | A, API, 0},
    /* asynchronous jobs (own jobs) */
    {"POST", "/api/v1/ai/jobs", D | A, API, 0},
    {"GET", "/api/v1/ai/jobs", V | D | A, API, 0},
    {"GET", "/api/v1/ai/jobs/{id}", V | D | A, API, 0},
    {"POST", "/api/v1/ai/jobs/{id}/cancel", D | A, API, 0},
    {"GET", "/api/v1/ai/jobs/{id}/events", V | D | A, API, 0},
    /* OpenAI-compatible inference on ai-service */
    {"GET", "/v1/models", V | D | A, AI, 0},
    {"GET", "/v1/models/{model}", V | D | A, AI, 0},
    {"POST", "/v1/chat/completions", D | A, AI, INF},
    {"POST", "/v1/completions", D | A, AI, INF},
    {"POST", "/v1/embeddings", D | A, AI, INF},
};

const eco_auth_rule_t *eco_auth_rules(size_t *n)
{
    *n = sizeof(rules) / sizeof(rules[0]);
    return rules;
}

const eco_auth_rule_t *eco_auth_rule_find(const char *method, const char *pattern)
{
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        if (strcmp(rules[i].method, method) == 0 && strcmp(rules[i].pattern, pattern) == 0)
            return &rules[i];
    return NULL;
}

/* Segment-wise match; {x} takes one non-empty segment. */
static int path_matches(const char *pat, const char *path, size_t plen)
{
    size_t i = 0;
    while (*pat) {
        if (i >= plen || path[i] != '/' || *pat != '/')
            return 0;
        pat++, i++;
        const char *pend = pat + strcspn(pat, "/");
        size_t seg = i;
        while (seg < plen && path[seg] != '/')
            seg++;
        if (*pat == '{') {
            if (seg == i)
                return 0;
        } else if ((size_t)(pend - pat) != seg - i || memcmp(pat, path + i, seg - i) != 0) {
            return 0;
        }
        pat = pend;
        i = seg;
    }
    return i == plen;
}

const eco_auth_rule_t *eco_auth_rule_match(const char *method, size_t mlen, const char *path, size_t plen,
                                           int *path_known)
{
    *path_known = 0;
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        if (!path_matches(rules[i].pattern, path, plen))
            continue;
        if (strlen(rules[i].method) == mlen && memcmp(rules[i].method, method, mlen) == 0)
            return &rules[i];
        *path_known = 1;
    }
    return NULL;
}

/* gRPC methods of ai-service's public API -> the REST route with the same effect (a prompt-style
 * GenerateCompletion is /v1/completions, which has the same roles as chat). */
static const struct {
    const char *method, *http_method, *pattern;
} grpc_rules[] = {
    {"/eco.ai.v1.Inference/GenerateCompletion", "POST", "/v1/chat/completions"},
    {"/eco.ai.v1.Inference/StreamCompletion", "POST", "/v1/chat/completions"},
    {"/eco.ai.v1.Inference/GenerateEmbedding", "POST", "/v1/embeddings"},
    {"/eco.ai.v1.Inference/ListModels", "GET", "/v1/models"},
};

const eco_auth_rule_t *eco_auth_grpc_rule(const char *method)
{
    for (size_t i = 0; method && i < sizeof(grpc_rules) / sizeof(grpc_rules[0]); i++)
        if (strcmp(grpc_rules[i].method, method) == 0)
            return eco_auth_rule_find(grpc_rules[i].http_method, grpc_rules[i].pattern);
    return NULL;
}

int eco_auth_rule_allows(const eco_auth_rule_t *r, eco_auth_role_t role)
{
    if (r->flags & ECO_RULE_PUBLIC)
        return 1;
    return role != ECO_ROLE_NONE && (r->roles & ECO_ROLE_BIT(role)) != 0;
}

eco_auth_role_t eco_auth_role_parse(const char *s)
{
    if (!s)
        return ECO_ROLE_NONE;
    if (strcmp(s, "viewer") == 0)
        return ECO_ROLE_VIEWER;
    if (strcmp(s, "developer") == 0)
        return ECO_ROLE_DEVELOPER;
    if (strcmp(s, "admin") == 0)
        return ECO_ROLE_ADMIN;
    return ECO_ROLE_NONE;
}

const char *eco_auth_role_name(eco_auth_role_t r)
{
    switch (r) {
    case ECO_ROLE_VIEWER:
        return "viewer";
    case ECO_ROLE_DEVELOPER:
        return "developer";
    case ECO_ROLE_ADMIN:
        return "admin";
    default:
        return "none";
    }
}
