/* The profile: a synthetic model whose ID rises, peaks and falls; JSON and
 * CSV; the same numbers for any thread count; the command line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "codec/crc32c.h"
#include "profile/cache.h"
#include "util/json.h"

#define N 1500
#define D 24

static const char *dir, *store;

/* A layer whose rows are d-dimensional Gaussians spread over D columns. */
static void add_layer(lg_writer *w, const char *name, uint32_t d, uint64_t seed)
{
    float *x = calloc((size_t)N * D, sizeof *x);
    for (uint64_t i = 0; i < N; i++)
        for (uint32_t a = 0; a < d; a++)
            x[i * D + (a * 5) % D] = (float)tu_normal(&seed);
    lg_error err;
    assert_int_equal(lg_writer_begin_layer(w, name, D, LG_F32, &err), LG_OK);
    assert_int_equal(lg_writer_rows(w, x, N, &err), LG_OK);
    assert_int_equal(lg_writer_end_layer(w, &err), LG_OK);
    free(x);
}

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir();
    store = strdup(tu_path(dir, "model.lgs"));
    lg_writer *w;
    lg_error err;
    lg_writer_opts o;
    lg_writer_opts_default(&o);
    o.codec = LG_CODEC_LZ4;
    o.chunk_rows = 256;
    if (lg_writer_create(store, &o, &w, &err))
        return -1;
    /* ID 3, 8, 12 (the peak), 5, 4: the answer is the last layer */
    uint32_t ids[5] = {3, 8, 12, 5, 4};
    for (int l = 0; l < 5; l++) {
        char name[16];
        snprintf(name, sizeof name, "block%d", l);
        add_layer(w, name, ids[l], 100 + l);
    }
    int64_t *lab = malloc(N * sizeof *lab);
    for (int i = 0; i < N; i++)
        lab[i] = i % 3;
    lg_writer_labels(w, "labels", lab, N, &err);
    free(lab);
    return lg_writer_close(w, &err);
}

static int teardown(void **state)
{
    (void)state;
    tu_rmdir(dir);
    free((void *)store);
    return 0;
}

static void profile_finds_the_minimum_after_the_peak(void **state)
{
    (void)state;
    lg_store *s;
    lg_error err;
    assert_int_equal(lg_store_open(store, 0, &s, &err), LG_OK);
    lg_profile_opts o;
    lg_profile_opts_default(&o);
    o.k = 20;
    uint64_t nl;
    assert_int_equal(lg_store_labels(s, "labels", &o.labels, &nl, &err), LG_OK);
    lg_profile p;
    if (lg_profile_run(s, &o, &p, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(p.n_layers, 5);
    uint32_t ids[5] = {3, 8, 12, 5, 4};
    for (int l = 0; l < 5; l++) {
        if (fabs(p.layers[l].id - ids[l]) > 0.1 * ids[l])
            fail_msg("layer %d: ID %.2f, expected about %u", l, p.layers[l].id, ids[l]);
        assert_int_equal(p.layers[l].has_prev, l > 0);
        assert_int_equal(p.layers[l].gride.scales, 6);
    }
    assert_int_equal(p.rec.peak, 2);
    assert_int_equal(p.rec.index, 4);
    assert_true(p.layers[0].has_labels);
    assert_true(p.best_label_layer >= 0);
    lg_profile_free(&p);
    lg_store_close(s);
}

static float *layer_rows(lg_store *s, size_t layer)
{
    float *x = malloc((size_t)N * D * sizeof *x);
    lg_cursor *c;
    lg_error err;
    assert_int_equal(lg_cursor_open(s, layer, N, &c, &err), LG_OK);
    assert_int_equal(lg_cursor_read(c, 0, N, x, &err), LG_OK);
    lg_cursor_close(c);
    return x;
}

/* Flips some of the lowest mantissa bits of x's first 64 values so that its
 * CRC32C becomes `want` (CRC32C is affine in the bits: Gaussian elimination
 * over GF(2) picks the bits).  The values move by an ulp at most. */
static void force_crc(float *x, size_t n, uint32_t want)
{
    unsigned char *b = (unsigned char *)x;
    size_t len = n * sizeof *x;
    uint32_t base = lgc_crc32c(0, b, len), col[64];
    for (int i = 0; i < 64; i++) {
        b[4 * i] ^= 1;
        col[i] = lgc_crc32c(0, b, len) ^ base;
        b[4 * i] ^= 1;
    }
    /* rows: 32 CRC bits; columns: 64 candidate bits; solve col . s = want ^ base */
    uint64_t row[32];
    uint32_t rhs = want ^ base;
    for (int r = 0; r < 32; r++) {
        row[r] = 0;
        for (int i = 0; i < 64; i++)
            row[r] |= (uint64_t)((col[i] >> r) & 1) << i;
    }
    int pivot_of[32], rank = 0;
    uint32_t rbits[32];
    for (int r = 0; r < 32; r++)
        rbits[r] = (rhs >> r) & 1;
    for (int c = 0; c < 64 && rank < 32; c++) {
        int p = -1;
        for (int r = rank; r < 32; r++)
            if ((row[r] >> c) & 1) {
                p = r;
                break;
            }
        if (p < 0)
            continue;
        uint64_t t = row[p];
        row[p] = row[rank];
        row[rank] = t;
        uint32_t tb = rbits[p];
        rbits[p] = rbits[rank];
        rbits[rank] = tb;
        for (int r = 0; r < 32; r++)
            if (r != rank && ((row[r] >> c) & 1)) {
                row[r] ^= row[rank];
                rbits[r] ^= rbits[rank];
            }
        pivot_of[rank++] = c;
    }
    assert_int_equal(rank, 32);
    for (int r = 0; r < 32; r++)
        if (rbits[r])
            b[4 * pivot_of[r]] ^= 1;
    assert_int_equal(lgc_crc32c(0, b, len), want);
}

/* The cache is keyed by a 64-bit content hash, not the 32-bit CRC alone
 * (#18 item 8): a layer of ID 8 whose content CRC was made equal to that of
 * a layer of ID 2 (same shape) is not given the other's cached lists. */
static void same_crc_is_not_the_same_layer(void **state)
{
    (void)state;
    const uint64_t n = 600;
    const uint32_t d = 8;
    float *a = calloc(n * d, sizeof *a), *b = malloc(n * d * sizeof *b);
    uint64_t seed = 5;
    for (uint64_t i = 0; i < n; i++) {
        a[i * d] = (float)tu_normal(&seed);
        a[i * d + 3] = (float)tu_normal(&seed);
        for (uint32_t j = 0; j < d; j++)
            b[i * d + j] = (float)tu_normal(&seed);
    }
    force_crc(b, n * d, lgc_crc32c(0, (unsigned char *)a, n * d * sizeof *a));
    char pa[600], pb[600], cache[600];
    snprintf(pa, sizeof pa, "%s", tu_path(dir, "crc_a.lgs"));
    snprintf(pb, sizeof pb, "%s", tu_path(dir, "crc_b.lgs"));
    snprintf(cache, sizeof cache, "%s", tu_path(dir, "crc.lgcache"));
    const float *x[2] = {a, b};
    const char *paths[2] = {pa, pb};
    double id[2][2];
    for (int l = 0; l < 2; l++) {
        lg_writer *w;
        lg_error err;
        assert_int_equal(lg_writer_create(paths[l], NULL, &w, &err), LG_OK);
        assert_int_equal(lg_writer_begin_layer(w, "h", d, LG_F32, &err), LG_OK);
        assert_int_equal(lg_writer_rows(w, x[l], n, &err), LG_OK);
        assert_int_equal(lg_writer_end_layer(w, &err), LG_OK);
        assert_int_equal(lg_writer_close(w, &err), LG_OK);
    }
    uint32_t crcs[2];
    for (int l = 0; l < 2; l++)
        for (int cached = 0; cached < 2; cached++) {
            lg_store *s;
            lg_error err;
            assert_int_equal(lg_store_open(paths[l], 0, &s, &err), LG_OK);
            lg_layer_info L;
            lg_store_layer(s, 0, &L);
            crcs[l] = L.content_crc;
            lg_profile_opts o;
            lg_profile_opts_default(&o);
            o.k = 10;
            o.cache_dir = cached ? cache : NULL; /* one cache for both stores */
            lg_profile p;
            if (lg_profile_run(s, &o, &p, &err))
                fail_msg("%s", err.msg);
            id[l][cached] = p.layers[0].id;
            if (cached)
                assert_int_equal(p.cache_hits, 0); /* the other layer's entry is no hit */
            lg_profile_free(&p);
            lg_store_close(s);
        }
    assert_int_equal(crcs[0], crcs[1]); /* the collision the test is about */
    assert_true(fabs(id[0][0] - 2) < 0.4 && fabs(id[1][0] - 8) < 1.5);
    assert_true(id[1][1] == id[1][0]);
    free(a);
    free(b);
}

/* The profile's information imbalance with the previous layer (both
 * directions, k = 1 by default and k = 3) equals lg_information_imbalance
 * on the layers' own lists, and Delta(l -> l) of a layer with itself is
 * the minimum 2 / N. */
static void imbalance_with_the_previous_layer(void **state)
{
    (void)state;
    lg_store *s;
    lg_error err;
    assert_int_equal(lg_store_open(store, 0, &s, &err), LG_OK);
    for (uint32_t k = 1; k <= 3; k += 2) {
        lg_profile_opts o;
        lg_profile_opts_default(&o);
        assert_int_equal(o.ii_k, 1);
        o.ii_k = k;
        lg_profile p;
        o.overlap_matrix = 1;
        if (lg_profile_run(s, &o, &p, &err))
            fail_msg("%s", err.msg);
        assert_false(p.layers[0].has_ii);
        /* the matrix agrees with the consecutive pairs, and its diagonal is
         * the least value, (k + 1) / N */
        size_t L = p.n_layers;
        assert_non_null(p.ii_matrix);
        for (size_t l = 0; l < L; l++) {
            assert_true(fabs(p.ii_matrix[l * L + l] - (k + 1.0) / N) < 1e-12);
            if (l) {
                assert_true(p.ii_matrix[(l - 1) * L + l] == p.layers[l].ii_from_prev.value);
                assert_true(p.ii_matrix[l * L + l - 1] == p.layers[l].ii_to_prev.value);
            }
        }
        for (size_t l = 1; l < p.n_layers; l++) {
            float *a = layer_rows(s, l - 1), *b = layer_rows(s, l);
            lg_knn_opts ko = {.k = p.k_lists};
            lg_knn na, nb;
            assert_int_equal(lg_knn_exact_matrix(a, N, D, &ko, &na, &err), LG_OK);
            assert_int_equal(lg_knn_exact_matrix(b, N, D, &ko, &nb, &err), LG_OK);
            tu_rows ma = {a, D}, mb = {b, D};
            lg_imbalance ab, ba, aa;
            assert_int_equal(lg_information_imbalance(&na, &nb, k, D, tu_read_rows, &mb, NULL, &ab,
                                                      &err),
                             LG_OK);
            assert_int_equal(lg_information_imbalance(&nb, &na, k, D, tu_read_rows, &ma, NULL, &ba,
                                                      &err),
                             LG_OK);
            assert_true(p.layers[l].has_ii);
            /* towards this layer: counted in its own search; the other way
             * over the previous layer's rows */
            assert_int_equal(p.layers[l].ii_from_by, LG_II_SEARCH);
            assert_int_equal(p.layers[l].ii_to_by, LG_II_ROWS);
            assert_true(p.layers[l].ii_from_prev.value == ab.value);
            assert_true(p.layers[l].ii_to_prev.value == ba.value);
            assert_true(ab.value > 0 && ab.value < 1.5);
            assert_int_equal(lg_information_imbalance(&na, &na, k, D, tu_read_rows, &ma, NULL, &aa,
                                                      &err),
                             LG_OK);
            /* a layer with itself: rank q + 1 for its q-th neighbour */
            double least = 2.0 / N * (k + 1) / 2.0;
            assert_true(fabs(aa.value - least) < 1e-12);
            assert_int_equal(aa.counted, 0);
            lg_knn_free(&na);
            lg_knn_free(&nb);
            free(a);
            free(b);
        }
        lg_profile_free(&p);
    }
    /* with a cache, a second run takes both directions from it, equal */
    char cdir[4200];
    snprintf(cdir, sizeof cdir, "%s/ii-cache", dir);
    lg_profile runs[2];
    for (int run = 0; run < 2; run++) {
        lg_profile_opts o;
        lg_profile_opts_default(&o);
        o.cache_dir = cdir;
        if (lg_profile_run(s, &o, &runs[run], &err))
            fail_msg("%s", err.msg);
    }
    for (size_t l = 1; l < runs[0].n_layers; l++) {
        assert_int_equal(runs[0].layers[l].ii_from_by, LG_II_SEARCH);
        assert_int_equal(runs[1].layers[l].ii_from_by, LG_II_CACHE);
        assert_int_equal(runs[1].layers[l].ii_to_by, LG_II_CACHE);
        assert_true(runs[1].layers[l].ii_from_prev.value == runs[0].layers[l].ii_from_prev.value);
        assert_true(runs[1].layers[l].ii_to_prev.value == runs[0].layers[l].ii_to_prev.value);
        assert_true(runs[1].layers[l].ii_from_prev.counted == runs[0].layers[l].ii_from_prev.counted);
    }
    lg_profile_free(&runs[0]);
    lg_profile_free(&runs[1]);
    /* DADApy's subset protocol: one subset of all rows is the exact value;
     * 4 subsets give a mean and an error bar */
    lg_profile_opts o;
    lg_profile_opts_default(&o);
    size_t two[2] = {1, 2};
    o.layers = two;
    o.n_layers = 2;
    o.ii_subsets = N;
    lg_profile p;
    if (lg_profile_run(s, &o, &p, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(p.layers[1].ii_sub_count, 1);
    assert_true(p.layers[1].ii_sub_from_prev[0] == p.layers[1].ii_from_prev.value);
    assert_true(p.layers[1].ii_sub_to_prev[0] == p.layers[1].ii_to_prev.value);
    lg_profile_free(&p);
    o.ii_subsets = N / 4;
    if (lg_profile_run(s, &o, &p, &err))
        fail_msg("%s", err.msg);
    assert_int_equal(p.layers[1].ii_sub_count, 4);
    assert_int_equal(p.layers[1].ii_sub_rows, N / 4);
    assert_true(p.layers[1].ii_sub_from_prev[1] > 0);
    /* on fewer rows the ranks are coarser, the imbalance of the same order */
    double ratio = p.layers[1].ii_sub_from_prev[0] / p.layers[1].ii_from_prev.value;
    assert_true(ratio > 0.5 && ratio < 2);
    lg_profile_free(&p);
    lg_store_close(s);
}

static char *json_of(int threads, uint32_t tile)
{
    lg_store *s;
    lg_error err;
    assert_int_equal(lg_store_open(store, 0, &s, &err), LG_OK);
    lg_profile_opts o;
    lg_profile_opts_default(&o);
    o.threads = threads;
    o.tile = tile;
    o.overlap_matrix = 1;
    lg_profile p;
    assert_int_equal(lg_profile_run(s, &o, &p, &err), LG_OK);
    char *buf;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    lg_report_info info = {.store_path = store, .labels_from = "labels"};
    assert_int_equal(lg_report_json(f, &p, &info), LG_OK);
    fclose(f);
    lg_profile_free(&p);
    lg_store_close(s);
    return buf;
}

/* Replace the timings, which differ from run to run, by 0. */
static void strip_seconds(char *s)
{
    char *o = s;
    for (const char *p = s; *p;) {
        if (strncmp(p, "seconds\": ", 10) == 0) {
            memcpy(o, "seconds\": 0", 11);
            o += 11;
            p += 10;
            while (*p && *p != ',' && *p != '}' && *p != '\n')
                p++;
        } else {
            *o++ = *p++;
        }
    }
    *o = 0;
}

static void same_numbers_for_any_threads_and_tiles(void **state)
{
    (void)state;
    char *a = json_of(1, 0), *b = json_of(2, 0), *c = json_of(2, 100);
    strip_seconds(a);
    strip_seconds(b);
    strip_seconds(c);
    assert_string_equal(a, b);
    assert_string_equal(a, c);
    /* and the JSON is valid, with the documented keys */
    char why[160];
    lgj *v = lgj_parse(a, strlen(a), why, sizeof why);
    if (!v)
        fail_msg("invalid JSON: %s", why);
    const lgj *layers = lgj_get(v, "layers");
    assert_non_null(layers);
    assert_int_equal(layers->len, 5);
    const char *keys[] = {"index", "name", "n", "d", "twonn", "twonn_ml", "gride",
                          "overlap_prev", "overlap_labels", "duplicates", "seconds"};
    for (size_t q = 0; q < sizeof keys / sizeof keys[0]; q++)
        assert_non_null(lgj_get(layers->items[1], keys[q]));
    assert_non_null(lgj_get(lgj_get(layers->items[1], "twonn"), "err"));
    assert_non_null(lgj_get(lgj_get(layers->items[1], "overlap_prev"), "30"));
    assert_non_null(lgj_get(lgj_get(v, "recommended_layer"), "reason"));
    assert_int_equal(lgj_get(lgj_get(v, "recommended_layer"), "index")->num, 4);
    assert_non_null(lgj_get(v, "parameters"));
    assert_true(lgj_get(lgj_get(layers->items[4], "overlap_last"), "30")->num == 1);
    const lgj *m = lgj_get(v, "overlap_matrix");
    assert_int_equal(m->len, 5);
    assert_true(m->items[2]->items[2]->num == 1);
    assert_true(m->items[1]->items[2]->num == m->items[2]->items[1]->num);
    lgj_free(v);
    free(a);
    free(b);
    free(c);
}

static void cli_profile(void **state)
{
    (void)state;
    const char *json = tu_path(dir, "p.json"), *csv = tu_path(dir, "p.csv");
    assert_int_equal(tu_cli("profile %s --k 20 --json %s --csv %s", store, json, csv), 0);
    assert_non_null(strstr(tu_stdout(), "recommended layer: 4 (block4)"));
    assert_non_null(strstr(tu_stdout(), "<- recommended"));
    size_t len;
    char *text = (char *)tu_read_file(csv, &len);
    int lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    assert_int_equal(lines, 6);
    assert_non_null(strstr(text, "block2"));
    free(text);
    /* --json - prints only JSON */
    assert_int_equal(tu_cli("profile %s --json - --layers 0,block3", store), 0);
    assert_true(tu_stdout()[0] == '{');
    assert_non_null(strstr(tu_stdout(), "\"name\": \"block3\""));
    assert_null(strstr(tu_stdout(), "block1"));
    /* the paper's protocol and decimation */
    assert_int_equal(tu_cli("profile %s --preset paper --decimation -q --json %s", store, json), 0);
    text = (char *)tu_read_file(json, &len);
    assert_non_null(strstr(text, "\"decimation\": [{\"rows\": 1500"));
    assert_non_null(strstr(text, "\"estimator\": \"paper\""));
    free(text);
    /* errors */
    assert_int_equal(tu_cli("profile %s --k 5000", store), 2);
    assert_int_equal(tu_cli("profile %s --layers 9", store), 2);
    assert_non_null(strstr(tu_stderr(), "no layer '9'"));
    assert_int_equal(tu_cli("profile %s --id pca", store), 2);
    assert_int_equal(tu_cli("profile %s --id gride --gride-rank 128", store), 2);
    assert_non_null(strstr(tu_stderr(), "power of two"));
    assert_int_equal(tu_cli("profile %s --no-cache --memory 2M", store), 4);
    assert_non_null(strstr(tu_stderr(), "too small"));
}

/* The JSON of a profile with or without the cache, without what may differ
 * between runs: timings, the cache's own counts, the kNN bookkeeping line. */
static char *stable_json(const char *path, const char *cache, uint32_t k, uint32_t gmax,
                         uint64_t *runs, uint64_t *hits)
{
    lg_store *s;
    lg_error err;
    assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK);
    lg_profile_opts o;
    lg_profile_opts_default(&o);
    o.k = k;
    o.gride_max_rank = gmax;
    o.cache_dir = cache;
    o.paper = 0;
    lg_profile p;
    if (lg_profile_run(s, &o, &p, &err))
        fail_msg("%s", err.msg);
    *runs = p.knn_runs;
    *hits = p.cache_hits;
    char *buf;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    lg_report_json(f, &p, NULL);
    fclose(f);
    lg_profile_free(&p);
    lg_store_close(s);
    char *o2 = buf;
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        if (strstr(line, "\"knn\"") || strstr(line, "\"seconds\"") ||
            strstr(line, "\"cache\""))
            continue;
        size_t l = strlen(line);
        memmove(o2, line, l);
        o2[l] = '\n';
        o2 += l + 1;
    }
    *o2 = 0;
    return buf;
}

static void incremental_profile_computes_only_new_layers(void **state)
{
    (void)state;
    const char *path = tu_path(dir, "grow.lgs"), *cache = tu_path(dir, "grow.cache");
    lg_writer *w;
    lg_error err;
    unlink(path);
    assert_int_equal(lg_writer_create(path, NULL, &w, &err), LG_OK);
    add_layer(w, "a", 3, 1);
    add_layer(w, "b", 6, 2);
    add_layer(w, "c", 9, 3);
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
    uint64_t runs, hits;
    free(stable_json(path, cache, 30, 64, &runs, &hits));
    assert_int_equal(runs, 3);
    assert_int_equal(hits, 0);
    /* two more layers are exported later */
    assert_int_equal(lg_writer_append(path, NULL, &w, &err), LG_OK);
    add_layer(w, "d", 5, 4);
    add_layer(w, "e", 4, 5);
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
    char *again = stable_json(path, cache, 30, 64, &runs, &hits);
    assert_int_equal(runs, 2); /* only the new layers */
    assert_int_equal(hits, 3);
    char *fresh = stable_json(path, NULL, 30, 64, &runs, &hits);
    assert_int_equal(runs, 5);
    assert_string_equal(again, fresh); /* identical results */
    free(again);
    free(fresh);
    /* other parameters reuse the lists: a smaller k and fewer GRIDE scales */
    char *small = stable_json(path, cache, 10, 16, &runs, &hits);
    assert_int_equal(runs, 0);
    assert_int_equal(hits, 5);
    char *small_fresh = stable_json(path, NULL, 10, 16, &runs, &hits);
    assert_string_equal(small, small_fresh);
    free(small);
    free(small_fresh);
    /* a damaged entry is not trusted: that layer is computed again */
    char cmd[1200];
    snprintf(cmd, sizeof cmd,
             "f=$(ls '%s'/knn-* | head -1); printf 'X' | dd of=\"$f\" bs=1 seek=200 "
             "conv=notrunc 2>/dev/null",
             cache);
    assert_int_equal(system(cmd), 0);
    free(stable_json(path, cache, 30, 64, &runs, &hits));
    assert_int_equal(runs, 1);
    assert_int_equal(hits, 4);
}

/* Rows i of three layers: a Gaussian cloud, an integer grid (exact ties),
 * and rows that come twice (duplicates at distance 0). */
static void grow_rows(int layer, uint64_t i, float *out)
{
    uint64_t seed = 1000 * (uint64_t)layer + i;
    if (layer == 0) {
        for (int j = 0; j < 8; j++)
            out[j] = (float)tu_normal(&seed);
    } else if (layer == 1) {
        out[0] = (float)(i % 9);
        out[1] = (float)((i / 9) % 9);
        out[2] = (float)((i * 7) % 5);
    } else {
        seed = 2000 + i / 2; /* rows 2m and 2m + 1 are equal */
        for (int j = 0; j < 5; j++)
            out[j] = (float)tu_normal(&seed);
    }
}

static void add_grow_batches(lg_writer *w, uint64_t from, uint64_t to)
{
    static const uint32_t dims[3] = {8, 3, 5};
    lg_error err;
    size_t h[3];
    for (int l = 0; l < 3; l++) {
        char name[8];
        snprintf(name, sizeof name, "g%d", l);
        assert_int_equal(lg_writer_layer(w, name, dims[l], LG_F32, &h[l], &err), LG_OK);
    }
    float row[8];
    for (uint64_t i = from; i < to; i++)
        for (int l = 0; l < 3; l++) {
            grow_rows(l, i, row);
            assert_int_equal(lg_writer_add_rows(w, h[l], row, 1, &err), LG_OK);
        }
}

/* Plain chunks: the prefix is recognised from the chunks' checksums;
 * compressed ones (zstd): by reading the first rows. */
static void appended_rows_update(int zstd)
{
    const char *path = tu_path(dir, zstd ? "rowsz.lgs" : "rows.lgs"),
               *cache = tu_path(dir, zstd ? "rowsz.cache" : "rows.cache");
    lg_writer *w;
    lg_error err;
    lg_writer_opts wo;
    lg_writer_opts_default(&wo);
    wo.codec = zstd ? LG_CODEC_ZSTD : LG_CODEC_NONE;
    unlink(path);
    assert_int_equal(lg_writer_create(path, &wo, &w, &err), LG_OK);
    add_grow_batches(w, 0, 600);
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
    uint64_t runs, hits;
    free(stable_json(path, cache, 30, 64, &runs, &hits));
    assert_int_equal(runs, 3);
    /* more inputs are exported later: rows added to every layer */
    assert_int_equal(lg_writer_append(path, &wo, &w, &err), LG_OK);
    add_grow_batches(w, 600, 800);
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
    lg_store *s;
    assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK);
    assert_int_equal(lg_store_rows(s), 800);
    lg_profile_opts o;
    lg_profile_opts_default(&o);
    o.cache_dir = cache;
    o.paper = 0;
    lg_profile p;
    assert_int_equal(lg_profile_run(s, &o, &p, &err), LG_OK);
    for (size_t l = 0; l < 3; l++)
        if (p.layers[l].grown_from != 600)
            fail_msg("layer %zu: lists not updated from the 600 cached rows (%llu)", l,
                     (unsigned long long)p.layers[l].grown_from);
    lg_profile_free(&p);
    lg_store_close(s);
    /* the updated lists are cached in turn; the numbers equal a fresh profile */
    char *again = stable_json(path, cache, 30, 64, &runs, &hits);
    assert_int_equal(runs, 0);
    assert_int_equal(hits, 3);
    char *fresh = stable_json(path, NULL, 30, 64, &runs, &hits);
    assert_string_equal(again, fresh);
    free(again);
    free(fresh);
    /* and the lists themselves equal a fresh search, bit for bit */
    assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK);
    for (size_t l = 0; l < 3; l++) {
        lg_layer_info L;
        lg_store_layer(s, l, &L);
        lgp_cache *c;
        assert_int_equal(lgp_cache_open(cache, &c, &err), LG_OK);
        lg_knn cached, exact;
        uint64_t hash;
        assert_int_equal(lgp_layer_hash(c, s, l, L.n, &hash, &err), LG_OK);
        assert_true(lgp_cache_get_knn(c, &L, hash, 64, &cached));
        lg_knn_opts ko = {.k = 64};
        assert_int_equal(lg_knn_exact_layer(s, l, &ko, &exact, &err), LG_OK);
        assert_memory_equal(cached.idx, exact.idx, 800 * 64 * sizeof *exact.idx);
        assert_memory_equal(cached.dist, exact.dist, 800 * 64 * sizeof *exact.dist);
        lg_knn_free(&cached);
        lg_knn_free(&exact);
        lgp_cache_close(c);
    }
    lg_store_close(s);
}

static void appended_rows_update_the_cached_lists(void **state)
{
    (void)state;
    appended_rows_update(0);
    appended_rows_update(1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(profile_finds_the_minimum_after_the_peak),
        cmocka_unit_test(imbalance_with_the_previous_layer),
        cmocka_unit_test(same_crc_is_not_the_same_layer),
        cmocka_unit_test(same_numbers_for_any_threads_and_tiles),
        cmocka_unit_test(cli_profile),
        cmocka_unit_test(incremental_profile_computes_only_new_layers),
        cmocka_unit_test(appended_rows_update_the_cached_lists),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
