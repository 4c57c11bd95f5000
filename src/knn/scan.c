/* Exact lists of a few rows by a DGEMM scan over all rows (scan.h). */
#include "knn/scan.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "knn/cand.h"
#include "knn/dist.h"
#include "knn/engine.h"
#include "layergeom/knn.h"
#include "util/parallel.h"

#define BLOCK 256 /* panel rows per DGEMM */

/* Query rows per work item: enough for an efficient DGEMM, few enough that
 * every thread gets some. */
static uint64_t slice_rows(const lgk_scan *s)
{
    uint64_t per = (s->m + (uint64_t)s->threads - 1) / (uint64_t)s->threads;
    return per < 32 ? 32 : per > 512 ? 512 : per;
}

uint64_t lgk_scan_bytes(uint64_t m, uint32_t d, uint32_t k, int threads)
{
    uint64_t per_thread = ((uint64_t)BLOCK * d + BLOCK + 512ull * BLOCK) * 8;
    return m * ((uint64_t)d * 8 + 8 + (uint64_t)k * 12) + (uint64_t)threads * per_thread;
}

int lgk_scan_init(lgk_scan *s)
{
    uint64_t m = s->m ? s->m : 1;
    s->bd = malloc(m * s->k * sizeof *s->bd);
    s->bj = malloc(m * s->k * sizeof *s->bj);
    s->qc = malloc(m * s->d * sizeof *s->qc);
    s->qn = malloc(m * sizeof *s->qn);
    if (!s->bd || !s->bj || !s->qc || !s->qn) {
        lgk_scan_free(s);
        return LG_ENOMEM;
    }
    for (uint64_t q = 0; q < s->m * s->k; q++) {
        s->bd[q] = INFINITY;
        s->bj[q] = LG_NO_ROW;
    }
    for (uint64_t q = 0; q < s->m; q++) {
        double n = 0;
        for (uint32_t j = 0; j < s->d; j++) {
            double v = (double)s->qx[q * s->d + j] - s->mu[j];
            s->qc[q * s->d + j] = v;
            n += v * v;
        }
        s->qn[q] = n;
    }
    return LG_OK;
}

void lgk_scan_free(lgk_scan *s)
{
    free(s->bd);
    free(s->bj);
    free(s->qc);
    free(s->qn);
    s->bd = s->qc = s->qn = NULL;
    s->bj = NULL;
}

static int after(double da, uint32_t ja, double db, uint32_t jb)
{
    return da > db || (da == db && ja > jb);
}

/* (v, j) into query q's max-heap of k, if it comes before its root. */
static void offer(lgk_scan *s, uint64_t q, double v, uint32_t j)
{
    double *d = s->bd + q * s->k;
    uint32_t *jj = s->bj + q * s->k;
    if (!after(d[0], jj[0], v, j))
        return;
    uint32_t p = 0;
    for (;;) {
        uint32_t c = 2 * p + 1;
        if (c >= s->k)
            break;
        if (c + 1 < s->k && after(d[c + 1], jj[c + 1], d[c], jj[c]))
            c++;
        if (!after(d[c], jj[c], v, j))
            break;
        d[p] = d[c];
        jj[p] = jj[c];
        p = c;
    }
    d[p] = v;
    jj[p] = j;
}

typedef struct scan_job {
    lgk_scan *s;
    double **buf; /* per thread: a block centred, its norms, the products */
} scan_job;

static int slice_item(void *arg, int t, size_t item)
{
    scan_job *job = arg;
    lgk_scan *s = job->s;
    uint32_t d = s->d;
    uint64_t S = slice_rows(s), q0 = (uint64_t)item * S, nq = s->m - q0 < S ? s->m - q0 : S;
    double *yc = job->buf[t], *yn = yc + (uint64_t)BLOCK * d, *g = yn + BLOCK;
    /* DGEMM's rounding on centred rows: within 8 (d + 8) 2^-53 of the
     * squared norms (the centring's own rounding included), far inside */
    double gamma = 8.0 * (d + 8) * 0x1p-53;
    for (uint64_t b0 = 0; b0 < s->pn; b0 += BLOCK) {
        uint64_t nb = s->pn - b0 < BLOCK ? s->pn - b0 : BLOCK;
        for (uint64_t r = 0; r < nb; r++) {
            const float *y = s->px + (b0 + r) * d;
            double n = 0;
            for (uint32_t j = 0; j < d; j++) {
                double v = (double)y[j] - s->mu[j];
                yc[r * d + j] = v;
                n += v * v;
            }
            yn[r] = n;
        }
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)nb, (int)d, 1.0,
                    s->qc + q0 * d, (int)d, yc, (int)d, 0.0, g, (int)nb);
        for (uint64_t q = q0; q < q0 + nq; q++) {
            const double *gq = g + (q - q0) * nb;
            for (uint64_t r = 0; r < nb; r++) {
                uint64_t j = s->p0 + b0 + r;
                double worst = s->bd[q * s->k];
                double d2 = s->qn[q] + yn[r] - 2 * gq[r];
                if (d2 - gamma * (s->qn[q] + yn[r]) > worst * worst)
                    continue; /* its exact distance is beyond the list's worst */
                if (j == s->qid[q] || (s->excluded && s->excluded[j]))
                    continue;
                offer(s, q, lgk_exact_dist(s->qx + q * d, s->px + (b0 + r) * d, d), (uint32_t)j);
            }
        }
    }
    return LG_OK;
}

int lgk_scan_panel(lgk_scan *s, uint64_t p0, uint64_t pn, const float *px)
{
    s->p0 = p0;
    s->pn = pn;
    s->px = px;
    scan_job job = {s, calloc((size_t)s->threads, sizeof(double *))};
    int rc = job.buf ? LG_OK : LG_ENOMEM;
    uint64_t S = slice_rows(s);
    for (int t = 0; !rc && t < s->threads; t++)
        if (!(job.buf[t] = malloc(((uint64_t)BLOCK * s->d + BLOCK + S * BLOCK) * sizeof(double))))
            rc = LG_ENOMEM;
    if (!rc)
        rc = lgu_parallel_for(s->threads, (size_t)((s->m + S - 1) / S), slice_item, &job);
    for (int t = 0; job.buf && t < s->threads; t++)
        free(job.buf[t]);
    free(job.buf);
    return rc;
}

void lgk_scan_sort(lgk_scan *s, uint32_t *idx, double *dist)
{
    pick tmp[LG_KNN_MAX_K];
    for (uint64_t q = 0; q < s->m; q++) {
        for (uint32_t c = 0; c < s->k; c++) {
            tmp[c].d = s->bd[q * s->k + c];
            tmp[c].j = s->bj[q * s->k + c];
        }
        qsort(tmp, s->k, sizeof *tmp, lgk_cmp_pick);
        for (uint32_t c = 0; c < s->k; c++) {
            idx[q * s->k + c] = tmp[c].j;
            dist[q * s->k + c] = tmp[c].d;
        }
    }
}
