/* GRIDE: the ratio mu = r_{n2} / r_{n1} follows a generalised Pareto law
 * whose maximum-likelihood exponent is the ID at the scale of the n2-th
 * neighbour.  Follows DADApy's procedure step by step (filter, bisection,
 * Fisher information) so the numbers agree.  The solver takes one (n1, n2)
 * for all rows or one per row (k*-GRIDE, kstar.c). */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "estimate/gride_int.h"
#include "layergeom/estimate.h"
#include "util/error.h"

#define BISECT_EPS 1e-7

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* numpy's default (linear) percentile of sorted values. */
static double percentile(const double *s, uint64_t n, double q)
{
    double pos = q / 100.0 * (double)(n - 1);
    uint64_t lo = (uint64_t)floor(pos);
    if (lo + 1 >= n)
        return s[n - 1];
    return s[lo] + (pos - (double)lo) * (s[lo + 1] - s[lo]);
}

static double n1_of(const lgg_sample *g, uint64_t i) { return g->n1s ? g->n1s[i] : g->n1; }
static double n2_of(const lgg_sample *g, uint64_t i) { return g->n2s ? g->n2s[i] : g->n2; }

/* The derivative of the log-likelihood in d (its root is the estimate),
 * over the rows kept by the outlier cut. */
static double dlik(double d, const lgg_sample *g, const unsigned char *keep, uint64_t kept)
{
    double s = 0;
    for (uint64_t i = 0; i < g->m; i++) {
        if (!keep[i])
            continue;
        double one_m = 1.0 - pow(g->mu[i], -d), n1 = n1_of(g, i), n2 = n2_of(g, i);
        if (one_m < 2 * BISECT_EPS)
            one_m = 2 * BISECT_EPS;
        s += ((1 - n2 + n1) / one_m + n2 - 1.0) * log(g->mu[i]);
    }
    return s - (double)(kept - 1) / d;
}

/* Fisher information, over every row (as DADApy: the cut is not applied). */
static double fisher(double d, const lgg_sample *g)
{
    double j1 = 0;
    for (uint64_t i = 0; i < g->m; i++) {
        double p = pow(g->mu[i], -d), one_m = 1.0 - p;
        if (one_m < BISECT_EPS)
            one_m = BISECT_EPS;
        double f = log(g->mu[i]) / one_m;
        j1 += (n2_of(g, i) - n1_of(g, i) - 1) * f * f * p;
    }
    return (double)g->m / (d * d) + j1;
}

int lgg_solve(const lgg_sample *g, double *id, double *errbar, int *at_bound, lg_error *err)
{
    uint64_t m = g->m;
    double *sorted = malloc((m ? m : 1) * sizeof *sorted);
    unsigned char *keep = malloc(m ? m : 1);
    if (!sorted || !keep) {
        free(sorted);
        free(keep);
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    }
    for (uint64_t i = 0; i < m; i++)
        sorted[i] = g->mu[i];
    qsort(sorted, m, sizeof *sorted, cmp_double);
    /* DADApy drops the extreme tail (overlapping points): mu >= q50 + 20
     * (q95 - q50).  When q95 == q50 (a lattice: most mu tie) that cut would
     * drop every row from the median up, so it never drops a value at or
     * below q95; whenever q95 > q50 this is DADApy's rule unchanged. */
    double q95 = percentile(sorted, m, 95), q50 = percentile(sorted, m, 50);
    double mu_max = 20 * (q95 - q50) + q50;
    uint64_t kept = 0;
    for (uint64_t i = 0; i < m; i++) {
        keep[i] = g->mu[i] < mu_max || g->mu[i] <= q95;
        kept += keep[i];
    }
    free(sorted);
    double d0 = LGG_D_MIN, d1 = LGG_D_MAX, l1 = dlik(d1, g, keep, kept);
    while (fabs(d0 - d1) > BISECT_EPS) {
        double d2 = (d0 + d1) / 2, l2 = dlik(d2, g, keep, kept);
        if (l2 * l1 > 0)
            d1 = d2;
        else
            d0 = d2;
    }
    free(keep);
    *id = (d0 + d1) / 2;
    *errbar = 1.0 / sqrt(fisher(*id, g));
    /* the root was not bracketed: the likelihood rises to an end of the
     * search interval, so the number is the interval's end, not an estimate */
    *at_bound = *id < LGG_D_MIN * 1.01 || *id > LGG_D_MAX * 0.99;
    return LG_OK;
}

static int one_scale(const lg_knn *nn, uint32_t n1, uint32_t n2, lg_dup_policy dup, double *mu,
                     lg_gride_result *out, int s, lg_error *err)
{
    uint64_t m = 0;
    double rsum = 0;
    out->n_dropped[s] = 0;
    for (uint64_t i = 0; i < nn->n; i++) {
        if (nn->idx[i * nn->k] == LG_KNN_NONE)
            continue; /* left out for NaN or inf */
        double a = nn->dist[i * nn->k + n1 - 1], b = nn->dist[i * nn->k + n2 - 1];
        if (isinf(b)) { /* a list shortened by merging twins (lg_knn_merge_twins) */
            out->n_dropped[s]++;
            continue;
        }
        if (a == 0) {
            if (dup == LG_DUP_DROP) {
                out->n_dropped[s]++;
                continue;
            }
            return lgu_fail(err, LG_EINPUT,
                           "GRIDE at ranks %u/%u: row %llu has r_%u = 0 (duplicates); with "
                           "duplicates kept mu is infinite; use the drop policy",
                           n1, n2, (unsigned long long)i, n1);
        }
        rsum += (a + b) / 2;
        double v = b / a;
        if (v == 1)
            v += 10 * DBL_EPSILON; /* as DADApy: mu = 1 makes the likelihood singular */
        mu[m++] = v;
    }
    if (m < 3)
        return lgu_fail(err, LG_EINPUT,
                        "GRIDE at ranks %u/%u: fewer than 3 usable rows (%llu left out: "
                        "duplicates, or lists too short once twins are merged)",
                        n1, n2, (unsigned long long)out->n_dropped[s]);
    lgg_sample g = {mu, m, n1, n2, NULL, NULL};
    int bound;
    int rc = lgg_solve(&g, &out->id[s], &out->err[s], &bound, err);
    if (rc)
        return rc;
    if (bound) { /* not a number to report: see lg_gride_result.at_bound */
        out->at_bound |= 1u << s;
        out->id[s] = out->err[s] = NAN;
    }
    out->rs[s] = rsum / (double)m;
    return LG_OK;
}

int lg_gride(const lg_knn *nn, uint32_t max_rank, lg_dup_policy dup, lg_gride_result *out,
             lg_error *err)
{
    out->scales = 0;
    out->at_bound = 0;
    if (max_rank > nn->k)
        max_rank = nn->k;
    if (max_rank < 2)
        return lgu_fail(err, LG_EUSAGE, "GRIDE needs lists of at least 2 neighbours");
    double *mu = malloc((nn->n ? nn->n : 1) * sizeof *mu);
    if (!mu)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    int rc = LG_OK;
    for (uint32_t n1 = 1; !rc && 2 * n1 <= max_rank && out->scales < LG_GRIDE_MAX_SCALES;
         n1 *= 2) {
        int s = out->scales;
        rc = one_scale(nn, n1, 2 * n1, dup, mu, out, s, err);
        if (!rc) {
            out->n1[s] = n1;
            out->n2[s] = 2 * n1;
            out->scales++;
        }
    }
    free(mu);
    return rc;
}
