#include "knn/finite.h"

#include <math.h>
#include <stdlib.h>

#include "util/error.h"

#define U64(x) ((unsigned long long)(x))

uint32_t lgk_bad_column(const float *row, uint32_t d)
{
    for (uint32_t j = 0; j < d; j++)
        if (!isfinite(row[j]))
            return j;
    return d;
}

int lgk_nonfinite_error(lg_error *err, uint64_t r, const float *row, uint32_t col)
{
    return lgu_fail(err, LG_EINPUT,
                   "row %llu, column %u is %s: distances to it are undefined (remove or "
                   "repair the non-finite rows, or leave them out)",
                   U64(r), col, isnan(row[col]) ? "NaN" : "infinite");
}

int lgk_too_few_error(lg_error *err, uint64_t excluded, uint64_t n, uint64_t first, uint32_t k)
{
    return lgu_fail(err, LG_EINPUT,
                   "%llu of %llu rows hold NaN or inf (the first: row %llu): the %llu left "
                   "are too few for k = %u",
                   U64(excluded), U64(n), U64(first), U64(n - excluded), k);
}

int lgk_expand_lists(lg_knn *nn, const uint32_t *kept, uint64_t n, lg_error *err)
{
    uint64_t m = nn->n, k = nn->k;
    uint32_t *idx = malloc(n * k * sizeof *idx);
    double *dist = malloc(n * k * sizeof *dist);
    if (!idx || !dist) {
        free(idx);
        free(dist);
        return lgu_fail(err, LG_ENOMEM, "out of memory for the lists of %llu rows", U64(n));
    }
    for (uint64_t i = 0; i < n * k; i++) {
        idx[i] = LG_KNN_NONE;
        dist[i] = NAN;
    }
    uint64_t zero = 0;
    for (uint64_t q = 0; q < m; q++) {
        uint64_t r = kept[q];
        for (uint64_t t = 0; t < k; t++) {
            uint32_t j = nn->idx[q * k + t];
            idx[r * k + t] = j == LG_KNN_NONE ? LG_KNN_NONE : kept[j];
            dist[r * k + t] = nn->dist[q * k + t];
        }
        zero += dist[r * k] == 0;
    }
    free(nn->idx);
    free(nn->dist);
    nn->idx = idx;
    nn->dist = dist;
    nn->n_excluded = n - m;
    nn->first_excluded = 0;
    for (uint64_t q = 0; q < m && kept[q] == q; q++)
        nn->first_excluded = q + 1;
    if (n == m)
        nn->first_excluded = 0;
    nn->n = n;
    nn->n_zero = zero;
    return LG_OK;
}
