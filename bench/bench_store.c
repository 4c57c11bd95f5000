/*
 * Store throughput, run by hand:  build/bench_store [rows] [cols] [dir]
 *
 * Writes synthetic activations (low-rank Gaussian signal plus noise, like a
 * transformer layer) and, when present, the bundled sample, with every
 * dtype x codec x filter; then reads each back as float32 through a cursor:
 * first pass (checks every checksum), second pass on the same open store,
 * third pass after reopening (a fresh mapping of the page cache).
 * Prints MB/s of float32 delivered and the compression ratio, and a memcpy
 * baseline measured in the same run.
 *
 * Then the two layouts: the same 8 layers written layer by layer, and batch
 * by batch (a model's order: chunks of every layer interleaved); one layer
 * read from each, cold (evicted from the page cache) and warm.
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "layergeom.h"

#include "bench_common.h"
static double gauss(void)
{
    return sqrt(-2 * log(unif() + 1e-300)) * cos(6.283185307179586 * unif());
}

static float *synthetic(size_t n, size_t d)
{
    const size_t r = 32;
    float *basis = malloc(r * d * sizeof *basis), *x = malloc(n * d * sizeof *x);
    for (size_t i = 0; i < r * d; i++)
        basis[i] = (float)gauss();
    for (size_t i = 0; i < n; i++) {
        float z[32];
        for (size_t k = 0; k < r; k++)
            z[k] = (float)gauss() / (float)(1 + k);
        for (size_t j = 0; j < d; j++) {
            float v = 0.05f * (float)gauss();
            for (size_t k = 0; k < r; k++)
                v += z[k] * basis[k * d + j];
            x[i * d + j] = v;
        }
    }
    free(basis);
    return x;
}

/* One pass over a layer of an open store; returns seconds. */
static double read_layer(lg_store *s, size_t layer, size_t *bytes, float *sink)
{
    lg_error err;
    lg_layer_info L;
    lg_store_layer(s, layer, &L);
    lg_cursor *c;
    lg_cursor_open(s, layer, 4096, &c, &err);
    double t = now();
    const float *rows;
    uint64_t r0;
    size_t m;
    float acc = 0;
    for (;;) {
        if (lg_cursor_next(c, &rows, &r0, &m, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
        if (!m)
            break;
        /* touch every row once, as a consumer would */
        for (size_t i = 0; i < m; i++)
            acc += rows[i * L.d];
    }
    t = now() - t;
    *sink += acc;
    *bytes = L.n * L.d * 4;
    lg_cursor_close(c);
    return t;
}

static double read_pass(lg_store *s, size_t *bytes, float *sink)
{
    return read_layer(s, 0, bytes, sink);
}

static lg_store *open_or_die(const char *path)
{
    lg_store *s;
    lg_error err;
    if (lg_store_open(path, 0, &s, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    return s;
}

static void run(const char *label, const float *x, size_t n, size_t d, const char *dir)
{
    static const lg_dtype types[] = {LG_F32, LG_F16, LG_BF16};
    char path[512];
    snprintf(path, sizeof path, "%s/bench-%d.lgs", dir, (int)getpid());
    float sink = 0;
    printf("\n%s: %zu x %zu float32 (%.0f MB)\n", label, n, d, (double)n * d * 4 / 1e6);
    printf("%-5s %-5s %-8s %7s %12s %12s %12s %12s\n", "dtype", "codec", "filter", "ratio",
           "write MB/s", "verify MB/s", "warm MB/s", "reopen MB/s");
    for (int t = 0; t < 3; t++)
        for (int c = LG_CODEC_NONE; c <= LG_CODEC_ZSTD; c++)
            for (int f = 0; f <= 1; f++) {
                if (c == LG_CODEC_NONE && f)
                    continue;
                unlink(path);
                lg_writer_opts o;
                lg_writer_opts_default(&o);
                o.dtype = types[t];
                o.codec = (lg_codec)c;
                o.filter = (lg_filter)f;
                o.level = c == LG_CODEC_ZSTD ? 1 : 0;
                o.durable = 0;
                lg_writer *w;
                lg_error err;
                double t0 = now();
                if (lg_writer_create(path, &o, &w, &err) ||
                    lg_writer_begin_layer(w, "x", (uint32_t)d, LG_F32, &err) ||
                    lg_writer_rows(w, x, n, &err) || lg_writer_end_layer(w, &err) ||
                    lg_writer_close(w, &err)) {
                    fprintf(stderr, "%s\n", err.msg);
                    exit(1);
                }
                double tw = now() - t0;
                size_t bytes;
                lg_store *s = open_or_die(path);
                double r1 = read_pass(s, &bytes, &sink); /* checks checksums */
                double r2 = read_pass(s, &bytes, &sink); /* mapping warm */
                lg_layer_info L;
                lg_store_layer(s, 0, &L);
                lg_store_close(s);
                s = open_or_die(path);
                double r3 = read_pass(s, &bytes, &sink); /* fresh mapping, page cache */
                lg_store_close(s);
                printf("%-5s %-5s %-8s %7.2f %12.0f %12.0f %12.0f %12.0f\n", lg_dtype_name(types[t]),
                       lg_codec_name((lg_codec)c), lg_filter_name((lg_filter)f),
                       (double)L.bytes_raw / (double)L.bytes_stored, bytes / tw / 1e6,
                       bytes / r1 / 1e6, bytes / r2 / 1e6, bytes / r3 / 1e6);
            }
    unlink(path);
    /* baseline: copying the same bytes once in memory */
    float *y = malloc(n * d * sizeof *y);
    memcpy(y, x, n * d * 4);
    double t0 = now();
    memcpy(y, x, n * d * 4);
    double tm = now() - t0;
    volatile float keep = y[n * d / 2];
    printf("baseline memcpy: %.0f MB/s%s\n", n * d * 4 / tm / 1e6,
           sink + keep == 12345 ? " " : "");
    free(y);
}

static void die(const lg_error *err)
{
    fprintf(stderr, "%s\n", err->msg);
    exit(1);
}

/* Drops the file's pages from the page cache (they are clean: synced). */
static void evict(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
}

static void layouts(const float *x, size_t n, size_t d, const char *dir)
{
    enum { LAYERS = 8, BATCH = 256 };
    char path[2][512];
    float sink = 0;
    printf("\nlayouts: %d layers of %zu x %zu float32, read back layer 3\n", LAYERS, n, d);
    printf("%-14s %12s %12s %12s\n", "layout", "write MB/s", "cold MB/s", "warm MB/s");
    for (int batch = 0; batch < 2; batch++) {
        snprintf(path[batch], sizeof path[batch], "%s/bench-layout%d-%d.lgs", dir, batch,
                 (int)getpid());
        unlink(path[batch]);
        lg_writer_opts o;
        lg_writer_opts_default(&o);
        lg_writer *w;
        lg_error err;
        double t0 = now();
        if (lg_writer_create(path[batch], &o, &w, &err))
            die(&err);
        if (!batch) {
            for (int l = 0; l < LAYERS; l++) {
                char name[16];
                snprintf(name, sizeof name, "layer%d", l);
                if (lg_writer_begin_layer(w, name, (uint32_t)d, LG_F32, &err) ||
                    lg_writer_rows(w, x, n, &err) || lg_writer_end_layer(w, &err))
                    die(&err);
            }
        } else {
            size_t h[LAYERS];
            for (int l = 0; l < LAYERS; l++) {
                char name[16];
                snprintf(name, sizeof name, "layer%d", l);
                if (lg_writer_layer(w, name, (uint32_t)d, LG_F32, &h[l], &err))
                    die(&err);
            }
            for (size_t r = 0; r < n; r += BATCH) {
                size_t m = n - r < BATCH ? n - r : BATCH;
                for (int l = 0; l < LAYERS; l++)
                    if (lg_writer_add_rows(w, h[l], x + r * d, m, &err))
                        die(&err);
            }
        }
        if (lg_writer_close(w, &err))
            die(&err);
        double tw = now() - t0;
        evict(path[batch]);
        size_t bytes;
        lg_store *s = open_or_die(path[batch]);
        double cold = read_layer(s, 3, &bytes, &sink);
        double warm = read_layer(s, 3, &bytes, &sink);
        lg_store_close(s);
        printf("%-14s %12.0f %12.0f %12.0f\n", batch ? "batch by batch" : "layer by layer",
               LAYERS * bytes / tw / 1e6, bytes / cold / 1e6, bytes / warm / 1e6);
    }
    unlink(path[0]);
    unlink(path[1]);
    if (sink == 12345)
        printf(" \n");
}

int main(int argc, char **argv)
{
    rng = 88172645463325252ull; /* the data this benchmark has always written */
    size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    size_t d = argc > 2 ? strtoul(argv[2], NULL, 10) : 1024;
    const char *dir = argc > 3 ? argv[3] : "/tmp";
    float *x = synthetic(n, d);
    run("synthetic low-rank activations", x, n, d, dir);
    layouts(x, n, d, dir);
    free(x);
    /* the bundled sample's widest layer, as float32 */
    lg_store *s;
    lg_error err;
    if (lg_store_open("samples/fortunes.lgs", 0, &s, &err) == LG_OK) {
        lg_layer_info L;
        lg_store_layer(s, 4, &L);
        float *y = malloc(L.n * L.d * sizeof *y);
        lg_cursor *c;
        lg_cursor_open(s, 4, L.n, &c, &err);
        lg_cursor_read(c, 0, L.n, y, &err);
        lg_cursor_close(c);
        /* repeat it to a size worth timing */
        size_t reps = 50;
        float *z = malloc(reps * L.n * L.d * sizeof *z);
        for (size_t r = 0; r < reps; r++)
            memcpy(z + r * L.n * L.d, y, L.n * L.d * 4);
        run("sample layer04 (real, f16-exact) x 50", z, reps * L.n, L.d, dir);
        free(y);
        free(z);
        lg_store_close(s);
    }
    return 0;
}
