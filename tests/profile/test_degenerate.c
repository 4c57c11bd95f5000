/* Data that make estimates collapse (#15): twins a tiny step or one float
 * bit apart, lattices, IDs beyond D; and k*-GRIDE inside the profile.  Each
 * case must give a note and stay out of the recommendation, never a silent
 * number. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define N 1600
#define D 16

static const char *dir, *store;

/* rows of a 5-D Gaussian spread over D columns by a fixed map */
static float *gaussian5(uint64_t n, uint64_t seed)
{
    float *x = calloc(n * D, sizeof *x);
    double map[5][D];
    uint64_t s = 99;
    for (int a = 0; a < 5; a++)
        for (int j = 0; j < D; j++)
            map[a][j] = tu_normal(&s);
    for (uint64_t i = 0; i < n; i++) {
        double z[5];
        for (int a = 0; a < 5; a++)
            z[a] = tu_normal(&seed);
        for (int j = 0; j < D; j++) {
            double v = 0;
            for (int a = 0; a < 5; a++)
                v += z[a] * map[a][j];
            x[i * D + j] = (float)v;
        }
    }
    return x;
}

static void put(lg_writer *w, const char *name, const float *x)
{
    lg_error err;
    assert_int_equal(lg_writer_begin_layer(w, name, D, LG_F32, &err), LG_OK);
    assert_int_equal(lg_writer_rows(w, x, N, &err), LG_OK);
    assert_int_equal(lg_writer_end_layer(w, &err), LG_OK);
}

/* Layers: 0 plain; 1 pairs x, x + 1e-6 sign(x); 2 pairs x, nextafter(x);
 * 3 a 2-D integer grid mapped into D columns; 4 plain again (so a peak and
 * a minimum exist among the sound layers). */
static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir();
    store = strdup(tu_path(dir, "degenerate.lgs"));
    lg_writer *w;
    lg_error err;
    lg_writer_opts o;
    lg_writer_opts_default(&o);
    if (lg_writer_create(store, &o, &w, &err))
        return -1;
    float *g = gaussian5(N, 1), *x = malloc((size_t)N * D * sizeof *x);
    put(w, "plain", g);
    for (uint64_t i = 0; i < N / 2; i++)
        for (int j = 0; j < D; j++) {
            float v = g[i * D + j];
            x[i * D + j] = v;
            x[(i + N / 2) * D + j] = v + (v > 0 ? 1e-6f : -1e-6f);
        }
    put(w, "step_pairs", x);
    for (uint64_t i = 0; i < N / 2; i++)
        for (int j = 0; j < D; j++) {
            float v = g[i * D + j];
            x[i * D + j] = v;
            x[(i + N / 2) * D + j] = nextafterf(v, INFINITY);
        }
    put(w, "bit_twins", x);
    uint64_t s = 5;
    double a[D], b[D];
    for (int j = 0; j < D; j++) {
        a[j] = tu_normal(&s);
        b[j] = tu_normal(&s);
    }
    for (uint64_t i = 0; i < N; i++)
        for (int j = 0; j < D; j++)
            x[i * D + j] = (float)((double)(i % 40) * a[j] + (double)(i / 40) * b[j]);
    put(w, "grid", x);
    put(w, "plain2", g);
    free(g);
    free(x);
    return lg_writer_close(w, &err);
}

static int teardown(void **state)
{
    (void)state;
    tu_rmdir(dir);
    free((void *)store);
    return 0;
}

static void run(lg_profile_opts *o, lg_profile *p)
{
    lg_store *s;
    lg_error err;
    assert_int_equal(lg_store_open(store, 0, &s, &err), LG_OK);
    if (lg_profile_run(s, o, p, &err))
        fail_msg("%s", err.msg);
    lg_store_close(s);
}

static void has_note(const lg_layer_result *r, const char *what)
{
    if (!strstr(r->note, what))
        fail_msg("layer %s: note '%s' does not say '%s'", r->name, r->note, what);
}

static void collapses_get_notes_not_numbers(void **state)
{
    (void)state;
    lg_profile_opts o;
    lg_profile_opts_default(&o);
    lg_profile p;
    run(&o, &p);
    const lg_layer_result *L = p.layers;
    /* the sound layer: no twins, no note */
    assert_int_equal(L[0].duplicates, 0);
    assert_string_equal(L[0].note, "");
    assert_true(fabs(L[0].id - 5) < 0.8);
    /* a tiny step: not float twins, but small-scale structure, said */
    assert_true(L[1].small_scale_rows > N / 2);
    has_note(&L[1], "small-scale structure");
    assert_true(L[1].suspect);
    assert_true(L[1].id < 1); /* what TwoNN measures there, shown with "!" */
    /* last-bit twins: every row has one; merged, TwoNN is the plain layer's
     * on the N / 2 distinct rows */
    assert_int_equal(L[2].duplicates, N);
    assert_int_equal(L[2].twins.exact, 0);
    assert_int_equal(L[2].twins.removed, N / 2);
    assert_true(L[2].twins.example[0] % (N / 2) == L[2].twins.example[1] % (N / 2));
    assert_true(L[2].twins.example_dist > 0 && L[2].twins.example_dist < 1e-5);
    assert_int_equal(L[2].twonn.n_used, N / 2);
    assert_true(fabs(L[2].id - 5) < 0.8);
    assert_false(L[2].suspect);
    has_note(&L[2], "merged");
    /* the grid: TwoNN is no estimate there; GRIDE has no number at n2 = 2
     * (beyond D, or no maximum in the search interval), numbers near 2 above */
    assert_true(isnan(L[3].id) && isnan(L[3].twonn.id));
    has_note(&L[3], "lattice");
    assert_true(isnan(L[3].gride.id[0]));
    has_note(&L[3], "GRIDE at 1");
    for (int s = 2; s < L[3].gride.scales; s++) /* n2 >= 8: the grid's 2, roughly */
        if (!(isfinite(L[3].gride.id[s]) && fabs(L[3].gride.id[s] - 2) < 0.6))
            fail_msg("grid: GRIDE at n2 = %u is %g", L[3].gride.n2[s], L[3].gride.id[s]);
    /* the recommendation is one of the sound layers */
    assert_true(p.rec.index == 0 || p.rec.index == 2 || p.rec.index == 4);
    lg_profile_free(&p);
}

/* With the tolerance set by hand the step pairs are twins; with keep the
 * bit twins stay (and say so); 0 means exact duplicates only. */
static void tolerance_and_policy(void **state)
{
    (void)state;
    lg_profile_opts o;
    lg_profile_opts_default(&o);
    size_t layers[2] = {1, 2};
    o.layers = layers;
    o.n_layers = 2;
    o.dup_tol = 1e-5;
    lg_profile p;
    run(&o, &p);
    assert_int_equal(p.layers[0].duplicates, N);
    assert_true(fabs(p.layers[0].id - 5) < 0.8);
    assert_false(p.layers[0].suspect);
    lg_profile_free(&p);
    o.dup_tol = 0;
    run(&o, &p);
    assert_int_equal(p.layers[1].duplicates, 0);
    lg_profile_free(&p);
    o.dup_tol = -1;
    o.twonn.duplicates = LG_DUP_KEEP;
    run(&o, &p);
    assert_int_equal(p.layers[1].duplicates, N);
    assert_int_equal(p.layers[1].twonn.n_used, N);
    has_note(&p.layers[1], "kept");
    assert_true(p.layers[1].suspect);
    lg_profile_free(&p);
}

/* --id kstar in the profile equals lg_gride_kstar on the same lists. */
static void kstar_in_the_profile(void **state)
{
    (void)state;
    lg_profile_opts o;
    lg_profile_opts_default(&o);
    o.id_kind = LG_ID_KSTAR;
    size_t layers[2] = {0, 1};
    o.layers = layers;
    o.n_layers = 2;
    lg_profile p;
    run(&o, &p);
    assert_true(p.k_lists >= 100);
    for (int q = 0; q < 2; q++) {
        assert_true(p.layers[q].has_kstar);
        assert_true(p.layers[q].id == p.layers[q].kstar.id);
        assert_true(fabs(p.layers[q].id - 5) < 1); /* k* sees past the step pairs */
        assert_false(p.layers[q].suspect);
    }
    /* the same by hand */
    lg_store *s;
    lg_error err;
    assert_int_equal(lg_store_open(store, 0, &s, &err), LG_OK);
    float *x = malloc((size_t)N * D * sizeof *x);
    lg_cursor *c;
    assert_int_equal(lg_cursor_open(s, 0, N, &c, &err), LG_OK);
    assert_int_equal(lg_cursor_read(c, 0, N, x, &err), LG_OK);
    lg_cursor_close(c);
    lg_store_close(s);
    lg_knn_opts ko = {.k = p.k_lists};
    lg_knn nn;
    assert_int_equal(lg_knn_exact_matrix(x, N, D, &ko, &nn, &err), LG_OK);
    lg_kstar_opts kk;
    lg_kstar_opts_default(&kk);
    lg_kstar_result kr;
    assert_int_equal(lg_gride_kstar(&nn, &kk, &kr, &err), LG_OK);
    assert_true(fabs(kr.id - p.layers[0].kstar.id) <= 1e-12 * kr.id);
    assert_true(kr.kstar_mean == p.layers[0].kstar.kstar_mean);
    lg_knn_free(&nn);
    free(x);
    lg_profile_free(&p);
}

/* Merged lists are the lists of the data without the removed rows: checked
 * against a search on the distinct rows themselves. */
static void merged_lists_equal_a_search_without_twins(void **state)
{
    (void)state;
    const uint64_t n = 300, u = 200; /* rows 200..299 repeat rows 0..99 */
    float *x = gaussian5(n, 3);
    for (uint64_t i = u; i < n; i++)
        memcpy(x + i * D, x + (i - u) * D, D * sizeof *x);
    lg_knn_opts ko = {.k = 40};
    lg_knn all, distinct;
    lg_error err;
    assert_int_equal(lg_knn_exact_matrix(x, n, D, &ko, &all, &err), LG_OK);
    assert_int_equal(lg_knn_exact_matrix(x, u, D, &ko, &distinct, &err), LG_OK);
    lg_twin_opts to = {0, 0, NULL};
    unsigned char removed[300];
    lg_twins t;
    assert_int_equal(lg_knn_find_twins(&all, &to, removed, &t, &err), LG_OK);
    assert_int_equal(t.rows, 200);
    assert_int_equal(t.exact, 200);
    assert_int_equal(t.removed, 100);
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal(removed[i], i >= u);
    lg_knn m;
    assert_int_equal(lg_knn_merge_twins(&all, removed, &m, &err), LG_OK);
    assert_int_equal(m.n, u);
    for (uint64_t i = 0; i < u; i++) {
        uint32_t q = 0;
        for (; q < m.k && m.idx[i * m.k + q] != LG_KNN_NONE; q++) {
            assert_true(m.dist[i * m.k + q] == distinct.dist[i * m.k + q]);
            assert_int_equal(m.idx[i * m.k + q], distinct.idx[i * m.k + q]);
        }
        assert_true(q >= 40 - 21); /* at most one twin of each of its neighbours */
        for (; q < m.k; q++)
            assert_true(isinf(m.dist[i * m.k + q]));
    }
    lg_knn_free(&all);
    lg_knn_free(&distinct);
    lg_knn_free(&m);
    free(x);
}

/* Subsets below the minimum: decimation stops above it, the paper's
 * protocol (which must use N / 32) warns. */
static void small_subsets(void **state)
{
    (void)state;
    lg_profile_opts o;
    lg_profile_opts_default(&o);
    size_t layers[1] = {0};
    o.layers = layers;
    o.n_layers = 1;
    o.decimation = 1;
    lg_profile p;
    run(&o, &p);
    assert_int_equal(p.layers[0].n_dec, 4); /* 1600, 800, 400, 200 */
    assert_int_equal(p.layers[0].dec_rows[3], 200);
    assert_string_equal(p.warning, "");
    lg_profile_free(&p);
    o.min_subset = 50;
    run(&o, &p);
    assert_int_equal(p.layers[0].n_dec, 6); /* ... 100, 50 */
    lg_profile_free(&p);
    o.decimation = 0;
    o.paper = 1;
    o.min_subset = 200;
    run(&o, &p);
    assert_non_null(strstr(p.warning, "subsets of 50 rows"));
    assert_true(isfinite(p.layers[0].id));
    lg_profile_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(collapses_get_notes_not_numbers),
        cmocka_unit_test(tolerance_and_policy),
        cmocka_unit_test(kstar_in_the_profile),
        cmocka_unit_test(merged_lists_equal_a_search_without_twins),
        cmocka_unit_test(small_subsets),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
