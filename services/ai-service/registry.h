/* The model registry of ai-service, loaded from ECO_MODELS_FILE (YAML). */
#ifndef AI_REGISTRY_H
#define AI_REGISTRY_H

#include <stddef.h>

#define REG_MAX_MODELS    64
#define REG_MAX_BACKENDS  16
#define REG_MAX_ALIASES   8
#define REG_MAX_FALLBACKS 4

enum { REG_CAP_CHAT = 1, REG_CAP_COMPLETION = 2, REG_CAP_EMBEDDING = 4 };

typedef struct {
    char *name;    /* unique within the model */
    char *address; /* adapter gRPC host:port */
    int weight;
    int tier; /* lower tiers are preferred */
} reg_backend_t;

typedef struct {
    char *id;
    char *aliases[REG_MAX_ALIASES];
    size_t naliases;
    unsigned caps;
    long context_length;
    char *owned_by;
    reg_backend_t backends[REG_MAX_BACKENDS];
    size_t nbackends;
    char *fallbacks[REG_MAX_FALLBACKS];
    size_t nfallbacks;
} reg_model_t;

typedef struct {
    reg_model_t models[REG_MAX_MODELS];
    size_t nmodels;
    char *default_model;
} registry_t;

/* Loads and validates the file. Values may use ${VAR} (environment). On error returns NULL and
 * writes "file:line: message" into err. Caller frees with registry_free. */
registry_t *registry_load(const char *path, char *err, size_t errlen);
void registry_free(registry_t *r);
/* Resolves an id or alias (NULL or "" = the default); NULL if unknown. Borrowed. */
const reg_model_t *registry_find(const registry_t *r, const char *name);

#endif
