/*
 * Exact kNN by blocked GEMM: the driver.  It plans tile and panel sizes
 * within the budget, sets up the candidate heaps and runs the passes of
 * passes.c (means and finiteness; GEMM tiles; exact re-rank; rescans), each
 * a loop over pairs of row panels (one panel when the layer fits).
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
    free(c->rank_t2);
    free(c->rank_tf);
    free(c->rank_cnt);
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
        free(c->t[t].cc);
        free(c->t[t].ca);
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
    return n * lgk_row_bytes(c) + n * c->rank_n * 20 + d * 12 +
           ((n + T - 1) / T) * sizeof(pthread_mutex_t) +
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
                       "memory budget of %.1f MiB is too small for %llu rows x %llu columns "
                       "with k = %u: the neighbour lists and work buffers alone need %.1f MiB",
                       (double)budget / 1048576.0, U64(n), U64(d), c->k,
                       (double)(fixed + 2 * T * d * 4) / 1048576.0);
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

/* The search; with count_only, only the ranks of o->rank_q are wanted (no
 * lists: the candidates are neither offered nor re-ranked). */
static int exact_run(uint64_t n, uint32_t d, lg_rows_fn rows, void *ctx, const lg_knn_opts *o,
                     int count_only, lg_knn *out, lg_error *err)
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
    c.scale = 1; /* set by the mean pass */
    c.unscale2 = 1;
    c.exclude_nonfinite = o->exclude_nonfinite;
    c.stop = o->stop;
    c.threads = lgk_threads(o);
    c.rows = rows;
    c.rows_ctx = ctx;
    c.direct = rows ? NULL : (const float *)ctx;
    c.err = err;
    const lg_team *team = o->team && o->team->size > 1 ? o->team : NULL;
    if (o->rank_n && (team || !o->rank_q || !o->rank_out ||
                      (o->rank_stride && o->rank_stride < o->rank_n)))
        return lgu_fail(err, LG_EUSAGE, team ? "ranks are not counted by a team"
                                             : "rank queries without their arrays");
    c.rank_n = o->rank_n;
    c.rank_stride = o->rank_stride;
    c.rank_q = o->rank_q;
    c.count_only = count_only;
    if (team) {
        c.part = team->rank;
        c.parts = team->size;
    }
    uint64_t left = 0;
    int rc = lgk_blas_room(lgk_threads(o), err);
    if (!rc)
        rc = plan(&c, lgk_budget(o), o->tile, &left, err);
    if (rc)
        return rc;
    rc = lgk_setup(&c, out, err);
    int blas_threads = lgk_blas_threads_begin();
    if (!rc)
        rc = lgk_mean_pass(&c);
    if (!rc && c.rank_n)
        rc = lgk_rank_setup(&c);
    if (!rc)
        rc = lgk_for_panel_pairs(&c, lgk_gemm_pair);
    if (!rc && c.rank_n)
        lgk_rank_results(&c, o->rank_out);
    if (!rc && count_only) {
        lgk_blas_threads_end(blas_threads);
        lg_knn_free(out);
        lgk_free_ctx(&c);
        return LG_OK;
    }
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

int lg_knn_exact(uint64_t n, uint32_t d, lg_rows_fn rows, void *ctx, const lg_knn_opts *o,
                 lg_knn *out, lg_error *err)
{
    return exact_run(n, d, rows, ctx, o, 0, out, err);
}

int lgk_exact_counts(uint64_t n, uint32_t d, lg_rows_fn rows, void *ctx, const lg_knn_opts *o,
                     lg_error *err)
{
    lg_knn none;
    return exact_run(n, d, rows, ctx, o, 1, &none, err);
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
