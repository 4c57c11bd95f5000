/* The information imbalance (Glielmo et al., PNAS Nexus 2022; DADApy's
 * MetricComparisons.return_information_imbalace): Delta(A -> B) = 2 / N x the
 * mean, over rows i and over i's k nearest neighbours j in A, of the rank of
 * j among i's neighbours in B.  0: A's neighbourhoods are B's; about 1: B
 * says nothing about them.  Exact over all rows: a rank that B's list shows
 * is read from it, every other one is counted by lg_knn_ranks in a pass over
 * B's rows (no N^2 memory, no subsets). */
#include <math.h>
#include <stdlib.h>

#include "layergeom/estimate.h"
#include "layergeom/knn.h"
#include "util/error.h"

#define U64(x) ((unsigned long long)(x))

/* Both entries: ranks B's lists show are read, those in `counted` (when
 * given, from B's own search) taken, the rest counted over B's rows. */
static int imbalance(const lg_knn *a, const lg_knn *b, uint32_t k, const uint64_t *counted,
                     uint32_t d_b, lg_rows_fn b_rows, void *b_ctx, const struct lg_knn_opts *o,
                     lg_imbalance *out, lg_error *err)
{
    out->value = NAN;
    out->k = k;
    out->rows = out->from_lists = out->counted = 0;
    if (a->n != b->n)
        return lgu_fail(err, LG_EUSAGE, "information imbalance: %llu rows against %llu",
                        U64(a->n), U64(b->n));
    if (k < 1 || k > a->k)
        return lgu_fail(err, LG_EUSAGE,
                        "information imbalance at k = %u needs lists of k neighbours in A (they "
                        "have %u)",
                        k, a->k);
    uint64_t n = a->n, valid = 0;
    for (uint64_t i = 0; i < n; i++)
        valid += a->idx[i * a->k] != LG_KNN_NONE && b->idx[i * b->k] != LG_KNN_NONE;
    if (valid < 2)
        return lgu_fail(err, LG_EINPUT, "information imbalance: fewer than 2 rows with lists");
    /* ranks from B's lists; the pairs they do not show become queries */
    size_t nq = 0, cap = 1024;
    uint32_t *qi = malloc(cap * sizeof *qi), *qj = malloc(cap * sizeof *qj);
    if (!qi || !qj) {
        free(qi);
        free(qj);
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    }
    double sum = 0;
    int rc = LG_OK;
    for (uint64_t i = 0; !rc && i < n; i++) {
        const uint32_t *ai = a->idx + i * a->k, *bi = b->idx + i * b->k;
        if (ai[0] == LG_KNN_NONE || bi[0] == LG_KNN_NONE)
            continue;
        for (uint32_t q = 0; q < k; q++) {
            uint32_t j = ai[q], p = 0;
            while (p < b->k && bi[p] != j && bi[p] != LG_KNN_NONE)
                p++;
            if (p < b->k && bi[p] == j) {
                sum += p + 1;
                out->from_lists++;
                continue;
            }
            if (counted && counted[i * k + q]) {
                sum += (double)counted[i * k + q];
                out->counted++;
                continue;
            }
            if (!b_rows) {
                rc = lgu_fail(err, LG_EUSAGE, "information imbalance: row %llu has no counted "
                                              "rank for its neighbour %u",
                              U64(i), j);
                break;
            }
            if (nq == cap) {
                cap *= 2;
                uint32_t *x = realloc(qi, cap * sizeof *qi), *y = x ? realloc(qj, cap * sizeof *qj) : NULL;
                if (x)
                    qi = x;
                if (!x || !y) {
                    rc = lgu_fail(err, LG_ENOMEM, "out of memory for %zu rank queries", nq);
                    break;
                }
                qj = y;
            }
            qi[nq] = (uint32_t)i;
            qj[nq++] = j;
        }
    }
    uint64_t *rank = NULL;
    if (!rc && nq) {
        rank = malloc(nq * sizeof *rank);
        rc = rank ? lg_knn_ranks(n, d_b, b_rows, b_ctx, qi, qj, nq, rank, o, err)
                  : lgu_fail(err, LG_ENOMEM, "out of memory for %zu ranks", nq);
        for (size_t q = 0; !rc && q < nq; q++)
            sum += (double)rank[q];
    }
    free(rank);
    free(qi);
    free(qj);
    if (rc)
        return rc;
    /* excluded rows (NaN, inf) are nobody's neighbour: ranks are among the
     * valid rows, and so is N */
    out->counted += nq;
    out->rows = valid;
    out->value = 2.0 / (double)valid * sum / ((double)valid * k);
    return LG_OK;
}

int lg_information_imbalance(const lg_knn *a, const lg_knn *b, uint32_t k, uint32_t d_b,
                             lg_rows_fn b_rows, void *b_ctx, const struct lg_knn_opts *o,
                             lg_imbalance *out, lg_error *err)
{
    return imbalance(a, b, k, NULL, d_b, b_rows, b_ctx, o, out, err);
}

int lg_information_imbalance_counted(const lg_knn *a, const lg_knn *b, uint32_t k,
                                     const uint64_t *rank, lg_imbalance *out, lg_error *err)
{
    return imbalance(a, b, k, rank, 0, NULL, NULL, NULL, out, err);
}
