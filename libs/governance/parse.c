/* Bounded parsing of a .qyaml stream: lexical rules on the raw bytes (QY001, QY002), a libyaml
 * event parser building an arena tree with line numbers (QY003, QY004), and the syntax rules
 * that need the tree (QY005-QY008). */
#include "governance_internal.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* ---------- arena ---------- */

struct eco__gov_chunk {
    eco__gov_chunk_t *next;
    size_t used, cap;
    size_t pad; /* keeps data 16-byte aligned */
    unsigned char data[];
};

#define CHUNK_SIZE (64u << 10)

void *eco__gov_alloc(eco__gov_arena_t *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    eco__gov_chunk_t *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > CHUNK_SIZE ? n : CHUNK_SIZE;
        c = eco_malloc(sizeof(*c) + cap);
        c->used = 0;
        c->cap = cap;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

void eco__gov_arena_free(eco__gov_arena_t *a)
{
    while (a->head) {
        eco__gov_chunk_t *n = a->head->next;
        free(a->head);
        a->head = n;
    }
}

static char *arena_strndup(eco__gov_arena_t *a, const char *s, size_t n)
{
    char *p = eco__gov_alloc(a, n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* ---------- lexical rules ---------- */

static int directive_at(const char *p, size_t left, const char *word)
{
    size_t w = strlen(word);
    if (left < w || memcmp(p, word, w) != 0)
        return 0;
    return left == w || p[w] == ' ' || p[w] == '\t' || p[w] == '\n' || p[w] == '\r';
}

void eco__gov_lexical(const char *name, const char *data, size_t len, eco_governance_report_t *r)
{
    int line = 1, tab_line = 0;
    int bol = 1;
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (bol && c == '%' &&
            (directive_at(data + i + 1, len - i - 1, "YAML") || directive_at(data + i + 1, len - i - 1, "TAG")))
            eco__gov_issue(r, name, "(file)", line, "QY001", "YAML directives (%%YAML, %%TAG) are not allowed");
        if (c == '\t' && tab_line != line) {
            tab_line = line;
            eco__gov_issue(r, name, "(file)", line, "QY002", "tab characters are not allowed");
        }
        bol = c == '\n';
        if (c == '\n')
            line++;
    }
}

/* ---------- event parser ---------- */

typedef struct {
    eco__gov_node_t *node;
    eco__gov_node_t **items;
    size_t n, cap;
} frame_t;

typedef struct {
    const char *name;
    const char *data;
    size_t len;
    eco__gov_stream_t *s;
    eco_governance_report_t *r;
    frame_t stack[ECO_GOVERNANCE_MAX_DEPTH];
    int depth;
    size_t nodes;
    size_t docs_cap;
    eco__gov_node_t *root; /* the current document's root, once complete */
    int doc_line;
} pstate_t;

static int line_of_offset(const char *data, size_t len, size_t off)
{
    int line = 1;
    for (size_t i = 0; i < off && i < len; i++)
        if (data[i] == '\n')
            line++;
    return line;
}

static void frame_add(frame_t *f, eco__gov_node_t *n)
{
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->items = eco_realloc(f->items, f->cap * sizeof(*f->items));
    }
    f->items[f->n++] = n;
}

/* Attaches a finished node to its parent collection or makes it the document root. */
static void attach(pstate_t *st, eco__gov_node_t *n)
{
    if (st->depth > 0)
        frame_add(&st->stack[st->depth - 1], n);
    else
        st->root = n;
}

static eco__gov_node_t *new_node(pstate_t *st, eco__gov_kind_t kind, const yaml_mark_t *mark, const yaml_char_t *tag,
                                 const yaml_char_t *anchor)
{
    if (++st->nodes > ECO_GOVERNANCE_MAX_NODES) {
        eco__gov_issue(st->r, st->name, "(file)", (int)mark->line + 1, "QY004", "more than %d nodes",
                       ECO_GOVERNANCE_MAX_NODES);
        return NULL;
    }
    eco__gov_node_t *n = eco__gov_alloc(&st->s->arena, sizeof(*n));
    n->kind = kind;
    n->line = (int)mark->line + 1;
    if (tag)
        n->tag = arena_strndup(&st->s->arena, (const char *)tag, strlen((const char *)tag));
    n->anchored = anchor != NULL;
    return n;
}

static void add_doc(pstate_t *st)
{
    eco__gov_stream_t *s = st->s;
    if (s->ndocs == st->docs_cap) {
        st->docs_cap = st->docs_cap ? st->docs_cap * 2 : 8;
        s->docs = eco_realloc(s->docs, st->docs_cap * sizeof(*s->docs));
    }
    eco__gov_doc_t *d = &s->docs[s->ndocs++];
    memset(d, 0, sizeof(*d));
    d->root = st->root;
    d->line = st->doc_line;
    st->root = NULL;
}

static const char *const blocks[] = {"document_metadata", "governance_info", "registry_binding",
                                     "vector_alignment_map"};

static void classify(eco__gov_doc_t *d)
{
    const eco__gov_node_t *n = d->root;
    if (!n || (n->kind == ECO__GOV_SCALAR && n->type == ECO__GOV_NULL)) {
        d->cls = ECO__GOV_DOC_EMPTY;
        return;
    }
    if (n->kind != ECO__GOV_MAP) {
        d->cls = ECO__GOV_DOC_OTHER;
        return;
    }
    d->cls = ECO__GOV_DOC_K8S;
    for (size_t i = 0; i < ECO_ARRAY_SIZE(blocks); i++)
        if (eco__gov_get(n, blocks[i]))
            d->cls = ECO__GOV_DOC_GOVERNANCE;
}

/* Handles one event; returns 0 to go on, 1 at the end of the stream, -1 on a bound. */
static int on_event(pstate_t *st, yaml_event_t *ev)
{
    eco__gov_node_t *n;
    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        return 1;
    case YAML_DOCUMENT_START_EVENT:
        if (st->s->ndocs >= ECO_GOVERNANCE_MAX_DOCUMENTS) {
            eco__gov_issue(st->r, st->name, "(file)", (int)ev->start_mark.line + 1, "QY004", "more than %d documents",
                           ECO_GOVERNANCE_MAX_DOCUMENTS);
            return -1;
        }
        st->doc_line = (int)ev->start_mark.line + 1;
        st->root = NULL;
        return 0;
    case YAML_DOCUMENT_END_EVENT:
        add_doc(st);
        return 0;
    case YAML_ALIAS_EVENT:
        if (!(n = new_node(st, ECO__GOV_SCALAR, &ev->start_mark, NULL, NULL)))
            return -1;
        n->alias = 1;
        n->value = arena_strndup(&st->s->arena, "", 0);
        n->type = ECO__GOV_NULL;
        attach(st, n);
        return 0;
    case YAML_SCALAR_EVENT:
        if (!(n = new_node(st, ECO__GOV_SCALAR, &ev->start_mark, ev->data.scalar.tag, ev->data.scalar.anchor)))
            return -1;
        n->value = arena_strndup(&st->s->arena, (const char *)ev->data.scalar.value, ev->data.scalar.length);
        n->len = ev->data.scalar.length;
        n->style = ev->data.scalar.style;
        eco__gov_resolve(n);
        attach(st, n);
        return 0;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        int is_map = ev->type == YAML_MAPPING_START_EVENT;
        if (st->depth >= ECO_GOVERNANCE_MAX_DEPTH) {
            eco__gov_issue(st->r, st->name, "(file)", (int)ev->start_mark.line + 1, "QY004",
                           "nested deeper than %d levels", ECO_GOVERNANCE_MAX_DEPTH);
            return -1;
        }
        n = new_node(st, is_map ? ECO__GOV_MAP : ECO__GOV_SEQ, &ev->start_mark,
                     is_map ? ev->data.mapping_start.tag : ev->data.sequence_start.tag,
                     is_map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor);
        if (!n)
            return -1;
        n->style = is_map ? (int)ev->data.mapping_start.style : (int)ev->data.sequence_start.style;
        frame_t *f = &st->stack[st->depth++];
        f->node = n;
        f->n = 0;
        return 0;
    }
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
        ECO_BUG_ON(st->depth == 0);
        frame_t *f = &st->stack[--st->depth];
        n = f->node;
        if (f->n) {
            n->items = eco__gov_alloc(&st->s->arena, f->n * sizeof(*n->items));
            memcpy(n->items, f->items, f->n * sizeof(*n->items));
        }
        n->n = n->kind == ECO__GOV_MAP ? f->n / 2 : f->n;
        f->node = NULL;
        f->n = 0;
        attach(st, n);
        return 0;
    }
    default:
        return 0;
    }
}

void eco__gov_stream_free(eco__gov_stream_t *s)
{
    free(s->docs);
    eco__gov_arena_free(&s->arena);
    memset(s, 0, sizeof(*s));
}

int eco__gov_parse(const char *name, const char *data, size_t len, eco__gov_stream_t *s, eco_governance_report_t *r)
{
    memset(s, 0, sizeof(*s));
    s->name = name;
    pstate_t *st = eco_calloc(1, sizeof(*st));
    st->name = name;
    st->data = data;
    st->len = len;
    st->s = s;
    st->r = r;

    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        eco_fatal("yaml_parser_initialize: out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);

    int rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            int line = p.error == YAML_READER_ERROR ? line_of_offset(data, len, p.problem_offset)
                                                    : (int)p.problem_mark.line + 1;
            const char *problem = p.problem ? p.problem : "unknown error";
            if (p.context)
                eco__gov_issue(r, name, "(file)", line, "QY003", "invalid YAML: %s %s", p.context, problem);
            else
                eco__gov_issue(r, name, "(file)", line, "QY003", "invalid YAML: %s", problem);
            rc = ECO_EINVAL;
            break;
        }
        int done = on_event(st, &ev);
        yaml_event_delete(&ev);
        if (done < 0) {
            rc = ECO_EINVAL;
            break;
        }
        if (done > 0)
            break;
    }
    yaml_parser_delete(&p);
    for (size_t i = 0; i < ECO_ARRAY_SIZE(st->stack); i++)
        free(st->stack[i].items);
    free(st);
    if (rc != 0) {
        eco__gov_stream_free(s);
        return rc;
    }
    for (size_t i = 0; i < s->ndocs; i++)
        classify(&s->docs[i]);
    return 0;
}

/* ---------- syntax rules on the tree ---------- */

static int is_yaml11_bool(const eco__gov_node_t *n)
{
    static const char *const words[] = {"y",  "Y",  "yes", "Yes", "YES", "n",   "N",   "no",
                                        "No", "NO", "on",  "On",  "ON",  "off", "Off", "OFF"};
    if (n->kind != ECO__GOV_SCALAR || n->style != YAML_PLAIN_SCALAR_STYLE || n->tag || n->alias)
        return 0;
    for (size_t i = 0; i < ECO_ARRAY_SIZE(words); i++)
        if (strlen(words[i]) == n->len && memcmp(words[i], n->value, n->len) == 0)
            return 1;
    return 0;
}

typedef struct {
    const eco__gov_node_t *key;
    size_t idx;
} keyref_t;

static int keyref_cmp(const void *a, const void *b)
{
    const keyref_t *x = a, *y = b;
    size_t n = x->key->len < y->key->len ? x->key->len : y->key->len;
    int c = memcmp(x->key->value, y->key->value, n);
    if (c == 0 && x->key->len != y->key->len)
        c = x->key->len < y->key->len ? -1 : 1;
    if (c == 0)
        c = x->idx < y->idx ? -1 : (x->idx > y->idx);
    return c;
}

static void check_duplicates(const char *name, const eco__gov_node_t *m, eco_buf_t *path, eco_governance_report_t *r)
{
    if (m->n < 2)
        return;
    keyref_t *k = eco_malloc(m->n * sizeof(*k));
    size_t nk = 0;
    for (size_t i = 0; i < m->n; i++)
        if (m->items[2 * i]->kind == ECO__GOV_SCALAR)
            k[nk++] = (keyref_t){m->items[2 * i], i};
    qsort(k, nk, sizeof(*k), keyref_cmp);
    for (size_t i = 1; i < nk; i++) {
        if (k[i].key->len != k[i - 1].key->len || memcmp(k[i].key->value, k[i - 1].key->value, k[i].key->len) != 0)
            continue;
        size_t mark = path->len;
        eco__gov_path_key(path, k[i].key->value, k[i].key->len);
        eco__gov_issue(r, name, eco__gov_path_str(path), k[i].key->line, "QY007", "duplicate key");
        eco__gov_path_pop(path, mark);
    }
    free(k);
}

static void walk(const char *name, const eco__gov_node_t *n, eco_buf_t *path, eco_governance_report_t *r)
{
    if (n->anchored || n->alias)
        eco__gov_issue(r, name, eco__gov_path_str(path), n->line, "QY005", "anchors and aliases are not allowed");
    if (n->kind == ECO__GOV_SCALAR) {
        if (is_yaml11_bool(n))
            eco__gov_issue(r, name, eco__gov_path_str(path), n->line, "QY006",
                           "ambiguous YAML 1.1 boolean; quote it or use true/false");
        return;
    }
    if (n->kind == ECO__GOV_SEQ) {
        for (size_t i = 0; i < n->n; i++) {
            size_t mark = path->len;
            eco__gov_path_index(path, i);
            walk(name, n->items[i], path, r);
            eco__gov_path_pop(path, mark);
        }
        return;
    }
    int bad_key = 0;
    for (size_t i = 0; i < n->n; i++) {
        const eco__gov_node_t *k = n->items[2 * i], *v = n->items[2 * i + 1];
        if (k->kind != ECO__GOV_SCALAR) {
            if (!bad_key++)
                eco__gov_issue(r, name, eco__gov_path_str(path), k->line, "QY008", "mapping keys must be scalars");
            continue;
        }
        if (k->anchored || k->alias)
            eco__gov_issue(r, name, eco__gov_path_str(path), k->line, "QY005", "anchors and aliases are not allowed");
        size_t mark = path->len;
        eco__gov_path_key(path, k->value, k->len);
        walk(name, v, path, r);
        eco__gov_path_pop(path, mark);
    }
    check_duplicates(name, n, path, r);
}

void eco__gov_syntax(const eco__gov_stream_t *s, eco_governance_report_t *r)
{
    eco_buf_t path;
    eco_buf_init(&path, 8192);
    for (size_t i = 0; i < s->ndocs; i++) {
        if (s->docs[i].root) {
            eco_buf_reset(&path);
            walk(s->name, s->docs[i].root, &path, r);
        }
    }
    eco_buf_free(&path);
}

int eco__gov_load(const char *name, const char *data, size_t len, eco__gov_stream_t *s, eco_governance_report_t *r)
{
    memset(s, 0, sizeof(*s));
    if (len > ECO_GOVERNANCE_MAX_FILE_BYTES) {
        eco__gov_issue(r, name, "(file)", 1, "QY004", "larger than %u bytes", ECO_GOVERNANCE_MAX_FILE_BYTES);
        return ECO_EINVAL;
    }
    eco__gov_lexical(name, data, len, r);
    if (eco__gov_parse(name, data, len, s, r) != 0)
        return ECO_EINVAL;
    eco__gov_syntax(s, r);
    return 0;
}
