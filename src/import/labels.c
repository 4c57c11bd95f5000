/* Labels: an integer .npy, or a text file with one label per line. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/convert.h"
#include "import/source_int.h"
#include "util/error.h"

#define U64(x) ((unsigned long long)(x))

static int labels_npy(const lg_source *src, int64_t **out, uint64_t *n, lg_error *err)
{
    npy_info in;
    int rc = npy_parse(src->path, src->map, src->map_len, &in, err);
    if (rc)
        return rc;
    if (in.ndim < 1 || in.ndim > 2 || (in.ndim == 2 && in.shape[1] != 1))
        return lgu_fail(err, LG_EINPUT, "%s: labels must have shape (N,) or (N, 1)", src->path);
    if (!((in.kind == 'i' || in.kind == 'u') && (in.size == 1 || in.size == 2 || in.size == 4 || in.size == 8)) &&
        !(in.kind == 'b' && in.size == 1) && !(in.kind == 'f' && (in.size == 4 || in.size == 8)))
        return lgu_fail(err, LG_EINPUT, "%s: header: labels of type %c%d (expected integers)",
                       src->path, in.kind, in.size);
    int64_t *v = malloc(in.count ? in.count * 8 : 1);
    if (!v)
        return lgu_fail(err, LG_ENOMEM, "out of memory for %llu labels", U64(in.count));
    const unsigned char *p = (const unsigned char *)src->map + in.data_off;
    for (uint64_t i = 0; i < in.count; i++) {
        unsigned char b[8];
        memcpy(b, p + i * (uint64_t)in.size, (size_t)in.size);
        if (in.big)
            lgc_byteswap(b, (size_t)in.size, 1);
        int64_t x = 0;
        if (in.kind == 'f') {
            double f;
            if (in.size == 4) {
                float g;
                memcpy(&g, b, 4);
                f = g;
            } else {
                memcpy(&f, b, 8);
            }
            if (!isfinite(f) || f != floor(f) || fabs(f) > 9e15) {
                free(v);
                return lgu_fail(err, LG_EINPUT, "%s: label %llu is %g, not an integer", src->path,
                               U64(i), f);
            }
            x = (int64_t)f;
        } else if (in.kind == 'u' || in.kind == 'b') {
            uint64_t u = 0;
            memcpy(&u, b, (size_t)in.size); /* little-endian host */
            if (u > INT64_MAX) {
                free(v);
                return lgu_fail(err, LG_EINPUT, "%s: label %llu does not fit int64", src->path,
                               U64(i));
            }
            x = (int64_t)u;
        } else {
            switch (in.size) {
            case 1: x = (int8_t)b[0]; break;
            case 2: { int16_t t; memcpy(&t, b, 2); x = t; break; }
            case 4: { int32_t t; memcpy(&t, b, 4); x = t; break; }
            default: memcpy(&x, b, 8); break;
            }
        }
        v[i] = x;
    }
    *out = v;
    *n = in.count;
    return LG_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Splits text into lines (trailing '\r' and spaces trimmed); blank lines at
 * the end (an editor's final newline, or a few) do not count, a blank line
 * among the labels is an error naming it. */
static int labels_text(const lg_source *src, int64_t **out, uint64_t *n, char **names,
                       lg_error *err)
{
    const char *t = src->map;
    size_t len = src->map_len, count = 0;
    if (memchr(t, 0, len))
        return lgu_fail(err, LG_EINPUT, "%s: labels text contains a NUL byte (binary file?)",
                       src->path);
    while (len && (t[len - 1] == '\n' || t[len - 1] == '\r' || t[len - 1] == ' ' ||
                   t[len - 1] == '\t'))
        len--;
    for (size_t i = 0; i < len; i++)
        count += t[i] == '\n';
    if (len && t[len - 1] != '\n')
        count++;
    char **line = calloc(count ? count : 1, sizeof *line);
    int64_t *v = malloc((count ? count : 1) * 8);
    int rc = LG_OK, all_int = 1;
    if (!line || !v) {
        rc = lgu_fail(err, LG_ENOMEM, "out of memory");
        goto out;
    }
    size_t at = 0;
    for (size_t k = 0; k < count; k++) {
        const char *nl = memchr(t + at, '\n', len - at);
        size_t e = nl ? (size_t)(nl - t) : len, b = at;
        at = e + 1;
        while (b < e && (t[b] == ' ' || t[b] == '\t'))
            b++;
        while (e > b && (t[e - 1] == '\r' || t[e - 1] == ' ' || t[e - 1] == '\t'))
            e--;
        if (e == b) {
            rc = lgu_fail(err, LG_EINPUT,
                          "%s: line %zu: empty label (blank lines are allowed only at the end)",
                          src->path, k + 1);
            goto out;
        }
        line[k] = strndup(t + b, e - b);
        if (!line[k]) {
            rc = lgu_fail(err, LG_ENOMEM, "out of memory");
            goto out;
        }
        char *end;
        errno = 0;
        long long x = strtoll(line[k], &end, 10);
        if (*end || errno)
            all_int = 0;
        else
            v[k] = x;
    }
    if (count == 0) {
        rc = lgu_fail(err, LG_EINPUT, "%s: no labels", src->path);
        goto out;
    }
    if (!all_int) {
        /* ids by sorted distinct names */
        char **sorted = malloc(count * sizeof *sorted);
        if (!sorted) {
            rc = lgu_fail(err, LG_ENOMEM, "out of memory");
            goto out;
        }
        memcpy(sorted, line, count * sizeof *sorted);
        qsort(sorted, count, sizeof *sorted, cmp_str);
        size_t u = 0, total = 0;
        for (size_t k = 0; k < count; k++)
            if (k == 0 || strcmp(sorted[k], sorted[u - 1]) != 0) {
                sorted[u++] = sorted[k];
                total += strlen(sorted[k]) + 1;
            }
        for (size_t k = 0; k < count; k++) {
            char **hit = bsearch(&line[k], sorted, u, sizeof *sorted, cmp_str);
            v[k] = hit - sorted;
        }
        if (names) {
            char *s = malloc(total ? total : 1), *q = s;
            if (!s) {
                free(sorted);
                rc = lgu_fail(err, LG_ENOMEM, "out of memory");
                goto out;
            }
            for (size_t k = 0; k < u; k++) {
                size_t l = strlen(sorted[k]);
                memcpy(q, sorted[k], l);
                q[l] = k + 1 < u ? '\n' : 0;
                q += l + 1;
            }
            *names = s;
        }
        free(sorted);
    }
out:
    for (size_t k = 0; line && k < count; k++)
        free(line[k]);
    free(line);
    if (rc) {
        free(v);
        return rc;
    }
    *out = v;
    *n = count;
    return LG_OK;
}

int lg_labels_load(const char *path, int64_t **labels, uint64_t *n, char **names, lg_error *err)
{
    *labels = NULL;
    *n = 0;
    if (names)
        *names = NULL;
    lg_source *src;
    int rc = lgsrc_map(path, &src, err);
    if (rc)
        return rc;
    if (src->map_len == 0)
        rc = lgu_fail(err, LG_EINPUT, "%s: empty file", path);
    else if (src->map_len >= 6 && memcmp(src->map, "\x93NUMPY", 6) == 0)
        rc = labels_npy(src, labels, n, err);
    else
        rc = labels_text(src, labels, n, names, err);
    lg_source_close(src);
    return rc;
}
