/* A reader working while a writer appends: every opening sees a consistent
 * store (the layers complete when it opened, or more), whose contents read
 * back exactly, and a profile run in the middle of the writes succeeds. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define N 300
#define D 12
#define LAYERS 12

/* Layer l's contents, reproducible by the reader. */
static void fill(float *x, int l)
{
    uint64_t seed = 1000 + (uint64_t)l;
    for (int i = 0; i < N * D; i++)
        x[i] = (float)tu_normal(&seed);
}

static void writer(const char *path)
{
    lg_writer_opts o;
    lg_writer_opts_default(&o);
    o.chunk_rows = 50;
    o.codec = LG_CODEC_ZSTD;
    lg_writer *w;
    lg_error err;
    float *x = malloc(N * D * sizeof *x);
    if (lg_writer_create(path, &o, &w, &err))
        _exit(2);
    for (int l = 0; l < LAYERS; l++) {
        /* every third layer in a new writer session: append after reopening */
        if (l && l % 3 == 0) {
            if (lg_writer_close(w, &err) || lg_writer_append(path, &o, &w, &err))
                _exit(3);
        }
        fill(x, l);
        char name[16];
        snprintf(name, sizeof name, "L%02d", l);
        if (lg_writer_begin_layer(w, name, D, LG_F32, &err))
            _exit(4);
        for (int b = 0; b < N; b += 50) {
            if (lg_writer_rows(w, x + b * D, 50, &err) || lg_writer_flush(w, &err))
                _exit(5);
            struct timespec t = {0, 3000000};
            nanosleep(&t, NULL);
        }
        if (lg_writer_end_layer(w, &err))
            _exit(6);
    }
    free(x);
    _exit(lg_writer_close(w, &err) ? 7 : 0);
}

static void reader_sees_consistent_stores(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir(), *path = tu_path(dir, "c.lgs");
    pid_t pid = fork();
    if (pid == 0)
        writer(path);
    float *want = malloc(N * D * sizeof *want), *got = malloc(N * D * sizeof *got);
    size_t seen = 0, opens = 0, profiles = 0;
    int status = 0, done = 0;
    while (!done) {
        done = waitpid(pid, &status, WNOHANG) == pid;
        lg_store *s;
        lg_error err;
        int rc = lg_store_open(path, 0, &s, &err);
        if (rc == LG_ENOTFOUND || (rc == LG_EINPUT && strstr(err.msg, "too short")))
            continue; /* not created yet */
        if (rc)
            fail_msg("open %zu: %s", opens, err.msg);
        opens++;
        size_t L = lg_store_layer_count(s);
        if (L < seen)
            fail_msg("open %zu: %zu layers after %zu were seen", opens, L, seen);
        seen = L;
        for (size_t l = 0; l < L; l++) {
            lg_cursor *c;
            assert_int_equal(lg_cursor_open(s, l, N, &c, &err), LG_OK);
            if (lg_cursor_read(c, 0, N, got, &err))
                fail_msg("open %zu, layer %zu: %s", opens, l, err.msg);
            fill(want, (int)l);
            assert_memory_equal(got, want, N * D * sizeof *got);
            lg_cursor_close(c);
        }
        if (L >= 2 && profiles < 3) {
            lg_profile_opts o;
            lg_profile_opts_default(&o);
            o.k = 10;
            lg_profile p;
            if (lg_profile_run(s, &o, &p, &err))
                fail_msg("profile during writes: %s", err.msg);
            assert_int_equal(p.n_layers, L);
            lg_profile_free(&p);
            profiles++;
        }
        lg_store_close(s);
    }
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(seen, LAYERS);
    assert_true(opens > 5);
    free(want);
    free(got);
    tu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reader_sees_consistent_stores),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
