/* `mpirun -np P layergeom profile` against one process: the same JSON,
 * number for number (times aside), for P = 2 and 3, with layers dealt to
 * ranks, layers split by tile pairs, panels, ties and duplicates, approximate
 * search, and errors that end every rank.  Without MPI in the build: running
 * under a launcher is refused instead of doing the job P times. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "util/json.h"

#define N 1500
#define D 24
#define TD 512 /* the tied store's columns: enough to need panels in 6 MiB */

static const char *dir, *model, *ties;

static void add_layer(lg_writer *w, const char *name, uint64_t n, uint32_t d, const float *x)
{
    lg_error err;
    assert_int_equal(lg_writer_begin_layer(w, name, d, LG_F32, &err), LG_OK);
    assert_int_equal(lg_writer_rows(w, x, n, &err), LG_OK);
    assert_int_equal(lg_writer_end_layer(w, &err), LG_OK);
}

static lg_writer *create(const char *path)
{
    lg_writer *w;
    lg_error err;
    lg_writer_opts o;
    lg_writer_opts_default(&o);
    o.codec = LG_CODEC_LZ4;
    o.chunk_rows = 256;
    return lg_writer_create(path, &o, &w, &err) ? NULL : w;
}

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir();
    model = strdup(tu_path(dir, "model.lgs"));
    ties = strdup(tu_path(dir, "ties.lgs"));
    lg_error err;
    /* five layers of ID 3, 8, 12, 5, 4, with labels */
    lg_writer *w = create(model);
    if (!w)
        return -1;
    float *x = malloc((size_t)N * D * sizeof *x);
    uint32_t ids[5] = {3, 8, 12, 5, 4};
    for (int l = 0; l < 5; l++) {
        uint64_t seed = 100 + (uint64_t)l;
        memset(x, 0, (size_t)N * D * sizeof *x);
        for (uint64_t i = 0; i < N; i++)
            for (uint32_t a = 0; a < ids[l]; a++)
                x[i * D + (a * 5) % D] = (float)tu_normal(&seed);
        char name[16];
        snprintf(name, sizeof name, "block%d", l);
        add_layer(w, name, N, D, x);
    }
    int64_t lab[N];
    for (int i = 0; i < N; i++)
        lab[i] = i % 3;
    lg_writer_labels(w, "labels", lab, N, &err);
    if (lg_writer_close(w, &err))
        return -1;
    /* one layer on a coarse grid: exact ties, and every 11th row repeated */
    if (!(w = create(ties)))
        return -1;
    uint64_t seed = 5;
    x = realloc(x, (size_t)N * TD * sizeof *x);
    for (uint64_t i = 0; i < (uint64_t)N * TD; i++)
        x[i] = (float)(tu_rand(&seed) % 4) * (i % TD < 6);
    for (uint64_t i = 5; i < N; i += 11)
        memcpy(x + i * TD, x + (i - 5) * TD, TD * sizeof *x);
    add_layer(w, "grid", N, TD, x);
    free(x);
    return lg_writer_close(w, &err);
}

static int teardown(void **state)
{
    (void)state;
    tu_rmdir(dir);
    return 0;
}

#ifdef LAYERGEOM_MPI

static lgj *load(const char *path)
{
    size_t len;
    unsigned char *t = tu_read_file(path, &len);
    assert_non_null(t);
    char why[256];
    lgj *v = lgj_parse((const char *)t, len, why, sizeof why);
    if (!v)
        print_error("%s: %s\n", path, why);
    assert_non_null(v);
    free(t);
    return v;
}

/* Equal documents, keys named "seconds" aside, and how the information
 * imbalance was had (a team counts the ranks after its search, one process
 * inside it: the same numbers); where names the spot. */
static void same(const lgj *a, const lgj *b, const char *where)
{
    if (a->type != b->type || a->len != b->len)
        fail_msg("%s: differs in type or length", where);
    char at[512];
    switch (a->type) {
    case LGJ_NUM:
    case LGJ_BOOL:
        if (a->num != b->num)
            fail_msg("%s: %.17g vs %.17g", where, a->num, b->num);
        break;
    case LGJ_STR:
        if (strcmp(a->str, b->str))
            fail_msg("%s: '%s' vs '%s'", where, a->str, b->str);
        break;
    case LGJ_ARR:
        for (size_t i = 0; i < a->len; i++) {
            snprintf(at, sizeof at, "%s[%zu]", where, i);
            same(a->items[i], b->items[i], at);
        }
        break;
    case LGJ_OBJ:
        for (size_t i = 0; i < a->len; i++) {
            if (!strcmp(a->keys[i], "seconds") || !strcmp(a->keys[i], "from_prev_by") ||
                !strcmp(a->keys[i], "to_prev_by"))
                continue;
            const lgj *o = lgj_get(b, a->keys[i]);
            if (!o)
                fail_msg("%s.%s: missing", where, a->keys[i]);
            snprintf(at, sizeof at, "%s.%s", where, a->keys[i]);
            same(a->items[i], o, at);
        }
        break;
    case LGJ_NULL:
        break;
    }
}


#define MPIRUN                                                                             \
    "OMPI_MCA_btl_vader_single_copy_mechanism=none " LG_MPIEXEC                            \
    " --oversubscribe --allow-run-as-root -np %d "

/* One process and P ranks on the same store and options: the same JSON. */
static lgj *compare(const char *store, const char *opts, int ranks)
{
    const char *one = tu_path(dir, "one.json");
    assert_int_equal(tu_cli("profile %s --no-cache -q --threads 1 --json %s %s", store, one, opts),
                     0);
    lgj *a = load(one);
    const char *team = tu_path(dir, "team.json");
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             MPIRUN "%s profile %s --no-cache -q --threads 1 --json %s %s >%s 2>&1", ranks,
             LG_CLI, store, team, opts, tu_path(dir, "mpirun.log"));
    int rc = system(cmd);
    if (rc) {
        size_t len;
        char *log = (char *)tu_read_file(tu_path(dir, "mpirun.log"), &len);
        print_error("%s\n%.*s\n", cmd, log ? (int)len : 0, log ? log : "");
        free(log);
    }
    assert_int_equal(rc, 0);
    lgj *b = load(team);
    char where[64];
    snprintf(where, sizeof where, "-np %d", ranks);
    same(a, b, where);
    lgj_free(b);
    return a;
}

static void test_layers_and_tiles(void **state)
{
    (void)state;
    /* 5 layers: -np 2 deals 2 + 2 and splits the last; -np 3 deals 3, then
     * splits 2 */
    for (int p = 2; p <= 3; p++)
        lgj_free(compare(model, "--overlap-matrix --k 10", p));
}

static void test_panels_ties_duplicates(void **state)
{
    (void)state;
    for (int p = 2; p <= 3; p++) {
        lgj *a = compare(ties, "--memory 6M --k 6 --gride-max 8", p);
        const lgj *l = lgj_get(a, "layers")->items[0];
        const lgj *knn = lgj_get(l, "knn");
        assert_true(lgj_get(knn, "panels")->num >= 2);
        assert_true(lgj_get(l, "duplicates")->num > 0);
        lgj_free(a);
    }
}

static void test_approximate(void **state)
{
    (void)state;
    lgj_free(compare(model, "--knn approx --k 10", 2));
}

static void test_errors_end_every_rank(void **state)
{
    (void)state;
    char cmd[1024];
    snprintf(cmd, sizeof cmd, MPIRUN "%s profile %s -q >%s 2>&1", 2, LG_CLI,
             tu_path(dir, "missing.lgs"), tu_path(dir, "err.log"));
    assert_int_not_equal(system(cmd), 0);
    size_t len;
    char *log = (char *)tu_read_file(tu_path(dir, "err.log"), &len);
    assert_non_null(log);
    assert_non_null(strstr(log, "missing.lgs"));
    free(log);
    /* a budget too small on every rank: the message, and no hang */
    snprintf(cmd, sizeof cmd, MPIRUN "%s profile %s -q --memory 1M >%s 2>&1", 3, LG_CLI, model,
             tu_path(dir, "err.log"));
    assert_int_not_equal(system(cmd), 0);
    log = (char *)tu_read_file(tu_path(dir, "err.log"), &len);
    assert_non_null(strstr(log, "memory budget"));
    free(log);
    snprintf(cmd, sizeof cmd, MPIRUN "%s profile %s --follow -q >%s 2>&1", 2, LG_CLI, model,
             tu_path(dir, "err.log"));
    assert_int_not_equal(system(cmd), 0);
    /* ranks that open different stores (as a path resolved per node might):
     * refused, not merged into nonsense */
    char r0[600], r1[600];
    snprintf(r0, sizeof r0, "%s", tu_path(dir, "rank0.lgs"));
    snprintf(r1, sizeof r1, "%s", tu_path(dir, "rank1.lgs"));
    assert_int_equal(symlink(model, r0), 0);
    assert_int_equal(symlink(ties, r1), 0);
    snprintf(cmd, sizeof cmd,
             MPIRUN "sh -c 'exec %s profile %s/rank$OMPI_COMM_WORLD_RANK.lgs -q --no-cache' >%s 2>&1",
             2, LG_CLI, dir, tu_path(dir, "err.log"));
    assert_int_not_equal(system(cmd), 0);
    log = (char *)tu_read_file(tu_path(dir, "err.log"), &len);
    assert_non_null(log);
    assert_non_null(strstr(log, "every rank must open the same store"));
    free(log);
}

#else

static void test_refused_without_mpi(void **state)
{
    (void)state;
    /* what mpirun would set for the second of two ranks */
    int rc = tu_cli("profile %s -q --no-cache", model);
    assert_int_equal(rc, 0);
    setenv("OMPI_COMM_WORLD_SIZE", "2", 1);
    rc = tu_cli("profile %s -q --no-cache", model);
    unsetenv("OMPI_COMM_WORLD_SIZE");
    assert_int_equal(rc, 2);
    assert_non_null(strstr(tu_stderr(), "built without MPI"));
}

#endif

/* The library's own team of one gives the plain result. */
static void test_team_of_one(void **state)
{
    (void)state;
    lg_store *s;
    lg_error err;
    assert_int_equal(lg_store_open(model, 0, &s, &err), LG_OK);
    lg_profile_opts o;
    lg_profile_opts_default(&o);
    lg_team one = {.rank = 0, .size = 1};
    o.team = &one;
    lg_profile p;
    assert_int_equal(lg_profile_run(s, &o, &p, &err), LG_OK);
    assert_int_equal(p.n_layers, 5);
    assert_true(p.layers[2].id > p.layers[0].id);
    lg_profile_free(&p);
    lg_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#ifdef LAYERGEOM_MPI
        cmocka_unit_test(test_layers_and_tiles),
        cmocka_unit_test(test_panels_ties_duplicates),
        cmocka_unit_test(test_approximate),
        cmocka_unit_test(test_errors_end_every_rank),
#else
        cmocka_unit_test(test_refused_without_mpi),
#endif
        cmocka_unit_test(test_team_of_one),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
