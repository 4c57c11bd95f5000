/* The one policy for rows holding NaN or inf, shared by every search:
 * under "fail" the first such row is an error naming it; under "exclude" it
 * has no list (LG_KNN_NONE, distance NaN), is nobody's neighbour, and is
 * counted.  Exact search applies it as it reads; searches that cannot skip
 * rows (the approximate one) get the finite rows only, and their lists are
 * then spread back over all rows (lgk_expand_lists).  Internal. */
#ifndef LG_KNN_FINITE_H
#define LG_KNN_FINITE_H

#include "layergeom/knn.h"

/* The first column of row that is NaN or inf, or d when there is none. */
uint32_t lgk_bad_column(const float *row, uint32_t d);
/* The "fail" policy's error for row r. */
int lgk_nonfinite_error(lg_error *err, uint64_t r, const float *row, uint32_t col);
/* The error when too few finite rows are left for k. */
int lgk_too_few_error(lg_error *err, uint64_t excluded, uint64_t n, uint64_t first, uint32_t k);
/* Lists of the m finite rows (row q of nn is row kept[q] of all n) made into
 * lists of all n rows: neighbours renumbered, the other rows left out.
 * Replaces nn's arrays; sets n_excluded, first_excluded, n_zero. */
int lgk_expand_lists(lg_knn *nn, const uint32_t *kept, uint64_t n, lg_error *err);

#endif
