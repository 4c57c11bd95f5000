/* The exact distance every search reports: the difference of two float rows
 * summed in double.  One definition, so the exact, incremental and
 * approximate searches give the same distance to the same pair, bit for bit.
 * Eight running sums in a fixed order (two doubles a vector, four vectors)
 * keep the multiply-adds from waiting on each other; the order depends only
 * on d, never on the data or the machine. */
#ifndef LG_KNN_DIST_H
#define LG_KNN_DIST_H

#include <math.h>
#include <stdint.h>
#include <string.h>

typedef float lgk_v2f __attribute__((vector_size(8)));
typedef double lgk_v2d __attribute__((vector_size(16)));

static inline lgk_v2d lgk_diff2(const float *x, const float *y)
{
    lgk_v2f a, b;
    memcpy(&a, x, sizeof a);
    memcpy(&b, y, sizeof b);
    return __builtin_convertvector(a, lgk_v2d) - __builtin_convertvector(b, lgk_v2d);
}

static inline double lgk_exact_dist(const float *x, const float *y, uint32_t d)
{
    lgk_v2d s0 = {0, 0}, s1 = {0, 0}, s2 = {0, 0}, s3 = {0, 0};
    uint32_t j = 0;
    for (; j + 8 <= d; j += 8) {
        lgk_v2d a = lgk_diff2(x + j, y + j), b = lgk_diff2(x + j + 2, y + j + 2);
        lgk_v2d c = lgk_diff2(x + j + 4, y + j + 4), e = lgk_diff2(x + j + 6, y + j + 6);
        s0 += a * a;
        s1 += b * b;
        s2 += c * c;
        s3 += e * e;
    }
    lgk_v2d s = (s0 + s1) + (s2 + s3);
    double t = 0;
    for (; j < d; j++) {
        double a = (double)x[j] - (double)y[j];
        t += a * a;
    }
    return sqrt((s[0] + s[1]) + t);
}

/* The sum of squares of x (float) in double: the lanes and order of
 * lgk_exact_dist, so it vectorizes and gives the same bits everywhere. */
static inline double lgk_sum_squares(const float *x, uint32_t d)
{
    lgk_v2d s0 = {0, 0}, s1 = {0, 0}, s2 = {0, 0}, s3 = {0, 0};
    uint32_t j = 0;
    for (; j + 8 <= d; j += 8) {
        lgk_v2f a, b, c, e;
        memcpy(&a, x + j, sizeof a);
        memcpy(&b, x + j + 2, sizeof b);
        memcpy(&c, x + j + 4, sizeof c);
        memcpy(&e, x + j + 6, sizeof e);
        lgk_v2d p = __builtin_convertvector(a, lgk_v2d), q = __builtin_convertvector(b, lgk_v2d);
        lgk_v2d r = __builtin_convertvector(c, lgk_v2d), t = __builtin_convertvector(e, lgk_v2d);
        s0 += p * p;
        s1 += q * q;
        s2 += r * r;
        s3 += t * t;
    }
    lgk_v2d s = (s0 + s1) + (s2 + s3);
    double t = 0;
    for (; j < d; j++)
        t += (double)x[j] * x[j];
    return (s[0] + s[1]) + t;
}

/* out = src - mu, elementwise in float (the same values a scalar loop gives). */
static inline void lgk_centre_row(const float *src, const float *mu, float *out, uint32_t d)
{
    typedef float v4 __attribute__((vector_size(16)));
    uint32_t j = 0;
    for (; j + 4 <= d; j += 4) {
        v4 a, m;
        memcpy(&a, src + j, sizeof a);
        memcpy(&m, mu + j, sizeof m);
        a -= m;
        memcpy(out + j, &a, sizeof a);
    }
    for (; j < d; j++)
        out[j] = src[j] - mu[j];
}

#endif
