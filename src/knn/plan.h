/* The one place that derives a search's constants from its options, for
 * every search (exact, incremental, approximate) and for the callers that
 * size their own buffers around one (the profile).  Internal. */
#ifndef LG_KNN_PLAN_H
#define LG_KNN_PLAN_H

#include "layergeom/knn.h"

/* Candidates a row keeps: k plus spares that absorb the GEMM's rounding
 * near the k-th (at least 8, a quarter of k), at most n - 1. */
uint32_t lgk_candidates(uint32_t k, uint64_t n);
/* Threads: as asked, else every core. */
int lgk_threads(const lg_knn_opts *o);
/* The memory budget: as asked, else a quarter of RAM. */
uint64_t lgk_budget(const lg_knn_opts *o);
/* Rows per GEMM tile: as asked, else 512 (fewer when the layer has fewer). */
uint32_t lgk_tile(const lg_knn_opts *o, uint64_t n);
/* Approximate search: cells for n rows (about 2 sqrt(n), 1..4096) unless
 * asked; rows its k-means trains on (24 a cell). */
uint32_t lgk_cells(const lg_knn_opts *o, uint64_t n);
uint64_t lgk_train_rows(uint32_t cells);

#endif
