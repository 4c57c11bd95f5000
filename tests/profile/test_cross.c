/* Two stores of the same inputs (#16 item 2): the second a fixed linear map
 * of the first (columns permuted, signs flipped, scaled by 2: distances
 * exactly doubled), so every diagonal cell has overlap 1 and the least
 * information imbalance, (k + 1) / N, by construction; the input identity
 * is checked, and stores of other inputs are refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define N 900
#define D 10
#define L 3

static const char *dir;

static void write_store(const char *path, int mapped, const char *input_id, uint64_t rows)
{
    lg_writer *w;
    lg_error err;
    lg_writer_opts o;
    lg_writer_opts_default(&o);
    assert_int_equal(lg_writer_create(path, &o, &w, &err), LG_OK);
    float *x = malloc(rows * D * sizeof *x), *y = malloc(rows * D * sizeof *y);
    for (int l = 0; l < L; l++) {
        uint64_t seed = 40 + (uint64_t)l;
        for (uint64_t i = 0; i < rows * D; i++)
            x[i] = (float)tu_normal(&seed) * (float)(1 + (i % D < (uint64_t)(3 + 2 * l)));
        for (uint64_t i = 0; i < rows; i++)
            for (int j = 0; j < D; j++) /* column j <- -2 x column (j * 3) % D */
                y[i * D + j] = -2.0f * x[i * D + (j * 3) % D];
        char name[16];
        snprintf(name, sizeof name, "l%d", l);
        size_t h;
        assert_int_equal(lg_writer_layer(w, name, D, LG_F32, &h, &err), LG_OK);
        assert_int_equal(lg_writer_add_rows(w, h, mapped ? y : x, rows, &err), LG_OK);
    }
    if (input_id)
        assert_int_equal(lg_writer_meta(w, "input_id", input_id, strlen(input_id), &err), LG_OK);
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
    free(x);
    free(y);
}

static void diagonal_by_construction(void **state)
{
    (void)state;
    char a[512], b[512];
    snprintf(a, sizeof a, "%s", tu_path(dir, "a.lgs"));
    snprintf(b, sizeof b, "%s", tu_path(dir, "b.lgs"));
    write_store(a, 0, "sha256:1234", N);
    write_store(b, 1, "sha256:1234", N);
    lg_store *sa, *sb;
    lg_error err;
    assert_int_equal(lg_store_open(a, 0, &sa, &err), LG_OK);
    assert_int_equal(lg_store_open(b, 0, &sb, &err), LG_OK);
    lg_profile_opts o;
    lg_profile_opts_default(&o);
    o.k = 10;
    o.no_cross_cache = 1;
    lg_cross c;
    if (lg_cross_stores(sa, sb, &o, &c, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(c.la, L);
    assert_int_equal(c.lb, L);
    assert_true(c.identity_checked);
    assert_non_null(strstr(c.identity, "sha256:1234"));
    for (int i = 0; i < L; i++)
        for (int j = 0; j < L; j++) {
            double ov = c.overlap[i * L + j], ab = c.ii_ab[i * L + j], ba = c.ii_ba[i * L + j];
            if (i == j) {
                assert_true(ov == 1);
                assert_true(fabs(ab - 2.0 / N) < 1e-12 && fabs(ba - 2.0 / N) < 1e-12);
            } else { /* independent layers: about chance */
                assert_true(ov < 0.2);
                assert_true(ab > 0.5 && ba > 0.5);
            }
        }
    lg_cross_free(&c);
    lg_store_close(sa);
    lg_store_close(sb);
}

static void other_inputs_are_refused(void **state)
{
    (void)state;
    char a[512], b[512], c[512], d[512];
    snprintf(a, sizeof a, "%s", tu_path(dir, "a2.lgs"));
    snprintf(b, sizeof b, "%s", tu_path(dir, "b2.lgs"));
    snprintf(c, sizeof c, "%s", tu_path(dir, "c2.lgs"));
    snprintf(d, sizeof d, "%s", tu_path(dir, "d2.lgs"));
    write_store(a, 0, "run-1", N);
    write_store(b, 1, "run-2", N);
    write_store(c, 1, NULL, N);
    write_store(d, 1, NULL, N - 1);
    lg_store *sa, *sb, *sc, *sd;
    lg_error err;
    assert_int_equal(lg_store_open(a, 0, &sa, &err), LG_OK);
    assert_int_equal(lg_store_open(b, 0, &sb, &err), LG_OK);
    assert_int_equal(lg_store_open(c, 0, &sc, &err), LG_OK);
    assert_int_equal(lg_store_open(d, 0, &sd, &err), LG_OK);
    lg_profile_opts o;
    lg_profile_opts_default(&o);
    o.k = 10;
    o.no_cross_cache = 1;
    lg_cross x;
    assert_int_equal(lg_cross_stores(sa, sb, &o, &x, &err), LG_EINPUT);
    assert_non_null(strstr(err.msg, "different inputs"));
    assert_int_equal(lg_cross_stores(sa, sd, &o, &x, &err), LG_EINPUT);
    assert_non_null(strstr(err.msg, "rows"));
    assert_int_equal(lg_cross_stores(sa, sc, &o, &x, &err), LG_OK);
    assert_false(x.identity_checked);
    assert_non_null(strstr(x.identity, "not checked"));
    lg_cross_free(&x);
    o.ii_k = 20;
    assert_int_equal(lg_cross_stores(sa, sc, &o, &x, &err), LG_EUSAGE);
    lg_store_close(sa);
    lg_store_close(sb);
    lg_store_close(sc);
    lg_store_close(sd);
}

/* The command line: two stores and a profile JSON; the depth table, the
 * matrices in the JSON, the warnings; three profiles on one page. */
static void compare_on_the_command_line(void **state)
{
    (void)state;
    char a[512], b[512], pj[512], out[512], page[512];
    snprintf(a, sizeof a, "%s", tu_path(dir, "ca.lgs"));
    snprintf(b, sizeof b, "%s", tu_path(dir, "cb.lgs"));
    snprintf(pj, sizeof pj, "%s", tu_path(dir, "p10.json"));
    snprintf(out, sizeof out, "%s", tu_path(dir, "cmp.json"));
    snprintf(page, sizeof page, "%s", tu_path(dir, "cmp.html"));
    write_store(a, 0, "same", N);
    write_store(b, 1, "same", N);
    assert_int_equal(tu_cli("profile %s -q -k 10 --json %s", a, pj), 0);
    assert_int_equal(tu_cli("compare %s %s %s --json %s --report %s", a, b, pj, out, page), 0);
    const char *t = tu_stdout();
    assert_non_null(strstr(t, "ID by relative depth"));
    assert_non_null(strstr(t, "A against B, every layer with every layer: the same inputs"));
    assert_non_null(strstr(t, "A0 -> B0: chi 1.000"));
    assert_non_null(strstr(t, "warning: A has k = 30 and C k = 10"));
    size_t len;
    char *j = (char *)tu_read_file(out, &len);
    assert_non_null(strstr(j, "\"overlap\": [[1, "));
    assert_non_null(strstr(j, "\"imbalance_ab\": [["));
    assert_non_null(strstr(j, "\"identity_checked\": true"));
    free(j);
    char *h = (char *)tu_read_file(page, &len);
    assert_non_null(strstr(h, "3 profiles compared"));
    assert_non_null(strstr(h, "Overlap: "));
    free(h);
    /* a file that is neither is named */
    assert_int_not_equal(tu_cli("compare %s %s", a, tu_path(dir, "nothing.json")), 0);
    assert_non_null(strstr(tu_stderr(), "nothing.json"));
    assert_int_equal(tu_cli("compare %s", a), 2);
}

int main(void)
{
    dir = tu_tmpdir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(diagonal_by_construction),
        cmocka_unit_test(other_inputs_are_refused),
        cmocka_unit_test(compare_on_the_command_line),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_rmdir(dir);
    return rc;
}
