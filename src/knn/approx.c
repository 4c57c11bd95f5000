/*
 * Approximate kNN for large N: an inverted-file partition searched exactly.
 *
 * k-means centroids (trained with GEMM on the first rows) cut the space into
 * cells; every row belongs to its nearest centroid's cell and *probes* its
 * nprobe nearest cells.  The pair of rows (i, j) is searched when j's cell is
 * among i's probes or i's cell among j's: exactly, with GEMM (the probing
 * rows of a cell against the cell's rows), and the distance updates both
 * rows' candidate lists.  A pair that both sides probe is offered once, by
 * the side with the smaller row index, so the candidate lists do not depend
 * on the order of work.  The candidates' distances are then recomputed
 * exactly and sorted: what can be wrong is only a neighbour in a cell that
 * neither row probed.
 *
 * Rows may arrive in blocks: a new block is assigned to cells and its rows
 * probe the rows of their cells, old and new, while old rows probe the new
 * rows of their cells; the cost of a block grows with the block and the
 * cells it touches, not with N^2, and the lists equal those of one block.
 * A self-check compares a random sample of rows with exact search.
 */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
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

/* ---- searching cells ---- */


static uint32_t cell_of(const lg_knn_approx *a, uint64_t i)
{
    return a->probe[i * a->nprobe];
}

/* Where cell c is among row i's probes (0: its own cell), nprobe if not. */
static uint32_t probe_rank(const lg_knn_approx *a, uint64_t i, uint32_t c)
{
    const uint32_t *p = a->probe + i * a->nprobe;
    uint32_t q = 0;
    while (q < a->nprobe && p[q] != c)
        q++;
    return q;
}

static float threshold(const lg_knn_approx *a, uint64_t i)
{
    uint32_t b = __atomic_load_n(&a->thr[i], __ATOMIC_RELAXED);
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static void offer_one(lg_knn_approx *a, uint32_t i, float d2, uint32_t j)
{
    pthread_mutex_t *l = &a->locks[i % STRIPES];
    pthread_mutex_lock(l);
    lgk_cand_offer(a->hd, a->hi, a->wd, a->wi, a->kc, i, d2, j);
    uint32_t b;
    memcpy(&b, &a->wd[i], sizeof b);
    __atomic_store_n(&a->thr[i], b, __ATOMIC_RELAXED);
    pthread_mutex_unlock(l);
}

/* Rows of ids, centred, into out (n x d). */
static void gather(const lg_knn_approx *a, const uint32_t *ids, uint64_t n, float *out,
                   float *sq)
{
    for (uint64_t r = 0; r < n; r++) {
        lgk_centre_row(a->rows.x + (uint64_t)ids[r] * a->d, a->mu, out + r * a->d, a->d);
        sq[r] = a->sq[ids[r]];
    }
}

/* Every distance between probing rows q (which probe cell e) and rows t of
 * e; each pair is offered to both rows once: when both rows probe the
 * other's cell, by the evaluation whose probing row has the smaller index.
 * A widening round (p_lo > 0) searches only the probe ranks p_lo.. : a pair
 * whose other side probes at a rank below p_lo was offered before. */
static void offer_block(lg_knn_approx *a, const uint32_t *q, uint64_t nq, const float *sq,
                        const uint32_t *t, uint64_t nt, const float *st, const float *g)
{
    for (uint64_t r = 0; r < nq; r++) {
        uint32_t i = q[r];
        uint32_t ci = cell_of(a, i);
        for (uint64_t c = 0; c < nt; c++) {
            uint32_t j = t[c];
            float d2 = sq[r] + st[c] - 2 * g[r * nt + c];
            if (d2 < 0)
                d2 = 0;
            /* a side whose list already holds kc nearer rows would refuse
             * the pair: thresholds only fall, so this refusal is final */
            int to_i = d2 <= threshold(a, i), to_j = d2 <= threshold(a, j);
            if (j == i || (!to_i && !to_j))
                continue;
            uint32_t rj = probe_rank(a, j, ci);
            if (rj < a->p_lo || (j < i && rj < a->nprobe))
                continue; /* offered by an earlier round, or by j's own evaluation */
            if (to_i)
                offer_one(a, i, d2, j);
            if (to_j)
                offer_one(a, j, d2, i);
        }
    }
}

typedef struct search {
    lg_knn_approx *a;
    uint64_t *qs;     /* C + 1: each cell's probing rows in q[qs[e] .. qs[e + 1]) */
    uint64_t *qnew;   /* per cell: how many of them are new rows (they come first) */
    uint32_t *q;
    uint32_t *order;  /* cells, most work first */
    float **buf;      /* per thread: probing rows, cell rows, products, norms */
    int failed;
} search;

/* One cell: its new probing rows against all its rows, its old probing rows
 * against its new rows. */
static int cell_item(void *arg, int t, size_t item)
{
    search *s = arg;
    lg_knn_approx *a = s->a;
    uint32_t e = s->order[item];
    cell *E = &a->cells[e];
    float *qb = s->buf[t * 4], *tb = s->buf[t * 4 + 1], *g = s->buf[t * 4 + 2];
    float *sq = s->buf[t * 4 + 3], *st = sq + a->qrows;
    for (int part = 0; part < 2; part++) {
        const uint32_t *q = s->q + s->qs[e] + (part ? s->qnew[e] : 0);
        uint64_t nq = part ? s->qs[e + 1] - s->qs[e] - s->qnew[e] : s->qnew[e];
        const uint32_t *tr = E->rows + (part ? E->n_old : 0);
        uint64_t ntr = E->n - (part ? E->n_old : 0);
        for (uint64_t t0 = 0; nq && t0 < ntr; t0 += a->trows) {
            uint64_t nt = ntr - t0 < a->trows ? ntr - t0 : a->trows;
            gather(a, tr + t0, nt, tb, st);
            for (uint64_t q0 = 0; q0 < nq; q0 += a->qrows) {
                uint64_t m = nq - q0 < a->qrows ? nq - q0 : a->qrows;
                gather(a, q + q0, m, qb, sq);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)nt, (int)a->d,
                            1.0f, qb, (int)a->d, tb, (int)a->d, 0.0f, g, (int)nt);
                offer_block(a, q + q0, m, sq, tr + t0, nt, st, g);
                __atomic_add_fetch(&a->blocks_done, 1, __ATOMIC_RELAXED);
                __atomic_add_fetch(&a->pairs_done, m * nt, __ATOMIC_RELAXED);
            }
        }
    }
    return LG_OK;
}

typedef struct work {
    uint64_t w;
    uint32_t e;
} work;

static int by_work(const void *x, const void *y)
{
    const work *p = x, *q = y;
    if (p->w != q->w)
        return p->w < q->w ? 1 : -1;
    return p->e < q->e ? -1 : p->e > q->e;
}

/* Cells with the most work first, so the last ones to finish are small. */
static int order_cells(const lg_knn_approx *a, search *s)
{
    work *w = malloc(a->C * sizeof *w);
    if (!w)
        return LG_ENOMEM;
    for (uint32_t e = 0; e < a->C; e++) {
        const cell *E = &a->cells[e];
        uint64_t old_q = s->qs[e + 1] - s->qs[e] - s->qnew[e];
        w[e].w = s->qnew[e] * E->n + old_q * (E->n - E->n_old);
        w[e].e = e;
    }
    qsort(w, a->C, sizeof *w, by_work);
    for (uint32_t e = 0; e < a->C; e++)
        s->order[e] = w[e].e;
    free(w);
    return LG_OK;
}

/* Groups the probing rows by cell: rows from n0 on (new) probe every row of
 * their cells; older rows probe the cells that gained rows.  In a widening
 * round (n0 = 0), every row probes the cells at its ranks p_lo.. only. */
static int plan_search(lg_knn_approx *a, uint64_t n0, search *s)
{
    uint32_t C = a->C, P = a->nprobe, P0 = a->p_lo;
    s->qs = calloc((size_t)C + 1, sizeof *s->qs);
    s->qnew = calloc(C, sizeof *s->qnew);
    s->order = malloc(C * sizeof *s->order);
    uint64_t *fill = calloc(C, sizeof *fill);
    if (!s->qs || !s->qnew || !s->order || !fill) {
        free(fill);
        return LG_ENOMEM;
    }
    for (uint64_t i = n0; i < a->n; i++)
        for (uint32_t p = P0; p < P; p++)
            s->qnew[a->probe[i * P + p]]++;
    for (uint32_t e = 0; e < C; e++)
        s->qs[e + 1] = s->qnew[e];
    for (uint64_t i = 0; i < n0; i++)
        for (uint32_t p = 0; p < P; p++) {
            uint32_t e = a->probe[i * P + p];
            s->qs[e + 1] += a->cells[e].n > a->cells[e].n_old;
        }
    for (uint32_t e = 0; e < C; e++)
        s->qs[e + 1] += s->qs[e];
    s->q = malloc((s->qs[C] ? s->qs[C] : 1) * sizeof *s->q);
    if (!s->q) {
        free(fill);
        return LG_ENOMEM;
    }
    for (uint64_t i = n0; i < a->n; i++) /* new rows first in each cell's range */
        for (uint32_t p = P0; p < P; p++) {
            uint32_t e = a->probe[i * P + p];
            s->q[s->qs[e] + fill[e]++] = (uint32_t)i;
        }
    for (uint64_t i = 0; i < n0; i++)
        for (uint32_t p = 0; p < P; p++) {
            uint32_t e = a->probe[i * P + p];
            if (a->cells[e].n > a->cells[e].n_old)
                s->q[s->qs[e] + fill[e]++] = (uint32_t)i;
        }
    free(fill);
    return order_cells(a, s);
}

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int run_search(lg_knn_approx *a, uint64_t n0)
{
    double t0 = seconds();
    search s = {.a = a};
    int rc = plan_search(a, n0, &s);
    s.buf = rc ? NULL : calloc((size_t)a->threads * 4, sizeof *s.buf);
    if (!rc && !s.buf)
        rc = LG_ENOMEM;
    for (int t = 0; !rc && t < a->threads; t++) {
        s.buf[t * 4] = malloc((size_t)a->qrows * a->d * sizeof(float));
        s.buf[t * 4 + 1] = malloc((size_t)a->trows * a->d * sizeof(float));
        s.buf[t * 4 + 2] = malloc((size_t)a->qrows * a->trows * sizeof(float));
        s.buf[t * 4 + 3] = malloc((size_t)(a->qrows + a->trows) * sizeof(float));
        for (int b = 0; b < 4; b++)
            if (!s.buf[t * 4 + b])
                rc = LG_ENOMEM;
    }
    if (!rc)
        rc = lgu_parallel_for(a->threads, a->C, cell_item, &s);
    for (int t = 0; s.buf && t < a->threads * 4; t++)
        free(s.buf[t]);
    free(s.buf);
    free(s.qs);
    free(s.qnew);
    free(s.q);
    free(s.order);
    a->search_seconds += seconds() - t0;
    return rc;
}

/* GEMM blocks of about 2 MiB of probing rows: wide rows, fewer of them. */
static void set_blocks(lg_knn_approx *a)
{
    uint64_t q = (2u << 20) / ((uint64_t)a->d * 4);
    a->qrows = q < 64 ? 64 : q > 512 ? 512 : (uint32_t)q;
    a->trows = 2 * a->qrows;
}

/* ---- the public calls ---- */

int lg_knn_approx_open(uint32_t d, const lg_knn_opts *o, lg_knn_approx **out, lg_error *err)
{
    *out = NULL;
    if (!o || o->k == 0 || o->k > LG_KNN_MAX_K)
        return lgu_fail(err, LG_EUSAGE, "k must be 1..%d", LG_KNN_MAX_K);
    if (d == 0)
        return lgu_fail(err, LG_EINPUT, "rows have no columns");
    int room = lgk_blas_room(lgk_threads(o), err);
    if (room)
        return room;
    if (o->nprobe > LG_KNN_MAX_K)
        return lgu_fail(err, LG_EUSAGE, "nprobe must be at most %d", LG_KNN_MAX_K);
    lg_knn_approx *a = calloc(1, sizeof *a);
    if (!a)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    a->d = d;
    a->k = o->k;
    a->kc = lgk_candidates(o->k, 0);
    a->threads = lgk_threads(o);
    a->budget = lgk_budget(o);
    a->C = o->cells;
    a->nprobe = o->nprobe;
    a->seed = o->seed ? o->seed : 1;
    set_blocks(a);
    lgk_rowbuf_init(&a->rows, d);
    if (o->scratch_dir && !(a->scratch_dir = strdup(o->scratch_dir))) {
        free(a);
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    }
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&a->locks[i], NULL);
    *out = a;
    return LG_OK;
}

void lg_knn_approx_close(lg_knn_approx *a)
{
    if (!a)
        return;
    for (uint32_t c = 0; a->cells && c < a->C; c++)
        free(a->cells[c].rows);
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&a->locks[i]);
    free(a->cells);
    lgk_rowbuf_free(&a->rows);
    free(a->scratch_dir);
    free(a->sq);
    free(a->mu);
    free(a->cent);
    free(a->cnorm);
    free(a->probe);
    free(a->hd);
    free(a->hi);
    free(a->wd);
    free(a->wi);
    free(a->thr);
    free(a->chk_sample);
    free(a->chk_ei);
    free(a->chk_ed);
    free(a);
}

uint64_t lg_knn_approx_rows(const lg_knn_approx *a)
{
    return a->n;
}

/* The cells for a first block of n rows: about 2 sqrt(N) cells of
 * sqrt(N) / 2 rows, unless the caller chose. */
static uint32_t planned_cells(const lg_knn_approx *a, uint64_t n)
{
    lg_knn_opts o = {.cells = a->C};
    uint32_t c = lgk_cells(&o, n);
    return c > n ? (uint32_t)(n ? n : 1) : c;
}

/* Cells each row probes: at least 12 (a row near a cell's border needs the
 * cells beyond it; measured on manifold and cluster data: recall 0.99 at
 * N = 50 000), and enough that a row meets about 8k others. */
static uint32_t planned_nprobe(const lg_knn_approx *a, uint32_t cells, uint64_t n)
{
    uint32_t p = a->nprobe;
    if (!p) {
        double need = ceil(8.0 * a->k * cells / (double)(n ? n : 1));
        p = need < 12 ? 12 : need > LG_KNN_MAX_K ? LG_KNN_MAX_K : (uint32_t)need;
    }
    return p > cells ? cells : p;
}

/* Cells and probes from the first block's size, unless the caller chose. */
static int setup_cells(lg_knn_approx *a, uint64_t n, lg_error *err)
{
    a->C = planned_cells(a, n);
    a->nprobe = planned_nprobe(a, a->C, n);
    a->cent = malloc((size_t)a->C * a->d * sizeof *a->cent);
    a->cnorm = malloc(a->C * sizeof *a->cnorm);
    a->cells = calloc(a->C, sizeof *a->cells);
    if (!a->cent || !a->cnorm || !a->cells)
        return lgu_fail(err, LG_ENOMEM, "out of memory for %u cells", a->C);
    return LG_OK;
}

/* Bytes per row the search keeps besides the row itself: its norm, probes
 * (and their place in a cell's probing list), candidates, the final list. */
static uint64_t row_bytes(const lg_knn_approx *a, uint32_t nprobe)
{
    return 4 + (uint64_t)nprobe * 8 + 4 + 4 + (uint64_t)a->kc * 8 + 12 + (uint64_t)a->k * 12;
}

#define GROW(p, n)                                                                          \
    do {                                                                                    \
        void *q_ = realloc((p), (n) * sizeof *(p));                                         \
        if (!q_)                                                                            \
            return lgu_fail(err, LG_ENOMEM, "out of memory");                               \
        (p) = q_;                                                                           \
    } while (0)

/* Work buffers at their largest: the search's (per thread: probing rows,
 * cell rows, products; the probes' products) or, later, the self-check's
 * (the sample, a block of rows, products, candidates). */
static uint64_t work_bytes(const lg_knn_approx *a, uint32_t cells)
{
    uint64_t c = cells, d = a->d, t = (uint64_t)a->threads;
    uint64_t find = t * (((uint64_t)a->qrows + a->trows) * d * 4 +
                           (uint64_t)a->qrows * a->trows * 4 + (uint64_t)lgk_probe_rows(a->d) * (c + d) * 4);
    uint64_t check = 500 * d * 4 + (uint64_t)a->trows * d * 4 + t * SLICE * a->trows * 4 +
                     500ull * (a->k + 16) * 16;
    return find > check ? find : check;
}

static int grow(lg_knn_approx *a, uint64_t n, lg_error *err)
{
    /* capacity grows by a quarter at a time: what is held stays close to n */
    uint64_t cap = a->cap;
    if (n > cap)
        cap = n > cap + cap / 4 ? n : cap + cap / 4;
    /* the lists, probes and work buffers must fit the budget; the rows live
     * in a scratch file when they do not fit beside them */
    /* before the first block, the cells and probes it will set up */
    uint32_t cells = a->cells ? a->C : planned_cells(a, n);
    uint32_t probe = a->cells ? a->nprobe : planned_nprobe(a, cells, n);
    uint64_t need = cap * row_bytes(a, probe) + work_bytes(a, cells);
    if (need > a->budget)
        return lgu_fail(err, LG_ENOMEM,
                       "%llu rows need %.1f MiB for the approximate search's lists and "
                       "buffers, more than its budget of %.1f MiB",
                       U64(n), (double)need / 1048576.0, (double)a->budget / 1048576.0);
    int spill = need + cap * a->d * 4 > a->budget;
    int rc = lgk_rowbuf_reserve(&a->rows, cap, spill, a->scratch_dir, err);
    if (rc)
        return rc;
    if (cap > a->cap) {
        GROW(a->sq, cap);
        GROW(a->hd, cap * a->kc);
        GROW(a->hi, cap * a->kc);
        GROW(a->wd, cap);
        GROW(a->wi, cap);
        GROW(a->thr, cap);
        if (a->nprobe)
            GROW(a->probe, cap * a->nprobe);
        a->cap = cap;
    }
    uint32_t inf;
    float f = INFINITY;
    memcpy(&inf, &f, sizeof inf);
    for (uint64_t i = a->n * a->kc; i < n * a->kc; i++) {
        a->hd[i] = INFINITY;
        a->hi[i] = LG_NO_ROW;
    }
    for (uint64_t i = a->n; i < n; i++) {
        a->wd[i] = INFINITY;
        a->wi[i] = LG_NO_ROW;
        a->thr[i] = inf;
    }
    return LG_OK;
}

/* The first block: its mean centres everything; k-means on its first rows. */
static int first_block(lg_knn_approx *a, const float *rows, uint64_t m, lg_error *err)
{
    a->mu = calloc(a->d, sizeof *a->mu);
    double *sum = calloc(a->d, sizeof *sum);
    if (!a->mu || !sum) {
        free(sum);
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    }
    for (uint64_t i = 0; i < m; i++)
        for (uint32_t c = 0; c < a->d; c++)
            sum[c] += rows[i * a->d + c];
    for (uint32_t c = 0; c < a->d; c++)
        a->mu[c] = (float)(sum[c] / (double)m);
    free(sum);
    int rc = setup_cells(a, m, err);
    if (!rc)
        GROW(a->probe, a->cap * a->nprobe);
    if (!rc)
        rc = lgk_approx_train(a, rows, m, err);
    return rc;
}

/* New rows join the cells they are nearest to. */
static int assign(lg_knn_approx *a, uint64_t n0, uint64_t m, lg_error *err)
{
    for (uint32_t c = 0; c < a->C; c++)
        a->cells[c].n_old = a->cells[c].n;
    for (uint64_t i = n0; i < n0 + m; i++) {
        cell *C = &a->cells[cell_of(a, i)];
        if (C->n == C->cap) {
            uint64_t cap = C->cap ? 2 * C->cap : 16;
            uint32_t *r = realloc(C->rows, cap * sizeof *r);
            if (!r)
                return lgu_fail(err, LG_ENOMEM, "out of memory");
            C->rows = r;
            C->cap = cap;
        }
        C->rows[C->n++] = (uint32_t)i;
    }
    return LG_OK;
}

int lg_knn_approx_add(lg_knn_approx *a, const float *rows, uint64_t m, lg_error *err)
{
    if (!m)
        return LG_OK;
    if (a->n + m >= LG_NO_ROW)
        return lgu_fail(err, LG_EUSAGE, "too many rows");
    for (uint64_t i = 0; i < m; i++) { /* callers leave such rows out (finite.h) */
        uint32_t bad = lgk_bad_column(rows + i * a->d, a->d);
        if (bad < a->d)
            return lgk_nonfinite_error(err, a->n + i, rows + i * a->d, bad);
    }
    int rc = grow(a, a->n + m, err);
    if (rc)
        return rc;
    uint64_t n0 = a->n;
    memcpy(a->rows.x + n0 * a->d, rows, m * a->d * sizeof *rows);
    int blas = lgk_blas_threads_begin();
    if (!a->cells)
        rc = first_block(a, rows, m, err);
    for (uint64_t i = 0; !rc && i < m; i++) {
        /* the norm of the centred row as the GEMM sees it (float) */
        double s = 0;
        for (uint32_t j = 0; j < a->d; j++) {
            float v = rows[i * a->d + j] - a->mu[j];
            s += (double)v * v;
        }
        a->sq[n0 + i] = (float)s;
    }
    if (!rc && lgk_approx_probes(a, rows, m, a->nprobe, a->probe + n0 * a->nprobe))
        rc = lgu_fail(err, LG_ENOMEM, "out of memory assigning rows to cells");
    if (!rc)
        rc = assign(a, n0, m, err);
    if (!rc) {
        a->n = n0 + m;
        if (run_search(a, n0))
            rc = lgu_fail(err, LG_ENOMEM, "out of memory in the approximate search");
    }
    lgk_blas_threads_end(blas);
    return rc;
}

/* The exact k nearest rows of row i by a scan over all rows, in double. */
static void exact_row(const lg_knn_approx *a, uint64_t i, uint32_t *ix, double *d)
{
    const float *x = a->rows.x + i * a->d;
    uint32_t k = a->k;
    for (uint32_t q = 0; q < k; q++) {
        d[q] = INFINITY;
        ix[q] = LG_NO_ROW;
    }
    for (uint64_t r = 0; r < a->n; r++) {
        if (r == i)
            continue;
        double s = lgk_exact_dist(x, a->rows.x + r * a->d, a->d);
        if (s > d[k - 1] || (s == d[k - 1] && r > ix[k - 1]))
            continue;
        uint32_t p = k - 1;
        while (p > 0 && (d[p - 1] > s || (d[p - 1] == s && ix[p - 1] > r))) {
            d[p] = d[p - 1];
            ix[p] = ix[p - 1];
            p--;
        }
        d[p] = s;
        ix[p] = (uint32_t)r;
    }
}

typedef struct fin {
    lg_knn_approx *a;
    lg_knn *out;
    uint32_t *order; /* rows cell by cell: neighbours of neighbours share cache lines */
} fin;

/* Row i's list from its candidates: exact distances, sorted by (distance,
 * index); a row with fewer than k candidates is scanned exactly. */
void lgk_approx_finish_row(const lg_knn_approx *a, uint64_t i, uint32_t *idx, double *dist)
{
    struct {
        double d;
        uint32_t j;
    } tmp[LG_KNN_MAX_K + 300];
    uint32_t m = 0;
    const uint32_t *h = a->hi + i * a->kc;
    for (uint32_t q = 0; q < a->kc; q++) {
        uint32_t j = h[q];
        if (j == LG_NO_ROW)
            continue;
        if (q + 1 < a->kc && h[q + 1] != LG_NO_ROW) {
            /* the next candidate's row, while this one is summed */
            const char *nx = (const char *)(a->rows.x + (uint64_t)h[q + 1] * a->d);
            for (uint64_t b = 0; b < (uint64_t)a->d * 4; b += 64)
                __builtin_prefetch(nx + b);
        }
        tmp[m].d = lgk_exact_dist(a->rows.x + i * a->d, a->rows.x + (uint64_t)j * a->d, a->d);
        tmp[m].j = j;
        m++;
    }
    /* insertion sort by (distance, index): kc is small */
    for (uint32_t p = 1; p < m; p++)
        for (uint32_t q = p; q > 0 && (tmp[q - 1].d > tmp[q].d ||
                                       (tmp[q - 1].d == tmp[q].d && tmp[q - 1].j > tmp[q].j));
             q--) {
            double dd = tmp[q].d;
            uint32_t jj = tmp[q].j;
            tmp[q] = tmp[q - 1];
            tmp[q - 1].d = dd;
            tmp[q - 1].j = jj;
        }
    if (m < a->k) {
        /* its cells held fewer than k others: this row is scanned exactly */
        exact_row(a, i, idx, dist);
        return;
    }
    for (uint32_t q = 0; q < a->k; q++) {
        idx[q] = tmp[q].j;
        dist[q] = tmp[q].d;
    }
}

static int finish_item(void *arg, int t, size_t item)
{
    fin *f = arg;
    lg_knn_approx *a = f->a;
    (void)t;
    uint64_t r0 = (uint64_t)item * 256, r1 = r0 + 256 < a->n ? r0 + 256 : a->n;
    for (uint64_t ri = r0; ri < r1; ri++) {
        uint64_t i = f->order[ri];
        lgk_approx_finish_row(a, i, f->out->idx + i * a->k, f->out->dist + i * a->k);
    }
    return LG_OK;
}

int lg_knn_approx_finish(lg_knn_approx *a, lg_knn *out, lg_error *err)
{
    memset(out, 0, sizeof *out);
    if (a->n < (uint64_t)a->k + 1)
        return lgu_fail(err, LG_EINPUT, "%llu rows are too few for k = %u", U64(a->n), a->k);
    out->idx = malloc(a->n * a->k * sizeof *out->idx);
    out->dist = malloc(a->n * a->k * sizeof *out->dist);
    if (!out->idx || !out->dist) {
        lg_knn_free(out);
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    }
    fin f = {a, out, malloc(a->n * sizeof *f.order)};
    if (!f.order) {
        lg_knn_free(out);
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    }
    uint64_t p = 0;
    for (uint32_t e = 0; e < a->C; e++)
        for (uint64_t r = 0; r < a->cells[e].n; r++)
            f.order[p++] = a->cells[e].rows[r];
    lgu_parallel_for(a->threads, (size_t)((a->n + 255) / 256), finish_item, &f);
    free(f.order);
    out->n = a->n;
    out->k = a->k;
    out->panels = 1;
    for (uint64_t i = 0; i < a->n; i++)
        out->n_zero += out->dist[i * a->k] == 0;
    return LG_OK;
}

int lg_knn_approx_on_disk(const lg_knn_approx *a)
{
    return a->rows.fd >= 0;
}

/* ---- the target-recall mode ---- */

/* Probes the budget allows beside the lists: the largest p <= want with the
 * wider probe array and, while it is computed, the old one. */
static uint32_t affordable_probes(const lg_knn_approx *a, uint32_t want)
{
    uint64_t fixed = work_bytes(a, a->C) + a->cap * (uint64_t)a->nprobe * 4;
    if (a->rows.fd < 0)
        fixed += a->cap * (uint64_t)a->d * 4;
    while (want > a->nprobe && a->cap * row_bytes(a, want) + fixed > a->budget)
        want--;
    return want;
}

/* Every row's probes widened to p: recomputed nearest first, so the first
 * nprobe are the ones searched already; then the pairs the ranks
 * nprobe..p-1 add are searched. */
static int widen(lg_knn_approx *a, uint32_t p, lg_error *err)
{
    uint32_t *wide = malloc((a->cap ? a->cap : 1) * p * sizeof *wide);
    if (!wide)
        return lgu_fail(err, LG_ENOMEM, "out of memory widening the probes to %u", p);
    int blas = lgk_blas_threads_begin();
    int rc = lgk_approx_probes(a, a->rows.x, a->n, p, wide);
    if (rc) {
        lgk_blas_threads_end(blas);
        free(wide);
        return lgu_fail(err, LG_ENOMEM, "out of memory widening the probes to %u", p);
    }
    free(a->probe);
    a->probe = wide;
    a->p_lo = a->nprobe;
    a->nprobe = p;
    rc = run_search(a, 0);
    a->p_lo = 0;
    lgk_blas_threads_end(blas);
    if (rc)
        return lgu_fail(err, LG_ENOMEM, "out of memory in the approximate search");
    a->rounds++;
    return LG_OK;
}

/* Widening doubles the probe ranks searched, so the next round computes
 * about as many distances as every round so far together, and more rounds
 * may follow; an exact search computes n (n - 1) / 2, at about the same
 * cost per distance (measured: 6.5 ns against 7.4 ns at 200 000 x 768),
 * plus a DGEMM scan for each row whose float margin is too thin, about 4
 * rows' worth of work each (measured at 20 000 x 768): the self-check saw
 * what fraction of its sample is such rows.  A round is run only while the
 * search so far has computed fewer than half of that: past it, the exact
 * search is the cheaper way to good lists.  Counted, not timed, so the
 * same data always take the same path. */
static int worth_widening(const lg_knn_approx *a)
{
    double exact = (double)a->n * (double)(a->n - 1) / 2 * (1 + 4 * a->chk_thin);
    return (double)a->pairs_done < exact / 2;
}

int lg_knn_approx_tune(lg_knn_approx *a, double target, uint32_t check_rows, lg_knn *out,
                       lg_knn_check *chk, lg_error *err)
{
    memset(out, 0, sizeof *out);
    if (a->n < (uint64_t)a->k + 1)
        return lgu_fail(err, LG_EINPUT, "%llu rows are too few for k = %u", U64(a->n), a->k);
    if (!a->rounds)
        a->nprobe0 = a->nprobe, a->rounds = 1;
    /* rounds are judged on the sample's lists alone; all rows are finished once */
    int rc = lgk_approx_check_now(a, check_rows, chk, err);
    while (!rc && chk->recall < target) {
        uint32_t want = 2 * a->nprobe;
        if (want > a->C)
            want = a->C;
        if (want > LG_KNN_MAX_K)
            want = LG_KNN_MAX_K;
        uint32_t p = affordable_probes(a, want);
        const char *why = NULL;
        if (p <= a->nprobe)
            why = p < want ? "%u probes are all the memory budget allows"
                           : "all %u cells are probed";
        else if (!worth_widening(a)) {
            why = "more probes would cost more than an exact search";
            chk->exact_cheaper = 1;
        }
        if (why) {
            char tail[96];
            snprintf(tail, sizeof tail, why, a->nprobe);
            snprintf(chk->note, sizeof chk->note, "recall %.3f below the target %.2f with %u "
                     "probe%s: %s", chk->recall, target, a->nprobe, a->nprobe == 1 ? "" : "s",
                     tail);
            break;
        }
        rc = widen(a, p, err);
        if (!rc) {
            int exact_cheaper = chk->exact_cheaper;
            rc = lgk_approx_check_now(a, check_rows, chk, err);
            chk->exact_cheaper = exact_cheaper;
        }
    }
    if (!rc)
        rc = lg_knn_approx_finish(a, out, err);
    if (rc)
        return rc;
    chk->target = target;
    chk->rounds = a->rounds;
    chk->nprobe_first = a->nprobe0;
    chk->nprobe = a->nprobe;
    chk->cells = a->C;
    chk->search_seconds = a->search_seconds;
    chk->pairs = a->pairs_done;
    return LG_OK;
}

void lg_knn_approx_stats(const lg_knn_approx *a, uint32_t *cells, uint32_t *nprobe,
                         uint64_t *pairs)
{
    *cells = a->C;
    *nprobe = a->nprobe;
    *pairs = a->blocks_done;
}

void lg_knn_approx_estimate_memory(uint64_t n, uint32_t d, const lg_knn_opts *o,
                                   uint64_t *least, uint64_t *whole)
{
    lg_knn_approx a = {0};
    a.d = d;
    a.k = o->k;
    a.kc = lgk_candidates(o->k, 0);
    a.threads = lgk_threads(o);
    a.C = o->cells;
    a.nprobe = o->nprobe;
    set_blocks(&a);
    /* rows given in one block: its cells and probes */
    uint32_t cells = planned_cells(&a, n), probe = planned_nprobe(&a, cells, n);
    *least = n * row_bytes(&a, probe) + work_bytes(&a, cells);
    *whole = *least + n * d * 4;
}
