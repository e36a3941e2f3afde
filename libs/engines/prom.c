/* A small reader of the Prometheus text format (0.0.4), enough to pull engine gauges. */
#include "eco_engines.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* End of the label block starting at p ('{'), honouring quoted values; NULL if unterminated. */
static const char *labels_end(const char *p, const char *end)
{
    int q = 0;
    for (p++; p < end; p++) {
        if (q) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                q = 0;
        } else if (*p == '"') {
            q = 1;
        } else if (*p == '}') {
            return p;
        } else if (*p == '\n') {
            return NULL;
        }
    }
    return NULL;
}

/* label ("k=\"v\"") appears as a whole pair inside [b, e). */
static int has_label(const char *b, const char *e, const char *label)
{
    size_t n = strlen(label);
    for (const char *p = b; p + n <= e; p++)
        if ((p == b || p[-1] == '{' || p[-1] == ',') && memcmp(p, label, n) == 0 &&
            (p + n == e || p[n] == ',' || p[n] == '}'))
            return 1;
    return 0;
}

size_t eco_prom_sum(const char *text, size_t len, const char *name, const char *label, double *out)
{
    size_t nlen = strlen(name), found = 0;
    double sum = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > nlen && memcmp(p, name, nlen) == 0 && (p[nlen] == '{' || p[nlen] == ' ')) {
            const char *v = p + nlen, *lb = NULL, *le = NULL;
            if (*v == '{') {
                lb = v;
                le = labels_end(v, eol);
                v = le ? le + 1 : eol;
            }
            if ((!label || (lb && le && has_label(lb, le + 1, label))) && v < eol) {
                while (v < eol && *v == ' ')
                    v++;
                char num[64];
                size_t k = 0;
                while (v < eol && *v != ' ' && k + 1 < sizeof(num))
                    num[k++] = *v++;
                num[k] = '\0';
                char *stop;
                double x = strtod(num, &stop);
                if (k && *stop == '\0' && isfinite(x)) {
                    sum += x;
                    found++;
                }
            }
        }
        p = eol + 1;
    }
    if (found)
        *out = sum;
    return found;
}
