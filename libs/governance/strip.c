/* qyaml strip: re-emit the Kubernetes documents of a stream with libyaml's emitter, dropping
 * the governance document. Content (key order, values, tags, scalar and collection styles) is
 * kept; comments are not (libyaml does not report them). */
#include "governance_internal.h"

#include <string.h>
#include <yaml.h>

#define STRIP_MAX_OUTPUT (16u << 20)

static int write_handler(void *data, unsigned char *buffer, size_t size)
{
    eco_buf_t *out = data;
    eco_buf_add(out, buffer, size);
    return eco_buf_ok(out);
}

static int emit(yaml_emitter_t *e, yaml_event_t *ev)
{
    return yaml_emitter_emit(e, ev) ? 0 : ECO_EIO;
}

static int emit_node(yaml_emitter_t *e, const eco__gov_node_t *n)
{
    yaml_event_t ev;
    yaml_char_t *tag = (yaml_char_t *)n->tag;
    int implicit = tag == NULL;
    switch (n->kind) {
    case ECO__GOV_SCALAR:
        if (!yaml_scalar_event_initialize(&ev, NULL, tag, (yaml_char_t *)n->value, (int)n->len, implicit, implicit,
                                          (yaml_scalar_style_t)n->style))
            return ECO_ENOMEM;
        return emit(e, &ev);
    case ECO__GOV_SEQ:
        if (!yaml_sequence_start_event_initialize(&ev, NULL, tag, implicit, (yaml_sequence_style_t)n->style))
            return ECO_ENOMEM;
        if (emit(e, &ev))
            return ECO_EIO;
        for (size_t i = 0; i < n->n; i++)
            if (emit_node(e, n->items[i]))
                return ECO_EIO;
        yaml_sequence_end_event_initialize(&ev);
        return emit(e, &ev);
    case ECO__GOV_MAP:
        if (!yaml_mapping_start_event_initialize(&ev, NULL, tag, implicit, (yaml_mapping_style_t)n->style))
            return ECO_ENOMEM;
        if (emit(e, &ev))
            return ECO_EIO;
        for (size_t i = 0; i < 2 * n->n; i++)
            if (emit_node(e, n->items[i]))
                return ECO_EIO;
        yaml_mapping_end_event_initialize(&ev);
        return emit(e, &ev);
    }
    return ECO_EINVAL;
}

static int emit_stream(const eco__gov_stream_t *s, eco_buf_t *out)
{
    yaml_emitter_t e;
    yaml_event_t ev;
    if (!yaml_emitter_initialize(&e))
        eco_fatal("yaml_emitter_initialize: out of memory");
    yaml_emitter_set_output(&e, write_handler, out);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_width(&e, -1); /* never fold long scalars */
    int rc = 0;
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    rc = emit(&e, &ev);
    for (size_t i = 0; rc == 0 && i < s->ndocs; i++) {
        if (s->docs[i].cls != ECO__GOV_DOC_K8S)
            continue;
        yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 0); /* explicit "---" */
        rc = emit(&e, &ev);
        if (rc == 0)
            rc = emit_node(&e, s->docs[i].root);
        if (rc == 0) {
            yaml_document_end_event_initialize(&ev, 1);
            rc = emit(&e, &ev);
        }
    }
    if (rc == 0) {
        yaml_stream_end_event_initialize(&ev);
        rc = emit(&e, &ev);
    }
    if (rc == 0 && !yaml_emitter_flush(&e))
        rc = ECO_EIO;
    yaml_emitter_delete(&e);
    return rc;
}

int eco_governance_strip(const char *name, const char *data, size_t len, eco_buf_t *out, eco_governance_report_t *r)
{
    eco__gov_report_begin_file(r);
    size_t errors0 = r->errors;
    eco__gov_stream_t s;
    if (eco__gov_load(name, data, len, &s, r) != 0)
        return ECO_EINVAL;
    if (r->errors > errors0) {
        /* Lexical/syntax errors (aliases, duplicate keys, ...) make the content ambiguous. */
        eco__gov_stream_free(&s);
        return ECO_EINVAL;
    }
    eco_buf_t tmp;
    eco_buf_init(&tmp, STRIP_MAX_OUTPUT);
    int rc = emit_stream(&s, &tmp);
    eco__gov_stream_free(&s);
    if (rc == 0 && !eco_buf_ok(&tmp))
        rc = ECO_ENOSPC;
    if (rc == 0)
        eco_buf_add(out, tmp.base ? tmp.base : "", tmp.len);
    eco_buf_free(&tmp);
    return rc;
}
