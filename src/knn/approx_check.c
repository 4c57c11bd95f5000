/* The approximate search's self-check: a random sample of rows against
 * exact search (GEMM of the sample against every row), giving the recall
 * and the TwoNN error that every approximate layer reports. */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "knn/cand.h"
#include "knn/dist.h"
#include "knn/engine.h"
#include "knn/finite.h"
#include "knn/plan.h"
#include "knn/rowbuf.h"
#include "knn/scan.h"
#include "util/error.h"
#include "util/parallel.h"

#define U64(x) ((unsigned long long)(x))
#include "knn/approx_int.h"

/* ---- the self-check: a sample of rows against exact search ---- */

/* Exact lists of the sampled rows: GEMM of the sample against every row
 * (centred, as in the search), a few spare candidates each, then exact
 * distances in double; a row whose margin is within the GEMM's rounding is
 * scanned exactly. */
typedef struct check_job {
    const lg_knn_approx *a;
    const uint64_t *sample;
    uint64_t m;
    uint32_t kc;
    float *s, *ss;      /* the sample, centred, and its norms */
    float *t, *st;      /* the block of rows being scanned */
    uint64_t t0, nt;
    float *hd, *wd;     /* m x kc candidates */
    uint32_t *hi, *wi;
    float **g;          /* per thread */
} check_job;


static int check_item(void *arg, int t, size_t item)
{
    check_job *j = arg;
    const lg_knn_approx *a = j->a;
    uint64_t r0 = (uint64_t)item * SLICE, ns = j->m - r0 < SLICE ? j->m - r0 : SLICE;
    float *g = j->g[t];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)ns, (int)j->nt, (int)a->d, 1.0f,
                j->s + r0 * a->d, (int)a->d, j->t, (int)a->d, 0.0f, g, (int)j->nt);
    for (uint64_t q = r0; q < r0 + ns; q++)
        for (uint64_t c = 0; c < j->nt; c++) {
            uint64_t r = j->t0 + c;
            float d2 = j->ss[q] + j->st[c] - 2 * g[(q - r0) * j->nt + c];
            if (d2 < 0)
                d2 = 0;
            if (r != j->sample[q] && d2 <= j->wd[q])
                lgk_cand_offer(j->hd, j->hi, j->wd, j->wi, j->kc, q, d2, (uint32_t)r);
        }
    return LG_OK;
}

static double exact_dist(const lg_knn_approx *a, uint64_t i, uint64_t r)
{
    return lgk_exact_dist(a->rows.x + i * a->d, a->rows.x + r * a->d, a->d);
}

/* Sorts sample row q's candidates by exact distance into ix/d (k of them);
 * 1 when the GEMM's margin is too thin to trust them (the row is then
 * scanned exactly). */
static int check_finish_row(const check_job *j, uint64_t q, uint32_t *ix, double *d)
{
    const lg_knn_approx *a = j->a;
    uint64_t i = j->sample[q];
    uint32_t k = a->k, m = 0;
    for (uint32_t c = 0; c < k; c++) {
        d[c] = INFINITY;
        ix[c] = LG_NO_ROW;
    }
    for (uint32_t c = 0; c < j->kc; c++) {
        uint32_t r = j->hi[q * j->kc + c];
        if (r == LG_NO_ROW)
            continue;
        double v = exact_dist(a, i, r);
        m++;
        if (v > d[k - 1] || (v == d[k - 1] && r > ix[k - 1]))
            continue;
        uint32_t p = k - 1;
        while (p > 0 && (d[p - 1] > v || (d[p - 1] == v && ix[p - 1] > r))) {
            d[p] = d[p - 1];
            ix[p] = ix[p - 1];
            p--;
        }
        d[p] = v;
        ix[p] = r;
    }
    if (m < j->kc)
        return 0; /* every other row was a candidate */
    double gamma = 4.0 * (a->d + 8) * 0x1p-24, worst = j->wd[q];
    double tol = gamma * (3.0 * a->sq[i] + 2.0 * worst) + 1e-30;
    return d[k - 1] * d[k - 1] + tol >= worst - tol;
}

/* Exact lists of the sample rows listed in thin[], by a DGEMM scan (scan.h):
 * on clustered or high-dimensional data most rows can be such rows, and a
 * scalar scan each made the check slower than the search it checks. */
static int scan_thin(const lg_knn_approx *a, const uint64_t *sample, const uint64_t *thin,
                     uint64_t nt, uint32_t *ei, double *ed)
{
    uint64_t *qid = malloc(nt * sizeof *qid);
    float *qx = malloc(nt * a->d * sizeof *qx);
    double *mu = malloc(a->d * sizeof *mu);
    uint32_t *ix = malloc(nt * a->k * sizeof *ix);
    double *dx = malloc(nt * a->k * sizeof *dx);
    lgk_scan s = {.d = a->d, .k = a->k, .threads = a->threads, .mu = mu, .m = nt, .qid = qid,
                  .qx = qx};
    int rc = qid && qx && mu && ix && dx ? LG_OK : LG_ENOMEM;
    if (!rc) {
        for (uint32_t c = 0; c < a->d; c++)
            mu[c] = a->mu[c];
        for (uint64_t t = 0; t < nt; t++) {
            qid[t] = sample[thin[t]];
            memcpy(qx + t * a->d, a->rows.x + qid[t] * a->d, a->d * sizeof *qx);
        }
        rc = lgk_scan_init(&s);
    }
    for (uint64_t r0 = 0; !rc && r0 < a->n; r0 += 65536) {
        uint64_t nr = a->n - r0 < 65536 ? a->n - r0 : 65536;
        rc = lgk_scan_panel(&s, r0, nr, a->rows.x + r0 * a->d);
    }
    if (!rc) {
        lgk_scan_sort(&s, ix, dx);
        for (uint64_t t = 0; t < nt; t++) {
            memcpy(ei + thin[t] * a->k, ix + t * a->k, a->k * sizeof *ix);
            memcpy(ed + thin[t] * a->k, dx + t * a->k, a->k * sizeof *dx);
        }
    }
    lgk_scan_free(&s);
    free(qid);
    free(qx);
    free(mu);
    free(ix);
    free(dx);
    return rc;
}

static int check_exact(lg_knn_approx *a, const uint64_t *sample, uint64_t m,
                       uint32_t *ei, double *ed)
{
    check_job j = {.a = a, .sample = sample, .m = m};
    j.kc = a->k + 16 < a->n - 1 ? a->k + 16 : (uint32_t)(a->n - 1);
    j.s = malloc(m * a->d * sizeof *j.s);
    j.ss = malloc(m * sizeof *j.ss);
    j.t = malloc((uint64_t)a->trows * a->d * sizeof *j.t);
    j.st = malloc(a->trows * sizeof *j.st);
    j.hd = malloc(m * j.kc * sizeof *j.hd);
    j.hi = malloc(m * j.kc * sizeof *j.hi);
    j.wd = malloc(m * sizeof *j.wd);
    j.wi = malloc(m * sizeof *j.wi);
    j.g = calloc((size_t)a->threads, sizeof *j.g);
    int rc = j.s && j.ss && j.t && j.st && j.hd && j.hi && j.wd && j.wi && j.g ? LG_OK
                                                                               : LG_ENOMEM;
    for (int t = 0; !rc && t < a->threads; t++)
        if (!(j.g[t] = malloc((size_t)SLICE * a->trows * sizeof **j.g)))
            rc = LG_ENOMEM;
    if (!rc) {
        for (uint64_t q = 0; q < m; q++) {
            lgk_centre_row(a->rows.x + sample[q] * a->d, a->mu, j.s + q * a->d, a->d);
            j.ss[q] = a->sq[sample[q]];
        }
        for (uint64_t c = 0; c < m * j.kc; c++) {
            j.hd[c] = INFINITY;
            j.hi[c] = LG_NO_ROW;
        }
        for (uint64_t q = 0; q < m; q++) {
            j.wd[q] = INFINITY;
            j.wi[q] = LG_NO_ROW;
        }
        int blas = lgk_blas_threads_begin();
        for (j.t0 = 0; !rc && j.t0 < a->n; j.t0 += a->trows) {
            j.nt = a->n - j.t0 < a->trows ? a->n - j.t0 : a->trows;
            for (uint64_t c = 0; c < j.nt; c++) {
                lgk_centre_row(a->rows.x + (j.t0 + c) * a->d, a->mu, j.t + c * a->d, a->d);
                j.st[c] = a->sq[j.t0 + c];
            }
            rc = lgu_parallel_for(a->threads, (size_t)((m + SLICE - 1) / SLICE), check_item, &j);
            lgk_rowbuf_release(&a->rows, j.t0, j.nt); /* one pass: done with these */
        }
        uint64_t *thin = malloc(m * sizeof *thin), nt = 0;
        if (!thin)
            rc = LG_ENOMEM;
        for (uint64_t q = 0; !rc && q < m; q++)
            if (check_finish_row(&j, q, ei + q * a->k, ed + q * a->k))
                thin[nt++] = q;
        if (!rc && nt)
            rc = scan_thin(a, sample, thin, nt, ei, ed);
        a->chk_thin = (double)nt / (double)m;
        lgk_blas_threads_end(blas);
        free(thin);
    }
    for (int t = 0; j.g && t < a->threads; t++)
        free(j.g[t]);
    free(j.g);
    free(j.s);
    free(j.ss);
    free(j.t);
    free(j.st);
    free(j.hd);
    free(j.hi);
    free(j.wd);
    free(j.wi);
    return rc;
}

/* The sample and its exact lists, computed once for these n rows. */
static int check_sample(lg_knn_approx *a, uint64_t m)
{
    if (a->chk_sample && a->chk_n == a->n && a->chk_m == m)
        return LG_OK;
    free(a->chk_sample);
    free(a->chk_ei);
    free(a->chk_ed);
    a->chk_sample = malloc(m * sizeof *a->chk_sample);
    a->chk_ei = malloc(m * a->k * sizeof *a->chk_ei);
    a->chk_ed = malloc(m * a->k * sizeof *a->chk_ed);
    a->chk_n = a->chk_m = 0;
    if (!a->chk_sample || !a->chk_ei || !a->chk_ed)
        return LG_ENOMEM;
    /* distinct rows from a seeded shuffle of a prefix-free sample */
    uint64_t seed = a->seed ^ 0x5eed, *sample = a->chk_sample;
    for (uint64_t q = 0; q < m; q++) {
        uint64_t r;
        int dup;
        do {
            r = lgk_approx_rnd(&seed) % a->n;
            dup = 0;
            for (uint64_t p = 0; p < q && !dup; p++)
                dup = sample[p] == r;
        } while (dup);
        sample[q] = r;
    }
    int rc = check_exact(a, sample, m, a->chk_ei, a->chk_ed);
    if (!rc) {
        a->chk_n = a->n;
        a->chk_m = m;
    }
    return rc;
}

/* The check's numbers from the sampled rows' approximate lists (m x k). */
static void score(const lg_knn_approx *a, uint64_t m, const uint32_t *ai_all,
                  const double *ad_all, lg_knn_check *out)
{
    const uint32_t *ei = a->chk_ei;
    const double *ed = a->chk_ed;
    double hit = 0, hit2 = 0, la = 0, le = 0;
    for (uint64_t q = 0; q < m; q++) {
        const uint32_t *ai = ai_all + q * a->k;
        double h = 0;
        for (uint32_t x = 0; x < a->k; x++)
            for (uint32_t y = 0; y < a->k; y++)
                if (ai[x] == ei[q * a->k + y]) {
                    h++;
                    break;
                }
        hit += h;
        hit2 += (h / a->k) * (h / a->k);
        const double *ad = ad_all + q * a->k;
        if (ad[0] > 0 && ed[q * a->k] > 0 && a->k >= 2) {
            la += log(ad[1] / ad[0]);
            le += log(ed[q * a->k + 1] / ed[q * a->k]);
        }
    }
    out->rows = m;
    out->recall = hit / ((double)m * a->k);
    /* the rows' recalls vary: the standard error of their mean */
    double var = m > 1 ? (hit2 - m * out->recall * out->recall) / (double)(m - 1) : 0;
    out->recall_se = var > 0 ? sqrt(var / (double)m) : 0;
    /* TwoNN (ML) on the sample from the approximate and from the exact r1, r2 */
    out->twonn_approx = la > 0 ? (double)(m - 1) / la : NAN;
    out->twonn_exact = le > 0 ? (double)(m - 1) / le : NAN;
    out->twonn_rel_err = fabs(out->twonn_approx - out->twonn_exact) / out->twonn_exact;
    /* an overlap at k moves by at most the fraction of neighbours that differ */
    out->overlap_err_bound = 1 - out->recall;
}

/* The sample's approximate lists, from nn (finished) or from the candidates
 * as they are now (nn NULL), then the numbers. */
static int check_lists(lg_knn_approx *a, const lg_knn *nn, uint32_t rows, lg_knn_check *out,
                       lg_error *err)
{
    memset(out, 0, sizeof *out);
    uint64_t m = rows < a->n ? rows : a->n;
    if (!m)
        return lgu_fail(err, LG_EUSAGE, "the self-check needs at least one row");
    if (check_sample(a, m))
        return lgu_fail(err, LG_ENOMEM, "out of memory for the self-check");
    uint32_t *ai = malloc(m * a->k * sizeof *ai);
    double *ad = malloc(m * a->k * sizeof *ad);
    if (!ai || !ad) {
        free(ai);
        free(ad);
        return lgu_fail(err, LG_ENOMEM, "out of memory for the self-check");
    }
    for (uint64_t q = 0; q < m; q++) {
        uint64_t i = a->chk_sample[q];
        if (nn) {
            memcpy(ai + q * a->k, nn->idx + i * nn->k, a->k * sizeof *ai);
            memcpy(ad + q * a->k, nn->dist + i * nn->k, a->k * sizeof *ad);
        } else {
            lgk_approx_finish_row(a, i, ai + q * a->k, ad + q * a->k);
        }
    }
    score(a, m, ai, ad, out);
    free(ai);
    free(ad);
    return LG_OK;
}

int lg_knn_approx_check(lg_knn_approx *a, const lg_knn *nn, uint32_t rows,
                        lg_knn_check *out, lg_error *err)
{
    return check_lists(a, nn, rows, out, err);
}

int lgk_approx_check_now(lg_knn_approx *a, uint32_t rows, lg_knn_check *out, lg_error *err)
{
    return check_lists(a, NULL, rows, out, err);
}
