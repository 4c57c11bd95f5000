/*
 * Per-token activations, (N, T, D) per layer or (L, N, T, D) stacked: the
 * usual shape of a transformer's hidden states.  Each input becomes one row
 * by pooling its T tokens (mean over the tokens the mask keeps, the first, or
 * the last kept one), or every kept token becomes a row of its own ("all").
 * Pooled rows are computed as they are read, in float32 (float64 sums), so
 * memory stays at one block of rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/convert.h"
#include "import/source_int.h"
#include "util/le.h"
#include "util/error.h"

#define U64(x) ((unsigned long long)(x))

int lg_tokens_parse(const char *s, lg_tokens *out)
{
    static const char *names[] = {"mean", "first", "last", "all"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (lg_tokens)(i + 1);
            return LG_OK;
        }
    return LG_EUSAGE;
}

/* The mask: a (N, T) .npy of bools or integers; nonzero keeps the token. */
static int load_mask(const char *path, uint64_t n, uint64_t t, unsigned char **out,
                     lg_error *err)
{
    lg_source *m;
    npy_info in;
    int rc = npy_map(path, &m, &in, err);
    if (rc)
        return rc;
    if (!rc && (in.ndim != 2 || in.shape[0] != n || in.shape[1] != t || in.fortran ||
                (in.kind != 'b' && in.kind != 'i' && in.kind != 'u') || in.size > 8))
        rc = lgu_fail(err, LG_EINPUT,
                     "%s: expected a C-order (%llu, %llu) array of bools or integers (the "
                     "attention mask), got %d dimensions of %c%d",
                     path, U64(n), U64(t), in.ndim, in.kind, in.size);
    unsigned char *v = rc ? NULL : malloc(n * t > 0 ? n * t : 1);
    if (!rc && !v)
        rc = lgu_fail(err, LG_ENOMEM, "out of memory for a mask of %llu tokens", U64(n * t));
    const unsigned char *p = rc ? NULL : (const unsigned char *)m->map + in.data_off;
    for (uint64_t i = 0; !rc && i < n * t; i++) {
        int any = 0;
        for (int b = 0; b < in.size; b++)
            any |= p[i * (uint64_t)in.size + (uint64_t)b];
        v[i] = any != 0;
    }
    lg_source_close(m);
    if (rc) {
        free(v);
        return rc;
    }
    *out = v;
    return LG_OK;
}

int lg_source_open_tokens(const char *path, lg_tokens mode, const char *mask_path,
                          lg_source **out, lg_error *err)
{
    *out = NULL;
    lg_source *src;
    npy_info in;
    int rc = npy_map(path, &src, &in, err);
    if (rc)
        return rc;
    lg_dtype t = npy_float_dtype(&in);
    if (t == LG_DTYPE_KEEP || (in.ndim != 3 && in.ndim != 4) || in.fortran)
        rc = lgu_fail(err, LG_EINPUT,
                     "%s: --tokens takes a C-order float16/32/64 array of shape (N, T, D) or "
                     "(L, N, T, D); this one has %d dimensions%s",
                     path, in.ndim, in.fortran ? " in Fortran order" : "");
    uint64_t L = 1, n = 0, T = 0, d = 0;
    if (!rc) {
        int o = in.ndim == 4;
        L = o ? in.shape[0] : 1;
        n = in.shape[o];
        T = in.shape[o + 1];
        d = in.shape[o + 2];
        if (!n || !T || !d || d > LG_MAX_COLUMNS || L > 100000)
            rc = lgu_fail(err, LG_EINPUT, "%s: shape (%s%llu, %llu, %llu) is empty or implausible",
                         path, o ? "L, " : "", U64(n), U64(T), U64(d));
    }
    unsigned char *mask = NULL;
    if (!rc && mask_path)
        rc = load_mask(mask_path, n, T, &mask, err);
    uint64_t *keep = NULL, kept = n * T; /* mode all with a mask: the kept tokens */
    if (!rc && mode == LG_TOKENS_ALL && mask) {
        kept = 0;
        for (uint64_t i = 0; i < n * T; i++)
            kept += mask[i];
        keep = malloc((kept ? kept : 1) * sizeof *keep);
        if (!keep)
            rc = lgu_fail(err, LG_ENOMEM, "out of memory for %llu token rows", U64(kept));
        for (uint64_t i = 0, q = 0; !rc && i < n * T; i++)
            if (mask[i])
                keep[q++] = i;
        if (!rc && !kept)
            rc = lgu_fail(err, LG_EINPUT, "%s: the mask keeps no token", mask_path);
    }
    for (uint64_t i = 0; !rc && mask && mode != LG_TOKENS_ALL && i < n; i++) {
        int any = 0;
        for (uint64_t j = 0; j < T; j++)
            any |= mask[i * T + j];
        if (!any)
            rc = lgu_fail(err, LG_EINPUT,
                         "%s: row %llu of the mask keeps no token: that input has no %s token",
                         mask_path, U64(i), mode == LG_TOKENS_MEAN ? "kept" : "first or last");
    }
    char name[256];
    lgsrc_base_name(path, name, sizeof name);
    size_t es = rc ? 0 : (size_t)in.size;
    const unsigned char *base = rc ? NULL : (const unsigned char *)src->map + in.data_off;
    for (uint64_t l = 0; !rc && l < L; l++) {
        char lname[300];
        if (in.ndim == 4)
            snprintf(lname, sizeof lname, "%s[%llu]", name, U64(l));
        else
            snprintf(lname, sizeof lname, "%s", name);
        const unsigned char *lb = base + l * n * T * d * es;
        if (mode == LG_TOKENS_ALL)
            rc = lgsrc_add(src, lname, kept, (uint32_t)d, t, in.big, lb, d, 1, err);
        else
            rc = lgsrc_add(src, lname, n, (uint32_t)d, LG_F32, in.big, lb, T * d, 1, err);
        if (!rc) {
            lgsrc_layer *S = &src->layers[src->n_layers - 1];
            S->pool = mode == LG_TOKENS_ALL ? 0 : (int)mode;
            S->tokens = (uint32_t)T;
            S->src_dtype = t;
            S->keep = keep;
            S->owns_keep = l == 0 && keep;
            S->mask = mask;
            S->owns_mask = l == 0 && mask;
            S->inputs = n;
        }
    }
    if (rc) {
        if (!src->n_layers || !src->layers[0].owns_mask)
            free(mask);
        if (!src->n_layers || !src->layers[0].owns_keep)
            free(keep);
        lg_source_close(src);
        return rc;
    }
    *out = src;
    return LG_OK;
}

uint64_t lg_source_token_inputs(const lg_source *src)
{
    if (!src->n_layers || src->layers[0].pool || !src->layers[0].tokens)
        return 0;
    return src->layers[0].inputs;
}

uint64_t lg_source_token_input(const lg_source *src, uint64_t row)
{
    const lgsrc_layer *L = src->n_layers ? &src->layers[0] : NULL;
    if (!L || L->pool || !L->tokens)
        return 0;
    return (L->keep ? L->keep[row] : row) / L->tokens;
}

/* Row r of a token layer (pooled or a kept token), as float32 (pooled) or
 * in the stored type (every token). */
int lgsrc_read_tokens(const lgsrc_layer *L, uint64_t row0, size_t n, void *out)
{
    size_t es = lg_dtype_size(L->src_dtype);
    uint64_t T = L->tokens, d = L->d;
    if (!L->pool) { /* every kept token a row */
        unsigned char *o = out;
        for (size_t r = 0; r < n; r++) {
            uint64_t tok = L->keep[row0 + r];
            memcpy(o + r * d * es, L->base + tok * d * es, d * es);
        }
        if (L->swap)
            lgc_byteswap(o, es, n * d);
        return LG_OK;
    }
    float *o = out, *tmp = malloc(d * sizeof *tmp);
    double *acc = calloc(d, sizeof *acc);
    unsigned char *raw = malloc(d * es);
    if (!tmp || !acc || !raw) {
        free(tmp);
        free(acc);
        free(raw);
        return LG_ENOMEM;
    }
    for (size_t r = 0; r < n; r++) {
        uint64_t i = row0 + r;
        const unsigned char *m = L->mask ? L->mask + i * T : NULL;
        uint64_t lo = 0, hi = T; /* the tokens to pool */
        if (L->pool == LG_TOKENS_FIRST) {
            while (m && !m[lo])
                lo++;
            hi = lo + 1;
        } else if (L->pool == LG_TOKENS_LAST) {
            hi = T;
            while (m && !m[hi - 1])
                hi--;
            lo = hi - 1;
        }
        memset(acc, 0, d * sizeof *acc);
        uint64_t count = 0;
        for (uint64_t t = lo; t < hi; t++) {
            if (m && !m[t])
                continue;
            memcpy(raw, L->base + (i * T + t) * d * es, d * es);
            if (L->swap)
                lgc_byteswap(raw, es, d);
            lg_to_f32(L->src_dtype, raw, tmp, d);
            for (uint64_t j = 0; j < d; j++)
                acc[j] += tmp[j];
            count++;
        }
        for (uint64_t j = 0; j < d; j++)
            o[r * d + j] = (float)(acc[j] / (double)count);
    }
    free(tmp);
    free(acc);
    free(raw);
    return LG_OK;
}
