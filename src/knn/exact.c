/*
 * Exact kNN by blocked GEMM.
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
#include "layergeom/knn.h"
#include "util/error.h"
#include "util/parallel.h"

#define U64(x) ((unsigned long long)(x))
#define ROWS_PER_ITEM 64

uint64_t lg_default_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || size <= 0)
        return 1ull << 30;
    return (uint64_t)pages * (uint64_t)size / 4;
}

int lg_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

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

/* ---- phase 0: means, finiteness ---- */

static int mean_pass(knn_ctx *c)
{
    double *sum = c->mean;
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
            for (uint32_t j = 0; j < c->d; j++)
                sum[j] += row[j];
        }
    }
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
        double s = 0;
        for (uint32_t j = 0; j < c->d; j++) {
            o[j] = row[j] - c->fmean[j];
            s += (double)o[j] * o[j];
        }
        sq[i] = (float)s;
    }
}

static void offer_tile(knn_ctx *c, const tls *t, uint64_t ga, uint64_t na, uint64_t gb,
                       uint64_t nb, int diagonal)
{
    for (uint64_t ii = 0; ii < na; ii++) {
        uint64_t i = ga + ii;
        const float *g = t->g + ii * nb;
        float si = t->sa[ii];
        for (uint64_t jj = diagonal ? ii + 1 : 0; jj < nb; jj++) {
            float d2 = si + t->sb[jj] - 2.0f * g[jj];
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
    centre(c, c->xi + a * T * c->d, c->i0 + a * T, na, t->a, t->sa);
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
    offer_tile(c, t, ga, na, gb, nb, same && a == b);
    for (size_t h = nh; h > 0; h--)
        pthread_mutex_unlock(&c->locks[held[h - 1]]);
    return LG_OK;
}

int lgk_gemm_pair(knn_ctx *c)
{
    uint64_t T = c->tile, ta = (c->ni + T - 1) / T, tb = (c->nj + T - 1) / T;
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

static int cmp_pick(const void *a, const void *b)
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
    qsort(tmp, m, sizeof *tmp, cmp_pick);
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
    double rk = tmp[c->k - 1].d, worst = c->wd[i];
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

typedef struct scan_ctx {
    knn_ctx *c;
    lg_knn *out;
    const uint64_t *rows; /* the group being scanned */
    const float *data;    /* their vectors */
    size_t count;
    double *bd;           /* per group row: best k so far (max-heap by (d, j)) */
    uint32_t *bj;
    uint64_t p0, pn;      /* the panel being scanned against */
    const float *px;
} scan_ctx;

static int scan_after(double da, uint32_t ja, double db, uint32_t jb)
{
    return da > db || (da == db && ja > jb);
}

static int scan_item(void *arg, int thread, size_t item)
{
    scan_ctx *s = arg;
    knn_ctx *c = s->c;
    (void)thread;
    uint64_t i = s->rows[item];
    const float *x = s->data + item * c->d;
    double *d = s->bd + item * c->k;
    uint32_t *jj = s->bj + item * c->k;
    for (uint64_t r = 0; r < s->pn; r++) {
        uint64_t j = s->p0 + r;
        if (j == i || (c->excluded && c->excluded[j]))
            continue;
        double v = lgk_exact_dist(x, s->px + r * c->d, c->d);
        if (!scan_after(d[0], jj[0], v, (uint32_t)j))
            continue;
        uint32_t p = 0;
        for (;;) {
            uint32_t q = 2 * p + 1;
            if (q >= c->k)
                break;
            if (q + 1 < c->k && scan_after(d[q + 1], jj[q + 1], d[q], jj[q]))
                q++;
            if (!scan_after(d[q], jj[q], v, (uint32_t)j))
                break;
            d[p] = d[q];
            jj[p] = jj[q];
            p = q;
        }
        d[p] = v;
        jj[p] = (uint32_t)j;
    }
    return LG_OK;
}

int lgk_rescan(knn_ctx *c, lg_knn *out, uint64_t budget)
{
    uint64_t count = 0;
    for (uint64_t i = 0; i < c->n; i++)
        count += c->unsafe[i];
    out->n_rescanned = count;
    if (!count)
        return LG_OK;
    /* groups of rows whose vectors and heaps fit what is left of the budget */
    uint64_t per_row = (uint64_t)c->d * 4 + (uint64_t)c->k * 12 + 8;
    uint64_t group = budget / per_row;
    if (group < 1)
        group = 1;
    if (group > count)
        group = count;
    uint64_t *rows = malloc(group * sizeof *rows);
    float *data = malloc(group * c->d * sizeof *data);
    double *bd = malloc(group * c->k * sizeof *bd);
    uint32_t *bj = malloc(group * c->k * sizeof *bj);
    pick *tmp = malloc(c->k * sizeof *tmp);
    int rc = LG_OK;
    if (!rows || !data || !bd || !bj || !tmp)
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
        for (size_t q = 0; q < g * c->k; q++) {
            bd[q] = INFINITY;
            bj[q] = LG_NO_ROW;
        }
        scan_ctx s = {c, out, rows, data, g, bd, bj, 0, 0, NULL};
        for (size_t p = 0; !rc && p < c->npanels; p++) {
            s.p0 = p * c->prow;
            s.pn = panel_rows(c, p);
            rc = load(c, s.p0, s.pn, c->pa, &s.px);
            if (!rc)
                rc = lgu_parallel_for(c->threads, g, scan_item, &s);
        }
        for (size_t q = 0; !rc && q < g; q++) {
            for (uint32_t m = 0; m < c->k; m++) {
                tmp[m].d = bd[q * c->k + m];
                tmp[m].j = bj[q * c->k + m];
            }
            qsort(tmp, c->k, sizeof *tmp, cmp_pick);
            for (uint32_t m = 0; m < c->k; m++) {
                out->idx[rows[q] * c->k + m] = tmp[m].j;
                out->dist[rows[q] * c->k + m] = tmp[m].d;
            }
        }
    }
    free(rows);
    free(data);
    free(bd);
    free(bj);
    free(tmp);
    return rc;
}

/* ---- the driver ---- */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

void lg_knn_free(lg_knn *k)
{
    if (!k)
        return;
    free(k->idx);
    free(k->dist);
    k->idx = NULL;
    k->dist = NULL;
}

void lgk_free_ctx(knn_ctx *c)
{
    free(c->mean);
    free(c->fmean);
    free(c->pa);
    free(c->pb);
    free(c->hd);
    free(c->wd);
    free(c->hi);
    free(c->wi);
    free(c->ed);
    free(c->unsafe);
    free(c->excluded);
    if (c->locks) {
        for (uint64_t i = 0; i < (c->n + c->tile - 1) / c->tile; i++)
            pthread_mutex_destroy(&c->locks[i]);
        free(c->locks);
    }
    for (int t = 0; c->t && t < c->threads; t++) {
        free(c->t[t].a);
        free(c->t[t].b);
        free(c->t[t].g);
        free(c->t[t].sa);
        free(c->t[t].sb);
    }
    free(c->t);
}

int lgk_blas_threads_begin(void)
{
    int saved = openblas_get_num_threads();
    openblas_set_num_threads(1);
    return saved;
}

void lgk_blas_threads_end(int saved)
{
    openblas_set_num_threads(saved);
}

uint64_t lgk_row_bytes(const knn_ctx *c)
{
    /* candidates (d2, index, exact distance), the root mirrors, a flag, the lists */
    return (uint64_t)c->kc * (4 + 4 + 8) + 8 + 1 + (uint64_t)c->k * (4 + 8);
}

/* Lists, candidates and per-thread tiles for tiles of T rows. */
static uint64_t fixed_bytes(const knn_ctx *c, uint64_t T)
{
    uint64_t n = c->n, d = c->d;
    return n * lgk_row_bytes(c) + d * 12 + ((n + T - 1) / T) * sizeof(pthread_mutex_t) +
           (uint64_t)c->threads *
               (2 * T * d * 4 + T * T * 4 + 2 * T * 4 + (uint64_t)c->kc * sizeof(pick));
}

/* Plans tile and panel sizes within the budget; returns the bytes left.  A
 * tight budget takes smaller tiles (down to 64 rows) before giving up: the
 * lists are the same for any tile, only the speed changes. */
static int plan(knn_ctx *c, uint64_t budget, uint32_t tile, uint64_t *left, lg_error *err)
{
    uint64_t n = c->n, d = c->d;
    lg_knn_opts to = {.tile = tile};
    c->tile = lgk_tile(&to, n);
    uint64_t whole = c->direct ? 0 : n * d * 4;
    while (!tile && c->tile > 64 && fixed_bytes(c, c->tile) + whole > budget &&
           fixed_bytes(c, c->tile) + 2ull * c->tile * d * 4 > budget)
        c->tile /= 2;
    uint64_t T = c->tile;
    uint64_t fixed = fixed_bytes(c, T);
    if (fixed + whole <= budget) {
        c->prow = n;
        c->npanels = 1;
        *left = budget - fixed - whole;
        return LG_OK;
    }
    if (fixed + 2 * T * d * 4 > budget)
        return lgu_fail(err, LG_ENOMEM,
                       "memory budget of %llu MiB is too small for %llu rows x %llu columns "
                       "with k = %u: the neighbour lists and work buffers alone need %llu MiB",
                       U64(budget >> 20), U64(n), U64(d), c->k,
                       U64((fixed + 2 * T * d * 4 + (1 << 20) - 1) >> 20));
    uint64_t p = (budget - fixed) / (2 * d * 4);
    p = p / T * T;
    c->prow = p;
    c->npanels = (size_t)((n + p - 1) / p);
    *left = budget - fixed - 2 * p * d * 4;
    return LG_OK;
}

int lgk_setup(knn_ctx *c, lg_knn *out, lg_error *err)
{
    uint64_t n = c->n, T = c->tile;
    size_t nt = (size_t)((n + T - 1) / T);
    c->mean = calloc(c->d, sizeof *c->mean);
    c->fmean = calloc(c->d, sizeof *c->fmean);
    c->hd = malloc(n * c->kc * sizeof *c->hd);
    c->hi = malloc(n * c->kc * sizeof *c->hi);
    c->wd = malloc(n * sizeof *c->wd);
    c->wi = malloc(n * sizeof *c->wi);
    c->ed = malloc(n * c->kc * sizeof *c->ed);
    c->unsafe = calloc(n, 1);
    c->locks = calloc(nt, sizeof *c->locks);
    c->t = calloc((size_t)c->threads, sizeof *c->t);
    out->idx = malloc(n * c->k * sizeof *out->idx);
    out->dist = malloc(n * c->k * sizeof *out->dist);
    if (!c->direct) {
        c->pa = malloc(c->prow * c->d * sizeof *c->pa);
        if (c->npanels > 1)
            c->pb = malloc(c->prow * c->d * sizeof *c->pb);
    }
    int ok = c->mean && c->fmean && c->hd && c->hi && c->wd && c->wi && c->ed && c->unsafe &&
             c->locks && c->t && out->idx && out->dist && (c->direct || c->pa) &&
             (c->direct || c->npanels == 1 || c->pb);
    for (int t = 0; ok && t < c->threads; t++) {
        tls *x = &c->t[t];
        x->a = malloc(T * c->d * sizeof *x->a);
        x->b = malloc(T * c->d * sizeof *x->b);
        x->g = malloc(T * T * sizeof *x->g);
        x->sa = malloc(T * sizeof *x->sa);
        x->sb = malloc(T * sizeof *x->sb);
        ok = x->a && x->b && x->g && x->sa && x->sb;
    }
    if (!ok)
        return lgu_fail(err, LG_ENOMEM, "out of memory for the kNN of %llu rows", U64(n));
    for (size_t i = 0; i < nt; i++)
        pthread_mutex_init(&c->locks[i], NULL);
    for (uint64_t i = 0; i < n * c->kc; i++) {
        c->hd[i] = INFINITY;
        c->hi[i] = LG_NO_ROW;
    }
    for (uint64_t i = 0; i < n; i++) {
        c->wd[i] = INFINITY;
        c->wi[i] = LG_NO_ROW;
    }
    return LG_OK;
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

int lg_knn_exact(uint64_t n, uint32_t d, lg_rows_fn rows, void *ctx, const lg_knn_opts *o,
                 lg_knn *out, lg_error *err)
{
    memset(out, 0, sizeof *out);
    double t0 = now();
    if (!o || o->k == 0 || o->k > LG_KNN_MAX_K)
        return lgu_fail(err, LG_EUSAGE, "k must be 1..%d", LG_KNN_MAX_K);
    if (n < (uint64_t)o->k + 1)
        return lgu_fail(err, LG_EINPUT,
                       "%llu rows are too few for k = %u neighbours (need at least k + 1 rows)",
                       U64(n), o->k);
    if (n >= LG_NO_ROW)
        return lgu_fail(err, LG_EUSAGE, "at most %u rows", LG_NO_ROW - 1);
    if (d == 0)
        return lgu_fail(err, LG_EINPUT, "rows have no columns");
    knn_ctx c = {0};
    c.n = n;
    c.d = d;
    c.k = o->k;
    c.kc = lgk_candidates(o->k, n);
    c.exclude_nonfinite = o->exclude_nonfinite;
    c.stop = o->stop;
    c.threads = lgk_threads(o);
    c.rows = rows;
    c.rows_ctx = ctx;
    c.direct = rows ? NULL : (const float *)ctx;
    c.err = err;
    const lg_team *team = o->team && o->team->size > 1 ? o->team : NULL;
    if (team) {
        c.part = team->rank;
        c.parts = team->size;
    }
    uint64_t left = 0;
    int rc = plan(&c, lgk_budget(o), o->tile, &left, err);
    if (rc)
        return rc;
    rc = lgk_setup(&c, out, err);
    int blas_threads = lgk_blas_threads_begin();
    if (!rc)
        rc = mean_pass(&c);
    if (!rc)
        rc = lgk_for_panel_pairs(&c, lgk_gemm_pair);
    if (!rc)
        rc = lgk_for_panel_pairs(&c, lgk_rerank_pair);
    if (!rc && team)
        rc = lgk_team_merge(&c, team);
    if (!rc && team && team->rank != 0) { /* member 0 finishes the lists */
        lgk_blas_threads_end(blas_threads);
        lg_knn_free(out);
        lgk_free_ctx(&c);
        return LG_OK;
    }
    if (!rc)
        rc = lgk_finish_pass(&c, out);
    if (!rc)
        rc = lgk_rescan(&c, out, left);
    lgk_blas_threads_end(blas_threads);
    if (!rc) {
        out->n = n;
        out->k = o->k;
        out->panels = c.npanels;
        out->n_excluded = c.n_excluded;
        out->first_excluded = c.first_excluded;
        for (uint64_t i = 0; i < n; i++)
            out->n_zero += out->dist[i * o->k] == 0;
        out->seconds = now() - t0;
    } else {
        lg_knn_free(out);
    }
    lgk_free_ctx(&c);
    return rc;
}

int lg_knn_exact_matrix(const float *x, uint64_t n, uint32_t d, const lg_knn_opts *o,
                        lg_knn *out, lg_error *err)
{
    return lg_knn_exact(n, d, NULL, (void *)(uintptr_t)x, o, out, err);
}

typedef struct layer_rows {
    lg_cursor *cur;
} layer_rows;

static int read_layer(void *ctx, uint64_t row0, size_t n, float *out, lg_error *err)
{
    layer_rows *l = ctx;
    return lg_cursor_read(l->cur, row0, n, out, err);
}

int lg_knn_exact_layer(lg_store *s, size_t layer, const lg_knn_opts *o, lg_knn *out,
                       lg_error *err)
{
    lg_layer_info L;
    if (lg_store_layer(s, layer, &L))
        return lgu_fail(err, LG_ENOTFOUND, "%s: no layer %zu", lg_store_path(s), layer);
    layer_rows l;
    int rc = lg_cursor_open(s, layer, 1, &l.cur, err);
    if (rc)
        return rc;
    /* a layer beyond the budget is read in panels, pass after pass: what a
     * pass has read is let go of, not kept mapped */
    if (L.n * L.d * 4 > (o->memory ? o->memory : lg_default_memory()))
        lg_cursor_let_go(l.cur, 1);
    rc = lg_knn_exact(L.n, L.d, read_layer, &l, o, out, err);
    lg_cursor_close(l.cur);
    if (rc)
        lgu_fail_prefix(err, "%s: layer %u (%s)", lg_store_path(s), L.id, L.name);
    return rc;
}

void lg_knn_exact_estimate_memory(uint64_t n, uint32_t d, const lg_knn_opts *o, uint64_t *least,
                                  uint64_t *whole)
{
    knn_ctx c = {0};
    c.n = n;
    c.d = d;
    c.k = o->k;
    c.kc = lgk_candidates(o->k, n);
    c.threads = lgk_threads(o);
    /* a tight budget halves the tile down to 64 rows or fewer (plan), and
     * reads two panels of a tile each */
    uint64_t T = lgk_tile(o, n), small = T;
    while (!o->tile && small > 64)
        small /= 2;
    *least = fixed_bytes(&c, small) + 2 * small * d * 4;
    *whole = fixed_bytes(&c, T) + n * d * 4;
}
