/*
 * The ID of many small clouds, run by hand:
 *   build/bench_groups [groups] [rows per group] [D] [threads]
 * (default 200 x 1024 x 1024, 2 threads).  Writes a store of one layer whose
 * consecutive blocks of rows are the groups (as a prompt's tokens are),
 * profiles it with --groups, and compares the time of the groups' searches
 * with the GEMM limit measured in the same run: groups x 2 n^2 D flops at
 * OpenBLAS sgemm's rate on one n x n x D product (what a search of one
 * group must at least compute).
 */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "layergeom.h"

#include "bench_common.h"

int main(int argc, char **argv)
{
    uint64_t groups = argc > 1 ? strtoull(argv[1], NULL, 10) : 200;
    uint64_t per = argc > 2 ? strtoull(argv[2], NULL, 10) : 1024;
    uint32_t d = argc > 3 ? (uint32_t)atoi(argv[3]) : 1024;
    int threads = argc > 4 ? atoi(argv[4]) : 2;
    char path[] = "/tmp/bench_groups_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    close(fd);
    unlink(path);
    lg_writer *w;
    lg_error err;
    lg_writer_opts wo;
    lg_writer_opts_default(&wo);
    if (lg_writer_create(path, &wo, &w, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    size_t h;
    lg_writer_layer(w, "tokens", d, LG_F32, &h, &err);
    float *x = malloc(per * d * sizeof *x);
    int64_t *grp = malloc(groups * per * sizeof *grp);
    for (uint64_t g = 0; g < groups; g++) {
        /* each cloud: 16-dimensional, in a random 16-D subspace of its own */
        for (uint64_t i = 0; i < per; i++) {
            for (uint32_t j = 0; j < d; j++)
                x[i * d + j] = 0;
            for (int a = 0; a < 16; a++) {
                float z = (float)unif();
                x[i * d + (uint32_t)((g * 131 + (uint64_t)a * 61) % d)] += z;
            }
            grp[g * per + i] = (int64_t)g;
        }
        if (lg_writer_add_rows(w, h, x, per, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
    }
    if (lg_writer_close(w, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double rate = sgemm_rate(threads, (int)per, (int)d);
    lg_store *s;
    lg_store_open(path, 0, &s, &err);
    lg_profile_opts o;
    lg_profile_opts_default(&o);
    o.k = 2;
    o.gride_max_rank = 2;
    o.threads = threads;
    o.groups = grp;
    o.groups_only = 1; /* the clouds alone, as a user with millions of tokens would */
    lg_profile p;
    double t0 = now();
    if (lg_profile_run(s, &o, &p, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double total = now() - t0, tg = p.layers[0].group_summary.seconds;
    double limit = (double)groups * 2.0 * (double)per * (double)per * d / (rate * 1e9);
    printf("groups %llu x %llu rows x D %u, %d threads\n", (unsigned long long)groups,
           (unsigned long long)per, d, threads);
    printf("sgemm %llu x %llu x %u: %.1f GFLOP/s -> limit for the groups %.2f s\n",
           (unsigned long long)per, (unsigned long long)per, d, rate, limit);
    printf("groups: %.2f s (%.2fx the limit); median ID %.2f [%.2f, %.2f]; whole profile %.2f s\n",
           tg, tg / limit, p.layers[0].group_summary.median, p.layers[0].group_summary.q1,
           p.layers[0].group_summary.q3, total);
    lg_profile_free(&p);
    lg_store_close(s);
    unlink(path);
    free(x);
    free(grp);
    return 0;
}
