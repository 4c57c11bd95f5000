/*
 * Approximate against exact kNN, run by hand:
 *   build/bench_approx N [D] [k] [kind] [threads] [cells] [nprobe]
 * kind: manifold (an 8-D manifold through a random nonlinear map) or
 * clusters (a mixture of 50 Gaussian clusters of 8-D spread).  Two "layers"
 * are made (the data, and an elementwise nonlinear map of it) so the overlap
 * between them can be compared too.  Prints seconds of both searches, their
 * ratio, recall@k over all rows, the TwoNN error and the overlap error.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "layergeom.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t rng = 12345;
static double unif(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1p-53;
}
static double gauss(void)
{
    return sqrt(-2 * log(unif() + 1e-300)) * cos(6.283185307179586 * unif());
}

static float *make(uint64_t n, uint32_t d, int clusters)
{
    float *x = malloc(n * d * sizeof *x);
    float *w = malloc(8 * (size_t)d * sizeof *w), *ph = malloc((size_t)d * sizeof *ph);
    float *cen = malloc(50 * (size_t)d * sizeof *cen);
    for (size_t i = 0; i < 8 * (size_t)d; i++)
        w[i] = (float)gauss();
    for (uint32_t j = 0; j < d; j++)
        ph[j] = (float)(6.28 * unif());
    for (size_t i = 0; i < 50 * (size_t)d; i++)
        cen[i] = (float)(4 * gauss());
    for (uint64_t i = 0; i < n; i++) {
        double z[8];
        for (int q = 0; q < 8; q++)
            z[q] = clusters ? 0.5 * gauss() : 2 * unif() - 1;
        int c = (int)(unif() * 50);
        for (uint32_t j = 0; j < d; j++) {
            double v = 0;
            for (int q = 0; q < 8; q++)
                v += z[q] * w[q * d + j];
            x[i * d + j] = clusters ? cen[c * d + j] + (float)v : (float)sin(v + ph[j]);
        }
    }
    free(w);
    free(ph);
    free(cen);
    return x;
}

/* A second "layer": an elementwise nonlinear map (neighbourhoods change some). */
static float *second_layer(const float *x, uint64_t n, uint32_t d)
{
    float *y = malloc(n * d * sizeof *y);
    for (uint64_t i = 0; i < n * d; i++)
        y[i] = (float)tanh(2.0 * x[i] + 0.5 * sin(3.0 * x[i]));
    return y;
}

static double approx_run(const float *x, uint64_t n, uint32_t d, lg_knn_opts *o, lg_knn *out,
                         lg_knn_check *chk)
{
    lg_error err;
    lg_knn_approx *a;
    double t = now();
    if (lg_knn_approx_open(d, o, &a, &err) || lg_knn_approx_add(a, x, n, &err) ||
        lg_knn_approx_finish(a, out, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    t = now() - t;
    lg_knn_approx_check(a, out, 500, chk, &err);
    uint32_t c, p;
    uint64_t pairs;
    lg_knn_approx_stats(a, &c, &p, &pairs);
    o->cells = c;
    o->nprobe = p;
    lg_knn_approx_close(a);
    return t;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 50000;
    uint32_t d = argc > 2 ? (uint32_t)atoi(argv[2]) : 768;
    uint32_t k = argc > 3 ? (uint32_t)atoi(argv[3]) : 32;
    int clusters = argc > 4 && strcmp(argv[4], "clusters") == 0;
    int threads = argc > 5 ? atoi(argv[5]) : 2;
    uint32_t cells = argc > 6 ? (uint32_t)atoi(argv[6]) : 0;
    uint32_t nprobe = argc > 7 ? (uint32_t)atoi(argv[7]) : 0;
    float *x = make(n, d, clusters), *y = second_layer(x, n, d);
    lg_knn ex, ey, ax, ay;
    lg_knn_opts eo = {.k = k, .threads = threads};
    lg_error err;
    double te = now();
    if (lg_knn_exact_matrix(x, n, d, &eo, &ex, &err) ||
        lg_knn_exact_matrix(y, n, d, &eo, &ey, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    te = (now() - te) / 2;
    lg_knn_opts ao = {.k = k, .threads = threads, .cells = cells, .nprobe = nprobe};
    lg_knn_check cx, cy;
    double ta = approx_run(x, n, d, &ao, &ax, &cx);
    lg_knn_opts ao2 = {.k = k, .threads = threads, .cells = cells, .nprobe = nprobe};
    ta = (ta + approx_run(y, n, d, &ao2, &ay, &cy)) / 2;
    double hit = 0;
    for (uint64_t i = 0; i < n; i++)
        for (uint32_t p = 0; p < k; p++)
            for (uint32_t q = 0; q < k; q++)
                if (ax.idx[i * k + p] == ex.idx[i * k + q]) {
                    hit++;
                    break;
                }
    lg_twonn_result te_x, ta_x;
    lg_twonn(&ex, NULL, &te_x, &err);
    lg_twonn(&ax, NULL, &ta_x, &err);
    double chi_e, chi_a;
    lg_overlap_data(&ex, &ey, k, &chi_e, &err);
    lg_overlap_data(&ax, &ay, k, &chi_a, &err);
    printf("%s N=%llu D=%u k=%u threads=%d cells=%u nprobe=%u: exact %.1f s, approx %.1f s "
           "(%.1fx faster); recall@%u %.4f (self-check %.4f); TwoNN exact %.3f approx %.3f "
           "(%.2f%%); chi exact %.4f approx %.4f (|diff| %.4f)\n",
           clusters ? "clusters" : "manifold", (unsigned long long)n, d, k, threads, ao.cells,
           ao.nprobe, te, ta, te / ta, k, hit / ((double)n * k), cx.recall, te_x.id, ta_x.id,
           100 * fabs(ta_x.id - te_x.id) / te_x.id, chi_e, chi_a, fabs(chi_a - chi_e));
    return 0;
}
