#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *tu_tmpdir(void)
{
    static char dirs[8][256];
    static int k;
    char *d = dirs[k++ % 8];
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(d, 256, "%s/lgtest-XXXXXX", base);
    if (!mkdtemp(d))
        fail_msg("mkdtemp failed");
    return d;
}

void tu_rmdir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

const char *tu_dir;

int tu_setup_dir(void **state)
{
    (void)state;
    tu_dir = tu_tmpdir();
    return 0;
}

int tu_teardown_dir(void **state)
{
    (void)state;
    tu_rmdir(tu_dir);
    return 0;
}

const char *tu_path(const char *dir, const char *name)
{
    static char bufs[16][512];
    static int k;
    char *b = bufs[k++ % 16];
    snprintf(b, 512, "%s/%s", dir, name);
    return b;
}

int tu_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, len, f);
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

unsigned char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    /* one byte more, a NUL: a text file can be searched as a string */
    unsigned char *p = malloc(n > 0 ? (size_t)n + 1 : 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    if (p)
        p[n > 0 ? n : 0] = 0;
    fclose(f);
    *len = (size_t)n;
    return p;
}

int tu_write_npy(const char *path, const char *descr, int fortran, const uint64_t *shape,
                 int ndim, const void *data, size_t data_len)
{
    char dict[256], sh[128] = "";
    for (int i = 0; i < ndim; i++)
        snprintf(sh + strlen(sh), sizeof sh - strlen(sh), "%s%llu", i ? ", " : "",
                 (unsigned long long)shape[i]);
    if (ndim == 1)
        strcat(sh, ",");
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }",
                       descr, fortran ? "True" : "False", sh);
    size_t total = 10 + (size_t)len + 1, padded = (total + 63) / 64 * 64;
    unsigned char head[320];
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    head[8] = (unsigned char)((padded - 10) & 0xff);
    head[9] = (unsigned char)((padded - 10) >> 8);
    memcpy(head + 10, dict, (size_t)len);
    memset(head + 10 + len, ' ', padded - total);
    head[padded - 1] = '\n';
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(head, 1, padded, f) == padded && fwrite(data, 1, data_len, f) == data_len;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

static char out_buf[65536], err_buf[65536];

static void slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    buf[n] = 0;
    if (f)
        fclose(f);
    unlink(path);
}

int tu_cli(const char *fmt, ...)
{
    char args[4096], cmd[8192], o[64], e[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(o, sizeof o, "/tmp/lgcli-out-%d", (int)getpid());
    snprintf(e, sizeof e, "/tmp/lgcli-err-%d", (int)getpid());
    snprintf(cmd, sizeof cmd, "'%s' %s >%s 2>%s", LG_CLI, args, o, e);
    int st = system(cmd);
    slurp(o, out_buf, sizeof out_buf);
    slurp(e, err_buf, sizeof err_buf);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

const char *tu_stderr(void)
{
    return err_buf;
}

const char *tu_stdout(void)
{
    return out_buf;
}

const char *tu_shared(const char *rel)
{
    static char bufs[8][512];
    static int k;
    char *b = bufs[k++ % 8];
    snprintf(b, 512, "%s/%s", LG_SHARED_DIR, rel);
    struct stat st;
    if (stat(b, &st) != 0)
        return NULL;
    return b;
}

uint64_t tu_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double tu_uniform(uint64_t *s)
{
    return (double)(tu_rand(s) >> 11) * 0x1p-53;
}

double tu_normal(uint64_t *s)
{
    double u = tu_uniform(s), v = tu_uniform(s);
    return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

int tu_read_rows(void *ctx, uint64_t r0, size_t n, float *out, lg_error *err)
{
    (void)err;
    const tu_rows *m = ctx;
    memcpy(out, m->x + r0 * m->d, n * m->d * sizeof *out);
    return LG_OK;
}
