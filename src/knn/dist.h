/* The exact distance every search reports: the difference of two float rows
 * summed in double.  One definition, so the exact, incremental and
 * approximate searches give the same distance to the same pair, bit for bit.
 * Four running sums (a fixed order) keep the multiply-adds from waiting on
 * each other. */
#ifndef LG_KNN_DIST_H
#define LG_KNN_DIST_H

#include <math.h>
#include <stdint.h>

static inline double lg_exact_dist(const float *x, const float *y, uint32_t d)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    uint32_t j = 0;
    for (; j + 4 <= d; j += 4) {
        double a = (double)x[j] - (double)y[j], b = (double)x[j + 1] - (double)y[j + 1];
        double c = (double)x[j + 2] - (double)y[j + 2], e = (double)x[j + 3] - (double)y[j + 3];
        s0 += a * a;
        s1 += b * b;
        s2 += c * c;
        s3 += e * e;
    }
    for (; j < d; j++) {
        double a = (double)x[j] - (double)y[j];
        s0 += a * a;
    }
    return sqrt((s0 + s1) + (s2 + s3));
}

#endif
