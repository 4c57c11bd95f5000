/* Twins: rows whose nearest neighbour is closer than a tolerance -- exact
 * duplicates, and rows equal up to float rounding, which make TwoNN's
 * mu = r2 / r1 huge and its ID collapse.  Twins are grouped (union-find over
 * the pairs the lists show), the first row of each group stands for it, and
 * the lists can be rebuilt without the others, as if they had never been
 * there (DADApy removes identical points before it estimates).
 *
 * Invariant of the groups: parent[i] <= i, and a root is the smallest row of
 * its group, so "removed" is simply parent[i] != i after compression. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layergeom/estimate.h"
#include "util/error.h"

static uint64_t root(uint64_t *parent, uint64_t i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

static void join(uint64_t *parent, uint64_t a, uint64_t b)
{
    a = root(parent, a);
    b = root(parent, b);
    if (a < b)
        parent[b] = a;
    else if (b < a)
        parent[a] = b;
}

static double tol_of(const lg_twin_opts *o, double median_tol, uint64_t i)
{
    double t = o->abs_tol > median_tol ? o->abs_tol : median_tol;
    if (o->row_tol && o->row_tol[i] > t)
        t = o->row_tol[i];
    return t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The median of the rows' first-neighbour distances (0 when none). */
static double median_r1(const lg_knn *nn, lg_error *err, int *rc)
{
    double *r = malloc((nn->n ? nn->n : 1) * sizeof *r);
    *rc = LG_OK;
    if (!r) {
        *rc = lgu_fail(err, LG_ENOMEM, "out of memory");
        return 0;
    }
    uint64_t m = 0;
    for (uint64_t i = 0; i < nn->n; i++)
        if (nn->idx[i * nn->k] != LG_KNN_NONE)
            r[m++] = nn->dist[i * nn->k];
    double med = 0;
    if (m) {
        qsort(r, m, sizeof *r, cmp_double);
        med = m % 2 ? r[m / 2] : (r[m / 2 - 1] + r[m / 2]) / 2;
    }
    free(r);
    return med;
}

int lg_knn_find_twins(const lg_knn *nn, const lg_twin_opts *o, unsigned char *removed,
                      lg_twins *out, lg_error *err)
{
    memset(out, 0, sizeof *out);
    out->example[0] = out->example[1] = LG_KNN_NONE;
    if (o->abs_tol < 0 || o->rel_median < 0)
        return lgu_fail(err, LG_EUSAGE, "a twin tolerance must be >= 0");
    int rc;
    out->median_r1 = median_r1(nn, err, &rc);
    if (rc)
        return rc;
    double mtol = o->rel_median * out->median_r1;
    uint64_t *parent = malloc((nn->n ? nn->n : 1) * sizeof *parent);
    if (!parent)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < nn->n; i++)
        parent[i] = i;
    for (uint64_t i = 0; i < nn->n; i++) {
        const uint32_t *ii = nn->idx + i * nn->k;
        const double *di = nn->dist + i * nn->k;
        if (ii[0] == LG_KNN_NONE)
            continue;
        double ti = tol_of(o, mtol, i);
        int twin = 0;
        for (uint32_t q = 0; q < nn->k && ii[q] != LG_KNN_NONE; q++) {
            double t = tol_of(o, mtol, ii[q]);
            t = t > ti ? t : ti;
            if (!(di[q] <= t))
                break; /* ascending: nothing further is closer */
            twin = 1;
            join(parent, i, ii[q]);
            if (di[q] > out->example_dist || out->example[0] == LG_KNN_NONE) {
                /* the widest pair taken for twins: the one to look at */
                out->example[0] = (uint32_t)i;
                out->example[1] = ii[q];
                out->example_dist = di[q];
            }
        }
        out->rows += twin;
        out->exact += twin && di[0] == 0;
    }
    for (uint64_t i = 0; i < nn->n; i++) {
        int gone = root(parent, i) != i;
        out->removed += gone;
        if (removed)
            removed[i] = (unsigned char)gone;
    }
    free(parent);
    return LG_OK;
}

int lg_knn_merge_twins(const lg_knn *nn, const unsigned char *removed, lg_knn *out,
                       lg_error *err)
{
    memset(out, 0, sizeof *out);
    uint64_t n = nn->n ? nn->n : 1;
    uint32_t *map = malloc(n * sizeof *map);
    if (!map)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    uint64_t m = 0;
    for (uint64_t i = 0; i < nn->n; i++)
        map[i] = removed[i] || nn->idx[i * nn->k] == LG_KNN_NONE ? LG_KNN_NONE : (uint32_t)m++;
    out->n = m;
    out->k = nn->k;
    out->idx = malloc((m ? m : 1) * nn->k * sizeof *out->idx);
    out->dist = malloc((m ? m : 1) * nn->k * sizeof *out->dist);
    if (!out->idx || !out->dist) {
        free(map);
        lg_knn_free(out);
        return lgu_fail(err, LG_ENOMEM, "out of memory for the lists without twins");
    }
    for (uint64_t i = 0; i < nn->n; i++) {
        if (map[i] == LG_KNN_NONE)
            continue;
        uint32_t *oi = out->idx + (uint64_t)map[i] * nn->k;
        double *od = out->dist + (uint64_t)map[i] * nn->k;
        uint32_t c = 0;
        for (uint32_t q = 0; q < nn->k; q++) {
            uint32_t j = nn->idx[i * nn->k + q];
            if (j == LG_KNN_NONE || map[j] == LG_KNN_NONE)
                continue;
            oi[c] = map[j];
            od[c++] = nn->dist[i * nn->k + q];
        }
        for (; c < nn->k; c++) { /* shorter now: the end is marked */
            oi[c] = LG_KNN_NONE;
            od[c] = INFINITY;
        }
        out->n_zero += od[0] == 0;
    }
    out->panels = nn->panels;
    out->seconds = nn->seconds;
    free(map);
    return LG_OK;
}
