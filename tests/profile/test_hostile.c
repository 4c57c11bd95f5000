/* Hostile numbers: NaN and inf rows, an all-zero layer, a constant layer,
 * D = 1, too few rows: each gives a clear message or a well-defined result,
 * never a crash, a silent 0, NaN in the output, or a hang. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "util/json.h"

#define N 600
#define D 8

static void layer(lg_writer *w, const char *name, uint32_t d, const float *x)
{
    lg_error err;
    assert_int_equal(lg_writer_begin_layer(w, name, d, LG_F32, &err), LG_OK);
    assert_int_equal(lg_writer_rows(w, x, N, &err), LG_OK);
    assert_int_equal(lg_writer_end_layer(w, &err), LG_OK);
}

static void hostile_layers_profile_cleanly(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "h.lgs");
    lg_writer *w;
    lg_error err;
    assert_int_equal(lg_writer_create(path, NULL, &w, &err), LG_OK);
    float *x = malloc(N * D * sizeof *x);
    uint64_t seed = 3;
    for (int i = 0; i < N * D; i++)
        x[i] = (float)tu_normal(&seed);
    layer(w, "normal", D, x);
    x[17 * D + 3] = NAN;
    x[40 * D] = INFINITY;
    x[41 * D + 7] = -INFINITY;
    x[599 * D + 1] = NAN;
    layer(w, "nonfinite", D, x);
    memset(x, 0, N * D * sizeof *x);
    layer(w, "zeros", D, x);
    for (int i = 0; i < N * D; i++)
        x[i] = (float)(i % D) + 0.5f; /* every row the same */
    layer(w, "constant", D, x);
    for (int i = 0; i < N; i++)
        x[i] = (float)tu_uniform(&seed);
    layer(w, "one_column", 1, x);
    for (int i = 0; i < N * D; i++)
        x[i] = NAN;
    layer(w, "all_nan", D, x);
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
    free(x);

    lg_store *s;
    assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK);
    lg_profile_opts o;
    lg_profile_opts_default(&o);
    o.k = 10;
    lg_profile p;
    if (lg_profile_run(s, &o, &p, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(p.n_layers, 6);
    const lg_layer_result *L = p.layers;
    assert_true(isfinite(L[0].id) && L[0].id > 6 && L[0].id < 10);
    /* non-finite rows: counted, the first named, left out; the ID still there */
    assert_int_equal(L[1].nonfinite_rows, 4);
    assert_int_equal(L[1].first_nonfinite, 17);
    assert_true(isfinite(L[1].id) && fabs(L[1].id - L[0].id) < 1.5);
    double L1_id = L[1].id;
    assert_true(L[1].has_prev && isfinite(L[1].overlap_prev));
    /* all rows identical: every row a duplicate; no ID, a note saying why */
    for (int q = 2; q <= 3; q++) {
        assert_false(isfinite(L[q].id));
        assert_int_equal(L[q].duplicates, N);
        assert_non_null(strstr(L[q].note, "duplicates"));
    }
    /* D = 1: a line, ID about 1 */
    assert_true(fabs(L[4].id - 1) < 0.15);
    /* every row NaN: no lists, a note */
    assert_false(isfinite(L[5].id));
    assert_non_null(strstr(L[5].note, "NaN or inf"));
    assert_false(L[5].has_prev);
    /* the recommendation only looks at layers with an ID */
    assert_true(p.rec.index == 0 || p.rec.index == 1 || p.rec.index == 4);
    /* the JSON carries no NaN or inf, and says what happened */
    char *buf;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(lg_report_json(f, &p, NULL), LG_OK);
    fclose(f);
    /* (the strict parser takes no nan or inf tokens: parsing is the check) */
    char why[160];
    lgj *v = lgj_parse(buf, len, why, sizeof why);
    if (!v)
        fail_msg("JSON: %s", why);
    const lgj *l1 = lgj_get(v, "layers")->items[1];
    assert_true(lgj_get(l1, "nonfinite_rows")->num == 4);
    assert_true(lgj_get(l1, "first_nonfinite_row")->num == 17);
    assert_int_equal(lgj_get(lgj_get(lgj_get(v, "layers")->items[2], "intrinsic_dimension"),
                             "value")->type,
                     LGJ_NULL);
    lgj_free(v);
    free(buf);
    lg_profile_free(&p);
    /* with --nonfinite fail: a clear error naming the row */
    o.nonfinite_fail = 1;
    assert_int_equal(lg_profile_run(s, &o, &p, &err), LG_EINPUT);
    assert_non_null(strstr(err.msg, "row 17, column 3 is NaN"));
    /* the approximate search follows the same policy: the same rows left
     * out and counted, the profile goes on (it used to stop at row 17) */
    o.nonfinite_fail = 0;
    o.approx = 1;
    size_t pick[3] = {0, 1, 5};
    o.layers = pick;
    o.n_layers = 3;
    lg_profile pa;
    if (lg_profile_run(s, &o, &pa, &err))
        fail_msg("approx: %s", err.msg);
    assert_int_equal(pa.layers[1].nonfinite_rows, 4);
    assert_int_equal(pa.layers[1].first_nonfinite, 17);
    assert_true(pa.layers[1].approx);
    assert_true(fabs(pa.layers[1].id - L1_id) < 0.05 * L1_id);
    assert_true(pa.layers[1].has_prev && isfinite(pa.layers[1].overlap_prev));
    assert_false(isfinite(pa.layers[2].id));
    assert_non_null(strstr(pa.layers[2].note, "NaN or inf"));
    lg_profile_free(&pa);
    o.nonfinite_fail = 1;
    assert_int_equal(lg_profile_run(s, &o, &pa, &err), LG_EINPUT);
    assert_non_null(strstr(err.msg, "row 17, column 3 is NaN"));
    o.approx = 0;
    o.layers = NULL;
    o.n_layers = 0;
    /* k larger than the rows, and k + 1 = N */
    o.nonfinite_fail = 0;
    o.k = N;
    assert_int_equal(lg_profile_run(s, &o, &p, &err), LG_EINPUT);
    assert_non_null(strstr(err.msg, "too few"));
    lg_store_close(s);
    tu_rmdir(dir);
}

static void tiny_layers(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "t.lgs");
    lg_writer *w;
    lg_error err;
    assert_int_equal(lg_writer_create(path, NULL, &w, &err), LG_OK);
    float x[4 * 2] = {0, 0, 1, 0, 0, 1, 1, 1};
    assert_int_equal(lg_writer_begin_layer(w, "square", 2, LG_F32, &err), LG_OK);
    assert_int_equal(lg_writer_rows(w, x, 4, &err), LG_OK);
    assert_int_equal(lg_writer_end_layer(w, &err), LG_OK);
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
    /* the CLI: k too large for 4 rows, a clear message and exit 1 */
    assert_int_equal(tu_cli("profile %s --no-cache", path), 1);
    assert_non_null(strstr(tu_stderr(), "too few for k = 30"));
    /* k = 2 on a square: every row has two neighbours at 1 and one at sqrt 2; the
     * estimate is what it is, but it is a number and the run ends */
    assert_int_equal(tu_cli("profile %s --no-cache --k 2 --gride-max 2 --json -", path), 0);
    char why[160];
    lgj *v = lgj_parse(tu_stdout(), strlen(tu_stdout()), why, sizeof why);
    if (!v)
        fail_msg("JSON: %s", why);
    lgj_free(v);
    tu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hostile_layers_profile_cleanly),
        cmocka_unit_test(tiny_layers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
