/* The approximate search's state, shared by its files: approx_cells.c
 * (k-means, probes, assignment), approx.c (searching cells, the public
 * calls), approx_check.c (the self-check).  Internal. */
#ifndef LG_KNN_APPROX_INT_H
#define LG_KNN_APPROX_INT_H

#include <pthread.h>

#include "knn/rowbuf.h"
#include "layergeom/knn.h"

typedef struct cell {
    uint32_t *rows; /* global row ids, in arrival order */
    uint64_t n, cap, n_old; /* rows before the current block */
} cell;

#define STRIPES 4096 /* locks guarding the candidate lists, by row */

struct lg_knn_approx {
    uint32_t d, k, kc, C, nprobe;
    uint32_t qrows, trows; /* probing rows and cell rows per GEMM block */
    int threads;
    uint64_t budget, seed;
    float *mu;       /* centre (the first block's mean): keeps the GEMM form accurate */
    lgk_rowbuf rows;  /* rows, arrival order: heap or scratch file */
    char *scratch_dir;
    float *sq;       /* |row - mu|^2 */
    uint64_t n, cap;
    float *cent;     /* C x d */
    float *cnorm;    /* |centroid|^2 */
    uint32_t *probe; /* n x nprobe: each row's nearest cells, nearest (its own) first */
    cell *cells;
    float *hd;
    uint32_t *hi;
    float *wd;       /* each list's worst kept value, under its stripe's lock ... */
    uint32_t *wi;
    uint32_t *thr;   /* ... and its bits, read without the lock (atomics) */
    pthread_mutex_t locks[STRIPES];
    uint64_t blocks_done; /* GEMM blocks searched (for the report) */
    /* Invariant: the pairs (i, j) offered to the candidate lists are exactly
     * those where one row's probes [0, nprobe) hold the other's cell: a
     * widening round raises nprobe and offers only the pairs it adds, so the
     * lists equal a search that had the wider probes from the start. */
    uint32_t p_lo;        /* during a widening round: the first new probe rank */
    uint32_t nprobe0, rounds; /* the probes before widening; rounds searched */
    double search_seconds;    /* spent searching cells so far (all rounds, all blocks) */
    uint64_t pairs_done;      /* distances the GEMMs of the search computed */
    /* the self-check's sample and its exact lists, kept while n stays */
    uint64_t chk_n, chk_m, *chk_sample;
    double chk_thin; /* the fraction of the sample whose float margin was too thin */
    uint32_t *chk_ei;
    double *chk_ed;
};

/* Rows per GEMM against the centroids: up to 256, fewer for wide rows, so
 * the centred copy stays near 1 MiB a thread. */
static inline uint32_t lgk_probe_rows(uint32_t d)
{
    uint32_t r = (1u << 20) / (4 * d);
    return r < 32 ? 32 : r > 256 ? 256 : r;
}
#define SLICE 128 /* sampled rows per GEMM in the self-check (32 ran the GEMM at
                     half its rate) */

/* ---- approx_cells.c ---- */
uint64_t lgk_approx_rnd(uint64_t *s);
/* Each of n rows' p nearest cells, nearest first. */
int lgk_approx_probes(const lg_knn_approx *a, const float *x, uint64_t n, uint32_t p,
                      uint32_t *out);
/* k-means on the first rows of the first block. */
int lgk_approx_train(lg_knn_approx *a, const float *x, uint64_t n, lg_error *err);

/* ---- approx.c ---- */
/* Row i's list (k entries) from its candidates, as lg_knn_approx_finish
 * gives it. */
void lgk_approx_finish_row(const lg_knn_approx *a, uint64_t i, uint32_t *idx, double *dist);
/* ---- approx_check.c ---- */
/* The self-check of the lists the candidates hold now, computed for the
 * sampled rows only (no whole finish). */
int lgk_approx_check_now(lg_knn_approx *a, uint32_t rows, lg_knn_check *out, lg_error *err);

#endif
