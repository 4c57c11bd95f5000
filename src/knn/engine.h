/* The kNN engine's working state, shared by the batch driver (exact.c) and
 * the incremental one (incremental.c).  Internal. */
#ifndef LG_KNN_ENGINE_H
#define LG_KNN_ENGINE_H

#include <pthread.h>

#include "layergeom/knn.h"

typedef struct tls {
    float *a, *b, *g; /* centred tiles and their product */
    float *sa, *sb;   /* squared norms of the centred tile rows */
    uint64_t a_row0, a_rows; /* the rows a holds, centred (a_rows 0: none): */
                      /* the next tile pair of the same row of tiles reuses them */
    uint32_t *cc;     /* rank counts of the tile's columns (rankpass.c) */
    unsigned char *ca; /* ... columns with a pair too close to call */
} tls;

typedef struct knn_ctx {
    uint64_t n;
    uint32_t d, k, kc, tile;
    int threads;
    lg_rows_fn rows;
    void *rows_ctx;
    const float *direct; /* whole matrix in memory, or NULL */
    double *mean;
    float *fmean;
    /* The GEMM works on (x - mean) * scale, a power of two that brings the
     * largest value near 1: float32 squares neither overflow (values near
     * 1e19) nor underflow (near 1e-20), and scaling by a power of two is
     * exact, so the lists do not depend on the data's scale.  GEMM values
     * are in scaled units; unscale2 = 1 / scale^2 brings them back. */
    float scale;
    double unscale2;
    /* panels */
    uint64_t prow;       /* rows per panel (a multiple of tile) */
    size_t npanels;
    float *pa, *pb;      /* panel buffers (NULL when direct) */
    uint64_t pa_row0;    /* which panel pa holds (pa_rows == 0: none yet) */
    uint64_t pa_rows;
    const float *xi, *xj; /* current panel pair */
    uint64_t i0, ni, j0, nj;
    /* candidates */
    float *hd, *wd;
    uint32_t *hi, *wi;
    pthread_mutex_t *locks; /* one per global tile */
    tls *t;
    /* re-rank */
    double *ed;       /* exact distances of the candidates, n x kc */
    unsigned char *unsafe;
    unsigned char *excluded; /* rows with NaN or inf, left out (NULL: none) */
    int exclude_nonfinite;
    uint64_t n_excluded, first_excluded;
    /* a team: this member computes the tile pairs whose running number
     * (over all panel pairs) is part modulo parts */
    int part, parts;
    uint64_t pair_base;
    const volatile int *stop; /* the caller's stop flag (NULL: none) */
    /* ranks counted in the pass (rankpass.c): per row rank_n queries */
    uint32_t rank_n, rank_stride;
    const uint32_t *rank_q;
    double *rank_t2;  /* exact squared distance to each query's row */
    float *rank_tf;   /* ... in the GEMM's scaled units */
    uint64_t *rank_cnt;
    int count_only;   /* no lists wanted: the pass only counts */
    lg_error *err;
} knn_ctx;

typedef struct pick {
    double d;
    uint32_t j;
} pick;
/* qsort order of picks: by distance, then by index (passes.c). */
int lgk_cmp_pick(const void *a, const void *b);

/* The phases (exact.c).  Each returns an lg_status. */
int lgk_setup(knn_ctx *c, lg_knn *out, lg_error *err);
/* The GEMM's scale for data whose largest absolute value is top. */
void lgk_set_scale(knn_ctx *c, float top);
/* Phase 0: column means, and the non-finite rows (passes.c). */
int lgk_mean_pass(knn_ctx *c);
void lgk_free_ctx(knn_ctx *c);
int lgk_for_panel_pairs(knn_ctx *c, int (*fn)(knn_ctx *c));
int lgk_gemm_pair(knn_ctx *c);
int lgk_rerank_pair(knn_ctx *c);
int lgk_finish_pass(knn_ctx *c, lg_knn *out);
int lgk_rescan(knn_ctx *c, lg_knn *out, uint64_t budget);
/* Merges the team's candidates into member 0 (team.c). */
int lgk_team_merge(knn_ctx *c, const lg_team *team);
/* OpenBLAS must not split each call again inside our threads: these set it
 * to one thread and restore it. */
int lgk_blas_threads_begin(void);
/* Under an address-space limit, LG_ENOMEM (with a message) unless OpenBLAS
 * can take its work buffers for `threads` threads: it would spin forever
 * otherwise (blas.c). */
int lgk_blas_room(int threads, lg_error *err);
void lgk_blas_threads_end(int saved);
/* Ranks in the pass (rankpass.c): thresholds after the mean pass, counts
 * of one GEMM tile (rows ga.., gb..; ra, rb their rows as read), results. */
int lgk_rank_setup(knn_ctx *c);
void lgk_count_tile(knn_ctx *c, const tls *t, uint64_t ga, uint64_t na, uint64_t gb,
                    uint64_t nb, int diagonal, const float *ra, const float *rb);
void lgk_rank_results(const knn_ctx *c, uint64_t *out);
/* A counting-only pass (exact.c): o->rank_* as for lg_knn_exact, no lists;
 * each pair once, so it costs one search's GEMM whatever the queries. */
int lgk_exact_counts(uint64_t n, uint32_t d, lg_rows_fn rows, void *ctx, const lg_knn_opts *o,
                     lg_error *err);
/* Per-row memory of the lists and candidates, for budgets. */
uint64_t lgk_row_bytes(const knn_ctx *c);

#endif
