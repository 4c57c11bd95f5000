/* The memory budget holds: `layergeom profile --memory` on a layer several
 * times larger than the budget keeps its anonymous memory (heap, buffers;
 * not the pages of the mapped store) within the budget plus the neighbour
 * lists plus a fixed allowance for the process itself, sampled from
 * /proc/PID/status while it runs.  The test fails if the search loaded the
 * layer whole.  And an approximate search that cannot fit says so. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define N 6000
#define D 4096 /* 94 MiB of float32 */
#define BUDGET_MIB 32

static const char *dir, *store;

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir();
    store = strdup(tu_path(dir, "big.lgs"));
    lg_writer *w;
    lg_error err;
    lg_writer_opts o;
    lg_writer_opts_default(&o);
    o.durable = 0;
    if (lg_writer_create(store, &o, &w, &err))
        return -1;
    float *x = malloc((size_t)1000 * D * sizeof *x);
    uint64_t seed = 3;
    for (int layer = 0; layer < 2; layer++) {
        if (lg_writer_begin_layer(w, layer ? "b" : "a", D, LG_F32, &err))
            return -1;
        for (int b = 0; b < N / 1000; b++) {
            /* rows near a 6-D subspace, so the kNN has structure */
            for (size_t i = 0; i < 1000; i++) {
                double z[6];
                for (int q = 0; q < 6; q++)
                    z[q] = tu_normal(&seed);
                for (size_t j = 0; j < D; j++)
                    x[i * D + j] = (float)(z[j % 6] * (1 + layer) + 0.01 * tu_normal(&seed));
            }
            if (lg_writer_rows(w, x, 1000, &err))
                return -1;
        }
        if (lg_writer_end_layer(w, &err))
            return -1;
    }
    free(x);
    return lg_writer_close(w, &err);
}

static int teardown(void **state)
{
    (void)state;
    tu_rmdir(dir);
    return 0;
}

/* Runs the program and returns its exit status; *peak_kib is the largest
 * RssAnon seen. */
static int run_sampled(char *const argv[], long *peak_kib)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", 1);
        dup2(fd, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    *peak_kib = 0;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    int st = 0;
    for (;;) {
        FILE *f = fopen(path, "r");
        while (f && fgets(line, sizeof line, f)) {
            long v;
            if (sscanf(line, "RssAnon: %ld kB", &v) == 1 && v > *peak_kib)
                *peak_kib = v;
        }
        if (f)
            fclose(f);
        if (waitpid(pid, &st, WNOHANG) == pid)
            break;
        struct timespec t = {0, 5 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Profiles with the given search and checks the peak anonymous memory. */
static void within_budget(const char *knn)
{
#if defined(__SANITIZE_ADDRESS__)
    skip(); /* AddressSanitizer's shadow and quarantine are anonymous memory too */
#endif
    char *argv[] = {LG_CLI, "profile", (char *)store, "--knn", (char *)knn, "--memory", "32M",
                    "--no-cache", "-q", "--threads", "2", "--k", "10", "--gride-max", "16",
                    "--scratch", (char *)dir, NULL};
    long peak;
    assert_int_equal(run_sampled(argv, &peak), 0);
    /* the budget, two layers' lists (N x 16 x 12 bytes), and 32 MiB for the
     * process itself (libraries, OpenBLAS's buffers, thread stacks: a profile
     * of the 5 MB sample peaks at 13 MiB) */
    long lists = 2L * N * 16 * 12 / 1024;
    long limit = BUDGET_MIB * 1024L + lists + 32 * 1024L;
    print_message("%s: peak RssAnon %ld KiB; limit %ld KiB; layer %ld KiB\n", knn, peak, limit,
                  (long)N * D * 4 / 1024);
    assert_true(peak > 0);
    assert_true(peak <= limit);
    /* and the limit is far below one layer: holding it whole would fail */
    assert_true(limit < (long)N * D * 4 / 1024);
}

static void test_exact_within_budget(void **state)
{
    (void)state;
    within_budget("exact");
}

/* The approximate search keeps its rows in a scratch file (mapped: page
 * cache, not anonymous memory) when they do not fit. */
static void test_approx_within_budget(void **state)
{
    (void)state;
    within_budget("approx");
}

static void test_approx_too_small_says_so(void **state)
{
    (void)state;
    int rc = tu_cli("profile %s --knn approx --memory 4M --no-cache -q", store);
    assert_int_equal(rc, 4);
    assert_non_null(strstr(tu_stderr(), "budget"));
    assert_non_null(strstr(tu_stderr(), "MiB"));
    /* a scratch directory that cannot take the rows: named in the message */
    rc = tu_cli("profile %s --knn approx --memory 32M --no-cache -q --scratch %s", store,
                tu_path(dir, "no-such-dir"));
    assert_int_equal(rc, 3);
    assert_non_null(strstr(tu_stderr(), "no-such-dir"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_within_budget),
        cmocka_unit_test(test_approx_within_budget),
        cmocka_unit_test(test_approx_too_small_says_so),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
