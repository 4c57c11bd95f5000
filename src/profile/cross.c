/* Two stores of the same inputs (two models, two checkpoints): the
 * neighbourhood overlap and the information imbalance between every layer
 * of one and every layer of the other (Cheng, Doimo et al. 2025).  Each
 * layer's lists come from its store's cache when it has them (a profile
 * made them), else they are computed and cached; only the first k
 * neighbours of every layer are kept, never two layers of activations. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layergeom/profile.h"
#include "profile/cache.h"
#include "profile/profile_int.h"
#include "util/error.h"

#define U64(x) ((unsigned long long)(x))

void lg_cross_free(lg_cross *c)
{
    if (!c)
        return;
    free(c->overlap);
    free(c->ii_ab);
    free(c->ii_ba);
    memset(c, 0, sizeof *c);
}

/* The store's input identity (META "input_id"), if its producer wrote one. */
static const char *identity(const lg_store *s, size_t *len)
{
    return lg_store_meta(s, "input_id", len);
}

static int same_inputs(lg_store *a, lg_store *b, lg_cross *out, lg_error *err)
{
    uint64_t na = lg_store_rows(a), nb = lg_store_rows(b);
    if (na != nb)
        return lgu_fail(err, LG_EINPUT,
                        "%s has %llu rows and %s %llu: a comparison needs the same inputs in "
                        "the same order",
                        lg_store_path(a), U64(na), lg_store_path(b), U64(nb));
    size_t la, lb;
    const char *ia = identity(a, &la), *ib = identity(b, &lb);
    if (ia && ib && (la != lb || memcmp(ia, ib, la)))
        return lgu_fail(err, LG_EINPUT,
                        "%s and %s hold different inputs: their META input_id differ ('%.*s' "
                        "and '%.*s')",
                        lg_store_path(a), lg_store_path(b), (int)(la > 64 ? 64 : la), ia,
                        (int)(lb > 64 ? 64 : lb), ib);
    if (ia && ib)
        snprintf(out->identity, sizeof out->identity,
                 "the same inputs: N = %llu and META input_id '%.*s' in both", U64(na),
                 (int)(la > 64 ? 64 : la), ia);
    else
        snprintf(out->identity, sizeof out->identity,
                 "not checked beyond N = %llu: %s no META input_id (a producer can write one, "
                 "e.g. a hash of the input ids)",
                 U64(na), ia || ib ? "one store has" : "the stores have");
    out->identity_checked = ia && ib;
    return LG_OK;
}

/* The first k neighbours of every layer of s. */
static int kept_lists(lg_store *s, const lg_profile_opts *o, uint32_t k, uint32_t ***out,
                      lg_error *err)
{
    size_t L = lg_store_layer_count(s);
    uint64_t n = lg_store_rows(s);
    uint32_t **kept = calloc(L ? L : 1, sizeof *kept);
    if (!kept)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    *out = kept;
    /* the store's own cache, where `layergeom profile` keeps its lists; when
     * it cannot be opened the lists are computed */
    lgp_cache *cache = NULL;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s.lgcache", lg_store_path(s));
    lg_error cerr;
    if (!o->approx && !o->no_cross_cache)
        lgp_cache_open(dir, &cache, &cerr);
    uint32_t klist = lgp_lists_k(o, n);
    int rc = LG_OK;
    for (size_t l = 0; !rc && l < L; l++) {
        lg_profile p;
        memset(&p, 0, sizeof p);
        p.opts = *o;
        lg_layer_result r;
        memset(&r, 0, sizeof r);
        lg_knn nn = {0};
        rc = lgp_lists(s, l, o, klist, cache, &p, &r, &nn, err);
        if (!rc && !nn.idx)
            rc = lgu_fail(err, LG_EINPUT, "%s: layer %zu has no neighbour lists: %s",
                          lg_store_path(s), l, r.note);
        if (!rc) {
            kept[l] = malloc((n ? n : 1) * k * sizeof **kept);
            if (!kept[l])
                rc = lgu_fail(err, LG_ENOMEM, "out of memory for the kept lists");
            for (uint64_t i = 0; !rc && i < n; i++)
                memcpy(kept[l] + i * k, nn.idx + i * nn.k, k * sizeof **kept);
        }
        lg_knn_free(&nn);
    }
    lgp_cache_close(cache);
    return rc;
}

static void free_kept(uint32_t **kept, size_t L)
{
    for (size_t l = 0; kept && l < L; l++)
        free(kept[l]);
    free(kept);
}

/* Delta(X_a -> Y_b) for every a (rows of the la x lb matrix m, or its
 * transpose when t): column by column of Y. */
static int ii_matrix(lg_store *ys, uint32_t **X, size_t lx, uint32_t **Y, size_t ly, uint64_t n,
                     uint32_t k, const lg_profile_opts *o, double *m, int t, lg_error *err)
{
    double *sum = malloc((lx + 1) * sizeof *sum);
    uint64_t *valid = malloc((lx + 1) * sizeof *valid);
    if (!sum || !valid) {
        free(sum);
        free(valid);
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    }
    int rc = LG_OK;
    for (size_t b = 0; !rc && b < ly; b++) {
        memset(sum, 0, (lx + 1) * sizeof *sum);
        memset(valid, 0, (lx + 1) * sizeof *valid);
        rc = lgp_ii_column(ys, b, Y[b], (const uint32_t *const *)X, lx, n, k, o->ii_k, o, sum,
                           valid, err);
        for (size_t a = 0; !rc && a < lx; a++) {
            double v = valid[a] > 1
                           ? 2.0 / (double)valid[a] * sum[a] / ((double)valid[a] * o->ii_k)
                           : NAN;
            if (t)
                m[b * lx + a] = v;
            else
                m[a * ly + b] = v;
        }
    }
    free(sum);
    free(valid);
    return rc;
}

int lg_cross_stores(lg_store *a, lg_store *b, const lg_profile_opts *opts, lg_cross *out,
                    lg_error *err)
{
    memset(out, 0, sizeof *out);
    lg_profile_opts def;
    if (!opts) {
        lg_profile_opts_default(&def);
        opts = &def;
    }
    lg_profile_opts o = *opts;
    o.layers = NULL; /* every layer of both */
    o.n_layers = 0;
    if (o.k < 1 || o.k > LG_KNN_MAX_K)
        return lgu_fail(err, LG_EUSAGE, "k = %u: expected 1..%d", o.k, LG_KNN_MAX_K);
    if (o.ii_k > o.k)
        return lgu_fail(err, LG_EUSAGE, "ii-k %u must not exceed k %u here", o.ii_k, o.k);
    int rc = same_inputs(a, b, out, err);
    if (rc)
        return rc;
    if (!lg_store_layer_count(a) || !lg_store_layer_count(b))
        return lgu_fail(err, LG_EINPUT, "%s has no layers",
                        lg_store_path(lg_store_layer_count(a) ? b : a));
    uint64_t n = lg_store_rows(a);
    if (n < (uint64_t)o.k + 1)
        return lgu_fail(err, LG_EINPUT, "%llu rows are too few for k = %u", U64(n), o.k);
    out->la = lg_store_layer_count(a);
    out->lb = lg_store_layer_count(b);
    out->k = o.k;
    out->ii_k = o.ii_k;
    uint32_t **ka = NULL, **kb = NULL;
    rc = kept_lists(a, &o, o.k, &ka, err);
    if (!rc)
        rc = kept_lists(b, &o, o.k, &kb, err);
    size_t cells = out->la * out->lb;
    if (!rc) {
        out->overlap = malloc(cells * sizeof *out->overlap);
        if (o.ii_k) {
            out->ii_ab = malloc(cells * sizeof *out->ii_ab);
            out->ii_ba = malloc(cells * sizeof *out->ii_ba);
        }
        if (!out->overlap || (o.ii_k && (!out->ii_ab || !out->ii_ba)))
            rc = lgu_fail(err, LG_ENOMEM, "out of memory for the matrices");
    }
    for (size_t i = 0; !rc && i < out->la; i++)
        for (size_t j = 0; !rc && j < out->lb; j++) {
            lg_knn A = {.n = n, .k = o.k, .idx = ka[i]}, B = {.n = n, .k = o.k, .idx = kb[j]};
            lg_error none;
            if (lg_overlap_data(&A, &B, o.k, &out->overlap[i * out->lb + j], &none))
                out->overlap[i * out->lb + j] = NAN;
        }
    if (!rc && o.ii_k)
        rc = ii_matrix(b, ka, out->la, kb, out->lb, n, o.k, &o, out->ii_ab, 0, err);
    if (!rc && o.ii_k)
        rc = ii_matrix(a, kb, out->lb, ka, out->la, n, o.k, &o, out->ii_ba, 1, err);
    free_kept(ka, out->la);
    free_kept(kb, out->lb);
    if (rc)
        lg_cross_free(out);
    return rc;
}
