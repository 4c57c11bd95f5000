/* The command-line program: round trips of the reference data, exit codes
 * and messages for bad input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "util/json.h"


static int same_file(const char *a, const char *b)
{
    size_t la, lb;
    unsigned char *x = tu_read_file(a, &la), *y = tu_read_file(b, &lb);
    int same = x && y && la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

static void reference_arrays_round_trip_bit_exactly(void **state)
{
    (void)state;
    const char *names[] = {"digits_X", "digits_pca16", "unif5in50_X", "unif5in50_noisy",
                           "gauss10_X", "gauss10_tanh20", "2gaussians_in_2d",
                           "2gaussians_in_2d_overlap"};
    const char *codecs[] = {"--codec none", "--codec lz4 --shuffle", "--codec zstd --level 3"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "reference/data/%s.npy", names[i]);
        const char *in = tu_shared(rel);
        if (!in)
            skip();
        for (int c = 0; c < 3; c++) {
            const char *store = tu_path(tu_dir, "ref.lgs"), *out = tu_path(tu_dir, "ref.npy");
            unlink(store);
            assert_int_equal(tu_cli("pack -q -o %s %s %s", store, codecs[c], in), 0);
            assert_int_equal(tu_cli("export %s --layer 0 --force -o %s", store, out), 0);
            if (!same_file(in, out))
                fail_msg("%s with %s: export differs from the input", names[i], codecs[c]);
        }
    }
    /* labels (int64) too */
    const char *y = tu_shared("reference/data/digits_y.npy"),
               *x = tu_shared("reference/data/digits_X.npy");
    const char *store = tu_path(tu_dir, "lab.lgs"), *out = tu_path(tu_dir, "y.npy");
    unlink(store);
    assert_int_equal(tu_cli("pack -q -o %s --labels %s %s", store, y, x), 0);
    assert_int_equal(tu_cli("export %s --labels -o %s", store, out), 0);
    assert_true(same_file(y, out));
}

static void sample_packs_in_every_codec(void **state)
{
    (void)state;
    const char *s = tu_shared("samples/use_lite_fortunes_1000");
    if (!s)
        skip();
    const char *store = tu_path(tu_dir, "sample.lgs");
    unlink(store);
    assert_int_equal(tu_cli("pack -q -o %s --codec zstd --shuffle --labels %s/labels.npy "
                            "%s/layer0*.npy",
                            store, s, s),
                     0);
    assert_int_equal(tu_cli("info %s", store), 0);
    assert_non_null(strstr(tu_stdout(), "7 layers, 1000 rows"));
    assert_non_null(strstr(tu_stdout(), "layer06"));
    assert_int_equal(tu_cli("info --json %s", store), 0);
    assert_non_null(strstr(tu_stdout(), "\"dtype\": \"f16\""));
    assert_int_equal(tu_cli("verify %s", store), 0);
    const char *out = tu_path(tu_dir, "l3.npy");
    char want[600];
    snprintf(want, sizeof want, "%s/layer03.npy", s);
    assert_int_equal(tu_cli("export %s --layer layer03 -o %s", store, out), 0);
    assert_true(same_file(want, out));
}

static void bad_input_gives_clear_errors(void **state)
{
    (void)state;
    const char *a = tu_path(tu_dir, "a.npy"), *b = tu_path(tu_dir, "b.npy"),
               *store = tu_path(tu_dir, "e.lgs");
    float x[12] = {0};
    uint64_t s1[2] = {4, 3}, s2[2] = {3, 4};
    tu_write_npy(a, "<f4", 0, s1, 2, x, sizeof x);
    tu_write_npy(b, "<f4", 0, s2, 2, x, sizeof x);
    unlink(store);
    /* rows disagree: nothing is written */
    assert_int_equal(tu_cli("pack -o %s %s %s", store, a, b), 1);
    assert_non_null(strstr(tu_stderr(), "every layer must hold the same inputs"));
    assert_int_not_equal(access(store, F_OK), 0);
    /* usage errors */
    assert_int_equal(tu_cli("pack %s", a), 2);
    assert_int_equal(tu_cli("pack -o %s --codec brotli %s", store, a), 2);
    assert_int_equal(tu_cli("frobnicate"), 2);
    assert_int_equal(tu_cli("pack --help"), 0);
    assert_non_null(strstr(tu_stdout(), "usage: layergeom pack"));
    /* an existing store is never overwritten */
    assert_int_equal(tu_cli("pack -q -o %s %s", store, a), 0);
    assert_int_equal(tu_cli("pack -q -o %s %s", store, a), 2);
    assert_non_null(strstr(tu_stderr(), "--append"));
    /* append works, and refuses a layer of the wrong height */
    assert_int_equal(tu_cli("pack -q --append -o %s %s", store, b), 1);
    tu_write_npy(b, "<f4", 0, s1, 2, x, sizeof x);
    assert_int_equal(tu_cli("pack -q --append -o %s --label-set y %s", store, b), 0);
    const char *lab = tu_path(tu_dir, "lab.txt");
    tu_write_file(lab, "x\ny\nx\nz\n", 8);
    assert_int_equal(tu_cli("pack -q --append -o %s --labels %s %s", store, lab, b), 2);
    assert_non_null(strstr(tu_stderr(), "already has a layer named 'b'"));
    assert_int_equal(tu_cli("info %s", store), 0);
    assert_null(strstr(tu_stdout(), "labels '")); /* the failed pack added nothing */
    const char *c = tu_path(tu_dir, "c.npy");
    tu_write_npy(c, "<f4", 0, s1, 2, x, sizeof x);
    assert_int_equal(tu_cli("pack -q --append -o %s --labels %s %s", store, lab, c), 0);
    assert_int_equal(tu_cli("info %s", store), 0);
    assert_non_null(strstr(tu_stdout(), "3 layers"));
    assert_non_null(strstr(tu_stdout(), "label_names.labels = x, y, z"));
    /* not a store; a missing layer */
    assert_int_equal(tu_cli("info %s", a), 1);
    assert_non_null(strstr(tu_stderr(), "a .npy array, not a layergeom store"));
    assert_int_equal(tu_cli("info %s", LG_SOURCE_DIR "/README.md"), 1);
    assert_non_null(strstr(tu_stderr(), "offset 0: bad magic"));
    assert_int_equal(tu_cli("export %s --layer 9 -o %s", store, tu_path(tu_dir, "o.npy")), 1);
    assert_non_null(strstr(tu_stderr(), "no layer '9'"));
    assert_int_equal(tu_cli("info %s", tu_path(tu_dir, "missing.lgs")), 1);
}

static void verify_and_repair(void **state)
{
    (void)state;
    const char *a = tu_path(tu_dir, "r.npy"), *store = tu_path(tu_dir, "r.lgs");
    float x[300];
    for (int i = 0; i < 300; i++)
        x[i] = (float)i;
    uint64_t sh[2] = {100, 3};
    tu_write_npy(a, "<f4", 0, sh, 2, x, sizeof x);
    unlink(store);
    assert_int_equal(tu_cli("pack -q -o %s --chunk-rows 10 %s", store, a), 0);
    size_t len;
    unsigned char *bytes = tu_read_file(store, &len);
    /* cut inside the index: info still reads the layer, verify fails, repair mends */
    tu_write_file(store, bytes, len - 100);
    assert_int_equal(tu_cli("info %s", store), 0);
    assert_non_null(strstr(tu_stderr(), "warning"));
    assert_int_equal(tu_cli("verify %s", store), 1);
    assert_non_null(strstr(tu_stderr(), "--repair"));
    assert_int_equal(tu_cli("verify --repair %s", store), 0);
    assert_non_null(strstr(tu_stdout(), "ok (1 layers"));
    assert_int_equal(tu_cli("verify %s", store), 0);
    /* a flipped payload byte: verify names the layer and offset */
    bytes[192 + 64 + 3] ^= 0x40; /* first chunk payload (after the empty store's commit) */
    tu_write_file(store, bytes, len);
    assert_int_equal(tu_cli("verify %s", store), 1);
    assert_non_null(strstr(tu_stderr(), "layer 0 (r)"));
    assert_non_null(strstr(tu_stderr(), "offset 192"));
    assert_non_null(strstr(tu_stderr(), "verify --salvage")); /* the remedy named */
    /* one remedy at a time */
    assert_int_equal(tu_cli("verify --repair --salvage %s", store), 2);
    assert_non_null(strstr(tu_stderr(), "not both"));
    /* the salvage leaves the damaged layer out, names it, and the store verifies */
    assert_int_equal(tu_cli("verify --salvage %s", store), 0);
    assert_non_null(strstr(tu_stdout(), "was left out"));
    assert_non_null(strstr(tu_stdout(), "ok (0 layers"));
    assert_non_null(strstr(tu_stdout(), "nothing uses"));
    assert_int_equal(tu_cli("verify %s", store), 0);
    free(bytes);
}

/* profile runs with the BLAS kernels this CPU supports: the better choice
 * when OpenBLAS fell back to a generic one, the user's when set. */
static void blas_kernels_chosen_at_run_time(void **state)
{
    (void)state;
    const char *sample = LG_SOURCE_DIR "/samples/fortunes.lgs";
    const char *now = lg_blas_kernel(), *better = lg_blas_better_kernel();
    assert_true(now && now[0]);
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv("LAYERGEOM_BLAS");
    assert_int_equal(tu_cli("profile %s --no-cache -v --layers 0", sample), 0);
    char want[128];
    snprintf(want, sizeof want, "BLAS kernels: %s", better ? better : now);
    if (!strstr(tu_stderr(), want))
        fail_msg("expected '%s' in: %s", want, tu_stderr());
    /* the user's choice is kept */
    setenv("OPENBLAS_CORETYPE", "Haswell", 1);
    assert_int_equal(tu_cli("profile %s --no-cache -v --layers 0", sample), 0);
    unsetenv("OPENBLAS_CORETYPE");
    if (!strstr(tu_stderr(), "BLAS kernels: Haswell (OPENBLAS_CORETYPE)"))
        fail_msg("the user's OPENBLAS_CORETYPE was not kept: %s", tu_stderr());
    /* and LAYERGEOM_BLAS=keep keeps OpenBLAS's own */
    setenv("LAYERGEOM_BLAS", "keep", 1);
    assert_int_equal(tu_cli("profile %s --no-cache -v --layers 0", sample), 0);
    unsetenv("LAYERGEOM_BLAS");
    snprintf(want, sizeof want, "BLAS kernels: %s\n", now);
    if (!strstr(tu_stderr(), want))
        fail_msg("expected '%s' in: %s", want, tu_stderr());
}

/* The frictions of a first afternoon: typos, ranges, blank lines, the wrong
 * file, a loop of ingests. */
/* tu_path's buffers are reused: a copy for paths used across many calls */
static const char *keep_path(const char *name)
{
    static char keep[16][512];
    static int next;
    char *p = keep[next++ % 16];
    snprintf(p, sizeof keep[0], "%s", tu_path(tu_dir, name));
    return p;
}

static void first_afternoon(void **state)
{
    (void)state;
    const char *sample = LG_SOURCE_DIR "/samples/fortunes.lgs";
    /* a typo gets the nearest option; -k is --k */
    assert_int_equal(tu_cli("profile %s --lables y.txt", sample), 2);
    assert_non_null(strstr(tu_stderr(), "did you mean '--labels'?"));
    assert_int_equal(tu_cli("pack --codc lz4 -o x.lgs a.npy"), 2);
    assert_non_null(strstr(tu_stderr(), "did you mean '--codec'?"));
    assert_int_equal(tu_cli("profile %s --frobnicate", sample), 2);
    assert_null(strstr(tu_stderr(), "did you mean"));
    assert_int_equal(tu_cli("profile %s -k 5 --no-cache --layers 0 --json -", sample), 0);
    assert_non_null(strstr(tu_stdout(), "\"k\": 5"));
    /* the table fits a 120-column terminal; --wide has every column */
    assert_int_equal(tu_cli("profile %s --no-cache", sample), 0);
    size_t longest = 0;
    for (const char *l = tu_stdout(); *l;) {
        const char *e = strchr(l, '\n');
        size_t len = e ? (size_t)(e - l) : strlen(l);
        longest = len > longest ? len : longest;
        l += len + (e != NULL);
    }
    if (longest > 120)
        fail_msg("a table line of %zu columns:\n%s", longest, tu_stdout());
    assert_null(strstr(tu_stdout(), " ML "));
    assert_non_null(strstr(tu_stdout(), "<- recommended"));
    assert_int_equal(tu_cli("profile %s --no-cache --wide", sample), 0);
    assert_non_null(strstr(tu_stdout(), " ML "));
    assert_non_null(strstr(tu_stdout(), "G@2 "));
    assert_non_null(strstr(tu_stdout(), "seconds"));
    /* ranges of layers, open ranges; an empty list is a usage error (it crashed) */
    assert_int_equal(tu_cli("profile %s --no-cache --layers 2-4,6 --csv - -q", sample), 0);
    assert_non_null(strstr(tu_stdout(), "\n2,layer02"));
    assert_non_null(strstr(tu_stdout(), "\n4,layer04"));
    assert_non_null(strstr(tu_stdout(), "\n6,layer06"));
    assert_null(strstr(tu_stdout(), "\n5,layer05"));
    assert_int_equal(tu_cli("profile %s --no-cache --layers 5- --csv - -q", sample), 0);
    assert_non_null(strstr(tu_stdout(), "\n6,layer06"));
    assert_null(strstr(tu_stdout(), "\n4,layer04"));
    assert_int_equal(tu_cli("profile %s --layers , --json %s", sample,
                            tu_path(tu_dir, "p.json")), 2);
    assert_int_equal(tu_cli("profile %s --layers ''", sample), 2);
    assert_int_equal(tu_cli("profile %s --layers 4-2", sample), 2);
    assert_non_null(strstr(tu_stderr(), "a range runs from"));
    /* a label file with blank lines at its end; a blank line inside is named */
    const char *lab = keep_path("blank.txt");
    char text[8000];
    size_t at = 0;
    for (int i = 0; i < 1000; i++)
        at += (size_t)snprintf(text + at, sizeof text - at, "%d\n", i % 3);
    at += (size_t)snprintf(text + at, sizeof text - at, "\n\n");
    tu_write_file(lab, text, at);
    assert_int_equal(tu_cli("profile %s --no-cache --layers 0 --labels %s -q", sample, lab), 0);
    memcpy(text + 4, "\n", 1); /* line 3 blank */
    text[3] = '\n';
    tu_write_file(lab, text, at);
    assert_int_equal(tu_cli("profile %s --no-cache --layers 0 --labels %s -q", sample, lab), 1);
    assert_non_null(strstr(tu_stderr(), "empty label"));
    /* a .npy given where a store belongs: say so, and how to pack it */
    const char *a = keep_path("arr.npy");
    float x[64] = {0};
    uint64_t shape[2] = {8, 8};
    tu_write_npy(a, "<f4", 0, shape, 2, x, sizeof x);
    assert_int_equal(tu_cli("profile %s", a), 1);
    assert_non_null(strstr(tu_stderr(), "a .npy array, not a layergeom store"));
    assert_non_null(strstr(tu_stderr(), "layergeom pack -o"));
    /* ingest --append starts a store that is not there; a failed ingest
     * leaves no empty store behind, so the rerun works */
    const char *stream = keep_path("s.lgsx"), *fresh = keep_path("fresh.lgs");
    unlink(fresh);
    assert_int_equal(tu_cli("export %s --stream -o %s", sample, stream), 0);
    assert_int_equal(tu_cli("ingest -q --append -o %s %s", fresh, stream), 0);
    assert_int_equal(tu_cli("info %s", fresh), 0);
    assert_non_null(strstr(tu_stdout(), "7 layers"));
    const char *junk = keep_path("junk.bin"), *failed = keep_path("failed.lgs");
    tu_write_file(junk, "this is not a stream", 20);
    unlink(failed);
    assert_int_equal(tu_cli("ingest -o %s %s", failed, junk), 1);
    assert_non_null(strstr(tu_stderr(), "was removed"));
    assert_int_not_equal(access(failed, F_OK), 0);
    assert_int_equal(tu_cli("ingest -q -o %s %s", failed, stream), 0);
    /* data after the end of a stream is not dropped silently: exit 1, its
     * offset named, what came before kept */
    const char *twice = keep_path("twice.lgsx"), *st2 = keep_path("twice.lgs");
    size_t slen;
    unsigned char *sbytes = tu_read_file(stream, &slen);
    unsigned char *both = malloc(2 * slen);
    memcpy(both, sbytes, slen);
    memcpy(both + slen, sbytes, slen);
    tu_write_file(twice, both, 2 * slen);
    free(both);
    free(sbytes);
    assert_int_equal(tu_cli("ingest -o %s %s", st2, twice), 1);
    assert_non_null(strstr(tu_stderr(), "more data after the end record"));
    char want[64];
    snprintf(want, sizeof want, "offset %zu", slen);
    assert_non_null(strstr(tu_stderr(), want));
    assert_int_equal(tu_cli("info %s", st2), 0);
    assert_non_null(strstr(tu_stdout(), "7 layers"));
    /* a closed stdin is refused (the new store would be fd 0, read as input) */
    const char *closed = keep_path("closed.lgs");
    assert_int_equal(tu_cli("ingest -o %s - <&-", closed), 2);
    assert_non_null(strstr(tu_stderr(), "standard input is closed"));
    assert_int_not_equal(access(closed, F_OK), 0);
    assert_int_equal(tu_cli("ingest --append -o %s - <&-", failed), 2);
    assert_int_equal(tu_cli("verify %s", failed), 0);
    /* rename: a new commit, the rows untouched, the old name gone */
    assert_int_equal(tu_cli("export %s --layer layer03 -o %s", fresh, tu_path(tu_dir, "r3.npy")),
                     0);
    assert_int_equal(tu_cli("rename %s 3 block3", fresh), 0);
    assert_non_null(strstr(tu_stdout(), "layer 3 'layer03' is now 'block3'"));
    assert_int_equal(tu_cli("verify %s", fresh), 0);
    assert_int_equal(tu_cli("export %s --layer block3 -o %s", fresh, tu_path(tu_dir, "b3.npy")),
                     0);
    assert_true(same_file(tu_path(tu_dir, "r3.npy"), tu_path(tu_dir, "b3.npy")));
    /* export never destroys a store (it made its own input a .npy), and
     * replaces another file only with --force, as pack refuses */
    const char *copy = keep_path("copy.lgs");
    assert_int_equal(tu_cli("export %s --stream -o %s.lgsx", fresh, copy), 0);
    assert_int_equal(tu_cli("export %s --layer 0 -o %s", fresh, fresh), 2);
    assert_non_null(strstr(tu_stderr(), "is the store being exported"));
    assert_int_equal(tu_cli("export %s --stream -o %s", fresh, fresh), 2);
    assert_int_equal(tu_cli("verify %s", fresh), 0);
    assert_int_equal(tu_cli("ingest -q -o %s %s.lgsx", copy, copy), 0);
    assert_int_equal(tu_cli("export %s --layer 0 --force -o %s", fresh, copy), 2);
    assert_non_null(strstr(tu_stderr(), "export never writes over one"));
    assert_int_equal(tu_cli("verify %s", copy), 0);
    assert_int_equal(tu_cli("export %s --layer 1 -o %s", fresh, tu_path(tu_dir, "r3.npy")), 2);
    assert_non_null(strstr(tu_stderr(), "--force"));
    assert_true(same_file(tu_path(tu_dir, "r3.npy"), tu_path(tu_dir, "b3.npy")));
    assert_int_equal(tu_cli("export %s --layer 1 --force -o %s", fresh, tu_path(tu_dir, "r3.npy")),
                     0);
    assert_false(same_file(tu_path(tu_dir, "r3.npy"), tu_path(tu_dir, "b3.npy")));
    assert_int_equal(tu_cli("export %s --layer layer03 -o %s", fresh, tu_path(tu_dir, "x.npy")),
                     1);
    if (tu_cli("rename %s block3 layer04", fresh) != 2) /* taken */
        fail_msg("%s", tu_stderr());
    assert_non_null(strstr(tu_stderr(), "already has a layer named 'layer04'"));
    assert_int_equal(tu_cli("rename %s nope x", fresh), 1);
}

/* Names are data: escape sequences never reach the terminal raw, and the
 * JSON is valid UTF-8 whatever bytes a name holds. */
static void names_are_data(void **state)
{
    (void)state;
    const char *store = keep_path("names.lgs");
    unlink(store);
    lg_writer *w;
    lg_error err;
    assert_int_equal(lg_writer_create(store, NULL, &w, &err), LG_OK);
    const char *names[2] = {"red\x1b[31m\nline", "bad\xff\xfeutf8"};
    uint64_t seed = 4;
    float *x = malloc(200 * 6 * sizeof *x);
    for (int i = 0; i < 200 * 6; i++)
        x[i] = (float)tu_normal(&seed);
    for (int l = 0; l < 2; l++) {
        assert_int_equal(lg_writer_begin_layer(w, names[l], 6, LG_F32, &err), LG_OK);
        assert_int_equal(lg_writer_rows(w, x, 200, &err), LG_OK);
        assert_int_equal(lg_writer_end_layer(w, &err), LG_OK);
    }
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
    free(x);
    for (int q = 0; q < 3; q++) {
        int rc = q == 0   ? tu_cli("info %s", store)
                 : q == 1 ? tu_cli("profile %s --no-cache -k 5", store)
                          : tu_cli("profile %s --no-cache -k 5 --json -", store);
        assert_int_equal(rc, 0);
        assert_null(strchr(tu_stdout(), '\x1b'));
        if (q < 2) {
            assert_non_null(strstr(tu_stdout(), "red\\x1b[31m\\x0aline"));
            assert_non_null(strstr(tu_stdout(), "bad\\xff\\xfeutf8"));
        } else { /* valid UTF-8: the stray bytes became U+FFFD */
            for (const unsigned char *c = (const unsigned char *)tu_stdout(); *c; c++)
                assert_true(*c != 0xff && *c != 0xfe);
            assert_non_null(strstr(tu_stdout(), "bad\\ufffd\\ufffdutf8"));
        }
    }
    char why[160];
    lgj *v = lgj_parse(tu_stdout(), strlen(tu_stdout()), why, sizeof why);
    if (!v)
        fail_msg("the JSON does not parse: %s", why);
    const lgj *n1 = lgj_get(lgj_get(v, "layers")->items[1], "name");
    assert_non_null(strstr(n1->str, "bad"));
    lgj_free(v);
    assert_int_equal(tu_cli("info %s --json", store), 0);
    for (const unsigned char *c = (const unsigned char *)tu_stdout(); *c; c++)
        assert_true(*c != 0xff && *c != 0xfe && *c != 0x1b);
}

/* After a crash mid-layer and a repair, a layer appended later takes a new
 * id, not the dead layer's: the store stays a valid stream (#18 item 10). */
static void ids_are_never_reused(void **state)
{
    (void)state;
    const char *store = keep_path("orphan.lgs"), *stream = keep_path("orphan.lgsx"),
               *back = keep_path("orphan_back.lgs");
    unlink(store);
    float x[50 * 4];
    uint64_t seed = 2;
    for (int i = 0; i < 50 * 4; i++)
        x[i] = (float)tu_normal(&seed);
    lg_writer *w;
    lg_error err;
    assert_int_equal(lg_writer_create(store, NULL, &w, &err), LG_OK);
    assert_int_equal(lg_writer_begin_layer(w, "a", 4, LG_F32, &err), LG_OK);
    assert_int_equal(lg_writer_rows(w, x, 50, &err), LG_OK);
    assert_int_equal(lg_writer_end_layer(w, &err), LG_OK);
    assert_int_equal(lg_writer_begin_layer(w, "dies", 4, LG_F32, &err), LG_OK);
    assert_int_equal(lg_writer_rows(w, x, 30, &err), LG_OK);
    assert_int_equal(lg_writer_flush(w, &err), LG_OK); /* a chunk of layer id 1 on disk */
    lg_writer_abort(w);                                 /* the crash */
    /* following a store whose writer died says so (it said nothing) */
    assert_int_equal(tu_cli("profile %s --follow --no-cache -k 5 -q", store), 0);
    assert_non_null(strstr(tu_stderr(), "the writer stopped before finishing"));
    /* a live writer is not damage: verify says so, and never repairs it */
    assert_int_equal(lg_writer_append(store, NULL, &w, &err), LG_OK); /* holds the lock */
    assert_int_equal(tu_cli("verify %s", store), 5);
    assert_non_null(strstr(tu_stderr(), "being written by another process"));
    assert_int_equal(tu_cli("verify --repair %s", store), 5);
    assert_int_equal(tu_cli("profile %s --no-cache -k 5 -q", store), 0);
    assert_non_null(strstr(tu_stderr(), "is being written by another process"));
    lg_writer_abort(w);
    assert_int_equal(tu_cli("verify --repair %s", store), 0);
    assert_int_equal(lg_writer_append(store, NULL, &w, &err), LG_OK);
    assert_int_equal(lg_writer_begin_layer(w, "c", 4, LG_F32, &err), LG_OK);
    assert_int_equal(lg_writer_rows(w, x, 50, &err), LG_OK);
    assert_int_equal(lg_writer_end_layer(w, &err), LG_OK);
    assert_int_equal(lg_writer_close(w, &err), LG_OK);
    assert_int_equal(tu_cli("info %s --json", store), 0);
    assert_null(strstr(tu_stdout(), "\"id\": 1,"));
    /* its stream form gives both layers back */
    assert_int_equal(tu_cli("export %s --stream -o %s", store, stream), 0);
    unlink(back);
    assert_int_equal(tu_cli("ingest -q -o %s %s", back, stream), 0);
    assert_int_equal(tu_cli("info %s", back), 0);
    assert_non_null(strstr(tu_stdout(), "2 layers"));
}

/* Small things (#18 item 15): a reader that stops early, a file a killed
 * writer left empty. */
static void small_things(void **state)
{
    (void)state;
    const char *sample = LG_SOURCE_DIR "/samples/fortunes.lgs", *rcf = keep_path("rc.txt");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "{ '%s' export %s --layer 3 -o -; echo $? > %s; } | head -c 100 "
             ">/dev/null", LG_CLI, sample, rcf);
    assert_int_equal(system(cmd), 0);
    size_t len;
    char *rc = (char *)tu_read_file(rcf, &len);
    assert_non_null(rc);
    assert_int_equal(atoi(rc), 0); /* was 141: killed by SIGPIPE */
    free(rc);
    const char *zero = keep_path("zero.lgs"), *a = keep_path("z.npy");
    float x[40 * 3] = {0};
    for (int i = 0; i < 120; i++)
        x[i] = (float)i;
    uint64_t shape[2] = {40, 3};
    tu_write_npy(a, "<f4", 0, shape, 2, x, sizeof x);
    tu_write_file(zero, "", 0); /* a writer killed before its header */
    assert_int_equal(tu_cli("pack -q -o %s %s", zero, a), 0);
    assert_int_equal(tu_cli("verify %s", zero), 0);
}

/* Messages that say what is wrong (#18 item 13). */
static void messages_say_what_is_wrong(void **state)
{
    (void)state;
    const char *a = keep_path("m.npy"), *dir = keep_path("adir.lgs"),
               *link = keep_path("dangling.lgs");
    float x[64 * 6];
    uint64_t seed = 9, shape[2] = {64, 6};
    for (int i = 0; i < 64 * 6; i++)
        x[i] = (float)tu_normal(&seed);
    tu_write_npy(a, "<f4", 0, shape, 2, x, sizeof x);
    mkdir(dir, 0755);
    assert_int_equal(tu_cli("pack -o %s %s", dir, a), 2);
    assert_non_null(strstr(tu_stderr(), "is a directory"));
    unlink(link);
    assert_int_equal(symlink(keep_path("nowhere.lgs"), link), 0);
    assert_int_equal(tu_cli("pack -o %s %s", link, a), 2);
    assert_non_null(strstr(tu_stderr(), "symbolic link to a file that does not exist"));
    /* a .npy given as a raw buffer: its header is not packed as rows */
    assert_int_equal(tu_cli("pack -o %s --dim 3 --raw-dtype f64 %s", keep_path("raw.lgs"), a), 1);
    assert_non_null(strstr(tu_stderr(), "a .npy file, not a raw buffer"));
    assert_int_equal(tu_cli("pack -o %s --dim 16777217 %s", keep_path("raw.lgs"), a), 2);
    assert_non_null(strstr(tu_stderr(), "1..16777216"));
    /* a budget below 1 MiB is not called 0 MiB */
    const char *store = keep_path("m.lgs");
    unlink(store);
    assert_int_equal(tu_cli("pack -q -o %s %s", store, a), 0);
    tu_cli("profile %s --no-cache --knn approx --memory 1M -k 5", store);
    assert_null(strstr(tu_stderr(), "budget of 0 MiB"));
    /* the target recall: in range, and not without the self-check it needs */
    assert_int_equal(tu_cli("profile %s --no-cache --knn approx --recall 1.5", store), 2);
    assert_non_null(strstr(tu_stderr(), "recall takes a number in [0, 1] (not '1.5')"));
    assert_int_equal(tu_cli("profile %s --no-cache --knn approx --check-rows 0", store), 2);
    assert_non_null(strstr(tu_stderr(), "needs the self-check"));
    assert_int_equal(tu_cli("profile %s --no-cache --knn approx --check-rows 0 --recall 0 -q",
                            store), 0);
}

/* --knn approx checks its lists against --recall, and the table and JSON
 * say what it took; where more probes would cost more than an exact search,
 * the layer is searched exactly and a note says so (the widening itself is
 * tested in test_knn). */
static void approximate_target_recall_reported(void **state)
{
    (void)state;
    const char *s = LG_SOURCE_DIR "/samples/fortunes.lgs";
    assert_int_equal(tu_cli("profile %s --no-cache --layers 6 --knn approx --cells 40 --nprobe 1 "
                            "--recall 0.95 --json -", s), 0);
    const char *out = tu_stdout();
    assert_non_null(strstr(out, "\"recall_target\": 0.94999"));
    assert_non_null(strstr(out, "\"rounds\": 1, \"nprobe_first\": 1, \"nprobe\": 1"));
    assert_non_null(strstr(out, "\"target_met\": true"));
    assert_int_equal(tu_cli("profile %s --no-cache --layers 6 --knn approx --cells 40 --nprobe 1 "
                            "--recall 0.95", s), 0);
    if (!strstr(tu_stdout(), "on 500 sampled rows (target 0.95: 1 of 40 cells probed, 1 at first)"))
        fail_msg("%s", tu_stdout());
    /* 3 cells of 333 rows: one more probe would compute more distances than
     * an exact search */
    assert_int_equal(tu_cli("profile %s --no-cache --layers 6 --knn approx --cells 3 --nprobe 1 "
                            "--recall 1 --json -", s), 0);
    out = tu_stdout();
    assert_null(strstr(out, "\"approx\""));
    if (!strstr(out, "with 1 probe: more probes would cost more than an exact search; the layer "
                     "was searched exactly instead"))
        fail_msg("%s", out);
}

/* #18 item 13, the last ones: a safetensors key given twice is bad input
 * (exit 1, naming it); a dangling symbolic link as export's output is a
 * name in use (exit 2 without --force), not "File exists". */
static void duplicate_keys_and_dangling_links(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char st[512], lnk[512], store[512];
    snprintf(st, sizeof st, "%s", tu_path(dir, "dup.safetensors"));
    snprintf(lnk, sizeof lnk, "%s", tu_path(dir, "dangling"));
    snprintf(store, sizeof store, "%s", tu_path(dir, "d.lgs"));
    const char *hdr = "{\"a\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}, "
                      "\"a\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}}";
    size_t hl = strlen(hdr), padded = (hl + 7) / 8 * 8;
    unsigned char *b = calloc(8 + padded + 16, 1);
    for (int q = 0; q < 8; q++)
        b[q] = (unsigned char)(padded >> (8 * q));
    memcpy(b + 8, hdr, hl);
    memset(b + 8 + hl, ' ', padded - hl);
    tu_write_file(st, b, 8 + padded + 16);
    free(b);
    assert_int_equal(tu_cli("pack -q -o %s %s", store, st), 1);
    assert_non_null(strstr(tu_stderr(), "the key 'a' appears twice"));
    assert_int_equal(symlink("/nonexistent/target", lnk), 0);
    assert_int_equal(tu_cli("export %s/samples/fortunes.lgs --layer 0 -o %s", LG_SOURCE_DIR, lnk),
                     2);
    assert_non_null(strstr(tu_stderr(), "symbolic link to a file that does not exist"));
    assert_int_equal(tu_cli("export %s/samples/fortunes.lgs --layer 0 -o %s --force", LG_SOURCE_DIR,
                            lnk),
                     0);
    tu_rmdir(dir);
}

/* Under an address-space limit OpenBLAS used to spin forever on its buffers
 * (#18 item 2): the profile must end, with exit 4 and the reason when they
 * do not fit, and run when fewer threads make them fit. */
static void address_space_limit(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    skip(); /* AddressSanitizer's shadow memory cannot live under ulimit -v */
#endif
    const char *sample = LG_SOURCE_DIR "/samples/fortunes.lgs";
    char cmd[2048], err[64];
    snprintf(err, sizeof err, "/tmp/lglimit-%d", (int)getpid());
    snprintf(cmd, sizeof cmd,
             "sh -c \"ulimit -v 300000; exec timeout 120 '%s' profile '%s' --no-cache -q\" 2>%s",
             LG_CLI, sample, err);
    int st = system(cmd);
    assert_true(WIFEXITED(st));
    size_t len;
    char *msg = (char *)tu_read_file(err, &len);
    if (WEXITSTATUS(st) != 4 || !strstr(msg, "address-space limit"))
        fail_msg("exit %d: %s", WEXITSTATUS(st), msg);
    free(msg);
    snprintf(cmd, sizeof cmd,
             "sh -c \"ulimit -v 600000; exec timeout 120 '%s' profile '%s' --no-cache -q "
             "--threads 1 --memory 64M\" 2>%s",
             LG_CLI, sample, err);
    st = system(cmd);
    assert_true(WIFEXITED(st));
    msg = (char *)tu_read_file(err, &len);
    if (WEXITSTATUS(st) != 0)
        fail_msg("with one thread, exit %d: %s", WEXITSTATUS(st), msg);
    free(msg);
    unlink(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reference_arrays_round_trip_bit_exactly),
        cmocka_unit_test(sample_packs_in_every_codec),
        cmocka_unit_test(bad_input_gives_clear_errors),
        cmocka_unit_test(verify_and_repair),
        cmocka_unit_test(blas_kernels_chosen_at_run_time),
        cmocka_unit_test(first_afternoon),
        cmocka_unit_test(names_are_data),
        cmocka_unit_test(messages_say_what_is_wrong),
        cmocka_unit_test(ids_are_never_reused),
        cmocka_unit_test(small_things),
        cmocka_unit_test(duplicate_keys_and_dangling_links),
        cmocka_unit_test(approximate_target_recall_reported),
        cmocka_unit_test(address_space_limit),
    };
    return cmocka_run_group_tests(tests, tu_setup_dir, tu_teardown_dir);
}
