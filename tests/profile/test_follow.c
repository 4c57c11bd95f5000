/* Follow mode: a child process writes a store block by block (holding the
 * writer lock, as ingest does) while this process follows it; the result
 * equals a batch profile, and rows of layers were searched as they came. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define N 1200
#define D 16

static void nap(double s)
{
    struct timespec t = {0, (long)(s * 1e9)};
    nanosleep(&t, NULL);
}

/* The child: 4 layers of IDs 2, 6, 9, 3, each in 3 blocks, then labels. */
static void produce(const char *path)
{
    lg_writer *w;
    lg_error err;
    if (lg_writer_create(path, NULL, &w, &err))
        _exit(2);
    uint32_t ids[4] = {2, 6, 9, 3};
    uint64_t seed = 77;
    float *x = calloc((size_t)N * D, sizeof *x);
    for (int l = 0; l < 4; l++) {
        memset(x, 0, (size_t)N * D * sizeof *x);
        for (uint64_t i = 0; i < N; i++)
            for (uint32_t a = 0; a < ids[l]; a++)
                x[i * D + a] = (float)tu_normal(&seed);
        char name[16];
        snprintf(name, sizeof name, "L%d", l);
        if (lg_writer_begin_layer(w, name, D, LG_F32, &err))
            _exit(3);
        for (int b = 0; b < 3; b++) {
            if (lg_writer_rows(w, x + (size_t)b * 400 * D, 400, &err) ||
                lg_writer_flush(w, &err))
                _exit(4);
            nap(0.15);
        }
        if (lg_writer_end_layer(w, &err))
            _exit(5);
    }
    int64_t lab[N];
    for (int i = 0; i < N; i++)
        lab[i] = i % 4;
    lg_writer_labels(w, "labels", lab, N, &err);
    free(x);
    _exit(lg_writer_close(w, &err) ? 6 : 0);
}

static void follow_equals_batch(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "live.lgs");
    pid_t pid = fork();
    if (pid == 0)
        produce(path);
    lg_profile_opts o;
    lg_profile_opts_default(&o);
    o.k = 20;
    o.labels_from_store = 1;
    o.overlap_matrix = 1; /* from the lists kept as layers came */
    lg_profile live;
    lg_error err;
    if (lg_profile_follow(path, &o, 0.05, NULL, &live, &err))
        fail_msg("%s", err.msg);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(live.n_layers, 4);
    int incremental = 0;
    for (size_t q = 0; q < live.n_layers; q++)
        incremental += live.layers[q].incremental;
    /* at least one layer was searched while it arrived (on a loaded machine the
     * follower may wake only after some layers are complete) */
    assert_true(incremental >= 1);
    /* the same numbers as a batch profile of the finished store */
    lg_store *s;
    assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK);
    uint64_t n;
    assert_int_equal(lg_store_labels(s, NULL, &o.labels, &n, &err), LG_OK);
    lg_profile batch;
    assert_int_equal(lg_profile_run(s, &o, &batch, &err), LG_OK);
    for (size_t q = 0; q < 4; q++) {
        const lg_layer_result *a = &live.layers[q], *b = &batch.layers[q];
        assert_string_equal(a->name, b->name);
        assert_true(a->id == b->id);
        assert_true(a->twonn.id_ml == b->twonn.id_ml);
        assert_true(a->gride.id[3] == b->gride.id[3]);
        assert_int_equal(a->has_prev, b->has_prev);
        if (a->has_prev)
            assert_true(a->overlap_prev == b->overlap_prev);
        assert_true(a->has_labels && b->has_labels); /* labels came last: filled in at the end */
        assert_true(a->overlap_labels.unweighted == b->overlap_labels.unweighted);
    }
    assert_int_equal(live.rec.index, batch.rec.index);
    assert_int_equal(live.rec.index, 3);
    assert_non_null(live.matrix);
    assert_memory_equal(live.matrix, batch.matrix, 16 * sizeof *batch.matrix);
    lg_profile_free(&live);
    lg_profile_free(&batch);
    lg_store_close(s);
    tu_rmdir(dir);
}

/* The child, batch by batch: 3 layers (IDs 2, 5, 8) grow together, 12
 * batches of 100 rows with their labels, a commit after each. */
static void produce_batches(const char *path)
{
    lg_writer_opts wo;
    lg_writer_opts_default(&wo);
    wo.commit_seconds = 1e-9; /* at every level point */
    lg_writer *w;
    lg_error err;
    if (lg_writer_create(path, &wo, &w, &err))
        _exit(2);
    uint32_t ids[3] = {2, 5, 8};
    size_t h[3];
    for (int l = 0; l < 3; l++) {
        char name[16];
        snprintf(name, sizeof name, "B%d", l);
        if (lg_writer_layer(w, name, D, LG_F32, &h[l], &err))
            _exit(3);
    }
    uint64_t seed = 91;
    float x[100 * D];
    for (int b = 0; b < 12; b++) {
        int64_t lab[100];
        for (int i = 0; i < 100; i++)
            lab[i] = (b * 100 + i) % 3;
        if (lg_writer_add_labels(w, "labels", lab, 100, &err))
            _exit(4);
        for (int l = 0; l < 3; l++) {
            memset(x, 0, sizeof x);
            for (int i = 0; i < 100; i++)
                for (uint32_t a = 0; a < ids[l]; a++)
                    x[i * D + a] = (float)tu_normal(&seed);
            if (lg_writer_add_rows(w, h[l], x, 100, &err))
                _exit(5);
        }
        nap(0.08);
    }
    _exit(lg_writer_close(w, &err) ? 6 : 0);
}

static int live_calls, live_grown;
static uint64_t live_rows_first, live_rows_last;

static void on_live(void *ctx, const lg_profile *p, uint64_t rows)
{
    (void)ctx;
    assert_int_equal(p->n_layers, 3);
    for (size_t q = 0; q < 3; q++)
        assert_int_equal(p->layers[q].n, rows); /* every layer brought up to N */
    for (size_t q = 0; q < 3; q++)
        live_grown += p->layers[q].grown_from > 0;
    if (!live_calls++)
        live_rows_first = rows;
    live_rows_last = rows;
}

/* Batch by batch, with a cache and without: every layer's rows and lists are
 * held between updates, so an update searches only the new rows (grown from
 * the held lists) even when there is no cache to grow them from. */
static void follow_batches(const char *cache_name)
{
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "batches.lgs");
    char cache[600];
    snprintf(cache, sizeof cache, "%s", cache_name ? tu_path(dir, cache_name) : "");
    pid_t pid = fork();
    if (pid == 0)
        produce_batches(path);
    lg_profile_opts o;
    lg_profile_opts_default(&o);
    o.k = 20;
    o.labels_from_store = 1;
    o.cache_dir = cache_name ? cache : NULL;
    o.overlap_matrix = 1;
    o.live = on_live;
    live_calls = live_grown = 0;
    lg_profile live;
    lg_error err;
    if (lg_profile_follow(path, &o, 0.05, NULL, &live, &err))
        fail_msg("%s", err.msg);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* the running view saw the layers grow (a loaded machine may wake late) */
    assert_true(live_calls >= 1);
    assert_true(live_rows_first < 1200);
    assert_true(live_rows_last <= 1200);
    if (live_calls >= 2 && !cache_name) /* grown from what was held, not the cache */
        assert_true(live_grown > 0);
    assert_int_equal(live.n_layers, 3);
    /* the same numbers as an offline profile of the finished store, no cache */
    lg_store *s;
    assert_int_equal(lg_store_open(path, 0, &s, &err), LG_OK);
    assert_int_equal(lg_store_rows(s), 1200);
    uint64_t n;
    lg_profile_opts off = o;
    off.cache_dir = NULL;
    off.live = NULL;
    assert_int_equal(lg_store_labels(s, NULL, &off.labels, &n, &err), LG_OK);
    lg_profile batch;
    assert_int_equal(lg_profile_run(s, &off, &batch, &err), LG_OK);
    for (size_t q = 0; q < 3; q++) {
        const lg_layer_result *a = &live.layers[q], *b = &batch.layers[q];
        assert_string_equal(a->name, b->name);
        assert_int_equal(a->n, 1200);
        assert_true(a->id == b->id);
        assert_true(a->twonn.id_ml == b->twonn.id_ml);
        assert_true(a->gride.id[3] == b->gride.id[3]);
        assert_int_equal(a->has_prev, b->has_prev);
        if (a->has_prev)
            assert_true(a->overlap_prev == b->overlap_prev);
        assert_true(a->has_labels && b->has_labels);
        assert_true(a->overlap_labels.unweighted == b->overlap_labels.unweighted);
    }
    assert_non_null(live.matrix);
    assert_memory_equal(live.matrix, batch.matrix, 9 * sizeof *batch.matrix);
    assert_int_equal(live.rec.index, batch.rec.index);
    lg_profile_free(&live);
    lg_profile_free(&batch);
    lg_store_close(s);
    tu_rmdir(dir);
}

static void follow_batch_major_equals_offline(void **state)
{
    (void)state;
    follow_batches("batches.cache");
    follow_batches(NULL);
    fprintf(stderr, "  (last run: %d running-view updates, %d layers grown)\n", live_calls,
            live_grown);
}

static volatile int stop_flag;

static void stop_after_first(void *ctx, const lg_layer_result *r, size_t done, size_t total)
{
    (void)ctx;
    (void)r;
    (void)total;
    if (done == 1)
        stop_flag = 1;
}

/* The follower may look before the producer has written the store's header
 * (an empty file): it waits, as for a file not there yet, rather than call
 * the store malformed. */
static void follow_waits_for_a_header(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "early.lgs");
    assert_int_equal(tu_write_file(path, "", 0), 0);
    pid_t pid = fork();
    if (pid == 0) {
        nap(0.3);
        unlink(path); /* the writer creates its own file */
        produce(path);
    }
    lg_profile_opts o;
    lg_profile_opts_default(&o);
    o.k = 20;
    lg_profile p;
    lg_error err;
    int rc = lg_profile_follow(path, &o, 0.05, NULL, &p, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, LG_OK);
    assert_int_equal(p.n_layers, 4);
    lg_profile_free(&p);
    int status;
    waitpid(pid, &status, 0);
    assert_int_equal(WEXITSTATUS(status), 0);
    tu_rmdir(dir);
}

static void interrupted_follow_keeps_what_is_done(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "int.lgs");
    pid_t pid = fork();
    if (pid == 0)
        produce(path);
    lg_profile_opts o;
    lg_profile_opts_default(&o);
    o.k = 20;
    o.progress = stop_after_first;
    lg_profile p;
    lg_error err;
    stop_flag = 0;
    int rc = lg_profile_follow(path, &o, 0.05, &stop_flag, &p, &err);
    if (rc)
        print_error("%s\n", err.msg);
    assert_int_equal(rc, LG_OK);
    assert_int_equal(p.n_layers, 1);
    assert_true(p.layers[0].id > 1.5 && p.layers[0].id < 2.5);
    lg_profile_free(&p);
    int status;
    waitpid(pid, &status, 0);
    /* a store that nobody writes: follow profiles what is there and returns */
    assert_int_equal(lg_profile_follow(path, &o, 0.05, NULL, &p, &err), LG_OK);
    assert_int_equal(p.n_layers, 4);
    lg_profile_free(&p);
    tu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(follow_equals_batch),
        cmocka_unit_test(follow_batch_major_equals_offline),
        cmocka_unit_test(follow_waits_for_a_header),
        cmocka_unit_test(interrupted_follow_keeps_what_is_done),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
