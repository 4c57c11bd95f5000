/* Twins in a layer's lists (estimate/twins.c), with the profile's policy
 * for the tolerance: by default the float resolution of the stored values
 * at the row's norm, so rows that differ only by rounding count as
 * duplicates; or what the caller set (absolute, or a multiple of the
 * layer's median first-neighbour distance).
 *
 * The norm is needed only for rows that could be such twins: those whose
 * nearest neighbour is much closer than the end of their own list or than
 * the layer's typical r1.  Only those rows are read back from the store (in
 * row order, so a compressed chunk is decoded once), which keeps a profile
 * from cached lists from reading the layer again. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layergeom/profile.h"
#include "profile/profile_int.h"
#include "util/error.h"

#define SUSPECT 1e-3 /* r1 below this fraction of a row's list end or of the median r1 */

/* The relative spacing of the stored values, at least float32's: the
 * search itself reads rows as float32. */
static double resolution(lg_dtype t)
{
    switch (t) {
    case LG_F16: return 0x1p-10;
    case LG_BF16: return 0x1p-7;
    default: return 0x1p-23;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* row_tol[i] = 2 x resolution x |x_i| for the suspects, 0 for the others
 * (two units in the last place of every coordinate). */
static int resolution_tol(lg_store *s, size_t layer, const lg_knn *nn, double *row_tol,
                          lg_error *err)
{
    lg_layer_info L;
    lg_store_layer(s, layer, &L);
    double *r1 = malloc((nn->n ? nn->n : 1) * sizeof *r1);
    float *row = malloc((size_t)L.d * sizeof *row);
    if (!r1 || !row) {
        free(r1);
        free(row);
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    }
    uint64_t m = 0;
    for (uint64_t i = 0; i < nn->n; i++)
        if (nn->idx[i * nn->k] != LG_KNN_NONE)
            r1[m++] = nn->dist[i * nn->k];
    qsort(r1, m, sizeof *r1, cmp_double);
    double med = m ? r1[m / 2] : 0;
    free(r1);
    double eps = 2 * resolution(L.dtype);
    lg_cursor *cur = NULL;
    int rc = LG_OK;
    for (uint64_t i = 0; !rc && i < nn->n; i++) {
        row_tol[i] = 0;
        const double *di = nn->dist + i * nn->k;
        if (nn->idx[i * nn->k] == LG_KNN_NONE)
            continue;
        double end = di[nn->k - 1];
        if (!(di[0] < SUSPECT * end || di[0] < SUSPECT * med))
            continue;
        if (!cur)
            rc = lg_cursor_open(s, layer, 1, &cur, err);
        if (!rc)
            rc = lg_cursor_read(cur, i, 1, row, err);
        double sq = 0;
        for (uint32_t j = 0; !rc && j < L.d; j++)
            sq += (double)row[j] * row[j];
        row_tol[i] = eps * sqrt(sq);
    }
    lg_cursor_close(cur);
    free(row);
    return rc;
}

int lgp_twins(lg_store *s, size_t layer, const lg_profile_opts *o, const lg_knn *nn,
              lg_layer_result *r, lg_knn *merged, lg_error *err)
{
    memset(merged, 0, sizeof *merged);
    lg_twin_opts to = {0, 0, NULL};
    double *row_tol = NULL;
    if (o->dup_tol_median > 0) {
        to.rel_median = o->dup_tol_median;
    } else if (o->dup_tol >= 0) {
        to.abs_tol = o->dup_tol;
    } else {
        row_tol = malloc((nn->n ? nn->n : 1) * sizeof *row_tol);
        if (!row_tol)
            return lgu_fail(err, LG_ENOMEM, "out of memory");
        int rc = resolution_tol(s, layer, nn, row_tol, err);
        if (rc) {
            free(row_tol);
            return rc;
        }
        to.row_tol = row_tol;
    }
    unsigned char *removed = malloc(nn->n ? nn->n : 1);
    if (!removed) {
        free(row_tol);
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    }
    int rc = lg_knn_find_twins(nn, &to, removed, &r->twins, err);
    free(row_tol);
    if (!rc && r->twins.removed && o->twonn.duplicates == LG_DUP_DROP)
        rc = lg_knn_merge_twins(nn, removed, merged, err);
    free(removed);
    return rc;
}

/* Rows whose nearest neighbour is far closer than their 4th (after twins
 * were merged): TwoNN then measures that small-scale structure (pairs of
 * rows a tiny step apart, say).  Without such structure r1 / r4 < 1e-3 has
 * probability about 4 x 1e-3^d: 0.4 % of rows on a curve, far less above. */
uint64_t lgp_small_scale_rows(const lg_knn *nn, double *median_r1)
{
    uint32_t far = nn->k < 4 ? nn->k - 1 : 3;
    double *r1 = malloc((nn->n ? nn->n : 1) * sizeof *r1);
    uint64_t m = 0, c = 0;
    for (uint64_t i = 0; i < nn->n; i++) {
        const double *di = nn->dist + i * nn->k;
        if (nn->idx[i * nn->k] == LG_KNN_NONE)
            continue;
        c += isfinite(di[far]) && di[0] < SUSPECT * di[far];
        if (r1)
            r1[m++] = di[0];
    }
    *median_r1 = NAN;
    if (m) {
        qsort(r1, m, sizeof *r1, cmp_double);
        *median_r1 = m % 2 ? r1[m / 2] : (r1[m / 2 - 1] + r1[m / 2]) / 2;
    }
    free(r1);
    return c;
}
