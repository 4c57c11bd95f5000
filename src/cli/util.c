#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int cli_exit_code(int status)
{
    switch (status) {
    case LG_OK: return EXIT_OK;
    case LG_EUSAGE: return EXIT_USAGE;
    case LG_EIO: return EXIT_IO;
    case LG_ENOMEM: return EXIT_NOMEM;
    case LG_EBUSY: return EXIT_BUSY;
    default: return EXIT_INPUT;
    }
}

int cli_report(const lg_error *err)
{
    fprintf(stderr, "layergeom: %s\n", err->msg[0] ? err->msg : lg_status_name(err->code));
    return cli_exit_code(err->code ? err->code : LG_EINPUT);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "layergeom %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'layergeom %s --help')\n", cmd);
    return EXIT_USAGE;
}

int cli_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int cli_parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    if (!*s || *s == '-')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno || v > max)
        return -1;
    *out = v;
    return 0;
}

int cli_parse_size(const char *s, unsigned long long *out)
{
    uint64_t v;
    if (lg_parse_size(s, &v))
        return -1;
    *out = v;
    return 0;
}

const char *cli_human(double b, char *buf, size_t cap)
{
    const char *u[] = {"B", "KB", "MB", "GB", "TB"};
    int k = 0;
    while (b >= 1000 && k < 4) {
        b /= 1000;
        k++;
    }
    snprintf(buf, cap, k ? "%.1f %s" : "%.0f %s", b, u[k]);
    return buf;
}

const cli_spec cli_writer_specs[] = {
    {CLI_W_CODEC, "--codec", NULL, "C", "none | lz4 | zstd (default none)"},
    {CLI_W_LEVEL, "--level", NULL, "N", "the codec's level (zstd 1..22, lz4 0..12)"},
    {CLI_W_SHUFFLE, "--shuffle", NULL, NULL, "byte-shuffle chunks before compressing"},
    {CLI_W_DTYPE, "--dtype", NULL, "T", "store as keep | f32 | f16 | bf16 | f64 (default keep)"},
    {CLI_W_CHUNK_ROWS, "--chunk-rows", NULL, "N", "rows per chunk (default: about 4 MiB)"},
    {CLI_W_COMMIT_EVERY, "--commit-every", NULL, "S",
     "commit at least every S seconds while rows arrive (5)"},
    {CLI_W_COMMIT_SIZE, "--commit-size", NULL, "SIZE", "and after SIZE of rows (256M)"},
    {CLI_W_NO_SYNC, "--no-sync", NULL, NULL, "no fdatasync at commits (faster, not crash-safe)"},
};
const size_t cli_writer_spec_count = sizeof cli_writer_specs / sizeof *cli_writer_specs;

int cli_writer_apply(int id, const char *v, lg_writer_opts *o, const char *cmd)
{
    unsigned long long u;
    char *end;
    switch (id) {
    case CLI_W_CODEC:
        if (lg_codec_parse(v, &o->codec))
            return cli_usage(cmd, "--codec takes none, lz4 or zstd");
        return 0;
    case CLI_W_LEVEL: {
        long l = strtol(v, &end, 10);
        if (!*v || *end || l < -7 || l > 22)
            return cli_usage(cmd, "--level takes an integer (zstd 1..22, lz4 0..12)");
        o->level = (int)l;
        return 0;
    }
    case CLI_W_DTYPE:
        if (lg_dtype_parse(v, &o->dtype))
            return cli_usage(cmd, "--dtype takes keep, f32, f16, bf16 or f64");
        return 0;
    case CLI_W_CHUNK_ROWS:
        if (cli_parse_uint(v, 1u << 30, &u) || u == 0)
            return cli_usage(cmd, "--chunk-rows takes a positive integer");
        o->chunk_rows = (uint32_t)u;
        return 0;
    case CLI_W_COMMIT_EVERY: {
        double sec = strtod(v, &end);
        if (!*v || *end || !(sec >= 0 && sec <= 1e9))
            return cli_usage(cmd, "--commit-every takes seconds (0: only when a layer is new, "
                                  "and at the end)");
        o->commit_seconds = sec;
        return 0;
    }
    case CLI_W_COMMIT_SIZE:
        if (cli_parse_size(v, &u))
            return cli_usage(cmd, "--commit-size takes a size such as 256M (0: no limit)");
        o->commit_bytes = u;
        return 0;
    case CLI_W_SHUFFLE: o->filter = LG_FILTER_SHUFFLE; return 0;
    case CLI_W_NO_SYNC: o->durable = 0; return 0;
    default: return cli_usage(cmd, "internal: unknown writer option %d", id);
    }
}

FILE *cli_open_out(const char *path)
{
    return strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
}

int cli_close_out(FILE *f, const char *path)
{
    int bad = ferror(f);
    if (f == stdout)
        bad |= fflush(f) != 0;
    else
        bad |= fclose(f) != 0;
    if (bad)
        fprintf(stderr, "layergeom: %s: write failed\n", path);
    return bad ? EXIT_IO : EXIT_OK;
}
