/*
 * Incremental exact kNN: rows arrive in blocks (a layer being streamed in);
 * each new block is searched against the rows before it and against itself,
 * and both sides' candidate lists are updated, so when the last block has
 * arrived only the exact re-rank remains.  The rows are kept in memory (within
 * the budget); the result equals the batch search.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "knn/plan.h"
#include "knn/cand.h"
#include "knn/engine.h"
#include "util/error.h"

struct lg_knn_inc {
    knn_ctx c;
    float *x;        /* all rows so far */
    uint64_t cap;    /* rows x can hold */
    uint64_t budget;
    size_t nlocks;
    /* rows given by lg_knn_inc_seed: their exact lists among themselves are
     * known, so they are never searched against each other */
    uint64_t n_seed;
    uint32_t seed_k;
    uint32_t *seed_idx;
    double *seed_dist;
};

int lg_knn_inc_open(uint32_t d, const lg_knn_opts *o, lg_knn_inc **out, lg_error *err)
{
    *out = NULL;
    if (!o || o->k == 0 || o->k > LG_KNN_MAX_K)
        return lgu_fail(err, LG_EUSAGE, "k must be 1..%d", LG_KNN_MAX_K);
    if (d == 0)
        return lgu_fail(err, LG_EINPUT, "rows have no columns");
    int room = lgk_blas_room(lgk_threads(o), err);
    if (room)
        return room;
    lg_knn_inc *inc = calloc(1, sizeof *inc);
    if (!inc)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    knn_ctx *c = &inc->c;
    c->d = d;
    c->k = o->k;
    c->kc = lgk_candidates(o->k, 0); /* rows are not known yet: no cap */
    c->scale = 1; /* set from the first block */
    c->unscale2 = 1;
    c->threads = lgk_threads(o);
    c->tile = lgk_tile(o, 0);
    c->stop = o->stop;
    c->npanels = 1;
    inc->budget = lgk_budget(o);
    /* lgk_setup allocates for c->n rows: start empty, grow per block */
    c->n = 0;
    c->mean = calloc(d, sizeof *c->mean);
    c->fmean = calloc(d, sizeof *c->fmean);
    c->t = calloc((size_t)c->threads, sizeof *c->t);
    int ok = c->mean && c->fmean && c->t;
    uint64_t T = c->tile;
    for (int t = 0; ok && t < c->threads; t++) {
        tls *x = &c->t[t];
        x->a = malloc(T * d * sizeof *x->a);
        x->b = malloc(T * d * sizeof *x->b);
        x->g = malloc(T * T * sizeof *x->g);
        x->sa = malloc(T * sizeof *x->sa);
        x->sb = malloc(T * sizeof *x->sb);
        ok = x->a && x->b && x->g && x->sa && x->sb;
    }
    if (!ok) {
        lg_knn_inc_close(inc);
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    }
    *out = inc;
    return LG_OK;
}

void lg_knn_inc_close(lg_knn_inc *inc)
{
    if (!inc)
        return;
    knn_ctx *c = &inc->c;
    /* lgk_free_ctx frees the lock array by the row count it was sized for */
    c->n = (uint64_t)inc->nlocks * c->tile;
    lgk_free_ctx(c);
    free(inc->x);
    free(inc->seed_idx);
    free(inc->seed_dist);
    free(inc);
}

uint64_t lg_knn_inc_rows(const lg_knn_inc *inc)
{
    return inc->c.n;
}

static int grow(lg_knn_inc *inc, uint64_t n, lg_error *err)
{
    knn_ctx *c = &inc->c;
    uint64_t T = c->tile;
    uint64_t need = n * ((uint64_t)c->d * 4 + lgk_row_bytes(c)) +
                    (uint64_t)c->threads * (2 * T * c->d * 4 + T * T * 4);
    if (need > inc->budget)
        return lgu_fail(err, LG_ENOMEM,
                       "%llu rows x %u columns no longer fit the memory budget of %.1f MiB for "
                       "an incremental search",
                       (unsigned long long)n, c->d, (double)inc->budget / 1048576.0);
    if (n > inc->cap) {
        uint64_t cap = inc->cap ? inc->cap : 1024;
        while (cap < n)
            cap *= 2;
        float *x = realloc(inc->x, cap * c->d * sizeof *x);
        if (!x)
            return lgu_fail(err, LG_ENOMEM, "out of memory");
        inc->x = x;
        inc->cap = cap;
    }
    uint64_t old = c->n;
    float *hd = realloc(c->hd, n * c->kc * sizeof *hd);
    if (hd)
        c->hd = hd;
    uint32_t *hi = realloc(c->hi, n * c->kc * sizeof *hi);
    if (hi)
        c->hi = hi;
    float *wd = realloc(c->wd, n * sizeof *wd);
    if (wd)
        c->wd = wd;
    uint32_t *wi = realloc(c->wi, n * sizeof *wi);
    if (wi)
        c->wi = wi;
    double *ed = realloc(c->ed, n * c->kc * sizeof *ed);
    if (ed)
        c->ed = ed;
    unsigned char *un = realloc(c->unsafe, n);
    if (un)
        c->unsafe = un;
    if (!hd || !hi || !wd || !wi || !ed || !un)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    for (uint64_t i = old * c->kc; i < n * c->kc; i++) {
        c->hd[i] = INFINITY;
        c->hi[i] = LG_NO_ROW;
    }
    for (uint64_t i = old; i < n; i++) {
        c->wd[i] = INFINITY;
        c->wi[i] = LG_NO_ROW;
    }
    size_t nl = (size_t)((n + T - 1) / T);
    if (nl > inc->nlocks) {
        /* no thread holds a lock between blocks: replace the array */
        for (size_t i = 0; i < inc->nlocks; i++)
            pthread_mutex_destroy(&c->locks[i]);
        free(c->locks);
        c->locks = calloc(nl, sizeof *c->locks);
        if (!c->locks) {
            inc->nlocks = 0;
            return lgu_fail(err, LG_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < nl; i++)
            pthread_mutex_init(&c->locks[i], NULL);
        inc->nlocks = nl;
    }
    return LG_OK;
}

/* Appends m rows to the store of rows and fixes the centre on the first
 * block; no search. */
static int take_rows(lg_knn_inc *inc, const float *rows, uint64_t m, lg_error *err)
{
    knn_ctx *c = &inc->c;
    if (c->n + m >= LG_NO_ROW)
        return lgu_fail(err, LG_EUSAGE, "too many rows");
    for (uint64_t i = 0; i < m * c->d; i++)
        if (!isfinite(rows[i]))
            return lgu_fail(err, LG_EINPUT,
                           "row %llu, column %llu is not finite: distances to it are undefined",
                           (unsigned long long)(c->n + i / c->d),
                           (unsigned long long)(i % c->d));
    uint64_t old = c->n;
    int rc = grow(inc, old + m, err);
    if (rc)
        return rc;
    memcpy(inc->x + old * c->d, rows, m * c->d * sizeof *rows);
    if (old == 0) {
        /* centre on the first block's mean: any fixed centre keeps the GEMM
         * accurate, and it must not move while blocks arrive */
        for (uint64_t i = 0; i < m; i++)
            for (uint32_t j = 0; j < c->d; j++)
                c->mean[j] += rows[i * c->d + j];
        for (uint32_t j = 0; j < c->d; j++) {
            c->mean[j] /= (double)m;
            c->fmean[j] = (float)c->mean[j];
        }
        /* and scale by the first block too: later rows far larger than it
         * still fit (float32 reaches 2^128), only rounding grows */
        float top = 0;
        for (uint64_t i = 0; i < m * c->d; i++)
            top = fabsf(rows[i]) > top && isfinite(rows[i]) ? fabsf(rows[i]) : top;
        lgk_set_scale(c, top);
    }
    c->n = old + m;
    return LG_OK;
}

/* Seed row i's squared distance from the centre and the square of its known
 * k-th distance (a hair wider: the reach a new row must be within). */
static void seed_reach(const lg_knn_inc *inc, uint64_t i, double *sq, double *reach)
{
    const knn_ctx *c = &inc->c;
    const float *x = inc->x + i * c->d;
    double s = 0;
    for (uint32_t j = 0; j < c->d; j++) {
        double t = (double)x[j] - (double)c->fmean[j];
        s += t * t;
    }
    double dk = inc->seed_dist[i * c->k + c->k - 1];
    *sq = s;
    *reach = dk * dk * (1 + 1e-12) + 1e-30;
}

int lg_knn_inc_seed(lg_knn_inc *inc, const float *rows, uint64_t m, const lg_knn *known,
                    lg_error *err)
{
    knn_ctx *c = &inc->c;
    if (c->n || inc->n_seed)
        return lgu_fail(err, LG_EUSAGE, "seed rows come first, once");
    if (!known || known->n != m || known->k < c->k || known->n_excluded)
        return lgu_fail(err, LG_EUSAGE,
                       "seed lists must cover the %llu seed rows with at least k = %u "
                       "neighbours and no excluded rows",
                       (unsigned long long)m, c->k);
    int rc = take_rows(inc, rows, m, err);
    if (rc)
        return rc;
    inc->seed_idx = malloc(m * c->k * sizeof *inc->seed_idx);
    inc->seed_dist = malloc(m * c->k * sizeof *inc->seed_dist);
    if (!inc->seed_idx || !inc->seed_dist)
        return lgu_fail(err, LG_ENOMEM, "out of memory for %llu known lists",
                       (unsigned long long)m);
    for (uint64_t i = 0; i < m; i++) {
        memcpy(inc->seed_idx + i * c->k, known->idx + i * known->k, c->k * sizeof(uint32_t));
        memcpy(inc->seed_dist + i * c->k, known->dist + i * known->k, c->k * sizeof(double));
    }
    inc->n_seed = m;
    inc->seed_k = c->k;
    /* A new row can only enter a seed row's list if it is within the known
     * k-th distance: the seed row's heap starts full of empty entries at
     * that distance's GEMM bound (prune_seed_rows' bound turned round), so
     * the search rejects every farther new row with one comparison instead
     * of filling the heap with rows the re-rank would drop.  The empty
     * entries stay "no row": a heap that keeps any has taken every new row
     * within reach. */
    double gamma = 4.0 * (c->d + 8) * 0x1p-24;
    for (uint64_t i = 0; i < m; i++) {
        double sq, reach;
        seed_reach(inc, i, &sq, &reach);
        double v = (reach * (1.0 + 2.0 * gamma) + 3.0 * gamma * sq) / c->unscale2;
        float thr = (float)(v * (1.0 + 0x1p-20));
        if (!(thr < INFINITY))
            continue; /* no bound: the heap stays empty */
        for (uint32_t q = 0; q < c->kc; q++)
            c->hd[i * c->kc + q] = thr;
        c->wd[i] = thr;
    }
    return LG_OK;
}

/* For a seed row the search only offered the rows after the seed: its list
 * is the merge of that one and its known list.  Exact: every seed row
 * outside its known list is farther (or tied and later) than all k of it,
 * so the true list takes from the known list and the new rows only. */
static void merge_seed(lg_knn_inc *inc, lg_knn *out)
{
    uint32_t k = inc->c.k;
    pick buf[2 * LG_KNN_MAX_K];
    for (uint64_t i = 0; i < inc->n_seed; i++) {
        size_t n = 0;
        uint32_t *oi = out->idx + i * k, *si = inc->seed_idx + i * k;
        double *od = out->dist + i * k, *sd = inc->seed_dist + i * k;
        size_t a = 0, b = 0;
        while (n < k && (a < k || b < k)) {
            int take_a;
            if (a == k)
                take_a = 0;
            else if (b == k)
                take_a = 1;
            else
                take_a = od[a] < sd[b] || (od[a] == sd[b] && oi[a] < si[b]);
            pick p = take_a ? (pick){od[a], oi[a]} : (pick){sd[b], si[b]};
            if (take_a)
                a++;
            else
                b++;
            int dup = 0; /* a rescanned row's full list holds seed rows too */
            for (size_t q = 0; q < n && !dup; q++)
                dup = buf[q].j == p.j;
            if (!dup && p.j != LG_KNN_NONE)
                buf[n++] = p;
        }
        for (size_t q = 0; q < n; q++) {
            oi[q] = buf[q].j;
            od[q] = buf[q].d;
        }
    }
}

/* A seed row's new candidates that cannot come closer than its known k-th
 * neighbour are dropped before the exact re-rank, which then costs only the
 * few that may enter its list.  The bound is the GEMM's: true d^2 >=
 * (v - 3 gamma |x|^2) / (1 + 2 gamma) for a GEMM value v (see exact.c).
 * New rows outside the heap have a value at least the heap's worst, so the
 * drop is made only when that worst is itself out of reach; otherwise the
 * row keeps its heap and the usual margin check (and rescan) decide. */
static void prune_seed_rows(lg_knn_inc *inc)
{
    knn_ctx *c = &inc->c;
    double gamma = 4.0 * (c->d + 8) * 0x1p-24;
    for (uint64_t i = 0; i < inc->n_seed; i++) {
        double sq, reach;
        seed_reach(inc, i, &sq, &reach);
        int full = 1;
        for (uint32_t q = 0; q < c->kc; q++)
            full &= c->hi[i * c->kc + q] != LG_NO_ROW;
        double worst = full ? (double)c->wd[i] * c->unscale2 : INFINITY;
        if ((worst - 3.0 * gamma * sq) / (1.0 + 2.0 * gamma) <= reach)
            continue; /* rows beyond the heap may be in reach: keep it whole */
        for (uint32_t q = 0; q < c->kc; q++) {
            double v = c->hd[i * c->kc + q] * c->unscale2;
            if (c->hi[i * c->kc + q] != LG_NO_ROW &&
                (v - 3.0 * gamma * sq) / (1.0 + 2.0 * gamma) > reach)
                c->hi[i * c->kc + q] = LG_NO_ROW;
        }
    }
}

int lg_knn_inc_add(lg_knn_inc *inc, const float *rows, uint64_t m, lg_error *err)
{
    knn_ctx *c = &inc->c;
    if (!m)
        return LG_OK;
    uint64_t old = c->n;
    int rc = take_rows(inc, rows, m, err);
    if (rc)
        return rc;
    c->direct = inc->x;
    c->err = err;
    int blas = lgk_blas_threads_begin();
    if (old) {
        /* the new rows against all the rows before them */
        c->xi = inc->x;
        c->i0 = 0;
        c->ni = old;
        c->xj = inc->x + old * c->d;
        c->j0 = old;
        c->nj = m;
        rc = lgk_gemm_pair(c);
    }
    if (!rc) {
        /* and among themselves */
        c->xi = c->xj = inc->x + old * c->d;
        c->i0 = c->j0 = old;
        c->ni = c->nj = m;
        rc = lgk_gemm_pair(c);
    }
    lgk_blas_threads_end(blas);
    return rc;
}

int lg_knn_inc_finish(lg_knn_inc *inc, lg_knn *out, lg_error *err)
{
    knn_ctx *c = &inc->c;
    memset(out, 0, sizeof *out);
    if (c->n < (uint64_t)c->k + 1)
        return lgu_fail(err, LG_EINPUT, "%llu rows are too few for k = %u",
                       (unsigned long long)c->n, c->k);
    out->idx = malloc(c->n * c->k * sizeof *out->idx);
    out->dist = malloc(c->n * c->k * sizeof *out->dist);
    if (!out->idx || !out->dist) {
        lg_knn_free(out);
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    }
    c->err = err;
    c->prow = c->n;
    c->npanels = 1;
    c->direct = inc->x;
    memset(c->unsafe, 0, c->n);
    if (inc->n_seed)
        prune_seed_rows(inc);
    int blas = lgk_blas_threads_begin();
    int rc = lgk_for_panel_pairs(c, lgk_rerank_pair);
    if (!rc)
        rc = lgk_finish_pass(c, out);
    if (!rc)
        rc = lgk_rescan(c, out, inc->budget / 4);
    lgk_blas_threads_end(blas);
    if (rc) {
        lg_knn_free(out);
        return rc;
    }
    if (inc->n_seed)
        merge_seed(inc, out);
    out->n = c->n;
    out->k = c->k;
    out->panels = 1;
    for (uint64_t i = 0; i < c->n; i++)
        out->n_zero += out->dist[i * c->k] == 0;
    return LG_OK;
}
