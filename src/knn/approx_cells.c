/* The approximate search's cells: k-means centroids trained with GEMM on the
 * first rows, and every row's nearest cells (its probes). */
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
#include "util/error.h"
#include "util/parallel.h"

#define U64(x) ((unsigned long long)(x))
#include "knn/approx_int.h"

uint64_t lgk_approx_rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- training and assignment ---- */

typedef struct probe_job {
    const lg_knn_approx *a;
    const float *x;
    uint64_t n;
    uint32_t p;
    uint32_t *out;
    float **g; /* per thread: B x C products, then B centred rows */
} probe_job;


static int probe_item(void *arg, int t, size_t item)
{
    probe_job *j = arg;
    const lg_knn_approx *a = j->a;
    uint64_t B = lgk_probe_rows(a->d), r0 = (uint64_t)item * B;
    uint64_t m = j->n - r0 < B ? j->n - r0 : B;
    float *g = j->g[t], *xc = g + B * a->C, best[LG_KNN_MAX_K];
    /* centred first: with a large common offset (1e4 on every coordinate)
     * |x|^2 - 2 x.c would cancel away every digit that tells cells apart */
    for (uint64_t i = 0; i < m; i++)
        lgk_centre_row(j->x + (r0 + i) * a->d, a->mu, xc + i * a->d, a->d);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)a->C, (int)a->d, 1.0f,
                xc, (int)a->d, a->cent, (int)a->d, 0.0f, g, (int)a->C);
    for (uint64_t i = 0; i < m; i++) {
        uint32_t *o = j->out + (r0 + i) * j->p, have = 0;
        for (uint32_t c = 0; c < a->C; c++) {
            float v = a->cnorm[c] - 2 * g[i * a->C + c];
            if (have == j->p && !(v < best[have - 1]))
                continue; /* ties go to the smaller index: the one already in */
            uint32_t q = have < j->p ? have++ : have - 1;
            while (q > 0 && v < best[q - 1]) {
                best[q] = best[q - 1];
                o[q] = o[q - 1];
                q--;
            }
            best[q] = v;
            o[q] = c;
        }
    }
    return LG_OK;
}

/* The p nearest centroids of each of n rows (as given, not centred),
 * nearest first (ties by index): GEMM of the centred rows against all
 * centroids, which live in centred coordinates. */
int lgk_approx_probes(const lg_knn_approx *a, const float *x, uint64_t n, uint32_t p,
                      uint32_t *out)
{
    probe_job j = {a, x, n, p, out, calloc((size_t)a->threads, sizeof(float *))};
    int rc = j.g ? LG_OK : LG_ENOMEM;
    for (int t = 0; !rc && t < a->threads; t++)
        if (!(j.g[t] = malloc((size_t)lgk_probe_rows(a->d) * (a->C + a->d) * sizeof(float))))
            rc = LG_ENOMEM;
    if (!rc)
        rc = lgu_parallel_for(a->threads, (size_t)((n + lgk_probe_rows(a->d) - 1) /
                                                   lgk_probe_rows(a->d)), probe_item,
                             &j);
    for (int t = 0; j.g && t < a->threads; t++)
        free(j.g[t]);
    free(j.g);
    return rc;
}

static void centroid_norms(lg_knn_approx *a)
{
    for (uint32_t c = 0; c < a->C; c++) {
        double s = 0;
        for (uint32_t j = 0; j < a->d; j++)
            s += (double)a->cent[(size_t)c * a->d + j] * a->cent[(size_t)c * a->d + j];
        a->cnorm[c] = (float)s;
    }
}

/* k-means on the first rows of the first block: four Lloyd iterations (eight
 * gave the same recall at 200 000 x 768 and 0.004 more at 50 000 x 256, for
 * twice the time; the target-recall mode makes up for rough cells), in
 * coordinates centred on mu (set before). */
int lgk_approx_train(lg_knn_approx *a, const float *x, uint64_t n, lg_error *err)
{
    uint64_t seed = a->seed;
    /* 24 rows a cell: the cells need only be roughly right, since rows probe
     * several; more would make training cost more than the search */
    uint64_t m = n < lgk_train_rows(a->C) ? n : lgk_train_rows(a->C);
    /* the sample is the first block's first rows: the same, whether rows come
     * in one block or many, as long as the first holds them */
    const float *s = x;
    uint32_t *as = malloc(m * sizeof *as);
    double *sum = malloc((size_t)a->C * a->d * sizeof *sum);
    uint64_t *cnt = malloc(a->C * sizeof *cnt);
    if (!as || !sum || !cnt) {
        free(as);
        free(sum);
        free(cnt);
        return lgu_fail(err, LG_ENOMEM, "out of memory for k-means");
    }
    for (uint32_t c = 0; c < a->C; c++)
        lgk_centre_row(s + (lgk_approx_rnd(&seed) % m) * a->d, a->mu, a->cent + (size_t)c * a->d,
                       a->d);
    int rc = LG_OK;
    for (int it = 0; !rc && it < 4; it++) {
        centroid_norms(a);
        if ((rc = lgk_approx_probes(a, s, m, 1, as)))
            break;
        memset(sum, 0, (size_t)a->C * a->d * sizeof *sum);
        memset(cnt, 0, a->C * sizeof *cnt);
        for (uint64_t i = 0; i < m; i++) {
            cnt[as[i]]++;
            for (uint32_t j = 0; j < a->d; j++)
                sum[(size_t)as[i] * a->d + j] += (double)s[i * a->d + j] - a->mu[j];
        }
        for (uint32_t c = 0; c < a->C; c++) {
            if (!cnt[c]) { /* an empty cell takes a random sample row */
                lgk_centre_row(s + (lgk_approx_rnd(&seed) % m) * a->d, a->mu,
                               a->cent + (size_t)c * a->d, a->d);
                continue;
            }
            for (uint32_t j = 0; j < a->d; j++)
                a->cent[(size_t)c * a->d + j] = (float)(sum[(size_t)c * a->d + j] / cnt[c]);
        }
    }
    centroid_norms(a);
    free(as);
    free(sum);
    free(cnt);
    return rc ? lgu_fail(err, rc, "out of memory for k-means") : LG_OK;
}
