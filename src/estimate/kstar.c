/* k*-GRIDE (Di Noia et al. 2024; DADApy's Data.return_ids_kstar_gride): the
 * scale of every row is chosen by the data.  For row i, k*_i is the largest
 * rank k up to which a likelihood-ratio test does not reject that the
 * density is constant: the volumes of the k-spheres around i and around its
 * (k+1)-th neighbour are compared (a chi-squared test with one degree of
 * freedom at level alpha).  GRIDE then runs with n2_i = k*_i (made even),
 * n1_i = n2_i / 2, and the test is repeated with the new ID. */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "estimate/gride_int.h"
#include "layergeom/estimate.h"
#include "util/error.h"

#define U64(x) ((unsigned long long)(x))

void lg_kstar_opts_default(lg_kstar_opts *o)
{
    o->maxk = 100;
    o->rounds = 5;
    o->alpha = 1e-6;
    o->initial_id = 0;
    lg_twonn_opts_default(&o->twonn);
}

/* The chi-squared(1) quantile exceeded with probability alpha: x with
 * erfc(sqrt(x / 2)) = alpha, by bisection (erfc decreases). */
static double chi2_isf1(double alpha)
{
    double lo = 0, hi = 40;
    for (int it = 0; it < 200; it++) {
        double z = (lo + hi) / 2;
        if (erfc(z) > alpha)
            lo = z;
        else
            hi = z;
    }
    double z = (lo + hi) / 2;
    return 2 * z * z;
}

static double logaddexp(double a, double b)
{
    double m = a > b ? a : b;
    return m + log1p(exp(-fabs(a - b)));
}

/* Rank of i's list at which the test first fails, minus one: k*_i in 3 ..
 * maxk - 1.  The prefactor of the volumes cancels in the ratio. */
static uint32_t row_kstar(const lg_knn *nn, uint64_t i, double id, uint32_t maxk, double thr)
{
    const double *di = nn->dist + i * nn->k;
    const uint32_t *ii = nn->idx + i * nn->k;
    uint32_t j;
    for (j = 4; j < maxk; j++) {
        uint32_t ksel = j - 1, m = ii[j - 1];
        if (m == LG_KNN_NONE || nn->idx[(uint64_t)m * nn->k] == LG_KNN_NONE)
            break;
        double ri = di[ksel - 1], rm = nn->dist[(uint64_t)m * nn->k + ksel - 1];
        if (!(ri > 0 && rm > 0 && isfinite(ri) && isfinite(rm)))
            continue; /* as DADApy: a zero volume makes the statistic NaN, which passes */
        double a = id * log(ri), b = id * log(rm);
        double dl = -2.0 * ksel * (a + b - 2.0 * logaddexp(a, b) + log(4.0));
        if (dl > thr)
            break;
    }
    return j - 1;
}

static double kstars(const lg_knn *nn, double id, uint32_t maxk, double thr, uint32_t *ks)
{
    double sum = 0;
    uint64_t used = 0;
    for (uint64_t i = 0; i < nn->n; i++) {
        if (nn->idx[i * nn->k] == LG_KNN_NONE) {
            ks[i] = 0;
            continue;
        }
        ks[i] = row_kstar(nn, i, id, maxk, thr);
        sum += ks[i];
        used++;
    }
    return used ? sum / (double)used : NAN;
}

/* GRIDE with n2_i = k*_i rounded up to even, n1_i = n2_i / 2. */
static int gride_at_kstar(const lg_knn *nn, uint32_t *ks, double *mu, double *n1s, double *n2s,
                          lg_kstar_result *out, double *id, double *errbar, int *at_bound,
                          double *kmean, lg_error *err)
{
    uint64_t m = 0, dropped = 0;
    double scale = 0, ksum = 0;
    for (uint64_t i = 0; i < nn->n; i++) {
        if (!ks[i])
            continue;
        uint32_t n2 = ks[i] + (ks[i] & 1), n1 = n2 / 2;
        ks[i] = n2; /* as DADApy, whose k* array is made even in place */
        ksum += n2;
        double a = nn->dist[i * nn->k + n1 - 1], b = nn->dist[i * nn->k + n2 - 1];
        if (a == 0 || !isfinite(b)) {
            dropped++; /* a duplicate at this scale: mu would be infinite */
            continue;
        }
        double v = b / a;
        if (v == 1)
            v += 10 * DBL_EPSILON;
        scale += (a + b) / 2;
        mu[m] = v;
        n1s[m] = n1;
        n2s[m] = n2;
        m++;
    }
    if (m < 3)
        return lgu_fail(err, LG_EINPUT, "k*-GRIDE: fewer than 3 usable rows (%llu duplicates)",
                        U64(dropped));
    lgg_sample g = {mu, m, 0, 0, n1s, n2s};
    int rc = lgg_solve(&g, id, errbar, at_bound, err);
    out->n_used = m;
    out->n_dropped = dropped;
    out->scale = scale / (double)m;
    *kmean = ksum / (double)(m + dropped);
    return rc;
}

int lg_gride_kstar(const lg_knn *nn, const lg_kstar_opts *o, lg_kstar_result *out, lg_error *err)
{
    lg_kstar_opts def;
    if (!o) {
        lg_kstar_opts_default(&def);
        o = &def;
    }
    out->rounds = 0;
    out->id = out->err = out->scale = out->kstar_mean = NAN;
    out->at_bound = 0;
    if (o->rounds < 1 || o->rounds > LG_KSTAR_MAX_ROUNDS)
        return lgu_fail(err, LG_EUSAGE, "k*-GRIDE rounds %d: expected 1..%d", o->rounds,
                        LG_KSTAR_MAX_ROUNDS);
    if (!(o->alpha > 0 && o->alpha < 1))
        return lgu_fail(err, LG_EUSAGE, "k*-GRIDE alpha %g: expected 0 < alpha < 1", o->alpha);
    if (o->maxk < 6)
        return lgu_fail(err, LG_EUSAGE, "k*-GRIDE maxk %u: expected at least 6", o->maxk);
    /* k* goes up to maxk - 1 and is then made even: ranks up to maxk */
    if (nn->k < o->maxk)
        return lgu_fail(err, LG_EUSAGE,
                        "k*-GRIDE with maxk %u needs lists of %u neighbours (these have %u)",
                        o->maxk, o->maxk, nn->k);
    double id = o->initial_id;
    if (!(id > 0)) {
        lg_twonn_result t;
        int rc = lg_twonn(nn, &o->twonn, &t, err);
        if (rc) {
            lgu_fail_prefix(err, "k*-GRIDE's first ID");
            return rc;
        }
        id = t.id;
    }
    uint64_t n = nn->n ? nn->n : 1;
    uint32_t *ks = malloc(n * sizeof *ks);
    double *mu = malloc(3 * n * sizeof *mu);
    if (!ks || !mu) {
        free(ks);
        free(mu);
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    }
    double thr = chi2_isf1(o->alpha);
    out->ids[0] = id;
    out->errs[0] = 0;
    int rc = LG_OK;
    for (int r = 1; !rc && r <= o->rounds; r++) {
        kstars(nn, id, o->maxk, thr, ks);
        double e;
        int bound;
        rc = gride_at_kstar(nn, ks, mu, mu + n, mu + 2 * n, out, &id, &e, &bound,
                            &out->kstar_means[r - 1], err);
        if (rc)
            break;
        out->ids[r] = id;
        out->errs[r] = e;
        out->rounds = r;
        out->at_bound = bound;
        if (bound)
            break; /* the next round would test with a meaningless ID */
    }
    if (!rc) {
        out->kstar_means[out->rounds] = kstars(nn, id, o->maxk, thr, ks);
        out->id = out->at_bound ? NAN : id;
        out->err = out->at_bound ? NAN : out->errs[out->rounds];
        out->kstar_mean = out->kstar_means[out->rounds - 1];
    }
    free(ks);
    free(mu);
    return rc;
}
