/*
 * layergeom/nn.h -- neighbour lists: what every search produces and every
 * estimator consumes (the estimators need nothing else of the kNN).
 */
#ifndef LAYERGEOM_NN_H
#define LAYERGEOM_NN_H

#include "layergeom/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LG_KNN_MAX_K 1024
#define LG_KNN_NONE 0xffffffffu /* the neighbour of an excluded row */

typedef struct lg_knn {
    uint64_t n;
    uint32_t k;
    uint32_t *idx;        /* n x k neighbour rows, nearest first */
    double *dist;         /* n x k Euclidean distances, ascending, ties by index */
    uint64_t n_zero;      /* rows whose nearest neighbour is at distance 0 */
    uint64_t n_rescanned; /* rows whose GEMM margin was thin: checked exactly */
    uint64_t panels;      /* row panels the layer was split into (1: in memory) */
    uint64_t n_excluded;  /* rows left out for NaN or inf (their idx are LG_KNN_NONE) */
    uint64_t first_excluded;
    double seconds;
} lg_knn;

/* Supplies rows [row0, row0 + n) as float32, row-major, d per row (what a
 * search reads). */
typedef int (*lg_rows_fn)(void *ctx, uint64_t row0, size_t n, float *out, lg_error *err);

/* Frees the lists (not k itself). */
LG_API void lg_knn_free(lg_knn *k);

#ifdef __cplusplus
}
#endif
#endif
