/* TwoNN: the ratio mu = r2 / r1 of the distances to the first two neighbours
 * is Pareto-distributed with exponent d on a d-dimensional manifold. */
#include <math.h>
#include <stdlib.h>

#include "layergeom/estimate.h"
#include "util/error.h"

void lg_twonn_opts_default(lg_twonn_opts *o)
{
    o->discard = 0.1;
    o->prior_a = 2;
    o->prior_b = 5;
    o->duplicates = LG_DUP_DROP;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int lg_twonn_r(const double *r1, const double *r2, uint64_t n, const lg_twonn_opts *o,
               lg_twonn_result *out, lg_error *err)
{
    lg_twonn_opts def;
    if (!o) {
        lg_twonn_opts_default(&def);
        o = &def;
    }
    if (!(o->discard >= 0 && o->discard < 1))
        return lgu_fail(err, LG_EUSAGE, "TwoNN discard fraction %g is not in [0, 1)", o->discard);
    double *logmu = malloc((n ? n : 1) * sizeof *logmu);
    if (!logmu)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    uint64_t m = 0, dropped = 0;
    double scale = 0, sum = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (r1[i] == 0) {
            if (o->duplicates == LG_DUP_DROP) {
                dropped++;
                continue;
            }
            free(logmu);
            return lgu_fail(err, LG_EINPUT,
                           "row %llu has a duplicate (r1 = 0): with duplicates kept, TwoNN's "
                           "mu = r2 / r1 is infinite; use the drop policy",
                           (unsigned long long)i);
        }
        logmu[m] = log(r2[i] / r1[i]);
        sum += logmu[m];
        scale += (r1[i] + r2[i]) / 2;
        m++;
    }
    if (m < 3 || sum <= 0) {
        free(logmu);
        return lgu_fail(err, LG_EINPUT,
                       "TwoNN needs at least 3 rows with distinct first and second neighbour "
                       "distances (%llu usable rows of %llu; %llu duplicates)",
                       (unsigned long long)m, (unsigned long long)n,
                       (unsigned long long)dropped);
    }
    qsort(logmu, m, sizeof *logmu, cmp_double);
    /* the empirical CDF uses the full count m: F_i = i / m */
    uint64_t keep = (uint64_t)floor((double)m * (1.0 - o->discard));
    if (keep > m - 1)
        keep = m - 1; /* F = 1 would give log(0) */
    double sxy = 0, sxx = 0;
    for (uint64_t i = 0; i < keep; i++) {
        double y = -log(1.0 - (double)(i + 1) / (double)m);
        sxy += logmu[i] * y;
        sxx += logmu[i] * logmu[i];
    }
    free(logmu);
    if (sxx <= 0)
        return lgu_fail(err, LG_EINPUT,
                       "TwoNN fit is undefined: every kept mu is 1 (all first and second "
                       "neighbours tie)");
    out->id = sxy / sxx;
    out->id_ml = (double)(m - 1) / sum;
    double a = o->prior_a + (double)m, b = o->prior_b + sum;
    out->bayes_mean = a / b;
    out->bayes_std = sqrt(a) / b;
    out->scale = scale / (double)m;
    out->n_used = m;
    out->n_dropped = dropped;
    return LG_OK;
}

int lg_twonn(const lg_knn *nn, const lg_twonn_opts *o, lg_twonn_result *out, lg_error *err)
{
    if (nn->k < 2)
        return lgu_fail(err, LG_EUSAGE, "TwoNN needs lists of at least 2 neighbours");
    double *r = malloc(2 * (nn->n ? nn->n : 1) * sizeof *r);
    if (!r)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    /* rows left out for NaN or inf have no list; a list shortened to one
     * neighbour by merging twins has no r2 (INFINITY) */
    uint64_t m = 0, short_lists = 0;
    for (uint64_t i = 0; i < nn->n; i++) {
        const double *di = nn->dist + i * nn->k;
        if (nn->idx[i * nn->k] == LG_KNN_NONE)
            continue;
        if (!isfinite(di[1])) {
            short_lists++;
            continue;
        }
        r[m] = di[0];
        r[nn->n + m++] = di[1];
    }
    int rc = lg_twonn_r(r, r + nn->n, m, o, out, err);
    if (!rc)
        out->n_dropped += short_lists;
    free(r);
    return rc;
}
