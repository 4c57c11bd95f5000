/* Estimators on known truths and hand-made neighbour lists. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static double twonn_of(const float *x, uint64_t n, uint32_t d)
{
    lg_knn nn;
    lg_knn_opts o = {.k = 2};
    lg_error err;
    assert_int_equal(lg_knn_exact_matrix(x, n, d, &o, &nn, &err), LG_OK);
    lg_twonn_result t;
    assert_int_equal(lg_twonn(&nn, NULL, &t, &err), LG_OK);
    lg_knn_free(&nn);
    return t.id;
}

/* Uniform points in a d-cube, rotated into a larger space by a random
 * orthogonal-ish map (Gram-Schmidt on Gaussian vectors). */
static float *cube(uint64_t n, uint32_t d, uint32_t D, uint64_t seed)
{
    double *basis = malloc((size_t)d * D * sizeof *basis);
    for (uint32_t a = 0; a < d; a++) {
        double *v = basis + (size_t)a * D;
        for (uint32_t j = 0; j < D; j++)
            v[j] = tu_normal(&seed);
        for (uint32_t b = 0; b < a; b++) {
            double dot = 0;
            for (uint32_t j = 0; j < D; j++)
                dot += v[j] * basis[(size_t)b * D + j];
            for (uint32_t j = 0; j < D; j++)
                v[j] -= dot * basis[(size_t)b * D + j];
        }
        double s = 0;
        for (uint32_t j = 0; j < D; j++)
            s += v[j] * v[j];
        for (uint32_t j = 0; j < D; j++)
            v[j] /= sqrt(s);
    }
    float *x = malloc(n * D * sizeof *x);
    for (uint64_t i = 0; i < n; i++) {
        double z[16];
        for (uint32_t a = 0; a < d; a++)
            z[a] = tu_uniform(&seed);
        for (uint32_t j = 0; j < D; j++) {
            double v = 0;
            for (uint32_t a = 0; a < d; a++)
                v += z[a] * basis[(size_t)a * D + j];
            x[i * D + j] = (float)v;
        }
    }
    free(basis);
    return x;
}

/* TwoNN's spread at N = 5000 is about d / sqrt(N) (0.15 at d = 10): the mean
 * of four independent samples keeps the 5 % test from being a coin toss. */
static double mean_twonn(float *(*make)(uint64_t, uint32_t, uint64_t, uint32_t *), uint32_t d)
{
    double s = 0;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        uint32_t D;
        float *x = make(5000, d, 1000 * d + seed, &D);
        s += twonn_of(x, 5000, D);
        free(x);
    }
    return s / 4;
}

static float *hard_cube(uint64_t n, uint32_t d, uint64_t seed, uint32_t *D)
{
    *D = 30;
    return cube(n, d, 30, seed);
}

/* A periodic d-cube (no walls): each coordinate t becomes
 * (cos 2 pi t, sin 2 pi t) / 2 pi, a flat torus whose short distances are the
 * cube's (at d = 10 and N = 5000 neighbours are too far apart for that: the
 * chords bend, so d = 10 is tested on a Gaussian instead). */
static float *torus(uint64_t n, uint32_t d, uint64_t seed, uint32_t *D)
{
    *D = 2 * d;
    float *x = malloc(n * *D * sizeof *x);
    for (uint64_t i = 0; i < n; i++)
        for (uint32_t a = 0; a < d; a++) {
            double t = 2 * M_PI * tu_uniform(&seed);
            x[i * *D + 2 * a] = (float)(cos(t) / (2 * M_PI));
            x[i * *D + 2 * a + 1] = (float)(sin(t) / (2 * M_PI));
        }
    return x;
}

/* Standard normal in d dimensions, rotated into 30. */
static float *gaussian(uint64_t n, uint32_t d, uint64_t seed, uint32_t *D)
{
    *D = 30;
    float *x = calloc(n * 30, sizeof *x);
    for (uint64_t i = 0; i < n; i++)
        for (uint32_t a = 0; a < d; a++)
            x[i * 30 + (a * 11) % 30] = (float)tu_normal(&seed);
    return x;
}

/* A d-sphere: d + 1 normalised Gaussian coordinates, spread over 40. */
static float *sphere(uint64_t n, uint32_t d, uint64_t seed, uint32_t *D)
{
    *D = 40;
    float *x = calloc(n * 40, sizeof *x);
    for (uint64_t i = 0; i < n; i++) {
        double v[16], s = 0;
        for (uint32_t a = 0; a <= d; a++) {
            v[a] = tu_normal(&seed);
            s += v[a] * v[a];
        }
        for (uint32_t a = 0; a <= d; a++)
            x[i * 40 + (a * 7) % 40] = (float)(v[a] / sqrt(s));
    }
    return x;
}

static void expect_dimension(double id, uint32_t d, double tol, const char *what)
{
    if (fabs(id - d) > tol * d)
        fail_msg("%s, d = %u: TwoNN %.3f, more than %.0f%% off", what, d, id, 100 * tol);
}

/* Flat manifolds without walls: within 5 %. */
static void flat_manifolds_give_their_dimension(void **state)
{
    (void)state;
    expect_dimension(mean_twonn(torus, 2), 2, 0.05, "periodic cube");
    expect_dimension(mean_twonn(torus, 5), 5, 0.05, "periodic cube");
    expect_dimension(mean_twonn(gaussian, 2), 2, 0.05, "Gaussian");
    expect_dimension(mean_twonn(gaussian, 5), 5, 0.05, "Gaussian");
    expect_dimension(mean_twonn(gaussian, 10), 10, 0.05, "Gaussian");
}

/* Walls and curvature bias TwoNN low at N = 5000 (measured over eight
 * samples each: 5-cube 4.75, 10-cube 8.7, 10-sphere 9.36); DADApy shares the
 * bias, being the same estimator.  The tolerances say how much we accept. */
static void walls_and_curvature(void **state)
{
    (void)state;
    expect_dimension(mean_twonn(hard_cube, 2), 2, 0.05, "uniform cube");
    expect_dimension(mean_twonn(hard_cube, 5), 5, 0.08, "uniform cube");
    expect_dimension(mean_twonn(sphere, 2), 2, 0.05, "sphere");
    expect_dimension(mean_twonn(sphere, 5), 5, 0.05, "sphere");
    expect_dimension(mean_twonn(sphere, 10), 10, 0.09, "sphere");
}

static void duplicates_policy(void **state)
{
    (void)state;
    double r1[6] = {0, 1, 1, 2, 0.5, 1}, r2[6] = {1, 2, 1.5, 3, 1, 4};
    lg_twonn_opts o;
    lg_twonn_opts_default(&o);
    lg_twonn_result t;
    lg_error err;
    assert_int_equal(lg_twonn_r(r1, r2, 6, &o, &t, &err), LG_OK);
    assert_int_equal(t.n_dropped, 1);
    assert_int_equal(t.n_used, 5);
    assert_true(isfinite(t.id) && t.id > 0);
    o.duplicates = LG_DUP_KEEP;
    assert_int_equal(lg_twonn_r(r1, r2, 6, &o, &t, &err), LG_EINPUT);
    assert_non_null(strstr(err.msg, "row 0"));
    /* all duplicates: a clear error, not 0 or NaN */
    double z[4] = {0, 0, 0, 0};
    o.duplicates = LG_DUP_DROP;
    assert_int_equal(lg_twonn_r(z, z, 4, &o, &t, &err), LG_EINPUT);
    /* ML by hand: (n - 1) / sum log mu */
    double a[3] = {1, 1, 1}, b[3] = {2, 4, 8};
    assert_int_equal(lg_twonn_r(a, b, 3, &o, &t, &err), LG_OK);
    assert_true(fabs(t.id_ml - 2.0 / (6 * log(2))) < 1e-12);
}

static void overlaps_by_hand(void **state)
{
    (void)state;
    /* 4 rows, k = 2 */
    uint32_t ia[8] = {1, 2, 0, 2, 3, 0, 2, 1}, ib[8] = {2, 1, 3, 2, 1, 0, 0, 1};
    double dd[8] = {0};
    lg_knn a = {.n = 4, .k = 2, .idx = ia, .dist = dd}, b = {.n = 4, .k = 2, .idx = ib, .dist = dd};
    double v;
    lg_error err;
    assert_int_equal(lg_overlap_data(&a, &b, 2, &v, &err), LG_OK);
    /* rows: {1,2}v{2,1} 2, {0,2}v{3,2} 1, {3,0}v{1,0} 1, {2,1}v{0,1} 1 -> (1 + .5 + .5 + .5) / 4 */
    assert_true(fabs(v - 2.5 / 4) < 1e-12);
    assert_int_equal(lg_overlap_data(&a, &b, 3, &v, &err), LG_EUSAGE);
    int64_t lab[4] = {7, 7, 7, 9};
    lg_label_overlap lo;
    assert_int_equal(lg_overlap_labels(&a, lab, 2, 0, &lo, &err), LG_OK);
    /* row 0: 1,2 same (1); row 1: 0 same, 2 same (1); row 2: 3 no, 0 yes (.5); row 3: 2,1 no (0) */
    assert_true(fabs(lo.unweighted - 2.5 / 4) < 1e-12);
    /* class 7 mean 2.5/3, class 9 mean 0: weighted mean of the classes */
    assert_true(fabs(lo.class_weighted - (2.5 / 3 + 0) / 2) < 1e-12);
}

static void recommended_layer(void **state)
{
    (void)state;
    lg_recommendation r;
    /* rise, peak, fall to a plateau, rise again (an image model) */
    double id1[8] = {10, 18, 25, 20, 12, 9.2, 9.0, 14};
    assert_int_equal(lg_recommend_layer(id1, NULL, 8, 0.05, &r), LG_OK);
    assert_int_equal(r.peak, 2);
    assert_int_equal(r.index, 6);
    assert_int_equal(r.plateau_first, 5);
    assert_int_equal(r.plateau_last, 6);
    assert_non_null(strstr(r.reason, "peak"));
    /* a small wiggle before the real peak is not a peak */
    double id2[7] = {10, 10.2, 10.1, 20, 30, 12, 11};
    assert_int_equal(lg_recommend_layer(id2, NULL, 7, 0.05, &r), LG_OK);
    assert_int_equal(r.peak, 4);
    assert_int_equal(r.index, 6);
    /* with error bars, a dip inside them does not confirm a peak */
    double id3[5] = {10, 20, 19, 30, 15}, e3[5] = {1, 1, 1, 1, 1};
    assert_int_equal(lg_recommend_layer(id3, e3, 5, 0.01, &r), LG_OK);
    assert_int_equal(r.peak, 3);
    assert_int_equal(r.index, 4);
    /* no peak at all */
    double id4[4] = {5, 6, 7, 8};
    assert_int_equal(lg_recommend_layer(id4, NULL, 4, 0.05, &r), LG_OK);
    assert_int_equal(r.peak, -1);
    assert_int_equal(r.index, 0);
    assert_non_null(strstr(r.reason, "no peak"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(flat_manifolds_give_their_dimension),
        cmocka_unit_test(walls_and_curvature),
        cmocka_unit_test(duplicates_policy),
        cmocka_unit_test(overlaps_by_hand),
        cmocka_unit_test(recommended_layer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
