/* The ID of each group's own rows (#15 items 5, 6): per class on a
 * reference set, equal to TwoNN on the class's rows searched separately;
 * many small clouds of known dimension; the table, JSON and CSV. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const char *dir;

/* TwoNN and GRIDE at rank on rows x[rows[0..m)] searched on their own */
static void by_hand(const float *x, uint32_t d, const uint64_t *rows, uint64_t m, uint32_t rank,
                    double *id, double *gride)
{
    float *y = malloc(m * d * sizeof *y);
    for (uint64_t i = 0; i < m; i++)
        memcpy(y + i * d, x + rows[i] * d, d * sizeof *y);
    lg_knn_opts ko = {.k = rank > 2 ? rank : 2};
    lg_knn nn;
    lg_error err;
    assert_int_equal(lg_knn_exact_matrix(y, m, d, &ko, &nn, &err), LG_OK);
    lg_twonn_opts to;
    lg_twonn_opts_default(&to);
    lg_twonn_result t;
    assert_int_equal(lg_twonn(&nn, &to, &t, &err), LG_OK);
    *id = t.id;
    *gride = NAN;
    if (rank) {
        lg_gride_result g;
        assert_int_equal(lg_gride(&nn, rank, LG_DUP_DROP, &g, &err), LG_OK);
        *gride = g.id[g.scales - 1];
        assert_int_equal(g.n2[g.scales - 1], rank);
    }
    lg_knn_free(&nn);
    free(y);
}

static float *load_ref(const char *name, uint64_t *n, uint32_t *d)
{
    char rel[160];
    snprintf(rel, sizeof rel, "reference/data/%s", name);
    const char *p = tu_shared(rel);
    if (!p)
        return NULL;
    lg_source *src;
    lg_error err;
    assert_int_equal(lg_source_open_npy(p, &src, &err), LG_OK);
    lg_dtype t;
    lg_source_layer(src, 0, NULL, n, d, &t);
    assert_int_equal(t, LG_F32);
    float *x = malloc(*n * *d * sizeof *x);
    assert_int_equal(lg_source_read(src, 0, 0, *n, x, &err), LG_OK);
    lg_source_close(src);
    return x;
}

static void per_class_equals_each_class_alone(void **state)
{
    (void)state;
    uint64_t n;
    uint32_t d;
    float *x = load_ref("unif5in50_X.npy", &n, &d);
    if (!x)
        skip();
    int64_t *lab;
    uint64_t nl;
    lg_error err;
    assert_int_equal(lg_labels_load(tu_shared("reference/data/unif5in50_y.npy"), &lab, &nl, NULL,
                                    &err),
                     LG_OK);
    assert_int_equal(nl, n);
    const char *path = tu_path(dir, "unif.lgs");
    char store[512];
    snprintf(store, sizeof store, "%s", path);
    lg_writer *w;
    lg_writer_opts wo;
    lg_writer_opts_default(&wo);
    assert_int_equal(lg_writer_create(store, &wo, &w, &err), LG_OK);
    size_t h;
    assert_int_equal(lg_writer_layer(w, "x", d, LG_F32, &h, &err), LG_OK);
    assert_int_equal(lg_writer_add_rows(w, h, x, n, &err), LG_OK);
    assert_int_equal(lg_writer_labels(w, "quadrant", lab, n, &err), LG_OK);
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
    lg_store *s;
    assert_int_equal(lg_store_open(store, 0, &s, &err), LG_OK);
    lg_profile_opts o;
    lg_profile_opts_default(&o);
    o.labels = lab;
    o.per_class = 1;
    o.group_rank = 8;
    o.memory = 16u << 20; /* small: each class's search in its budget */
    lg_profile p;
    if (lg_profile_run(s, &o, &p, &err))
        fail_msg("%s", err.msg);
    const lg_layer_result *r = &p.layers[0];
    assert_int_equal(r->n_groups, 4);
    assert_int_equal(r->group_summary.groups, 4);
    assert_int_equal(r->group_summary.rows, n);
    uint64_t *rows = malloc(n * sizeof *rows);
    for (size_t g = 0; g < 4; g++) {
        uint64_t m = 0;
        for (uint64_t i = 0; i < n; i++)
            if (lab[i] == r->groups[g].key)
                rows[m++] = i;
        assert_int_equal(r->groups[g].n, m);
        double id, gr;
        by_hand(x, d, rows, m, 8, &id, &gr);
        if (!(fabs(r->groups[g].id - id) <= 1e-12 * id && fabs(r->groups[g].gride - gr) <= 1e-9 * gr))
            fail_msg("class %lld: %.12g / %.12g, alone %.12g / %.12g", (long long)r->groups[g].key,
                     r->groups[g].id, r->groups[g].gride, id, gr);
        assert_true(fabs(id - 5) < 1); /* each quadrant is still 5-dimensional */
    }
    assert_true(r->group_summary.q1 <= r->group_summary.median &&
                r->group_summary.median <= r->group_summary.q3);
    lg_profile_free(&p);
    /* without labels, per-class is refused */
    o.labels = NULL;
    assert_int_equal(lg_profile_run(s, &o, &p, &err), LG_EUSAGE);
    assert_non_null(strstr(err.msg, "needs labels"));
    lg_store_close(s);
    free(rows);
    free(lab);
    free(x);
}

/* 120 clouds of 40 rows in 12 columns, cloud g of dimension 1 + g % 3,
 * interleaved (rows of one cloud are not consecutive), and 3 clouds too
 * small for an ID; a layer of noise after it. */
static void many_small_clouds(void **state)
{
    (void)state;
    const uint32_t d = 12;
    const uint64_t clouds = 120, per = 40, tiny = 3, n = clouds * per + tiny * 2;
    float *x = calloc(n * d, sizeof *x);
    int64_t *grp = malloc(n * sizeof *grp);
    uint64_t seed = 11;
    for (uint64_t i = 0; i < clouds * per; i++) {
        uint64_t g = i % clouds; /* interleaved */
        grp[i] = (int64_t)g * 7 - 100; /* any integers */
        for (uint32_t a = 0; a < 1 + g % 3; a++)
            x[i * d + (a * 5 + g) % d] = (float)tu_uniform(&seed);
        x[i * d + (g % d)] += (float)g; /* clouds apart */
    }
    for (uint64_t i = clouds * per; i < n; i++) {
        grp[i] = 100000 + (int64_t)(i % tiny);
        for (uint32_t a = 0; a < d; a++)
            x[i * d + a] = (float)tu_uniform(&seed);
    }
    char store[512], gfile[512], csv[512], json[512];
    snprintf(store, sizeof store, "%s", tu_path(dir, "clouds.lgs"));
    snprintf(gfile, sizeof gfile, "%s", tu_path(dir, "groups.txt"));
    snprintf(csv, sizeof csv, "%s", tu_path(dir, "groups.csv"));
    snprintf(json, sizeof json, "%s", tu_path(dir, "clouds.json"));
    lg_writer *w;
    lg_writer_opts wo;
    lg_writer_opts_default(&wo);
    wo.chunk_rows = 256;
    lg_error err;
    assert_int_equal(lg_writer_create(store, &wo, &w, &err), LG_OK);
    size_t h;
    assert_int_equal(lg_writer_layer(w, "clouds", d, LG_F32, &h, &err), LG_OK);
    assert_int_equal(lg_writer_add_rows(w, h, x, n, &err), LG_OK);
    assert_int_equal(lg_writer_labels(w, "prompt", grp, n, &err), LG_OK);
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
    FILE *f = fopen(gfile, "w");
    for (uint64_t i = 0; i < n; i++)
        fprintf(f, "%lld\n", (long long)grp[i]);
    fclose(f);
    lg_store *s;
    assert_int_equal(lg_store_open(store, 0, &s, &err), LG_OK);
    lg_profile_opts o;
    lg_profile_opts_default(&o);
    o.k = 10;
    o.groups = grp;
    o.group_rank = 4;
    lg_profile p;
    if (lg_profile_run(s, &o, &p, &err))
        fail_msg("%s", err.msg);
    const lg_layer_result *r = &p.layers[0];
    assert_int_equal(r->n_groups, clouds + tiny);
    assert_int_equal(r->group_summary.groups, clouds);
    assert_int_equal(r->group_summary.skipped, tiny);
    assert_non_null(strstr(r->note, "too few rows"));
    uint64_t rows[40];
    for (size_t q = 0; q < clouds; q++) {
        const lg_group_result *G = &r->groups[q];
        uint64_t g = (uint64_t)((G->key + 100) / 7);
        assert_int_equal(G->n, per);
        for (uint64_t i = 0; i < per; i++)
            rows[i] = i * clouds + g;
        double id, gr;
        by_hand(x, d, rows, per, 4, &id, &gr);
        assert_true(G->id == id);
        assert_true(fabs(G->gride - gr) <= 1e-9 * gr);
    }
    /* the medians of dimension 1, 2, 3 clouds: about 2 */
    assert_true(r->group_summary.median > 1.4 && r->group_summary.median < 2.8);
    lg_profile_free(&p);
    lg_store_close(s);
    /* the CLI: groups by label set and by file agree; the CSV has a row per group */
    assert_int_equal(tu_cli("profile %s --no-cache -q --groups prompt --group-rank 4 --json %s "
                            "--groups-out %s",
                            store, json, csv),
                     0);
    size_t len;
    char *text = (char *)tu_read_file(csv, &len);
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    assert_int_equal(lines, 1 + clouds + tiny);
    free(text);
    text = (char *)tu_read_file(json, &len);
    assert_non_null(strstr(text, "\"of\": \"group\", \"count\": 123, \"with_id\": 120"));
    assert_non_null(strstr(text, "\"each\": null")); /* many groups: see the CSV */
    free(text);
    assert_int_equal(tu_cli("profile %s --no-cache --groups %s", store, gfile), 0);
    assert_non_null(strstr(tu_stdout(), "groups: TwoNN on each group's own rows"));
    /* --groups-only: no layer-wide search; the layer's ID is the groups' median */
    assert_int_equal(tu_cli("profile %s --no-cache --groups prompt --groups-only --json -", store),
                     0);
    assert_non_null(strstr(tu_stdout(), "\"estimator\": \"median of the groups\""));
    assert_non_null(strstr(tu_stdout(), "\"panels\": 0, \"seconds\": 0}")); /* no search */
    assert_int_equal(tu_cli("profile %s --no-cache --groups-only", store), 2);
    assert_int_not_equal(tu_cli("profile %s --no-cache --groups nosuchset", store), 0);
    assert_non_null(strstr(tu_stderr(), "nosuchset"));
    assert_int_equal(tu_cli("profile %s --no-cache --per-class --groups prompt", store), 2);
    free(x);
    free(grp);
}

int main(void)
{
    dir = tu_tmpdir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(per_class_equals_each_class_alone),
        cmocka_unit_test(many_small_clouds),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_rmdir(dir);
    return rc;
}
