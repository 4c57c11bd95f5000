/*
 * Exact kNN speed, run by hand:  build/bench_knn N [D] [k] [threads] [tile]
 *
 * Random low-rank data (N x D float32).  Prints seconds, the work rate
 * counted as 2 N^2 D / t (GFLOP/s-equivalent: the full distance matrix, as a
 * plain GEMM would compute it), and, in the same run, OpenBLAS sgemm's own
 * rate on a 4096 x 4096 x D product with the same thread count, so the
 * ratio is measured against this machine as it is now.
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "layergeom.h"

#include "bench_common.h"

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
    uint32_t d = argc > 2 ? (uint32_t)atoi(argv[2]) : 1280;
    uint32_t k = argc > 3 ? (uint32_t)atoi(argv[3]) : 32;
    int threads = argc > 4 ? atoi(argv[4]) : 2;
    uint32_t tile = argc > 5 ? (uint32_t)atoi(argv[5]) : 0;
    float *x = malloc(n * d * sizeof *x);
    /* 16-dimensional signal through a random linear map, plus a little noise */
    float *basis = malloc(16 * (size_t)d * sizeof *basis);
    for (size_t i = 0; i < 16 * (size_t)d; i++)
        basis[i] = (float)(unif() - 0.5);
    for (uint64_t i = 0; i < n; i++) {
        float z[16];
        for (int q = 0; q < 16; q++)
            z[q] = (float)(unif() * 2 - 1);
        for (uint32_t j = 0; j < d; j++) {
            float v = 0.01f * (float)(unif() - 0.5);
            for (int q = 0; q < 16; q++)
                v += z[q] * basis[q * d + j];
            x[i * d + j] = v;
        }
    }
    double peak = sgemm_rate(threads, 4096, (int)d);
    lg_knn_opts o = {.k = k, .threads = threads, .tile = tile};
    lg_knn out;
    lg_error err;
    double t = now();
    if (lg_knn_exact_matrix(x, n, d, &o, &out, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    t = now() - t;
    double rate = 2.0 * (double)n * (double)n * d / t / 1e9;
    printf("N=%llu D=%u k=%u threads=%d tile=%u: %.2f s, %.1f GFLOP/s-equivalent "
           "(2 N^2 D / t); sgemm %.1f GFLOP/s in this run; ratio %.2f; rescanned rows %llu\n",
           (unsigned long long)n, d, k, threads, tile, t, rate, peak, rate / peak,
           (unsigned long long)out.n_rescanned);
    lg_knn_free(&out);
    free(x);
    free(basis);
    return 0;
}
