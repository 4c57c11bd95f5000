/*
 * layergeom/knn.h -- the k nearest neighbours of every row of a layer: exact
 * search (blocked GEMM), rows arriving in blocks (incremental), and the
 * approximate search (an inverted-file partition, searched exactly).
 *
 * Exact search: distances come from blocked GEMM (|x|^2 + |y|^2 - 2 x.y on centred rows,
 * OpenBLAS sgemm), one tile per pair of row blocks, each pair computed once
 * and used for both blocks' lists.  Every row keeps a few more candidates
 * than asked for; their distances are then recomputed exactly (differences
 * of the original vectors, summed in double) and re-sorted, and a row whose
 * margin is too thin for the GEMM's rounding is checked by an exact scan.
 * The result equals brute-force double-precision kNN, ties broken by row
 * index, for any thread count and tile size.
 *
 * A row is never its own neighbour (decided by index, so duplicates are
 * neighbours of each other at distance 0).  Memory stays within the budget:
 * when the layer does not fit, it is read in panels, several times.
 */
#ifndef LAYERGEOM_KNN_H
#define LAYERGEOM_KNN_H

#include "layergeom/common.h"
#include "layergeom/nn.h"
#include "layergeom/store.h"
#include "layergeom/team.h"

#ifdef __cplusplus
extern "C" {
#endif


typedef struct lg_knn_opts {
    uint32_t k;      /* neighbours per row, 1..1024 */
    int threads;     /* 0: all cores */
    uint64_t memory; /* bytes the search may allocate; 0: a quarter of RAM */
    uint32_t tile;   /* rows per GEMM tile; 0: automatic */
    uint32_t cells;   /* approximate search: cells (0: about 2 sqrt(N)) */
    uint32_t nprobe;  /* approximate search: cells each row probes, nearest first
                         (0: at least 12, more when cells are small) */
    uint64_t seed;    /* approximate search: k-means sample and self-check (0: 1) */
    int exclude_nonfinite; /* rows holding NaN or inf: 0 refuse the layer (an error
                              naming the first), 1 leave them out (no list, never
                              anyone's neighbour; counted in n_excluded) */
    const char *scratch_dir; /* approximate search: where rows go when they do not
                                fit the budget (an unlinked file; NULL: $TMPDIR) */
    const lg_team *team; /* exact search: the tile pairs are shared by the team's
                            members (see team.h); NULL or size 1: one process */
    const volatile int *stop; /* when *stop becomes non-zero (another thread or a
                                 signal handler sets it), the search ends within
                                 a tile pair with LG_ECANCELED; NULL: never */
    /* Ranks counted in the same pass (exact search, no team): for row i and
     * s < rank_n, rank_q[i * rank_stride + s] names a row j (LG_KNN_NONE: no
     * query); the search writes to rank_out[i * rank_n + s] the rank of j
     * among i's neighbours, 1 + the rows m != i, j with (d(i,m), m) <
     * (d(i,j), j), as lg_knn_ranks would (0 for no query).  Each pair the
     * pass computes anyway is compared with both rows' thresholds, so the
     * information imbalance towards this layer costs almost nothing extra.
     * rank_stride 0 means rank_n.  Memory: 20 bytes a query, in the budget. */
    const uint32_t *rank_q;
    uint32_t rank_n, rank_stride;
    uint64_t *rank_out;
} lg_knn_opts;


/* lg_rows_fn (nn.h) supplies the rows of a search. */

/* The general entry: n rows of d columns, read through rows(). */
LG_API int lg_knn_exact(uint64_t n, uint32_t d, lg_rows_fn rows, void *ctx, const lg_knn_opts *o,
                        lg_knn *out, lg_error *err);
/* Rows already in memory. */
LG_API int lg_knn_exact_matrix(const float *x, uint64_t n, uint32_t d, const lg_knn_opts *o,
                               lg_knn *out, lg_error *err);
/* A layer of a store. */
LG_API int lg_knn_exact_layer(lg_store *s, size_t layer, const lg_knn_opts *o, lg_knn *out,
                              lg_error *err);

/* Memory the exact search needs for n rows of d columns, o->k neighbours
 * and o's threads and tile (in the spirit of ZSTD_estimateCCtxSize): *least
 * is the smallest budget it runs in (below it: LG_ENOMEM, naming the size),
 * reading the rows in panels several times; *whole is what it allocates to
 * hold the rows in one panel (rows given in memory add nothing). */
LG_API void lg_knn_exact_estimate_memory(uint64_t n, uint32_t d, const lg_knn_opts *o,
                                         uint64_t *least, uint64_t *whole);

/* ---- incremental: rows arriving in blocks ---- */

typedef struct lg_knn_inc lg_knn_inc;

/* An empty search for rows of d columns (o->k, threads, memory, tile as above). */
LG_API int lg_knn_inc_open(uint32_t d, const lg_knn_opts *o, lg_knn_inc **out, lg_error *err);
/* Appends m rows: they are searched against every earlier row and each other,
 * and every affected list is updated.  LG_ENOMEM when the rows no longer fit
 * the budget (the caller then falls back to lg_knn_exact). */
LG_API int lg_knn_inc_add(lg_knn_inc *inc, const float *rows, uint64_t m, lg_error *err);
LG_API uint64_t lg_knn_inc_rows(const lg_knn_inc *inc);
/* Rows already profiled: the first m rows, with their exact lists among
 * themselves (known, at least k neighbours, no excluded rows).  They are not
 * searched against each other again; rows added after them are searched
 * against them, and lg_knn_inc_finish merges the two, giving exactly the
 * lists of a fresh search.  (Rows appended to a store: about 2 m_new / n of
 * a fresh search's work.)  Only on an empty search, once. */
LG_API int lg_knn_inc_seed(lg_knn_inc *inc, const float *rows, uint64_t m, const lg_knn *known,
                           lg_error *err);
/* Exact ranks beyond the lists: for each query q, the rank of row qj[q]
 * among row qi[q]'s neighbours, 1 + the rows m != qi[q] with
 * (d(qi, m), m) < (d(qi, qj), qj) -- ties by row index, as in the lists;
 * rank 1 is the nearest.  One pass over the rows per panel of query rows
 * (sized from o->memory), distances decided in double wherever float could
 * be wrong: counts equal brute force.  The information imbalance uses it
 * for pairs a list does not show. */
LG_API int lg_knn_ranks(uint64_t n, uint32_t d, lg_rows_fn rows, void *ctx, const uint32_t *qi,
                        const uint32_t *qj, size_t nq, uint64_t *rank, const lg_knn_opts *o,
                        lg_error *err);

/* The exact lists of all rows so far (equal to lg_knn_exact on them). */
LG_API int lg_knn_inc_finish(lg_knn_inc *inc, lg_knn *out, lg_error *err);
LG_API void lg_knn_inc_close(lg_knn_inc *inc);

/* ---- approximate: an inverted-file partition, searched exactly ---- */

typedef struct lg_knn_approx lg_knn_approx;

/* Memory the approximate search needs for n rows (o's k, threads, cells,
 * nprobe): *least, the lists, probes and buffers (the rows then go to the
 * scratch file); *whole, with the rows in memory too. */
LG_API void lg_knn_approx_estimate_memory(uint64_t n, uint32_t d, const lg_knn_opts *o,
                                          uint64_t *least, uint64_t *whole);

/* Cells are trained on the first block (its first 24 x cells rows); each
 * block is assigned and searched against the rows of the cells its rows
 * probe, old and new, updating both sides' lists.  Lists, probes and buffers
 * stay within o->memory (else LG_ENOMEM naming the size needed); the rows
 * themselves are kept in memory when they fit beside them, else in a scratch
 * file in o->scratch_dir, mapped (page cache, not the budget). */
LG_API int lg_knn_approx_open(uint32_t d, const lg_knn_opts *o, lg_knn_approx **out, lg_error *err);
LG_API int lg_knn_approx_add(lg_knn_approx *a, const float *rows, uint64_t m, lg_error *err);
LG_API uint64_t lg_knn_approx_rows(const lg_knn_approx *a);
/* The lists of all rows so far (distances exact, neighbours approximate). */
LG_API int lg_knn_approx_finish(lg_knn_approx *a, lg_knn *out, lg_error *err);
/* The knobs in use, and how many GEMM blocks were searched. */
LG_API void lg_knn_approx_stats(const lg_knn_approx *a, uint32_t *cells, uint32_t *nprobe,
                                uint64_t *blocks);
/* 1 when the rows are kept in the scratch file (they did not fit the budget). */
LG_API int lg_knn_approx_on_disk(const lg_knn_approx *a);
LG_API void lg_knn_approx_close(lg_knn_approx *a);

/* How approximate the lists are: a random sample of rows against an exact
 * scan. */
typedef struct lg_knn_check {
    uint64_t rows;            /* sampled */
    double recall;            /* mean |approx kNN  intersect  exact kNN| / k */
    double recall_se;         /* its standard error over the sampled rows */
    double twonn_approx, twonn_exact, twonn_rel_err; /* TwoNN ML on the sample */
    double overlap_err_bound; /* 1 - recall: the most any overlap at k can move */
    /* lg_knn_approx_tune only (else 0): the target, the search rounds, the
     * probes per row at the start and at the end, the cells, and why the
     * target was not met ("" when it was) */
    double target;
    uint32_t rounds, nprobe_first, nprobe, cells;
    /* seconds spent searching cells (all rounds) and the distances their
     * GEMMs computed; exact_cheaper: the target was not met because the
     * search had already computed half the n (n - 1) / 2 distances of an
     * exact search, so more probes would cost more than it (the caller
     * should search exactly instead) */
    double search_seconds;
    uint64_t pairs;
    int exact_cheaper;
    char note[160];
} lg_knn_check;
/* The sample (rows of them, seeded by o->seed) and its exact lists are
 * computed once and kept while no rows are added: checking again after
 * lg_knn_approx_tune widened the probes costs no new exact search. */
LG_API int lg_knn_approx_check(lg_knn_approx *a, const lg_knn *nn, uint32_t rows,
                               lg_knn_check *out, lg_error *err);

/* The target-recall mode, once the rows are in: finishes the lists into
 * *out and checks them on `rows` sampled rows; while the sample's recall@k
 * is below target, doubles every row's probes (up to the cells there are,
 * and what o->memory allows) and searches only the pairs the wider probes
 * add -- the lists then equal those of a search with the wider probes from
 * the start -- and checks again.  *chk: the last check, with the rounds and
 * probes it took; chk->note says why when the target was not reached (the
 * lists are still returned): every cell probed, no memory for more probes,
 * or (chk->exact_cheaper) the next round would cost more than an exact
 * search of all rows (counted in distances), and the caller should search
 * exactly instead.  More rows may be added afterwards;
 * they are searched with the widened probes. */
LG_API int lg_knn_approx_tune(lg_knn_approx *a, double target, uint32_t rows, lg_knn *out,
                              lg_knn_check *chk, lg_error *err);

/* The OpenBLAS kernels in use (its core name, e.g. "Haswell"), and a better
 * choice for this CPU when OpenBLAS fell back to a generic one because it
 * does not know the CPU (NULL otherwise).  OpenBLAS reads the choice only
 * when it loads: a program sets OPENBLAS_CORETYPE to it and restarts (the
 * command line does, unless OPENBLAS_CORETYPE is already set). */
LG_API const char *lg_blas_kernel(void);
LG_API const char *lg_blas_better_kernel(void);

/* Default memory budget: a quarter of physical memory. */
LG_API uint64_t lg_default_memory(void);
/* Number of online processors. */
LG_API int lg_cpu_count(void);

#ifdef __cplusplus
}
#endif
#endif
