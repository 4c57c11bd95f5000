/*
 * The passes of the exact search over pairs of row panels (exact.c drives
 * them; incremental.c runs phases 1-3 on blocks as rows arrive).
 *
 * Phases, each a loop over pairs of row panels (one panel when the layer fits
 * the budget):
 *   0. column means, and a check that every value is finite;
 *   1. GEMM tiles: for every pair of row tiles (a, b), b >= a, the centred
 *      squared distances of the tile pair, offered to the candidate heaps of
 *      both tiles' rows (each pair of rows is computed once);
 *   2. re-rank: exact distances (double, on the original rows) of every
 *      candidate; the best k kept, ties by index;
 *   3. rescan: rows whose k-th distance is within the GEMM's rounding of the
 *      worst candidate get an exact scan over all rows.
 * Work items are tile pairs (phase 1) or row blocks (phases 2-3); a work item
 * computes the same thing whichever thread runs it, so results do not depend
 * on the thread count.
 */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "knn/cand.h"
#include "knn/dist.h"
#include "knn/engine.h"
#include "knn/finite.h"
#include "knn/plan.h"
#include "knn/scan.h"
#include "layergeom/knn.h"
#include "util/error.h"
#include "util/parallel.h"

#define U64(x) ((unsigned long long)(x))
#define ROWS_PER_ITEM 64

/* ---- reading panels ---- */

static int load(knn_ctx *c, uint64_t r0, uint64_t n, float *buf, const float **out)
{
    if (c->direct) {
        *out = c->direct + r0 * c->d;
        return LG_OK;
    }
    /* a layer that fits is read once: every pass finds it still in pa */
    if (buf == c->pa && c->pa_rows == n && c->pa_row0 == r0) {
        *out = buf;
        return LG_OK;
    }
    if (buf != c->pa && r0 >= c->pa_row0 && r0 + n <= c->pa_row0 + c->pa_rows) {
        memcpy(buf, c->pa + (r0 - c->pa_row0) * c->d, n * c->d * sizeof *buf);
        *out = buf;
        return LG_OK;
    }
    int rc = c->rows(c->rows_ctx, r0, (size_t)n, buf, c->err);
    if (buf == c->pa) {
        c->pa_row0 = r0;
        c->pa_rows = rc ? 0 : n;
    }
    *out = buf;
    return rc;
}

static uint64_t panel_rows(const knn_ctx *c, size_t p)
{
    uint64_t r0 = p * c->prow;
    return c->n - r0 < c->prow ? c->n - r0 : c->prow;
}


/* Runs fn on every panel pair (I, J), J >= I, with c->xi/xj set. */
int lgk_for_panel_pairs(knn_ctx *c, int (*fn)(knn_ctx *c))
{
    for (size_t pi = 0; pi < c->npanels; pi++) {
        c->i0 = pi * c->prow;
        c->ni = panel_rows(c, pi);
        int rc = load(c, c->i0, c->ni, c->pa, &c->xi);
        if (rc)
            return rc;
        for (size_t pj = pi; pj < c->npanels; pj++) {
            c->j0 = pj * c->prow;
            c->nj = panel_rows(c, pj);
            if (pj == pi)
                c->xj = c->xi;
            else if ((rc = load(c, c->j0, c->nj, c->pb, &c->xj)))
                return rc;
            if ((rc = fn(c)))
                return rc;
        }
    }
    return LG_OK;
}

void lgk_set_scale(knn_ctx *c, float top)
{
    int e = 0;
    if (top > 0 && isfinite(top))
        frexpf(top, &e); /* top = f 2^e, f in [0.5, 1) */
    /* centred values are at most 2 top: keep them below 2^1 */
    c->scale = ldexpf(1.0f, -e);
    c->unscale2 = ldexp(1.0, 2 * e);
}

/* ---- phase 0: means, finiteness ---- */

int lgk_mean_pass(knn_ctx *c)
{
    double *sum = c->mean;
    float top = 0;
    for (size_t p = 0; p < c->npanels; p++) {
        uint64_t r0 = p * c->prow, n = panel_rows(c, p);
        const float *x;
        int rc = load(c, r0, n, c->pa, &x);
        if (rc)
            return rc;
        for (uint64_t i = 0; i < n; i++) {
            const float *row = x + i * c->d;
            uint32_t bad = lgk_bad_column(row, c->d);
            if (bad < c->d) {
                if (!c->exclude_nonfinite)
                    return lgk_nonfinite_error(c->err, r0 + i, row, bad);
                if (!c->excluded && !(c->excluded = calloc(c->n, 1)))
                    return lgu_fail(c->err, LG_ENOMEM, "out of memory");
                if (!c->n_excluded)
                    c->first_excluded = r0 + i;
                c->excluded[r0 + i] = 1;
                c->n_excluded++;
                continue;
            }
            for (uint32_t j = 0; j < c->d; j++) {
                sum[j] += row[j];
                top = fabsf(row[j]) > top ? fabsf(row[j]) : top;
            }
        }
    }
    lgk_set_scale(c, top);
    if (c->n - c->n_excluded < (uint64_t)c->k + 1)
        return lgk_too_few_error(c->err, c->n_excluded, c->n, c->first_excluded, c->k);
    for (uint32_t j = 0; j < c->d; j++) {
        c->mean[j] = sum[j] / (double)(c->n - c->n_excluded);
        c->fmean[j] = (float)c->mean[j];
    }
    return LG_OK;
}

/* ---- phase 1: GEMM tiles ---- */

/* Copies rows, centred, and their squared norms.  Identical rows give
 * identical results, so duplicates stay exactly tied. */
static void centre(const knn_ctx *c, const float *x, uint64_t g0, uint64_t n, float *out,
                   float *sq)
{
    for (uint64_t i = 0; i < n; i++) {
        const float *row = x + i * c->d;
        float *o = out + i * c->d;
        if (c->excluded && c->excluded[g0 + i]) {
            /* a NaN norm makes every distance to it NaN, which no comparison
             * accepts: it is never offered to, or offered, a list */
            memset(o, 0, c->d * sizeof *o);
            sq[i] = NAN;
            continue;
        }
        /* two loops that vectorize: this copy is made for every tile pair */
        for (uint32_t j = 0; j < c->d; j++)
            o[j] = (row[j] - c->fmean[j]) * c->scale;
        sq[i] = (float)lgk_sum_squares(o, c->d);
    }
}

/* Offers every pair of the tile to both rows' heaps.  Once the heaps are
 * full almost no pair gets in, so each run of OFFER_RUN columns is first
 * tested in a loop without branches (vectorized: passes.c is built with
 * -O3) against both thresholds; only runs with a pair under one of them go
 * through the offers, in the same order as a plain loop, so the heaps are
 * the same.  Thresholds only shrink, so the test never drops a pair a heap
 * would take. */
#define OFFER_RUN 16
static void offer_tile(knn_ctx *c, const tls *t, uint64_t ga, uint64_t na, uint64_t gb,
                       uint64_t nb, int diagonal)
{
    const float *sb = t->sb, *wdb = c->wd + gb;
    for (uint64_t ii = 0; ii < na; ii++) {
        uint64_t i = ga + ii;
        const float *g = t->g + ii * nb;
        float si = t->sa[ii];
        for (uint64_t j0 = diagonal ? ii + 1 : 0; j0 < nb; j0 += OFFER_RUN) {
            uint64_t j1 = j0 + OFFER_RUN < nb ? j0 + OFFER_RUN : nb;
            if (j1 - j0 == OFFER_RUN) {
                float wi = c->wd[i];
                int any = 0;
                for (int q = 0; q < OFFER_RUN; q++) {
                    float d2 = si + sb[j0 + q] - 2.0f * g[j0 + q];
                    any |= (d2 <= wi) | (d2 <= wdb[j0 + q]);
                }
                if (!any)
                    continue;
            }
            for (uint64_t jj = j0; jj < j1; jj++) {
                float d2 = si + sb[jj] - 2.0f * g[jj];
                if (d2 < 0)
                    d2 = 0;
                uint64_t j = gb + jj;
                if (d2 <= c->wd[i])
                    lgk_cand_offer(c->hd, c->hi, c->wd, c->wi, c->kc, i, d2, (uint32_t)j);
                if (d2 <= c->wd[j])
                    lgk_cand_offer(c->hd, c->hi, c->wd, c->wi, c->kc, j, d2, (uint32_t)i);
            }
        }
    }
}

static int tile_item(void *arg, int thread, size_t item)
{
    knn_ctx *c = arg;
    if (c->stop && *c->stop)
        return LG_ECANCELED;
    if (c->parts > 1 && (c->pair_base + item) % (uint64_t)c->parts != (uint64_t)c->part)
        return LG_OK; /* another member's pair */
    tls *t = &c->t[thread];
    uint64_t T = c->tile;
    uint64_t ta = (c->ni + T - 1) / T, tb = (c->nj + T - 1) / T, a, b;
    int same = c->i0 == c->j0;
    if (same) {
        /* item -> (a, b) with b >= a, row by row of the upper triangle */
        a = 0;
        while (item >= ta - a) {
            item -= ta - a;
            a++;
        }
        b = a + item;
    } else {
        a = item / tb;
        b = item % tb;
    }
    uint64_t na = c->ni - a * T < T ? c->ni - a * T : T;
    uint64_t nb = c->nj - b * T < T ? c->nj - b * T : T;
    if (t->a_rows != na || t->a_row0 != c->i0 + a * T) {
        centre(c, c->xi + a * T * c->d, c->i0 + a * T, na, t->a, t->sa);
        t->a_row0 = c->i0 + a * T;
        t->a_rows = na;
    }
    const float *bm = t->a;
    if (!same || a != b) {
        centre(c, c->xj + b * T * c->d, c->j0 + b * T, nb, t->b, t->sb);
        bm = t->b;
    } else {
        memcpy(t->sb, t->sa, na * sizeof *t->sb);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)na, (int)nb, (int)c->d, 1.0f,
                t->a, (int)c->d, bm, (int)c->d, 0.0f, t->g, (int)nb);
    uint64_t ga = c->i0 + a * T, gb = c->j0 + b * T;
    /* the rows of both tiles are guarded by the locks of the T-row regions
     * they fall in (tiles need not be aligned to them: incremental blocks),
     * taken in increasing order */
    size_t l[4] = {ga / T, (ga + na - 1) / T, gb / T, (gb + nb - 1) / T}, held[4], nh = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t r = l[2 * pass]; r <= l[2 * pass + 1]; r++) {
            int seen = 0;
            for (size_t h = 0; h < nh; h++)
                seen |= held[h] == r;
            if (!seen && nh < 4)
                held[nh++] = r;
        }
    for (size_t x = 1; x < nh; x++) /* sort the (at most 4) lock indices */
        for (size_t y = x; y > 0 && held[y - 1] > held[y]; y--) {
            size_t swap = held[y];
            held[y] = held[y - 1];
            held[y - 1] = swap;
        }
    for (size_t h = 0; h < nh; h++)
        pthread_mutex_lock(&c->locks[held[h]]);
    if (!c->count_only)
        offer_tile(c, t, ga, na, gb, nb, same && a == b);
    if (c->rank_n)
        lgk_count_tile(c, t, ga, na, gb, nb, same && a == b, c->xi + a * T * c->d,
                       c->xj + b * T * c->d);
    for (size_t h = nh; h > 0; h--)
        pthread_mutex_unlock(&c->locks[held[h - 1]]);
    return LG_OK;
}

int lgk_gemm_pair(knn_ctx *c)
{
    uint64_t T = c->tile, ta = (c->ni + T - 1) / T, tb = (c->nj + T - 1) / T;
    for (int t = 0; t < c->threads; t++)
        c->t[t].a_rows = 0; /* rows are centred afresh in every pass */
    size_t items = c->i0 == c->j0 ? (size_t)(ta * (ta + 1) / 2) : (size_t)(ta * tb);
    int rc = lgu_parallel_for(c->threads, items, tile_item, c);
    c->pair_base += items;
    if (rc == LG_ECANCELED)
        lgu_fail(c->err, rc, "stopped: the caller asked the kNN search to stop");
    return rc;
}

/* ---- phase 2: exact distances of the candidates ---- */

/* Rows of panel I (item = block of rows) whose candidates lie in panel J,
 * and the other way round. */
static int rerank_item(void *arg, int thread, size_t item)
{
    knn_ctx *c = arg;
    (void)thread;
    uint64_t r0 = (uint64_t)item * ROWS_PER_ITEM;
    uint64_t total = c->ni + (c->i0 == c->j0 ? 0 : c->nj);
    uint64_t r1 = r0 + ROWS_PER_ITEM < total ? r0 + ROWS_PER_ITEM : total;
    for (uint64_t r = r0; r < r1; r++) {
        /* the first ni rows are panel I's, the rest panel J's */
        int in_i = r < c->ni;
        uint64_t i = in_i ? c->i0 + r : c->j0 + (r - c->ni);
        const float *xi = in_i ? c->xi + r * c->d : c->xj + (r - c->ni) * c->d;
        uint64_t o0 = in_i ? c->j0 : c->i0, on = in_i ? c->nj : c->ni;
        const float *ox = in_i ? c->xj : c->xi;
        for (uint32_t m = 0; m < c->kc; m++) {
            uint32_t j = c->hi[i * c->kc + m];
            if (j == LG_NO_ROW || j < o0 || j >= o0 + on)
                continue;
            c->ed[i * c->kc + m] = lgk_exact_dist(xi, ox + (j - o0) * c->d, c->d);
        }
    }
    return LG_OK;
}

int lgk_rerank_pair(knn_ctx *c)
{
    uint64_t total = c->ni + (c->i0 == c->j0 ? 0 : c->nj);
    return lgu_parallel_for(c->threads, (size_t)((total + ROWS_PER_ITEM - 1) / ROWS_PER_ITEM),
                           rerank_item, c);
}

int lgk_cmp_pick(const void *a, const void *b)
{
    const pick *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    return x->j < y->j ? -1 : x->j > y->j;
}

/* Sorts row i's candidates into the output and decides whether the GEMM
 * margin is safe.  Needs the row's centred squared norm (from its candidate
 * heap root we only know GEMM values). */
static void finish_row(knn_ctx *c, lg_knn *out, uint64_t i, pick *tmp, double sq_i)
{
    if (c->excluded && c->excluded[i]) {
        for (uint32_t q = 0; q < c->k; q++) {
            out->idx[i * c->k + q] = LG_KNN_NONE;
            out->dist[i * c->k + q] = NAN;
        }
        return;
    }
    uint32_t m = 0, full = 1;
    for (uint32_t q = 0; q < c->kc; q++) {
        uint32_t j = c->hi[i * c->kc + q];
        if (j == LG_NO_ROW) {
            full = 0;
            continue;
        }
        tmp[m].d = c->ed[i * c->kc + q];
        tmp[m].j = j;
        m++;
    }
    qsort(tmp, m, sizeof *tmp, lgk_cmp_pick);
    for (uint32_t q = 0; q < c->k; q++) {
        /* fewer candidates than k only where the search offered fewer rows
         * on purpose (incremental.c's seed rows) */
        out->idx[i * c->k + q] = q < m ? tmp[q].j : LG_KNN_NONE;
        out->dist[i * c->k + q] = q < m ? tmp[q].d : INFINITY;
    }
    if (m < c->k)
        return;
    if (!full || c->kc >= c->n - 1 - c->n_excluded)
        return; /* every other row was a candidate: nothing can be missing */
    /* A row outside the candidates has a GEMM value >= the worst kept one,
     * c->wd[i]; its true squared distance is at least that minus the GEMM's
     * rounding error, bounded by gamma (|x|^2 + |y|^2) <= gamma (3|x|^2 + 2 d^2). */
    double gamma = 4.0 * (c->d + 8) * 0x1p-24;
    double rk = tmp[c->k - 1].d, worst = c->wd[i] * c->unscale2;
    double tol = gamma * (3.0 * sq_i + 2.0 * worst) + 1e-30;
    if (rk * rk + tol >= worst - tol)
        c->unsafe[i] = 1;
}

typedef struct finish_ctx {
    knn_ctx *c;
    lg_knn *out;
    pick **tmp;
} finish_ctx;

static int finish_item(void *arg, int thread, size_t item)
{
    finish_ctx *f = arg;
    knn_ctx *c = f->c;
    uint64_t r0 = (uint64_t)item * ROWS_PER_ITEM;
    uint64_t r1 = r0 + ROWS_PER_ITEM < c->ni ? r0 + ROWS_PER_ITEM : c->ni;
    for (uint64_t r = r0; r < r1; r++) {
        const float *x = c->xi + r * c->d;
        double sq = 0;
        for (uint32_t j = 0; j < c->d; j++) {
            double t = (double)x[j] - c->mean[j];
            sq += t * t;
        }
        finish_row(c, f->out, c->i0 + r, f->tmp[thread], sq);
    }
    return LG_OK;
}

/* ---- phase 3: exact scans of the rows with a thin margin ---- */

/* The rows the GEMM could not decide are scanned against every row, a
 * group at a time (as many as the budget holds), by DGEMM (scan.h). */
int lgk_rescan(knn_ctx *c, lg_knn *out, uint64_t budget)
{
    uint64_t count = 0;
    for (uint64_t i = 0; i < c->n; i++)
        count += c->unsafe[i];
    out->n_rescanned = count;
    if (!count)
        return LG_OK;
    uint64_t fixed = lgk_scan_bytes(0, c->d, c->k, c->threads);
    uint64_t per_row = lgk_scan_bytes(1, c->d, c->k, c->threads) - fixed + (uint64_t)c->d * 4 + 8;
    uint64_t group = budget > fixed ? (budget - fixed) / per_row : 1;
    if (group < 1)
        group = 1;
    if (group > count)
        group = count;
    uint64_t *rows = malloc(group * sizeof *rows);
    float *data = malloc(group * c->d * sizeof *data);
    uint32_t *idx = malloc(group * c->k * sizeof *idx);
    double *dist = malloc(group * c->k * sizeof *dist);
    int rc = LG_OK;
    if (!rows || !data || !idx || !dist)
        rc = lgu_fail(c->err, LG_ENOMEM, "out of memory for the exact rescan");
    uint64_t next = 0;
    while (!rc && next < c->n) {
        size_t g = 0;
        for (; next < c->n && g < group; next++)
            if (c->unsafe[next])
                rows[g++] = next;
        for (size_t q = 0; !rc && q < g; q++) {
            const float *x;
            rc = load(c, rows[q], 1, data + q * c->d, &x);
            if (!rc && x != data + q * c->d)
                memcpy(data + q * c->d, x, c->d * sizeof *data);
        }
        lgk_scan s = {.d = c->d, .k = c->k, .threads = c->threads, .mu = c->mean, .m = g,
                      .qid = rows, .qx = data, .excluded = c->excluded};
        if (!rc && lgk_scan_init(&s))
            rc = lgu_fail(c->err, LG_ENOMEM, "out of memory for the exact rescan");
        for (size_t p = 0; !rc && p < c->npanels; p++) {
            uint64_t p0 = p * c->prow, pn = panel_rows(c, p);
            const float *px;
            rc = load(c, p0, pn, c->pa, &px);
            if (!rc && lgk_scan_panel(&s, p0, pn, px))
                rc = lgu_fail(c->err, LG_ENOMEM, "out of memory for the exact rescan");
        }
        if (!rc) {
            lgk_scan_sort(&s, idx, dist);
            for (size_t q = 0; q < g; q++) {
                memcpy(out->idx + rows[q] * c->k, idx + q * c->k, c->k * sizeof *idx);
                memcpy(out->dist + rows[q] * c->k, dist + q * c->k, c->k * sizeof *dist);
            }
        }
        lgk_scan_free(&s);
    }
    free(rows);
    free(data);
    free(idx);
    free(dist);
    return rc;
}

int lgk_finish_pass(knn_ctx *c, lg_knn *out)
{
    pick **tmp = calloc((size_t)c->threads, sizeof *tmp);
    int rc = tmp ? LG_OK : LG_ENOMEM;
    for (int t = 0; !rc && t < c->threads; t++)
        if (!(tmp[t] = malloc(c->kc * sizeof **tmp)))
            rc = LG_ENOMEM;
    if (rc) {
        lgu_fail(c->err, rc, "out of memory");
    } else {
        finish_ctx f = {c, out, tmp};
        for (size_t p = 0; !rc && p < c->npanels; p++) {
            c->i0 = p * c->prow;
            c->ni = panel_rows(c, p);
            rc = load(c, c->i0, c->ni, c->pa, &c->xi);
            if (!rc)
                rc = lgu_parallel_for(c->threads,
                                     (size_t)((c->ni + ROWS_PER_ITEM - 1) / ROWS_PER_ITEM),
                                     finish_item, &f);
        }
    }
    for (int t = 0; tmp && t < c->threads; t++)
        free(tmp[t]);
    free(tmp);
    return rc;
}
