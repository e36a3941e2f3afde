/*
 * eco_governance: the `.qyaml` governance format (docs/qyaml.md is the rule book).
 *   - parse: a bounded libyaml event parser that keeps line numbers,
 *   - validate: every QYxxx rule, producing {file, path, message, severity, rule, line},
 *   - generate: a governed manifest (Deployment + Service + governance document) for a module,
 *   - strip: the Kubernetes documents only, re-emitted as plain YAML,
 *   - a real UUID v1 generator (RFC 4122 §4.2/§4.5).
 * Depends on libs/core and libyaml only; never on a service.
 */
#ifndef ECO_GOVERNANCE_H
#define ECO_GOVERNANCE_H

#include <stddef.h>
#include <stdint.h>

#include "eco_core.h"

/* Input bounds: exceeding one is reported as rule QY004, never a crash. */
#define ECO_GOVERNANCE_MAX_FILE_BYTES (1u << 20) /* 1 MiB per file */
#define ECO_GOVERNANCE_MAX_DOCUMENTS  256        /* documents per file */
#define ECO_GOVERNANCE_MAX_DEPTH      64         /* nested collections */
#define ECO_GOVERNANCE_MAX_NODES      100000     /* nodes (scalars + collections) per file */
#define ECO_GOVERNANCE_MAX_ISSUES     200        /* issues kept per file; the rest are counted only */

typedef enum { ECO_GOVERNANCE_ERROR = 0, ECO_GOVERNANCE_WARNING = 1 } eco_governance_severity_t;

/* Where a rule can be evaluated (docs/qyaml.md §2). */
typedef enum {
    ECO_GOVERNANCE_SCOPE_LEXICAL = 0, /* raw text / YAML syntax: qyaml only */
    ECO_GOVERNANCE_SCOPE_DOCUMENT,    /* one document: qyaml and conftest (per document) */
    ECO_GOVERNANCE_SCOPE_CROSS,       /* the whole stream: qyaml and conftest --combine */
} eco_governance_scope_t;

typedef struct {
    const char *id; /* "QY031" */
    eco_governance_scope_t scope;
    eco_governance_severity_t severity;
    const char *summary; /* one line for tables */
} eco_governance_rule_t;

/* The rule table, in ID order. Static storage; *n receives the count. */
const eco_governance_rule_t *eco_governance_rules(size_t *n);
/* The rule with that ID, or NULL. */
const eco_governance_rule_t *eco_governance_rule(const char *id);

typedef struct {
    char *file;       /* owned */
    char *path;       /* owned: "document_metadata.unique_id", "(file)", "(document)", ... */
    char *message;    /* owned: "must be a UUID v1" */
    const char *rule; /* static: "QY031" */
    eco_governance_severity_t severity;
    int line; /* 1-based */
} eco_governance_issue_t;

/* Issues of one or more files. At most ECO_GOVERNANCE_MAX_ISSUES are kept per file; the
 * counters always count every issue, so `errors == 0` is the validity test. */
typedef struct {
    eco_governance_issue_t *items;
    size_t len, cap;
    size_t errors, warnings;
    size_t file_first; /* index of the current file's first issue (internal) */
    size_t file_count; /* issues of the current file, kept or not (internal) */
} eco_governance_report_t;

void eco_governance_report_init(eco_governance_report_t *r);
void eco_governance_report_free(eco_governance_report_t *r);
/* Text lines "FILE:LINE: path: message [RULE] (severity)\n", one per kept issue. */
void eco_governance_report_text(const eco_governance_report_t *r, eco_buf_t *out);
/* {"valid":bool,"errors":[{"file","path","message","severity","rule","line"}]} (no newline). */
void eco_governance_report_json(const eco_governance_report_t *r, eco_buf_t *out);
/* The canonical message "path: message [RULE]" (what the Rego policy emits); into out. */
void eco_governance_issue_format(const eco_governance_issue_t *i, eco_buf_t *out);

/* Validates one file's contents (`name` is only used in issues; data need not be
 * NUL-terminated). Appends issues to r. Returns 0 when the file has no error-severity
 * issue, ECO_EINVAL otherwise. Borrows name and data. */
int eco_governance_validate(const char *name, const char *data, size_t len, eco_governance_report_t *r);
/* Reads path (bounded by ECO_GOVERNANCE_MAX_FILE_BYTES; "-" is stdin) and validates it.
 * An unreadable file is reported as rule QY000. Returns like eco_governance_validate. */
int eco_governance_validate_path(const char *path, eco_governance_report_t *r);

/* Reads a whole file (or stdin for "-") of at most max bytes. On success *data (caller
 * frees with free(), NUL-terminated) and *len are set and 0 is returned; ECO_ENOSPC when it
 * is larger than max; -errno when it cannot be read. */
int eco_governance_read_file(const char *path, size_t max, char **data, size_t *len);

/* Writes the Kubernetes documents of a file (every document that is a mapping and not the
 * governance document) to out as a plain YAML stream, each document starting with "---".
 * Comments are not preserved; keys, order, values, tags and scalar styles are. Fails with
 * ECO_EINVAL (issues in r) when the file breaks a lexical rule (QY001-QY008) or a bound.
 * Borrows everything. */
int eco_governance_strip(const char *name, const char *data, size_t len, eco_buf_t *out, eco_governance_report_t *r);

/* A module to generate a governed manifest for. Strings are borrowed. */
typedef struct {
    const char *name;  /* required: DNS-1123 label (at most 63 characters) */
    const char *image; /* required: container image reference */
    const int *ports;  /* container ports, the first serves HTTP (/health, /ready); none = 8080 */
    size_t nports;
    const char *const *depends_on; /* DNS-1123 labels of the modules it calls */
    size_t ndepends_on;
    const char *namespace_; /* NULL = "eco-base"; one of the four eco-base namespaces */
    const char *version;    /* NULL = the image tag when it is a valid label value, else ECO_VERSION */
    const char *component;  /* NULL = "service" */
    const char *owner;      /* NULL = "platform-team" */
    int64_t created_at;     /* Unix seconds for created_at; 0 = now */
} eco_governance_module_t;

/* Appends the .qyaml text to out. On invalid input writes one line to err and returns
 * ECO_EINVAL. The result always validates without errors or warnings. */
int eco_governance_generate(const eco_governance_module_t *m, eco_buf_t *out, char *err, size_t errlen);

/* A time-based UUID (version 1, RFC 4122 variant): 60-bit count of 100 ns intervals since
 * 1582-10-15, a random 14-bit clock sequence and a random node id with the multicast bit set
 * (§4.5). Timestamps are strictly increasing within the process (thread-safe). out[37]. */
void eco_governance_uuid_v1(char out[37]);
/* Extracts the 60-bit timestamp of a lower-case UUID v1; 0 on success, ECO_EINVAL if s is not one. */
int eco_governance_uuid_v1_time(const char *s, uint64_t *ts);
/* 1 if s[0..n) is a lower-case UUID v1 (docs/qyaml.md, QY030). */
int eco_governance_is_uuid_v1(const char *s, size_t n);

#endif
