/* Exact kNN against brute force in double precision: ties, duplicates,
 * large offsets, every tile size, thread count and memory budget. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

typedef struct ref {
    double d;
    uint32_t j;
} ref;

static int cmp_ref(const void *a, const void *b)
{
    const ref *x = a, *y = b;
    if (x->d != y->d)
        return x->d < y->d ? -1 : 1;
    return x->j < y->j ? -1 : x->j > y->j;
}

/* Brute force: every distance in double, sorted by (distance, index). */
static void brute(const float *x, uint64_t n, uint32_t d, uint32_t k, uint32_t *idx, double *dist)
{
    ref *all = malloc(n * sizeof *all);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t m = 0;
        for (uint64_t j = 0; j < n; j++) {
            if (j == i)
                continue;
            double s = 0;
            for (uint32_t c = 0; c < d; c++) {
                double t = (double)x[i * d + c] - (double)x[j * d + c];
                s += t * t;
            }
            all[m].d = sqrt(s);
            all[m].j = (uint32_t)j;
            m++;
        }
        qsort(all, m, sizeof *all, cmp_ref);
        for (uint32_t q = 0; q < k; q++) {
            idx[i * k + q] = all[q].j;
            dist[i * k + q] = all[q].d;
        }
    }
    free(all);
}

static void check_equal(const lg_knn *got, const uint32_t *idx, const double *dist, uint64_t n,
                        uint32_t k, const char *what)
{
    for (uint64_t i = 0; i < n * k; i++) {
        if (got->idx[i] != idx[i] || fabs(got->dist[i] - dist[i]) > 1e-12 * (1 + dist[i]))
            fail_msg("%s: row %llu, neighbour %llu: got %u at %.17g, expected %u at %.17g", what,
                     (unsigned long long)(i / k), (unsigned long long)(i % k), got->idx[i],
                     got->dist[i], idx[i], dist[i]);
    }
}

/* Integer coordinates in a small range: many exactly tied distances; and
 * some rows repeated exactly. */
static float *tied_data(uint64_t n, uint32_t d, uint64_t seed)
{
    float *x = malloc(n * d * sizeof *x);
    for (uint64_t i = 0; i < n * d; i++)
        x[i] = (float)(tu_rand(&seed) % 4);
    for (uint64_t i = 0; i < n / 10; i++) {
        uint64_t a = tu_rand(&seed) % n, b = tu_rand(&seed) % n;
        memcpy(x + a * d, x + b * d, d * sizeof *x);
    }
    return x;
}

static void run_case(const float *x, uint64_t n, uint32_t d, uint32_t k, const char *name)
{
    uint32_t *idx = malloc(n * k * sizeof *idx);
    double *dist = malloc(n * k * sizeof *dist);
    brute(x, n, d, k, idx, dist);
    uint32_t tiles[] = {0, 1, 7, 64, 1000};
    int threads[] = {1, 2, 3};
    for (size_t t = 0; t < sizeof tiles / sizeof tiles[0]; t++)
        for (size_t h = 0; h < 3; h++) {
            lg_knn_opts o = {.k = k, .threads = threads[h], .tile = tiles[t]};
            lg_knn got;
            lg_error err;
            if (lg_knn_exact_matrix(x, n, d, &o, &got, &err) != LG_OK)
                fail_msg("%s: %s", name, err.msg);
            char what[128];
            snprintf(what, sizeof what, "%s tile %u threads %d", name, tiles[t], threads[h]);
            check_equal(&got, idx, dist, n, k, what);
            lg_knn_free(&got);
        }
    free(idx);
    free(dist);
}

static void ties_and_duplicates(void **state)
{
    (void)state;
    float *x = tied_data(600, 5, 11);
    run_case(x, 600, 5, 1, "ties k=1");
    run_case(x, 600, 5, 10, "ties k=10");
    run_case(x, 600, 5, 40, "ties k=40");
    free(x);
}

static void gaussian_far_from_origin(void **state)
{
    (void)state;
    uint64_t n = 500, s = 5;
    uint32_t d = 64;
    float *x = malloc(n * d * sizeof *x);
    for (uint64_t i = 0; i < n * d; i++)
        x[i] = (float)(1000.0 + tu_normal(&s)); /* the GEMM form would cancel badly */
    run_case(x, n, d, 16, "offset gaussian");
    free(x);
}

/* A row provider that hands out rows of a matrix, as the store does. */
typedef struct src {
    const float *x;
    uint32_t d;
    int calls;
} src;

static int rows_of(void *ctx, uint64_t r0, size_t n, float *out, lg_error *err)
{
    (void)err;
    src *s = ctx;
    s->calls++;
    memcpy(out, s->x + r0 * s->d, n * s->d * sizeof *out);
    return LG_OK;
}

/* Tight clusters far from the centre in many dimensions: the GEMM's bound
 * cannot decide most rows' k-th neighbour, so most rows are scanned again
 * exactly (by DGEMM, knn/scan.c); the lists still equal brute force, in one
 * panel and in several, and with a row left out for NaN. */
static void thin_margins_are_rescanned(void **state)
{
    (void)state;
    uint64_t n = 1200, seed = 17;
    uint32_t d = 192, k = 12;
    float *x = malloc(n * d * sizeof *x), cen[6][192];
    for (int c = 0; c < 6; c++)
        for (uint32_t j = 0; j < d; j++)
            cen[c][j] = (float)(40 * tu_normal(&seed));
    for (uint64_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < d; j++)
            x[i * d + j] = cen[i % 6][j] + (float)(0.5 * tu_normal(&seed));
    run_case(x, n, d, k, "thin margins");
    uint32_t *idx = malloc(n * k * sizeof *idx);
    double *dist = malloc(n * k * sizeof *dist);
    brute(x, n, d, k, idx, dist);
    uint64_t budgets[] = {0, 1500000};
    for (size_t b = 0; b < 2; b++) {
        src s = {x, d, 0};
        lg_knn_opts o = {.k = k, .threads = 2, .tile = 128, .memory = budgets[b]};
        lg_knn got;
        lg_error err;
        if (lg_knn_exact(n, d, rows_of, &s, &o, &got, &err) != LG_OK)
            fail_msg("budget %llu: %s", (unsigned long long)budgets[b], err.msg);
        if (got.n_rescanned < n / 4)
            fail_msg("only %llu of %llu rows rescanned: the case does not test the rescan",
                     (unsigned long long)got.n_rescanned, (unsigned long long)n);
        if (budgets[b])
            assert_true(got.panels > 1);
        check_equal(&got, idx, dist, n, k, budgets[b] ? "rescan, panels" : "rescan");
        lg_knn_free(&got);
    }
    free(idx);
    free(dist);
    free(x);
}

static void small_budget_uses_panels(void **state)
{
    (void)state;
    uint64_t n = 900;
    uint32_t d = 32, k = 12;
    float *x = tied_data(n, d, 3);
    uint32_t *idx = malloc(n * k * sizeof *idx);
    double *dist = malloc(n * k * sizeof *dist);
    brute(x, n, d, k, idx, dist);
    uint64_t budgets[] = {0, 600000, 545000};
    for (size_t b = 0; b < 3; b++) {
        src s = {x, d, 0};
        lg_knn_opts o = {.k = k, .threads = 2, .tile = 64, .memory = budgets[b]};
        lg_knn got;
        lg_error err;
        if (lg_knn_exact(n, d, rows_of, &s, &o, &got, &err) != LG_OK)
            fail_msg("budget %llu: %s", (unsigned long long)budgets[b], err.msg);
        if (budgets[b])
            assert_true(got.panels > 1);
        else
            assert_int_equal(s.calls, 1); /* a layer that fits is read once */
        check_equal(&got, idx, dist, n, k, "panels");
        lg_knn_free(&got);
    }
    /* a budget too small for the lists themselves is refused, clearly */
    src s = {x, d, 0};
    lg_knn_opts o = {.k = k, .memory = 1000};
    lg_knn got;
    lg_error err;
    assert_int_equal(lg_knn_exact(n, d, rows_of, &s, &o, &got, &err), LG_ENOMEM);
    assert_non_null(strstr(err.msg, "too small"));
    /* the published need is exact: the least budget runs (in panels), a byte
     * less is refused; the whole budget reads the layer once */
    for (int threads = 1; threads <= 2; threads++) {
        lg_knn_opts e = {.k = k, .threads = threads};
        uint64_t least, whole;
        lg_knn_exact_estimate_memory(n, d, &e, &least, &whole);
        assert_true(least < whole);
        e.memory = least;
        src s2 = {x, d, 0};
        if (lg_knn_exact(n, d, rows_of, &s2, &e, &got, &err) != LG_OK)
            fail_msg("the estimated least budget %llu: %s", (unsigned long long)least, err.msg);
        assert_true(got.panels > 1);
        check_equal(&got, idx, dist, n, k, "least budget");
        lg_knn_free(&got);
        e.memory = least - 1;
        assert_int_equal(lg_knn_exact(n, d, rows_of, &s2, &e, &got, &err), LG_ENOMEM);
        e.memory = whole;
        src s3 = {x, d, 0};
        assert_int_equal(lg_knn_exact(n, d, rows_of, &s3, &e, &got, &err), LG_OK);
        assert_int_equal(got.panels, 1);
        assert_int_equal(s3.calls, 1);
        lg_knn_free(&got);
    }
    /* the approximate search: its least budget runs, a byte less does not */
    lg_knn_opts a = {.k = k, .threads = 2};
    uint64_t least, whole;
    lg_knn_approx_estimate_memory(n, d, &a, &least, &whole);
    assert_true(least < whole);
    a.memory = least;
    lg_knn_approx *ap;
    assert_int_equal(lg_knn_approx_open(d, &a, &ap, &err), LG_OK);
    if (lg_knn_approx_add(ap, x, n, &err) != LG_OK)
        fail_msg("the estimated least approx budget %llu: %s", (unsigned long long)least, err.msg);
    lg_knn_approx_close(ap);
    a.memory = least - 1;
    assert_int_equal(lg_knn_approx_open(d, &a, &ap, &err), LG_OK);
    assert_int_equal(lg_knn_approx_add(ap, x, n, &err), LG_ENOMEM);
    lg_knn_approx_close(ap);
    free(idx);
    free(dist);
    free(x);
}

static void duplicates_are_neighbours_at_zero(void **state)
{
    (void)state;
    float x[4 * 2] = {1, 1, 1, 1, 5, 5, 1, 1}; /* rows 0, 1, 3 identical */
    lg_knn_opts o = {.k = 2};
    lg_knn got;
    lg_error err;
    assert_int_equal(lg_knn_exact_matrix(x, 4, 2, &o, &got, &err), LG_OK);
    assert_int_equal(got.idx[0], 1);
    assert_int_equal(got.idx[1], 3);
    assert_true(got.dist[0] == 0 && got.dist[1] == 0);
    assert_int_equal(got.idx[2 * 2], 0); /* row 2's nearest: the duplicates, by index */
    assert_int_equal(got.n_zero, 3);
    lg_knn_free(&got);
}

static void incremental_equals_batch(void **state)
{
    (void)state;
    uint64_t n = 700;
    uint32_t d = 6, k = 10;
    float *x = tied_data(n, d, 21);
    /* a large offset too, so the fixed centre (first block's mean) matters */
    for (uint64_t i = 0; i < n * d; i++)
        x[i] += 100;
    uint32_t *idx = malloc(n * k * sizeof *idx);
    double *dist = malloc(n * k * sizeof *dist);
    brute(x, n, d, k, idx, dist);
    size_t blocks[] = {1, 7, 100, 700};
    uint32_t tiles[] = {0, 16};
    for (size_t b = 0; b < 4; b++)
        for (size_t t = 0; t < 2; t++) {
            lg_knn_opts o = {.k = k, .threads = 2, .tile = tiles[t]};
            lg_knn_inc *inc;
            lg_error err;
            assert_int_equal(lg_knn_inc_open(d, &o, &inc, &err), LG_OK);
            for (uint64_t r = 0; r < n; r += blocks[b]) {
                uint64_t m = n - r < blocks[b] ? n - r : blocks[b];
                if (lg_knn_inc_add(inc, x + r * d, m, &err))
                    fail_msg("%s", err.msg);
                if (r == 350) {
                    /* a look at the lists midway does not disturb the rest */
                    lg_knn mid;
                    assert_int_equal(lg_knn_inc_finish(inc, &mid, &err), LG_OK);
                    lg_knn_free(&mid);
                }
            }
            assert_int_equal(lg_knn_inc_rows(inc), n);
            lg_knn got;
            if (lg_knn_inc_finish(inc, &got, &err))
                fail_msg("%s", err.msg);
            char what[64];
            snprintf(what, sizeof what, "incremental, blocks of %zu, tile %u", blocks[b], tiles[t]);
            check_equal(&got, idx, dist, n, k, what);
            lg_knn_free(&got);
            lg_knn_inc_close(inc);
        }
    /* over budget: refused, clearly */
    lg_knn_opts o = {.k = k, .memory = 100000};
    lg_knn_inc *inc;
    lg_error err;
    assert_int_equal(lg_knn_inc_open(d, &o, &inc, &err), LG_OK);
    assert_int_equal(lg_knn_inc_add(inc, x, n, &err), LG_ENOMEM);
    assert_non_null(strstr(err.msg, "budget"));
    lg_knn_inc_close(inc);
    free(idx);
    free(dist);
    free(x);
}

static void seeded_case(int set);

/* Rows whose lists are known (lg_knn_inc_seed, a layer that grew) and rows
 * added after them: the lists equal a batch search, on tied and duplicated
 * rows and on Gaussian rows, both far from the origin, for seeds of a few
 * rows to almost all, added in one block or several. */
static void seeded_equals_batch(void **state)
{
    (void)state;
    for (int set = 0; set < 2; set++)
        seeded_case(set);
}

static void seeded_case(int set)
{
    uint64_t n = 900;
    uint32_t d = 5, k = 12;
    float *x = tied_data(n, d, 33);
    uint64_t g = 8;
    for (uint64_t i = 0; i < n * d; i++)
        x[i] = (float)(set ? 50 + tu_normal(&g) : x[i] + 50);
    uint32_t *idx = malloc(n * k * sizeof *idx);
    double *dist = malloc(n * k * sizeof *dist);
    brute(x, n, d, k, idx, dist);
    uint64_t seeds[] = {20, 450, 880};
    for (size_t s = 0; s < 3; s++)
        for (int blocks = 1; blocks <= 3; blocks += 2) {
            lg_knn_opts o = {.k = k, .threads = 2};
            lg_knn known;
            lg_error err;
            assert_int_equal(lg_knn_exact_matrix(x, seeds[s], d, &o, &known, &err), LG_OK);
            lg_knn_inc *inc;
            assert_int_equal(lg_knn_inc_open(d, &o, &inc, &err), LG_OK);
            assert_int_equal(lg_knn_inc_seed(inc, x, seeds[s], &known, &err), LG_OK);
            uint64_t rest = n - seeds[s], step = (rest + blocks - 1) / blocks;
            for (uint64_t r = seeds[s]; r < n; r += step) {
                uint64_t m = n - r < step ? n - r : step;
                if (lg_knn_inc_add(inc, x + r * d, m, &err))
                    fail_msg("%s", err.msg);
            }
            lg_knn got;
            if (lg_knn_inc_finish(inc, &got, &err))
                fail_msg("%s", err.msg);
            char what[64];
            snprintf(what, sizeof what, "set %d seeded with %llu rows, %d blocks", set,
                     (unsigned long long)seeds[s], blocks);
            check_equal(&got, idx, dist, n, k, what);
            lg_knn_free(&got);
            lg_knn_free(&known);
            lg_knn_inc_close(inc);
        }
    free(idx);
    free(dist);
    free(x);
}

/* Clusters of different sizes on a curved 6-dimensional manifold in 48-D. */
static float *clustered(uint64_t n, uint32_t d, uint64_t seed)
{
    float *x = malloc(n * d * sizeof *x);
    float centre[12][48];
    for (int c = 0; c < 12; c++)
        for (uint32_t j = 0; j < d; j++)
            centre[c][j] = (float)(3 * tu_normal(&seed));
    for (uint64_t i = 0; i < n; i++) {
        int c = (int)(tu_rand(&seed) % 12);
        double z[6];
        for (int q = 0; q < 6; q++)
            z[q] = tu_normal(&seed);
        for (uint32_t j = 0; j < d; j++)
            x[i * d + j] = centre[c][j] + (float)sin(z[j % 6] + 0.3 * j) +
                           (float)(0.01 * tu_normal(&seed));
    }
    return x;
}

/* The mean fraction of a row's neighbours in a that are among its neighbours in e. */
static double recall_of(const lg_knn *a, const lg_knn *e)
{
    double hit = 0;
    for (uint64_t i = 0; i < a->n; i++)
        for (uint32_t p = 0; p < a->k; p++)
            for (uint32_t q = 0; q < a->k; q++)
                if (a->idx[i * a->k + p] == e->idx[i * e->k + q]) {
                    hit++;
                    break;
                }
    return hit / (double)(a->n * a->k);
}

/* No clusters: an 8-dimensional cube through a smooth random map into d. */
static float *manifold(uint64_t n, uint32_t d, uint64_t seed)
{
    float *x = malloc(n * d * sizeof *x), w[8][64], ph[64];
    for (int q = 0; q < 8; q++)
        for (uint32_t j = 0; j < d; j++)
            w[q][j] = (float)tu_normal(&seed);
    for (uint32_t j = 0; j < d; j++)
        ph[j] = (float)(6.28 * tu_uniform(&seed));
    for (uint64_t i = 0; i < n; i++) {
        double z[8];
        for (int q = 0; q < 8; q++)
            z[q] = 2 * tu_uniform(&seed) - 1;
        for (uint32_t j = 0; j < d; j++) {
            double v = ph[j];
            for (int q = 0; q < 8; q++)
                v += z[q] * w[q][j];
            x[i * d + j] = (float)sin(v);
        }
    }
    return x;
}

/* Runs the approximate search over x in one block or two (the second from
 * row split on) and returns its lists. */
static void approx_run(const float *x, uint64_t n, uint64_t split, uint32_t d,
                       const lg_knn_opts *o, lg_knn *out)
{
    lg_knn_approx *a;
    lg_error err;
    assert_int_equal(lg_knn_approx_open(d, o, &a, &err), LG_OK);
    assert_int_equal(lg_knn_approx_add(a, x, split, &err), LG_OK);
    if (split < n)
        assert_int_equal(lg_knn_approx_add(a, x + split * d, n - split, &err), LG_OK);
    if (lg_knn_approx_finish(a, out, &err))
        fail_msg("%s", err.msg);
    lg_knn_approx_close(a);
}

/* The target-recall mode: too few probes at first; the self-check's recall
 * doubles them until the target is met, and the lists are then those of a
 * search that had the final probes from the start, also after more rows. */
static void approximate_target_recall(void **state)
{
    (void)state;
    uint64_t n = 6000, first = 4000;
    uint32_t d = 48, k = 16;
    float *x = clustered(n, d, 21);
    lg_knn exact, got, direct;
    lg_knn_opts eo = {.k = k};
    lg_error err;
    assert_int_equal(lg_knn_exact_matrix(x, first, d, &eo, &exact, &err), LG_OK);
    lg_knn_opts o = {.k = k, .threads = 2, .cells = 100, .nprobe = 1};
    lg_knn_approx *a;
    assert_int_equal(lg_knn_approx_open(d, &o, &a, &err), LG_OK);
    assert_int_equal(lg_knn_approx_add(a, x, first, &err), LG_OK);
    lg_knn_check chk;
    if (lg_knn_approx_tune(a, 0.99, 400, &got, &chk, &err))
        fail_msg("%s", err.msg);
    double truth = recall_of(&got, &exact);
    if (chk.recall < 0.99 || truth < 0.98)
        fail_msg("target 0.99: sample recall %.4f, true recall %.4f", chk.recall, truth);
    assert_string_equal(chk.note, "");
    assert_int_equal(chk.nprobe_first, 1);
    assert_int_equal(chk.cells, 100);
    assert_true(chk.nprobe > 1 && chk.rounds >= 2);
    assert_true(chk.recall_se > 0 && chk.recall_se < 0.01);
    /* the widened lists equal a search with the final probes from the start */
    lg_knn_opts wide = o;
    wide.nprobe = chk.nprobe;
    approx_run(x, first, first, d, &wide, &direct);
    assert_memory_equal(got.idx, direct.idx, first * k * sizeof *got.idx);
    assert_memory_equal(got.dist, direct.dist, first * k * sizeof *got.dist);
    lg_knn_free(&direct);
    lg_knn_free(&got);
    /* rows added after the widening are searched with the wider probes */
    assert_int_equal(lg_knn_approx_add(a, x + first * d, n - first, &err), LG_OK);
    assert_int_equal(lg_knn_approx_finish(a, &got, &err), LG_OK);
    approx_run(x, n, first, d, &wide, &direct);
    assert_memory_equal(got.idx, direct.idx, n * k * sizeof *got.idx);
    lg_knn_free(&direct);
    lg_knn_free(&got);
    lg_knn_approx_close(a);
    /* a target beyond what all cells give is not met, and says why */
    o.cells = 4;
    o.nprobe = 4;
    assert_int_equal(lg_knn_approx_open(d, &o, &a, &err), LG_OK);
    assert_int_equal(lg_knn_approx_add(a, x, first, &err), LG_OK);
    assert_int_equal(lg_knn_approx_tune(a, 1.01, 200, &got, &chk, &err), LG_OK);
    assert_int_equal(chk.nprobe, 4);
    assert_false(chk.exact_cheaper);
    assert_non_null(strstr(chk.note, "all 4 cells are probed"));
    if (recall_of(&got, &exact) < 0.999)
        fail_msg("every cell probed: recall %.4f", recall_of(&got, &exact));
    lg_knn_free(&got);
    lg_knn_approx_close(a);
    /* with few, big cells one more round would compute more distances than
     * an exact search: the search stops and says the exact one is cheaper */
    o.nprobe = 1;
    assert_int_equal(lg_knn_approx_open(d, &o, &a, &err), LG_OK);
    assert_int_equal(lg_knn_approx_add(a, x, first, &err), LG_OK);
    assert_int_equal(lg_knn_approx_tune(a, 1.01, 200, &got, &chk, &err), LG_OK);
    assert_true(chk.exact_cheaper);
    assert_true(chk.pairs >= first * (first - 1) / 4);
    assert_non_null(strstr(chk.note, "cost more than an exact search"));
    lg_knn_free(&got);
    lg_knn_approx_close(a);
    lg_knn_free(&exact);
    free(x);
}

static void approximate_recall_on_a_manifold(void **state)
{
    (void)state;
    uint64_t n = 8000;
    uint32_t d = 64, k = 16;
    float *x = manifold(n, d, 8);
    lg_knn exact, one;
    lg_knn_opts o = {.k = k, .threads = 2};
    lg_error err;
    assert_int_equal(lg_knn_exact_matrix(x, n, d, &o, &exact, &err), LG_OK);
    lg_knn_approx *a;
    assert_int_equal(lg_knn_approx_open(d, &o, &a, &err), LG_OK);
    assert_int_equal(lg_knn_approx_add(a, x, n, &err), LG_OK);
    assert_int_equal(lg_knn_approx_finish(a, &one, &err), LG_OK);
    double recall = recall_of(&one, &exact);
    if (recall < 0.95)
        fail_msg("recall %.3f with the default knobs", recall);
    /* fewer probes must cost recall: the knob is real */
    lg_knn_approx_close(a);
    lg_knn few;
    o.nprobe = 1;
    assert_int_equal(lg_knn_approx_open(d, &o, &a, &err), LG_OK);
    assert_int_equal(lg_knn_approx_add(a, x, n, &err), LG_OK);
    assert_int_equal(lg_knn_approx_finish(a, &few, &err), LG_OK);
    assert_true(recall_of(&few, &exact) < recall - 0.05);
    lg_knn_approx_close(a);
    lg_knn_free(&few);
    /* a large common offset (+1e4 on every coordinate, as real activations
     * can have): the cells are found in centred coordinates, so the recall
     * is the same (it was 0.05 when k-means saw the raw rows) */
    for (uint64_t i = 0; i < n * d; i++)
        x[i] += 1e4f;
    o.nprobe = 0;
    assert_int_equal(lg_knn_approx_open(d, &o, &a, &err), LG_OK);
    assert_int_equal(lg_knn_approx_add(a, x, n, &err), LG_OK);
    assert_int_equal(lg_knn_approx_finish(a, &few, &err), LG_OK);
    double shifted = recall_of(&few, &exact);
    if (shifted < recall - 0.02)
        fail_msg("recall %.3f with an offset of 1e4, %.3f without", shifted, recall);
    lg_knn_approx_close(a);
    lg_knn_free(&few);
    lg_knn_free(&one);
    lg_knn_free(&exact);
    free(x);
}

static void approximate_recall_and_incremental(void **state)
{
    (void)state;
    uint64_t n = 6000;
    uint32_t d = 48, k = 16;
    float *x = clustered(n, d, 5);
    lg_knn exact;
    lg_knn_opts eo = {.k = k};
    lg_error err;
    assert_int_equal(lg_knn_exact_matrix(x, n, d, &eo, &exact, &err), LG_OK);
    /* default knobs */
    lg_knn_opts o = {.k = k, .threads = 2};
    lg_knn_approx *a;
    assert_int_equal(lg_knn_approx_open(d, &o, &a, &err), LG_OK);
    assert_int_equal(lg_knn_approx_add(a, x, n, &err), LG_OK);
    lg_knn one;
    if (lg_knn_approx_finish(a, &one, &err))
        fail_msg("%s", err.msg);
    double recall = recall_of(&one, &exact);
    if (recall < 0.95)
        fail_msg("recall %.3f with the default knobs", recall);
    /* the self-check agrees with the truth */
    lg_knn_check chk;
    assert_int_equal(lg_knn_approx_check(a, &one, 300, &chk, &err), LG_OK);
    assert_int_equal(chk.rows, 300);
    assert_true(fabs(chk.recall - recall) < 0.05);
    assert_true(chk.twonn_rel_err < 0.05);
    /* distances of what was found are exact */
    for (uint64_t i = 0; i < n; i++)
        if (one.idx[i * k] == exact.idx[i * k])
            assert_true(one.dist[i * k] == exact.dist[i * k]);
    uint32_t cells, nprobe;
    uint64_t pairs;
    lg_knn_approx_stats(a, &cells, &nprobe, &pairs);
    assert_true(cells > 50 && nprobe >= 8 && pairs > 0);
    lg_knn_approx_close(a);
    lg_knn_free(&one);
    /* block by block with the same knobs: the same lists as in one go (the
     * first block holds the 40 x cells rows k-means trains on) */
    o.cells = 100;
    o.nprobe = 12;
    assert_int_equal(lg_knn_approx_open(d, &o, &a, &err), LG_OK);
    assert_int_equal(lg_knn_approx_add(a, x, n, &err), LG_OK);
    assert_int_equal(lg_knn_approx_finish(a, &one, &err), LG_OK);
    lg_knn_approx_close(a);
    assert_int_equal(lg_knn_approx_open(d, &o, &a, &err), LG_OK);
    uint64_t first = 4000;
    assert_int_equal(lg_knn_approx_add(a, x, first, &err), LG_OK);
    for (uint64_t r = first; r < n; r += 777) {
        uint64_t m = n - r < 777 ? n - r : 777;
        assert_int_equal(lg_knn_approx_add(a, x + r * d, m, &err), LG_OK);
    }
    lg_knn inc;
    if (lg_knn_approx_finish(a, &inc, &err))
        fail_msg("%s", err.msg);
    assert_memory_equal(inc.idx, one.idx, n * k * sizeof *inc.idx);
    assert_memory_equal(inc.dist, one.dist, n * k * sizeof *inc.dist);
    assert_false(lg_knn_approx_on_disk(a));
    lg_knn_approx_close(a);
    lg_knn_free(&inc);
    /* a budget that holds the lists but not the rows: they go to a scratch
     * file, block by block, and the lists are the same */
    o.memory = 17u << 19; /* 8.5 MiB: 8.2 for the lists and buffers, 1.2 more for the rows */
    o.scratch_dir = tu_dir;
    assert_int_equal(lg_knn_approx_open(d, &o, &a, &err), LG_OK);
    assert_int_equal(lg_knn_approx_add(a, x, first, &err), LG_OK);
    for (uint64_t r = first; r < n; r += 777) {
        uint64_t m = n - r < 777 ? n - r : 777;
        assert_int_equal(lg_knn_approx_add(a, x + r * d, m, &err), LG_OK);
    }
    if (lg_knn_approx_finish(a, &inc, &err))
        fail_msg("%s", err.msg);
    assert_true(lg_knn_approx_on_disk(a));
    assert_memory_equal(inc.idx, one.idx, n * k * sizeof *inc.idx);
    assert_memory_equal(inc.dist, one.dist, n * k * sizeof *inc.dist);
    lg_knn_approx_close(a);
    lg_knn_free(&inc);
    /* and a budget too small for the lists: an error that says how much */
    o.memory = 1u << 20;
    assert_int_equal(lg_knn_approx_open(d, &o, &a, &err), LG_OK);
    assert_int_equal(lg_knn_approx_add(a, x, n, &err), LG_ENOMEM);
    assert_non_null(strstr(err.msg, "budget"));
    lg_knn_approx_close(a);
    lg_knn_free(&one);
    lg_knn_free(&exact);
    free(x);
}

/* Scaling a layer must not change its neighbours: the GEMM works on a
 * power-of-two rescaled copy, so from 1e-30 to 1e30 (float32's range) the
 * lists are the unscaled ones (it used to overflow near 1e19). */
static void lists_do_not_depend_on_scale(void **state)
{
    (void)state;
    uint64_t n = 700, seed = 11;
    uint32_t d = 12, k = 10;
    float *x = malloc(n * d * sizeof *x), *y = malloc(n * d * sizeof *y);
    for (uint64_t i = 0; i < n * d; i++)
        x[i] = (float)tu_normal(&seed) + (i % d == 0 ? 3.0f : 0.0f);
    lg_knn_opts o = {.k = k, .threads = 2};
    lg_knn base, got;
    lg_error err;
    assert_int_equal(lg_knn_exact_matrix(x, n, d, &o, &base, &err), LG_OK);
    const double scales[] = {1e-30, 1e-20, 1e-10, 1e10, 1e19, 1e25, 1e30};
    for (size_t s = 0; s < sizeof scales / sizeof *scales; s++) {
        for (uint64_t i = 0; i < n * d; i++)
            y[i] = (float)((double)x[i] * scales[s]);
        for (int inc = 0; inc < 2; inc++) {
            if (!inc) {
                assert_int_equal(lg_knn_exact_matrix(y, n, d, &o, &got, &err), LG_OK);
            } else { /* the incremental search, in blocks */
                lg_knn_inc *in;
                assert_int_equal(lg_knn_inc_open(d, &o, &in, &err), LG_OK);
                assert_int_equal(lg_knn_inc_add(in, y, 300, &err), LG_OK);
                assert_int_equal(lg_knn_inc_add(in, y + 300 * d, n - 300, &err), LG_OK);
                assert_int_equal(lg_knn_inc_finish(in, &got, &err), LG_OK);
                lg_knn_inc_close(in);
            }
            size_t differ = 0;
            for (uint64_t i = 0; i < n * k; i++)
                differ += got.idx[i] != base.idx[i];
            if (differ)
                fail_msg("scale %g (%s): %zu of %llu neighbours differ", scales[s],
                         inc ? "incremental" : "exact", differ, (unsigned long long)(n * k));
            for (uint64_t i = 0; i < n * k; i++) {
                double want = base.dist[i] * scales[s];
                assert_true(fabs(got.dist[i] - want) <= 1e-5 * want);
            }
            lg_knn_free(&got);
        }
    }
    lg_knn_free(&base);
    free(x);
    free(y);
}

/* Brute-force rank in double, ties by index (the lists' order). */
static uint64_t brute_rank(const float *x, uint64_t n, uint32_t d, uint32_t i, uint32_t j)
{
    double t = 0;
    for (uint32_t c = 0; c < d; c++) {
        double v = (double)x[(uint64_t)i * d + c] - x[(uint64_t)j * d + c];
        t += v * v;
    }
    uint64_t r = 1;
    for (uint64_t m = 0; m < n; m++) {
        if (m == i)
            continue;
        double e = 0;
        for (uint32_t c = 0; c < d; c++) {
            double v = (double)x[(uint64_t)i * d + c] - x[m * d + c];
            e += v * v;
        }
        r += e < t || (e == t && m < j);
    }
    return r;
}

/* Ranks counted inside the search (lg_knn_opts.rank_q) equal brute force,
 * in one panel and in several, on tied rows and on rows of 1e20; the lists
 * are those of a search without queries. */
static void ranks_in_the_search(void **state)
{
    (void)state;
    const uint64_t n = 600;
    const uint32_t d = 24, k = 4, stride = 3;
    float *tied = tied_data(n, d, 9);
    float *big = malloc(n * d * sizeof *big);
    uint64_t seed = 11;
    for (uint64_t i = 0; i < n * d; i++)
        big[i] = (float)(1e20 * tu_normal(&seed));
    const float *sets[2] = {tied, big};
    uint32_t *rq = malloc(n * stride * sizeof *rq);
    uint64_t *out = malloc(n * 2 * sizeof *out);
    for (uint64_t i = 0; i < n; i++)
        for (uint32_t s = 0; s < stride; s++) {
            uint32_t j;
            do
                j = (uint32_t)(tu_rand(&seed) % n);
            while (j == i);
            rq[i * stride + s] = i % 7 == 3 && s == 1 ? LG_KNN_NONE : j;
        }
    /* one query a row (a loop of its own) and two */
    for (uint32_t R = 1; R <= 2; R++)
    for (int s = 0; s < 2; s++)
        for (int b = 0; b < 2; b++) {
            lg_knn plain, got;
            lg_error err;
            lg_knn_opts o = {.k = k, .threads = 2, .tile = 64};
            uint64_t least, whole;
            lg_knn_exact_estimate_memory(n, d, &o, &least, &whole);
            o.memory = b ? (least + whole) / 2 + n * R * 20 : 0; /* panels */
            if (lg_knn_exact(n, d, tu_read_rows, &(tu_rows){sets[s], d}, &o, &plain, &err))
                fail_msg("%s", err.msg);
            o.rank_q = rq;
            o.rank_n = R;
            o.rank_stride = stride;
            o.rank_out = out;
            if (lg_knn_exact(n, d, tu_read_rows, &(tu_rows){sets[s], d}, &o, &got, &err))
                fail_msg("%s", err.msg);
            if (b)
                assert_true(got.panels > 1);
            assert_memory_equal(got.idx, plain.idx, n * k * sizeof *got.idx);
            for (uint64_t i = 0; i < n; i++)
                for (uint32_t q = 0; q < R; q++) {
                    uint32_t j = rq[i * stride + q];
                    uint64_t want = j == LG_KNN_NONE ? 0 : brute_rank(sets[s], n, d, (uint32_t)i, j);
                    if (out[i * R + q] != want)
                        fail_msg("%u a row, set %d budget %d: row %llu query %u (row %u): rank "
                                 "%llu, brute force %llu",
                                 R, s, b, (unsigned long long)i, q, j,
                                 (unsigned long long)out[i * R + q], (unsigned long long)want);
                }
            lg_knn_free(&plain);
            lg_knn_free(&got);
        }
    free(rq);
    free(out);
    free(tied);
    free(big);
}

/* lg_knn_ranks equals a brute-force count: on tied and duplicated integer
 * rows, and on rows far from the origin; with budgets that force panels. */
static void ranks_equal_brute_force(void **state)
{
    (void)state;
    const uint64_t n = 700;
    const uint32_t d = 6;
    float *tied = tied_data(n, d, 5);
    float *far = malloc(n * d * sizeof *far);
    uint64_t seed = 3;
    for (uint64_t i = 0; i < n * d; i++)
        far[i] = (float)(1e4 + tu_normal(&seed));
    const float *sets[2] = {tied, far};
    const size_t nq = 900;
    uint32_t *qi = malloc(nq * sizeof *qi), *qj = malloc(nq * sizeof *qj);
    uint64_t *rank = malloc(nq * sizeof *rank);
    for (size_t q = 0; q < nq; q++) {
        qi[q] = (uint32_t)(tu_rand(&seed) % n);
        do
            qj[q] = (uint32_t)(tu_rand(&seed) % n);
        while (qj[q] == qi[q]);
    }
    uint64_t budgets[2] = {0, 300u << 10}; /* the second: about 80 rows a panel */
    /* 900 queries: most rows have one, counted in one pass over all pairs;
     * 100: panels of query rows against every row */
    size_t counts[2] = {nq, 100};
    for (int s = 0; s < 2; s++)
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 2; c++) {
            tu_rows m = {sets[s], d};
            lg_knn_opts o = {.memory = budgets[b], .threads = 1 + b};
            lg_error err;
            if (lg_knn_ranks(n, d, tu_read_rows, &m, qi, qj, counts[c], rank, &o, &err))
                fail_msg("%s", err.msg);
            for (size_t q = 0; q < counts[c]; q++) {
                uint64_t want = brute_rank(sets[s], n, d, qi[q], qj[q]);
                if (rank[q] != want)
                    fail_msg("set %d budget %llu: query %zu (%u, %u): rank %llu, brute force %llu",
                             s, (unsigned long long)budgets[b], q, qi[q], qj[q],
                             (unsigned long long)rank[q], (unsigned long long)want);
            }
        }
    /* a query of a row with itself is refused */
    qj[0] = qi[0];
    tu_rows m = {tied, d};
    lg_error err;
    assert_int_equal(lg_knn_ranks(n, d, tu_read_rows, &m, qi, qj, 1, rank, NULL, &err), LG_EUSAGE);
    free(qi);
    free(qj);
    free(rank);
    free(tied);
    free(far);
}

static void bad_arguments(void **state)
{
    (void)state;
    float x[6] = {0, 1, 2, 3, 4, NAN};
    lg_knn got;
    lg_error err;
    lg_knn_opts o = {.k = 2};
    assert_int_equal(lg_knn_exact_matrix(x, 2, 3, &o, &got, &err), LG_EINPUT); /* n < k + 1 */
    o.k = 1;
    assert_int_equal(lg_knn_exact_matrix(x, 2, 3, &o, &got, &err), LG_EINPUT); /* NaN */
    assert_non_null(strstr(err.msg, "row 1, column 2 is NaN"));
    o.k = 0;
    assert_int_equal(lg_knn_exact_matrix(x, 2, 3, &o, &got, &err), LG_EUSAGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ties_and_duplicates),
        cmocka_unit_test(gaussian_far_from_origin),
        cmocka_unit_test(small_budget_uses_panels),
        cmocka_unit_test(thin_margins_are_rescanned),
        cmocka_unit_test(duplicates_are_neighbours_at_zero),
        cmocka_unit_test(incremental_equals_batch),
        cmocka_unit_test(seeded_equals_batch),
        cmocka_unit_test(approximate_recall_and_incremental),
        cmocka_unit_test(approximate_recall_on_a_manifold),
        cmocka_unit_test(approximate_target_recall),
        cmocka_unit_test(lists_do_not_depend_on_scale),
        cmocka_unit_test(ranks_equal_brute_force),
        cmocka_unit_test(ranks_in_the_search),
        cmocka_unit_test(bad_arguments),
    };
    return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
