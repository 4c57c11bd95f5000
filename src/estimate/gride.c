/* GRIDE: the ratio mu = r_{n2} / r_{n1} follows a generalised Pareto law
 * whose maximum-likelihood exponent is the ID at the scale of the n2-th
 * neighbour.  Follows DADApy's procedure step by step (filter, bisection,
 * Fisher information) so the numbers agree. */
#include <float.h>
#include <math.h>
#include <stdlib.h>

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

/* The derivative of the log-likelihood in d (its root is the estimate). */
static double dlik(double d, const double *mu, uint64_t n, double n1, double n2)
{
    double s = 0;
    for (uint64_t i = 0; i < n; i++) {
        double one_m = 1.0 - pow(mu[i], -d);
        if (one_m < 2 * BISECT_EPS)
            one_m = 2 * BISECT_EPS;
        s += ((1 - n2 + n1) / one_m + n2 - 1.0) * log(mu[i]);
    }
    return s - (double)(n - 1) / d;
}

static double fisher(double d, const double *mu, uint64_t n, double n1, double n2)
{
    double j1 = 0;
    for (uint64_t i = 0; i < n; i++) {
        double p = pow(mu[i], -d), one_m = 1.0 - p;
        if (one_m < BISECT_EPS)
            one_m = BISECT_EPS;
        double f = log(mu[i]) / one_m;
        j1 += f * f * p;
    }
    return (double)n / (d * d) + (n2 - n1 - 1) * j1;
}

static int one_scale(const lg_knn *nn, uint32_t n1, uint32_t n2, lg_dup_policy dup, double *mu,
                     double *sorted, double *id, double *errbar, double *rs, uint64_t *dropped,
                     lg_error *err)
{
    uint64_t m = 0;
    double rsum = 0;
    *dropped = 0;
    for (uint64_t i = 0; i < nn->n; i++) {
        if (nn->idx[i * nn->k] == LG_KNN_NONE)
            continue; /* left out for NaN or inf */
        double a = nn->dist[i * nn->k + n1 - 1], b = nn->dist[i * nn->k + n2 - 1];
        if (a == 0) {
            if (dup == LG_DUP_DROP) {
                (*dropped)++;
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
        return lgu_fail(err, LG_EINPUT, "GRIDE at ranks %u/%u: fewer than 3 usable rows", n1, n2);
    /* drop the extreme tail (overlapping points), as DADApy does */
    for (uint64_t i = 0; i < m; i++)
        sorted[i] = mu[i];
    qsort(sorted, m, sizeof *sorted, cmp_double);
    double q95 = percentile(sorted, m, 95), q50 = percentile(sorted, m, 50);
    double mu_max = 20 * (q95 - q50) + q50;
    uint64_t kept = 0;
    for (uint64_t i = 0; i < m; i++)
        if (mu[i] < mu_max)
            sorted[kept++] = mu[i];
    double d0 = 1e-3, d1 = 1e3, l1 = dlik(d1, sorted, kept, n1, n2);
    while (fabs(d0 - d1) > BISECT_EPS) {
        double d2 = (d0 + d1) / 2, l2 = dlik(d2, sorted, kept, n1, n2);
        if (l2 * l1 > 0)
            d1 = d2;
        else
            d0 = d2;
    }
    *id = (d0 + d1) / 2;
    *errbar = 1.0 / sqrt(fisher(*id, mu, m, n1, n2));
    *rs = rsum / (double)m;
    return LG_OK;
}

int lg_gride(const lg_knn *nn, uint32_t max_rank, lg_dup_policy dup, lg_gride_result *out,
             lg_error *err)
{
    out->scales = 0;
    if (max_rank > nn->k)
        max_rank = nn->k;
    if (max_rank < 2)
        return lgu_fail(err, LG_EUSAGE, "GRIDE needs lists of at least 2 neighbours");
    double *mu = malloc(2 * nn->n * sizeof *mu);
    if (!mu)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    int rc = LG_OK;
    for (uint32_t n1 = 1; !rc && 2 * n1 <= max_rank && out->scales < LG_GRIDE_MAX_SCALES;
         n1 *= 2) {
        int s = out->scales;
        rc = one_scale(nn, n1, 2 * n1, dup, mu, mu + nn->n, &out->id[s], &out->err[s],
                       &out->rs[s], &out->n_dropped[s], err);
        if (!rc) {
            out->n1[s] = n1;
            out->n2[s] = 2 * n1;
            out->scales++;
        }
    }
    free(mu);
    return rc;
}
