/* Internals shared by the files of libs/governance: the parsed tree, the issue sink and
 * path building. Not part of the public API. */
#ifndef ECO_GOVERNANCE_INTERNAL_H
#define ECO_GOVERNANCE_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "eco_governance.h"

/* ---------- arena: every node and string of a parsed file lives here ---------- */
typedef struct eco__gov_chunk eco__gov_chunk_t;
typedef struct {
    eco__gov_chunk_t *head;
} eco__gov_arena_t;

void *eco__gov_alloc(eco__gov_arena_t *a, size_t n); /* zeroed, 16-byte aligned */
void eco__gov_arena_free(eco__gov_arena_t *a);

/* ---------- parsed tree ---------- */
typedef enum { ECO__GOV_SCALAR = 0, ECO__GOV_SEQ, ECO__GOV_MAP } eco__gov_kind_t;

/* Scalar types after YAML 1.2 core-schema resolution (what conftest's yaml.v3 sees). */
typedef enum { ECO__GOV_NULL = 0, ECO__GOV_BOOL, ECO__GOV_INT, ECO__GOV_FLOAT, ECO__GOV_STR } eco__gov_type_t;

typedef struct eco__gov_node eco__gov_node_t;
struct eco__gov_node {
    eco__gov_kind_t kind;
    int line;              /* 1-based line of the node's first character */
    int style;             /* yaml_scalar_style_t for scalars, yaml_{sequence,mapping}_style_t otherwise */
    char *tag;             /* explicit tag as resolved by libyaml, or NULL */
    unsigned anchored : 1; /* had an &anchor */
    unsigned alias : 1;    /* was an *alias (stored as a null scalar) */
    /* scalars */
    char *value; /* NUL-terminated (may contain NULs before len) */
    size_t len;
    eco__gov_type_t type;
    long long ival;
    double dval;
    /* sequences: items[0..n); mappings: items[2i] key, items[2i+1] value */
    eco__gov_node_t **items;
    size_t n;
};

typedef enum {
    ECO__GOV_DOC_EMPTY = 0, /* null document */
    ECO__GOV_DOC_OTHER,     /* a scalar or a sequence */
    ECO__GOV_DOC_K8S,       /* a mapping without any governance block */
    ECO__GOV_DOC_GOVERNANCE /* a mapping with at least one of the four blocks */
} eco__gov_doc_class_t;

typedef struct {
    eco__gov_node_t *root;
    int line; /* line of the document start ("---" or its first token) */
    eco__gov_doc_class_t cls;
} eco__gov_doc_t;

typedef struct {
    const char *name; /* borrowed file name */
    eco__gov_doc_t *docs;
    size_t ndocs;
    eco__gov_arena_t arena;
} eco__gov_stream_t;

/* Lexical rules QY001, QY002 on the raw bytes. */
void eco__gov_lexical(const char *name, const char *data, size_t len, eco_governance_report_t *r);
/* Parses into s (bounded; QY003, QY004). Returns 0 or ECO_EINVAL (issues added; s is then
 * freed). Documents are classified. */
int eco__gov_parse(const char *name, const char *data, size_t len, eco__gov_stream_t *s, eco_governance_report_t *r);
void eco__gov_stream_free(eco__gov_stream_t *s);
/* Syntax rules on the tree: QY005-QY008. */
void eco__gov_syntax(const eco__gov_stream_t *s, eco_governance_report_t *r);
/* Size check, lexical rules, parse and syntax rules: what both validate and strip need.
 * Returns 0 with s filled when the stream could be parsed, ECO_EINVAL otherwise. */
int eco__gov_load(const char *name, const char *data, size_t len, eco__gov_stream_t *s, eco_governance_report_t *r);

/* ---------- tree helpers ---------- */
const eco__gov_node_t *eco__gov_get(const eco__gov_node_t *map, const char *key);
int eco__gov_is_str(const eco__gov_node_t *n); /* a string scalar */
int eco__gov_is_nonempty_str(const eco__gov_node_t *n);
int eco__gov_str_eq(const eco__gov_node_t *n, const char *s); /* string scalar equal to s */
int eco__gov_is_null(const eco__gov_node_t *n);               /* missing or null */
int eco__gov_is_int(const eco__gov_node_t *n, long long *v);
int eco__gov_is_number(const eco__gov_node_t *n, double *v);
void eco__gov_resolve(eco__gov_node_t *n); /* sets type/ival/dval of a scalar */

/* ---------- formats (docs/qyaml.md §4) ---------- */
int eco__gov_is_dns1123_label(const char *s, size_t n);
int eco__gov_is_dns1123_subdomain(const char *s, size_t n);
int eco__gov_is_rfc3339_utc(const char *s, size_t n);
int eco__gov_is_kebab(const char *s, size_t n);
int eco__gov_is_label_value(const char *s, size_t n);
/* A resource identity as used by URIs and URNs. Pointers into a caller buffer. */
typedef struct {
    char ns[254];
    char kind[254];
    char name[254];
    char uuid[37];
} eco__gov_ref_t;
int eco__gov_parse_uri(const char *s, size_t n, eco__gov_ref_t *ref);
int eco__gov_parse_urn(const char *s, size_t n, eco__gov_ref_t *ref);

/* ---------- issues and paths ---------- */
void eco__gov_report_begin_file(eco_governance_report_t *r);
__attribute__((format(printf, 6, 7))) void eco__gov_issue(eco_governance_report_t *r, const char *file,
                                                          const char *path, int line, const char *rule, const char *fmt,
                                                          ...);
/* Appends ".key" (or "key" at the root, or ["key"] when key is not a plain identifier). */
void eco__gov_path_key(eco_buf_t *p, const char *key, size_t len);
void eco__gov_path_index(eco_buf_t *p, size_t i);
/* Truncates p back to len (to pop a component). */
void eco__gov_path_pop(eco_buf_t *p, size_t len);
/* Current path text; "(document)" for the root. */
const char *eco__gov_path_str(eco_buf_t *p);

/* Per-document and cross-document rules (validate.c, validate_k8s.c). */
void eco__gov_validate_governance(const eco__gov_stream_t *s, const eco__gov_doc_t *d, eco_governance_report_t *r);
void eco__gov_validate_k8s(const eco__gov_stream_t *s, const eco__gov_doc_t *d, eco_governance_report_t *r);
void eco__gov_validate_stream(const eco__gov_stream_t *s, eco_governance_report_t *r);

#endif
