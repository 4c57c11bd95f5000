/* What the benchmarks share: a clock, a random source, and OpenBLAS sgemm's
 * own rate on this machine now, the baseline every figure is a ratio to. */
#ifndef LG_BENCH_COMMON_H
#define LG_BENCH_COMMON_H

#include <cblas.h>
#include <stdlib.h>
#include <time.h>

static inline double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static inline double unif(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1p-53;
}

/* The best of 3 runs of an m x m x d product, GFLOP/s (2 m^2 d flops). */
static inline double sgemm_rate(int threads, int m, int d)
{
    float *a = malloc((size_t)m * d * sizeof *a), *c = malloc((size_t)m * m * sizeof *c);
    for (size_t i = 0; i < (size_t)m * d; i++)
        a[i] = (float)unif();
    openblas_set_num_threads(threads);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, m, d, 1, a, d, a, d, 0, c, m);
    double best = 0;
    for (int r = 0; r < 3; r++) {
        double t = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, m, d, 1, a, d, a, d, 0, c, m);
        t = now() - t;
        double rate = 2.0 * m * m * d / t / 1e9;
        best = rate > best ? rate : best;
    }
    free(a);
    free(c);
    return best;
}

#endif
