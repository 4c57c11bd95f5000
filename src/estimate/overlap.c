/* Neighbourhood overlaps: between two representations of the same rows, and
 * between a representation and ground-truth labels. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layergeom/estimate.h"
#include "util/error.h"

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int lg_overlap_data(const lg_knn *a, const lg_knn *b, uint32_t k, double *out, lg_error *err)
{
    if (a->n != b->n)
        return lgu_fail(err, LG_EINPUT, "overlap of lists over %llu and %llu rows",
                       (unsigned long long)a->n, (unsigned long long)b->n);
    if (k == 0 || k > a->k || k > b->k)
        return lgu_fail(err, LG_EUSAGE, "overlap at k = %u needs lists of at least k neighbours "
                                       "(they have %u and %u)",
                       k, a->k, b->k);
    uint32_t *x = malloc(2 * (size_t)k * sizeof *x), *y = x + k;
    if (!x)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    double total = 0;
    uint64_t rows = 0;
    for (uint64_t i = 0; i < a->n; i++) {
        if (a->idx[i * a->k] == LG_KNN_NONE || b->idx[i * b->k] == LG_KNN_NONE)
            continue; /* a row left out of either layer has nothing to compare */
        rows++;
        memcpy(x, a->idx + i * a->k, k * sizeof *x);
        memcpy(y, b->idx + i * b->k, k * sizeof *y);
        qsort(x, k, sizeof *x, cmp_u32);
        qsort(y, k, sizeof *y, cmp_u32);
        uint32_t p = 0, q = 0, common = 0;
        while (p < k && q < k) {
            if (x[p] == y[q]) {
                common++;
                p++;
                q++;
            } else if (x[p] < y[q]) {
                p++;
            } else {
                q++;
            }
        }
        total += (double)common / k;
    }
    free(x);
    if (!rows)
        return lgu_fail(err, LG_EINPUT, "overlap: no row has neighbours in both layers");
    *out = total / (double)rows;
    return LG_OK;
}

typedef struct class_count {
    int64_t label;
    uint64_t count;
} class_count;

static int cmp_label(const void *a, const void *b)
{
    int64_t x = ((const class_count *)a)->label, y = ((const class_count *)b)->label;
    return x < y ? -1 : x > y;
}

static uint64_t size_of(const class_count *c, size_t nc, int64_t label)
{
    class_count key = {label, 0};
    const class_count *hit = bsearch(&key, c, nc, sizeof *c, cmp_label);
    return hit ? hit->count : 0;
}

int lg_overlap_labels(const lg_knn *nn, const int64_t *labels, uint32_t k, double class_fraction,
                      lg_label_overlap *out, lg_error *err)
{
    uint64_t n = nn->n;
    class_count *c = malloc((n ? n : 1) * sizeof *c);
    if (!c)
        return lgu_fail(err, LG_ENOMEM, "out of memory");
    for (uint64_t i = 0; i < n; i++)
        c[i] = (class_count){labels[i], 1};
    qsort(c, n, sizeof *c, cmp_label);
    size_t nc = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (nc && c[nc - 1].label == c[i].label)
            c[nc - 1].count++;
        else
            c[nc++] = c[i];
    }
    double plain = 0, weighted = 0, wsum = 0;
    int rc = LG_OK;
    for (uint64_t i = 0; i < n; i++) {
        if (nn->idx[i * nn->k] == LG_KNN_NONE)
            continue; /* left out for NaN or inf */
        uint64_t size = size_of(c, nc, labels[i]);
        uint32_t ki = k;
        if (class_fraction > 0) {
            double f = floor(class_fraction * (double)size);
            ki = f < 1 ? 1 : (uint32_t)f;
        }
        if (ki == 0 || ki > nn->k) {
            rc = lgu_fail(err, LG_EUSAGE,
                         "label overlap needs %u neighbours for row %llu, the lists have %u", ki,
                         (unsigned long long)i, nn->k);
            break;
        }
        uint32_t same = 0;
        for (uint32_t q = 0; q < ki; q++)
            same += labels[nn->idx[i * nn->k + q]] == labels[i];
        double f = (double)same / ki, w = 1.0 / (double)size;
        plain += f;
        weighted += w * f;
        wsum += w;
    }
    free(c);
    if (rc)
        return rc;
    uint64_t used = 0;
    for (uint64_t i = 0; i < n; i++)
        used += nn->idx[i * nn->k] != LG_KNN_NONE;
    if (!used)
        return lgu_fail(err, LG_EINPUT, "label overlap: no row has neighbours");
    out->unweighted = plain / (double)used;
    out->class_weighted = weighted / wsum;
    return LG_OK;
}
