/* Every number in ../shared/reference/values.json (DADApy's), to the stated
 * tolerances, through our own pipeline: .npy import, exact kNN, estimators. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "util/json.h"

static lgj *values;

static int setup(void **state)
{
    (void)state;
    const char *p = tu_shared("reference/values.json");
    if (!p)
        return 0;
    size_t len;
    char *text = (char *)tu_read_file(p, &len);
    char why[160];
    values = lgj_parse(text, len, why, sizeof why);
    free(text);
    return values ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    lgj_free(values);
    return 0;
}

static const lgj *path(const char *set, const char *a, const char *b)
{
    const lgj *v = lgj_get(lgj_get(values, "sets"), set);
    if (a)
        v = lgj_get(v, a);
    if (b)
        v = lgj_get(v, b);
    if (!v)
        fail_msg("values.json has no %s/%s/%s", set, a ? a : "", b ? b : "");
    return v;
}

static double num(const char *set, const char *a, const char *b)
{
    const lgj *v = path(set, a, b);
    assert_int_equal(v->type, LGJ_NUM);
    return v->num;
}

static void near_rel(double got, double want, double rel, const char *what)
{
    if (!(fabs(got - want) <= rel * fabs(want)))
        fail_msg("%s: got %.10g, DADApy %.10g (relative tolerance %g)", what, got, want, rel);
}

static void near_abs(double got, double want, double tol, const char *what)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("%s: got %.10g, DADApy %.10g (absolute tolerance %g)", what, got, want, tol);
}

/* Loads a reference array as float32 rows. */
static float *load(const char *file, uint64_t *n, uint32_t *d)
{
    char rel[256];
    snprintf(rel, sizeof rel, "reference/%s", file);
    const char *p = tu_shared(rel);
    assert_non_null(p);
    lg_source *src;
    lg_error err;
    assert_int_equal(lg_source_open_npy(p, &src, &err), LG_OK);
    lg_dtype t;
    lg_source_layer(src, 0, NULL, n, d, &t);
    void *raw = malloc(*n * *d * lg_dtype_size(t));
    float *x = malloc(*n * *d * sizeof *x);
    assert_int_equal(lg_source_read(src, 0, 0, *n, raw, &err), LG_OK);
    lg_to_f32(t, raw, x, *n * *d);
    free(raw);
    lg_source_close(src);
    return x;
}

static int64_t *load_labels(const char *file)
{
    char rel[256];
    snprintf(rel, sizeof rel, "reference/%s", file);
    int64_t *lab;
    uint64_t n;
    lg_error err;
    assert_int_equal(lg_labels_load(tu_shared(rel), &lab, &n, NULL, &err), LG_OK);
    return lab;
}

/* How far an overlap at k can move when tied neighbours at the k-th place are
 * chosen differently (we break ties by index, scikit-learn as it happens):
 * for each row whose k-th and (k+1)-th distances tie, the tied places / k. */
static double tie_slack(const lg_knn *nn, uint32_t k)
{
    double s = 0;
    for (uint64_t i = 0; i < nn->n; i++) {
        const double *r = nn->dist + i * nn->k;
        if (k < nn->k && r[k] == r[k - 1]) {
            uint32_t m = 0;
            for (uint32_t q = 0; q < k; q++)
                m += r[q] == r[k - 1];
            s += (double)m / k;
        }
    }
    return s / (double)nn->n;
}

static void knn_of(const float *x, uint64_t n, uint32_t d, uint32_t k, lg_knn *out)
{
    lg_knn_opts o = {.k = k};
    lg_error err;
    if (lg_knn_exact_matrix(x, n, d, &o, out, &err))
        fail_msg("%s", err.msg);
}

static void check_gride(const char *set, const lg_knn *nn, double tol, int absolute)
{
    lg_gride_result g;
    lg_error err;
    assert_int_equal(lg_gride(nn, 64, LG_DUP_DROP, &g, &err), LG_OK);
    const lgj *ids = path(set, "gride", "ids"), *errs = path(set, "gride", "errs"),
              *rs = path(set, "gride", "rs");
    assert_int_equal(g.scales, (int)ids->len);
    for (int s = 0; s < g.scales; s++) {
        char what[96];
        snprintf(what, sizeof what, "%s gride scale %d id", set, s);
        absolute ? near_abs(g.id[s], ids->items[s]->num, tol, what)
                 : near_rel(g.id[s], ids->items[s]->num, tol, what);
        snprintf(what, sizeof what, "%s gride scale %d err", set, s);
        absolute ? near_abs(g.err[s], errs->items[s]->num, tol, what)
                 : near_rel(g.err[s], errs->items[s]->num, tol, what);
        snprintf(what, sizeof what, "%s gride scale %d rs", set, s);
        absolute ? near_abs(g.rs[s], rs->items[s]->num, tol, what)
                 : near_rel(g.rs[s], rs->items[s]->num, tol, what);
    }
}

static void check_set(const char *set)
{
    if (!values)
        skip();
    const double rel = 1e-4;
    char file[128];
    uint64_t n, n2;
    uint32_t d, d2;
    snprintf(file, sizeof file, "%s", path(set, "X", NULL)->str);
    float *x = load(file, &n, &d);
    assert_int_equal(n, (uint64_t)num(set, "N", NULL));
    lg_knn nn;
    knn_of(x, n, d, 64, &nn);
    /* the lists themselves */
    uint64_t zero = 0, eq = 0;
    double m1 = 0, m2 = 0;
    for (uint64_t i = 0; i < n; i++) {
        zero += nn.dist[i * 64] == 0;
        eq += nn.dist[i * 64] == nn.dist[i * 64 + 1];
        m1 += nn.dist[i * 64];
        m2 += nn.dist[i * 64 + 1];
    }
    assert_int_equal(zero, (uint64_t)num(set, "knn", "n_r1_zero"));
    assert_int_equal(eq, (uint64_t)num(set, "knn", "n_mu_eq_1"));
    near_rel(m1 / n, num(set, "knn", "mean_r1"), 1e-9, "mean r1");
    near_rel(m2 / n, num(set, "knn", "mean_r2"), 1e-9, "mean r2");
    /* TwoNN */
    lg_twonn_opts o;
    lg_twonn_opts_default(&o);
    lg_twonn_result t;
    lg_error err;
    assert_int_equal(lg_twonn(&nn, &o, &t, &err), LG_OK);
    near_rel(t.id, num(set, "twonn_base_discard0.1", NULL), rel, "twonn");
    near_rel(t.scale, num(set, "twonn_base_discard0.1_scale", NULL), rel, "twonn scale");
    near_rel(t.id_ml, num(set, "twonn_ml", NULL), rel, "twonn ml");
    near_rel(t.bayes_mean, num(set, "twonn_bayes_gamma_prior_a2_b5", "mean"), rel, "bayes mean");
    near_rel(t.bayes_std, num(set, "twonn_bayes_gamma_prior_a2_b5", "std"), rel, "bayes std");
    check_gride(set, &nn, rel, 0);
    /* label overlap */
    snprintf(file, sizeof file, "%s", path(set, "labels", NULL)->str);
    int64_t *lab = load_labels(file);
    const char *ks[2] = {"10", "30"};
    for (int q = 0; q < 2; q++) {
        lg_label_overlap lo;
        assert_int_equal(lg_overlap_labels(&nn, lab, (uint32_t)atoi(ks[q]), 0, &lo, &err), LG_OK);
        const lgj *want = lgj_get(path(set, "label_overlap", NULL), ks[q]);
        double w1 = lgj_get(want, "unweighted")->num, w2 = lgj_get(want, "class_weighted")->num;
        double slack = tie_slack(&nn, (uint32_t)atoi(ks[q]));
        near_abs(lo.unweighted, w1, rel * w1 + slack, "label overlap");
        near_abs(lo.class_weighted, w2, rel * w2 + slack, "label overlap class-weighted");
    }
    /* data overlap with the second representation */
    snprintf(file, sizeof file, "%s", path(set, "X2", NULL)->str);
    float *x2 = load(file, &n2, &d2);
    lg_knn nn2;
    knn_of(x2, n2, d2, 30, &nn2);
    for (int q = 0; q < 2; q++) {
        double v;
        uint32_t k = (uint32_t)atoi(ks[q]);
        assert_int_equal(lg_overlap_data(&nn, &nn2, k, &v, &err), LG_OK);
        double w = lgj_get(path(set, "data_overlap_X_vs_X2", NULL), ks[q])->num;
        near_abs(v, w, rel * w + tie_slack(&nn, k) + tie_slack(&nn2, k), "data overlap");
    }
    lg_knn_free(&nn);
    lg_knn_free(&nn2);
    free(x);
    free(x2);
    free(lab);
}

static void digits(void **state)
{
    (void)state;
    check_set("digits");
}

static void unif5in50(void **state)
{
    (void)state;
    check_set("unif5in50");
}

static void gauss10(void **state)
{
    (void)state;
    check_set("gauss10");
}

static void two_gaussians(void **state)
{
    (void)state;
    if (!values)
        skip();
    const char *set = "2gaussians_in_2d";
    uint64_t n;
    uint32_t d;
    float *x = load(path(set, "X", NULL)->str, &n, &d);
    lg_knn nn;
    knn_of(x, n, d, 64, &nn);
    lg_twonn_opts o;
    lg_twonn_opts_default(&o);
    lg_twonn_result t;
    lg_error err;
    assert_int_equal(lg_twonn(&nn, &o, &t, &err), LG_OK);
    near_abs(t.id, num(set, "twonn_base_discard0.1", NULL), 1e-3, "twonn");
    near_abs(t.bayes_mean, num(set, "twonn_bayes_gamma_prior_a2_b5", "mean"), 1e-3, "bayes");
    check_gride(set, &nn, 1e-3, 1);
    lg_knn_free(&nn);
    free(x);
}

static void two_gaussians_overlap(void **state)
{
    (void)state;
    if (!values)
        skip();
    const char *set = "2gaussians_in_2d_overlap";
    uint64_t n;
    uint32_t d;
    float *x = load(path(set, "X", NULL)->str, &n, &d);
    int64_t *lab = malloc(n * sizeof *lab);
    for (uint64_t i = 0; i < n; i++)
        lab[i] = x[i * d] < 0 ? 0 : 1;
    lg_knn nn;
    knn_of(x, n, d, 30, &nn);
    lg_label_overlap lo;
    lg_error err;
    assert_int_equal(lg_overlap_labels(&nn, lab, 5, 0, &lo, &err), LG_OK);
    near_abs(lo.unweighted, num(set, "label_overlap_k5_unweighted", NULL), 1e-3, "k5");
    for (uint64_t i = 30; i < n; i++)
        lab[i] = 2;
    assert_int_equal(lg_overlap_labels(&nn, lab, 0, 0.25, &lo, &err), LG_OK);
    near_abs(lo.unweighted, num(set, "label_overlap_class_fraction0.25", "unweighted"), 1e-3,
             "class fraction unweighted");
    near_abs(lo.class_weighted, num(set, "label_overlap_class_fraction0.25", "class_weighted"),
             1e-3, "class fraction weighted");
    /* against the same points with the first coordinate dropped */
    float *y = malloc(n * sizeof *y);
    for (uint64_t i = 0; i < n; i++)
        y[i] = x[i * d + 1];
    lg_knn ny;
    knn_of(y, n, 1, 30, &ny);
    double v;
    assert_int_equal(lg_overlap_data(&nn, &ny, 30, &v, &err), LG_OK);
    near_abs(v, num(set, "data_overlap_X_vs_X[:,1:]_k30", NULL), 1e-3, "data overlap");
    lg_knn_free(&nn);
    lg_knn_free(&ny);
    free(x);
    free(y);
    free(lab);
}

/* k*-GRIDE on the array named by `which` (X or X2), DADApy's maxk = 100 and
 * n_iter = 5: the final ID to 1e-3 relative (the stated tolerance), every
 * round's ID and mean k* to the same, and the starting ID is TwoNN's. */
static void check_kstar(const char *set, const char *key, const char *which)
{
    if (!values)
        skip();
    uint64_t n;
    uint32_t d;
    float *x = load(path(set, which, NULL)->str, &n, &d);
    lg_knn nn;
    knn_of(x, n, d, 100, &nn);
    lg_kstar_opts o;
    lg_kstar_opts_default(&o);
    lg_kstar_result r;
    lg_error err;
    if (lg_gride_kstar(&nn, &o, &r, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(r.rounds, 5);
    assert_false(r.at_bound);
    near_rel(r.id, num(set, key, "id"), 1e-3, "k*-GRIDE id");
    const lgj *ids = path(set, key, "ids_by_iteration"), *ks = path(set, key,
                                                                      "mean_kstar_by_iteration");
    const lgj *errs = path(set, key, "errs_by_iteration");
    for (int q = 0; q <= 5; q++) {
        char what[96];
        snprintf(what, sizeof what, "%s k*-GRIDE round %d id", set, q);
        near_rel(r.ids[q], ids->items[q]->num, 1e-3, what);
        snprintf(what, sizeof what, "%s k*-GRIDE round %d mean k*", set, q);
        near_rel(r.kstar_means[q], ks->items[q]->num, 1e-3, what);
        if (q > 0) {
            snprintf(what, sizeof what, "%s k*-GRIDE round %d err", set, q);
            near_rel(r.errs[q], errs->items[q]->num, 1e-2, what);
        }
    }
    assert_true(r.err > 0 && r.scale > 0 && r.kstar_mean > 3);
    lg_knn_free(&nn);
    free(x);
}

static void kstar_gride(void **state)
{
    (void)state;
    check_kstar("unif5in50", "gride_kstar_X2", "X2");
    check_kstar("gauss10", "gride_kstar_X", "X");
    check_kstar("digits", "gride_kstar_X2", "X2");
}

/* Information imbalance X -> X2 and back on the rows values.json names, at
 * k = 1 and 5, with short lists (8) so that most ranks are counted over the
 * rows, not read from a list. */
static void check_imbalance(const char *set)
{
    if (!values)
        skip();
    const lgj *ii = path(set, "information_imbalance_X_vs_X2", NULL);
    const lgj *rows = lgj_get(ii, "rows");
    uint64_t r0 = (uint64_t)rows->items[0]->num, r1 = (uint64_t)rows->items[1]->num;
    uint64_t n, n2;
    uint32_t d, d2;
    float *x = load(path(set, "X", NULL)->str, &n, &d);
    float *x2 = load(path(set, "X2", NULL)->str, &n2, &d2);
    assert_int_equal(n, n2);
    uint64_t m = r1 - r0;
    lg_knn a, b;
    knn_of(x + r0 * d, m, d, 8, &a);
    knn_of(x2 + r0 * d2, m, d2, 8, &b);
    double tol = strcmp(set, "digits") ? 1e-6 : 5e-5;
    const char *ks[2] = {"1", "5"};
    tu_rows ma = {x + r0 * d, d}, mb = {x2 + r0 * d2, d2};
    for (int q = 0; q < 2; q++) {
        uint32_t k = (uint32_t)atoi(ks[q]);
        const lgj *want = lgj_get(lgj_get(ii, "by_k"), ks[q]);
        lg_imbalance ab, ba;
        lg_error err;
        lg_knn_opts o = {.memory = 4u << 20}; /* several panels */
        assert_int_equal(lg_information_imbalance(&a, &b, k, d2, tu_read_rows, &mb, &o, &ab, &err),
                         LG_OK);
        assert_int_equal(lg_information_imbalance(&b, &a, k, d, tu_read_rows, &ma, &o, &ba, &err),
                         LG_OK);
        char what[96];
        snprintf(what, sizeof what, "%s II(X -> X2) at k = %u", set, k);
        near_abs(ab.value, lgj_get(want, "X_to_X2")->num, tol, what);
        snprintf(what, sizeof what, "%s II(X2 -> X) at k = %u", set, k);
        near_abs(ba.value, lgj_get(want, "X2_to_X")->num, tol, what);
        assert_int_equal(ab.rows, m);
        assert_int_equal(ab.from_lists + ab.counted, m * k);
        assert_true(ab.counted > 0);
        /* the same ranks counted inside the search of X2 (queries: X's lists) */
        uint64_t *rank = malloc(m * k * sizeof *rank);
        lg_knn_opts ro = {.k = 8, .rank_q = a.idx, .rank_n = k, .rank_stride = a.k,
                          .rank_out = rank};
        lg_knn b2;
        assert_int_equal(lg_knn_exact_matrix(x2 + r0 * d2, m, d2, &ro, &b2, &err), LG_OK);
        lg_imbalance fused;
        assert_int_equal(lg_information_imbalance_counted(&a, &b2, k, rank, &fused, &err), LG_OK);
        assert_true(fused.value == ab.value);
        assert_int_equal(fused.counted, ab.counted);
        lg_knn_free(&b2);
        free(rank);
    }
    lg_knn_free(&a);
    lg_knn_free(&b);
    free(x);
    free(x2);
}

static void information_imbalance(void **state)
{
    (void)state;
    check_imbalance("gauss10");
    check_imbalance("unif5in50");
    check_imbalance("digits");
}

/* Lists too short for maxk, and bad options, are refused with a reason. */
static void kstar_refuses(void **state)
{
    (void)state;
    float x[60 * 3];
    uint64_t s = 7;
    for (int i = 0; i < 180; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)(s >> 40) / (float)(1 << 24);
    }
    lg_knn nn;
    knn_of(x, 60, 3, 20, &nn);
    lg_kstar_opts o;
    lg_kstar_opts_default(&o);
    lg_kstar_result r;
    lg_error err;
    assert_int_equal(lg_gride_kstar(&nn, &o, &r, &err), LG_EUSAGE);
    assert_non_null(strstr(err.msg, "needs lists of 100"));
    o.maxk = 20;
    o.rounds = 0;
    assert_int_equal(lg_gride_kstar(&nn, &o, &r, &err), LG_EUSAGE);
    o.rounds = 3;
    o.alpha = 0;
    assert_int_equal(lg_gride_kstar(&nn, &o, &r, &err), LG_EUSAGE);
    o.alpha = 1e-6;
    assert_int_equal(lg_gride_kstar(&nn, &o, &r, &err), LG_OK);
    assert_true(r.id > 1 && r.id < 5);
    lg_knn_free(&nn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(digits),
        cmocka_unit_test(unif5in50),
        cmocka_unit_test(gauss10),
        cmocka_unit_test(two_gaussians),
        cmocka_unit_test(two_gaussians_overlap),
        cmocka_unit_test(kstar_gride),
        cmocka_unit_test(kstar_refuses),
        cmocka_unit_test(information_imbalance),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
